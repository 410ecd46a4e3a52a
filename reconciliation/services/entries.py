"""Derived statuses of entries: GL `reconciliation_status` and item `match_status`.

Each status is one CASE over EXISTS subqueries on the live accepted links, written by
one set-based UPDATE over the ids (`reconciliation.bulk.update_by_ids`): auto-match
refreshes up to a million entries at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db.models import Case, Exists, OuterRef, Q, Value, When

from ledgers.choices import ReconciliationStatus
from ledgers.models import LedgerEntry
from reconciliation.bulk import update_by_ids
from reconciliation.choices import MatchStatus
from reconciliation.models import MatchLedgerLink


def ledger_entries_refresh_status(*, ledger_entry_ids: Iterable[uuid.UUID]) -> None:
    """Recompute GL `reconciliation_status` from accepted matches (API.md).

    reconciled = in an accepted match without difference; partial = in an accepted match
    with a residual difference; unreconciled otherwise.
    """
    accepted = MatchLedgerLink.objects.filter(
        ledger_entry_id=OuterRef("pk"), is_active=True, match__status=MatchStatus.ACCEPTED
    )
    status = Case(
        When(
            Exists(accepted.filter(match__difference=0)),
            then=Value(ReconciliationStatus.RECONCILED),
        ),
        When(Exists(accepted), then=Value(ReconciliationStatus.PARTIAL)),
        default=Value(ReconciliationStatus.UNRECONCILED),
    )
    update_by_ids(LedgerEntry.objects.all(), ledger_entry_ids, reconciliation_status=status)


def source_entries_refresh_status(*, source_entry_ids: Iterable[uuid.UUID]) -> None:
    """Recompute item `match_status` (API.md): matched / partial from accepted matches,
    closed when a person closed it, unmatched otherwise (a suggestion changes nothing)."""
    from reconciliation.choices import SourceEntryMatchStatus
    from reconciliation.models import MatchSourceLink, SourceEntry

    accepted = MatchSourceLink.objects.filter(
        source_entry_id=OuterRef("pk"), is_active=True, match__status=MatchStatus.ACCEPTED
    )
    status = Case(
        When(
            Exists(accepted.filter(match__difference=0)),
            then=Value(SourceEntryMatchStatus.MATCHED),
        ),
        When(Exists(accepted), then=Value(SourceEntryMatchStatus.PARTIAL)),
        When(~Q(close_reason=""), then=Value(SourceEntryMatchStatus.CLOSED)),
        default=Value(SourceEntryMatchStatus.UNMATCHED),
    )
    update_by_ids(SourceEntry.objects.all(), source_entry_ids, match_status=status)


def entries_mark_auto_accepted(
    *, source_entry_ids: Iterable[uuid.UUID | str], ledger_entry_ids: Iterable[uuid.UUID | str]
) -> None:
    """Statuses of the entries an auto-match pass just linked by auto-accepted matches:
    items `matched`, GL entries `reconciled`.

    That is exactly what the two refresh functions would compute for them, so it is
    written without being recomputed (at a million entries the two EXISTS probes per row
    cost as much as the update itself): auto-accept requires a difference of exactly
    zero, and the pass only reads free entries (an unmatched item with no live link, a
    GL entry with no live link; an item a person closed is `closed`, never free); the run
    is locked and the partial unique indexes keep every other match off them until the
    pass commits.
    """
    from reconciliation.choices import SourceEntryMatchStatus
    from reconciliation.models import SourceEntry

    update_by_ids(
        SourceEntry.objects.all(),
        source_entry_ids,
        match_status=Value(SourceEntryMatchStatus.MATCHED),
    )
    update_by_ids(
        LedgerEntry.objects.all(),
        ledger_entry_ids,
        reconciliation_status=Value(ReconciliationStatus.RECONCILED),
    )
