"""reconciliation.bulk: COPY in (binary and text), COPY out into NamedTuples, temporary
tables and set-based updates, on the real PostgreSQL the service runs on."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any, NamedTuple

import pytest
from django.db import transaction

from ledgers.ids import raw_id_stream
from reconciliation.bulk import (
    column_types,
    copy_lines,
    copy_rows,
    copy_text,
    stream_rows,
    temp_table,
    update_by_ids,
)
from reconciliation.choices import SourceEntryMatchStatus
from reconciliation.models import SourceEntry
from reconciliation.services.imports import SOURCE_ENTRY_COLUMNS, SourceEntryRow

pytestmark = pytest.mark.django_db


def _row(run: Any, source_file: Any, line: int, *, raw_id: bytes) -> SourceEntryRow:
    return SourceEntryRow(
        raw_id,
        run.pk,  # a UUID where the import passes raw bytes: the dumper takes both
        source_file.pk.bytes,
        source_file.statements.get().pk.bytes,
        run.ledger_id.bytes,
        line,
        dt.date(2026, 11, line),
        None,
        Decimal(f"-{line}.50"),
        "EUR",
        False,
        f"REF-{line}",
        "",
        "",
        "",
        "",
        "back\\slash and tab-free text",
        "ACME GmbH",
        "",
        "",
        False,
        None,
        json.dumps([{"amount": "1.25", "remittance": "ä \\ €"}]),
        "",
        f"fp-{line}:1",
        SourceEntryMatchStatus.UNMATCHED.value,
        "",
        "",
    )


@pytest.fixture
def source_file(alice_run: Any) -> Any:
    from reconciliation.models import SourceFile, Statement

    source_file = SourceFile.objects.create(
        run=alice_run,
        ledger_id=alice_run.ledger_id,
        filename="bulk.csv",
        format="csv",
        status="processed",
        sha256="0" * 64,
        size_bytes=0,
    )
    Statement.objects.create(
        source_file=source_file, run=alice_run, ledger_id=alice_run.ledger_id, index=0
    )
    return source_file


class StreamedEntry(NamedTuple):
    id: str
    amount: Decimal
    booking_date: dt.date
    value_date: dt.date | None
    description: str
    details: list[dict[str, str]]
    line: int


def test_binary_copy_writes_rows_that_stream_back_by_field_name(alice_run, source_file):
    ids = raw_id_stream()
    rows = [_row(alice_run, source_file, line, raw_id=next(ids)) for line in (1, 2, 3)]
    written = copy_rows(
        SourceEntry._meta.db_table,
        SOURCE_ENTRY_COLUMNS,
        rows,
        types=column_types(SourceEntry, SOURCE_ENTRY_COLUMNS),
    )

    assert written == 3
    streamed = sorted(
        stream_rows(SourceEntry.objects.filter(run=alice_run), StreamedEntry, as_text=("id",)),
        key=lambda r: r.line,
    )
    assert [type(r) for r in streamed] == [StreamedEntry] * 3
    assert [r.id for r in streamed] == [str(uuid.UUID(bytes=row.id)) for row in rows]
    assert [r.amount for r in streamed] == [Decimal("-1.50"), Decimal("-2.50"), Decimal("-3.50")]
    assert streamed[0].booking_date == dt.date(2026, 11, 1)
    assert streamed[0].value_date is None
    assert streamed[0].description == "back\\slash and tab-free text"
    assert streamed[0].details == [{"amount": "1.25", "remittance": "ä \\ €"}]


def test_text_copy_lines_keep_backslashes_in_json(alice_run, source_file):
    from reconciliation.models import Match

    explanation = json.dumps([{"criterion": "reference", "detail": 'quote " and \\ backslash'}])
    match_id = uuid.uuid4()
    line = (
        f"{match_id.hex}\t{alice_run.pk.hex}\tsuggested\tauto\tone_to_one\t80\tf\t"
        f"{copy_text(explanation)}\tEUR\t1.00\t1.00\t0\t\t2026-11-02T00:00:00+00:00\n"
    )
    columns = (
        "id", "run_id", "status", "kind", "shape", "score", "is_ambiguous", "explanation",
        "currency", "source_total", "ledger_total", "difference", "note", "created_at",
    )  # fmt: skip

    assert copy_lines(Match._meta.db_table, columns, [line]) == 1
    assert Match.objects.get(pk=match_id).explanation == json.loads(explanation)


@pytest.mark.parametrize("inline_max", [100, 2], ids=["inline", "through-a-temporary-table"])
def test_update_by_ids_changes_exactly_the_listed_rows(alice_run, source_file, inline_max):
    ids = raw_id_stream()
    rows = [_row(alice_run, source_file, line, raw_id=next(ids)) for line in range(1, 6)]
    copy_rows(
        SourceEntry._meta.db_table,
        SOURCE_ENTRY_COLUMNS,
        rows,
        types=column_types(SourceEntry, SOURCE_ENTRY_COLUMNS),
    )
    chosen = [uuid.UUID(bytes=row.id) for row in rows[:3]]

    update_by_ids(
        SourceEntry.objects.all(),
        [*chosen, str(chosen[0])],  # UUIDs and their text, duplicates included
        inline_max=inline_max,
        match_status=SourceEntryMatchStatus.CLOSED,
    )

    statuses = dict(SourceEntry.objects.values_list("id", "match_status"))
    assert {i for i, s in statuses.items() if s == SourceEntryMatchStatus.CLOSED} == set(chosen)
    assert len(statuses) == 5


def test_a_temporary_table_starts_empty_on_every_use_in_one_transaction():
    with transaction.atomic():
        with temp_table("bulk_test_tmp", "n integer") as cursor:
            cursor.execute("INSERT INTO bulk_test_tmp VALUES (1), (2)")
            cursor.execute("SELECT count(*) FROM bulk_test_tmp")
            assert cursor.fetchone()[0] == 2
        with temp_table("bulk_test_tmp", "n integer") as cursor:
            cursor.execute("SELECT count(*) FROM bulk_test_tmp")
            assert cursor.fetchone()[0] == 0


def test_column_types_name_what_binary_copy_knows():
    from reconciliation.models import Match

    assert column_types(Match, ("id", "score", "is_ambiguous", "difference", "created_at")) == [
        "uuid",
        "int2",
        "bool",
        "numeric",
        "timestamptz",
    ]
