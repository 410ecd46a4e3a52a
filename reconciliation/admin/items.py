"""Statement items: read-only facts; reviewers close an item with a reason or reopen it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from ledgers.admin.base import REVIEWER, VIEWER, report
from ledgers.admin.formatting import admin_url, amount_html, money, signed_money, status_badge
from ledgers.exceptions import DomainError
from reconciliation.admin.base import ReconciliationAdmin
from reconciliation.admin.formatting import detail_line
from reconciliation.admin.forms import CloseItemsForm
from reconciliation.admin.manual import manual_match_url
from reconciliation.choices import CloseReason, SourceEntryMatchStatus
from reconciliation.models import MatchSourceLink, SourceEntry
from reconciliation.selectors import (
    audit_events_of,
    source_entry_discrepancies,
    source_entry_in_live_match,
    source_entry_match_ids,
    source_entry_matches,
)

CLOSE_PAGE_LIMIT = 500
MATCH_SELECTION_LIMIT = 50


@admin.register(SourceEntry)
class SourceEntryAdmin(ReconciliationAdmin):
    organization_path = "ledger__organization"
    # Imported facts: never added, edited or deleted here; closing and reopening are
    # decisions with a reason, made through the services.
    roles = {"view": VIEWER, "close": REVIEWER, "match": REVIEWER}
    change_form_template = "admin/reconciliation/sourceentry/change_form.html"
    list_display = [
        "booking_date",
        "amount_column",
        "currency",
        "counterparty_name",
        "reference_column",
        "description_column",
        "status_column",
        "close_reason",
        "run",
    ]
    list_filter = [
        "match_status",
        "close_reason",
        "currency",
        "is_reversal",
        ("run", RelatedOnlyFieldListFilter),
        ("ledger", RelatedOnlyFieldListFilter),
        "booking_date",
    ]
    list_select_related = ["run", "ledger"]
    search_fields = [
        "reference",
        "end_to_end_id",
        "creditor_reference",
        "bank_reference",
        "counterparty_name",
        "counterparty_iban",
        "description",
    ]
    ordering = ["booking_date", "line", "id"]
    show_full_result_count = False
    list_per_page = 100
    actions = ["match_selected", "close_selected", "reopen_selected"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "run",
                    "source_file",
                    "statement",
                    "line",
                    ("booking_date", "value_date"),
                    ("amount_column", "currency", "excess_precision"),
                    "is_reversal",
                ]
            },
        ),
        (
            "Counterparty and references",
            {
                "fields": [
                    ("counterparty_name", "counterparty_iban"),
                    "reference",
                    ("end_to_end_id", "creditor_reference"),
                    ("bank_reference", "entry_reference"),
                    "bank_transaction_code",
                    "description",
                    "batch_count",
                    "details_table",
                ]
            },
        ),
        (
            "Reconciliation",
            {
                "fields": [
                    "match_status",
                    "matches_column",
                    "discrepancies_column",
                    ("close_reason", "closed_by", "closed_at"),
                    "close_note",
                ]
            },
        ),
    ]
    readonly_fields = [
        "run",
        "source_file",
        "statement",
        "line",
        "booking_date",
        "value_date",
        "amount_column",
        "currency",
        "excess_precision",
        "is_reversal",
        "counterparty_name",
        "counterparty_iban",
        "reference",
        "end_to_end_id",
        "creditor_reference",
        "bank_reference",
        "entry_reference",
        "bank_transaction_code",
        "description",
        "batch_count",
        "details_table",
        "match_status",
        "matches_column",
        "discrepancies_column",
        "close_reason",
        "closed_by",
        "closed_at",
        "close_note",
    ]

    def history_events(self, obj: SourceEntry) -> QuerySet[Any]:
        # The item's decisions live on the matches it was part of, too.
        return audit_events_of(subject_ids=[obj.pk, *source_entry_match_ids(entry=obj)])

    @admin.action(description="Match selected items with GL…", permissions=["match"])
    def match_selected(
        self, request: HttpRequest, queryset: QuerySet[SourceEntry]
    ) -> HttpResponse | None:
        """The workbench with the selected items ticked (they must be of one run)."""
        entries = list(queryset.select_related("run")[: MATCH_SELECTION_LIMIT + 1])
        runs = {e.run_id for e in entries}
        if len(runs) != 1:
            self.message_user(
                request, "Select items of one run to match them together.", messages.ERROR
            )
            return None
        if len(entries) > MATCH_SELECTION_LIMIT:
            self.message_user(
                request, f"Select at most {MATCH_SELECTION_LIMIT} items.", messages.ERROR
            )
            return None
        back = request.get_full_path()
        return HttpResponseRedirect(
            manual_match_url(entries[0].run, items=[e.pk for e in entries], next_url=back)
        )

    @admin.action(description="Close selected items with a reason…", permissions=["close"])
    def close_selected(
        self, request: HttpRequest, queryset: QuerySet[SourceEntry]
    ) -> TemplateResponse | None:
        form = CloseItemsForm(request.POST if request.POST.get("post") else None)
        if request.POST.get("post") and form.is_valid():
            done = self.close_items(
                request,
                queryset.select_related("ledger", "run"),
                reason=form.cleaned_data["reason"],
                note=form.cleaned_data["note"],
            )
            if done:
                reason = CloseReason(form.cleaned_data["reason"]).label.lower()
                self.message_user(
                    request,
                    f"Closed {done} item{'s' if done != 1 else ''}: {reason}.",
                    messages.SUCCESS,
                )
            return None
        return self.close_page(request, queryset, form, action="close_selected")

    @admin.action(description="Reopen selected closed items", permissions=["close"])
    def reopen_selected(self, request: HttpRequest, queryset: QuerySet[SourceEntry]) -> None:
        from reconciliation.services.items import source_entry_reopen

        done = 0
        for entry in queryset.select_related("ledger", "run"):
            if not self.role_allows(request, "close", entry):
                self.message_user(
                    request, f"Item {entry}: your role does not allow it.", messages.ERROR
                )
                continue
            try:
                source_entry_reopen(entry=entry, actor=request.user)
            except DomainError as exc:
                report(request, exc, prefix=f"Item {entry}: ")
            else:
                done += 1
        if done:
            self.message_user(request, f"Reopened {done} item{'s' if done != 1 else ''}.")

    def close_items(
        self, request: HttpRequest, entries: Iterable[SourceEntry], *, reason: str, note: str
    ) -> int:
        """source_entry_close per item; refusals become error messages. Returns the count
        closed."""
        from reconciliation.services.items import source_entry_close

        done = 0
        for entry in entries:
            if not self.role_allows(request, "close", entry):
                messages.error(request, f"Item {entry}: your role does not allow closing it.")
                continue
            try:
                source_entry_close(
                    entry=entry,
                    ledger_id=entry.ledger_id,
                    reason=reason,
                    note=note,
                    actor=request.user,
                )
            except DomainError as exc:
                report(request, exc, prefix=f"Item {entry}: ")
            else:
                done += 1
        return done

    def close_page(
        self,
        request: HttpRequest,
        entries: QuerySet[SourceEntry],
        form: CloseItemsForm,
        *,
        action: str | None,
        single: SourceEntry | None = None,
    ) -> TemplateResponse:
        """The reason form, listing what will be closed (and what cannot be)."""
        live = MatchSourceLink.objects.filter(source_entry_id=OuterRef("pk"), is_active=True)
        rows = list(
            entries.select_related("run__ledger", "run__account").annotate(in_match=Exists(live))[
                :CLOSE_PAGE_LIMIT
            ]
        )
        context = {
            **self.admin_site.each_context(request),
            "title": "Close items",
            "subtitle": f"{len(rows)} item{'s' if len(rows) != 1 else ''}",
            "opts": self.opts,
            "form": form,
            "items": [
                {
                    "entry": e,
                    "amount": money(e.amount, e.currency),
                    "url": admin_url(e),
                    "closable": e.match_status == SourceEntryMatchStatus.UNMATCHED
                    and not e.in_match,
                }
                for e in rows
            ],
            "more": max(entries.count() - len(rows), 0) if len(rows) == CLOSE_PAGE_LIMIT else 0,
            "action": action,
            "single": single,
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request, "admin/reconciliation/sourceentry/close_items.html", context
        )

    # Columns.
    @admin.display(description="amount", ordering="amount")
    def amount_column(self, obj: SourceEntry) -> str:
        return amount_html(obj.amount, obj.currency, with_currency=False)

    @admin.display(description="reference")
    def reference_column(self, obj: SourceEntry) -> str:
        return obj.creditor_reference or obj.end_to_end_id or obj.reference or obj.bank_reference

    @admin.display(description="description")
    def description_column(self, obj: SourceEntry) -> str:
        text = obj.description
        return text if len(text) <= 60 else text[:57] + "…"

    @admin.display(description="status", ordering="match_status")
    def status_column(self, obj: SourceEntry) -> str:
        return status_badge(obj.match_status, obj.get_match_status_display())

    @admin.display(description="batch details")
    def details_table(self, obj: SourceEntry) -> str:
        lines = [detail_line(d, obj.currency) for d in obj.details or []]
        if not lines:
            return "—"
        return format_html(
            "<ol>{}</ol>", format_html_join("", "<li>{}</li>", ((x,) for x in lines))
        )

    @admin.display(description="matches")
    def matches_column(self, obj: SourceEntry) -> str:
        rows = [
            (
                reverse("admin:reconciliation_match_review_one", args=[link.match_id]),
                link.match.get_status_display(),
                link.match.score,
                signed_money(link.match.difference, link.match.currency),
            )
            for link in source_entry_matches(entry=obj)
        ]
        if not rows:
            return "—"
        return format_html_join(
            mark_safe("<br>"), '<a href="{}">{} match</a> · score {} · difference {}', rows
        )

    @admin.display(description="discrepancies")
    def discrepancies_column(self, obj: SourceEntry) -> str:
        rows = [
            (admin_url(d), d.get_kind_display(), d.get_severity_display(), d.get_status_display())
            for d in source_entry_discrepancies(entry=obj)
        ]
        if not rows:
            return "—"
        return format_html_join(mark_safe("<br>"), '<a href="{}">{}</a> · {} · {}', rows)

    def change_page_context(self, request: HttpRequest, entry: Any) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        allowed = self.allows(request, "close", entry)
        extra["can_close_item"] = (
            allowed
            and entry.match_status == SourceEntryMatchStatus.UNMATCHED
            and not source_entry_in_live_match(entry=entry)
        )
        extra["can_reopen_item"] = allowed and entry.match_status == SourceEntryMatchStatus.CLOSED
        if extra["can_close_item"] and self.role_allows(request, "match", entry):
            extra["manual_match_url"] = manual_match_url(
                entry.run, items=[entry.pk], next_url=admin_url(entry)
            )
        extra["subtitle"] = " · ".join(
            part
            for part in (
                f"{entry.booking_date:%Y-%m-%d}",
                f"{money(entry.amount, entry.currency)} {entry.currency}",
                entry.counterparty_name,
                entry.get_match_status_display(),
            )
            if part
        )
        return extra

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<path:object_id>/close/",
                self.view_url(item_close_view),
                name="reconciliation_sourceentry_close",
            ),
            path(
                "<path:object_id>/reopen/",
                self.view_url(item_reopen_view, post_only=True),
                name="reconciliation_sourceentry_reopen",
            ),
            *super().get_urls(),
        ]


def item_close_view(
    model_admin: SourceEntryAdmin, request: HttpRequest, object_id: str
) -> HttpResponse:
    """One item: the same reason form as the list action, from its own page."""
    entry = model_admin.get_scoped(request, object_id)
    model_admin.require(request, "close", entry)
    form = CloseItemsForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        done = model_admin.close_items(
            request, [entry], reason=form.cleaned_data["reason"], note=form.cleaned_data["note"]
        )
        if done:
            reason = CloseReason(form.cleaned_data["reason"]).label
            messages.success(request, f"Item closed: {reason.lower()}.")
        return HttpResponseRedirect(admin_url(entry))
    qs = model_admin.get_queryset(request).filter(pk=entry.pk)
    return model_admin.close_page(request, qs, form, action=None, single=entry)


def item_reopen_view(
    model_admin: SourceEntryAdmin, request: HttpRequest, object_id: str
) -> HttpResponse:
    from reconciliation.services.items import source_entry_reopen

    entry = model_admin.get_scoped(request, object_id)
    model_admin.require(request, "close", entry)
    try:
        source_entry_reopen(entry=entry, actor=request.user)
    except DomainError as exc:
        report(request, exc, prefix=f"Item {entry}: ")
    else:
        messages.success(request, f"Item {entry} reopened.")
    return HttpResponseRedirect(admin_url(entry))
