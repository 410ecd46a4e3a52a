"""What a run is called where people look for it (#14.5): its account and statement period.

Pure (stdlib only), so the API serializer and the admin name a run the same way (ranges
use an en dash, U+2013, written "-" here):

- "Operating EUR · Mar 2024"          the period is one whole calendar month
- "Operating EUR · 1-15 Mar 2024"     part of one month (or one day: "29 Oct 2009")
- "Operating EUR · Feb-Mar 2024"      whole months, several of them
- "Operating EUR · 20 Feb-3 Mar 2024" any other span (years named when they differ)
- "Operating EUR · created 2024-04-02" no statement yet: the creation date

The name is the account's (else the ledger's); the period is the run's statements'
(earliest `from` to latest `to`).
"""

from __future__ import annotations

import calendar
import datetime as dt

SEPARATOR = " · "
DASH = "\u2013"  # an en dash between the ends of a range, as in print


def _month(day: dt.date) -> str:
    return calendar.month_abbr[day.month]


def _is_month_start(day: dt.date) -> bool:
    return day.day == 1


def _is_month_end(day: dt.date) -> bool:
    return day.day == calendar.monthrange(day.year, day.month)[1]


def period_text(first: dt.date, last: dt.date) -> str:
    """A date range the way a finance team writes it (see the module docstring)."""
    if last < first:
        first, last = last, first
    whole_months = _is_month_start(first) and _is_month_end(last)
    if whole_months:
        if (first.year, first.month) == (last.year, last.month):
            return f"{_month(first)} {first.year}"
        if first.year == last.year:
            return f"{_month(first)}{DASH}{_month(last)} {last.year}"
        return f"{_month(first)} {first.year}{DASH}{_month(last)} {last.year}"
    if first == last:
        return f"{first.day} {_month(first)} {first.year}"
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}{DASH}{last.day} {_month(last)} {last.year}"
    if first.year == last.year:
        return f"{first.day} {_month(first)}{DASH}{last.day} {_month(last)} {last.year}"
    return f"{first.day} {_month(first)} {first.year}{DASH}{last.day} {_month(last)} {last.year}"


def run_label(
    *,
    name: str,
    period_from: dt.date | None,
    period_to: dt.date | None,
    created_at: dt.datetime | dt.date,
) -> str:
    """`name · period`, or `name · created <date>` while the run has no statement period."""
    first = period_from or period_to
    last = period_to or period_from
    if first is not None and last is not None:
        return f"{name}{SEPARATOR}{period_text(first, last)}"
    created = created_at.date() if isinstance(created_at, dt.datetime) else created_at
    return f"{name}{SEPARATOR}created {created.isoformat()}"
