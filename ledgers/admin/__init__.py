"""Staff screens for tenants, ledgers and GL entries (see `ledgers.admin.base` for roles).

Importing the modules registers their admins; nothing is re-exported.
"""

from ledgers.admin import audit, books, tenants  # noqa: F401  (registers the admins)
