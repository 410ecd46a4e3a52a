"""Human decisions on matches: manual match, accept, reject, notes, and their undo.

Lock order everywhere: run -> match -> entries. Decisions on a closed or approved run are
refused. Every change writes an audit event in the same transaction.

Undo (#14):
- `match_reopen`: rejected -> suggested. The pair is no longer rejected, so it leaves the
  "never suggest again" set by itself (that set is read from rejected matches).
- `match_unmatch`: accepted -> its entries unmatched again. An **auto** match goes back to
  `suggested` (undoing an accept puts it back in the review queue exactly as it was); a
  **manual** match becomes `rejected` (a person's pairing that is undone has nothing left
  to suggest; `match_reopen` can still bring it back).

Manual matches (#16): entries of one currency only (409 `currency_mismatch`, nothing
written); score 100 by definition (a person's decision, `kind: manual`), and an
explanation whose first criterion is `manual` (who, and the note), followed by the facts
(amount, date, currency and for 1:1 the reference/counterparty/description agreement),
judged by the engine's own scoring functions; the facts' points are the engine's, shown
for comparison, and do not add up to the score.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from ledgers.exceptions import Conflict, Invalid
from ledgers.models import LedgerEntry
from reconciliation.choices import (
    MatchKind,
    MatchShape,
    MatchStatus,
    SourceEntryMatchStatus,
)
from reconciliation.exceptions import InvalidTransition
from reconciliation.models import (
    Match,
    MatchLedgerLink,
    MatchSourceLink,
    Run,
    SourceEntry,
)
from reconciliation.selectors import run_account_ids
from reconciliation.services.discrepancies import discrepancies_refresh
from reconciliation.services.entries import (
    ledger_entries_refresh_status,
    source_entries_refresh_status,
)
from reconciliation.services.runs import actor_or_none, run_audit, run_lock, run_validate_open


def _shape(n_source: int, n_ledger: int) -> str:
    if n_source == 1 and n_ledger == 1:
        return MatchShape.ONE_TO_ONE
    if n_source == 1:
        return MatchShape.ONE_TO_MANY
    if n_ledger == 1:
        return MatchShape.MANY_TO_ONE
    return MatchShape.MANY_TO_MANY


@transaction.atomic
def match_create_manual(
    *,
    run: Run,
    source_entry_ids: Sequence[uuid.UUID],
    ledger_entry_ids: Sequence[uuid.UUID],
    note: str = "",
    actor: AbstractBaseUser | None,
) -> Match:
    """One accepted manual match linking N items of this run with M GL entries of its ledger.

    Entries of another run/ledger -> 400; entries already in a live match -> 409.
    """
    run = run_lock(run_id=run.pk)
    run_validate_open(run=run)
    source_ids = sorted(set(source_entry_ids))
    ledger_ids = sorted(set(ledger_entry_ids))
    if not source_ids:
        raise Invalid("Name at least one statement entry.", attr="source_entry_ids")
    sources = list(SourceEntry.objects.select_for_update().filter(pk__in=source_ids).order_by("pk"))
    ledgers = list(LedgerEntry.objects.select_for_update().filter(pk__in=ledger_ids).order_by("pk"))
    if len(sources) != len(source_ids) or any(s.run_id != run.pk for s in sources):
        raise Invalid("Every statement entry must belong to this run.", attr="source_entry_ids")
    if len(ledgers) != len(ledger_ids) or any(g.ledger_id != run.ledger_id for g in ledgers):
        raise Invalid("Every GL entry must belong to the run's ledger.", attr="ledger_entry_ids")
    if run.account_id and any(g.account_id is not None for g in ledgers):
        covered = set(run_account_ids(run=run))
        if any(g.account_id not in (None, *covered) for g in ledgers):
            raise Invalid(
                "Every GL entry must belong to the run's account (or to an account its "
                "statements were imported into).",
                attr="ledger_entry_ids",
            )
    closed = [str(s.pk) for s in sources if s.match_status == SourceEntryMatchStatus.CLOSED]
    if closed:
        raise Conflict(
            "Closed items cannot be matched; reopen them first.",
            code="item_closed",
            source_entry_ids=closed,
        )
    linked_s = list(
        MatchSourceLink.objects.filter(source_entry_id__in=source_ids, is_active=True).values_list(
            "source_entry_id", "match_id"
        )
    )
    linked_l = list(
        MatchLedgerLink.objects.filter(ledger_entry_id__in=ledger_ids, is_active=True).values_list(
            "ledger_entry_id", "match_id"
        )
    )
    if linked_s or linked_l:
        raise Conflict(
            "Some entries are already in a suggested or accepted match; reject it first.",
            code="already_matched",
            source_entry_ids=[str(i) for i, _ in linked_s],
            ledger_entry_ids=[str(i) for i, _ in linked_l],
            match_ids=sorted({str(m) for _, m in linked_s + linked_l}),
        )
    currencies = sorted({s.currency for s in sources} | {g.currency for g in ledgers})
    if len(currencies) > 1:
        raise Conflict(
            f"A match links entries of one currency; these are in {', '.join(currencies)}.",
            code="currency_mismatch",
            currencies=currencies,
        )
    source_total = sum((s.amount for s in sources), Decimal("0"))
    ledger_total = sum((g.amount for g in ledgers), Decimal("0"))
    now = timezone.now()
    match = Match.objects.create(
        run=run,
        status=MatchStatus.ACCEPTED,
        kind=MatchKind.MANUAL,
        shape=_shape(len(sources), len(ledgers)),
        score=MANUAL_SCORE,
        currency=sources[0].currency,
        source_total=source_total,
        ledger_total=ledger_total,
        difference=source_total - ledger_total,
        note=note,
        created_by=actor_or_none(actor),
        decided_by=actor_or_none(actor),
        decided_at=now,
        explanation=manual_explanation(
            run=run, sources=sources, ledgers=ledgers, actor=actor, note=note
        ),
    )
    try:
        with transaction.atomic():
            MatchSourceLink.objects.bulk_create(
                [MatchSourceLink(match=match, source_entry=s) for s in sources]
            )
            MatchLedgerLink.objects.bulk_create(
                [MatchLedgerLink(match=match, ledger_entry=g) for g in ledgers]
            )
    except IntegrityError:
        raise Conflict(
            "Some entries were matched by someone else just now.", code="already_matched"
        ) from None
    source_entries_refresh_status(source_entry_ids=source_ids)
    ledger_entries_refresh_status(ledger_entry_ids=ledger_ids)
    discrepancies_refresh(
        run, source_entry_ids=source_ids, ledger_entry_ids=ledger_ids, match_ids=[match.pk]
    )
    run_audit(
        run=run,
        actor=actor,
        action="match.created_manual",
        subject_type="match",
        subject_id=match.pk,
        note=note,
        after={
            "status": match.status,
            "source_entry_ids": [str(i) for i in source_ids],
            "ledger_entry_ids": [str(i) for i in ledger_ids],
            "difference": str(match.difference),
        },
    )
    return match


MANUAL_SCORE = 100


def manual_explanation(
    *,
    run: Run,
    sources: Sequence[SourceEntry],
    ledgers: Sequence[LedgerEntry],
    actor: AbstractBaseUser | None,
    note: str,
) -> list[dict[str, object]]:
    """The `manual` criterion (who, and why), then the facts as the engine judges them.

    Amount and date use the engine's scoring functions on the totals and on the closest
    bank/GL dates; a 1:1 pair also gets the engine's reference, counterparty and
    description criteria (`evidence`), so the review screen's ✓/≠ read the same here as
    for a suggestion.
    """
    from reconciliation.matching import scoring
    from reconciliation.services.auto_match import (
        ledger_entry_as_row,
        run_match_settings,
        source_entry_as_row,
    )

    settings = run_match_settings(run)
    who = actor.get_username() if actor is not None and actor.is_authenticated else "the system"
    currency = sources[0].currency
    source_total = sum((s.amount for s in sources), Decimal("0"))
    ledger_total = sum((g.amount for g in ledgers), Decimal("0"))
    difference = source_total - ledger_total
    tolerance = scoring.tolerance_micro(source_total, currency, settings)
    gap = scoring.to_micro(source_total) - scoring.to_micro(ledger_total)
    if abs(gap) <= tolerance:
        amount = scoring.amount_criterion(
            scoring.amount_points(gap, tolerance), difference, tolerance, currency
        )
    else:
        amount = scoring.criterion(
            "amount",
            0,
            scoring.AMOUNT_EXACT,
            f"difference {'+' if difference > 0 else ''}"
            f"{scoring.money_text(difference, currency)} {currency}, beyond the tolerance "
            f"{scoring.money_text(Decimal(tolerance).scaleb(-6), currency)}",
        )
    source_rows = [source_entry_as_row(s) for s in sources]
    ledger_rows = [ledger_entry_as_row(g) for g in ledgers]
    days, via_value = min(
        (scoring.date_distance(a, b) for a in source_rows for b in ledger_rows),
        key=lambda found: found[0],
    )
    date = scoring.date_criterion(
        scoring.date_points(days, settings.date_window_days)
        if days <= settings.date_window_days
        else 0,
        days,
        via_value_date=via_value,
        what="" if days <= settings.date_window_days else "outside the window",
    )
    facts = [amount, date]
    if len(sources) == 1 and len(ledgers) == 1:
        ev = scoring.evidence(
            scoring.row_features(source_rows[0]), scoring.row_features(ledger_rows[0])
        )
        facts += [
            scoring.reference_criterion(ev.reference, ev.reference_key),
            scoring.counterparty_criterion(ev.counterparty_raw, ev.counterparty_note, ev.reference),
            scoring.description_criterion(ev.description, ev.description_ratio),
        ]
    detail = f"matched by {who}" + (f": {note}" if note else "")
    return [
        {"criterion": "manual", "points": MANUAL_SCORE, "max_points": 100, "detail": detail},
        *(
            {
                "criterion": c.name,
                "points": c.points,
                "max_points": c.max_points,
                "detail": c.detail,
            }
            for c in facts
        ),
        {
            "criterion": "currency",
            "points": 0,
            "max_points": 0,
            "detail": f"same currency {currency}",
        },
    ]


def _lock_match(match: Match) -> tuple[Run, Match]:
    run = run_lock(run_id=match.run_id)
    match = Match.objects.select_for_update().get(pk=match.pk)
    return run, match


@transaction.atomic
def match_accept(*, match: Match, actor: AbstractBaseUser | None, note: str = "") -> Match:
    """suggested -> accepted. Accepting an accepted match is a no-op; rejected -> 409."""
    run, match = _lock_match(match)
    run_validate_open(run=run)
    if match.status == MatchStatus.ACCEPTED:
        return match
    if match.status != MatchStatus.SUGGESTED:
        raise InvalidTransition(
            "A rejected match cannot be accepted.",
            current_status=match.status,
            match_id=str(match.pk),
        )
    _set_status(match, MatchStatus.ACCEPTED, actor=actor, note=note)
    _after_decision(
        run=run,
        match=match,
        actor=actor,
        action="match.accepted",
        before=MatchStatus.SUGGESTED,
        note=note,
    )
    return match


@transaction.atomic
def match_reject(*, match: Match, actor: AbstractBaseUser | None, note: str = "") -> Match:
    """suggested/accepted -> rejected. Its entries become free; the pair is never proposed
    again. Rejecting a rejected match is a no-op."""
    run, match = _lock_match(match)
    run_validate_open(run=run)
    if match.status == MatchStatus.REJECTED:
        return match
    before = match.status
    _set_status(match, MatchStatus.REJECTED, actor=actor, note=note)
    MatchSourceLink.objects.filter(match=match).update(is_active=False)
    MatchLedgerLink.objects.filter(match=match).update(is_active=False)
    _after_decision(
        run=run, match=match, actor=actor, action="match.rejected", before=before, note=note
    )
    return match


def _set_status(
    match: Match, status: MatchStatus, *, actor: AbstractBaseUser | None, note: str
) -> None:
    """Save a decision: who and when for accepted/rejected, neither for suggested (undone)."""
    decided = status != MatchStatus.SUGGESTED
    match.status = status
    match.decided_by = actor_or_none(actor) if decided else None
    match.decided_at = timezone.now() if decided else None
    fields = ["status", "decided_by", "decided_at"]
    if note:
        match.note = note
        fields.append("note")
    match.save(update_fields=fields)


def _after_decision(
    *,
    run: Run,
    match: Match,
    actor: AbstractBaseUser | None,
    action: str,
    before: str,
    note: str,
    audit_extra: dict[str, Any] | None = None,
) -> None:
    """What every decision does next: entry statuses and discrepancies follow the match's
    new status, and the audit trail records the change."""
    source_ids = list(match.source_links.values_list("source_entry_id", flat=True))
    ledger_ids = list(match.ledger_links.values_list("ledger_entry_id", flat=True))
    source_entries_refresh_status(source_entry_ids=source_ids)
    ledger_entries_refresh_status(ledger_entry_ids=ledger_ids)
    discrepancies_refresh(
        run, source_entry_ids=source_ids, ledger_entry_ids=ledger_ids, match_ids=[match.pk]
    )
    run_audit(
        run=run,
        actor=actor,
        action=action,
        subject_type="match",
        subject_id=match.pk,
        before={"status": before},
        after={"status": match.status, **(audit_extra or {})},
        note=note,
    )


@transaction.atomic
def match_update_note(*, match: Match, note: str, actor: AbstractBaseUser | None) -> Match:
    run, match = _lock_match(match)
    run_validate_open(run=run)
    before = match.note
    if before != note:
        match.note = note
        match.save(update_fields=["note"])
        run_audit(
            run=run,
            actor=actor,
            action="match.note_changed",
            subject_type="match",
            subject_id=match.pk,
            before={"note": before},
            after={"note": note},
            counts_change=False,
        )
    return match


@transaction.atomic
def match_reopen(*, match: Match, actor: AbstractBaseUser | None, note: str = "") -> Match:
    """rejected -> suggested (undo a reject). Its entries are linked again.

    409 `entry_in_other_match` when one of its entries is now in another suggested or
    accepted match, 409 `item_closed` when one of its items was closed since (both name
    the entries); 409 `invalid_state` for a match that is not rejected; refused on a
    closed or approved run.
    """
    run, match = _lock_match(match)
    run_validate_open(run=run)
    if match.status != MatchStatus.REJECTED:
        raise InvalidTransition(
            "Only a rejected match can be reopened.",
            current_status=match.status,
            match_id=str(match.pk),
        )
    source_ids = sorted(match.source_links.values_list("source_entry_id", flat=True))
    ledger_ids = sorted(match.ledger_links.values_list("ledger_entry_id", flat=True))
    # Entries in the global lock order, after the run and the match.
    sources = list(SourceEntry.objects.select_for_update().filter(pk__in=source_ids).order_by("pk"))
    list(LedgerEntry.objects.select_for_update().filter(pk__in=ledger_ids).order_by("pk"))
    closed = [str(s.pk) for s in sources if s.match_status == SourceEntryMatchStatus.CLOSED]
    if closed:
        raise Conflict(
            "Some of its items were closed since; reopen them first.",
            code="item_closed",
            source_entry_ids=closed,
        )
    _refuse_if_linked_elsewhere(match=match, source_ids=source_ids, ledger_ids=ledger_ids)
    _set_status(match, MatchStatus.SUGGESTED, actor=actor, note=note)
    try:
        with transaction.atomic():
            MatchSourceLink.objects.filter(match=match).update(is_active=True)
            MatchLedgerLink.objects.filter(match=match).update(is_active=True)
    except IntegrityError:
        raise Conflict(
            "Some of its entries were matched by someone else just now.",
            code="entry_in_other_match",
            match_id=str(match.pk),
        ) from None
    _after_decision(
        run=run,
        match=match,
        actor=actor,
        action="match.reopened",
        before=MatchStatus.REJECTED,
        note=note,
    )
    return match


def _refuse_if_linked_elsewhere(
    *, match: Match, source_ids: Sequence[uuid.UUID], ledger_ids: Sequence[uuid.UUID]
) -> None:
    linked_s = list(
        MatchSourceLink.objects.filter(source_entry_id__in=source_ids, is_active=True)
        .exclude(match=match)
        .values_list("source_entry_id", "match_id")
    )
    linked_l = list(
        MatchLedgerLink.objects.filter(ledger_entry_id__in=ledger_ids, is_active=True)
        .exclude(match=match)
        .values_list("ledger_entry_id", "match_id")
    )
    if linked_s or linked_l:
        raise Conflict(
            "Some of its entries are now in another suggested or accepted match; "
            "reject or unmatch that one first.",
            code="entry_in_other_match",
            source_entry_ids=[str(i) for i, _ in linked_s],
            ledger_entry_ids=[str(i) for i, _ in linked_l],
            match_ids=sorted({str(m) for _, m in linked_s + linked_l}),
        )


@transaction.atomic
def match_unmatch(*, match: Match, actor: AbstractBaseUser | None, note: str = "") -> Match:
    """Undo an accept: its entries become unmatched and discrepancies are recomputed.

    auto: accepted -> suggested (back in the review queue, links kept); manual: accepted
    -> rejected (links released). 409 `invalid_state` for a match that is not accepted;
    refused on a closed or approved run. Item and GL statuses follow (`_after_decision`).
    """
    run, match = _lock_match(match)
    run_validate_open(run=run)
    if match.status != MatchStatus.ACCEPTED:
        raise InvalidTransition(
            "Only an accepted match can be unmatched.",
            current_status=match.status,
            match_id=str(match.pk),
        )
    source_ids = sorted(match.source_links.values_list("source_entry_id", flat=True))
    ledger_ids = sorted(match.ledger_links.values_list("ledger_entry_id", flat=True))
    list(SourceEntry.objects.select_for_update().filter(pk__in=source_ids).order_by("pk"))
    list(LedgerEntry.objects.select_for_update().filter(pk__in=ledger_ids).order_by("pk"))
    # An auto match goes back to the queue; a manual one has no engine to re-propose it.
    status = MatchStatus.SUGGESTED if match.kind == MatchKind.AUTO else MatchStatus.REJECTED
    _set_status(match, status, actor=actor, note=note)
    if match.status == MatchStatus.REJECTED:
        MatchSourceLink.objects.filter(match=match).update(is_active=False)
        MatchLedgerLink.objects.filter(match=match).update(is_active=False)
    _after_decision(
        run=run,
        match=match,
        actor=actor,
        action="match.unmatched",
        before=MatchStatus.ACCEPTED,
        note=note,
        audit_extra={
            "source_entry_ids": [str(i) for i in source_ids],
            "ledger_entry_ids": [str(i) for i in ledger_ids],
        },
    )
    return match
