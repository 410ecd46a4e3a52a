"""Derived statuses of entries: GL `reconciliation_status` and item `match_status`.

Each status is one CASE over correlated EXISTS subqueries, written by one UPDATE per chunk
of ids. The subqueries are probed per row through the partial unique index on the link
table (`... WHERE is_active`), so the plan does not depend on table statistics: right
after auto-match bulk-loads a million links, the planner still believes the link table is
empty, and a semi-join planned on that belief degrades to repeated sequential scans.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db.models import Case, Exists, OuterRef, Q, Value, When

from ledgers.choices import ReconciliationStatus
from ledgers.models import LedgerEntry
from reconciliation.choices import MatchStatus
from reconciliation.models import MatchLedgerLink

CHUNK = 10_000


def ledger_entries_refresh_status(*, ledger_entry_ids: Iterable[uuid.UUID]) -> None:
    """Recompute GL `reconciliation_status` from accepted matches (API.md).

    reconciled = in an accepted match without difference; partial = in an accepted match
    with a residual difference; unreconciled otherwise.
    """
    ids = sorted(set(ledger_entry_ids))
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
    for start in range(0, len(ids), CHUNK):
        LedgerEntry.objects.filter(pk__in=ids[start : start + CHUNK]).update(
            reconciliation_status=status
        )


def source_entries_refresh_status(*, source_entry_ids: Iterable[uuid.UUID]) -> None:
    """Recompute item `match_status` (API.md): matched / partial from accepted matches,
    closed when a person closed it, unmatched otherwise (a suggestion changes nothing)."""
    from reconciliation.choices import SourceEntryMatchStatus
    from reconciliation.models import MatchSourceLink, SourceEntry

    ids = sorted(set(source_entry_ids))
    accepted = MatchSourceLink.objects.filter(
        source_entry_id=OuterRef("pk"), is_active=True, match__status=MatchStatus.ACCEPTED
    )
    status = Case(
        When(
            Exists(accepted.filter(match__difference=0)), then=Value(SourceEntryMatchStatus.MATCHED)
        ),
        When(Exists(accepted), then=Value(SourceEntryMatchStatus.PARTIAL)),
        When(~Q(close_reason=""), then=Value(SourceEntryMatchStatus.CLOSED)),
        default=Value(SourceEntryMatchStatus.UNMATCHED),
    )
    for start in range(0, len(ids), CHUNK):
        SourceEntry.objects.filter(pk__in=ids[start : start + CHUNK]).update(match_status=status)
