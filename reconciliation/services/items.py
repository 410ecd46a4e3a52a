"""Items (statement entries) resolved by a person without a match: close and reopen.

Lock order as everywhere: run -> entry. Closing closes the item's open discrepancies;
reopening reopens the ones its closing closed. Both refused on a closed run.
"""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ledgers.exceptions import Invalid
from reconciliation.choices import CloseReason, DiscrepancyStatus, SourceEntryMatchStatus
from reconciliation.exceptions import InvalidTransition
from reconciliation.models import Discrepancy, MatchSourceLink, SourceEntry
from reconciliation.services.discrepancies import discrepancies_refresh
from reconciliation.services.runs import actor_or_none, run_audit, run_lock, run_validate_open


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
    entry.closed_by, entry.closed_at = actor_or_none(actor), timezone.now()
    entry.save(
        update_fields=["match_status", "close_reason", "close_note", "closed_by", "closed_at"]
    )
    now = timezone.now()
    Discrepancy.objects.filter(
        source_entry=entry, status__in=[DiscrepancyStatus.OPEN, DiscrepancyStatus.IN_REVIEW]
    ).update(
        status=DiscrepancyStatus.CLOSED,
        close_reason=reason,
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
        status=DiscrepancyStatus.OPEN,
        close_reason="",
        resolved_at=None,
        updated_at=timezone.now(),
        note="",
    )
    discrepancies_refresh(run, source_entry_ids=[entry.pk])
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
