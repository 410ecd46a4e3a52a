"""Streaming reader for ISO 20022 camt.053 bank-to-customer statements.

Every version from camt.053.001.02 to .001.14 is read by local element names, so the
namespace (or its absence, or a `<message>` envelope around an AppHdr and the Document)
does not matter. Real files are often schema-invalid; whatever can still be understood is
imported with a warning (elements out of order, no `Sts`, a balance without `CdtDbtInd`,
no booking date), and what cannot is a ParseError naming the element path, e.g.
`Stmt[1]/Ntry[3]/Amt` (1-based, per statement), plus the source line.

Streaming: `iterparse_safe` reports only the end of each `Ntry`, `Stmt` and `GrpHdr`. An
entry is read when its `Ntry` ends; the statement's other children (Id, Acct, Bal, ...)
are read as soon as a later `Ntry` or the `Stmt` itself ends, then everything read is
cleared and unlinked. At most one entry's subtree is in memory whatever the file size.
Statement metadata (balances, sequence numbers, counts) is complete once `entries()` is
exhausted.

Speed: a million-entry file is the design load. lxml builds a new proxy object and tag
string for every element it hands to Python, and that is most of the cost of reading an
entry, so each element on the way (`Ntry`, `TxDtls`, `RltdPties`, ...) is passed over once,
its children filed by local name, and subtrees nobody asks for are never entered. Nothing
is wrapped or kept once the entry is built.

`ParsedEntry.line` and `ParseWarning.line` carry the entry's 1-based `Ntry` index in the
file (counting skipped entries too), the same number the error messages quote.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import BinaryIO, Final

from lxml.etree import _Element

from ledgers.money import (
    AMOUNT_DECIMAL_PLACES,
    AMOUNT_MAX_DIGITS,
    MINOR_UNITS,
    AmountError,
    is_known_currency,
    parse_amount,
)
from reconciliation.parsers.types import (
    FileFormat,
    ParsedEntry,
    ParseError,
    ParseWarning,
    StatementInfo,
    TransactionDetail,
)
from reconciliation.parsers.xmlsafe import iterparse_safe

# Each warning code is listed this many times; the rest are summarised in one line, so a
# million entries without `Sts` cannot turn into a million warnings held in memory.
WARNINGS_PER_CODE: Final = 20
DESCRIPTION_MAX_CHARS: Final = 500

_EVENT_TAGS: Final = ("Ntry", "Stmt", "GrpHdr")
_PENDING: Final = frozenset({"PDNG", "FUTR"})
_NOT_PROVIDED: Final = "NOTPROVIDED"

# xs:decimal as ISO 20022 uses it: no exponent, no sign (direction is CdtDbtInd's job).
_AMOUNT_RE: Final = re.compile(r"\+?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_DATE_RE: Final = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})(?:Z|[+-][0-9]{2}:[0-9]{2})?")
_DATETIME_RE: Final = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:[.,][0-9]{1,12})?(?:Z|[+-][0-9]{2}:?[0-9]{2})?"
)
_WHOLE_DIGITS: Final = AMOUNT_MAX_DIGITS - AMOUNT_DECIMAL_PLACES
_INTEGER_RE: Final = re.compile(r"\+?[0-9]{1,18}")
_COUNT_RE: Final = re.compile(r"[0-9]{1,15}")

# Date texts repeat across a statement (a year has 366 days), so parsing each distinct one
# once saves a regex match and a date construction per entry. Only texts of a date's length
# are kept, and the cache is cleared when full, so a hostile file with a million distinct
# (or megabyte-long) timestamps cannot grow it.
_DATE_CACHE: dict[str, date | None] = {}
_DATE_CACHE_MAX: Final = 4096
_DATE_CACHE_KEY_CHARS: Final = 64


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    return text.strip() or None


class _LocalNames(dict[object, str]):
    """`{urn:...:camt.053.001.08}Amt` -> `Amt`, remembered.

    lxml builds a fresh tag string for every element it hands to Python, and looking the
    local name up costs a third of cutting the namespace off again. A file uses a few dozen
    tags; the bounds stop a hostile one with endless distinct (or very long) names from
    growing this, since it outlives the parse.

    Keys are typed `object` because lxml types `tag` as anything a program may assign
    (str, bytes, QName); a parsed element's tag is always a str (xmlsafe drops comments and
    processing instructions, whose tag is a function).
    """

    def __missing__(self, tag: object) -> str:
        if not isinstance(tag, str):
            raise TypeError(f"not a parsed element's tag: {tag!r}")
        name = tag[tag.rfind("}") + 1 :]
        if len(self) < _NAMES_MAX and len(tag) <= _NAMES_KEY_CHARS:
            self[tag] = name
        return name


_NAMES_MAX: Final = 1024
_NAMES_KEY_CHARS: Final = 256
_NAMES: Final = _LocalNames()


def _local(tag: object) -> str:
    return _NAMES[tag]


def _parse_date(text: str) -> date | None:
    """Calendar date of an ISO date or date-time, in the offset the bank wrote.

    A `DtTm` of 23:30-05:00 is booked that day in the bank's time zone; converting to UTC
    first would move it to the next day and break matching against the ledger.
    """
    try:
        return _DATE_CACHE[text]
    except KeyError:
        pass
    value = _date_of(text)
    if len(text) <= _DATE_CACHE_KEY_CHARS:
        if len(_DATE_CACHE) >= _DATE_CACHE_MAX:
            _DATE_CACHE.clear()
        _DATE_CACHE[text] = value
    return value


def _date_of(text: str) -> date | None:
    match = _DATE_RE.fullmatch(text)
    if match is None:
        match = _DATETIME_RE.fullmatch(text)
        if match is None:
            return None
        hour, minute, second = (int(match.group(i)) for i in (2, 3, 4))
        if hour > 24 or minute > 59 or second > 60:  # 24:00 and leap seconds are ISO 8601
            return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None


def _exact_amount(text: str, currency: str) -> tuple[Decimal, bool]:
    """`parse_amount(text, currency)` for text that matched `_AMOUNT_RE`, decided from the
    digits when they are plainly in range.

    Text of that shape is a finite, unsigned decimal, so its size and precision can be read
    off the digits: fewer than 19 before the point and at most `AMOUNT_DECIMAL_PLACES`
    significant ones after it is what `check_amount` accepts, and more significant decimals
    than the currency's minor units is what `has_excess_precision` flags. parse_amount's
    Decimal round trips cost more than the rest of reading an amount; anything out of range
    still goes through it, for the same error.
    """
    whole, _point, fraction = text.partition(".")
    places = len(fraction.rstrip("0"))
    if places <= AMOUNT_DECIMAL_PLACES and len(whole.lstrip("+0")) <= _WHOLE_DIGITS:
        return Decimal(text), places > MINOR_UNITS[currency]
    return parse_amount(text, currency)


def _credit(indicator: str | None) -> bool | None:
    if indicator is None:
        return None
    code = indicator.upper()
    if code == "CRDT":
        return True
    if code == "DBIT":
        return False
    return None


def _signed(value: Decimal, credit: bool) -> Decimal:
    # Never produce Decimal("-0.00"): a zero amount has no direction.
    return value if credit or not value else -value


# --- element access -------------------------------------------------------------------
#
# Every lookup means "the first child with this local name", as in the schema; `_all` is
# for the few elements that repeat. Comments and processing instructions never reach here
# (xmlsafe drops them), so every child's tag is a string.


def _children(element: _Element) -> tuple[dict[str, _Element], set[str] | None]:
    """The first child of each local name, and the names that occur more than once."""
    first: dict[str, _Element] = {}
    repeated: set[str] | None = None
    names = _NAMES
    # Slicing hands over all children in one call, cheaper than lxml's child iterator.
    for child in element[:]:
        name = names[child.tag]
        if name not in first:
            first[name] = child
        elif repeated is None:
            repeated = {name}
        else:
            repeated.add(name)
    return first, repeated


def _all(
    element: _Element, first: dict[str, _Element], repeated: set[str] | None, name: str
) -> list[_Element]:
    """Every child called `name`, in document order (`first`/`repeated` from `_children`)."""
    found = first.get(name)
    if found is None:
        return []
    if repeated is None or name not in repeated:
        return [found]
    return [child for child in element[:] if _NAMES[child.tag] == name]


def _first(element: _Element | None, name: str) -> _Element | None:
    """First child called `name`: for small elements, cheaper than indexing them."""
    if element is None:
        return None
    names = _NAMES
    for child in element[:]:
        if names[child.tag] == name:
            return child
    return None


def _pair(
    element: _Element | None, one: str, other: str
) -> tuple[_Element | None, _Element | None]:
    """The first child called `one` and the first called `other`, in one pass."""
    found_one = found_other = None
    if element is not None:
        names = _NAMES
        for child in element[:]:
            name = names[child.tag]
            if name == one:
                if found_one is None:
                    found_one = child
                    if found_other is not None:
                        break
            elif name == other and found_other is None:
                found_other = child
                if found_one is not None:
                    break
    return found_one, found_other


def _first_text(element: _Element | None, *path: str) -> str | None:
    """Stripped text at `path` (each step: the first child of that name); None if blank."""
    for name in path:
        element = _first(element, name)
    if element is None:
        return None
    text = element.text
    return None if text is None else text.strip() or None


def _text(element: _Element | None) -> str | None:
    if element is None:
        return None
    text = element.text
    return None if text is None else text.strip() or None


class _Warnings:
    """Collects warnings, listing only the first few of each code."""

    def __init__(self, sink: list[ParseWarning]) -> None:
        self._sink = sink
        self._counts: Counter[str] = Counter()

    def add(self, code: str, message: str, line: int | None = None) -> None:
        self._counts[code] += 1
        if self._counts[code] <= WARNINGS_PER_CODE:
            self._sink.append(ParseWarning(code=code, message=message, line=line))

    def flush(self) -> None:
        for code, count in sorted(self._counts.items()):
            if count > WARNINGS_PER_CODE:
                hidden = count - WARNINGS_PER_CODE
                self._sink.append(
                    ParseWarning(code=code, message=f"{hidden} more '{code}' warnings not listed")
                )


@dataclass(slots=True)
class _Statement:
    """One `Stmt` while it is being read (mutable; frozen into StatementInfo at its end)."""

    index: int
    element: _Element
    statement_id: str | None = None
    account_iban: str | None = None
    account_other_id: str | None = None
    account_currency: str | None = None
    balance_currency: str | None = None
    electronic_sequence: int | None = None
    legal_sequence: int | None = None
    period_from: date | None = None
    period_to: date | None = None
    created: date | None = None
    opening_balance: Decimal | None = None
    opening_date: date | None = None
    opening_code: str | None = None
    closing_balance: Decimal | None = None
    closing_date: date | None = None
    entry_count: int = 0
    entry_sum: Decimal = Decimal("0")
    skipped_count: int = 0
    entries_seen: int = 0
    balances_seen: int = 0

    path: str = ""  # "Stmt[n]", for messages

    def __post_init__(self) -> None:
        self.path = f"Stmt[{self.index + 1}]"

    @property
    def currency(self) -> str | None:
        return self.account_currency or self.balance_currency

    def freeze(self) -> StatementInfo:
        return StatementInfo(
            index=self.index,
            statement_id=self.statement_id,
            account_iban=self.account_iban,
            account_other_id=self.account_other_id,
            currency=self.currency,
            electronic_sequence=self.electronic_sequence,
            legal_sequence=self.legal_sequence,
            period_from=self.period_from,
            period_to=self.period_to,
            opening_balance=self.opening_balance,
            opening_date=self.opening_date,
            closing_balance=self.closing_balance,
            closing_date=self.closing_date,
            entry_count=self.entry_count,
            entry_sum=self.entry_sum,
            skipped_count=self.skipped_count,
        )


def _in_statement_list(element: _Element | None) -> bool:
    return element is not None and _local(element.tag) == "BkToCstmrStmt"


class Camt053Reader:
    """StatementReader for camt.053: call `entries()` once, then read the metadata."""

    format: FileFormat = "camt.053"

    def __init__(self, stream: BinaryIO, *, include_pending: bool = False) -> None:
        self.statements: list[StatementInfo] = []
        self.warnings: list[ParseWarning] = []
        self._stream = stream
        self._include_pending = include_pending
        self._warn = _Warnings(self.warnings)
        self._group_created: date | None = None
        self._consumed = False

    def entries(self) -> Iterator[ParsedEntry]:
        if self._consumed:
            raise RuntimeError("entries() streams the file and can be consumed only once")
        self._consumed = True
        statement: _Statement | None = None
        number = 0
        # Held on purpose: while a proxy lives lxml hands out that same object, so the next
        # entry can tell by identity that nothing came in between.
        last_entry: _Element | None = None
        events = iterparse_safe(self._stream, tags=_EVENT_TAGS)
        release = events.release
        for _event, element in events:
            name = _NAMES[element.tag]
            parent = element.getparent()
            if name == "Ntry":
                # Only a Ntry directly in BkToCstmrStmt/Stmt is an entry; one anywhere else
                # is left alone and freed with its ancestors. The open statement's element
                # passed these checks when it was opened.
                if statement is None or parent is not statement.element:
                    if parent is None or _local(parent.tag) != "Stmt":
                        continue
                    if not _in_statement_list(parent.getparent()):
                        continue
                    statement = self._open(parent, statement)
                previous = element.getprevious()
                if previous is None or previous is not last_entry:
                    self._read_statement_parts(statement, until=element)
                last_entry = element
                number += 1
                statement.entries_seen += 1
                entry = self._entry(element, statement, number)
                release(element)
                if entry is not None:
                    yield entry
            elif name == "Stmt":
                if not _in_statement_list(parent):
                    continue
                if statement is None or statement.element is not element:
                    statement = self._open(element, statement)
                self._read_statement_parts(statement, until=None)
                self.statements.append(statement.freeze())
                statement = None
                release(element)
            elif name == "GrpHdr" and _in_statement_list(parent):
                created = _first_text(element, "CreDtTm")
                self._group_created = None if created is None else _parse_date(created)
        if not self.statements:
            raise ParseError(
                "no camt.053 statement (BkToCstmrStmt/Stmt) in the file", code="no_statement"
            )
        self._warn.flush()

    def _open(self, element: _Element, previous: _Statement | None) -> _Statement:
        if previous is not None:  # a Stmt that never ended: only possible in broken XML
            self.statements.append(previous.freeze())
        return _Statement(index=len(self.statements), element=element)

    # --- statement header -------------------------------------------------------------

    def _read_statement_parts(self, statement: _Statement, *, until: _Element | None) -> None:
        """Read the Stmt's children between the previous Ntry and `until` (None: the end).

        Everything before an earlier Ntry was read when that Ntry ended, so walking back
        to it keeps this proportional to the new parts, not to the statement's length.
        """
        backwards = (
            until.itersiblings(preceding=True)
            if until is not None
            else statement.element.iterchildren(reversed=True)
        )
        parts: list[tuple[_Element, str]] = []
        for child in backwards:
            name = _local(child.tag)
            if name == "Ntry":
                break
            parts.append((child, name))
        for child, name in reversed(parts):
            self._statement_part(child, name, statement)

    def _statement_part(self, element: _Element, name: str, statement: _Statement) -> None:
        if name == "Id":
            statement.statement_id = _clean(element.text)
        elif name == "ElctrncSeqNb":
            statement.electronic_sequence = self._sequence(element, statement, name)
        elif name == "LglSeqNb":
            statement.legal_sequence = self._sequence(element, statement, name)
        elif name == "CreDtTm":
            # Only a fallback booking date: a bad value is not worth failing the file for.
            statement.created = _parse_date((element.text or "").strip())
        elif name == "FrToDt":
            statement.period_from = self._period_end(element, statement, ("FrDtTm", "FrDt"))
            statement.period_to = self._period_end(element, statement, ("ToDtTm", "ToDt"))
        elif name == "Acct":
            statement.account_iban = _first_text(element, "Id", "IBAN")
            statement.account_other_id = _first_text(element, "Id", "Othr", "Id")
            currency = _first_text(element, "Ccy")
            if currency is not None:
                if is_known_currency(currency.upper()):
                    statement.account_currency = currency.upper()
                else:
                    self._warn.add(
                        "unknown_currency",
                        f"{statement.path}/Acct/Ccy: unknown currency {currency[:8]!r} ignored",
                    )
        elif name == "Bal":
            statement.balances_seen += 1
            self._balance(element, statement)

    def _sequence(self, element: _Element, statement: _Statement, name: str) -> int | None:
        text = (element.text or "").strip()
        if _INTEGER_RE.fullmatch(text):
            return int(text)
        self._warn.add(
            "invalid_sequence_number", f"{statement.path}/{name}: not a whole number, ignored"
        )
        return None

    def _period_end(
        self, period: _Element, statement: _Statement, names: tuple[str, str]
    ) -> date | None:
        for name in names:
            element = _first(period, name)
            if element is not None:
                text = (element.text or "").strip()
                value = _parse_date(text)
                if value is None:
                    raise ParseError(
                        f"unparsable date {text[:40]!r}",
                        code="invalid_date",
                        line=element.sourceline,
                        element=f"{statement.path}/FrToDt/{name}",
                    )
                return value
        return None

    def _balance(self, element: _Element, statement: _Statement) -> None:
        where = f"{statement.path}/Bal[{statement.balances_seen}]"
        kind = _first_text(element, "Tp", "CdOrPrtry", "Cd") or _first_text(
            element, "Tp", "CdOrPrtry", "Prtry"
        )
        code = kind.upper() if kind else None
        if code == "CLBD":
            if statement.closing_balance is not None:
                self._warn.add("duplicate_balance", f"{where}: second CLBD balance ignored")
                return
        elif code == "OPBD":
            if statement.opening_code == "OPBD":
                self._warn.add("duplicate_balance", f"{where}: second OPBD balance ignored")
                return
        elif code == "PRCD":
            if statement.opening_code is not None:
                return  # OPBD wins; PRCD is only the opening when there is no OPBD
        else:
            return
        amount_element = _first(element, "Amt")
        if amount_element is None:
            raise ParseError(
                f"{code} balance has no amount",
                code="missing_amount",
                line=element.sourceline,
                element=f"{where}/Amt",
            )
        value, currency, excess = self._amount(
            amount_element, where, "Amt", fallback_currency=statement.currency, line=None
        )
        indicator = _first_text(element, "CdtDbtInd")
        credit = _credit(indicator)
        if credit is None:
            if indicator is not None:
                raise ParseError(
                    f"invalid CdtDbtInd {indicator[:10]!r}",
                    code="invalid_direction",
                    line=element.sourceline,
                    element=f"{where}/CdtDbtInd",
                )
            # Seen in the wild (an anonymised Lithuanian export): balances are almost
            # always positive, so credit is the reading that usually keeps continuity.
            self._warn.add(
                "balance_without_direction",
                f"{where}: {code} balance has no CdtDbtInd; read as a credit (positive) balance",
            )
            credit = True
        date_element = _first(element, "Dt")
        balance_date = (
            None if date_element is None else self._choice_date(date_element, where, "Dt")
        )
        if excess:
            self._warn.add(
                "excess_precision",
                f"{where}/Amt: {value} has more decimals than {currency} allows; kept as sent",
            )
        if statement.account_currency is not None and currency != statement.account_currency:
            self._warn.add(
                "balance_currency_mismatch",
                f"{where}: {code} balance in {currency}, account in {statement.account_currency}",
            )
        statement.balance_currency = statement.balance_currency or currency
        amount = _signed(value, credit)
        if code == "CLBD":
            statement.closing_balance, statement.closing_date = amount, balance_date
        else:
            statement.opening_balance, statement.opening_date = amount, balance_date
            statement.opening_code = code

    # --- entries ------------------------------------------------------------------------

    def _entry(self, ntry: _Element, statement: _Statement, number: int) -> ParsedEntry | None:
        where = f"{statement.path}/Ntry[{statement.entries_seen}]"
        kids, repeated = _children(ntry)
        if not self._is_imported(kids.get("Sts"), number, where):
            statement.skipped_count += 1
            return None

        amount_element = kids.get("Amt")
        if amount_element is None:
            raise ParseError(
                f"entry {number} has no amount",
                code="missing_amount",
                line=ntry.sourceline,
                element=f"{where}/Amt",
            )
        statement_currency = statement.currency
        value, currency, excess = self._amount(
            amount_element, where, "Amt", fallback_currency=statement_currency, line=number
        )
        indicator = _text(kids.get("CdtDbtInd"))
        credit = _credit(indicator)
        if credit is None:
            problem = (
                "has no CdtDbtInd" if indicator is None else f"has CdtDbtInd {indicator[:10]!r}"
            )
            raise ParseError(
                f"entry {number} {problem}; it must be CRDT or DBIT",
                code="invalid_direction",
                line=ntry.sourceline,
                element=f"{where}/CdtDbtInd",
            )
        amount = _signed(value, credit)
        if excess:
            self._warn.add(
                "excess_precision",
                f"{where}/Amt: {value} has more decimals than {currency} allows; kept as sent",
                number,
            )
        if statement_currency is not None and currency != statement_currency:
            self._warn.add(
                "foreign_currency_entry",
                f"{where}: entry booked in {currency} on a {statement_currency} statement",
                number,
            )
        is_reversal = self._reversal(kids.get("RvslInd"), where, number)
        booking_date, value_date = self._dates(ntry, kids, statement, where, number)

        details: list[TransactionDetail] = []
        batch_count: int | None = None
        for block_index, block in enumerate(_all(ntry, kids, repeated, "NtryDtls"), 1):
            batches: list[_Element] = []
            transactions: list[_Element] = []
            for child in block[:]:
                name = _NAMES[child.tag]
                if name == "TxDtls":
                    transactions.append(child)
                elif name == "Btch":
                    batches.append(child)
            for batch in batches:
                count = _first_text(batch, "NbOfTxs") or ""
                if _COUNT_RE.fullmatch(count):
                    batch_count = (batch_count or 0) + int(count)
                else:
                    self._warn.add(
                        "invalid_batch_count", f"{where}: Btch/NbOfTxs is not a count", number
                    )
            for detail_index, transaction in enumerate(transactions, 1):
                details.append(
                    self._detail(
                        transaction,
                        where=f"{where}/NtryDtls[{block_index}]/TxDtls[{detail_index}]",
                        number=number,
                        entry_credit=credit,
                        entry_currency=currency,
                        is_reversal=is_reversal,
                    )
                )

        only = details[0] if len(details) == 1 else None
        statement.entry_count += 1
        statement.entry_sum += amount
        return ParsedEntry(
            line=number,
            statement_index=statement.index,
            booking_date=booking_date,
            value_date=value_date,
            amount=amount,
            currency=currency,
            excess_precision=excess,
            bank_reference=_text(kids.get("AcctSvcrRef")),
            entry_reference=_text(kids.get("NtryRef")),
            end_to_end_id=only.end_to_end_id if only else None,
            creditor_reference=only.creditor_reference if only else None,
            description=_text(kids.get("AddtlNtryInf")) or _remittance_summary(details),
            counterparty_name=only.counterparty_name if only else None,
            counterparty_iban=only.counterparty_iban if only else None,
            bank_transaction_code=_bank_transaction_code(kids.get("BkTxCd")),
            is_reversal=is_reversal,
            batch_count=batch_count,
            details=tuple(details),
            charges=self._charges(_all(ntry, kids, repeated, "Chrgs"), where, currency, number)
            if "Chrgs" in kids
            else None,
            account_iban=statement.account_iban,
        )

    def _is_imported(self, status_element: _Element | None, number: int, where: str) -> bool:
        status = None
        if status_element is not None:
            # v02-v06 write the code as text, v07+ as Sts/Cd (or a proprietary Sts/Prtry).
            code, proprietary = _pair(status_element, "Cd", "Prtry")
            status = _text(code) or _text(proprietary) or _clean(status_element.text)
        if status is None:
            self._warn.add("missing_status", f"{where}: no Sts; read as booked (BOOK)", number)
            return True
        status = status.upper()
        if status == "BOOK" or (status in _PENDING and self._include_pending):
            return True
        if status in _PENDING:
            warning = "skipped_pending"
        elif status == "INFO":
            warning = "skipped_info"
        else:
            warning = "skipped_unknown_status"
        self._warn.add(warning, f"{where}: status {status[:10]!r} not imported", number)
        return False

    def _reversal(self, element: _Element | None, where: str, number: int) -> bool:
        indicator = _text(element)
        if indicator is None:
            return False
        flag = indicator.lower()
        if flag in ("true", "1"):
            return True
        if flag not in ("false", "0"):
            self._warn.add(
                "invalid_reversal_indicator",
                f"{where}/RvslInd: {indicator[:10]!r} is not a boolean; read as false",
                number,
            )
        return False

    def _dates(
        self,
        ntry: _Element,
        kids: dict[str, _Element],
        statement: _Statement,
        where: str,
        number: int,
    ) -> tuple[date, date | None]:
        booking_element = kids.get("BookgDt")
        booking = (
            None
            if booking_element is None
            else self._choice_date(booking_element, where, "BookgDt")
        )
        value_element = kids.get("ValDt")
        value = None if value_element is None else self._choice_date(value_element, where, "ValDt")
        if booking is not None:
            return booking, value
        # Some banks leave BookgDt out (it is optional in every version); the statement's
        # own dates are the best guess, in this order, and the guess is reported.
        fallbacks = (
            (value, "ValDt"),
            (statement.period_to, "FrToDt/ToDtTm"),
            (statement.created, "Stmt/CreDtTm"),
            (statement.closing_date or statement.opening_date, "balance date"),
            (self._group_created, "GrpHdr/CreDtTm"),
        )
        for candidate, source in fallbacks:
            if candidate is not None:
                self._warn.add(
                    "missing_booking_date",
                    f"{where}: no BookgDt; booked on {candidate.isoformat()} from {source}",
                    number,
                )
                return candidate, value
        raise ParseError(
            f"entry {number} has no booking date and the statement has no date to fall back on",
            code="missing_date",
            line=ntry.sourceline,
            element=f"{where}/BookgDt",
        )

    def _choice_date(self, element: _Element, where: str, name: str) -> date | None:
        """Date of the `Dt | DtTm` choice `where/name`; None when it holds neither."""
        for child in element[:]:
            choice = _NAMES[child.tag]
            if choice != "Dt" and choice != "DtTm":
                continue
            text = (child.text or "").strip()
            value = _parse_date(text)
            if value is None:
                raise ParseError(
                    f"unparsable date {text[:40]!r}",
                    code="invalid_date",
                    line=child.sourceline,
                    element=f"{where}/{name}/{choice}",
                )
            return value
        return None

    def _detail(
        self,
        transaction: _Element,
        *,
        where: str,
        number: int,
        entry_credit: bool,
        entry_currency: str,
        is_reversal: bool,
    ) -> TransactionDetail:
        kids, repeated = _children(transaction)
        # v03+ carry the amount (in the entry's currency) directly on TxDtls; v02 only has
        # it inside AmtDtls/TxAmt.
        amount_element = kids.get("Amt")
        amount_name = "Amt"
        if amount_element is None:
            amount_element = _first(_first(kids.get("AmtDtls"), "TxAmt"), "Amt")
            amount_name = "AmtDtls/TxAmt/Amt"
        credit = _credit(_text(kids.get("CdtDbtInd")))
        if credit is None:
            credit = entry_credit
        amount: Decimal | None = None
        currency: str | None = None
        if amount_element is not None:
            value, currency, excess = self._amount(
                amount_element,
                where,
                amount_name,
                fallback_currency=entry_currency,
                line=number,
            )
            amount = _signed(value, credit)
            if excess:
                self._warn.add(
                    "excess_precision",
                    f"{where}/{amount_name}: {value} has more decimals than {currency} allows; "
                    "kept as sent",
                    number,
                )

        end_to_end_element = instruction_element = mandate_element = None
        refs = kids.get("Refs")
        if refs is not None:
            for child in refs[:]:
                name = _NAMES[child.tag]
                # (`is None`: an lxml element without children is falsy)
                if name == "EndToEndId" and end_to_end_element is None:
                    end_to_end_element = child
                elif name == "InstrId" and instruction_element is None:
                    instruction_element = child
                elif name == "MndtId" and mandate_element is None:
                    mandate_element = child
        end_to_end_id = _text(end_to_end_element)
        if end_to_end_id is not None and end_to_end_id.upper() == _NOT_PROVIDED:
            end_to_end_id = None  # SEPA's placeholder, not a reference
        instructed_amount = instructed_currency = None
        instructed = _first(_first(kids.get("AmtDtls"), "InstdAmt"), "Amt")
        if instructed is not None:
            # Evidence for the matcher only: an instructed amount that cannot be read is
            # left out with a warning rather than failing a file that is otherwise fine.
            try:
                instructed_amount, instructed_currency, _ = self._amount(
                    instructed,
                    where,
                    "AmtDtls/InstdAmt/Amt",
                    fallback_currency=entry_currency,
                    line=number,
                )
            except ParseError as exc:
                self._warn.add(
                    "invalid_instructed_amount",
                    f"{where}/AmtDtls/InstdAmt: {exc.detail}; ignored",
                    number,
                )

        remittance = creditor_reference = creditor_reference_type = None
        remittance_element = kids.get("RmtInf")
        if remittance_element is not None:
            lines: list[str | None] = []
            structured: list[_Element] = []
            for child in remittance_element[:]:
                name = _NAMES[child.tag]
                if name == "Ustrd":
                    lines.append(_clean(child.text))
                elif name == "Strd":
                    structured.append(child)
            remittance = " ".join(filter(None, lines)) or None
            if structured:
                creditor_reference, creditor_reference_type = _creditor_reference(structured)

        # The other party is the debtor of money received and the creditor of money paid.
        # A reversal undoes a booking in the other direction and keeps that booking's
        # parties (a returned direct debit still names the original debtor).
        role = "Dbtr" if credit != is_reversal else "Cdtr"
        counterparty_name = counterparty_iban = None
        parties = kids.get("RltdPties")
        if parties is not None:
            counterparty_name, counterparty_iban = _party(parties, role)
            if is_reversal and counterparty_name is None and counterparty_iban is None:
                # Banks describe a return either way round: some keep the original
                # booking's roles, others give the only party the role of the return's
                # own direction. A reversal with one party present keeps that one (a
                # normal booking does not: its other role is the account holder).
                counterparty_name, counterparty_iban = _party(
                    parties, "Cdtr" if role == "Dbtr" else "Dbtr"
                )

        return TransactionDetail(
            amount=amount,
            currency=currency,
            end_to_end_id=end_to_end_id,
            instruction_id=_text(instruction_element),
            creditor_reference=creditor_reference,
            creditor_reference_type=creditor_reference_type,
            remittance=remittance,
            counterparty_name=counterparty_name,
            counterparty_iban=counterparty_iban,
            charges=self._charges(
                _all(transaction, kids, repeated, "Chrgs"), where, entry_currency, number
            )
            if "Chrgs" in kids
            else None,
            instructed_amount=instructed_amount,
            instructed_currency=instructed_currency,
            mandate_reference=_text(mandate_element),
        )

    def _charges(
        self, blocks: list[_Element], where: str, fallback_currency: str, number: int
    ) -> Decimal | None:
        """Total charges (unsigned): TtlChrgsAndTaxAmt, else the sum of the records.

        v02 repeats `Chrgs` with an `Amt` each; v03+ have one `Chrgs` with `Rcrd/Amt`s.
        """
        total: Decimal | None = None
        for block_index, block in enumerate(blocks, 1):
            block_path = f"Chrgs[{block_index}]"
            kids, repeated = _children(block)
            total_element = kids.get("TtlChrgsAndTaxAmt")
            if total_element is not None:
                amounts = [(total_element, f"{block_path}/TtlChrgsAndTaxAmt")]
            else:
                amounts = [
                    (amount, f"{block_path}/Amt") for amount in _all(block, kids, repeated, "Amt")
                ]
                records = _all(block, kids, repeated, "Rcrd")
                for record_index, record in enumerate(records, 1):
                    amount_element = _first(record, "Amt")
                    if amount_element is not None:
                        amounts.append((amount_element, f"{block_path}/Rcrd[{record_index}]/Amt"))
            for amount_element, name in amounts:
                value, _currency, _excess = self._amount(
                    amount_element,
                    where,
                    name,
                    fallback_currency=fallback_currency,
                    line=number,
                )
                total = value if total is None else total + value
        return total

    def _amount(
        self,
        element: _Element,
        where: str,
        name: str,
        *,
        fallback_currency: str | None,
        line: int | None,
    ) -> tuple[Decimal, str, bool]:
        """Unsigned exact amount, its currency and whether it is too precise for it.

        `where`/`name` is the element path, only joined when a message needs it.
        """
        currency = (element.get("Ccy") or "").strip().upper()
        if not currency:
            if fallback_currency is None:
                raise ParseError(
                    "amount has no currency (Ccy)",
                    code="missing_currency",
                    line=element.sourceline,
                    element=f"{where}/{name}",
                )
            self._warn.add(
                "missing_currency", f"{where}/{name}: no Ccy; {fallback_currency} assumed", line
            )
            currency = fallback_currency
        if currency not in MINOR_UNITS:
            raise ParseError(
                f"unknown currency {currency[:8]!r}",
                code="unknown_currency",
                line=element.sourceline,
                element=f"{where}/{name}",
            )
        text = (element.text or "").strip()
        if not text:
            raise ParseError(
                "empty amount", code="missing_amount", line=element.sourceline, element=where
            )
        if not _AMOUNT_RE.fullmatch(text):
            raise ParseError(
                f"unparsable amount {text[:40]!r}",
                code="invalid_amount",
                line=element.sourceline,
                element=f"{where}/{name}",
            )
        try:
            value, excess = _exact_amount(text, currency)
        except AmountError as exc:
            raise ParseError(
                str(exc), code="invalid_amount", line=element.sourceline, element=where
            ) from None
        return value, currency, excess


def _party(parties: _Element, role: str) -> tuple[str | None, str | None]:
    """Name and IBAN of `RltdPties/<role>` (v02-v06: `Dbtr/Nm`; v07+: `Dbtr/Pty/Nm`)."""
    party, account = _pair(parties, role, role + "Acct")
    name_element, wrapped = _pair(party, "Nm", "Pty")
    return _text(name_element) or _first_text(wrapped, "Nm"), _first_text(account, "Id", "IBAN")


def _creditor_reference(structured: list[_Element]) -> tuple[str | None, str | None]:
    """The first `Strd/CdtrRefInf/Ref` and its type (`Tp/CdOrPrtry/Cd`, else `Prtry`)."""
    for block in structured:
        for info in block[:]:
            if _NAMES[info.tag] != "CdtrRefInf":
                continue
            reference = _first_text(info, "Ref")
            if reference is not None:
                kind = _first(_first(info, "Tp"), "CdOrPrtry")
                return reference, _first_text(kind, "Cd") or _first_text(kind, "Prtry")
    return None, None


def _bank_transaction_code(code: _Element | None) -> str | None:
    """`PMNT/RCDT/ESCT` from the ISO domain structure, else the proprietary code."""
    if code is None:
        return None
    domain, proprietary = _pair(code, "Domn", "Prtry")
    if domain is not None:
        domain_code, family = _pair(domain, "Cd", "Fmly")
        family_code, sub_family_code = _pair(family, "Cd", "SubFmlyCd")
        parts = (_text(domain_code), _text(family_code), _text(sub_family_code))
        joined = "/".join(filter(None, parts))
        if joined:
            return joined
    return _first_text(proprietary, "Cd")


def _remittance_summary(details: Iterable[TransactionDetail]) -> str:
    """Description for an entry without AddtlNtryInf: its details' remittance texts."""
    text = " / ".join(detail.remittance for detail in details if detail.remittance)
    if len(text) > DESCRIPTION_MAX_CHARS:
        return text[: DESCRIPTION_MAX_CHARS - 1] + "…"
    return text


def read_camt053(stream: BinaryIO, *, include_pending: bool = False) -> Camt053Reader:
    """Reader over a binary camt.053 stream; nothing is read until `entries()` is iterated.

    `include_pending` also imports PDNG/FUTR entries; INFO entries are never imported.
    """
    return Camt053Reader(stream, include_pending=include_pending)
