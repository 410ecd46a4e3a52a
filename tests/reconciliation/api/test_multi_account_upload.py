"""A camt.053 file with statements of several accounts, uploaded into a run bound to one
(issue #15, item 6): each statement goes into its own account of the ledger; an IBAN the
ledger does not know is 422 `account_mismatch` naming it."""

from __future__ import annotations

import io
import logging
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.test import override_settings

from benchmarks.truth_month import iban
from ledgers.services import LedgerEntryInput, account_create, ledger_entries_create
from reconciliation.choices import RunMode, RunStatus
from reconciliation.models import Match, MatchPart, SourceEntry, SourceFile, Statement
from reconciliation.services.auto_match import (
    _source_rows,
    run_auto_match,
    run_auto_match_job,
    run_free_parts,
)
from reconciliation.services.runs import run_create
from tests.reconciliation.parsers.camt_builder import Detail, Entry, camt053_bytes
from tests.reconciliation.parsers.camt_builder import Statement as CamtStatement

pytestmark = pytest.mark.django_db
RUNS = "/v1/ledgers/reconciliation/runs"
MAIN = "DE89370400440532013000"  # alice_account
SAVINGS = iban("10010010", 1234567890)
STRANGER = iban("20020020", 9876543210)
DAY = date(2024, 3, 4)


def _payment(amount: str, reference: str) -> Entry:
    return Entry(
        amount=Decimal(amount),
        credit=True,
        booking_date=DAY,
        details=(Detail(end_to_end_id=reference, counterparty_name="ACME GmbH"),),
    )


def _file(*ibans: str) -> bytes:
    statements = [
        CamtStatement(
            statement_id=f"S-{n}",
            iban=account_iban,
            entries=[_payment("100.00", f"E2E-ACCOUNT-{n}")],
        )
        for n, account_iban in enumerate(ibans)
    ]
    return camt053_bytes(statements, version=8)


def _upload(client, run, content: bytes):
    handle = io.BytesIO(content)
    handle.name = "two-accounts.xml"
    return client.post(f"{RUNS}/{run.pk}/sources/upload", {"file": handle}, format="multipart")


@pytest.fixture
def savings(alice_ledger, alice):
    return account_create(
        ledger=alice_ledger, name="Savings", code="1210", currency="EUR", iban=SAVINGS, actor=alice
    )


@pytest.fixture
def bound_run(alice_ledger, alice_account, alice):
    return run_create(ledger=alice_ledger, account=alice_account, actor=alice)


def test_each_statement_goes_into_its_own_account_of_the_ledger(
    api_client_for, bound_run, alice_account, savings
):
    response = _upload(api_client_for("rita"), bound_run, _file(MAIN, SAVINGS))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["imported"] == 2
    assert [(s["account_iban"], s["account_id"], s["imported"]) for s in body["statements"]] == [
        (MAIN, str(alice_account.pk), 1),
        (SAVINGS, str(savings.pk), 1),
    ]
    keys = dict(SourceEntry.objects.values_list("end_to_end_id", "account_key"))
    assert keys == {"E2E-ACCOUNT-0": MAIN, "E2E-ACCOUNT-1": SAVINGS}
    listed = api_client_for("bob").get(f"{RUNS}/{bound_run.pk}/sources").json()["results"]
    assert [(s["account"], s["account_id"]) for s in listed[0]["statements"]] == [
        (MAIN, str(alice_account.pk)),
        (SAVINGS, str(savings.pk)),
    ]


def test_an_iban_the_ledger_does_not_know_is_422_naming_it(
    api_client_for, bound_run, alice_account, savings
):
    response = _upload(api_client_for("rita"), bound_run, _file(MAIN, STRANGER, SAVINGS))
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["code"] == "account_mismatch"
    assert STRANGER in error["detail"]
    assert MAIN not in error["detail"]
    assert not SourceEntry.objects.exists()  # all or nothing
    assert not Statement.objects.exists()
    assert SourceFile.objects.get().status == "failed"


def test_every_unknown_iban_is_named(api_client_for, bound_run, alice_account):
    response = _upload(api_client_for("rita"), bound_run, _file(SAVINGS, STRANGER))
    assert response.status_code == 422
    detail = response.json()["errors"][0]["detail"]
    assert SAVINGS in detail
    assert STRANGER in detail


def _gl_of_each_account(ledger: Any, actor: Any, *accounts: Any) -> None:
    """A 100.00 GL entry per account, referencing its statement's payment in `_file`."""
    ledger_entries_create(
        ledger=ledger,
        actor=actor,
        items=[
            LedgerEntryInput(
                external_id=f"GL-{account.code}",
                amount=Decimal("100.00"),
                currency="EUR",
                booking_date=DAY,
                account_id=account.pk,
                reference=f"E2E-ACCOUNT-{n}",
            )
            for n, account in enumerate(accounts)
        ],
    )


def test_each_account_matches_its_own_gl_entries(
    api_client_for, alice, alice_ledger, bound_run, alice_account, savings
):
    # Both statements hold a 100.00 credit; each account's GL has one of 100.00.
    _gl_of_each_account(alice_ledger, alice, alice_account, savings)
    _upload(api_client_for("rita"), bound_run, _file(MAIN, SAVINGS))
    run_auto_match(run=bound_run, actor=alice)
    pairs = {
        (
            m.source_links.get().source_entry.account_key,
            m.ledger_links.get().ledger_entry.external_id,
        )
        for m in Match.objects.filter(run=bound_run)
    }
    assert pairs == {(MAIN, "GL-1200"), (SAVINGS, "GL-1210")}
    gl_all = api_client_for("bob").get(f"{RUNS}/{bound_run.pk}/gl-all").json()["results"]
    assert sorted(g["external_id"] for g in gl_all) == ["GL-1200", "GL-1210"]


def test_a_run_without_an_account_imports_every_statement_ledger_wide(
    api_client_for, alice_run, savings
):
    response = _upload(api_client_for("rita"), alice_run, _file(MAIN, STRANGER))
    assert response.status_code == 201, response.content
    assert [s["account_id"] for s in response.json()["statements"]] == [None, None]


def test_a_run_of_two_accounts_matched_in_parts_pairs_each_account_with_its_own_gl(
    api_client_for: Any,
    alice: Any,
    alice_ledger: Any,
    alice_account: Any,
    savings: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # As above, but the worker splits the pass by account (services/match_parts.py).
    _gl_of_each_account(alice_ledger, alice, alice_account, savings)
    run = run_create(
        ledger=alice_ledger, account=alice_account, mode=RunMode.AUTOMATIC, actor=alice
    )
    assert _upload(api_client_for("rita"), run, _file(MAIN, SAVINGS)).status_code == 201
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING  # its match request waits for the worker
    assert run_free_parts(run=run) == {(alice_account.pk, "EUR"): 1, (savings.pk, "EUR"): 1}
    for account, reference in ((alice_account, "E2E-ACCOUNT-0"), (savings, "E2E-ACCOUNT-1")):
        part = MatchPart(run=run, account=account, currency="EUR", rows=1)
        assert [set(r.references) for r in _source_rows(run, part=part)] == [{reference}]
    with (
        override_settings(RUN_MATCH_WORKERS=2, RUN_MATCH_PARTITION_MIN_ROWS=1),
        caplog.at_level(logging.INFO, logger="reconciliation.services.match_parts"),
    ):
        run_auto_match_job(run_id=run.pk)
    assert "matched in 2 parts" in caplog.text
    pairs = {
        (
            m.source_links.get().source_entry.account_key,
            m.ledger_links.get().ledger_entry.external_id,
        )
        for m in Match.objects.filter(run=run)
    }
    assert pairs == {(MAIN, "GL-1200"), (SAVINGS, "GL-1210")}
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED


def _fee_statement(
    account_iban: str | None, *, bank_reference: str | None, extra: bool = False
) -> bytes:
    fee = Entry(
        amount=Decimal("5.00"),
        credit=False,
        booking_date=DAY,
        bank_reference=bank_reference,
        description="Kontofuehrungsgebuehr",
    )
    entries = [fee, _payment("70.00", "E2E-LATER")] if extra else [fee]
    statement = CamtStatement(
        statement_id="S-FEE", iban=account_iban, other_id="KTO-4711", entries=entries
    )
    return camt053_bytes([statement], version=8)


@pytest.mark.parametrize("bank_reference", [None, "BNK0000001"])
def test_a_run_without_an_account_keeps_two_accounts_identical_lines(
    api_client_for: Any, alice_run: Any, bank_reference: str | None
) -> None:
    # The same fee on the same day on two accounts (and, for banks that number their
    # references per account, the same bank reference): two entries, not a duplicate.
    client = api_client_for("rita")
    for number, account_iban in enumerate((MAIN, SAVINGS)):
        handle = io.BytesIO(_fee_statement(account_iban, bank_reference=bank_reference))
        handle.name = f"fees-{number}.xml"
        response = client.post(
            f"{RUNS}/{alice_run.pk}/sources/upload", {"file": handle}, format="multipart"
        )
        assert response.status_code == 201, response.content
        assert (response.json()["imported"], response.json()["skipped_duplicates"]) == (1, 0)
    keys = sorted(SourceEntry.objects.filter(run=alice_run).values_list("account_key", flat=True))
    assert keys == sorted([MAIN, SAVINGS])

    # The savings statement again, overlapping with one new line: only that line is new.
    handle = io.BytesIO(_fee_statement(SAVINGS, bank_reference=bank_reference, extra=True))
    handle.name = "fees-again.xml"
    again = client.post(
        f"{RUNS}/{alice_run.pk}/sources/upload", {"file": handle}, format="multipart"
    )
    assert (again.json()["imported"], again.json()["skipped_duplicates"]) == (1, 1)


def test_entries_a_run_without_an_account_keyed_ledger_wide_still_count_as_earlier_imports(
    api_client_for: Any, alice_run: Any
) -> None:
    # A statement without an IBAN keys its entries "" (ledger-wide), as this kind of run
    # keyed every entry before; an overlapping statement that names its IBAN skips them,
    # and one without an IBAN again skips what either imported.
    client = api_client_for("rita")
    for name, account_iban, extra, expected in (
        ("fees-no-iban.xml", None, False, (1, 0)),
        ("fees-with-iban.xml", SAVINGS, True, (1, 1)),
        ("fees-no-iban-again.xml", None, True, (0, 2)),
    ):
        handle = io.BytesIO(_fee_statement(account_iban, bank_reference=None, extra=extra))
        handle.name = name
        response = client.post(
            f"{RUNS}/{alice_run.pk}/sources/upload", {"file": handle}, format="multipart"
        )
        assert response.status_code == 201, response.content
        assert (response.json()["imported"], response.json()["skipped_duplicates"]) == expected
    keys = sorted(SourceEntry.objects.filter(run=alice_run).values_list("account_key", flat=True))
    assert keys == ["", SAVINGS]
