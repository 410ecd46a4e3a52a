"""Dates as banks write them in CSV files.

ISO (`2019-03-31`), `31.03.2019`, `31/03/2019`, `03/31/2019`, `31-03-19`, `12-Dec-2019`,
`12. Okt 2019`, with or without a time part. Day/month order is a property of the whole
file: `DateOrderVote` collects what every sampled value allows, and `DateReader` then
reads the column with the decided order, refusing a value that contradicts it instead of
swapping day and month silently.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final, Literal

DateOrder = Literal["DMY", "MDY"]

_TIME: Final = (
    r"(?:(?:[ T,]+|\s*-\s*)\d{1,2}[:.]\d{2}(?:[:.]\d{2}(?:[.,]\d{1,9})?)?"
    r"\s*(?:[AaPp]\.?[Mm]\.?)?(?:\s*(?:Z|UTC|GMT|[+-]\d{2}:?\d{2}))?)?\s*"
)
_NUMERIC: Final = re.compile(r"\s*(\d{1,4})([./-])(\d{1,2})\2(\d{1,4})\.?" + _TIME)
_NAMED: Final = re.compile(
    r"\s*(\d{1,2})\.?[\s./-]*([^\W\d_]{3,10})\.?[\s./-]*(\d{4}|\d{2})" + _TIME
)
_NAMED_FIRST: Final = re.compile(r"\s*([^\W\d_]{3,10})\.?\s+(\d{1,2}),?\s+(\d{4})" + _TIME)
_COMPACT: Final = re.compile(r"\s*(\d{4})(\d{2})(\d{2})" + _TIME)

_MONTH_WORDS: Final = (
    "january jan januar janner janv janvier januari январь января янв",
    "february feb februar fevr fevrier februari февраль февраля фев",
    "march mar marz maerz mrz mars maart mrt март марта",
    "april apr avril avr апрель апреля апр",
    "may mai mei май мая",
    "june jun juni juin июнь июня июн",
    "july jul juli juil juillet июль июля июл",
    "august aug aout augustus август августа авг",
    "september sep sept septembre сентябрь сентября сен сент",
    "october oct oktober okt octobre октябрь октября окт",
    "november nov novembre ноябрь ноября ноя",
    "december dec dezember dez decembre декабрь декабря дек",
)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_MONTHS: Final = {
    _fold(word): number
    for number, words in enumerate(_MONTH_WORDS, start=1)
    for word in words.split()
}
MIN_YEAR: Final = 1900
MAX_YEAR: Final = 2199


class DateTextError(ValueError):
    """Not a date, or a date that contradicts the decided order; the message is safe to show."""

    def __init__(self, message: str, *, contradiction: bool = False) -> None:
        super().__init__(message)
        self.contradiction = contradiction


def _year(text: str) -> int:
    year = int(text)
    if len(text) <= 2:
        # strptime's %y pivot, so a mapping's format and detection agree
        year += 2000 if year < 69 else 1900
    return year


def _make(year: int, month: int, day: int) -> date | None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class DateShape:
    """What one cell allows: fixed (ISO, month name) or a day/month pair to be ordered."""

    fixed: date | None = None
    dmy: date | None = None
    mdy: date | None = None
    separator: str = ""

    @property
    def readable(self) -> bool:
        return self.fixed is not None or self.dmy is not None or self.mdy is not None

    @property
    def ambiguous(self) -> bool:
        return self.dmy is not None and self.mdy is not None and self.dmy != self.mdy


def date_shape(text: str) -> DateShape | None:
    """How `text` can be read as a date; None when it has no date shape at all."""
    match = _NUMERIC.fullmatch(text)
    if match is not None:
        first, sep, second, third = match.groups()
        if len(first) == 4:
            if len(third) > 2:
                return None
            return DateShape(fixed=_make(int(first), int(second), int(third)), separator=sep)
        if len(first) > 2 or len(third) not in (2, 4):
            return None
        year = _year(third)
        return DateShape(
            dmy=_make(year, int(second), int(first)),
            mdy=_make(year, int(first), int(second)),
            separator=sep,
        )
    match = _NAMED.fullmatch(text)
    if match is not None:
        month = _MONTHS.get(_fold(match[2]))
        if month is None:
            return None
        return DateShape(fixed=_make(_year(match[3]), month, int(match[1])))
    match = _NAMED_FIRST.fullmatch(text)
    if match is not None:
        month = _MONTHS.get(_fold(match[1]))
        if month is None:
            return None
        return DateShape(fixed=_make(int(match[3]), month, int(match[2])))
    match = _COMPACT.fullmatch(text)
    if match is not None:
        return DateShape(fixed=_make(int(match[1]), int(match[2]), int(match[3])))
    return None


def looks_like_date(text: str) -> bool:
    shape = date_shape(text)
    return shape is not None and shape.readable


@dataclass(slots=True)
class DateOrderVote:
    """Narrows the day/month order over every sampled value of every date column."""

    allowed: set[str] = field(default_factory=lambda: {"DMY", "MDY"})
    ambiguous: int = 0
    ordered: int = 0  # values that needed an order at all
    dot_separated: int = 0

    def add(self, text: str) -> bool:
        """Count one value; False when it cannot be read as a date at all."""
        shape = date_shape(text)
        if shape is None or not shape.readable:
            return False
        if shape.fixed is not None:
            return True
        self.ordered += 1
        if shape.separator == ".":
            self.dot_separated += 1
        readable = {name for name, value in (("DMY", shape.dmy), ("MDY", shape.mdy)) if value}
        if shape.ambiguous:
            self.ambiguous += 1
        self.allowed &= readable
        return True

    @property
    def contradictory(self) -> bool:
        return self.ordered > 0 and not self.allowed

    def decision(self, *, day_first_hint: bool) -> DateOrder | None:
        """The order the values allow; a hint only settles a column where all are ambiguous."""
        if len(self.allowed) == 1:
            return "DMY" if "DMY" in self.allowed else "MDY"
        if self.ordered and self.allowed and (day_first_hint or self.dot_separated):
            return "DMY"
        return None


_CACHE_LIMIT: Final = 8192


@dataclass(slots=True)
class DateReader:
    """Reads one file's dates with a decided order or an explicit strptime format."""

    order: DateOrder | None = None
    date_format: str | None = None
    cache: dict[str, date] = field(default_factory=dict)

    def read(self, text: str) -> date:
        """The date of `text`; raises DateTextError (never another exception)."""
        cached = self.cache.get(text)
        if cached is not None:
            return cached
        value = self._read_format(text) if self.date_format else self._read_detected(text)
        if len(self.cache) >= _CACHE_LIMIT:
            self.cache.clear()
        self.cache[text] = value
        return value

    def _read_format(self, text: str) -> date:
        assert self.date_format is not None  # noqa: S101 - only called when set
        stripped = text.strip()
        candidates = [stripped]
        if " " in stripped or "T" in stripped:
            # a mapping's date-only format still reads "31.03.2019 14:22:05"
            candidates.append(re.split(r"[ T]", stripped, maxsplit=1)[0])
        for candidate in candidates:
            try:
                parsed = datetime.strptime(candidate, self.date_format)  # noqa: DTZ007 - a calendar day, no instant
            except ValueError:
                continue
            if MIN_YEAR <= parsed.year <= MAX_YEAR:
                return parsed.date()
        raise DateTextError(
            f"date {text[:40]!r} does not match the mapping's date_format {self.date_format!r}"
        )

    def _read_detected(self, text: str) -> date:
        shape = date_shape(text)
        if shape is None or not shape.readable:
            raise DateTextError(f"not a date: {text[:40]!r}")
        if shape.fixed is not None:
            return shape.fixed
        if self.order is None:
            if shape.ambiguous or shape.dmy is None or shape.mdy is None:
                # only one order reads it, but nothing before decided which the file uses
                raise DateTextError(
                    f"cannot tell day from month in {text[:40]!r}; set date_format in the mapping",
                    contradiction=True,
                )
            return shape.dmy
        value = shape.dmy if self.order == "DMY" else shape.mdy
        if value is None:
            other = "month/day" if self.order == "DMY" else "day/month"
            raise DateTextError(
                f"date {text[:40]!r} can only be read as {other}, but earlier rows were "
                f"{'day/month' if self.order == 'DMY' else 'month/day'}; "
                "set date_format in the mapping",
                contradiction=True,
            )
        return value
