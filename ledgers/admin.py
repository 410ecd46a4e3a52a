"""Staff screens for tenants, ledgers and GL entries. Imported facts are read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from ledgers.models import Account, AuditEvent, Ledger, LedgerEntry, Membership, Organization
from ledgers.selectors import organization_ids


class OrganizationScopedAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Superusers see everything; other staff only their organizations' rows."""

    organization_path = "organization"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(**{f"{self.organization_path}__in": organization_ids(request.user)})


class ReadOnlyAdmin(OrganizationScopedAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Organization)
class OrganizationAdmin(OrganizationScopedAdmin):
    organization_path = "pk"
    list_display = ["name", "created_at"]
    search_fields = ["name"]


@admin.register(Membership)
class MembershipAdmin(OrganizationScopedAdmin):
    list_display = ["user", "organization", "role"]
    list_filter = ["role", "organization"]
    list_select_related = ["user", "organization"]


@admin.register(Ledger)
class LedgerAdmin(OrganizationScopedAdmin):
    list_display = ["name", "organization", "currency", "auto_accept_threshold", "created_at"]
    list_filter = ["currency"]
    list_select_related = ["organization"]
    search_fields = ["name"]


@admin.register(Account)
class AccountAdmin(OrganizationScopedAdmin):
    organization_path = "ledger__organization"
    list_display = ["code", "name", "ledger", "currency", "iban"]
    list_select_related = ["ledger"]
    search_fields = ["code", "name", "iban"]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    organization_path = "ledger__organization"
    list_display = [
        "external_id",
        "booking_date",
        "amount",
        "currency",
        "counterparty",
        "reference",
        "reconciliation_status",
        "ledger",
    ]
    list_filter = ["reconciliation_status", "currency", "booking_date"]
    list_select_related = ["ledger"]
    search_fields = ["external_id", "reference", "counterparty", "description"]
    show_full_result_count = False
    date_hierarchy = "booking_date"


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "action", "actor", "subject_type", "subject_id", "run_id", "note"]
    list_filter = ["action", "subject_type"]
    list_select_related = ["actor"]
    search_fields = ["=subject_id", "=run_id", "note"]
    show_full_result_count = False
