"""A month with a known truth, through the whole product (issue #15's acceptance).

`benchmarks.truth_month` builds one business account's March 2024 (exact and
shifted payments, fees, weekend splits, payment runs with and without details, returns,
twins, noise; 0 %, 30 % or 100 % of the cases on a dozen common amounts and days) and
writes it as a camt.053 file and as a German bank CSV (preamble period and balances, SEPA
tags in the purpose text). Each test pushes the GL entries, uploads the file through
`source_file_upload()`, runs `run_auto_match()` and scores what a reviewer would see
against the truth (`benchmarks.truth`). The figures print with `-s`.

With `tolerance`, the ledger has an amount tolerance of 5.00 and the month adds fee cases
whose only evidence is the counterparty; without it the ledger is new (no tolerance) and
every fee case quotes a reference.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from benchmarks.truth import TruthFigures, truth_run
from benchmarks.truth_month import OPENING_CENTS, decimal_of, generate_month

pytestmark = pytest.mark.django_db

SEED = 7
# Automation (correct auto-accepts / truth units) before issue #15 (commit e67e3de), on
# this same generator and seed: it must not drop.
AUTOMATION_BEFORE: dict[tuple[int, float, bool, str], float] = {
    (200, 0.0, False, "camt.053"): 0.691,
    (200, 0.0, False, "csv"): 0.6011,
    (200, 0.0, True, "camt.053"): 0.6742,
    (200, 0.0, True, "csv"): 0.5843,
    (200, 0.3, False, "camt.053"): 0.7079,
    (200, 0.3, False, "csv"): 0.6067,
    (200, 0.3, True, "camt.053"): 0.7022,
    (200, 0.3, True, "csv"): 0.6011,
    (200, 1.0, False, "camt.053"): 0.7416,
    (200, 1.0, False, "csv"): 0.6236,
    (200, 1.0, True, "camt.053"): 0.7022,
    (200, 1.0, True, "csv"): 0.5843,
    (2000, 0.0, False, "camt.053"): 0.6958,
    (2000, 0.0, False, "csv"): 0.6061,
    (2000, 0.0, True, "camt.053"): 0.6693,
    (2000, 0.0, True, "csv"): 0.581,
    (2000, 0.3, False, "camt.053"): 0.7207,
    (2000, 0.3, False, "csv"): 0.6236,
    (2000, 0.3, True, "camt.053"): 0.7132,
    (2000, 0.3, True, "csv"): 0.6187,
    (2000, 1.0, False, "camt.053"): 0.7455,
    (2000, 1.0, False, "csv"): 0.6321,
    (2000, 1.0, True, "camt.053"): 0.7098,
    (2000, 1.0, True, "csv"): 0.604,
}

MIXES = [
    pytest.param(
        cases, collisions, tolerance, file_format, marks=[pytest.mark.slow] * (cases > 200)
    )
    for cases in (200, 2000)
    for collisions in (0.0, 0.3, 1.0)
    for tolerance in (False, True)
    for file_format in ("camt.053", "csv")
]


@pytest.mark.parametrize(("cases", "collisions", "tolerance", "file_format"), MIXES)
def test_the_truth_month_is_matched_as_constructed(
    cases: int, collisions: float, tolerance: bool, file_format: str, alice: object, org_a: object
) -> None:
    month = generate_month(cases, collisions=collisions, seed=SEED, tolerance=tolerance)
    figures = truth_run(month=month, file_format=file_format, organization=org_a, actor=alice)
    label = f"{cases} {collisions:.0%} tolerance={tolerance} {file_format}"
    print(f"\ntruth month {label}: {figures.as_dict()}")  # noqa: T201
    _check(figures, cases=cases, collisions=collisions, tolerance=tolerance)


def _check(figures: TruthFigures, *, cases: int, collisions: float, tolerance: bool) -> None:
    assert figures.f1 >= 0.99
    assert figures.link_f1 >= 0.99
    # Nothing wrong is ever accepted, and nothing ambiguous.
    assert figures.auto_accept_precision == 1.0
    assert figures.ambiguous_auto_accepted == 0
    # Every fee case is suggested with its difference and an amount_mismatch of it.
    assert figures.fee_cases > 0
    assert figures.fee_suggested_right == figures.fee_cases
    # No entry that has a partner is reported missing...
    assert figures.false_missing_in_ledger == 0
    assert figures.false_missing_in_statement == 0
    # ...while the GL entries without one in the statement's period all are (the last two
    # days of March are a weekend after the last booking: only the period covers them),
    # and none outside it.
    assert figures.found_missing_in_statement == figures.expected_missing_in_statement
    assert figures.missing_outside_period == 0
    # Balances: the CSV's "Kontostand vom 29.02.2024" is the opening balance.
    assert figures.balance_findings == 0
    assert figures.statement["period_from"] == date(2024, 3, 1)
    assert figures.statement["period_to"] == date(2024, 3, 31)
    assert Decimal(figures.statement["opening_balance"]) == decimal_of(OPENING_CENTS)
    assert (
        figures.automation >= AUTOMATION_BEFORE[(cases, collisions, tolerance, figures.file_format)]
    )
