"""CSV bank statements as banks really export them, streamed into `ParsedEntry` values.

`read_csv_statement()` does the bounded work up front, on a sample of the file: encoding,
separator, header row (found by scoring rows against known header names, preamble lines
before it are read for balances), column roles, decimal separator and day/month order.
`CsvStatementReader.entries()` then streams every row. Decisions that the sample cannot
settle (a month of dates that are all ≤ 12) make it read on, buffering rows, until a value
settles them; a file where nothing does is an `ambiguous_date_format` error, never a guess.

Rows are classified as they come: data rows become entries; rows with `Pending` or no date
and rows whose status is pending/failed are skipped and counted; footer and summary lines
(fewer fields, `Total`, balance lines) are skipped with a warning; a row that looks like
data but cannot be read is a ParseError naming its physical line.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterator
from itertools import chain
from typing import BinaryIO, Final

from ledgers.money import MINOR_UNITS
from reconciliation.parsers.csv_dates import DateOrderVote, DateReader
from reconciliation.parsers.csv_decoding import (
    SAMPLE_BYTES,
    LineSource,
    detect_encoding,
    explicit_encoding,
    read_sample,
    sample_text,
    single_byte_alternatives,
)
from reconciliation.parsers.csv_headers import (
    DAY_FIRST_HEADERS,
    MAX_COLUMNS,
    SUMMARY_WORDS,
    assign_columns,
    find_header,
    header_currency,
    header_has_names,
    mapping_references,
    normalise,
    sniff_delimiter,
    snippet_list,
    starts_with_any,
)
from reconciliation.parsers.csv_numbers import (
    AmountTextError,
    DecimalSeparator,
    DecimalVote,
)
from reconciliation.parsers.csv_preamble import StatedFacts
from reconciliation.parsers.csv_rows import RowReader
from reconciliation.parsers.types import (
    CsvMapping,
    FileFormat,
    ParsedEntry,
    ParseError,
    ParseWarning,
    StatementInfo,
    UnsupportedFormatError,
)

FIELD_LIMIT: Final = 100 * 1024
SAMPLE_CHARS: Final = 64 * 1024
# Rows held at most while the day/month order is still open: a busy account's first twelve
# days of a month, at tens of MB; a file still undecided after that needs a date_format.
DECISION_ROWS: Final = 50_000
MAX_WARNINGS: Final = 1000
_QUOTE: Final = '"'
_IBAN: Final = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")


def read_csv_statement(
    stream: BinaryIO, *, default_currency: str, mapping: CsvMapping | None = None
) -> CsvStatementReader:
    """Open a CSV statement; raises ParseError when its structure cannot be understood.

    Sets the process-wide `csv.field_size_limit` to 100 KB: the stdlib has no per-reader
    limit, and no other code in this service reads CSV fields larger than that.
    """
    currency = default_currency.strip().upper()
    if currency not in MINOR_UNITS:
        raise ParseError(f"unknown currency {default_currency[:10]!r}", code="currency_invalid")
    if csv.field_size_limit() != FIELD_LIMIT:
        csv.field_size_limit(FIELD_LIMIT)
    return CsvStatementReader(stream, default_currency=currency, mapping=mapping)


HEADER_PROBE_LINES: Final = 60


def _has_header(sample: bytes, encoding: str) -> bool:
    """Does the sample, read in `encoding`, have a header row we recognise?"""
    text = sample_text(sample, encoding)
    if text is None:
        return False
    lines = text.splitlines()[:HEADER_PROBE_LINES]
    try:
        rows = list(csv.reader(lines, delimiter=sniff_delimiter(lines, ()), quotechar=_QUOTE))
    except csv.Error:
        return False
    return find_header(rows) is not None


def _choose_encoding(sample: bytes, *, complete: bool) -> tuple[str, int]:
    """The detected encoding, unless its text has no header row and another code page's
    does. A bank CSV's header is its most certain text: on a short single-byte file whose
    only letters are the header's ('Дата операции' in cp1251), byte statistics cannot tell
    cp1251 from koi8-r or Hebrew cp1255, or find no encoding at all; the header can."""
    try:
        encoding, bom = detect_encoding(sample, complete=complete)
    except UnsupportedFormatError:
        if b"\x00" in sample:
            raise  # binary: no code page makes it text
        encoding, bom = "", 0
    if bom or encoding.startswith(("utf-8", "utf-16", "utf-32")):
        return encoding, bom
    if encoding and _has_header(sample, encoding):
        return encoding, bom
    for alternative in single_byte_alternatives(sample):
        if alternative != encoding and _has_header(sample, alternative):
            return alternative, 0
    if not encoding:
        raise UnsupportedFormatError("the file is not text in any known encoding")
    return encoding, bom


class CsvStatementReader:
    """One CSV file = one statement (index 0). Call `entries()` once."""

    format: FileFormat = "csv"

    def __init__(
        self, stream: BinaryIO, *, default_currency: str, mapping: CsvMapping | None
    ) -> None:
        self.default_currency = default_currency
        self.mapping = mapping
        self.statements: list[StatementInfo] = [StatementInfo(index=0)]
        self.warnings: list[ParseWarning] = []
        self._consumed = False

        sample = read_sample(stream)
        if not sample.strip(b" \t\r\n\x00"):
            raise UnsupportedFormatError("the file is empty")
        complete = len(sample) < SAMPLE_BYTES
        if mapping and mapping.encoding:
            self.encoding, bom = explicit_encoding(mapping.encoding, sample)
        else:
            self.encoding, bom = _choose_encoding(sample, complete=complete)
        self.had_bom = bom > 0
        self._source = LineSource(sample[bom:], stream, self.encoding)
        lines = iter(self._source)
        sample_lines = self._sample_lines(lines)

        self.delimiter = self._delimiter(sample_lines)
        self._last_line = ""
        self._csv = csv.reader(
            self._remember(chain(sample_lines, lines)), delimiter=self.delimiter, quotechar=_QUOTE
        )
        self._end = 0  # last physical line the csv reader has consumed
        head = self._read_rows(len(sample_lines))

        header_pos = self._header_position(head)
        names = head[header_pos][1] if header_pos is not None else []
        self.header_line: int | None = head[header_pos][0] if header_pos is not None else None
        self._header_norm = [normalise(cell) for cell in names]
        preamble = head[:header_pos] if header_pos is not None else []
        self._buffer = head[header_pos + 1 :] if header_pos is not None else head
        self._width = _width(names, self._buffer[:200])
        data_sample = _content_sample(self._buffer[:500], self._width)
        self._columns = assign_columns(list(names), self._width, data_sample, mapping)
        self._check_columns(names, head)
        self.columns = self._columns.describe()

        self._stated = StatedFacts()
        for _, row in preamble:
            self._stated.read_line(row)
        # The account the preamble names, known before any row is read (the import routes
        # the entries by it); an account column's value is only final at the end.
        compact = "".join((self._stated.account or "").split()).upper()
        self.account_iban_hint = compact if _IBAN.fullmatch(compact) else None
        self._decide()

    # --- set-up --------------------------------------------------------------------------

    @staticmethod
    def _sample_lines(lines: Iterator[str]) -> list[str]:
        taken: list[str] = []
        size = 0
        for line in lines:
            taken.append(line)
            size += len(line)
            if size >= SAMPLE_CHARS:
                break
        text = "".join(taken)
        if "\x00" in text or _control_ratio(text) > 0.05:
            raise UnsupportedFormatError("the file is binary, not a text (CSV) file")
        if not text.strip():
            raise UnsupportedFormatError("the file is empty")
        return taken

    def _delimiter(self, sample_lines: list[str]) -> str:
        if self.mapping and self.mapping.delimiter:
            delimiter = self.mapping.delimiter
            if len(delimiter) != 1 or delimiter in "\r\n" + _QUOTE:
                raise ParseError(
                    "the mapping's delimiter must be one character", code="mapping_invalid"
                )
            return delimiter
        return sniff_delimiter(sample_lines, _named_references(self.mapping))

    def _next_row(self) -> tuple[int, list[str]] | None:
        """The next csv row with its starting physical line, or None at the end."""
        try:
            row = next(self._csv)
        except StopIteration:
            return None
        except csv.Error as exc:
            raise self._csv_error(exc) from None
        start = self._end + 1
        self._end = self._csv.line_num
        if len(row) > MAX_COLUMNS:
            raise ParseError(
                f"a row has {len(row)} columns (at most {MAX_COLUMNS})",
                code="too_many_columns",
                line=start,
            )
        if '"' in "".join(row):
            self._repair_quotes(start, row)
        return start, row

    def _remember(self, lines: Iterator[str]) -> Iterator[str]:
        """Pass lines to the csv reader, keeping the last one for `_repair_quotes`."""
        for line in lines:
            self._last_line = line
            yield line

    def _repair_quotes(self, start: int, row: list[str]) -> None:
        """A field with a stray quote (Rabobank: the opening quote is missing).

        Only a row on one physical line can be checked against its raw text. The row kept
        its field count (checked when it is read), so the quote swallowed no separator:
        the stray quote is dropped and the row read, with a warning.
        """
        if start != self._end:
            return
        for idx in stray_quote_fields(self._last_line, self.delimiter):
            if idx < len(row):
                row[idx] = row[idx].strip(_QUOTE)
                self.warn(
                    "malformed_quote",
                    f"stray quote in column {idx + 1}; the quote was dropped",
                    start,
                )

    def _csv_error(self, exc: csv.Error) -> ParseError:
        text = str(exc)
        if "field larger than field limit" in text:
            return ParseError(
                f"a field is longer than {FIELD_LIMIT // 1024} KB",
                code="field_too_large",
                line=self._end + 1,
            )
        return ParseError(f"malformed CSV: {text[:80]}", code="csv_malformed", line=self._end + 1)

    def _read_rows(self, sample_line_count: int) -> list[tuple[int, list[str]]]:
        rows: list[tuple[int, list[str]]] = []
        while self._end < sample_line_count:
            item = self._next_row()
            if item is None:
                break
            if item[1]:
                rows.append(item)
        return rows

    def _header_position(self, head: list[tuple[int, list[str]]]) -> int | None:
        mapping = self.mapping
        if mapping and mapping.header_row is not None:
            for pos, (line, _) in enumerate(head):
                if line == mapping.header_row:
                    return pos
            raise ParseError(
                f"the mapping's header_row {mapping.header_row} is not a row of the file's start",
                code="mapping_invalid",
            )
        rows = [row for _, row in head]
        refs = mapping_references(mapping) if mapping else {}
        named = _named_references(mapping)
        if named:
            for pos, row in enumerate(rows[:40]):
                if header_has_names(row, named):
                    return pos
            raise ParseError(
                f"no row of the file has the mapping's columns ({snippet_list(named, 6)}); "
                f"columns seen: {_columns_seen(rows)}",
                code="mapping_invalid",
            )
        found = find_header(rows)
        if found is None and not refs:
            raise ParseError(
                "no header row with a date and an amount column found; set a mapping. "
                f"Columns seen: {_columns_seen(rows)}",
                code="header_not_found",
            )
        return found

    def _check_columns(self, names: list[str], head: list[tuple[int, list[str]]]) -> None:
        single = self._columns.single
        missing = []
        if "booking_date" not in single:
            missing.append("date")
        if not any(key in single for key in ("amount", "debit", "credit")):
            missing.append("amount")
        if missing:
            shown = names or _first_wide_row([row for _, row in head])
            raise ParseError(
                f"no {' or '.join(missing)} column recognised; set a mapping. "
                f"Columns seen: {snippet_list(shown, 8)}",
                code="header_not_found",
            )

    def _decide(self) -> None:
        """Decimal separator and day/month order from the sample, reading on if needed."""
        mapping = self.mapping
        cols = self._columns.single
        money = [cols[k] for k in ("amount", "debit", "credit", "balance") if k in cols]
        dates = sorted({cols[k] for k in ("booking_date", "value_date") if k in cols})
        self._decimals = DecimalVote()
        self._orders = DateOrderVote()
        fixed_decimal = mapping.decimal_separator if mapping else None
        booking = cols["booking_date"]
        names = self._header_norm
        day_first_names = booking < len(names) and names[booking] in DAY_FIRST_HEADERS
        fixed_format = mapping.date_format if mapping else None
        for line, row in self._buffer:
            self._vote(line, row, money, dates)
        while True:
            decimal = fixed_decimal or self._decimals.decision()
            order = self._orders.decision(day_first_hint=decimal == "," or day_first_names)
            needs_decimal = decimal is None and self._decimals.ambiguous > 0
            needs_order = not fixed_format and order is None and self._orders.ordered > 0
            if not (needs_decimal or needs_order):
                break
            if len(self._buffer) >= DECISION_ROWS:
                break
            item = self._next_row()
            if item is None:
                break
            if item[1]:
                self._buffer.append(item)
                self._vote(*item, money, dates)
        if needs_order:
            self._raise_ambiguous_dates()
        if needs_decimal:
            raise ParseError(
                "cannot tell whether ',' or '.' is the decimal separator (every amount looks "
                "like '1,234'); set decimal_separator in the mapping",
                code="ambiguous_decimal_separator",
            )
        self.decimal_separator: DecimalSeparator | None = decimal
        self.date_order = None if fixed_format else order
        self._dates = DateReader(order=self.date_order, date_format=fixed_format)
        if not self._buffer and self._source_exhausted():
            raise ParseError("the file has a header but no transaction rows", code="no_entries")

    def _source_exhausted(self) -> bool:
        item = self._next_row()
        while item is not None and not item[1]:
            item = self._next_row()
        if item is None:
            return True
        self._buffer.append(item)
        return False

    def _vote(self, line: int, row: list[str], money: list[int], dates: list[int]) -> None:
        width = len(row)
        for idx in money:
            if idx < width and row[idx]:
                try:
                    self._decimals.add(row[idx], line)
                except AmountTextError:
                    continue  # a footer or a bad row; reported when the row is read
                if self._decimals.conflicting:
                    raise ParseError(
                        "amounts use both ',' and '.' as decimal separator (first "
                        f"{'comma' if self._decimals.first_comma_line == line else 'point'} "
                        "here); set decimal_separator in the mapping",
                        code="decimal_separator_conflict",
                        line=line,
                    )
        for idx in dates:
            if idx < width and row[idx].strip():
                self._orders.add(row[idx])
                if self._orders.contradictory:
                    raise ParseError(
                        "dates in this file are written both day/month and month/day; "
                        "set date_format in the mapping",
                        code="date_format_conflict",
                        line=line,
                    )

    def _raise_ambiguous_dates(self) -> None:
        example = ""
        date_idx = self._columns.single["booking_date"]
        for _, row in self._buffer:
            if date_idx < len(row) and row[date_idx].strip():
                example = row[date_idx].strip()[:20]
                break
        raise ParseError(
            f"cannot tell day from month: every date (e.g. {example!r}) reads both ways and "
            "nothing else in the file decides; set date_format in the mapping, e.g. "
            "'%d/%m/%Y' or '%m/%d/%Y'",
            code="ambiguous_date_format",
        )

    # --- streaming -------------------------------------------------------------------------

    def entries(self) -> Iterator[ParsedEntry]:
        if self._consumed:
            raise RuntimeError("entries() can only be iterated once")
        self._consumed = True
        return self._entries()

    def _entries(self) -> Iterator[ParsedEntry]:
        state = RowReader(
            columns=self._columns,
            width=self._width,
            header_norm=self._header_norm,
            decimal=self.decimal_separator,
            dates=self._dates,
            default_currency=(
                header_currency(self._columns) or self.default_currency
                if "currency" not in self._columns.single
                else self.default_currency
            ),
            invert_sign=bool(self.mapping and self.mapping.invert_sign),
            warn=self.warn,
            sample=[row for _, row in self._buffer[:500]],
            stated=self._stated,
        )
        read = state.read
        buffered, self._buffer = self._buffer, []
        for line, row in buffered:
            entry = read(line, row)
            if entry is not None:
                yield entry
        del buffered
        # the hot loop: straight over the csv reader, line numbers from its counter
        reader = self._csv
        end = self._end
        try:
            for row in reader:
                start = end + 1
                end = reader.line_num
                if row:
                    if '"' in "".join(row):
                        self._end = end
                        self._repair_quotes(start, row)
                    entry = read(start, row)
                    if entry is not None:
                        yield entry
        except csv.Error as exc:
            self._end = end
            raise self._csv_error(exc) from None
        self._end = end
        if state.data_rows == 0:
            raise ParseError("the file has a header but no transaction rows", code="no_entries")
        self.statements = [state.statement()]

    def warn(self, code: str, message: str, line: int | None) -> None:
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(ParseWarning(code=code, message=message, line=line))
        elif len(self.warnings) == MAX_WARNINGS:
            self.warnings.append(
                ParseWarning(code="warnings_truncated", message="further warnings omitted")
            )


def stray_quote_fields(line: str, delimiter: str) -> list[int]:
    """Indexes of fields in a raw line that hold a quote without being quoted."""
    text = line.rstrip("\r\n")
    broken: list[int] = []
    pos = field = 0
    while pos <= len(text):
        if text.startswith(_QUOTE, pos):
            pos += 1
            while pos < len(text):
                if text[pos] == _QUOTE:
                    if text.startswith(_QUOTE, pos + 1):
                        pos += 2
                        continue
                    pos += 1
                    break
                pos += 1
            end = text.find(delimiter, pos)
        else:
            end = text.find(delimiter, pos)
            if _QUOTE in text[pos : end if end >= 0 else len(text)]:
                broken.append(field)
        if end < 0:
            break
        pos = end + 1
        field += 1
    return broken


def _named_references(mapping: CsvMapping | None) -> list[str]:
    """The mapping's column references that are header names (not 0-based indexes)."""
    refs = mapping_references(mapping) if mapping else {}
    return [
        ref
        for value in refs.values()
        for ref in (value if isinstance(value, tuple) else (value,))
        if not ref.strip().isdigit()
    ]


def _control_ratio(text: str) -> float:
    if not text:
        return 0.0
    controls = sum(1 for c in text if c < " " and c not in "\t\r\n")
    return controls / len(text)


def _width(names: list[str], rows: list[tuple[int, list[str]]]) -> int:
    """The header's field count, unless most rows are wider (M&S: an unnamed last column)."""
    widths = Counter(len(row) for _, row in rows)
    if not widths:
        return len(names)
    modal, count = max(widths.items(), key=lambda item: (item[1], item[0]))
    if not names or (modal > len(names) and count * 2 > len(rows)):
        return modal
    return len(names)


def _content_sample(rows: list[tuple[int, list[str]]], width: int) -> list[list[str]]:
    """Sampled rows that look like data: full width and not a total or balance line."""
    sample = []
    for _, row in rows:
        if len(row) < width:
            continue
        first = next((cell for cell in row if cell.strip()), "")
        if not starts_with_any(normalise(first), SUMMARY_WORDS):
            sample.append(row)
    return sample


def _first_wide_row(rows: list[list[str]]) -> list[str]:
    return max(rows[:10], key=len) if rows else []


def _columns_seen(rows: list[list[str]]) -> str:
    return snippet_list(_first_wide_row(rows), 8) or "none"
