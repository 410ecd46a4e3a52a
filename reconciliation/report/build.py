"""The report of a run, read from the database (the definitions: `statement.py`).

`run_report` reads the run's latest statement, the book balance, the outstanding GL
entries, the run's bank-only and closed items and its accepted matches, hands them to the
pure `reconcile`, and returns the JSON body the API serves (and approval freezes).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db.models import Count, DateField, Max, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from ledgers.models import LedgerEntry
from reconciliation.choices import MatchStatus, SourceEntryMatchStatus
from reconciliation.models import Match, MatchLedgerLink, MatchSourceLink, Run, SourceEntry
from reconciliation.report.statement import (
    ZERO,
    BankItem,
    GlEntry,
    MatchLine,
    money,
    reconcile,
    reconciliation_json,
)
from reconciliation.selectors import (
    run_label_of,
    run_latest_statement,
    run_period,
    run_period_end,
)


def report_currency(run: Run, statement: Any) -> str:
    """The account's currency, else the latest statement's, else the ledger's."""
    if run.account_id and run.account is not None:
        return run.account.currency
    if statement is not None and statement.currency:
        return str(statement.currency)
    return run.ledger.currency


def book_entries(run: Run, *, currency: str) -> QuerySet[LedgerEntry]:
    """The GL entries the book balance is made of (any date): the account's, or for a run
    without an account the ledger's in the report currency."""
    entries = LedgerEntry.objects.filter(ledger_id=run.ledger_id, currency=currency)
    if run.account_id:
        entries = entries.filter(account_id=run.account_id)
    return entries


def _cleared_on() -> Subquery:
    """The latest bank date of the accepted match a GL entry is in (NULL when in none)."""
    bank_last = (
        MatchSourceLink.objects.filter(match_id=OuterRef("match_id"))
        .order_by()
        .values("match_id")
        .annotate(last=Max("source_entry__booking_date"))
        .values("last")
    )
    accepted = MatchLedgerLink.objects.filter(
        ledger_entry_id=OuterRef("pk"), is_active=True, match__status=MatchStatus.ACCEPTED
    ).annotate(last=Subquery(bank_last, output_field=DateField()))
    return Subquery(accepted.values("last")[:1], output_field=DateField())


def _gl_text(external_id: str, reference: str, description: str, counterparty: str) -> str:
    parts = [p for p in (counterparty, reference, description) if p]
    return f"{external_id}: {' · '.join(parts)}" if parts else external_id


def _item_text(reference: str, description: str, counterparty: str) -> str:
    return " · ".join(p for p in (counterparty, reference, description) if p)


def run_report(*, run: Run, now: dt.datetime | None = None) -> dict[str, Any]:
    """The bank reconciliation statement of `run` as of its period end, as JSON."""
    statement = run_latest_statement(run=run)
    period_end, period_end_source = run_period_end(run=run)
    period_from, _ = run_period(run=run)
    currency = report_currency(run, statement)
    warnings: list[dict[str, str]] = []

    # Book balance: opening balance + GL entries dated opening date..T.
    account = run.account if run.account_id else None
    opening = account.opening_balance if account is not None else ZERO
    opening_date = account.opening_balance_date if account is not None else None
    scope = book_entries(run, currency=currency)
    in_book = scope.filter(booking_date__lte=period_end)
    if opening_date is not None:
        in_book = in_book.filter(booking_date__gte=opening_date)
    book = in_book.aggregate(total=Sum("amount", default=Decimal("0")), n=Count("pk"))
    entry_count = book["n"]
    book_balance = opening + book["total"]

    # GL entries of the book that no accepted match clears by T.
    candidates = (
        in_book.annotate(cleared_on=_cleared_on())
        .filter(Q(cleared_on__isnull=True) | Q(cleared_on__gt=period_end))
        .order_by("booking_date", "pk")
    )
    gl_entries = [
        GlEntry(
            id=str(g.pk),
            booking_date=g.booking_date,
            amount=g.amount,
            text=_gl_text(g.external_id, g.reference, g.description, g.counterparty),
            cleared_on=g.cleared_on,
            extra={
                "external_id": g.external_id,
                "reference": g.reference,
                "counterparty": g.counterparty,
                "description": g.description,
                "cleared_on": g.cleared_on.isoformat() if g.cleared_on else None,
            },
        )
        for g in candidates
    ]

    # The run's bank items that no accepted match explains: bank-only and closed.
    items = SourceEntry.objects.filter(run=run, currency=currency).filter(
        match_status__in=[SourceEntryMatchStatus.UNMATCHED, SourceEntryMatchStatus.CLOSED]
    )
    bank_items = [
        BankItem(
            id=str(e.pk),
            booking_date=e.booking_date,
            amount=e.amount,
            text=_item_text(e.reference, e.description, e.counterparty_name),
            status=e.match_status,
            extra={
                "line": e.line,
                "reference": e.reference,
                "bank_reference": e.bank_reference,
                "counterparty": e.counterparty_name,
                "description": e.description,
                **(
                    {
                        "close_reason": e.close_reason,
                        "close_note": e.close_note,
                        "closed_by": e.closed_by.get_username() if e.closed_by else None,
                        "closed_at": e.closed_at.isoformat() if e.closed_at else None,
                    }
                    if e.match_status == SourceEntryMatchStatus.CLOSED
                    else {}
                ),
            },
        )
        for e in items.select_related("closed_by").order_by("booking_date", "line", "pk")
    ]
    other_currencies = (
        SourceEntry.objects.filter(run=run).exclude(currency=currency).values("currency").distinct()
    )
    for row in other_currencies.order_by("currency"):
        warnings.append(
            {
                "code": "other_currency_items",
                "detail": f"Items in {row['currency']} are not in this {currency} report.",
            }
        )

    matches = _match_lines(run, currency=currency, period_end=period_end, book_from=opening_date)

    if statement is None:
        warnings.append(
            {
                "code": "no_statement",
                "detail": "The run has no statement yet: there is no bank balance to reconcile.",
            }
        )
        bank_closing = None
    else:
        bank_closing = statement.closing_balance
        if bank_closing is None:
            warnings.append(
                {
                    "code": "no_closing_balance",
                    "detail": "The latest statement carries no closing balance (a CSV export?): "
                    "the report cannot balance.",
                }
            )
    rec = reconcile(
        period_end=period_end,
        book_from=opening_date,
        bank_closing=bank_closing,
        book_balance=book_balance,
        bank_items=bank_items,
        matches=matches,
        gl_entries=gl_entries,
    )
    return {
        "run_id": str(run.pk),
        "label": run_label_of(run),
        "ledger": {"id": str(run.ledger_id), "name": run.ledger.name},
        "account": (
            {
                "id": str(account.pk),
                "name": account.name,
                "code": account.code,
                "iban": account.iban,
            }
            if account is not None
            else None
        ),
        "currency": currency,
        "period_from": period_from.isoformat() if period_from else None,
        "period_end": period_end.isoformat(),
        "period_end_source": period_end_source,
        "statement": _statement_json(statement, currency) if statement is not None else None,
        "book": {
            "opening_balance": money(opening, currency),
            "opening_balance_date": opening_date.isoformat() if opening_date else None,
            "entries_total": money(book["total"], currency),
            "entry_count": entry_count,
            "balance": money(book_balance, currency),
        },
        **reconciliation_json(rec, currency=currency),
        "warnings": warnings,
        "run_status": run.status,
        "closed_by": run.closed_by.get_username() if run.closed_by_id and run.closed_by else None,
        "closed_at": run.closed_at.isoformat() if run.closed_at else None,
        "approved_by": (
            run.approved_by.get_username() if run.approved_by_id and run.approved_by else None
        ),
        "approved_at": run.approved_at.isoformat() if run.approved_at else None,
        "generated_at": (now or timezone.now()).isoformat(),
    }


def _statement_json(statement: Any, currency: str) -> dict[str, Any]:
    return {
        "id": str(statement.pk),
        "statement_id": statement.statement_id,
        "source_file_id": str(statement.source_file_id),
        "filename": statement.source_file.filename,
        "account": statement.account_key,
        "period_from": statement.period_from.isoformat() if statement.period_from else None,
        "period_to": statement.period_to.isoformat() if statement.period_to else None,
        "opening_balance": money(statement.opening_balance, currency),
        "closing_balance": money(statement.closing_balance, currency),
        "closing_date": statement.closing_date.isoformat() if statement.closing_date else None,
    }


def _match_lines(
    run: Run, *, currency: str, period_end: dt.date, book_from: dt.date | None
) -> list[MatchLine]:
    """Accepted matches of the run with a difference, or with GL entries outside the book
    balance (dated after T or before the opening date, or not on the run's account)."""
    accepted = Match.objects.filter(run=run, status=MatchStatus.ACCEPTED, currency=currency)
    not_in_book = ~Q(ledger_entry__currency=currency) | Q(ledger_entry__booking_date__gt=period_end)
    if book_from is not None:
        not_in_book |= Q(ledger_entry__booking_date__lt=book_from)
    if run.account_id:
        # A GL entry on no account may be matched to an account's item (the manual match
        # allows it), but the account's book balance does not hold it.
        not_in_book |= Q(ledger_entry__account_id__isnull=True) | ~Q(
            ledger_entry__account_id=run.account_id
        )
    outside_links = MatchLedgerLink.objects.filter(match__in=accepted, is_active=True).filter(
        not_in_book
    )
    outside = dict(
        outside_links.order_by()
        .values_list("match_id")
        .annotate(total=Sum("ledger_entry__amount"))
        .values_list("match_id", "total")
    )
    wanted = accepted.filter(~Q(difference=0) | Q(pk__in=list(outside))).prefetch_related(
        "source_links__source_entry", "ledger_links__ledger_entry"
    )
    lines = []
    for m in wanted.order_by("pk"):
        sources = sorted(
            (link.source_entry for link in m.source_links.all()),
            key=lambda e: (e.booking_date, e.pk),
        )
        ledgers = sorted(
            (link.ledger_entry for link in m.ledger_links.all()),
            key=lambda e: (e.booking_date, e.external_id),
        )
        bank_text = _item_text(
            sources[0].reference, sources[0].description, sources[0].counterparty_name
        )
        gl_text = ", ".join(g.external_id for g in ledgers)
        lines.append(
            MatchLine(
                id=str(m.pk),
                bank_date=sources[0].booking_date if sources else None,
                difference=m.difference,
                outside_book=outside.get(m.pk, ZERO),
                text=f"bank: {bank_text or '-'} / GL: {gl_text or '-'}",
                extra={
                    "kind": m.kind,
                    "source_entry_ids": [str(e.pk) for e in sources],
                    "ledger_entry_ids": [str(g.pk) for g in ledgers],
                    "ledger_external_ids": [g.external_id for g in ledgers],
                    "source_total": money(m.source_total, currency),
                    "ledger_total": money(m.ledger_total, currency),
                    "difference": money(m.difference, currency),
                    "ledger_dates": [g.booking_date.isoformat() for g in ledgers],
                },
            )
        )
    return lines


def run_report_get(*, run: Run) -> dict[str, Any]:
    """What GET .../report serves: the frozen report of an approved run (with its sha256),
    else the live report computed now (`frozen: false`, `sha256: null`)."""
    from reconciliation.models import RunReport

    if run.approved_at is not None:
        frozen = RunReport.objects.filter(run=run).first()
        if frozen is not None:
            return {**frozen.body, "frozen": True, "sha256": frozen.sha256}
    return {**run_report(run=run), "frozen": False, "sha256": None}
