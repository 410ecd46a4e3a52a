"""Human decisions on matches and items: manual match, accept, reject, notes, close/reopen.

Lock order everywhere: run -> match -> entries. Decisions on a closed run are refused.
Every change writes an audit event in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from ledgers.exceptions import Conflict, Invalid
from ledgers.models import LedgerEntry
from reconciliation.choices import (
    CloseReason,
    DiscrepancyStatus,
    MatchKind,
    MatchShape,
    MatchStatus,
    SourceEntryMatchStatus,
)
from reconciliation.exceptions import InvalidTransition
from reconciliation.models import (
    Discrepancy,
    Match,
    MatchLedgerLink,
    MatchSourceLink,
    Run,
    SourceEntry,
)
from reconciliation.services.entries import (
    ledger_entries_refresh_status,
    source_entries_refresh_status,
)
from reconciliation.services.runs import run_audit, run_lock, run_validate_open


def _user(actor: AbstractBaseUser | None) -> AbstractBaseUser | None:
    return actor if actor is not None and actor.is_authenticated else None


def _shape(n_source: int, n_ledger: int) -> str:
    if n_source == 1 and n_ledger == 1:
        return MatchShape.ONE_TO_ONE
    if n_source == 1:
        return MatchShape.ONE_TO_MANY
    if n_ledger == 1:
        return MatchShape.MANY_TO_ONE
    return MatchShape.MANY_TO_MANY


def _refresh_discrepancies(
    run: Run,
    *,
    source_entry_ids: Iterable[uuid.UUID] = (),
    ledger_entry_ids: Iterable[uuid.UUID] = (),
    match_ids: Iterable[uuid.UUID] = (),
) -> None:
    """Recompute the discrepancies of what a decision touched (not the whole run: a click
    in a million-entry run must not rescan it)."""
    from reconciliation.services.discrepancies import Touched, discrepancies_recompute

    touched = Touched(
        source_entry_ids=frozenset(source_entry_ids),
        ledger_entry_ids=frozenset(ledger_entry_ids),
        match_ids=frozenset(match_ids),
    )
    discrepancies_recompute(run=run, touched=touched)


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
    if run.account_id and any(g.account_id not in (None, run.account_id) for g in ledgers):
        raise Invalid("Every GL entry must belong to the run's account.", attr="ledger_entry_ids")
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
    source_total = sum((s.amount for s in sources), Decimal("0"))
    ledger_total = sum((g.amount for g in ledgers), Decimal("0"))
    now = timezone.now()
    match = Match.objects.create(
        run=run,
        status=MatchStatus.ACCEPTED,
        kind=MatchKind.MANUAL,
        shape=_shape(len(sources), len(ledgers)),
        score=100 if source_total == ledger_total else 0,
        currency=sources[0].currency,
        source_total=source_total,
        ledger_total=ledger_total,
        difference=source_total - ledger_total,
        note=note,
        created_by=_user(actor),
        decided_by=_user(actor),
        decided_at=now,
        explanation=[
            {"criterion": "manual", "points": 0, "max_points": 0, "detail": "matched by a person"}
        ],
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
    _refresh_discrepancies(
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
    match.status, match.decided_by, match.decided_at = (
        MatchStatus.ACCEPTED,
        _user(actor),
        timezone.now(),
    )
    fields = ["status", "decided_by", "decided_at"]
    if note:
        match.note = note
        fields.append("note")
    match.save(update_fields=fields)
    _after_decision(run=run, match=match)
    run_audit(
        run=run,
        actor=actor,
        action="match.accepted",
        subject_type="match",
        subject_id=match.pk,
        before={"status": MatchStatus.SUGGESTED},
        after={"status": match.status},
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
    match.status, match.decided_by, match.decided_at = (
        MatchStatus.REJECTED,
        _user(actor),
        timezone.now(),
    )
    fields = ["status", "decided_by", "decided_at"]
    if note:
        match.note = note
        fields.append("note")
    match.save(update_fields=fields)
    MatchSourceLink.objects.filter(match=match).update(is_active=False)
    MatchLedgerLink.objects.filter(match=match).update(is_active=False)
    _after_decision(run=run, match=match)
    run_audit(
        run=run,
        actor=actor,
        action="match.rejected",
        subject_type="match",
        subject_id=match.pk,
        before={"status": before},
        after={"status": match.status},
        note=note,
    )
    return match


def _after_decision(*, run: Run, match: Match) -> None:
    source_ids = list(match.source_links.values_list("source_entry_id", flat=True))
    ledger_ids = list(match.ledger_links.values_list("ledger_entry_id", flat=True))
    source_entries_refresh_status(source_entry_ids=source_ids)
    ledger_entries_refresh_status(ledger_entry_ids=ledger_ids)
    _refresh_discrepancies(
        run, source_entry_ids=source_ids, ledger_entry_ids=ledger_ids, match_ids=[match.pk]
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
        )
    return match


def source_entry_validate_ledger(*, entry: SourceEntry, ledger_id: uuid.UUID) -> None:
    if entry.ledger_id != ledger_id:
        raise Invalid(
            "ledger_id is not this item's ledger.", code="ledger_mismatch", attr="ledger_id"
        )


@transaction.atomic
def source_entry_close(
    *,
    entry: SourceEntry,
    ledger_id: uuid.UUID,
    reason: str,
    note: str = "",
    actor: AbstractBaseUser | None,
) -> SourceEntry:
    """unmatched -> closed with a reason; closes the item's open discrepancies.

    A matched/partial item (or one in a pending suggestion) -> 409; closing a closed item
    again only updates nothing (no-op).
    """
    source_entry_validate_ledger(entry=entry, ledger_id=ledger_id)
    if reason not in CloseReason.values:
        raise Invalid(f"Unknown reason {reason!r}.", attr="reason")
    run = run_lock(run_id=entry.run_id)
    run_validate_open(run=run)
    entry = SourceEntry.objects.select_for_update().get(pk=entry.pk)
    if entry.match_status == SourceEntryMatchStatus.CLOSED:
        return entry
    live = MatchSourceLink.objects.filter(source_entry=entry, is_active=True).first()
    if entry.match_status != SourceEntryMatchStatus.UNMATCHED or live is not None:
        raise InvalidTransition(
            "The item is in a match; reject the match before closing the item.",
            current_status=entry.match_status,
            match_id=str(live.match_id) if live else None,
        )
    entry.match_status = SourceEntryMatchStatus.CLOSED
    entry.close_reason, entry.close_note = reason, note
    entry.closed_by, entry.closed_at = _user(actor), timezone.now()
    entry.save(
        update_fields=["match_status", "close_reason", "close_note", "closed_by", "closed_at"]
    )
    now = timezone.now()
    Discrepancy.objects.filter(
        source_entry=entry, status__in=[DiscrepancyStatus.OPEN, DiscrepancyStatus.IN_REVIEW]
    ).update(
        status=DiscrepancyStatus.CLOSED,
        resolved_at=now,
        updated_at=now,
        note=f"closed with item: {reason}",
    )
    run_audit(
        run=run,
        actor=actor,
        action="item.closed",
        subject_type="source_entry",
        subject_id=entry.pk,
        before={"match_status": SourceEntryMatchStatus.UNMATCHED},
        after={"match_status": entry.match_status, "reason": reason},
        note=note,
    )
    return entry


@transaction.atomic
def source_entry_reopen(
    *, entry: SourceEntry, actor: AbstractBaseUser | None, note: str = ""
) -> SourceEntry:
    """closed -> unmatched; the discrepancies its closing closed are reopened."""
    run = run_lock(run_id=entry.run_id)
    run_validate_open(run=run)
    entry = SourceEntry.objects.select_for_update().get(pk=entry.pk)
    if entry.match_status != SourceEntryMatchStatus.CLOSED:
        raise InvalidTransition(
            "Only a closed item can be reopened.", current_status=entry.match_status
        )
    reason = entry.close_reason
    entry.match_status = SourceEntryMatchStatus.UNMATCHED
    entry.close_reason, entry.close_note, entry.closed_by, entry.closed_at = "", "", None, None
    entry.save(
        update_fields=["match_status", "close_reason", "close_note", "closed_by", "closed_at"]
    )
    Discrepancy.objects.filter(
        source_entry=entry, status=DiscrepancyStatus.CLOSED, is_current=True
    ).filter(Q(note__startswith="closed with item")).update(
        status=DiscrepancyStatus.OPEN, resolved_at=None, updated_at=timezone.now(), note=""
    )
    _refresh_discrepancies(run, source_entry_ids=[entry.pk])
    run_audit(
        run=run,
        actor=actor,
        action="item.reopened",
        subject_type="source_entry",
        subject_id=entry.pk,
        before={"match_status": "closed", "reason": reason},
        after={"match_status": entry.match_status},
        note=note,
    )
    return entry


@transaction.atomic
def discrepancy_update(
    *,
    discrepancy: Discrepancy,
    status: str | None,
    note: str | None,
    actor: AbstractBaseUser | None,
) -> Discrepancy:
    if status is not None and status not in DiscrepancyStatus.values:
        raise Invalid(f"Unknown status {status!r}.", attr="status")
    run = run_lock(run_id=discrepancy.run_id)
    run_validate_open(run=run)
    discrepancy = Discrepancy.objects.select_for_update().get(pk=discrepancy.pk)
    before = {"status": discrepancy.status, "note": discrepancy.note}
    if status is not None and status != discrepancy.status:
        discrepancy.status = status
        discrepancy.resolved_at = timezone.now() if status == DiscrepancyStatus.CLOSED else None
    if note is not None:
        discrepancy.note = note
    after = {"status": discrepancy.status, "note": discrepancy.note}
    if after != before:
        discrepancy.save(update_fields=["status", "resolved_at", "note", "updated_at"])
        run_audit(
            run=run,
            actor=actor,
            action="discrepancy.updated",
            subject_type="discrepancy",
            subject_id=discrepancy.pk,
            before=before,
            after=after,
        )
    return discrepancy
