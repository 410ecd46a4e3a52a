"""One CSV row → one `ParsedEntry`, a skip with a warning, or a ParseError naming its line.

Kept apart from the set-up in `csv_statement.py` because this is the per-row hot path of a
million-row import: column indexes are resolved once, and repeated cell texts (dates,
currencies, CR/DR markers, statuses) are looked up in small caches.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from typing import Final

from ledgers.money import (
    AMOUNT_DECIMAL_PLACES,
    MINOR_UNITS,
    AmountError,
    check_amount,
    has_excess_precision,
)
from reconciliation.parsers.csv_dates import DateReader, DateTextError
from reconciliation.parsers.csv_headers import (
    MAX_COLUMNS,
    PENDING_WORDS,
    SKIPPED_STATUS,
    SUMMARY_WORDS,
    Columns,
    marker_sign,
    normalise,
    starts_with_any,
)
from reconciliation.parsers.csv_numbers import (
    FAST_AMOUNT,
    AmountTextError,
    BalanceChain,
    DecimalSeparator,
    decimal_evidence,
    parse_amount_text,
    split_amount,
)
from reconciliation.parsers.csv_preamble import (
    StatedFacts,
    read_stated_date,
    resolve_dated,
    soll_haben,
)
from reconciliation.parsers.sepa_text import sepa_tags
from reconciliation.parsers.types import (
    ParsedEntry,
    ParseError,
    StatementInfo,
    TransactionDetail,
)

Warn = Callable[[str, str, int | None], None]

_IBAN: Final = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{8,30}")
# what currency columns hold besides ISO codes ("RUR": the pre-1998 rouble code banks kept)
_SYMBOL_CURRENCY: Final = {"€": "EUR", "£": "GBP", "₽": "RUB", "₺": "TRY", "RUR": "RUB"}
_ZERO: Final = Decimal(0)


def _clean(text: str) -> str | None:
    return " ".join(text.split()) or None


class RowReader:
    """Turns the data rows of one file into entries and keeps the statement's totals."""

    def __init__(
        self,
        *,
        columns: Columns,
        width: int,
        header_norm: list[str],
        decimal: DecimalSeparator | None,
        dates: DateReader,
        default_currency: str,
        invert_sign: bool,
        warn: Warn,
        sample: Sequence[Sequence[str]],
        stated: StatedFacts,
    ) -> None:
        single = columns.single
        self._width = width
        self._header_norm = header_norm
        self._decimal = decimal
        self._dates = dates
        self._default_currency = default_currency
        self._invert = invert_sign
        self._warn = warn
        self._date = single["booking_date"]
        value_date = single.get("value_date")
        self._value_date = value_date if value_date != self._date else None
        self._value_is_booking = value_date is not None and value_date == self._date
        self._amount = single.get("amount")
        self._debit = single.get("debit") if self._amount is None else None
        self._credit = single.get("credit") if self._amount is None else None
        self._direction = single.get("direction") if self._amount is not None else None
        self._currency = single.get("currency")
        self._status = single.get("status")
        # optional text columns; when absent they point at the empty cell read() appends
        self._bank_reference = single.get("bank_reference", width)
        self._reference = single.get("reference", width)
        self._end_to_end = single.get("end_to_end_id", width)
        self._code = single.get("bank_transaction_code", width)
        self._account = single.get("account")
        self._description = columns.multi.get("description", ())
        self._single_description = len(self._description) == 1
        self._names = columns.multi.get("counterparty_name", ())
        self._ibans = columns.multi.get("counterparty_iban", ())
        balance = single.get("balance")
        self._balance = balance
        self._balances = BalanceChain() if balance is not None else None
        self._blank_sign = self._blank_direction(sample)
        self._markers: dict[str, int] = {}
        self._date_cache = dates.cache
        self._currencies: dict[str, str] = {}
        self._statuses: dict[str, bool] = {}

        # the common case, a signed amount column, is parsed inline in read()
        self._plain_amount = self._amount is not None and self._direction is None
        self._fast_amount = FAST_AMOUNT[decimal].fullmatch
        self._thousands = {".": ",", ",": ".", None: ""}[decimal]

        self.entry_count = 0
        self.skipped = 0
        self.total = _ZERO
        self.currencies_seen: set[str] = set()
        self._last_currency = ""
        self.first_date = date.max
        self.last_date = date.min
        self._stated = stated
        self._account_value: str | None = stated.account
        self._account_consistent = True
        self._account_from_rows = stated.account is None
        self.read = self._make_read()

    @property
    def data_rows(self) -> int:
        """Rows that were transactions: imported or skipped as pending/failed."""
        return self.entry_count + self.skipped

    def _blank_direction(self, sample: Sequence[Sequence[str]]) -> int | None:
        """What an empty CR/DR cell means: a card statement marks only credits with CR."""
        if self._direction is None or self._amount is None:
            return None
        signs = set()
        signed_amounts = False
        for row in sample:
            if self._direction < len(row) and row[self._direction].strip():
                signs.add(marker_sign(row[self._direction]))
            if self._amount < len(row) and re.search(r"-|\(", row[self._amount]):
                signed_amounts = True
        if signed_amounts or len(signs) != 1:
            return None
        (only,) = signs
        return None if only is None else -only

    # --- rows ----------------------------------------------------------------------------

    def _make_read(self) -> Callable[[int, list[str]], ParsedEntry | None]:
        """The per-row function, with every column index and helper bound to a local.

        A million rows pass through here; attribute lookups on `self` would cost more
        than the parsing itself. Rare cases (footers, odd amounts) go to the methods.
        """
        width = self._width
        date_idx = self._date
        cache_get = self._date_cache.get
        read_date = self._dates.read
        status_idx = self._status
        plain = self._plain_amount and not self._invert
        fast_amount = self._fast_amount
        amount_idx = self._amount if self._amount is not None else 0
        thousands = self._thousands
        currency_idx = self._currency
        currency_cache = self._currencies
        default_currency = self._default_currency
        value_idx = self._value_date
        value_is_booking = self._value_is_booking
        tracks = self._balances is not None or self._account is not None
        description = self._description
        single_description = self._single_description
        first_description = description[0] if description else width
        bank_reference = self._bank_reference
        end_to_end = self._end_to_end
        reference = self._reference
        code = self._code
        names = self._names
        ibans = self._ibans
        irregular = self._irregular
        undated = self._undated
        general_amount = self._general_amount
        minor_units = MINOR_UNITS

        def read(line: int, row: list[str]) -> ParsedEntry | None:
            if len(row) != width and irregular(line, row):
                return None
            date_text = row[date_idx]
            booking = cache_get(date_text)
            if booking is None:
                try:
                    booking = read_date(date_text)
                except DateTextError as exc:
                    return undated(line, row, exc)
            if status_idx is not None and self._skipped_status(line, row[status_idx]):
                return None

            match = fast_amount(row[amount_idx]) if plain else None
            if match is not None:
                sign, integer, fraction = match.groups()
                if len(integer) > 3:
                    integer = integer.replace(thousands, "")
                if fraction:
                    decimals = len(fraction)
                    value = Decimal(f"{sign}{integer}.{fraction}")
                else:
                    decimals = 0
                    value = Decimal(sign + integer)
                written = None
                if decimals > AMOUNT_DECIMAL_PLACES or len(integer) > 17:
                    amount = general_amount(line, row)
                    assert amount is not None  # noqa: S101 - the cell matched a number
                    value, decimals, written = amount
            else:
                amount = general_amount(line, row)
                if amount is None:
                    self._no_amount(line, row)
                    return None
                value, decimals, written = amount
            if currency_idx is None:
                currency = written or default_currency
            else:
                currency = currency_cache.get(row[currency_idx]) or self._row_currency(
                    line, row, written
                )
            excess = decimals > minor_units[currency] and self._excess(line, value, currency)
            if value_idx is not None:
                value_date = self._value_date_of(line, row[value_idx])
            else:
                value_date = booking if value_is_booking else None
            if tracks:
                self._track(row, value)

            self.entry_count += 1
            self.total += value
            if currency != self._last_currency:
                self.currencies_seen.add(currency)
                self._last_currency = currency
            if booking < self.first_date:
                self.first_date = booking
            if booking > self.last_date:
                self.last_date = booking

            row.append("")  # absent optional columns point at this empty cell
            if single_description:
                text = " ".join(row[first_description].split())
            else:
                text = " ".join(" ".join([row[i] for i in description]).split())
            end_to_end_id = row[end_to_end].strip() or None
            counterparty_iban = self._iban(row) if ibans else None
            details: tuple[TransactionDetail, ...] = ()
            # (a cheap test first: most purpose texts carry no SEPA tags at all)
            if "REF" in text or "SVWZ" in text:
                tags = sepa_tags(text)
                if tags is not None:
                    end_to_end_id = end_to_end_id or tags.end_to_end_id
                    counterparty_iban = counterparty_iban or tags.counterparty_iban
                    details = (
                        TransactionDetail(
                            amount=value,
                            currency=currency,
                            end_to_end_id=tags.end_to_end_id,
                            instruction_id=tags.customer_reference,
                            remittance=tags.remittance,
                            mandate_reference=tags.mandate_reference,
                            creditor_id=tags.creditor_id,
                            ultimate_party=tags.ultimate_party,
                        ),
                    )
            return ParsedEntry(
                line=line,
                statement_index=0,
                booking_date=booking,
                value_date=value_date,
                amount=value,
                currency=currency,
                excess_precision=excess,
                bank_reference=row[bank_reference].strip() or None,
                end_to_end_id=end_to_end_id,
                creditor_reference=row[reference].strip() or None,
                description=text,
                counterparty_name=self._first(row, names) if names else None,
                counterparty_iban=counterparty_iban,
                bank_transaction_code=row[code].strip() or None,
                details=details,
            )

        return read

    def _excess(self, line: int, value: Decimal, currency: str) -> bool:
        if not has_excess_precision(value, currency):
            return False
        message = f"{value} has more decimals than {currency} allows; kept exactly"
        self._warn("excess_precision", message, line)
        return True

    def _no_amount(self, line: int, row: list[str]) -> None:
        if self._is_summary(row):
            self._stated_balance(row)
            self._warn("skipped_summary", "summary line skipped", line)
            return None
        raise ParseError("the row has a date but no amount", code="amount_missing", line=line)

    def _track(self, row: list[str], value: Decimal) -> None:
        if self._balances is not None:
            self._track_balance(row, value)
        if self._account is not None and self._account_from_rows:
            self._track_account(row[self._account])

    def _irregular(self, line: int, row: list[str]) -> bool:
        """A row whose width differs from the header's: True when it was skipped."""
        width = len(row)
        if width < self._width:
            self._short_row(line, row)
            return True
        if width > MAX_COLUMNS:
            raise ParseError(
                f"a row has {width} columns (at most {MAX_COLUMNS})",
                code="too_many_columns",
                line=line,
            )
        if any(cell.strip() for cell in row[self._width :]):
            raise ParseError(
                f"the row has {width} fields but the header has {self._width} "
                "(an unquoted separator inside a field?)",
                code="column_count",
                line=line,
            )
        del row[self._width :]
        return False

    def _value_date_of(self, line: int, text: str) -> date | None:
        cached = self._date_cache.get(text)
        if cached is not None:
            return cached
        if not text.strip():
            return None
        try:
            return self._dates.read(text)
        except DateTextError as exc:
            raise ParseError(f"value date: {exc}", code="date_invalid", line=line) from None

    def _short_row(self, line: int, row: list[str]) -> None:
        if not any(cell.strip() for cell in row):
            return None
        if self._date < len(row):
            try:
                self._dates.read(row[self._date])
            except DateTextError as exc:
                date_like = exc.contradiction
            else:
                date_like = True
            if date_like:
                raise ParseError(
                    f"the row has {len(row)} fields but the header has {self._width}",
                    code="column_count",
                    line=line,
                )
        self._stated_balance(row)
        self._warn("skipped_footer", f"line with {len(row)} of {self._width} fields skipped", line)
        return None

    def _undated(self, line: int, row: list[str], exc: DateTextError) -> None:
        text = row[self._date].strip()
        if exc.contradiction:
            code = "ambiguous_date_format" if self._dates.order is None else "date_format_conflict"
            raise ParseError(str(exc), code=code, line=line)
        if not any(cell.strip() for cell in row):
            return None
        if [normalise(cell) for cell in row[: len(self._header_norm)]] == self._header_norm:
            self._warn("skipped_header", "repeated header line skipped", line)
            return None
        if not text or normalise(text) in PENDING_WORDS:
            if self._has_amount(row):
                self.skipped += 1
                self._warn(
                    "skipped_pending",
                    f"row without a booking date ({text[:20] or 'empty'}) skipped",
                    line,
                )
            else:
                self._warn("skipped_row", "row without a date or an amount skipped", line)
            return None
        if self._is_summary(row):
            self._stated_balance(row)
            self._warn("skipped_summary", f"summary line {text[:20]!r} skipped", line)
            return None
        raise ParseError(str(exc), code="date_invalid", line=line)

    def _has_amount(self, row: list[str]) -> bool:
        columns = [self._amount] if self._amount is not None else [self._debit, self._credit]
        return any(idx is not None and idx < len(row) and row[idx].strip() for idx in columns)

    @staticmethod
    def _is_summary(row: list[str]) -> bool:
        for cell in row:
            if cell.strip():
                return starts_with_any(normalise(cell), SUMMARY_WORDS)
        return False

    def _skipped_status(self, line: int, text: str) -> bool:
        """True (counted, with a warning) for a pending/failed/declined row."""
        skipped = self._statuses.get(text)
        if skipped is None:
            skipped = normalise(text) in SKIPPED_STATUS
            if len(self._statuses) < 1000:
                self._statuses[text] = skipped
        if skipped:
            self.skipped += 1
            self._warn("skipped_status", f"row with status {text.strip()[:20]!r} skipped", line)
        return skipped

    # --- amounts -------------------------------------------------------------------------

    def _parse(self, line: int, text: str) -> tuple[Decimal, int, str | None] | None:
        decimal = self._decimal
        try:
            if decimal is None and ("," in text or "." in text):
                decimal = self._late_decimal(line, text)
            return parse_amount_text(text, decimal)
        except AmountTextError as exc:
            raise ParseError(str(exc), code="amount_invalid", line=line) from None

    def _late_decimal(self, line: int, text: str) -> DecimalSeparator | None:
        """No sampled amount had a separator; the first one that has decides, if it can."""
        try:
            parts = split_amount(text)
        except AmountTextError:
            return None  # parse_amount_text reports it
        evidence = decimal_evidence(parts.core) if parts else None
        if evidence == "ambiguous":
            raise ParseError(
                f"cannot tell whether {text.strip()[:20]!r} uses ',' or '.' as decimal "
                "separator; set decimal_separator in the mapping",
                code="ambiguous_decimal_separator",
                line=line,
            )
        if evidence in (".", ","):
            self._decimal = evidence
        return self._decimal

    def _general_amount(self, line: int, row: list[str]) -> tuple[Decimal, int, str | None] | None:
        """(signed value, decimals written, currency written in the cell) of the row."""
        if self._amount is not None:
            text = row[self._amount]
            parsed = self._parse(line, text)
            if parsed is None:
                return None
            value, decimals, currency = parsed
            if self._direction is not None:
                value = self._apply_direction(line, row[self._direction], value)
            # text of at most 18 characters and 6 decimals always fits the amount column
            needs_check = decimals > AMOUNT_DECIMAL_PLACES or len(text) > 18
        else:
            debit = self._parse(line, row[self._debit]) if self._debit is not None else None
            credit = self._parse(line, row[self._credit]) if self._credit is not None else None
            if debit is None and credit is None:
                return None
            value, decimals, currency = _ZERO, 0, None
            if debit is not None:
                # money out, whether the bank writes it unsigned or already negative
                value -= abs(debit[0])
                decimals, currency = debit[1], debit[2]
            if credit is not None:
                value += credit[0]
                decimals, currency = max(decimals, credit[1]), currency or credit[2]
            needs_check = True
        if self._invert:
            value = -value
        if needs_check:
            try:
                check_amount(value)
            except AmountError as exc:
                raise ParseError(str(exc), code="amount_invalid", line=line) from None
        return value, decimals, currency

    def _apply_direction(self, line: int, text: str, value: Decimal) -> Decimal:
        sign = self._markers.get(text)
        if sign is None:
            stripped = text.strip()
            if not stripped:
                sign = self._blank_sign or 0
            else:
                found = marker_sign(stripped)
                if found is None:
                    raise ParseError(
                        f"{stripped[:20]!r} is not a credit/debit marker",
                        code="direction_invalid",
                        line=line,
                    )
                sign = found
            if len(self._markers) < 100:
                self._markers[text] = sign
        if sign == 0:
            return value
        return abs(value) if sign > 0 else -abs(value)

    def _row_currency(self, line: int, row: list[str], written: str | None) -> str:
        if self._currency is not None:
            text = row[self._currency]
            code = self._currencies.get(text)
            if code is not None:
                return code
            stripped = text.strip()
            if not stripped:
                code = self._default_currency
            else:
                code = _SYMBOL_CURRENCY.get(stripped.upper(), stripped.upper())
                if code not in MINOR_UNITS:
                    raise ParseError(
                        f"unknown currency {stripped[:10]!r}", code="currency_invalid", line=line
                    )
            if len(self._currencies) < 1000:
                self._currencies[text] = code
            return code
        return written or self._default_currency

    # --- text ----------------------------------------------------------------------------

    @staticmethod
    def _first(row: list[str], columns: tuple[int, ...]) -> str | None:
        for idx in columns:
            value = _clean(row[idx])
            if value:
                return value
        return None

    def _iban(self, row: list[str]) -> str | None:
        """The counterparty IBAN; a national account number (BBAN) is not an IBAN."""
        for idx in self._ibans:
            value = "".join(row[idx].split()).upper()
            if value:
                return value if _IBAN.fullmatch(value) else None
        return None

    # --- statement -----------------------------------------------------------------------

    def _track_balance(self, row: list[str], value: Decimal) -> None:
        assert self._balances is not None  # noqa: S101 - only called with a balance column
        assert self._balance is not None  # noqa: S101
        try:
            parsed = parse_amount_text(row[self._balance], self._decimal)
        except AmountTextError:
            parsed = None
        if parsed is None:
            self._balances.broken = True
        else:
            self._balances.add(parsed[0], value)

    def _track_account(self, text: str) -> None:
        value = _clean(text.strip('"'))
        if self._account_value is None:
            self._account_value = value
        elif value != self._account_value:
            self._account_consistent = False

    def _stated_balance(self, row: list[str]) -> None:
        """A footer such as `Closing balance;1.234,56` or `Kontostand vom 31.03.2024:;…`
        states a balance (or the period)."""
        self._stated.read_line(row, footer=True)

    def _stated_amount(self, text: str | None) -> Decimal | None:
        if not text:
            return None
        text, sign = soll_haben(text)
        try:
            parsed = parse_amount_text(text, self._decimal)
        except AmountTextError:
            return None
        return parsed[0] * sign if parsed else None

    def _period(self) -> tuple[date | None, date | None]:
        """The stated period, else the data rows' first and last booking day. A stated
        period that misses some rows is widened to them (a statement covers its rows)."""
        first = self.first_date if self.entry_count else None
        last = self.last_date if self.entry_count else None
        stated = self._stated
        start = read_stated_date(stated.period_from, self._dates)
        end = read_stated_date(stated.period_to, self._dates)
        if start is None or end is None or start > end:
            return first, last
        if first is not None and last is not None and (first < start or last > end):
            self._warn(
                "period_mismatch",
                f"the stated period {start} - {end} does not cover rows from {first} to {last}; "
                "widened to them",
                None,
            )
            start, end = min(start, first), max(end, last)
        return start, end

    def statement(self) -> StatementInfo:
        stated = self._stated
        period_from, period_to = self._period()
        dated = resolve_dated(stated.dated, self._dates, period_from)
        opening = self._stated_amount(stated.opening)
        opening_date = None
        if opening is None and dated.opening is not None:
            opening_date, text = dated.opening
            opening = self._stated_amount(text)
        closing = self._stated_amount(stated.closing)
        closing_date = None
        if closing is None and dated.closing is not None:
            closing_date, text = dated.closing
            closing = self._stated_amount(text)
        single_currency = len(self.currencies_seen) == 1
        if opening is None and closing is None and self._balances is not None and single_currency:
            chained = self._balances.result()
            if chained is not None:
                opening, closing = chained
        account = self._account_value if self._account_consistent else None
        compact = "".join(account.split()).upper() if account else ""
        is_iban = bool(compact) and _IBAN.fullmatch(compact) is not None
        return StatementInfo(
            index=0,
            account_iban=compact if is_iban else None,
            account_other_id=account if account and not is_iban else None,
            currency=next(iter(self.currencies_seen)) if single_currency else None,
            period_from=period_from,
            period_to=period_to,
            opening_balance=opening,
            opening_date=opening_date if opening is not None else None,
            closing_balance=closing,
            closing_date=closing_date if closing is not None else None,
            entry_count=self.entry_count,
            entry_sum=self.total,
            skipped_count=self.skipped,
        )
