"""GET RUNS/{id}/report: the bank reconciliation statement, worked on a real statement.

The statement is the Finance Finland (FFFS) sample camt.053
(camt053/finland-v02-batches-eur-usd-charges.xml). Read from the file:

- account FI7433010001222090, statement BANKSTMTID0972009 for 2009-10-29
  (FrToDt 02:00-21:00 +02:00), OPBD 10000.00 CRDT, CLBD 23644.83 CRDT;
- ten EUR entries, all booked 2009-10-29:
  ARCH01 -1000.12, ARCH02 -4000.00, ARCH03 -4230.05 (Creditor Company, "Invoices 123 and
  321"), ARCH04 +2000.00, ARCH21 +500.00, ARCH05 +3000.00, ARCH06 +2120.00 (DEBTOR NAME,
  "INVOICE US20291092"), ARCH07 +5455.00, ARCH08 +10000.00, ARCH09 -200.00 (SEB Merchant
  Banking Finland). 10000.00 + 13644.83 = 23644.83.

The books (written here): the account opens on 2009-10-01 with 10000.00, the bank's
opening balance. Eight GL entries pay or collect what the bank shows (the customer of
ARCH06 was invoiced 2125.00: the bank credited 2120.00, a 5.00 difference); a deposit of
750.00 and a cheque of -1250.50 are not on the statement yet; a payment dated 2009-10-30
is after the period end; ARCH21 (+500.00) is not in the books and ARCH09 (-200.00, a
merchant fee) is closed by the reviewer as a write-off.

By hand:
  book balance     10000.00 + (-1000.12 - 4000.00 - 4230.05 + 2000.00 + 3000.00 + 2125.00
                   + 5455.00 + 10000.00 + 750.00 - 1250.50) = 22849.33
  adjusted bank    23644.83 + 750.00 - 1250.50                    = 23144.33
  adjusted book    22849.33 + 500.00 (bank only) - 5.00 (partial) - 200.00 (closed)
                                                                  = 23144.33
  difference       0.00
"""

from __future__ import annotations

import io
from decimal import Decimal

import pytest

pytestmark = pytest.mark.django_db
RUNS = "/v1/ledgers/reconciliation/runs"
BASE = "/v1/ledgers/reconciliation"
FINLAND = "camt053/finland-v02-batches-eur-usd-charges.xml"

GL = [
    # external_id, amount, booking date, reference, counterparty
    ("PAY-101", "-1000.12", "2009-10-29", "", ""),
    ("PAY-102", "-4000.00", "2009-10-28", "", ""),
    ("PAY-103", "-4230.05", "2009-10-27", "Invoices 123 and 321", "Creditor Company"),
    ("REC-201", "2000.00", "2009-10-29", "", ""),
    ("REC-202", "3000.00", "2009-10-29", "", ""),
    ("REC-203", "2125.00", "2009-10-28", "INVOICE US20291092", "DEBTOR NAME"),
    ("REC-204", "5455.00", "2009-10-29", "", ""),
    ("REC-205", "10000.00", "2009-10-29", "", ""),
    ("REC-206", "750.00", "2009-10-29", "", "Customer paying by cheque"),
    ("PAY-104", "-1250.50", "2009-10-26", "CHQ 000123", "Supplier"),
    ("PAY-105", "-300.00", "2009-10-30", "", "After the period end"),
]


@pytest.fixture
def finland(api_client_for, alice_ledger, fixtures_dir):
    """The worked month, reconciled through the API by alice (admin) and rita (reviewer)."""
    alice, rita = api_client_for("alice"), api_client_for("rita")
    account = alice.post(
        "/v1/ledgers/accounts",
        {
            "ledger_id": str(alice_ledger.pk),
            "name": "Operating EUR",
            "code": "1100",
            "currency": "EUR",
            "iban": "FI7433010001222090",
            "opening_balance": "10000.00",
            "opening_balance_date": "2009-10-01",
        },
        format="json",
    )
    assert account.status_code == 201, account.content
    assert account.json()["opening_balance"] == "10000.00"
    account_id = account.json()["id"]
    pushed = rita.post(
        f"/v1/ledgers/{alice_ledger.pk}/entries",
        [
            {
                "external_id": ext,
                "account_id": account_id,
                "amount": amount,
                "currency": "EUR",
                "booking_date": day,
                "reference": ref,
                "counterparty": party,
            }
            for ext, amount, day, ref, party in GL
        ],
        format="json",
    )
    assert pushed.status_code == 201, pushed.content
    gl = {row["external_id"]: row["id"] for row in pushed.json()["results"]}
    run = alice.post(
        RUNS, {"ledger_id": str(alice_ledger.pk), "account_id": account_id}, format="json"
    ).json()
    upload = io.BytesIO((fixtures_dir / FINLAND).read_bytes())
    upload.name = "finland.xml"
    assert (
        rita.post(f"{RUNS}/{run['id']}/sources/upload", {"file": upload}, format="multipart")
    ).status_code == 201
    assert rita.post(f"{RUNS}/{run['id']}/auto-match", {}, format="json").status_code == 200
    items = {
        row["bank_reference"]: row
        for row in rita.get(f"{RUNS}/{run['id']}/items?limit=50").json()["results"]
    }
    # Accept every suggestion: each pairs an entry with the GL entry of the same amount.
    for match in rita.get(f"{RUNS}/{run['id']}/matches?status=suggested").json()["results"]:
        assert match["source_total"] == match["ledger_total"]
        accepted = rita.post(f"{BASE}/matches/{match['id']}/accept", {}, format="json")
        assert accepted.status_code == 200
    # The 5.00 short payment: paired by hand.
    manual = rita.post(
        f"{RUNS}/{run['id']}/manual-match",
        {
            "source_entry_ids": [items["091029ACCTSTMTARCH06"]["id"]],
            "ledger_entry_ids": [gl["REC-203"]],
            "note": "customer deducted 5.00",
        },
        format="json",
    )
    assert manual.status_code == 201, manual.content
    closed = rita.post(
        f"{BASE}/items/{items['091029ACCTSTMTARCH09']['id']}/close",
        {
            "ledger_id": str(alice_ledger.pk),
            "reason": "write_off",
            "note": "merchant fee, booked in November",
        },
        format="json",
    )
    assert closed.status_code == 200
    return {"run": run, "items": items, "gl": gl, "manual": manual.json()}


def test_the_finland_month_balances_to_the_cent(api_client_for, finland):
    response = api_client_for("bob").get(f"{RUNS}/{finland['run']['id']}/report")
    assert response.status_code == 200
    report = response.json()
    assert report["label"] == "Operating EUR · 29 Oct 2009"
    assert report["currency"] == "EUR"
    assert (report["period_end"], report["period_end_source"]) == ("2009-10-29", "statement_period")
    assert report["statement"]["statement_id"] == "BANKSTMTID0972009"
    assert report["statement"]["closing_balance"] == "23644.83"
    assert report["bank_closing_balance"] == "23644.83"
    assert report["book"] == {
        "opening_balance": "10000.00",
        "opening_balance_date": "2009-10-01",
        "entries_total": "12849.33",
        "entry_count": 10,
        "balance": "22849.33",
    }
    assert report["deposits_in_transit"]["total"] == "750.00"
    assert [r["external_id"] for r in report["deposits_in_transit"]["rows"]] == ["REC-206"]
    assert report["unpresented_payments"]["total"] == "-1250.50"
    assert [r["external_id"] for r in report["unpresented_payments"]["rows"]] == ["PAY-104"]
    assert report["outstanding_total"] == "-500.50"
    assert report["bank_only"]["total"] == "500.00"
    assert [r["id"] for r in report["bank_only"]["rows"]] == [
        finland["items"]["091029ACCTSTMTARCH21"]["id"]
    ]
    assert report["partial_differences"]["total"] == "-5.00"
    partial = report["partial_differences"]["rows"][0]
    assert (partial["id"], partial["ledger_external_ids"]) == (finland["manual"]["id"], ["REC-203"])
    assert (partial["source_total"], partial["ledger_total"]) == ("2120.00", "2125.00")
    assert report["closed_items"]["total"] == "-200.00"
    closed = report["closed_items"]["rows"][0]
    assert closed["id"] == finland["items"]["091029ACCTSTMTARCH09"]["id"]
    assert (closed["close_reason"], closed["close_note"], closed["closed_by"]) == (
        "write_off",
        "merchant fee, booked in November",
        "rita",
    )
    assert closed["closed_at"] is not None
    assert report["matched_outside_book"] == {"total": "0.00", "count": 0, "rows": []}
    assert report["adjusted_bank_balance"] == "23144.33"
    assert report["adjusted_book_balance"] == "23144.33"
    assert report["difference"] == "0.00"
    assert report["balanced"] is True
    assert (report["frozen"], report["sha256"]) == (False, None)
    assert report["warnings"] == []


def test_a_pending_suggestion_leaves_both_sides_as_reconciling_items(api_client_for, finland):
    rita = api_client_for("rita")
    run_id = finland["run"]["id"]
    accepted = rita.get(f"{RUNS}/{run_id}/matches?status=accepted&kind=auto").json()["results"]
    ten_thousand = next(m for m in accepted if m["source_total"] == "10000.00")
    undone = rita.post(f"{RUNS}/{run_id}/matches/{ten_thousand['id']}/unmatch", {}, format="json")
    assert undone.json()["status"] == "suggested"
    report = rita.get(f"{RUNS}/{run_id}/report").json()
    # The bank's 10000.00 is bank-only again, the GL's 10000.00 a deposit in transit.
    assert report["bank_only"]["total"] == "10500.00"
    assert report["deposits_in_transit"]["total"] == "10750.00"
    assert (report["difference"], report["balanced"]) == ("0.00", True)


def test_a_gl_entry_matched_after_the_period_end_is_explained(api_client_for, finland):
    rita = api_client_for("rita")
    run_id = finland["run"]["id"]
    # The 500.00 is paired with the payment booked on 2009-10-30 (after T): its GL side is
    # not in the book balance, so it is listed and added back.
    manual = rita.post(
        f"{RUNS}/{run_id}/manual-match",
        {
            "source_entry_ids": [finland["items"]["091029ACCTSTMTARCH21"]["id"]],
            "ledger_entry_ids": [finland["gl"]["PAY-105"]],
        },
        format="json",
    )
    assert manual.status_code == 201
    report = rita.get(f"{RUNS}/{run_id}/report").json()
    assert report["bank_only"]["total"] == "0.00"
    assert report["partial_differences"]["total"] == "795.00"  # -5.00 + (500.00 - -300.00)
    assert report["matched_outside_book"]["total"] == "-300.00"
    assert (report["difference"], report["balanced"]) == ("0.00", True)


def test_an_unexplained_gl_error_shows_as_the_difference(api_client_for, finland, alice_ledger):
    rita = api_client_for("rita")
    pushed = rita.post(
        f"/v1/ledgers/{alice_ledger.pk}/entries",
        {
            "external_id": "TYPO-1",
            "account_id": finland["run"]["account_id"],
            "amount": "0.01",
            "currency": "EUR",
            "booking_date": "2009-10-15",
        },
        format="json",
    )
    assert pushed.status_code == 201
    report = rita.get(f"{RUNS}/{finland['run']['id']}/report").json()
    # An outstanding 0.01 adds to both sides: it is explained, not a difference.
    assert report["deposits_in_transit"]["total"] == "750.01"
    assert report["balanced"] is True


@pytest.mark.parametrize(
    ("file_format", "content_type", "magic"),
    [
        ("csv", "text/csv; charset=utf-8", b"\xef\xbb\xbfsection,"),
        ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", b"PK"),
        ("pdf", "application/pdf", b"%PDF-"),
    ],
)
def test_the_report_downloads_as_a_file(api_client_for, finland, file_format, content_type, magic):
    run_id = finland["run"]["id"]
    response = api_client_for("bob").get(f"{RUNS}/{run_id}/report?format={file_format}")
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"] == (
        f'attachment; filename="reconciliation-{run_id}-2009-10-29.{file_format}"'
    )
    assert response.content.startswith(magic)


def test_the_csv_carries_every_figure_and_row_as_decimal_strings(api_client_for, finland):
    import csv

    response = api_client_for("bob").get(f"{RUNS}/{finland['run']['id']}/report?format=csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    figures = {r["id"]: r["amount"] for r in rows if r["section"] == "summary"}
    assert figures["bank_closing_balance"] == "23644.83"
    assert figures["adjusted_bank_balance"] == figures["adjusted_book_balance"] == "23144.33"
    assert figures["difference"] == "0.00"
    unpresented = [r for r in rows if r["section"] == "unpresented_payments"]
    assert [(r["external_id"], r["amount"], r["date"]) for r in unpresented] == [
        ("PAY-104", "-1250.50", "2009-10-26")
    ]
    closed = next(r for r in rows if r["section"] == "closed_items")
    assert (closed["amount"], closed["close_reason"], closed["closed_by"]) == (
        "-200.00",
        "write_off",
        "rita",
    )


def test_the_xlsx_holds_numbers_with_the_currencys_decimals(api_client_for, finland):
    from openpyxl import load_workbook

    response = api_client_for("bob").get(f"{RUNS}/{finland['run']['id']}/report?format=xlsx")
    book = load_workbook(io.BytesIO(response.content))
    summary = {row[0].value: row[1] for row in book["Statement"].iter_rows() if row[0].value}
    cell = summary["Balance per bank statement"]
    assert Decimal(str(cell.value)) == Decimal("23644.83")
    assert cell.number_format == "#,##0.00"
    assert Decimal(str(summary["Difference"].value)) == Decimal("0")
    details = list(book["Rows"].iter_rows(values_only=True))
    assert details[0][:5] == ("section", "type", "id", "date", "amount")
    fee = next(r for r in details if r[0] == "closed_items")
    assert Decimal(str(fee[4])) == Decimal("-200.00")


def test_the_pdf_reads_as_the_statement(api_client_for, finland):
    from pypdf import PdfReader

    response = api_client_for("bob").get(f"{RUNS}/{finland['run']['id']}/report?format=pdf")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    assert "Bank reconciliation statement" in text
    assert "23644.83 EUR" in text
    assert "23144.33 EUR" in text
    assert "Balanced" in text
    assert "PAY-104" in text


def test_an_unknown_format_is_a_400(api_client_for, finland):
    response = api_client_for("bob").get(f"{RUNS}/{finland['run']['id']}/report?format=docx")
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "format"


def test_charlie_gets_404_for_alices_report_in_every_format(api_client_for, finland):
    for suffix in ("", "?format=csv", "?format=pdf"):
        response = api_client_for("charlie").get(f"{RUNS}/{finland['run']['id']}/report{suffix}")
        assert response.status_code == 404
        assert response.json()["type"] == "client_error"


def test_a_run_without_a_statement_reports_no_bank_balance(api_client_for, alice_run):
    report = api_client_for("bob").get(f"{RUNS}/{alice_run.pk}/report").json()
    assert report["statement"] is None
    assert report["period_end_source"] == "run_created"
    assert (report["bank_closing_balance"], report["difference"]) == (None, None)
    assert report["balanced"] is False
    assert [w["code"] for w in report["warnings"]] == ["no_statement"]


def test_a_csv_statement_without_balances_cannot_balance(api_client_for, world):
    report = api_client_for("bob").get(f"{RUNS}/{world['run'].pk}/report").json()
    assert report["statement"]["closing_balance"] is None
    assert report["period_end"] == "2026-11-06"  # the CSV's last booking date
    assert [w["code"] for w in report["warnings"]] == ["no_closing_balance"]
    assert report["balanced"] is False
    # No account: the ledger's EUR GL entries up to 2026-11-06 from an opening of 0
    # (GL-1 100.00 and GL-2 100.00; GL-3 is dated 2026-11-25).
    assert (report["account"], report["currency"]) == (None, "EUR")
    assert report["book"]["opening_balance"] == "0.00"
    assert (report["book"]["balance"], report["book"]["entry_count"]) == ("200.00", 2)


def test_csv_text_that_looks_like_a_formula_is_escaped(api_client_for, alice_run, alice):
    from reconciliation.services.imports import source_file_upload

    data = b'Date,Amount,Description\n2026-11-02,-1.00,=HYPERLINK("http://x")\n'
    source_file_upload(
        run=alice_run, stream=io.BytesIO(data), filename="x.csv", size=len(data), actor=alice
    )
    response = api_client_for("bob").get(f"{RUNS}/{alice_run.pk}/report?format=csv")
    text = response.content.decode("utf-8-sig")
    assert "'=HYPERLINK" in text
    assert ",-1.00," in text  # amounts are our own decimal strings, never escaped
