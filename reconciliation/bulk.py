"""PostgreSQL's bulk paths, one implementation each, for the services and the benchmark.

A million-row import, auto-match pass or discrepancy recompute cannot afford an ORM
object, a statement or a parameter list per row, so these use what PostgreSQL offers
for volume:

- `copy_rows` / `copy_lines`: `COPY ... FROM STDIN`, binary (typed tuples, psycopg's C
  dumpers; uuids as 16 raw bytes or `UUID`, jsonb as JSON text) or text (lines the caller
  formats itself, when building the text is cheaper than adapting every value);
- `stream_rows`: a queryset's rows through `COPY (SELECT ...) TO STDOUT (FORMAT BINARY)`,
  loaded by psycopg's C loaders into a NamedTuple whose fields are the SELECT list;
- `temp_table`: a transaction-scoped temporary table to COPY keys or findings into and
  join against (an `IN (...)` list of a million ids is a huge statement, and a plan that
  rescans it for every row);
- `update_by_ids`: a queryset UPDATE restricted to a set of primary keys, through such a
  table when the set is big;
- `analyze`: fresh planner statistics for tables the current transaction just loaded.

PostgreSQL is the only database the project runs on, so there is no other code path to
keep in step with these.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple, TypeVar

from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.db.models import Model, QuerySet
from django.db.models.expressions import RawSQL
from psycopg import Copy, postgres, pq
from psycopg.adapt import Dumper

Row = TypeVar("Row", bound=NamedTuple)

# Rows per write() of `copy_lines`: big enough to amortise the call, small enough that the
# buffer stays a few MB.
LINES_PER_WRITE = 10_000
# Above this many ids `update_by_ids` goes through a temporary table; below it one
# `pk IN (...)` statement per chunk is cheaper than creating, filling and analysing one.
IDS_INLINE_MAX = 10_000
_IDS_TABLE = "bulk_ids_tmp"

# Django's column types -> the type names psycopg's binary COPY knows them by.
_COPY_TYPE_NAMES = {
    "integer": "int4",
    "smallint": "int2",
    "bigint": "int8",
    "boolean": "bool",
    "timestamp with time zone": "timestamptz",
    "double precision": "float8",
}


class _RawUuidDumper(Dumper):
    """Binary COPY of a uuid handed over as its 16 raw bytes (what `ledgers.ids` streams
    for bulk rows, without building a UUID object per row) or as a `UUID`."""

    format = pq.Format.BINARY
    oid = postgres.types["uuid"].oid

    def dump(self, obj: Any) -> bytes:
        return obj if type(obj) is bytes else obj.bytes


class _JsonbTextDumper(Dumper):
    """Binary COPY of jsonb handed over as JSON text (version byte, then the text)."""

    format = pq.Format.BINARY
    oid = postgres.types["jsonb"].oid

    def dump(self, obj: Any) -> bytes:
        text: str = obj
        return b"\x01" + text.encode()


def column_types(model: type[Model], columns: Sequence[str]) -> list[str]:
    """The binary COPY type of each of `model`'s `columns` (db column names)."""
    fields = {f.column: f for f in model._meta.concrete_fields}
    names = []
    for column in columns:
        db_type = (fields[column].db_type(connection) or "").split("(")[0].strip()
        names.append(_COPY_TYPE_NAMES.get(db_type, db_type))
    return names


@contextmanager
def copy_in(table: str, columns: Sequence[str], *, types: Sequence[str] | None) -> Iterator[Copy]:
    """`COPY table (columns) FROM STDIN`: binary with `types` (write_row of typed values),
    text without (write of ready-made lines)."""
    binary = types is not None
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg 3 cursor under Django's wrapper
        if binary:
            # On this cursor alone: everywhere else uuid and jsonb keep psycopg's dumpers.
            raw.adapters.register_dumper(None, _RawUuidDumper)
            raw.adapters.register_dumper(None, _JsonbTextDumper)
            statement += " (FORMAT BINARY)"
        with raw.copy(statement) as copy:
            if binary:
                copy.set_types(list(types or ()))
            yield copy


def copy_rows(
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    types: Sequence[str],
    progress: Callable[[int], None] | None = None,
    progress_every: int = 20_000,
) -> int:
    """Binary COPY of `rows` (values in `columns` order, typed as `types`); returns the count.

    Binary COPY spares the server the text parsing of every uuid, date and numeric, and
    psycopg's C dumpers write the values.
    """
    written = 0
    with copy_in(table, columns, types=types) as copy:
        write_row = copy.write_row
        if progress is None:
            for row in rows:
                write_row(row)
                written += 1
            return written
        for row in rows:
            write_row(row)
            written += 1
            if written % progress_every == 0:
                progress(written)
    return written


def copy_lines(table: str, columns: Sequence[str], lines: Iterable[str]) -> int:
    """Text-format COPY of ready-made lines (tab-separated, newline-terminated, `\\N` for
    NULL, values passed through `copy_text` where they may hold a backslash); returns the
    count."""
    written = 0
    with copy_in(table, columns, types=None) as copy:
        buffer: list[str] = []
        for line in lines:
            buffer.append(line)
            if len(buffer) >= LINES_PER_WRITE:
                copy.write("".join(buffer))
                written += len(buffer)
                buffer = []
        if buffer:
            copy.write("".join(buffer))
            written += len(buffer)
    return written


def copy_text(value: str) -> str:
    """A value for a COPY text line: the backslash is COPY's escape character (so JSON
    escapes are doubled). Callers only pass values that cannot hold a tab or newline
    (ids, codes, numbers, JSON, which escapes both)."""
    return value.replace("\\", "\\\\")


def stream_rows(
    queryset: QuerySet[Any], row_type: type[Row], *, as_text: Iterable[str] = ()
) -> Iterator[Row]:
    """The queryset's rows, one `row_type` each: its fields are the columns selected.

    The ORM's own query for the queryset runs inside `COPY (...) TO STDOUT (FORMAT
    BINARY)`: rows arrive as a stream and psycopg's C loaders build the values, where
    Django's iterator spent more per row on cursor chunks and field converters than the
    engine spends matching them. Columns in `as_text` arrive as text (ids the engine
    compares as strings).
    """
    names = row_type._fields
    text = frozenset(as_text)
    types = [
        "text" if name in text else kind
        for name, kind in zip(names, column_types(queryset.model, names), strict=True)
    ]
    sql, params = queryset.values_list(*names).query.sql_with_params()
    select = ", ".join(f'q."{name}"::text' if name in text else f'q."{name}"' for name in names)
    make = row_type._make
    with connection.cursor() as cursor:
        # The SQL is the ORM's own query for the queryset; its values stay parameters.
        statement = f"COPY (SELECT {select} FROM ({sql}) q) TO STDOUT (FORMAT BINARY)"  # noqa: S608
        with cursor.cursor.copy(statement, params) as copy:
            copy.set_types(types)
            for row in copy.rows():
                yield make(row)


@contextmanager
def temp_table(name: str, definition: str) -> Iterator[CursorWrapper]:
    """An empty temporary table `name (definition)` for the current transaction, and a
    cursor to fill and use it with.

    `ON COMMIT DROP` ties it to the transaction; it is emptied on the way in and out, so
    two uses in one transaction (or a savepoint that was rolled back) never see each
    other's rows.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} ({definition}) ON COMMIT DROP")
        cursor.execute(f"TRUNCATE {name}")
        yield cursor
        cursor.execute(f"TRUNCATE {name}")


def update_by_ids(
    queryset: QuerySet[Any],
    ids: Iterable[uuid.UUID | str],
    *,
    inline_max: int = IDS_INLINE_MAX,
    **values: Any,
) -> None:
    """`queryset.filter(pk__in=ids).update(**values)` for any number of uuid keys.

    Up to `inline_max` ids go inline, in sorted chunks. A bigger set is COPYed into a
    temporary table, analysed and joined: auto-match updates up to a million rows at
    once, and a long `IN (...)` list is both a huge statement and, when a concurrent bulk
    import has just grown the table past its statistics, a sequential scan testing every
    row against every listed id.
    """
    unique = set(ids)
    if not unique:
        return
    if len(unique) <= inline_max:
        ordered = sorted(unique, key=str)
        for start in range(0, len(ordered), inline_max):
            queryset.filter(pk__in=ordered[start : start + inline_max]).update(**values)
        return
    with temp_table(_IDS_TABLE, "id uuid NOT NULL") as cursor:
        copy_lines(_IDS_TABLE, ("id",), (f"{i}\n" for i in unique))
        cursor.execute(f"ANALYZE {_IDS_TABLE}")
        queryset.filter(pk__in=RawSQL(f"SELECT id FROM {_IDS_TABLE}", ())).update(**values)  # noqa: S608, S611 -- a constant


def analyze(*tables: tuple[type[Model], Sequence[str]]) -> None:
    """Refresh planner statistics of tables the current transaction just bulk-loaded,
    sampling only the named columns (every column when none are named).

    Autovacuum cannot count rows that are not committed, so queries later in the same
    transaction are planned for the table as it was, e.g. empty, and pick nested loops
    that rescan the new rows for every row: minutes instead of a second, measured at
    30,000 entries. ANALYZE in the transaction counts its own rows. It holds a SHARE
    UPDATE EXCLUSIVE lock until commit, which only another ANALYZE or VACUUM waits for.
    """
    with connection.cursor() as cursor:
        for model, columns in tables:
            sample = f" ({', '.join(columns)})" if columns else ""
            cursor.execute(f"ANALYZE {model._meta.db_table}{sample}")
