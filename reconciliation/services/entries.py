"""Derived statuses of entries: GL `reconciliation_status` and item `match_status`.

Each status is one CASE over EXISTS subqueries on the live accepted links, written by
UPDATE. On PostgreSQL the ids go into a temporary table (COPY) and one UPDATE joins it:
auto-match refreshes up to a million entries at once, and a long `id IN (...)` list is
both a huge statement and, when a concurrent bulk import has just grown the table past
its statistics, a sequential scan testing every row against every listed id.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.db import connection, transaction
from django.db.models import Case, Exists, OuterRef, Q, QuerySet, Value, When
from django.db.models.expressions import RawSQL

from ledgers.choices import ReconciliationStatus
from ledgers.models import LedgerEntry
from reconciliation.choices import MatchStatus
from reconciliation.models import MatchLedgerLink

CHUNK = 10_000
_IDS_TABLE = "reconciliation_refresh_ids_tmp"
_IN_IDS = f"SELECT id FROM {_IDS_TABLE}"  # noqa: S608 -- a constant query


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
    _update(LedgerEntry.objects.all(), set(ledger_entry_ids), reconciliation_status=status)


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
    _update(SourceEntry.objects.all(), set(source_entry_ids), match_status=status)


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

    _update(
        SourceEntry.objects.all(),
        set(source_entry_ids),
        match_status=Value(SourceEntryMatchStatus.MATCHED),
    )
    _update(
        LedgerEntry.objects.all(),
        set(ledger_entry_ids),
        reconciliation_status=Value(ReconciliationStatus.RECONCILED),
    )


def _update(rows: QuerySet[Any], ids: set[Any], **values: Any) -> None:
    if not ids:
        return
    if connection.vendor != "postgresql" or len(ids) <= CHUNK:
        ordered = sorted(ids)
        for start in range(0, len(ordered), CHUNK):
            rows.filter(pk__in=ordered[start : start + CHUNK]).update(**values)
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_IDS_TABLE} (id uuid NOT NULL) ON COMMIT DROP"
        )
        cursor.execute(f"TRUNCATE {_IDS_TABLE}")
        with cursor.cursor.copy(f"COPY {_IDS_TABLE} (id) FROM STDIN") as copy:
            copy.write("".join(f"{i}\n" for i in ids))
        cursor.execute(f"ANALYZE {_IDS_TABLE}")
        rows.filter(pk__in=RawSQL(_IN_IDS, ())).update(**values)  # noqa: S611 -- constant
        cursor.execute(f"TRUNCATE {_IDS_TABLE}")
