"""Discrepancies: computed by the matcher and the statement checks; reviewers put them in
review, close them with a note, or reopen them."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from ledgers.admin.base import REVIEWER, VIEWER, report
from ledgers.admin.formatting import admin_url, amount_html, money, status_badge
from ledgers.exceptions import DomainError
from reconciliation.admin.base import ReconciliationAdmin
from reconciliation.choices import DiscrepancyStatus
from reconciliation.models import Discrepancy


class StatusFilter(admin.SimpleListFilter):
    """The status filter says what it filters: 'open or in review' is one choice (the run
    page links to it), not a hidden `status__in` the sidebar showed as 'All'."""

    title = "status"
    parameter_name = "status"
    UNRESOLVED = "unresolved"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(self.UNRESOLVED, "Open or in review"), *DiscrepancyStatus.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Discrepancy]) -> Any:
        value = self.value()
        if value == self.UNRESOLVED:
            return queryset.filter(status__in=UNRESOLVED_STATUSES)
        if value in DiscrepancyStatus.values:
            return queryset.filter(status=value)
        return queryset


UNRESOLVED_STATUSES = [DiscrepancyStatus.OPEN, DiscrepancyStatus.IN_REVIEW]


@admin.register(Discrepancy)
class DiscrepancyAdmin(ReconciliationAdmin):
    organization_path = "run__ledger__organization"
    roles = {"view": VIEWER, "change": REVIEWER, "resolve": REVIEWER}
    list_display = [
        "label_column",
        "severity_column",
        "status_column",
        "amount_column",
        "message",
        "item_column",
        "run",
        "created_at",
    ]
    list_display_links = ["label_column"]
    list_filter = [
        StatusFilter,
        "severity",
        "kind",
        "is_current",
        ("run", RelatedOnlyFieldListFilter),
        ("run__ledger", RelatedOnlyFieldListFilter),
        "created_at",
    ]
    list_select_related = ["run__ledger", "source_entry", "ledger_entry"]
    search_fields = ["message", "note", "key"]
    show_full_result_count = False
    list_per_page = 100
    actions = ["mark_in_review", "close_selected", "reopen_selected"]
    raw_id_fields = ["source_entry", "ledger_entry", "match", "statement"]
    fields = [
        "run",
        ("kind", "severity", "is_current"),
        "amount_column",
        "message",
        "item_column",
        "match_column",
        "statement",
        "status",
        "note",
        ("created_at", "updated_at", "resolved_at"),
    ]
    readonly_fields = [
        "run",
        "kind",
        "severity",
        "is_current",
        "amount_column",
        "message",
        "item_column",
        "match_column",
        "statement",
        "created_at",
        "updated_at",
        "resolved_at",
    ]

    def persist(self, request: HttpRequest, obj: Discrepancy, form: Any, change: bool) -> None:
        from reconciliation.services.discrepancies import discrepancy_update

        changed = set(form.changed_data)
        if changed & {"status", "note"}:
            discrepancy_update(
                discrepancy=obj,
                status=obj.status if "status" in changed else None,
                note=obj.note if "note" in changed else None,
                actor=request.user,
            )

    def _set_status(
        self, request: HttpRequest, queryset: QuerySet[Discrepancy], status: str
    ) -> None:
        from reconciliation.services.discrepancies import discrepancy_update

        done = 0
        for discrepancy in queryset.select_related("run__ledger"):
            if not self.role_allows(request, "resolve", discrepancy):
                self.message_user(
                    request, f"{discrepancy}: needs the reviewer role.", messages.ERROR
                )
                continue
            try:
                discrepancy_update(
                    discrepancy=discrepancy, status=status, note=None, actor=request.user
                )
            except DomainError as exc:
                report(request, exc, prefix=f"{discrepancy.get_kind_display()}: ")
            else:
                done += 1
        if done:
            label = DiscrepancyStatus(status).label.lower()
            self.message_user(
                request, f"{done} discrepanc{'ies' if done != 1 else 'y'} now {label}."
            )

    @admin.action(description="Mark selected as in review", permissions=["resolve"])
    def mark_in_review(self, request: HttpRequest, queryset: QuerySet[Discrepancy]) -> None:
        self._set_status(request, queryset, DiscrepancyStatus.IN_REVIEW)

    @admin.action(description="Close selected discrepancies", permissions=["resolve"])
    def close_selected(self, request: HttpRequest, queryset: QuerySet[Discrepancy]) -> None:
        self._set_status(request, queryset, DiscrepancyStatus.CLOSED)

    @admin.action(description="Reopen selected discrepancies", permissions=["resolve"])
    def reopen_selected(self, request: HttpRequest, queryset: QuerySet[Discrepancy]) -> None:
        self._set_status(request, queryset, DiscrepancyStatus.OPEN)

    @admin.display(description="discrepancy", ordering="kind")
    def label_column(self, obj: Discrepancy) -> str:
        """'Missing in ledger · 2026-11-06 · 77.00 EUR · Gamma Ltd': each row says which
        entry it is about (the created-at timestamp was the same on every row)."""
        parts = [obj.get_kind_display()]
        entry = obj.source_entry if obj.source_entry_id else None
        gl = obj.ledger_entry if obj.ledger_entry_id else None
        if entry is not None:
            parts += [f"{entry.booking_date:%Y-%m-%d}", entry.counterparty_name]
        elif gl is not None:
            parts += [f"{gl.booking_date:%Y-%m-%d}", gl.external_id, gl.counterparty]
        if obj.amount is not None:
            currency = obj.currency or obj.run.ledger.currency
            parts.append(f"{money(obj.amount, currency)} {currency}")
        return " · ".join(p for p in parts if p)

    @admin.display(description="severity", ordering="severity")
    def severity_column(self, obj: Discrepancy) -> str:
        return status_badge(obj.severity, obj.get_severity_display())

    @admin.display(description="status", ordering="status")
    def status_column(self, obj: Discrepancy) -> str:
        return status_badge(obj.status, obj.get_status_display())

    @admin.display(description="amount", ordering="amount")
    def amount_column(self, obj: Discrepancy) -> str:
        return amount_html(obj.amount, obj.currency or obj.run.ledger.currency)

    @admin.display(description="match")
    def match_column(self, obj: Discrepancy) -> str:
        if not obj.match_id:
            return "—"
        url = reverse("admin:reconciliation_match_review_one", args=[obj.match_id])
        return format_html('<a href="{}">side-by-side review</a>', url)

    @admin.display(description="entry")
    def item_column(self, obj: Discrepancy) -> str:
        if obj.source_entry_id:
            entry = obj.source_entry
            return format_html(
                '<a href="{}">item {}</a>',
                admin_url(entry),
                f"{entry.booking_date:%Y-%m-%d} {money(entry.amount, entry.currency)}",
            )
        if obj.ledger_entry_id:
            return format_html(
                '<a href="{}">GL {}</a>', admin_url(obj.ledger_entry), obj.ledger_entry.external_id
            )
        return "—"
