"""Derived statuses of entries: GL `reconciliation_status` and item `match_status`."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db.models import Exists, OuterRef

from ledgers.choices import ReconciliationStatus
from ledgers.models import LedgerEntry
from reconciliation.choices import MatchStatus
from reconciliation.models import MatchLedgerLink


def ledger_entries_refresh_status(*, ledger_entry_ids: Iterable[uuid.UUID]) -> None:
    """Recompute GL `reconciliation_status` from accepted matches (API.md).

    reconciled = in an accepted match without difference; partial = in an accepted match
    with a residual difference; unreconciled otherwise.
    """
    ids = list(set(ledger_entry_ids))
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        accepted = MatchLedgerLink.objects.filter(
            ledger_entry_id=OuterRef("pk"), is_active=True, match__status=MatchStatus.ACCEPTED
        )
        exact = accepted.filter(match__difference=0)
        LedgerEntry.objects.filter(pk__in=chunk).exclude(Exists(accepted)).update(
            reconciliation_status=ReconciliationStatus.UNRECONCILED
        )
        LedgerEntry.objects.filter(pk__in=chunk).filter(Exists(exact)).update(
            reconciliation_status=ReconciliationStatus.RECONCILED
        )
        LedgerEntry.objects.filter(pk__in=chunk).filter(Exists(accepted)).exclude(
            Exists(exact)
        ).update(reconciliation_status=ReconciliationStatus.PARTIAL)
