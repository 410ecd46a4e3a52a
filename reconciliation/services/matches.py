"""Human decisions on matches: manual match, accept, reject, notes.

Lock order everywhere: run -> match -> entries. Decisions on a closed run are refused.
Every change writes an audit event in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal

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
        created_by=actor_or_none(actor),
        decided_by=actor_or_none(actor),
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
        actor_or_none(actor),
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
        actor_or_none(actor),
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
    discrepancies_refresh(
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
