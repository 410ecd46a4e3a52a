"""The match list: filters, bulk accept/reject with a confirmation page, the match page.

Reviewers decide; matches are never deleted (a rejection stays in the history). The
side-by-side review screen is `reconciliation.admin.review`.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from ledgers.admin.base import REVIEWER, VIEWER
from ledgers.admin.formatting import admin_url, amount_html, money, signed_money, status_badge
from ledgers.exceptions import DomainError
from reconciliation.admin import review
from reconciliation.admin.base import ReconciliationAdmin
from reconciliation.admin.formatting import explanation_rows
from reconciliation.choices import MatchKind, MatchStatus, RunStatus
from reconciliation.models import Match, MatchLedgerLink, MatchSourceLink
from reconciliation.selectors import match_ledger_entries, match_source_entries

CONFIRM_LIMIT = 200


class ScoreFilter(admin.SimpleListFilter):
    title = "score"
    parameter_name = "score"
    bands = {"90": (90, 101), "80": (80, 90), "60": (60, 80), "0": (0, 60)}

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("90", "90 and above"), ("80", "80 to 89"), ("60", "60 to 79"), ("0", "below 60")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Match]) -> QuerySet[Match]:
        band = self.bands.get(self.value() or "")
        if band is None:
            return queryset
        return queryset.filter(score__gte=band[0], score__lt=band[1])


def _first_source(field: str) -> Subquery:
    links = MatchSourceLink.objects.filter(match_id=OuterRef("pk")).order_by(
        "source_entry__booking_date", "source_entry__line"
    )
    return Subquery(links.values(f"source_entry__{field}")[:1])


def _first_ledger(field: str) -> Subquery:
    links = MatchLedgerLink.objects.filter(match_id=OuterRef("pk")).order_by(
        "ledger_entry__booking_date", "ledger_entry__external_id"
    )
    return Subquery(links.values(f"ledger_entry__{field}")[:1])


def _link_count(model: Any) -> Subquery:
    return Subquery(
        model.objects.filter(match_id=OuterRef("pk"))
        .order_by()
        .values("match_id")
        .annotate(n=Count("pk"))
        .values("n")[:1]
    )


def side_text(parts: tuple[Any, ...], count: int | None) -> str:
    """'ACME GmbH · Invoice 4711 (+2 more)': one side of a match in a list row."""
    text = " · ".join(str(p) for p in parts if p)
    more = (count or 1) - 1
    return f"{text} (+{more} more)" if more > 0 else text


@admin.register(Match)
class MatchAdmin(ReconciliationAdmin):
    organization_path = "run__ledger__organization"
    roles = {"view": VIEWER, "change": REVIEWER, "decide": REVIEWER}
    change_form_template = "admin/reconciliation/match/change_form.html"
    list_display = [
        "bank_date_column",
        "bank_column",
        "ledger_column",
        "amount_column",
        "difference_column",
        "status_column",
        "score_column",
        "ambiguous_column",
        "shape",
        "kind",
        "decided_by",
        "review_column",
    ]
    list_display_links = ["bank_date_column"]
    list_filter = [
        "status",
        ScoreFilter,
        "kind",
        "shape",
        "is_ambiguous",
        ("run", RelatedOnlyFieldListFilter),
        ("run__ledger", RelatedOnlyFieldListFilter),
        "created_at",
    ]
    list_select_related = ["run__ledger", "decided_by"]
    search_fields = ["note", "source_links__source_entry__counterparty_name"]
    show_full_result_count = False
    list_per_page = 100
    actions = ["accept_selected", "reject_selected"]
    fields = [
        "run",
        ("status", "kind", "shape"),
        ("score", "is_ambiguous"),
        ("amount_column", "ledger_total_column", "difference_column"),
        "sides",
        "explanation_table",
        "note",
        ("created_by", "created_at"),
        ("decided_by", "decided_at"),
    ]
    readonly_fields = [
        "run",
        "status",
        "kind",
        "shape",
        "score",
        "is_ambiguous",
        "amount_column",
        "ledger_total_column",
        "difference_column",
        "sides",
        "explanation_table",
        "created_by",
        "created_at",
        "decided_by",
        "decided_at",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Match]:
        return (
            super()
            .get_queryset(request)
            .select_related("run__ledger", "run__account", "decided_by", "created_by")
            .annotate(
                bank_date=_first_source("booking_date"),
                bank_party=_first_source("counterparty_name"),
                bank_text=_first_source("description"),
                bank_count=_link_count(MatchSourceLink),
                gl_external_id=_first_ledger("external_id"),
                gl_party=_first_ledger("counterparty"),
                gl_text=_first_ledger("description"),
                gl_count=_link_count(MatchLedgerLink),
            )
        )

    def persist(self, request: HttpRequest, obj: Match, form: Any, change: bool) -> None:
        from reconciliation.services.matches import match_update_note

        if "note" in form.changed_data:
            match_update_note(match=obj, note=obj.note, actor=request.user)

    # Bulk decisions with a confirmation page.
    @admin.action(description="Accept selected suggestions…", permissions=["decide"])
    def accept_selected(
        self, request: HttpRequest, queryset: QuerySet[Match]
    ) -> TemplateResponse | None:
        return self._bulk_decide(request, queryset, "accept")

    @admin.action(description="Reject selected matches…", permissions=["decide"])
    def reject_selected(
        self, request: HttpRequest, queryset: QuerySet[Match]
    ) -> TemplateResponse | None:
        return self._bulk_decide(request, queryset, "reject")

    def _bulk_decide(
        self, request: HttpRequest, queryset: QuerySet[Match], decision: str
    ) -> TemplateResponse | None:
        from reconciliation.services.matches import match_accept, match_reject

        if request.POST.get("post") != "yes":
            return self._bulk_confirmation(request, queryset, decision)
        service = match_accept if decision == "accept" else match_reject
        note = request.POST.get("note", "").strip()
        done = 0
        for match in queryset.order_by("-score", "pk").iterator(chunk_size=500):
            if not self.role_allows(request, "decide", match):
                self.message_user(
                    request, f"Match {match.pk}: needs the reviewer role.", messages.ERROR
                )
                continue
            try:
                service(match=match, actor=request.user, note=note)
            except DomainError as exc:
                self.message_user(
                    request,
                    f"Match {money(match.source_total, match.currency)} {match.currency} "
                    f"({match.pk}): {exc.detail}",
                    level=messages.ERROR,
                )
            else:
                done += 1
        verb = "Accepted" if decision == "accept" else "Rejected"
        if done:
            self.message_user(request, f"{verb} {done} match{'es' if done != 1 else ''}.")
        return None

    def _bulk_confirmation(
        self, request: HttpRequest, queryset: QuerySet[Match], decision: str
    ) -> TemplateResponse:
        """What each selected match becomes; the first CONFIRM_LIMIT rows are listed."""
        target = MatchStatus.ACCEPTED if decision == "accept" else MatchStatus.REJECTED
        rows = list(queryset.order_by("-score", "pk")[:CONFIRM_LIMIT])
        from_statuses = [MatchStatus.SUGGESTED]
        if decision == "reject":
            from_statuses.append(MatchStatus.ACCEPTED)
        changing = (
            queryset.filter(status__in=from_statuses).exclude(run__status=RunStatus.CLOSED).count()
        )
        total = queryset.count() if len(rows) == CONFIRM_LIMIT else len(rows)
        items = []
        for match in rows:
            if match.run.is_closed:
                outcome, changes = "the run is closed: refused", False
            elif match.status == target:
                outcome, changes = f"already {target}: unchanged", False
            elif decision == "accept" and match.status != MatchStatus.SUGGESTED:
                outcome, changes = f"{match.status}: cannot be accepted", False
            elif not self.role_allows(request, "decide", match):
                outcome, changes = "your role does not allow it", False
            else:
                outcome, changes = f"{match.status} → {target}", True
            items.append(
                {
                    "match": match,
                    "bank": side_text(
                        (match.bank_date, match.bank_party, match.bank_text), match.bank_count
                    ),
                    "ledger": side_text(
                        (match.gl_external_id, match.gl_party, match.gl_text), match.gl_count
                    ),
                    "amount": money(match.source_total, match.currency),
                    "difference": signed_money(match.difference, match.currency),
                    "outcome": outcome,
                    "changes": changes,
                    "url": admin_url(match),
                }
            )
        context = {
            **self.admin_site.each_context(request),
            "title": f"{'Accept' if decision == 'accept' else 'Reject'} matches",
            "subtitle": None,
            "opts": self.opts,
            "decision": decision,
            "action": f"{decision}_selected",
            "items": items,
            "total": total,
            "more": total - len(items),
            "changing": changing,
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/reconciliation/match/confirm_bulk.html", context)

    # Columns.
    @admin.display(description="date", ordering="bank_date")
    def bank_date_column(self, obj: Match) -> str:
        day = obj.bank_date  # type: ignore[attr-defined]
        return format_html(
            '<span class="recon-amount">{}</span>', f"{day:%Y-%m-%d}" if day else "—"
        )

    @admin.display(description="status", ordering="status")
    def status_column(self, obj: Match) -> str:
        return status_badge(obj.status, obj.get_status_display())

    @admin.display(description="bank entry")
    def bank_column(self, obj: Any) -> str:
        return side_text((obj.bank_party, obj.bank_text), obj.bank_count)

    @admin.display(description="GL entry")
    def ledger_column(self, obj: Any) -> str:
        if not obj.gl_count:
            return "— (reversal pair)" if obj.shape == "reversal" else "—"
        return side_text((obj.gl_external_id, obj.gl_party, obj.gl_text), obj.gl_count)

    @admin.display(description="score", ordering="score")
    def score_column(self, obj: Match) -> str:
        # A person's pairing has no engine score to show (it is stored as 100).
        return "manual" if obj.kind == MatchKind.MANUAL else str(obj.score)

    @admin.display(description="ambiguous", boolean=True, ordering="is_ambiguous")
    def ambiguous_column(self, obj: Match) -> bool:
        return obj.is_ambiguous

    @admin.display(description="amount", ordering="source_total")
    def amount_column(self, obj: Match) -> str:
        return amount_html(obj.source_total, obj.currency)

    @admin.display(description="ledger total")
    def ledger_total_column(self, obj: Match) -> str:
        return amount_html(obj.ledger_total, obj.currency)

    @admin.display(description="difference", ordering="difference")
    def difference_column(self, obj: Match) -> str:
        css = "recon-ok" if obj.difference == 0 else "recon-diff"
        return format_html(
            '<span class="recon-amount {}">{}</span>',
            css,
            signed_money(obj.difference, obj.currency),
        )

    @admin.display(description="")
    def review_column(self, obj: Match) -> str:
        url = reverse("admin:reconciliation_match_review_one", args=[obj.pk])
        return format_html('<a href="{}?run={}">Review</a>', url, obj.run_id)

    @admin.display(description="entries")
    def sides(self, obj: Match) -> str:
        rows = [
            (
                "bank",
                admin_url(e),
                e.booking_date,
                money(e.amount, e.currency),
                e.currency,
                e.counterparty_name,
                e.description,
            )
            for e in match_source_entries(match=obj)
        ] + [
            (
                "GL",
                admin_url(g),
                g.booking_date,
                money(g.amount, g.currency),
                g.currency,
                g.counterparty,
                g.description,
            )
            for g in match_ledger_entries(match=obj)
        ]
        return format_html(
            '<table class="recon-mini"><tbody>{}</tbody></table>',
            format_html_join(
                "",
                '<tr><th>{}</th><td><a href="{}">{}</a></td>'
                '<td class="recon-amount">{} {}</td><td>{}</td><td>{}</td></tr>',
                rows,
            ),
        )

    @admin.display(description="why")
    def explanation_table(self, obj: Match) -> str:
        return format_html(
            '<table class="recon-mini"><tbody>{}</tbody></table>',
            format_html_join(
                "",
                '<tr><th>{}</th><td class="recon-{}">{} / {}</td><td>{}</td></tr>',
                (
                    (r["criterion"], r["state"], r["points"], r["max_points"], r["detail"])
                    for r in explanation_rows(obj)
                ),
            ),
        )

    def change_page_context(self, request: HttpRequest, match: Any) -> dict[str, Any]:
        return {
            "review_url": review.review_url(match, str(match.run_id)),
            "subtitle": (
                f"{match.get_status_display()} match · {match.get_shape_display()} · "
                f"{money(match.source_total, match.currency)} {match.currency} · "
                + ("manual" if match.kind == MatchKind.MANUAL else f"score {match.score}")
            ),
        }

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "review/",
                self.view_url(review.review_start_view),
                name="reconciliation_match_review",
            ),
            path(
                "<path:object_id>/review/",
                self.view_url(review.review_view),
                name="reconciliation_match_review_one",
            ),
            path(
                "<path:object_id>/unmatch/",
                self.view_url(partial(review.match_undo_view, action="unmatch"), post_only=True),
                name="reconciliation_match_unmatch",
            ),
            path(
                "<path:object_id>/reopen/",
                self.view_url(partial(review.match_undo_view, action="reopen"), post_only=True),
                name="reconciliation_match_reopen",
            ),
            *super().get_urls(),
        ]
