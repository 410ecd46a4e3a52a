"""Amounts as banks write them in CSV files: `1,234.56`, `1.234,56`, `1'234.56`, `(12.00)`.

Which of `.` and `,` is the decimal separator is decided once per file from every amount
column of a sample (`DecimalVote`), never per value: `1,234` alone can be 1234 or 1.234.
The text is normalised to canonical decimal text and handed to `Decimal`, never to float.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final, Literal

from ledgers.money import MINOR_UNITS

DecimalSeparator = Literal[".", ","]

# Characters banks use to group thousands that can never be a decimal separator.
_GROUPING: Final = "'\u2019\u02bc` \u00a0\u202f\u2009\u2007\u2008"
_GROUPING_TABLE: Final = str.maketrans("", "", _GROUPING)
_MINUS: Final = frozenset("-\u2212\u2013")  # hyphen, minus sign, en dash (Excel exports)
# Abbreviations written beside an amount that are neither ISO codes nor symbols.
_LOCAL_CURRENCY_WORDS: Final = frozenset(
    {"fr", "sfr", "kr", "zl", "zł", "руб", "р", "rs", "ft", "lei", "kč", "kc"}  # noqa: RUF001
)
# an empty debit or credit cell: hyphen, minus sign, en dash, em dash
_PLACEHOLDERS: Final = frozenset({"-", "\u2212", "\u2013", "\u2014"})
_SYMBOL_CURRENCY: Final = {"€": "EUR", "£": "GBP", "₽": "RUB", "₺": "TRY", "₴": "UAH", "₹": "INR"}

_SPLIT: Final = re.compile(r"^(?P<pre>[^\d.,]*)(?P<num>[\d.,]*\d[\d.,]*)(?P<post>[^\d]*)$")
_GROUPED: Final = re.compile(r"\d{1,3}(?:X\d{3})+")
_DIGITS: Final = re.compile(r"\d+")
_LETTERS: Final = re.compile(r"[^\W\d_]+")


class AmountTextError(ValueError):
    """The cell is not an amount in any style we know; the message is safe to show."""


@dataclass(frozen=True, slots=True)
class SplitAmount:
    """A cell taken apart: sign, digits with separators, and a currency written beside it."""

    negative: bool
    explicit_sign: bool  # a +, -, (), CR or DR was written
    core: str  # digits and . , only (grouping spaces and apostrophes removed)
    currency: str | None  # ISO code or symbol written in the cell, when it names one


def _snippet(text: str) -> str:
    return repr(text[:40])


def _read_affixes(affix: str, where: str, text: str) -> tuple[int, int, bool, str | None]:
    """(minus signs, plus signs, parenthesis, currency) found in text around the digits."""
    minus = plus = 0
    paren = False
    currency: str | None = None
    for word in _LETTERS.findall(affix):
        upper = word.upper()
        if upper == "CR":
            plus += 1
        elif upper == "DR":
            minus += 1
        elif upper in MINOR_UNITS:
            currency = upper
        elif word.casefold() not in _LOCAL_CURRENCY_WORDS:
            raise AmountTextError(f"not an amount: {_snippet(text)}")
    for char in _LETTERS.sub("", affix):
        if char in _MINUS:
            minus += 1
        elif char == "+":
            plus += 1
        elif char in "()":
            paren = True
        elif char in _SYMBOL_CURRENCY:
            currency = currency or _SYMBOL_CURRENCY[char]
        elif char.isspace() or char == "." or unicodedata.category(char) == "Sc":
            continue
        else:
            raise AmountTextError(f"not an amount: {_snippet(text)} ({where})")
    return minus, plus, paren, currency


def split_amount(text: str) -> SplitAmount | None:
    """Take a non-canonical amount cell apart; None when the cell is empty."""
    stripped = text.strip()
    if not stripped or stripped in _PLACEHOLDERS:
        return None
    match = _SPLIT.match(stripped.translate(_GROUPING_TABLE))
    if match is None:
        raise AmountTextError(f"not an amount: {_snippet(text)}")
    pre_minus, pre_plus, pre_paren, pre_cur = _read_affixes(match["pre"], "before", text)
    post_minus, post_plus, post_paren, post_cur = _read_affixes(match["post"], "after", text)
    if pre_paren != post_paren:
        raise AmountTextError(f"unbalanced parenthesis in amount {_snippet(text)}")
    minus = pre_minus + post_minus + (1 if pre_paren else 0)
    plus = pre_plus + post_plus
    if minus > 1 or plus > 1 or (minus and plus):
        raise AmountTextError(f"contradictory signs in amount {_snippet(text)}")
    return SplitAmount(
        negative=bool(minus),
        explicit_sign=bool(minus or plus),
        core=match["num"],
        currency=pre_cur or post_cur,
    )


def decimal_evidence(core: str) -> DecimalSeparator | Literal["ambiguous"] | None:
    """What one number says about the decimal separator.

    `"."`/`","`: it can only be read with that decimal separator. `"ambiguous"`: one
    separator followed by exactly three digits (`1,234`). None: no separator at all.
    """
    dots = core.count(".")
    commas = core.count(",")
    if dots and commas:
        return "." if core.rfind(".") > core.rfind(",") else ","
    if not dots and not commas:
        return None
    sep = "." if dots else ","
    if dots + commas > 1:
        return "," if sep == "." else "."  # repeated: it groups thousands
    head, _, tail = core.partition(sep)
    if len(tail) == 3 and 1 <= len(head) <= 3 and not head.startswith("0"):
        return "ambiguous"
    return sep  # type: ignore[return-value]


def canonical_number(core: str, decimal: DecimalSeparator | None) -> str:
    """`core` (digits, `.` and `,`) as plain decimal text under the decided separator.

    Raises AmountTextError when the number cannot be written with that separator (it
    contradicts the column) or `decimal` is None and the number needs it.
    """
    if decimal is None:
        if "." in core or "," in core:
            raise AmountTextError("ambiguous decimal separator")
        return core
    thousands = "," if decimal == "." else "."
    integer, _, fraction = core.partition(decimal)
    if decimal in fraction or thousands in fraction:
        raise AmountTextError(f"{core!r} does not use {decimal!r} as decimal separator")
    if thousands in integer:
        if not _GROUPED.fullmatch(integer.replace(thousands, "X")):
            raise AmountTextError(f"{core!r} does not use {decimal!r} as decimal separator")
        integer = integer.replace(thousands, "")
    if not integer:
        integer = "0"
    if not _DIGITS.fullmatch(integer) or (fraction and not _DIGITS.fullmatch(fraction)):
        raise AmountTextError(f"{core!r} is not a number")
    return f"{integer}.{fraction}" if fraction else integer


# Plain cells (optionally grouped with the other separator) skip `split_amount`: most rows.
FAST_AMOUNT: Final = {
    ".": re.compile(r"(-?)(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?"),
    ",": re.compile(r"(-?)(\d{1,3}(?:\.\d{3})+|\d+)(?:,(\d+))?"),
    None: re.compile(r"(-?)(\d+)()"),
}


def parse_amount_text(
    text: str, decimal: DecimalSeparator | None
) -> tuple[Decimal, int, str | None] | None:
    """(signed value, decimals written, currency written in the cell); None when empty.

    Raises AmountTextError when the cell is not an amount under `decimal`.
    """
    fast = FAST_AMOUNT[decimal].fullmatch(text)
    if fast is not None:
        sign, integer, fraction = fast.groups()
        if decimal is not None and len(integer) > 3:
            integer = integer.replace("," if decimal == "." else ".", "")
        if fraction:
            return Decimal(f"{sign}{integer}.{fraction}"), len(fraction), None
        return Decimal(f"{sign}{integer}"), 0, None
    parts = split_amount(text)
    if parts is None:
        return None
    number = canonical_number(parts.core, decimal)
    try:
        value = Decimal(number)
    except InvalidOperation:  # pragma: no cover - canonical_number only lets digits through
        raise AmountTextError(f"not an amount: {_snippet(text)}") from None
    decimals = len(number) - number.index(".") - 1 if "." in number else 0
    return (-value if parts.negative else value), decimals, parts.currency


@dataclass(slots=True)
class DecimalVote:
    """Collects what sampled amount cells say about the decimal separator."""

    dot: int = 0
    comma: int = 0
    ambiguous: int = 0
    first_dot_line: int | None = None
    first_comma_line: int | None = None

    def add(self, text: str, line: int) -> None:
        """Count one cell; raises AmountTextError when it is not an amount at all."""
        parts = split_amount(text)
        if parts is None:
            return
        evidence = decimal_evidence(parts.core)
        if evidence == ".":
            self.dot += 1
            if self.first_dot_line is None:
                self.first_dot_line = line
        elif evidence == ",":
            self.comma += 1
            if self.first_comma_line is None:
                self.first_comma_line = line
        elif evidence == "ambiguous":
            self.ambiguous += 1

    @property
    def conflicting(self) -> bool:
        return bool(self.dot and self.comma)

    def decision(self) -> DecimalSeparator | None:
        """The separator every decisive cell agrees on; None when nothing decides."""
        if self.dot and not self.comma:
            return "."
        if self.comma and not self.dot:
            return ","
        return None


class BalanceChain:
    """A running-balance column: opening/closing are claimed only when the rows chain up."""

    def __init__(self) -> None:
        self.count = 0
        self.ascending = True  # balance[i] = balance[i-1] + amount[i]
        self.descending = True  # balance[i-1] = balance[i] + amount[i-1] (newest first)
        self.first: tuple[Decimal, Decimal] | None = None
        self.last: tuple[Decimal, Decimal] | None = None
        self.broken = False

    def add(self, balance: Decimal, amount: Decimal) -> None:
        if self.last is None:
            self.first = (balance, amount)
        else:
            previous_balance, previous_amount = self.last
            self.ascending = self.ascending and balance == previous_balance + amount
            self.descending = self.descending and previous_balance == balance + previous_amount
        self.last = (balance, amount)
        self.count += 1

    def result(self) -> tuple[Decimal, Decimal] | None:
        """(opening, closing) when the column chains up in exactly one direction."""
        if self.broken or self.first is None or self.last is None or self.count < 2:
            return None
        if self.ascending == self.descending:
            return None
        if self.ascending:
            return self.first[0] - self.first[1], self.last[0]
        return self.last[0] - self.last[1], self.first[0]
