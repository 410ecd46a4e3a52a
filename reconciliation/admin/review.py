"""The side-by-side review screen: one suggestion at a time, keyboard first (A / R / N).

Each field of the two sides is judged with the matching engine's own functions
(`reconciliation.matching.scoring`: the same tolerance, date distance, reference keys and
similarity figures that made the score), so the reviewer's ✓ / ~ / ≠ and its wording never
contradict the score or the "why" line, which is the engine's stored explanation.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import get_token
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme

from ledgers.admin.base import report
from ledgers.admin.formatting import admin_url, event_rows, iban_display, money, signed_money
from ledgers.exceptions import DomainError
from ledgers.models import LedgerEntry
from reconciliation.admin.formatting import (
    bank_references,
    calendar_span,
    detail_line,
    difference_hint,
    explanation_rows,
    plain_detail,
    run_title,
    why_sentence,
)
from reconciliation.admin.forms import ReviewDecisionForm
from reconciliation.choices import MatchShape, MatchStatus, RunStatus
from reconciliation.matching import scoring
from reconciliation.matching.references import INVOICE_KIND, shared_key
from reconciliation.matching.types import MatchSettings
from reconciliation.models import Match, Run, SourceEntry
from reconciliation.selectors import (
    audit_events_of,
    ledger_entry_candidates,
    match_ledger_entries,
    match_source_entries,
    source_entry_labels,
    suggestion_queue,
)

if TYPE_CHECKING:
    from reconciliation.admin.matches import MatchAdmin

CANDIDATE_LIMIT = 5


# --- the queue --------------------------------------------------------------------------------


def review_queue(
    model_admin: MatchAdmin, request: HttpRequest, run_id: str | None
) -> QuerySet[Match]:
    """Suggested matches the user can see, highest absolute value first."""
    return suggestion_queue(model_admin.get_queryset(request), run_id=run_id)


def _after(queue: QuerySet[Match], match: Match) -> QuerySet[Match]:
    """The suggestions after `match` in queue order (score desc, bank date, id)."""
    score, day = match.score, match.bank_date  # type: ignore[attr-defined]
    return queue.filter(
        Q(score__lt=score)
        | Q(score=score, bank_date__gt=day)
        | Q(score=score, bank_date=day, pk__gt=match.pk)
    )


def next_in_queue(queue: QuerySet[Match], match: Match) -> Match | None:
    """The next suggestion after `match`, wrapping around to skipped ones at the end."""
    return _after(queue, match).first() or queue.exclude(pk=match.pk).first()


def _position(queue: QuerySet[Match], match: Match) -> int:
    return queue.count() - _after(queue, match).count()


def review_url(match: Match | None, run_id: str | None) -> str:
    if match is None:
        url = reverse("admin:reconciliation_match_review")
    else:
        url = reverse("admin:reconciliation_match_review_one", args=[match.pk])
    return f"{url}?{urlencode({'run': run_id})}" if run_id else url


def _run_param(request: HttpRequest) -> str | None:
    value = request.GET.get("run") or request.POST.get("run") or None
    if value is None:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise Http404("Unknown run.") from None


# --- views ------------------------------------------------------------------------------------


def review_start_view(model_admin: MatchAdmin, request: HttpRequest) -> HttpResponse:
    """The queue's first suggestion, or a 'nothing left' page."""
    from reconciliation.admin.runs import changelist

    run_admin: Any = model_admin.admin_site._registry[Run]
    run_id = _run_param(request)
    run = run_admin.get_scoped(request, run_id) if run_id else None
    first = review_queue(model_admin, request, run_id).first()
    if first is not None:
        return HttpResponseRedirect(review_url(first, run_id))
    extra: dict[str, Any] = {}
    if run is not None:
        extra["unmatched"] = getattr(run, "items_unmatched", 0)
        extra["unmatched_url"] = changelist(
            SourceEntry, run__id__exact=run.pk, match_status__exact="unmatched"
        )
        if run_admin.allows(request, "close", run):
            extra["close_url"] = reverse("admin:reconciliation_run_close", args=[run.pk])
    context = {
        **extra,
        **model_admin.admin_site.each_context(request),
        "title": "Review suggestions",
        "subtitle": run_title(run) if run else "All runs",
        "opts": model_admin.opts,
        "match": None,
        "run": run,
        "run_url": admin_url(run) if run else None,
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/reconciliation/match/review.html", context)


def review_view(model_admin: MatchAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    run_id = _run_param(request)
    match = model_admin.get_scoped(request, object_id)
    queue = review_queue(model_admin, request, run_id)
    if request.method == "POST":
        return _review_decide(model_admin, request, match, queue, run_id)
    context = {
        **model_admin.admin_site.each_context(request),
        **review_context(model_admin, request, match, queue, run_id),
        "opts": model_admin.opts,
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/reconciliation/match/review.html", context)


def _review_decide(
    model_admin: MatchAdmin,
    request: HttpRequest,
    match: Match,
    queue: QuerySet[Match],
    run_id: str | None,
) -> HttpResponse:
    from reconciliation.services.matches import match_accept, match_reject

    model_admin.require(request, "decide", match)
    form = ReviewDecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose Accept or Reject.")
        return HttpResponseRedirect(review_url(match, run_id))
    decision, note = form.cleaned_data["decision"], form.cleaned_data["note"].strip()
    service = match_accept if decision == "accept" else match_reject
    try:
        service(match=match, actor=request.user, note=note)
    except DomainError as exc:
        report(request, exc, prefix=f"Could not {decision} this match: ")
        return HttpResponseRedirect(review_url(match, run_id))
    total = money(match.source_total, match.currency)
    verb = "accepted" if decision == "accept" else "rejected"
    undo = undo_button(
        request,
        match,
        "unmatch" if decision == "accept" else "reopen",
        next_url=review_url(match, run_id),
    )
    messages.success(
        request, format_html("Match of {} {} {}. {}", total, match.currency, verb, undo)
    )
    following = next_in_queue(queue, match)
    return HttpResponseRedirect(review_url(following, run_id))


UNDO_LABELS = {"unmatch": "Undo (unmatch)", "reopen": "Undo (back to suggested)"}


def undo_button(request: HttpRequest, match: Match, action: str, *, next_url: str) -> str:
    """A one-button form, for the message after a decision: undoing changes state, so it
    is a POST with the CSRF token, never a link."""
    url = reverse(f"admin:reconciliation_match_{action}", args=[match.pk])
    return format_html(
        '<form method="post" action="{}" class="recon-inline-form">'
        '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'
        '<input type="hidden" name="next" value="{}">'
        '<button type="submit" class="recon-link-button" data-undo="{}">{}</button></form>',
        url,
        get_token(request),
        next_url,
        action,
        UNDO_LABELS[action],
    )


def match_undo_view(
    model_admin: MatchAdmin, request: HttpRequest, object_id: str, *, action: str
) -> HttpResponse:
    """Undo a decision: `unmatch` an accepted match (an auto match goes back to the queue,
    a manual one is rejected), `reopen` a rejected one as a suggestion."""
    from reconciliation.services.matches import match_reopen, match_unmatch

    match = model_admin.get_scoped(request, object_id)
    model_admin.require(request, "decide", match)
    back = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = ""
    service = match_unmatch if action == "unmatch" else match_reopen
    note = (request.POST.get("note") or "").strip()[:10_000]
    try:
        match = service(match=match, actor=request.user, note=note)
    except DomainError as exc:
        report(request, exc, prefix="Could not undo: ")
    else:
        messages.success(
            request,
            f"Undone: the match of {money(match.source_total, match.currency)} "
            f"{match.currency} is {match.get_status_display().lower()} again.",
        )
    return HttpResponseRedirect(back or review_url(match, str(match.run_id)))


# --- the side-by-side comparison ------------------------------------------------------------


@dataclass
class Verdict:
    state: str  # ok | near | diff | none
    text: str

    @property
    def symbol(self) -> str:
        return {"ok": "✓", "near": "~", "diff": "≠", "none": "·"}[self.state]


@dataclass
class Row:
    label: str
    bank: list[str]
    ledger: list[str]
    verdict: Verdict | None = None
    emphasis: bool = False
    bank_extra: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Sides:
    """Both sides of a match as the engine sees them (rows and their features)."""

    bank: list[Any]
    ledger: list[Any]
    bank_features: list[scoring.Features]
    ledger_features: list[scoring.Features]

    def pairs(self) -> list[tuple[Any, Any, scoring.Features, scoring.Features]]:
        return [
            (b, g, fb, fg)
            for b, fb in zip(self.bank, self.bank_features, strict=True)
            for g, fg in zip(self.ledger, self.ledger_features, strict=True)
        ]


def engine_sides(bank: Sequence[SourceEntry], ledger: Sequence[LedgerEntry]) -> Sides:
    from reconciliation.services.auto_match import ledger_entry_as_row, source_entry_as_row

    bank_rows = [source_entry_as_row(b) for b in bank]
    ledger_rows = [ledger_entry_as_row(g) for g in ledger]
    return Sides(
        bank=bank_rows,
        ledger=ledger_rows,
        bank_features=[scoring.row_features(r) for r in bank_rows],
        ledger_features=[scoring.row_features(r) for r in ledger_rows],
    )


def judge_amount(match: Match, settings: MatchSettings) -> Verdict:
    """The engine's own words for the amount: the stored criterion says on what basis an
    inexact amount was accepted (tolerance, a shared reference's fee allowance, the bank's
    charges, the instructed amount), which only the engine knew when it matched. A
    difference stays ≠ even when explained: it is what the reviewer must look at."""
    state = "ok" if match.difference == 0 else "diff"
    stored = next(
        (
            c
            for c in match.explanation or []
            if isinstance(c, dict) and c.get("criterion") == "amount"
        ),
        None,
    )
    if stored is not None:
        return Verdict(state, plain_detail(str(stored.get("detail", ""))))
    if match.difference == 0:
        return Verdict("ok", "exact")
    allowed = max(
        scoring.tolerance_micro(match.source_total, match.currency, settings),
        scoring.reference_tolerance_micro(match.source_total, match.currency, settings),
    )
    within = abs(scoring.to_micro(match.difference)) <= allowed
    return Verdict(
        "diff",
        f"difference {signed_money(match.difference, match.currency)} {match.currency}"
        + (" within the tolerance" if within else ", beyond the tolerance"),
    )


def judge_date(sides: Sides, window: int) -> Verdict:
    # Each GL entry against its nearest bank entry; the worst of those is the verdict.
    days, via_value = max(
        min((scoring.date_distance(b, g) for b in sides.bank), key=lambda d: d[0])
        for g in sides.ledger
    )
    text = scoring.date_criterion(
        scoring.date_points(days, window), days, via_value_date=via_value
    ).detail
    if days == 0:
        return Verdict("ok", text)
    return Verdict("near" if days <= window else "diff", text)


def judge_reference(sides: Sides) -> Verdict:
    keys = [shared_key(fb.keys, fg.keys) for _, _, fb, fg in sides.pairs()]
    found = sorted(k for k in keys if k is not None)
    if found:
        # A full reference beats an invoice number (the engine's points say the same).
        best = min(found, key=lambda k: k.startswith(INVOICE_KIND))
        points = (
            scoring.REFERENCE_INVOICE if best.startswith(INVOICE_KIND) else scoring.REFERENCE_FULL
        )
        return Verdict("ok", scoring.reference_criterion(points, best).detail)
    if not any(f.keys for f in sides.bank_features) or not any(
        f.keys for f in sides.ledger_features
    ):
        return Verdict("none", "no reference on one side")
    return Verdict("diff", scoring.reference_criterion(0, None).detail)


def judge_counterparty(sides: Sides) -> Verdict:
    results = [scoring.counterparty_points(fb, fg) for _, _, fb, fg in sides.pairs()]
    points, note = max(results, key=lambda r: r[0])
    if points >= scoring.NAME_STEPS[0][1]:
        return Verdict("ok", note)
    if points > 0:
        return Verdict("near", note)
    if note == scoring.NO_NAME:
        return Verdict("none", note)
    return Verdict("diff", note)


def judge_description(sides: Sides) -> Verdict:
    ratios = [
        int(scoring.description_ratio(fb.description, fg.description))
        for _, _, fb, fg in sides.pairs()
        if fb.description and fg.description
    ]
    if not ratios:
        return Verdict("none", scoring.description_criterion(0, -1).detail)
    ratio = max(ratios)
    points = scoring.description_points(ratio)
    text = scoring.description_criterion(points, ratio).detail
    if points >= scoring.DESCRIPTION_MAX:
        return Verdict("ok", text)
    return Verdict("near" if points else "diff", text)


def comparison_rows(
    match: Match,
    bank: Sequence[SourceEntry],
    ledger: Sequence[LedgerEntry],
    settings: MatchSettings,
) -> list[Row]:
    sides = engine_sides(bank, ledger) if ledger and bank else None

    def judged(judge: Any, *args: Any) -> Verdict | None:
        return judge(sides, *args) if sides is not None else None

    def dates_b(e: SourceEntry) -> str:
        if e.value_date and e.value_date != e.booking_date:
            return f"{e.booking_date:%Y-%m-%d} (value {e.value_date:%Y-%m-%d})"
        return f"{e.booking_date:%Y-%m-%d}"

    def amounts(entries: Sequence[Any], total: Decimal) -> list[str]:
        lines = [f"{money(e.amount, e.currency)} {e.currency}" for e in entries]
        if len(entries) > 1:
            lines.append(f"= {money(total, match.currency)} {match.currency}")
        return lines

    def party_b(e: SourceEntry) -> str:
        name = e.counterparty_name or "—"
        return f"{name}  {iban_display(e.counterparty_iban)}" if e.counterparty_iban else name

    rows = [
        Row(
            "Date",
            [dates_b(b) for b in bank],
            [f"{g.booking_date:%Y-%m-%d}" for g in ledger],
            judged(judge_date, settings.date_window_days),
        ),
        Row(
            "Amount",
            amounts(bank, match.source_total),
            amounts(ledger, match.ledger_total),
            judge_amount(match, settings) if sides is not None else None,
            emphasis=True,
        ),
        Row(
            "Counterparty",
            [party_b(b) for b in bank],
            [g.counterparty or "—" for g in ledger],
            judged(judge_counterparty),
        ),
        Row(
            "Reference",
            [
                " · ".join(f"{label} {value}" for label, value in bank_references(b)) or "—"
                for b in bank
            ],
            [g.reference or "—" for g in ledger],
            judged(judge_reference),
        ),
        Row(
            "Description",
            [b.description or "—" for b in bank],
            [g.description or "—" for g in ledger],
            judged(judge_description),
        ),
        Row(
            "Source",
            [
                f"line {b.line}"
                + (f" · {b.bank_transaction_code}" if b.bank_transaction_code else "")
                + (" · reversal" if b.is_reversal else "")
                for b in bank
            ],
            [
                f"{g.external_id}" + (f" · account {g.account.code}" if g.account_id else "")
                for g in ledger
            ],
        ),
    ]
    currencies = {e.currency for e in [*bank, *ledger]}
    if len(currencies) > 1:
        rows.insert(
            2,
            Row(
                "Currency",
                [b.currency for b in bank],
                [g.currency for g in ledger],
                Verdict("diff", "currencies differ"),
            ),
        )
    return rows


def other_candidates(
    match: Match, bank: Sequence[SourceEntry], settings: MatchSettings
) -> list[dict[str, Any]]:
    """GL entries near this bank entry (same currency, amount within the engine's
    tolerance, date within the window) that are free or only in another *suggested*
    match; at most five."""
    if not bank:
        return []
    amount = sum((b.amount for b in bank), Decimal("0"))
    tolerance = Decimal(scoring.tolerance_micro(amount, match.currency, settings)).scaleb(-6)
    window = dt.timedelta(days=calendar_span(settings.date_window_days))
    candidates = ledger_entry_candidates(
        run=match.run,
        currency=match.currency,
        amount=amount,
        tolerance=tolerance,
        first_day=min(b.booking_date for b in bank) - window,
        last_day=max(b.booking_date for b in bank) + window,
        exclude_match=match,
    )[:CANDIDATE_LIMIT]
    return [
        {
            "entry": g,
            "date": f"{g.booking_date:%Y-%m-%d}",
            "amount": money(g.amount, g.currency),
            "currency": g.currency,
            "difference": signed_money(amount - g.amount, g.currency) if g.gap else "",
            "counterparty": g.counterparty,
            "reference": g.reference,
            "external_id": g.external_id,
            "description": g.description,
            "url": admin_url(g),
            "in_suggestion": g.live_match_id is not None,
            "score": g.live_score,
            "review_url": (
                reverse("admin:reconciliation_match_review_one", args=[g.live_match_id])
                if g.live_match_id
                else ""
            ),
        }
        for g in candidates
    ]


def review_context(
    model_admin: MatchAdmin,
    request: HttpRequest,
    match: Match,
    queue: QuerySet[Match],
    run_id: str | None,
) -> dict[str, Any]:
    from reconciliation.services.auto_match import run_match_settings

    run = match.run
    bank = match_source_entries(match=match)
    ledger = match_ledger_entries(match=match)
    settings = run_match_settings(run)
    is_suggested = match.status == MatchStatus.SUGGESTED
    following = next_in_queue(queue, match)
    explanation = explanation_rows(match)
    can_decide = model_admin.allows(request, "decide", match)
    run_closed = run.status == RunStatus.CLOSED
    return {
        "title": "Review suggestion",
        "subtitle": run_title(run),
        "match": match,
        "run": run,
        "run_url": admin_url(run),
        "run_id": run_id,
        "position": _position(queue, match) if is_suggested else None,
        "total": queue.count(),
        "is_suggested": is_suggested,
        "shape": MatchShape(match.shape).label if match.shape in MatchShape.values else match.shape,
        "difference": signed_money(match.difference, match.currency),
        "difference_zero": match.difference == 0,
        "difference_hint": (
            difference_hint(match) if ledger else "the bank entries offset each other"
        ),
        "source_total": money(match.source_total, match.currency),
        "ledger_total": money(match.ledger_total, match.currency),
        "score_class": "high" if match.score >= 80 else "mid" if match.score >= 60 else "low",
        "bank": bank,
        "ledger": ledger,
        "bank_links": [(b, admin_url(b)) for b in bank],
        "ledger_links": [(g, admin_url(g)) for g in ledger],
        "rows": comparison_rows(match, bank, ledger, settings),
        "batches": [
            {"entry": b, "lines": [detail_line(d, b.currency) for d in b.details]}
            for b in bank
            if len(b.details or []) > 1
        ],
        "explanation": explanation,
        "why": why_sentence(explanation),
        "candidates": other_candidates(match, bank, settings),
        "discrepancies": list(match.discrepancies.order_by("created_at")),
        "events": event_rows(
            audit_events_of(subject_ids=[match.pk])[:10], labels=source_entry_labels
        ),
        "can_decide": can_decide,
        "can_accept": can_decide and is_suggested,
        "can_reject": can_decide and match.status != MatchStatus.REJECTED,
        "can_unmatch": can_decide and match.status == MatchStatus.ACCEPTED,
        "can_reopen": can_decide and match.status == MatchStatus.REJECTED,
        "unmatch_url": reverse("admin:reconciliation_match_unmatch", args=[match.pk]),
        "reopen_url": reverse("admin:reconciliation_match_reopen", args=[match.pk]),
        "run_closed": run_closed,
        "next_url": review_url(following, run_id) if following else "",
        "queue_url": review_url(None, run_id),
        "change_url": admin_url(match),
        "form_action": review_url(match, run_id),
    }
