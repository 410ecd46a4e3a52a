"""Run labels (#14.5): account and statement period, the way a finance team writes them."""

from __future__ import annotations

import datetime as dt

import pytest

from reconciliation.labels import run_label

D = dt.date
CREATED = dt.datetime(2024, 4, 2, 9, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        (D(2024, 3, 1), D(2024, 3, 31), "Operating EUR · Mar 2024"),
        (D(2024, 3, 1), D(2024, 3, 15), "Operating EUR · 1\u201315 Mar 2024"),
        (D(2024, 2, 1), D(2024, 3, 31), "Operating EUR · Feb\u2013Mar 2024"),
        (D(2024, 2, 20), D(2024, 3, 3), "Operating EUR · 20 Feb\u20133 Mar 2024"),
        (D(2023, 12, 1), D(2024, 1, 31), "Operating EUR · Dec 2023\u2013Jan 2024"),
        (D(2023, 12, 30), D(2024, 1, 2), "Operating EUR · 30 Dec 2023\u20132 Jan 2024"),
        (D(2009, 10, 29), D(2009, 10, 29), "Operating EUR · 29 Oct 2009"),
        (D(2024, 2, 1), D(2024, 2, 29), "Operating EUR · Feb 2024"),  # leap year
    ],
)
def test_a_run_is_named_by_account_and_statement_period(first, last, expected):
    label = run_label(name="Operating EUR", period_from=first, period_to=last, created_at=CREATED)
    assert label == expected


def test_a_run_without_a_statement_is_named_by_its_creation_date():
    label = run_label(name="Main", period_from=None, period_to=None, created_at=CREATED)
    assert label == "Main · created 2024-04-02"


def test_a_statement_with_only_an_end_date_is_named_by_that_day():
    label = run_label(name="Main", period_from=None, period_to=D(2024, 3, 31), created_at=CREATED)
    assert label == "Main · 31 Mar 2024"
