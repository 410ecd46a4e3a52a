"""Staff screens of a reconciliation: runs, files, items, matches, discrepancies, review.

Roles and tenancy come from `ledgers.admin.base.TenantAdmin` (one declarative `roles`
table per admin); every write goes through a service, so the admin takes the same locks,
obeys the same 409 rules and writes the same audit events as the API. Importing the
modules registers their admins; nothing is re-exported.
"""

from reconciliation.admin import (  # noqa: F401  (registers the admins)
    discrepancies,
    files,
    gl,
    items,
    matches,
    runs,
)
