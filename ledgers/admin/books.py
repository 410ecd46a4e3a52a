"""Ledgers, their bank accounts and GL entries.

Admins of an organization create and edit its ledgers (name, match settings) and accounts;
the currency and the organization of a ledger, and the ledger and currency of an account,
never change once created (entries and runs are booked against them). GL entries are
imported facts: read-only here, with amounts in the currency's own format.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from ledgers.admin.base import ADMIN, NOBODY, VIEWER, TenantAdmin
from ledgers.admin.formatting import amount_html, status_badge
from ledgers.models import Account, Ledger, LedgerEntry
from ledgers.selectors import account_list, ledger_list
from ledgers.services import (
    LEDGER_EDITABLE,
    account_create,
    account_delete,
    account_update,
    ledger_create,
    ledger_update,
)

MATCH_SETTINGS = [name for name in LEDGER_EDITABLE if name != "name"]


@admin.register(Ledger)
class LedgerAdmin(TenantAdmin):
    roles = {"view": VIEWER, "add": ADMIN, "change": ADMIN, "delete": NOBODY}
    list_display = ["name", "organization", "currency", "auto_accept_threshold", "created_at"]
    list_filter = ["currency"]
    list_select_related = ["organization"]
    search_fields = ["name"]

    def get_fields(self, request: HttpRequest, obj: Ledger | None = None) -> list[str]:
        return ["organization", "name", "currency", *MATCH_SETTINGS]

    def get_readonly_fields(self, request: HttpRequest, obj: Ledger | None = None) -> list[str]:
        return [] if obj is None else ["organization", "currency"]

    def persist(self, request: HttpRequest, obj: Ledger, form: Any, change: bool) -> None:
        settings = {name: getattr(obj, name) for name in MATCH_SETTINGS}
        if change:
            ledger_update(ledger=obj, actor=request.user, name=obj.name, **settings)
            return
        created = ledger_create(
            organization=obj.organization,
            name=obj.name,
            currency=obj.currency,
            actor=request.user,
            **settings,
        )
        obj.pk, obj.created_at = created.pk, created.created_at
        obj._state.adding = False


@admin.register(Account)
class AccountAdmin(TenantAdmin):
    organization_path = "ledger__organization"
    roles = {"view": VIEWER, "add": ADMIN, "change": ADMIN, "delete": ADMIN}
    list_display = ["code", "name", "ledger", "currency", "iban"]
    list_select_related = ["ledger"]
    search_fields = ["code", "name", "iban"]

    def get_fields(self, request: HttpRequest, obj: Account | None = None) -> list[str]:
        fields = ["ledger", "code", "name", "currency", "iban"]
        return fields if obj is None else [*fields, "csv_mapping"]

    def get_readonly_fields(self, request: HttpRequest, obj: Account | None = None) -> list[str]:
        return [] if obj is None else ["ledger", "currency", "csv_mapping"]

    def persist(self, request: HttpRequest, obj: Account, form: Any, change: bool) -> None:
        if change:
            account_update(
                account=obj, name=obj.name, code=obj.code, iban=obj.iban, actor=request.user
            )
            return
        created = account_create(
            ledger=obj.ledger,
            name=obj.name,
            code=obj.code,
            currency=obj.currency,
            iban=obj.iban,
            actor=request.user,
        )
        obj.pk, obj.created_at = created.pk, created.created_at
        obj._state.adding = False

    def remove(self, request: HttpRequest, obj: Account) -> None:
        account_delete(account=obj, actor=request.user)


class _ScopedChoiceFilter(admin.SimpleListFilter):
    """Choices from the user's own ledgers/accounts (cheap), not from the GL table:
    a DISTINCT over millions of GL entries per page view would be the slowest query."""

    field: str

    def choices_for(self, request: HttpRequest) -> list[tuple[str, str]]:
        raise NotImplementedError

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return self.choices_for(request)

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value:
            return queryset
        allowed = {key for key, _ in self.choices_for(request)}
        return queryset.filter(**{self.field: value}) if value in allowed else queryset.none()


class LedgerFilter(_ScopedChoiceFilter):
    title = "ledger"
    parameter_name = "ledger"
    field = "ledger_id"

    def choices_for(self, request: HttpRequest) -> list[tuple[str, str]]:
        qs = Ledger.objects.all() if request.user.is_superuser else ledger_list(user=request.user)
        return [(str(pk), name) for pk, name in qs.order_by("name").values_list("pk", "name")]


class AccountFilter(_ScopedChoiceFilter):
    title = "account"
    parameter_name = "account"
    field = "account_id"

    def choices_for(self, request: HttpRequest) -> list[tuple[str, str]]:
        qs = Account.objects.all() if request.user.is_superuser else account_list(user=request.user)
        rows = qs.order_by("ledger__name", "code").values_list("pk", "code", "name")
        return [(str(pk), f"{code} {name}") for pk, code, name in rows]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(TenantAdmin):
    organization_path = "ledger__organization"
    roles = {"view": VIEWER}
    list_display = [
        "external_id",
        "booking_date",
        "amount_column",
        "counterparty",
        "reference",
        "status_column",
        "account",
        "ledger",
    ]
    list_filter = [LedgerFilter, AccountFilter, "reconciliation_status", "currency", "booking_date"]
    list_select_related = ["ledger", "account"]
    search_fields = ["external_id", "reference", "counterparty", "description"]
    show_full_result_count = False
    date_hierarchy = "booking_date"
    fields = [
        "ledger",
        "account",
        "external_id",
        ("booking_date", "value_date"),
        "amount_column",
        "reference",
        "counterparty",
        "description",
        "status_column",
        "created_at",
    ]
    readonly_fields = [
        name for item in fields for name in (item if isinstance(item, tuple) else (item,))
    ]

    @admin.display(description="amount", ordering="amount")
    def amount_column(self, obj: LedgerEntry) -> str:
        return amount_html(obj.amount, obj.currency)

    @admin.display(description="status", ordering="reconciliation_status")
    def status_column(self, obj: LedgerEntry) -> str:
        return status_badge(obj.reconciliation_status, obj.get_reconciliation_status_display())
