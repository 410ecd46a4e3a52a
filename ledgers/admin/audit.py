"""The audit trail, read-only: every state change of both apps, who, when, before → after."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from ledgers.admin.base import VIEWER, TenantAdmin
from ledgers.admin.formatting import event_rows
from ledgers.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(TenantAdmin):
    roles = {"view": VIEWER}
    list_display = ["created_at", "action", "actor", "subject_type", "change_column", "note"]
    list_filter = ["action", "subject_type"]
    list_select_related = ["actor"]
    search_fields = ["=subject_id", "=run_id", "note"]
    show_full_result_count = False
    list_per_page = 100

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            # One labelling pass for the page (entries named, money formatted), not per row.
            events = list(changelist.result_list)
            for event, row in zip(
                events, event_rows(events, labels=self.history_labels), strict=True
            ):
                event.change_text = row["change"]
        return response

    @admin.display(description="change")
    def change_column(self, obj: AuditEvent) -> str:
        return getattr(obj, "change_text", "")
