"""Statement import: one upload = one source file = one transaction (DESIGN.md §1).

Flow: closed run -> 409; too large -> 413; same bytes already in the ledger -> 409
`duplicate_file`; format from content (not the name) -> 415 for anything that is not a
statement; then parse and write every entry in one transaction, or none. A file that
fails is still recorded (`status: failed`, the error naming line/row/element) in a
transaction of its own after the import's rollback, so the client always gets an id.

Entries stream from the parser straight into the database through binary COPY, so
memory stays flat however long the statement is.

Accounts. A run bound to an account takes statements of that account, and, in a file
with statements of several accounts (one camt.053 per company, several IBANs), each
statement of another account *of the same ledger* goes into that account: its entries
carry that account's key, the statement records the account (the upload answer and the
file's statement metadata show it per statement), and the run's matching, GL lists and
missing_in_statement checks then cover every account its statements are in
(`selectors.run_account_ids`). A statement of an IBAN the ledger has no account for fails
the file with 422 `account_mismatch` naming those IBANs. A run without an account imports
every statement ledger-wide, its entries keyed by their statement's IBAN (their
fingerprints hash the run's own key, as when every entry was keyed ledger-wide, so the
entries such a run imported before still count as earlier imports).
Overlapping statements: an entry already imported for the same account (by the bank's
own reference, else by a fingerprint with an occurrence number) is skipped and counted;
two genuinely identical rows of one file get occurrence 1 and 2 and are both kept.

Concurrent uploads. The duplicate-file check and the entry dedupe both read what earlier
imports committed, so two uploads of one file (or of two overlapping statements of one
account) running at once would each see nothing and both import. The import transaction
therefore takes a per-ledger lock (`pg_advisory_xact_lock`, `_ledger_import_lock`) and
only then checks for the duplicate file and dedupes entries: uploads into one ledger
queue up, the first commits, the next sees its file (409 `duplicate_file`) and its
entries (skipped). The lock is transaction-scoped, so it is released by the commit or
rollback, also when the process dies. Lock order, the same in every import: the run row
(`SELECT ... FOR UPDATE`), then the ledger's import lock; nothing that holds the import
lock waits for another run's row, so uploads into different runs of one ledger cannot
deadlock. An advisory lock rather than `FOR UPDATE` on the ledger row, because that row
is also referenced (`FOR KEY SHARE`) by every GL entry and run written meanwhile. In a
web request the wait is bounded by the web lock_timeout (config/database.py): an upload
queued behind a long import of the same ledger answers 503 with Retry-After.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import IO, Any, BinaryIO, Final, NamedTuple

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from ledgers import safejson
from ledgers.exceptions import Conflict, Invalid, TooLarge, Unprocessable, UnsupportedFormat
from ledgers.ids import new_id, raw_id_stream
from ledgers.models import Account
from reconciliation.bulk import column_types, copy_rows
from reconciliation.choices import (
    RunMode,
    RunStatus,
    SourceEntryMatchStatus,
    SourceFileFormat,
    SourceFileStatus,
)
from reconciliation.models import Run, SourceEntry, SourceFile, Statement
from reconciliation.parsers.types import (
    CsvMapping,
    ParsedEntry,
    ParseError,
    StatementReader,
    UnsupportedFormatError,
)
from reconciliation.services.runs import actor_or_none, run_audit, run_lock, run_validate_open

logger = logging.getLogger(__name__)

HEAD_BYTES = 64 * 1024
BATCH_ROWS = 5000
MAX_DESCRIPTION = 4000


@dataclass(frozen=True, slots=True, kw_only=True)
class StatementImport:
    """What one statement of a file became: for the upload's answer."""

    index: int
    statement_id: str
    account_iban: str | None
    account_id: uuid.UUID | None
    imported: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportResult:
    source_file: SourceFile
    imported: int
    skipped_duplicates: int
    skipped: int
    warnings: list[dict[str, Any]]
    statements: list[StatementImport] = field(default_factory=list)


def file_sha256(stream: IO[bytes]) -> str:
    stream.seek(0)
    digest = hashlib.sha256()
    for chunk in iter(partial(stream.read, 1 << 20), b""):
        digest.update(chunk)
    stream.seek(0)
    return digest.hexdigest()


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


def csv_mapping_from(data: Any) -> CsvMapping:
    """A CsvMapping from client JSON; unknown keys or wrong types are a 400 naming them."""
    if isinstance(data, str):
        try:
            data = safejson.loads(data)
        except ValueError:
            raise Invalid(
                "mapping is not valid JSON.", code="mapping_invalid", attr="mapping"
            ) from None
    # Column names end up in the account's saved mapping (jsonb), which cannot hold NUL.
    if _has_nul(data):
        raise Invalid("mapping contains a NUL character.", code="mapping_invalid", attr="mapping")
    if not isinstance(data, dict):
        raise Invalid("mapping must be a JSON object.", code="mapping_invalid", attr="mapping")
    known = {f.name: f for f in fields(CsvMapping)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise Invalid(
            f"Unknown mapping keys: {', '.join(unknown)}. Known: {', '.join(sorted(known))}.",
            code="mapping_invalid",
            attr="mapping",
        )
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name == "description":
            if isinstance(value, str):
                value = (value,)
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise Invalid(
                    "mapping.description must be a column or a list of columns.",
                    code="mapping_invalid",
                    attr="mapping.description",
                )
            values[name] = tuple(value)
        elif name == "invert_sign":
            if not isinstance(value, bool):
                raise Invalid(
                    "mapping.invert_sign must be true or false.",
                    code="mapping_invalid",
                    attr="mapping.invert_sign",
                )
            values[name] = value
        elif name == "header_row":
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise Invalid(
                    "mapping.header_row must be a positive line number.",
                    code="mapping_invalid",
                    attr="mapping.header_row",
                )
            values[name] = value
        elif value is not None:
            if not isinstance(value, str | int) or isinstance(value, bool):
                raise Invalid(
                    f"mapping.{name} must be a string.",
                    code="mapping_invalid",
                    attr=f"mapping.{name}",
                )
            values[name] = str(value)
    if values.get("decimal_separator") not in (None, ".", ","):
        raise Invalid(
            "mapping.decimal_separator must be '.' or ','.",
            code="mapping_invalid",
            attr="mapping.decimal_separator",
        )
    return CsvMapping(**values)


def _mapping_to_json(mapping: CsvMapping) -> dict[str, Any]:
    return {
        k: (list(v) if isinstance(v, tuple) else v)
        for k, v in asdict(mapping).items()
        if v not in (None, (), False)
    }


def _detect(stream: IO[bytes], requested: str | None) -> str:
    from reconciliation.parsers.detect import detect_format

    stream.seek(0)
    head = stream.read(HEAD_BYTES)
    stream.seek(0)
    detected = detect_format(head)  # raises UnsupportedFormatError for non-statements
    if requested and requested != detected:
        raise UnsupportedFormatError(
            f"the file was declared as {requested} but its content is {detected}"
        )
    return detected


def _reader(
    stream: BinaryIO, *, file_format: str, run: Run, mapping: CsvMapping | None
) -> StatementReader:
    if file_format == SourceFileFormat.CAMT053:
        from reconciliation.parsers.camt053 import read_camt053

        return read_camt053(stream)
    from reconciliation.parsers.csv_statement import read_csv_statement

    default_currency = run.account.currency if run.account_id else run.ledger.currency
    return read_csv_statement(stream, default_currency=default_currency, mapping=mapping)


def _account_key(run: Run) -> str:
    if run.account_id is None:
        return ""
    return _key_of(run.account)


def _key_of(account: Account) -> str:
    return account.iban or f"account:{account.code}"


def _compact_iban(iban: str) -> str:
    return iban.replace(" ", "").upper()


class _AccountRouter:
    """Which account each statement of a file goes into (see the module docstring)."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.run_key = _account_key(run)
        self.bound = bool(run.account_id and run.account.iban)
        self.by_iban: dict[str, Account] = {}
        if self.bound:
            self.by_iban = {
                a.iban: a for a in Account.objects.filter(ledger_id=run.ledger_id).exclude(iban="")
            }
        self.unknown: list[str] = []  # IBANs the ledger has no account for, in file order

    def account(self, iban: str | None) -> Account | None:
        """The account of a statement naming `iban` (None: unknown to the ledger)."""
        if not self.bound or not iban:
            return self.run.account if self.run.account_id else None
        compact = _compact_iban(iban)
        found = self.by_iban.get(compact)
        if found is None and compact not in self.unknown:
            self.unknown.append(compact)
        return found

    def key(self, iban: str | None) -> str | None:
        """The entries' account key for a statement naming `iban`; None when unknown.

        A run without an account keys its entries by the statement's own IBAN, as it keys
        the statement: with one key for the whole ledger, two accounts' identical lines
        (the same fee on the same day, or bank references both banks number from 1) were
        taken for overlapping statements, and the second account's were skipped."""
        if not iban:
            return self.run_key
        if not self.bound:
            return iban[:64] if not self.run.account_id else self.run_key
        account = self.account(iban)
        return None if account is None else _key_of(account)

    def candidate_keys(self) -> list[str]:
        return sorted({self.run_key, *(_key_of(a) for a in self.by_iban.values())})


def _error_json(exc: ParseError) -> dict[str, Any]:
    error = {"code": exc.code, "detail": exc.detail}
    for name in ("line", "row", "element"):
        value = getattr(exc, name)
        if value is not None:
            error[name] = value
    return error


def _record_failure(
    *,
    run: Run,
    filename: str,
    sha256: str,
    size: int,
    file_format: str,
    error: dict[str, Any],
    actor: AbstractBaseUser | None,
) -> SourceFile:
    """Keep a record of a failed upload (and the run's error) after the import rolled back."""
    with transaction.atomic():
        run = run_lock(run_id=run.pk)
        source_file = SourceFile.objects.create(
            run=run,
            ledger_id=run.ledger_id,
            filename=filename[:255],
            format=file_format,
            status=SourceFileStatus.FAILED,
            sha256=sha256,
            size_bytes=size,
            error=error,
            created_by=actor_or_none(actor),
        )
        if not run.source_files.filter(status=SourceFileStatus.PROCESSED).exists():
            run.status, run.error, run.finished_at = RunStatus.FAILED, error, timezone.now()
            run.save(update_fields=["status", "error", "finished_at"])
        run_audit(
            run=run,
            actor=actor,
            action="source_file.failed",
            subject_type="source_file",
            subject_id=source_file.pk,
            after={"filename": filename, "error": error},
        )
    return source_file


def source_file_upload(
    *,
    run: Run,
    stream: BinaryIO,
    filename: str,
    size: int,
    file_format: str | None = None,
    mapping: CsvMapping | None = None,
    allow_duplicate: bool = False,
    actor: AbstractBaseUser | None,
) -> ImportResult:
    """Import one statement file into `run`. See the module docstring for the rules.

    Raises RunClosed (409), TooLarge (413), Conflict `duplicate_file` (409),
    UnsupportedFormat (415) or Unprocessable (422); the last three name the failed file.
    """
    run_validate_open(run=run)
    limit = settings.STATEMENT_MAX_UPLOAD_BYTES
    if size > limit:
        failed = _record_failure(
            run=run,
            filename=filename,
            sha256="",
            size=size,
            file_format="",
            actor=actor,
            error={"code": "too_large", "detail": f"The file is larger than {limit} bytes."},
        )
        raise TooLarge(
            f"The file is {size} bytes; the limit is {limit} bytes.",
            code="file_too_large",
            source_file=_ids(failed),
        )
    sha256 = file_sha256(stream)
    if not allow_duplicate:
        # A cheap early answer before parsing; the check that counts is repeated under the
        # ledger's import lock in `_import`.
        _validate_not_duplicate(ledger_id=run.ledger_id, sha256=sha256)
    try:
        detected = _detect(stream, file_format)
    except UnsupportedFormatError as exc:
        failed = _record_failure(
            run=run,
            filename=filename,
            sha256=sha256,
            size=size,
            file_format="",
            error=_error_json(exc),
            actor=actor,
        )
        raise UnsupportedFormat(
            exc.detail, code="unsupported_format", source_file=_ids(failed)
        ) from None
    if mapping is None and detected == SourceFileFormat.CSV and run.account_id:
        saved = run.account.csv_mapping
        mapping = csv_mapping_from(saved) if saved else None
    try:
        return _import(
            run=run,
            stream=stream,
            filename=filename,
            size=size,
            sha256=sha256,
            file_format=detected,
            mapping=mapping,
            allow_duplicate=allow_duplicate,
            actor=actor,
        )
    except ParseError as exc:
        failed = _record_failure(
            run=run,
            filename=filename,
            sha256=sha256,
            size=size,
            file_format=detected,
            error=_error_json(exc),
            actor=actor,
        )
        raise Unprocessable(
            f"The statement cannot be imported: {exc}",
            code=exc.code,
            source_file=_ids(failed),
            line=exc.line,
            row=exc.row,
            element=exc.element,
        ) from None


def source_file_upload_path(
    *,
    run: Run,
    path: Path,
    actor: AbstractBaseUser | None,
    stream: BinaryIO | None = None,
    **options: Any,
) -> ImportResult:
    """Import a file from disk (management commands, demo data). `stream` may be an already
    open handle of `path` (the command watches its position for a progress bar)."""
    if stream is not None:
        return source_file_upload(
            run=run,
            stream=stream,
            filename=path.name,
            size=path.stat().st_size,
            actor=actor,
            **options,
        )
    with path.open("rb") as handle:
        return source_file_upload(
            run=run,
            stream=handle,
            filename=path.name,
            size=path.stat().st_size,
            actor=actor,
            **options,
        )


def _validate_not_duplicate(*, ledger_id: uuid.UUID, sha256: str) -> None:
    """409 `duplicate_file` when these bytes were already imported into the ledger."""
    existing = (
        SourceFile.objects.filter(
            ledger_id=ledger_id, sha256=sha256, status=SourceFileStatus.PROCESSED
        )
        .order_by("created_at")
        .first()
    )
    if existing is not None:
        raise Conflict(
            "This file was already imported into this ledger; send allow_duplicate=true "
            "to import it again.",
            code="duplicate_file",
            existing_source_file={"id": str(existing.pk), "run_id": str(existing.run_id)},
        )


def _ledger_import_lock(*, ledger_id: uuid.UUID) -> None:
    """Wait for the ledger's import lock; held until this transaction ends (module docstring).

    The key is a 64-bit hash of a namespaced text, so it cannot meet another feature's
    advisory lock; a hash collision between two ledgers would only make them queue.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"reconciliation.import:{ledger_id}"],
        )


def _ids(source_file: SourceFile) -> dict[str, str]:
    return {"id": str(source_file.pk), "run_id": str(source_file.run_id)}


def _import(
    *,
    run: Run,
    stream: BinaryIO,
    filename: str,
    size: int,
    sha256: str,
    file_format: str,
    mapping: CsvMapping | None,
    allow_duplicate: bool,
    actor: AbstractBaseUser | None,
) -> ImportResult:
    with transaction.atomic():
        run = (
            Run.objects.select_for_update(of=("self",))
            .select_related("ledger", "account")
            .get(pk=run.pk)
        )
        run_validate_open(run=run)
        _ledger_import_lock(ledger_id=run.ledger_id)
        if not allow_duplicate:
            _validate_not_duplicate(ledger_id=run.ledger_id, sha256=sha256)
        source_file = SourceFile.objects.create(
            run=run,
            ledger_id=run.ledger_id,
            filename=filename[:255],
            format=file_format,
            status=SourceFileStatus.PROCESSED,
            sha256=sha256,
            size_bytes=size,
            created_by=actor_or_none(actor),
            csv_mapping=_mapping_to_json(mapping) if mapping is not None else None,
        )
        stream.seek(0)
        reader = _reader(stream, file_format=file_format, run=run, mapping=mapping)
        router = _AccountRouter(run)
        writer = _EntryWriter(
            run=run,
            source_file=source_file,
            router=router,
            account_hint=getattr(reader, "account_iban_hint", None),
            dedupe=not allow_duplicate,
        )
        writer.write(reader.entries())
        statements = _save_statements(
            run=run, source_file=source_file, reader=reader, writer=writer, router=router
        )
        warnings = [
            {"code": w.code, "detail": w.message, **({"line": w.line} if w.line else {})}
            for w in reader.warnings
        ]
        skipped = sum(s.skipped_count for s in reader.statements)
        source_file.imported_count = writer.imported
        source_file.skipped_duplicates = writer.skipped_duplicates
        source_file.skipped_count = skipped
        source_file.warnings = warnings[:200]
        source_file.save(
            update_fields=["imported_count", "skipped_duplicates", "skipped_count", "warnings"]
        )
        if mapping is not None and run.account_id and file_format == SourceFileFormat.CSV:
            run.account.csv_mapping = _mapping_to_json(mapping)
            run.account.save(update_fields=["csv_mapping"])
        from reconciliation.services.discrepancies import statement_checks

        statement_checks(run=run, statements=statements)
        _run_after_import(run=run)
        run_audit(
            run=run,
            actor=actor,
            action="source_file.imported",
            subject_type="source_file",
            subject_id=source_file.pk,
            after={
                "filename": filename,
                "format": file_format,
                "imported": writer.imported,
                "skipped_duplicates": writer.skipped_duplicates,
                "skipped": skipped,
            },
        )
    return ImportResult(
        source_file=source_file,
        imported=writer.imported,
        skipped_duplicates=writer.skipped_duplicates,
        skipped=skipped,
        warnings=warnings,
        statements=[
            StatementImport(
                index=st.index,
                statement_id=st.statement_id,
                account_iban=info.account_iban,
                account_id=st.account_id,
                imported=writer.imported_by_statement.get(st.index, 0),
            )
            for st, info in zip(statements, reader.statements, strict=True)
        ],
    )


def _run_after_import(*, run: Run) -> None:
    """pending -> running; automatic mode queues matching after commit, manual is done."""
    now = timezone.now()
    run.started_at = run.started_at or now
    run.error = None
    if run.mode == RunMode.AUTOMATIC:
        run.status = RunStatus.RUNNING
        run.match_requested_at = now
        run.finished_at = None
        run.save(
            update_fields=["status", "started_at", "error", "match_requested_at", "finished_at"]
        )
        from reconciliation.services.auto_match import run_auto_match_enqueue

        run_auto_match_enqueue(run=run)
    else:
        run.status = RunStatus.COMPLETED
        run.finished_at = now
        run.save(update_fields=["status", "started_at", "error", "finished_at"])


def _save_statements(
    *,
    run: Run,
    source_file: SourceFile,
    reader: StatementReader,
    writer: _EntryWriter,
    router: _AccountRouter,
) -> list[Statement]:
    rows = []
    for info in reader.statements:
        account = router.account(info.account_iban)
        if router.bound and info.account_iban and account is None:
            continue  # reported below, with every other IBAN the ledger does not know
        if router.bound and info.account_iban and account is not None:
            account_key = _key_of(account)
            written = writer.key_of_statement.get(info.index)
            if written is not None and written != account_key:
                # The statement named its account only after some of its entries (its Acct
                # out of schema order): those entries get the account's key now.
                SourceEntry.objects.filter(
                    source_file=source_file, statement_id=writer.statement_ids[info.index]
                ).update(account_key=account_key)
        else:
            account_key = info.account_iban or info.account_other_id or _account_key(run)
        rows.append(
            Statement(
                id=writer.statement_ids.get(info.index) or new_id(),
                source_file=source_file,
                run_id=run.pk,
                ledger_id=run.ledger_id,
                index=info.index,
                statement_id=(info.statement_id or "")[:128],
                account_key=account_key[:64],
                account=account,
                currency=info.currency or "",
                electronic_sequence=info.electronic_sequence,
                legal_sequence=info.legal_sequence,
                period_from=info.period_from,
                period_to=info.period_to,
                opening_balance=info.opening_balance,
                opening_date=info.opening_date,
                closing_balance=info.closing_balance,
                closing_date=info.closing_date,
                entry_count=info.entry_count,
                entry_sum=info.entry_sum,
            )
        )
    if router.unknown:
        named = ", ".join(router.unknown)
        raise ParseError(
            f"The file has statements for {named}, which "
            f"{'is not an account' if len(router.unknown) == 1 else 'are not accounts'} of "
            "this ledger; add the account (with its IBAN) or upload into a run of the right "
            "ledger.",
            code="account_mismatch",
        )
    Statement.objects.bulk_create(rows)
    return rows


class SourceEntryRow(NamedTuple):
    """One `reconciliation_sourceentry` row as binary COPY takes it; the fields are the
    COPY column list (`SOURCE_ENTRY_COLUMNS`), in order.

    Ids are 16 raw bytes (or `UUID`s) and `details` is JSON text: what the COPY dumpers of
    `reconciliation.bulk` write without converting. The benchmark loads its synthetic
    rows through the same type.
    """

    id: bytes | uuid.UUID
    run_id: bytes | uuid.UUID
    source_file_id: bytes | uuid.UUID
    statement_id: bytes | uuid.UUID
    ledger_id: bytes | uuid.UUID
    line: int
    booking_date: date
    value_date: date | None
    amount: Decimal
    currency: str
    excess_precision: bool
    reference: str
    bank_reference: str
    entry_reference: str
    end_to_end_id: str
    creditor_reference: str
    description: str
    counterparty_name: str
    counterparty_iban: str
    bank_transaction_code: str
    is_reversal: bool
    batch_count: int | None
    details: str
    account_key: str
    fingerprint: str
    match_status: str
    close_reason: str
    close_note: str


SOURCE_ENTRY_COLUMNS: Final = SourceEntryRow._fields


def source_entry_copy(rows: Iterable[SourceEntryRow]) -> int:
    """Binary COPY of `rows` into the source entry table; returns the count."""
    return copy_rows(
        SourceEntry._meta.db_table,
        SOURCE_ENTRY_COLUMNS,
        rows,
        types=column_types(SourceEntry, SOURCE_ENTRY_COLUMNS),
    )


class _EntryWriter:
    """Streams parsed entries into SourceEntry rows, skipping duplicates.

    The rows go through one binary COPY for the whole file when nothing can be a
    duplicate (the account's first import), else one COPY per batch, since the duplicate
    lookup of the next batch needs the connection between them. Ids are drawn in bulk as
    raw bytes (time-ordered UUIDs, as `new_id` makes, without a syscall and an object per
    row).
    """

    def __init__(
        self,
        *,
        run: Run,
        source_file: SourceFile,
        router: _AccountRouter,
        account_hint: str | None,
        dedupe: bool,
    ):
        self.run = run
        self.source_file = source_file
        self.router = router
        self.account_hint = account_hint  # a CSV's own account, for its only statement
        self.statement_ids: dict[int, uuid.UUID] = {}
        self.key_of_statement: dict[int, str | None] = {}
        self.imported_by_statement: dict[int, int] = defaultdict(int)
        self._index_of: dict[bytes, int] = {}
        self.occurrences: dict[bytes, int] = defaultdict(int)
        # A run without an account keys its entries by their statement's IBAN ("" when it
        # names none), but its fingerprints hash "" as they did when every entry was keyed
        # so: they stay comparable across those keys (`_earlier_entries`), including with
        # entries imported before; the key keeps accounts apart, and the occurrence is
        # counted per account.
        self._by_statement_iban = not router.bound and run.account_id is None
        self.imported = 0
        self.skipped_duplicates = 0
        # The accounts whose entries an earlier import may hold; none (the account's first
        # import) means nothing to collide with, so the lookups are skipped entirely.
        self._earlier: dict[str, bool] = {}
        self.may_collide = False
        if dedupe:
            if router.bound:
                self.may_collide = any(map(self._has_earlier, router.candidate_keys()))
            else:
                # The file's IBANs are known only as it streams: any earlier entry of the
                # ledger means batches, each key then checked once (`_has_earlier`).
                self.may_collide = (
                    SourceEntry.objects.filter(ledger_id=run.ledger_id)
                    .exclude(source_file=source_file)
                    .exists()
                )
        self._ids = raw_id_stream()
        self._constants = (run.pk.bytes, source_file.pk.bytes)
        self._ledger = run.ledger_id.bytes
        self._statement: tuple[int, bytes, str | None] = (-1, b"", None)

    def write(self, entries: Iterable[ParsedEntry]) -> None:
        rows = filter(None, map(self._row, entries))
        if not self.may_collide:
            self.imported += source_entry_copy(map(self._counted, rows))
            return
        batch: list[SourceEntryRow] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= BATCH_ROWS:
                self._flush(batch)
                batch = []
        if batch:
            self._flush(batch)

    def _counted(self, row: SourceEntryRow) -> SourceEntryRow:
        self.imported_by_statement[self._index_of[row.statement_id]] += 1  # type: ignore[index]
        return row

    def _statement_id(self, entry: ParsedEntry) -> tuple[bytes, str | None]:
        index = entry.statement_index
        statement_id = self.statement_ids.get(index)
        if statement_id is None:
            statement_id = self.statement_ids[index] = new_id()
            self._index_of[statement_id.bytes] = index
        key = self.router.key(entry.account_iban or self.account_hint)
        if index not in self.key_of_statement:
            self.key_of_statement[index] = key
        self._statement = (index, statement_id.bytes, key)
        return self._statement[1], key

    def _row(self, entry: ParsedEntry) -> SourceEntryRow | None:
        index, statement_id, account_key = self._statement
        if index != entry.statement_index:
            statement_id, account_key = self._statement_id(entry)
        if account_key is None:
            return None  # an account the ledger does not know: the import fails at the end
        description = (entry.description or "")[:MAX_DESCRIPTION]
        reference = (
            entry.end_to_end_id
            or entry.creditor_reference
            or entry.bank_reference
            or entry.entry_reference
            or ""
        )
        by_statement_iban = self._by_statement_iban
        base = hashlib.blake2b(
            "\x1f".join(
                (
                    "" if by_statement_iban else account_key,
                    entry.booking_date.isoformat(),
                    format(entry.amount.normalize(), "f"),
                    entry.currency,
                    reference,
                    description,
                )
            ).encode(),
            digest_size=16,
        ).digest()
        counted = base + account_key.encode() if by_statement_iban else base
        occurrence = self.occurrences[counted] = self.occurrences[counted] + 1
        run_id, source_file_id = self._constants
        # Positional, in field order: keyword arguments cost a second per million rows.
        return SourceEntryRow(
            next(self._ids),
            run_id,
            source_file_id,
            statement_id,
            self._ledger,
            entry.line,
            entry.booking_date,
            entry.value_date,
            entry.amount,
            entry.currency,
            entry.excess_precision,
            reference[:256],
            (entry.bank_reference or "")[:128],
            (entry.entry_reference or "")[:128],
            (entry.end_to_end_id or "")[:128],
            (entry.creditor_reference or "")[:128],
            description,
            (entry.counterparty_name or "")[:256],
            (entry.counterparty_iban or "")[:34],
            (entry.bank_transaction_code or "")[:64],
            entry.is_reversal,
            entry.batch_count,
            _details_json(entry.details, charges=entry.charges) if entry.details else "[]",
            account_key,
            f"{base.hex()}:{occurrence}",
            SourceEntryMatchStatus.UNMATCHED.value,
            "",
            "",
        )

    def _earlier_entries(self, key: str) -> QuerySet[SourceEntry]:
        """Entries of earlier imports that rows keyed `key` could duplicate.

        A run without an account keys by the statement's IBAN, and "" where the statement
        names none (or the entry was imported before entries were keyed by IBAN): such an
        entry may be any account's, so it is compared with every account's, and every
        account's with it."""
        earlier = SourceEntry.objects.filter(ledger_id=self.run.ledger_id).exclude(
            source_file=self.source_file
        )
        if not self._by_statement_iban:
            return earlier.filter(account_key=key)
        if not key:
            return earlier
        return earlier.filter(account_key__in=[key, ""])

    def _has_earlier(self, key: str) -> bool:
        """Whether an earlier import holds entries `key`'s rows could duplicate (once per
        key and file: none means nothing to look up)."""
        found = self._earlier.get(key)
        if found is None:
            found = self._earlier[key] = self._earlier_entries(key).exists()
        return found

    def _existing(self, batch: list[SourceEntryRow], key: str) -> tuple[set[str], set[str]]:
        refs = {row.bank_reference for row in batch if row.bank_reference}
        fingerprints = {row.fingerprint for row in batch}
        found = (
            self._earlier_entries(key)
            .filter(Q(bank_reference__in=refs) | Q(fingerprint__in=fingerprints))
            .values_list("bank_reference", "fingerprint")
        )
        known_refs, known_fps = set(), set()
        for ref, fp in found:
            if ref in refs:
                known_refs.add(ref)
            known_fps.add(fp)
        return known_refs, known_fps

    def _flush(self, batch: list[SourceEntryRow]) -> None:
        by_key: dict[str, list[SourceEntryRow]] = defaultdict(list)
        for row in batch:
            by_key[row.account_key].append(row)
        keep: list[SourceEntryRow] = []
        for key, rows in by_key.items():
            if not self._has_earlier(key):
                keep.extend(rows)
                continue
            known_refs, known_fps = self._existing(rows, key)
            # The bank's own reference decides when there is one; else the fingerprint.
            keep.extend(
                row
                for row in rows
                if not (
                    row.bank_reference in known_refs
                    if row.bank_reference
                    else row.fingerprint in known_fps
                )
            )
        self.skipped_duplicates += len(batch) - len(keep)
        if keep:
            self.imported += source_entry_copy(map(self._counted, keep))


_DETAIL_FIELDS: dict[type, tuple[str, ...]] = {}


def _details_json(details: Sequence[Any], *, charges: Decimal | None = None) -> str:
    """The details as JSON. The charges a bank reports on an entry of one payment are
    that payment's (the matcher explains a fee difference with them): a sole detail
    without charges of its own carries the entry's."""
    if charges is not None and len(details) == 1 and details[0].charges is None:
        details = [replace(details[0], charges=charges)]
    out = []
    for detail in details:
        names = _DETAIL_FIELDS.get(type(detail))
        if names is None:
            names = _DETAIL_FIELDS[type(detail)] = tuple(detail.__dataclass_fields__)
        item = {}
        for name in names:
            value = getattr(detail, name)
            if value is not None:
                item[name] = str(value) if isinstance(value, Decimal) else value
        out.append(item)
    return json.dumps(out)


def source_file_delete(*, source_file: SourceFile, actor: AbstractBaseUser | None) -> None:
    """Delete a file with its entries and whatever was built on them (matches, discrepancies).

    A match that also links entries of other files is deleted whole; those entries and the
    GL entries it linked get their statuses recomputed.
    """
    from reconciliation.models import Match
    from reconciliation.services.entries import (
        ledger_entries_refresh_status,
        source_entries_refresh_status,
    )

    with transaction.atomic():
        run = run_lock(run_id=source_file.run_id)
        run_validate_open(run=run)
        matches = Match.objects.filter(
            source_links__source_entry__source_file=source_file
        ).distinct()
        match_ids = list(matches.values_list("pk", flat=True))
        gl_ids = list(
            Match.objects.filter(pk__in=match_ids).values_list(
                "ledger_links__ledger_entry_id", flat=True
            )
        )
        other_entry_ids = list(
            SourceEntry.objects.filter(match_links__match_id__in=match_ids)
            .exclude(source_file=source_file)
            .values_list("pk", flat=True)
        )
        snapshot = {
            "filename": source_file.filename,
            "status": source_file.status,
            "imported": source_file.imported_count,
            "matches_deleted": len(match_ids),
        }
        file_id = source_file.pk
        Match.objects.filter(pk__in=match_ids).delete()
        source_file.delete()
        ledger_entries_refresh_status(ledger_entry_ids=[i for i in gl_ids if i])
        source_entries_refresh_status(source_entry_ids=other_entry_ids)
        run_audit(
            run=run,
            actor=actor,
            action="source_file.deleted",
            subject_type="source_file",
            subject_id=file_id,
            before=snapshot,
        )
