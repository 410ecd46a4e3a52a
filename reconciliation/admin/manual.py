"""Manual matching in the admin: the workbench where a reviewer pairs what the engine could
not — one or more bank items of a run with one or more GL entries of its ledger.

It opens from an unmatched item ("Match with GL…"), from several selected items (a list
action), or from a GL entry ("Find bank items…"); the selection is preselected and the
other side is searched near its amount (the engine's tolerance), its dates (the run's date
window) and any words the reviewer types. Both sides are multi-select; the page shows the
running totals, the difference and a currency check as boxes are ticked (computed in exact
integer minor units, never floats), and the match itself is made by `match_create_manual`,
which checks everything again under its locks.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme

from ledgers.admin.base import report
from ledgers.admin.formatting import admin_url, money, signed_money
from ledgers.exceptions import DomainError
from ledgers.money import minor_units
from reconciliation.admin.formatting import calendar_span, run_title
from reconciliation.matching import scoring
from reconciliation.models import Run
from reconciliation.selectors import (
    CandidateSearch,
    manual_match_bank_candidates,
    manual_match_gl_candidates,
    manual_match_selection,
)

if TYPE_CHECKING:
    from reconciliation.admin.runs import RunAdmin

PANE_LIMIT = 60


class SearchForm(forms.Form):
    amount_min = forms.DecimalField(label="Amount from", required=False, max_digits=24)
    amount_max = forms.DecimalField(label="to", required=False, max_digits=24)
    date_from = forms.DateField(label="Date from", required=False)
    date_to = forms.DateField(label="to", required=False)
    q = forms.CharField(label="Words", required=False, max_length=200)
    include_suggested = forms.BooleanField(
        label="Also show entries in pending suggestions", required=False
    )


def _ids(values: list[str]) -> list[uuid.UUID]:
    out = []
    for value in values:
        for part in value.split(","):
            try:
                out.append(uuid.UUID(part.strip()))
            except ValueError:
                continue
    return list(dict.fromkeys(out))


def _defaults(run: Run, bank: list[Any], gl: list[Any]) -> dict[str, Any]:
    """The first search: the other side near the selection's total and dates."""
    from reconciliation.services.auto_match import run_match_settings

    settings = run_match_settings(run)
    window = dt.timedelta(days=calendar_span(settings.date_window_days))
    chosen = bank or gl
    if not chosen or (bank and gl):
        return {"include_suggested": True}
    total = sum((e.amount for e in chosen), Decimal("0"))
    currency = chosen[0].currency
    tolerance = Decimal(scoring.tolerance_micro(total, currency, settings)).scaleb(-6)
    step = Decimal(1).scaleb(-minor_units(currency))
    return {
        # Widened to whole minor units: the form shows 72.00, not 72.000000.
        "amount_min": (total - tolerance).quantize(step, rounding=ROUND_FLOOR),
        "amount_max": (total + tolerance).quantize(step, rounding=ROUND_CEILING),
        "date_from": min(e.booking_date for e in chosen) - window,
        "date_to": max(e.booking_date for e in chosen) + window,
        "include_suggested": True,
    }


def _row(entry: Any, *, side: str, selected: set[uuid.UUID]) -> dict[str, Any]:
    party = entry.counterparty_name if side == "bank" else entry.counterparty
    reference = (
        entry.creditor_reference or entry.end_to_end_id or entry.reference
        if side == "bank"
        else entry.reference
    )
    return {
        "id": entry.pk,
        "date": entry.booking_date,
        "amount": entry.amount,
        "amount_text": money(entry.amount, entry.currency),
        "currency": entry.currency,
        "decimals": minor_units(entry.currency),
        "party": party,
        "reference": reference,
        "text": entry.description,
        "label": f"line {entry.line}" if side == "bank" else entry.external_id,
        "in_suggestion": entry.in_suggestion,
        "selected": entry.pk in selected,
        "url": admin_url(entry),
    }


def _totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    chosen = [r for r in rows if r["selected"]]
    currencies = sorted({r["currency"] for r in chosen})
    total = sum((r["amount"] for r in chosen), Decimal("0"))
    currency = currencies[0] if len(currencies) == 1 else ""
    return {
        "count": len(chosen),
        "total": total,
        "text": money(total, currency) if currency else "",
        "currencies": currencies,
    }


def manual_match_view(model_admin: RunAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    from reconciliation.services.matches import match_create_manual

    run = model_admin.get_scoped(request, object_id)
    model_admin.require(request, "manual_match", run)
    data = request.POST if request.method == "POST" else request.GET
    bank_ids, gl_ids = _ids(data.getlist("items")), _ids(data.getlist("gl"))
    back = data.get("next") or ""
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = ""
    if request.method == "POST" and data.get("action") == "match":
        note = (data.get("note") or "").strip()[:10_000]
        try:
            match = match_create_manual(
                run=run,
                source_entry_ids=bank_ids,
                ledger_entry_ids=gl_ids,
                note=note,
                actor=request.user,
            )
        except DomainError as exc:
            report(request, exc, prefix="Not matched: ")
        else:
            messages.success(
                request,
                format_html(
                    "Matched {} bank item{} with {} GL entr{} (difference {} {}). "
                    '<a href="{}">Open the match</a>',
                    len(bank_ids),
                    "s" if len(bank_ids) != 1 else "",
                    len(gl_ids),
                    "ies" if len(gl_ids) != 1 else "y",
                    signed_money(match.difference, match.currency),
                    match.currency,
                    admin_url(match),
                ),
            )
            return HttpResponseRedirect(back or admin_url(run))
    # "Find near the selection" starts over from the ticked entries, like the first visit.
    near = data.get("action") == "near"
    searching = not near and (request.method == "POST" or "q" in data or "amount_min" in data)
    selected = set(bank_ids) | set(gl_ids)
    bank_chosen, gl_chosen = manual_match_selection(run=run, bank_ids=bank_ids, gl_ids=gl_ids)
    form = SearchForm(data if searching else None, initial=_defaults(run, bank_chosen, gl_chosen))
    if searching and form.is_valid():
        values = form.cleaned_data
    else:
        values = {**dict.fromkeys(form.fields), **form.initial}
    search = CandidateSearch(
        amount_min=values.get("amount_min"),
        amount_max=values.get("amount_max"),
        date_from=values.get("date_from"),
        date_to=values.get("date_to"),
        text=values.get("q") or "",
        include_suggested=bool(values.get("include_suggested")),
    )
    # The bank side is searched near the GL selection and the other way round: with one
    # side chosen, only the other side is filtered.
    open_search = CandidateSearch(include_suggested=search.include_suggested, text=search.text)
    bank_search = open_search if bank_ids and not gl_ids else search
    gl_search = open_search if gl_ids and not bank_ids else search
    bank_rows = [
        _row(e, side="bank", selected=selected)
        for e in manual_match_bank_candidates(run=run, search=bank_search, selected=bank_ids)[
            :PANE_LIMIT
        ]
    ]
    gl_rows = [
        _row(e, side="gl", selected=selected)
        for e in manual_match_gl_candidates(run=run, search=gl_search, selected=gl_ids)[:PANE_LIMIT]
    ]
    bank_totals, gl_totals = _totals(bank_rows), _totals(gl_rows)
    currencies = sorted(set(bank_totals["currencies"]) | set(gl_totals["currencies"]))
    difference = bank_totals["total"] - gl_totals["total"]
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Match with GL",
        "subtitle": run_title(run),
        "opts": model_admin.opts,
        "run": run,
        "run_url": admin_url(run),
        "form": form,
        "bank_rows": bank_rows,
        "gl_rows": gl_rows,
        "limit": PANE_LIMIT,
        "bank_totals": bank_totals,
        "gl_totals": gl_totals,
        "difference": signed_money(difference, currencies[0]) if len(currencies) == 1 else "",
        "currency": currencies[0] if len(currencies) == 1 else "",
        "mixed_currencies": len(currencies) > 1,
        "next": back,
        "note": data.get("note", ""),
        "action_url": reverse("admin:reconciliation_run_manual_match", args=[run.pk]),
        "run_closed": run.is_closed,
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/reconciliation/run/manual_match.html", context)


def manual_match_url(
    run: Run, *, items: Sequence[Any] = (), gl: Sequence[Any] = (), next_url: str = ""
) -> str:
    params: list[tuple[str, str]] = [("items", str(i)) for i in items]
    params += [("gl", str(g)) for g in gl]
    if next_url:
        params.append(("next", next_url))
    url = reverse("admin:reconciliation_run_manual_match", args=[run.pk])
    return f"{url}?{urlencode(params)}" if params else url


def match_from_gl_view(
    model_admin: RunAdmin, request: HttpRequest, gl_id: uuid.UUID
) -> HttpResponse:
    """From a GL entry: the open run of its ledger (and account) to search bank items in;
    the run whose statement period covers the entry's date, else a choice."""
    from ledgers.selectors import ledger_entry_visible
    from reconciliation.selectors import open_runs_for_ledger_entry

    entry = ledger_entry_visible(user=request.user, entry_id=gl_id)
    if entry is None:
        raise Http404("GL entry not found.")
    back = admin_url(entry)
    runs = [
        run
        for run in open_runs_for_ledger_entry(entry=entry, runs=model_admin.get_queryset(request))
        if model_admin.role_allows(request, "manual_match", run)
    ]
    if not runs:
        messages.warning(
            request, "No open run of this ledger to match in: create one and upload the statement."
        )
        return HttpResponseRedirect(back)
    covering = [run for run in runs if _covers(run, entry.booking_date)]
    if len(runs) == 1 or len(covering) == 1:
        chosen = covering[0] if covering else runs[0]
        return HttpResponseRedirect(manual_match_url(chosen, gl=[entry.pk], next_url=back))
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Which run?",
        "subtitle": f"GL {entry.external_id}",
        "opts": model_admin.opts,
        "entry": entry,
        "choices": [
            (run_title(run), manual_match_url(run, gl=[entry.pk], next_url=back)) for run in runs
        ],
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/reconciliation/run/choose_run.html", context)


def _covers(run: Run, day: dt.date) -> bool:
    from reconciliation.selectors import run_statements

    periods = [(s.period_from, s.period_to) for s in run_statements(run=run)]
    return any(start and end and start <= day <= end for start, end in periods)
