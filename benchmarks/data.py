"""The benchmark's own tenant, and bulk loaders for the data the timed steps start from.

Everything lives under one organization (`BENCH_ORGANIZATION`) with deterministic names,
one ledger per scenario, so a benchmark never touches anyone else's rows and `cleanup()`
can delete exactly what it made. Deleting a million-row run through the ORM would load
every row to cascade; cleanup deletes table by table in SQL instead, children first.

The loaders for matching and list scenarios write the synthetic truth set
(`benchmarks.synthetic`) straight into SourceEntry / LedgerEntry with the import's own
binary COPY (`reconciliation.bulk`): that is set-up, not the thing measured.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.utils import timezone

from benchmarks.generators import ACCOUNT_IBAN
from ledgers.choices import MembershipRole, ReconciliationStatus
from ledgers.models import Account, AuditEvent, Ledger, LedgerEntry, Membership, Organization
from ledgers.services import account_create, ledger_create, user_setup
from reconciliation.bulk import analyze, column_types, copy_rows
from reconciliation.choices import (
    RunStatus,
    SourceEntryMatchStatus,
    SourceFileFormat,
    SourceFileStatus,
)
from reconciliation.matching.types import EntryRow
from reconciliation.models import (
    Discrepancy,
    Match,
    MatchLedgerLink,
    MatchPart,
    MatchRequest,
    MatchSourceLink,
    Run,
    SourceEntry,
    SourceFile,
    Statement,
)
from reconciliation.services.imports import SourceEntryRow
from reconciliation.services.runs import run_create

BENCH_ORGANIZATION = "Benchmark (manage.py benchmark)"
BENCH_USER = "benchmark"
COPY_ROWS = 20_000


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchContext:
    """Ids of the scenario's tenant objects; plain strings so they cross processes."""

    scenario: str
    organization_id: str
    user_id: int
    token: str
    ledger_id: str
    account_id: str | None
    run_id: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def context_create(*, scenario: str, with_account: bool) -> BenchContext:
    """A fresh ledger (and run) for `scenario`, replacing what a kept earlier run left."""
    ledger_cleanup(scenario=scenario)
    user, organization, token = user_setup(
        username=BENCH_USER,
        organization_name=BENCH_ORGANIZATION,
        role=MembershipRole.ADMIN,
        password=None,
        staff=False,
    )
    ledger = ledger_create(
        organization=organization,
        name=ledger_name(scenario),
        currency="EUR",
        actor=user,
        amount_tolerance_abs=Decimal("5.00"),
    )
    account = None
    if with_account:
        account = account_create(
            ledger=ledger,
            name="Benchmark current account",
            code="1200",
            currency="EUR",
            iban=ACCOUNT_IBAN,
            actor=user,
        )
    run = run_create(ledger=ledger, account=account, note=f"benchmark {scenario}", actor=user)
    return BenchContext(
        scenario=scenario,
        organization_id=str(organization.pk),
        user_id=user.pk,
        token=token,
        ledger_id=str(ledger.pk),
        account_id=str(account.pk) if account else None,
        run_id=str(run.pk),
    )


def ledger_name(scenario: str) -> str:
    return f"benchmark {scenario}"


def _delete(table: str, where: str, params: Sequence[Any]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE {where}", params)  # noqa: S608 -- names are ours


def ledger_cleanup(*, scenario: str) -> None:
    """Delete the scenario's ledger and everything under it, children first, in SQL."""
    organization = Organization.objects.filter(name=BENCH_ORGANIZATION).first()
    if organization is None:
        return
    deleted = False
    for ledger_id in Ledger.objects.filter(
        organization=organization, name=ledger_name(scenario)
    ).values_list("pk", flat=True):
        _ledger_delete(ledger_id)
        deleted = True
    if deleted and not connection.in_atomic_block:
        # The deleted rows stay as dead row versions until autovacuum comes round (a
        # minute or more), and the next scenario would read past them: match 100k took
        # 11.6-12.0 s right after a 1M import's cleanup against 10.1-10.5 s on fresh
        # tables. Vacuumed now, the next scenario starts from the state of a minute later.
        vacuum_analyze_all()


def _ledger_delete(ledger_id: uuid.UUID) -> None:
    t = {
        model.__name__: model._meta.db_table
        for model in (
            Discrepancy,
            Match,
            MatchLedgerLink,
            MatchPart,
            MatchRequest,
            MatchSourceLink,
            Run,
            SourceEntry,
            SourceFile,
            Statement,
            LedgerEntry,
            Account,
            Ledger,
            AuditEvent,
        )
    }
    runs = f"SELECT id FROM {t['Run']} WHERE ledger_id = %s"  # noqa: S608
    matches = f"SELECT id FROM {t['Match']} WHERE run_id IN ({runs})"  # noqa: S608
    with transaction.atomic():
        _delete(t["Discrepancy"], f"run_id IN ({runs})", [ledger_id])
        _delete(t["MatchSourceLink"], f"match_id IN ({matches})", [ledger_id])
        _delete(t["MatchLedgerLink"], f"match_id IN ({matches})", [ledger_id])
        _delete(t["Match"], f"run_id IN ({runs})", [ledger_id])
        # A pass that failed or timed out (match-workers) leaves its outbox row and plan.
        _delete(t["MatchRequest"], f"run_id IN ({runs})", [ledger_id])
        _delete(t["MatchPart"], f"run_id IN ({runs})", [ledger_id])
        _delete(t["SourceEntry"], "ledger_id = %s", [ledger_id])
        _delete(t["Statement"], "ledger_id = %s", [ledger_id])
        _delete(t["SourceFile"], "ledger_id = %s", [ledger_id])
        _delete(t["Run"], "ledger_id = %s", [ledger_id])
        _delete(t["LedgerEntry"], "ledger_id = %s", [ledger_id])
        _delete(t["Account"], "ledger_id = %s", [ledger_id])
        _delete(t["AuditEvent"], "ledger_id = %s", [ledger_id])
        _delete(t["Ledger"], "id = %s", [ledger_id])


def organization_cleanup() -> None:
    """Remove the benchmark tenant itself once no scenario ledger is left."""
    from django.contrib.auth import get_user_model

    organization = Organization.objects.filter(name=BENCH_ORGANIZATION).first()
    if organization is None or Ledger.objects.filter(organization=organization).exists():
        return
    with transaction.atomic():
        AuditEvent.objects.filter(organization=organization).delete()
        Membership.objects.filter(organization=organization).delete()
        user = get_user_model().objects.filter(username=BENCH_USER).first()
        if user is not None and not Membership.objects.filter(user=user).exists():
            user.delete()
        organization.delete()


# --- bulk loaders ------------------------------------------------------------------------


class LedgerEntryRow(NamedTuple):
    """A `ledgers_ledgerentry` row as the loader COPYs it; the fields are the columns."""

    id: uuid.UUID
    ledger_id: uuid.UUID
    account_id: uuid.UUID | None
    external_id: str
    amount: Decimal
    currency: str
    booking_date: dt.date
    value_date: dt.date | None
    reference: str
    description: str
    counterparty: str
    reconciliation_status: str
    created_at: dt.datetime


def _copy(
    model: Any,
    row_type: Any,  # a NamedTuple class: its fields are the columns
    rows: Any,
    progress: Callable[[int], None] | None,
) -> int:
    columns = row_type._fields
    return copy_rows(
        model._meta.db_table,
        columns,
        rows,
        types=column_types(model, columns),
        progress=progress,
        progress_every=COPY_ROWS,
    )


def _id_mask(scenario: str) -> int:
    """The synthetic generator's ids depend on its seed only; XOR-ing them with a mask per
    scenario keeps each data set deterministic while two scenarios (or a kept earlier
    run) never collide on a primary key."""
    digest = hashlib.blake2b(scenario.encode(), digest_size=16).digest()
    return int.from_bytes(digest, "big")


# 2026-01-01T00:00:00Z in ms: the benchmark's rows look created from then on.
_BASE_MS = 1_767_225_600_000
_LOW_74_BITS = (1 << 74) - 1


def _mapped(row_id: str, mask: int, index: int) -> uuid.UUID:
    """A time-ordered (version 7) id, like the ones an import writes (ledgers/ids.py):
    the row's position gives the millisecond (16 rows per ms), the generator's id and the
    scenario's mask give the 74 random bits. Random v4 ids here would make the matching
    benchmark pay index costs a real import no longer causes."""
    low = (int(row_id.replace("-", ""), 16) ^ mask) & _LOW_74_BITS
    rand_a, rand_b = low >> 62, low & ((1 << 62) - 1)
    value = (_BASE_MS + index // 16) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return uuid.UUID(int=value)


def _source_row(
    row: EntryRow,
    *,
    index: int,
    ids: tuple[uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID],
    mask: int,
) -> SourceEntryRow:
    reference = row.references[0] if row.references else ""
    details = [
        {
            "amount": str(d.amount) if d.amount is not None else None,
            "currency": row.currency,
            "end_to_end_id": d.references[0] if d.references else None,
            "remittance": d.remittance or None,
            "counterparty_name": d.counterparty_name or None,
            "counterparty_iban": d.counterparty_iban or None,
        }
        for d in row.details
    ]
    run_id, source_file_id, statement_id, ledger_id = ids
    return SourceEntryRow(
        _mapped(row.id, mask, index),
        run_id,
        source_file_id,
        statement_id,
        ledger_id,
        index + 1,
        row.booking_date,
        row.value_date,
        row.amount,
        row.currency,
        False,
        reference[:256],
        "",
        "",
        "",
        "",
        row.description,
        row.counterparty_name[:256],
        row.counterparty_iban[:34],
        "",
        row.is_reversal,
        len(row.details) or None,
        json.dumps(details),
        "",
        f"{uuid.UUID(row.id).hex}:1",  # unique: no duplicate_entry findings
        SourceEntryMatchStatus.UNMATCHED.value,
        "",
        "",
    )


def load_truth_set(
    *,
    context: BenchContext,
    source: Sequence[EntryRow],
    ledger: Sequence[EntryRow],
    progress: Callable[[int], None] | None = None,
    run_status: str = RunStatus.COMPLETED,
) -> None:
    """Bank rows as one processed source file of the run; GL rows into the ledger.

    The run is left `run_status`: completed (the match scenarios call the pass themselves),
    or pending for a scenario that hands it to workers the way an upload does."""
    mask = _id_mask(context.scenario)
    with transaction.atomic():
        source_file = SourceFile.objects.create(
            run_id=context.run_id,
            ledger_id=context.ledger_id,
            filename="synthetic-truth-set.camt053.xml",
            format=SourceFileFormat.CAMT053,
            status=SourceFileStatus.PROCESSED,
            sha256=uuid.uuid4().hex * 2,
            size_bytes=0,
            imported_count=len(source),
        )
        # One statement for the file, as an import writes; no balances or sequence, so no
        # statement check reports on it.
        statement = Statement.objects.create(
            source_file=source_file,
            run_id=context.run_id,
            ledger_id=context.ledger_id,
            index=0,
            entry_count=len(source),
            entry_sum=sum((r.amount for r in source), Decimal(0)),
        )
        ledger_id = uuid.UUID(context.ledger_id)
        ids = (uuid.UUID(context.run_id), source_file.pk, statement.pk, ledger_id)
        _copy(
            SourceEntry,
            SourceEntryRow,
            (_source_row(r, index=i, ids=ids, mask=mask) for i, r in enumerate(source)),
            progress,
        )
        now = timezone.now()
        offset = len(source)
        account_id = uuid.UUID(context.account_id) if context.account_id else None
        _copy(
            LedgerEntry,
            LedgerEntryRow,
            (
                LedgerEntryRow(
                    _mapped(r.id, mask, i),
                    ledger_id,
                    account_id,
                    f"GL-{i + 1:08d}",
                    r.amount,
                    r.currency,
                    r.booking_date,
                    r.value_date,
                    r.references[0] if r.references else "",
                    r.description,
                    r.counterparty_name,
                    ReconciliationStatus.UNRECONCILED.value,
                    now,
                )
                for i, r in enumerate(ledger)
            ),
            (lambda n: progress(offset + n)) if progress else None,
        )
        Run.objects.filter(pk=context.run_id).update(status=run_status, started_at=now)
    analyze((SourceEntry, ()), (LedgerEntry, ()))


def vacuum_analyze_all() -> None:
    """Bring the tables to the state autovacuum leaves them in a minute after a bulk load:
    fresh planner statistics, dead row versions of the status updates gone, and the
    visibility map set, so counts can be index-only scans. The list pages and the load
    test measure a run a reviewer opens, not the first second after its import."""
    with connection.cursor() as cursor:
        for model in (
            SourceEntry,
            LedgerEntry,
            Match,
            MatchSourceLink,
            MatchLedgerLink,
            Discrepancy,
        ):
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
