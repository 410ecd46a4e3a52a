"""The schema decisions of issue #17 for bulk work, checked in PostgreSQL itself.

Auto-match flips item and GL statuses without writing a single index entry.

The schema decision behind it: neither `match_status` nor `reconciliation_status` is in
any index, and both tables leave room on each page (fillfactor), so PostgreSQL updates
the rows in place (HOT). An index that picked either column up again would make every
flip a new row version in every index of the table; these tests fail then. The counters
are PostgreSQL's own per-transaction statistics, read inside the test's transaction.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import replace
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models import Model

from ledgers.models import Ledger, LedgerEntry
from ledgers.services import LedgerEntryInput, ledger_entries_create
from reconciliation.models import Run, SourceEntry
from reconciliation.models import Statement as StatementModel
from reconciliation.services.auto_match import run_auto_match
from reconciliation.services.imports import source_file_upload
from reconciliation.services.runs import run_create
from tests.reconciliation.parsers.camt_builder import Detail, Entry, Statement, camt053_bytes

pytestmark = pytest.mark.django_db
D = Decimal
ENTRIES = 6


def _updates(table: str) -> tuple[int, int]:
    """(row updates, HOT row updates) of `table` in the current transaction so far."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_stat_get_xact_tuples_updated(%s::regclass), "
            "pg_stat_get_xact_tuples_hot_updated(%s::regclass)",
            [table, table],
        )
        updated, hot = cursor.fetchone()
    return int(updated), int(hot)


def _statement() -> Statement:
    day = dt.date(2026, 11, 2)
    entries = [
        Entry(
            amount=D(f"{100 + n}.00"),
            credit=True,
            booking_date=day + dt.timedelta(days=n),
            value_date=day + dt.timedelta(days=n),
            bank_reference=f"BR-{n}",
            domain_code=("PMNT", "RCDT", "ESCT"),
            details=(Detail(amount=D(f"{100 + n}.00"), remittance=(f"INV-{n}",)),),
        )
        for n in range(ENTRIES)
    ]
    total = sum((e.amount for e in entries), D("0"))
    return Statement(
        statement_id="2026-11-HOT",
        iban="DE89370400440532013000",
        electronic_sequence=1,
        created="2026-11-30T18:00:00+01:00",
        opening=D("0.00"),
        opening_date=dt.date(2026, 10, 31),
        closing=total,
        closing_date=dt.date(2026, 11, 30),
        entries=entries,
    )


def test_auto_accepted_matches_flip_statuses_as_hot_updates(
    alice_ledger: Ledger, alice: User
) -> None:
    # Exact amount, reference and day: accepted once the bar is below the score
    # (what is measured here is the status flip, not the scoring).
    alice_ledger.auto_accept_threshold = 50
    alice_ledger.save(update_fields=["auto_accept_threshold"])
    run = run_create(ledger=alice_ledger, actor=alice)
    data = camt053_bytes([_statement()], version=8)
    source_file_upload(
        run=run, stream=io.BytesIO(data), filename="hot.xml", size=len(data), actor=alice
    )
    ledger_entries_create(
        ledger=alice_ledger,
        actor=alice,
        items=[
            LedgerEntryInput(
                external_id=f"GL-{n}",
                amount=D(f"{100 + n}.00"),
                currency="EUR",
                booking_date=dt.date(2026, 11, 2) + dt.timedelta(days=n),
                reference=f"INV-{n}",
            )
            for n in range(ENTRIES)
        ],
    )
    items, gl = SourceEntry._meta.db_table, LedgerEntry._meta.db_table
    items_before, gl_before = _updates(items), _updates(gl)

    result = run_auto_match(run=run, actor=alice)

    assert result.accepted == ENTRIES
    assert SourceEntry.objects.filter(run=run, match_status="matched").count() == ENTRIES
    assert LedgerEntry.objects.filter(reconciliation_status="reconciled").count() == ENTRIES
    items_after, gl_after = _updates(items), _updates(gl)
    item_updates = items_after[0] - items_before[0]
    gl_updates = gl_after[0] - gl_before[0]
    assert item_updates == ENTRIES
    assert gl_updates == ENTRIES
    # every one of them in place: no index entry written for a status flip
    assert items_after[1] - items_before[1] == item_updates
    assert gl_after[1] - gl_before[1] == gl_updates


@pytest.mark.parametrize("model", [SourceEntry, LedgerEntry])
def test_entry_tables_leave_room_on_each_page_and_index_no_status(model: type[Model]) -> None:
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE oid = %s::regclass", [table])
        [options] = cursor.fetchone()
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [table])
        indexes = [row[0] for row in cursor.fetchall()]
    assert "fillfactor=60" in (options or [])
    assert indexes
    assert not [d for d in indexes if "match_status" in d or "reconciliation_status" in d]


def _set(row: Model, **values: object) -> None:
    """Change `row` and have its deferred keys checked now, not at commit."""
    with transaction.atomic(), connection.cursor() as cursor:
        type(row)._default_manager.filter(pk=row.pk).update(**values)
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_one_composite_key_holds_an_items_statement_file_run_and_ledger_together(
    alice_ledger: Ledger, alice: User, charlie_run: Run
) -> None:
    run = run_create(ledger=alice_ledger, actor=alice)
    data = camt053_bytes([_statement()], version=8)
    source_file_upload(
        run=run, stream=io.BytesIO(data), filename="fk.xml", size=len(data), actor=alice
    )
    # A second file in the same run: its statement is the run's and the ledger's too.
    other = camt053_bytes([replace(_statement(), statement_id="2026-12-HOT")], version=8)
    source_file_upload(
        run=run, stream=io.BytesIO(other), filename="fk2.xml", size=len(other), actor=alice
    )
    item = SourceEntry.objects.filter(run=run).order_by("line").first()
    assert item is not None
    own = item.statement
    foreign = StatementModel.objects.filter(source_file__run=run).exclude(pk=own.pk).get()
    _set(item, ledger=alice_ledger, run=run, statement=own)  # its own: accepted

    # Another ledger, run or statement than its file's, each of which exists: separate
    # keys on the columns would all have been satisfied.
    key = "source_entry_statement_fk"
    with pytest.raises(IntegrityError, match=key):
        _set(item, ledger=charlie_run.ledger)
    with pytest.raises(IntegrityError, match=key):
        _set(item, run=charlie_run)
    with pytest.raises(IntegrityError, match=key):
        _set(item, statement=foreign)
    # ... and a statement (the second file's, all of whose entries were duplicates) whose
    # run or ledger is not its file's
    assert not foreign.entries.exists()
    with pytest.raises(IntegrityError, match="statement_file_run_ledger_fk"):
        _set(foreign, run=charlie_run)
    with pytest.raises(IntegrityError, match="statement_file_run_ledger_fk"):
        _set(foreign, ledger=charlie_run.ledger)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
            [SourceEntry._meta.db_table],
        )
        # One key per imported row for its statement, file, run and ledger; the other is
        # the closing user's, which an import leaves empty (no check for a NULL).
        assert cursor.fetchone()[0] == 2


def test_fingerprints_compare_bytewise_and_the_duplicate_lookup_still_uses_their_index(
    alice_ledger: Ledger,
) -> None:
    table = SourceEntry._meta.db_table
    fingerprints = SourceEntry.objects.filter(
        ledger=alice_ledger, fingerprint__in=["0" * 32 + ":1", "f" * 32 + ":2"]
    )
    sql, params = fingerprints.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.collname FROM pg_attribute a JOIN pg_collation c ON c.oid = a.attcollation "
            "WHERE a.attrelid = %s::regclass AND a.attname = 'fingerprint'",
            [table],
        )
        assert cursor.fetchone()[0] == "C"
        # The lookup's values carry the database's collation; the column's wins, so the
        # index (built in "C") still answers it.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "source_entry_fingerprint" in plan
