"""Discrepancies: computed by the matcher and the statement checks; reviewers put them in
review, close them with a note, or reopen them."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from ledgers.admin.base import ADMIN, REVIEWER, VIEWER, report
from ledgers.admin.formatting import admin_url, amount_html, money, status_badge
from ledgers.exceptions import DomainError
from reconciliation.admin.base import ReconciliationAdmin
from reconciliation.admin.forms import CloseItemsForm
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


CONFIRM_LIMIT = 500
UNRESOLVED_STATUSES = [DiscrepancyStatus.OPEN, DiscrepancyStatus.IN_REVIEW]


class AssigneeFilter(admin.SimpleListFilter):
    title = "assignee"
    parameter_name = "assignee"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("me", "Assigned to me"), ("nobody", "Not assigned")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Discrepancy]) -> Any:
        if self.value() == "me":
            return queryset.filter(assigned_to=request.user)
        if self.value() == "nobody":
            return queryset.filter(assigned_to__isnull=True)
        return queryset


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
        "assigned_to",
        "run",
        "created_at",
    ]
    list_display_links = ["label_column"]
    list_filter = [
        StatusFilter,
        AssigneeFilter,
        "severity",
        "kind",
        "is_current",
        ("run", RelatedOnlyFieldListFilter),
        ("run__ledger", RelatedOnlyFieldListFilter),
        "created_at",
    ]
    list_select_related = ["run__ledger", "source_entry", "ledger_entry", "assigned_to"]
    search_fields = ["message", "note", "key"]
    show_full_result_count = False
    list_per_page = 100
    actions = ["assign_to_me", "mark_in_review", "close_selected", "reopen_selected"]
    raw_id_fields = ["source_entry", "ledger_entry", "match", "statement"]
    fields = [
        "run",
        ("kind", "severity", "is_current"),
        "amount_column",
        "message",
        "item_column",
        "match_column",
        "statement",
        ("status", "close_reason"),
        "assigned_to",
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

    def choices_for(self, model: type, request: HttpRequest, permission: str) -> Any:
        choices = super().choices_for(model, request, permission)
        if model is get_user_model():
            # Work is assigned to people who can decide it (the service checks it again).
            return choices.filter(memberships__role__in=[REVIEWER, ADMIN])
        return choices

    def persist(self, request: HttpRequest, obj: Discrepancy, form: Any, change: bool) -> None:
        from reconciliation.services.discrepancies import discrepancy_update

        changed = set(form.changed_data)
        if not changed & {"status", "note", "close_reason", "assigned_to"}:
            return
        extra: dict[str, Any] = {}
        if "assigned_to" in changed:
            extra["assignee"] = obj.assigned_to
        closing = obj.status == DiscrepancyStatus.CLOSED
        discrepancy_update(
            discrepancy=obj,
            status=obj.status if changed & {"status", "close_reason"} else None,
            note=obj.note if "note" in changed else None,
            reason=(obj.close_reason or None) if closing else None,
            actor=request.user,
            **extra,
        )

    def _set_status(
        self,
        request: HttpRequest,
        queryset: QuerySet[Discrepancy],
        status: str,
        *,
        reason: str | None = None,
        note: str | None = None,
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
                    discrepancy=discrepancy,
                    status=status,
                    note=note,
                    reason=reason,
                    actor=request.user,
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

    @admin.action(description="Assign selected to me", permissions=["resolve"])
    def assign_to_me(self, request: HttpRequest, queryset: QuerySet[Discrepancy]) -> None:
        from reconciliation.services.discrepancies import discrepancy_update

        done = 0
        for discrepancy in queryset.select_related("run__ledger"):
            try:
                discrepancy_update(
                    discrepancy=discrepancy,
                    status=None,
                    note=None,
                    assignee=request.user,
                    actor=request.user,
                )
            except DomainError as exc:
                report(request, exc, prefix=f"{discrepancy.get_kind_display()}: ")
            else:
                done += 1
        if done:
            self.message_user(request, f"{done} assigned to you.")

    @admin.action(description="Mark selected as in review", permissions=["resolve"])
    def mark_in_review(self, request: HttpRequest, queryset: QuerySet[Discrepancy]) -> None:
        self._set_status(request, queryset, DiscrepancyStatus.IN_REVIEW)

    @admin.action(description="Close selected with a reason…", permissions=["resolve"])
    def close_selected(
        self, request: HttpRequest, queryset: QuerySet[Discrepancy]
    ) -> TemplateResponse | None:
        """The same confirmation as closing items: what closes, a reason from the fixed
        list and a note, before anything changes."""
        form = CloseItemsForm(request.POST if request.POST.get("post") else None)
        if request.POST.get("post") and form.is_valid():
            self._set_status(
                request,
                queryset,
                DiscrepancyStatus.CLOSED,
                reason=form.cleaned_data["reason"],
                note=form.cleaned_data["note"] or None,
            )
            return None
        rows = list(
            queryset.select_related("run__ledger", "source_entry", "ledger_entry")[:CONFIRM_LIMIT]
        )
        context = {
            **self.admin_site.each_context(request),
            "title": "Close discrepancies",
            "subtitle": None,
            "opts": self.opts,
            "form": form,
            "rows": [
                {
                    "discrepancy": d,
                    "label": self.label_column(d),
                    "url": admin_url(d),
                    "closes": d.status != DiscrepancyStatus.CLOSED,
                }
                for d in rows
            ],
            "more": max(queryset.count() - len(rows), 0) if len(rows) == CONFIRM_LIMIT else 0,
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request, "admin/reconciliation/discrepancy/close_confirm.html", context
        )

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
