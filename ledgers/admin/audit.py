"""The audit trail, read-only: every state change of both apps, who, when, before → after."""

from __future__ import annotations

from django.contrib import admin

from ledgers.admin.base import VIEWER, TenantAdmin
from ledgers.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(TenantAdmin):
    roles = {"view": VIEWER}
    list_display = ["created_at", "action", "actor", "subject_type", "subject_id", "run_id", "note"]
    list_filter = ["action", "subject_type"]
    list_select_related = ["actor"]
    search_fields = ["=subject_id", "=run_id", "note"]
    show_full_result_count = False
