"""What the reconciliation app adds to the screens of `ledgers.admin`: a run filter on the
GL entry list, and statement items named in the audit trail's list.

The ledgers app knows nothing of runs (imports flow reconciliation -> ledgers), so these
are attached here to the registered ledgers admins.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

import ledgers.admin  # noqa: F401  (the GL entry admin is registered before it is extended)
from ledgers.models import AuditEvent, LedgerEntry
from reconciliation.admin.formatting import run_title
from reconciliation.models import Run
from reconciliation.selectors import run_list, source_entry_labels

RUN_CHOICES = 50


class RunFilter(admin.SimpleListFilter):
    """GL entries in a suggested or accepted match of one run (the user's latest runs)."""

    title = "in a match of run"
    parameter_name = "run"

    def runs(self, request: HttpRequest) -> QuerySet[Run]:
        runs = Run.objects.all() if request.user.is_superuser else run_list(user=request.user)
        return runs.select_related("ledger", "account").order_by("-created_at")

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(run.pk), run_title(run)) for run in self.runs(request)[:RUN_CHOICES]]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value:
            return queryset
        run = self.runs(request).filter(pk=value).first() if _is_uuid(value) else None
        if run is None:
            return queryset.none()
        return queryset.filter(match_links__match__run=run, match_links__is_active=True)


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


gl_admin = admin.site._registry[LedgerEntry]
gl_admin.list_filter = [*gl_admin.list_filter, RunFilter]

audit_admin = admin.site._registry[AuditEvent]
audit_admin.history_labels = source_entry_labels  # type: ignore[attr-defined]
