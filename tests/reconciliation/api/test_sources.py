"""Statement upload, listing and deletion through the API (DESIGN.md §1)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from django.test import override_settings

from reconciliation.models import Discrepancy, Match, Run, SourceEntry, SourceFile

pytestmark = pytest.mark.django_db
RUNS = "/v1/ledgers/reconciliation/runs"
DEMO = Path(__file__).resolve().parents[3] / "demo" / "statement-2026-11.camt053.xml"


def upload(client, run, content: bytes, name: str = "statement.csv", **fields):
    handle = io.BytesIO(content)
    handle.name = name
    return client.post(
        f"{RUNS}/{run.pk}/sources/upload", {"file": handle, **fields}, format="multipart"
    )


def csv_rows(*rows: str) -> bytes:
    return ("Booking date,Amount,Reference,Description\n" + "\n".join(rows) + "\n").encode()


def test_the_demo_camt_imports_every_entry(api_client_for, alice_run):
    response = upload(api_client_for("rita"), alice_run, DEMO.read_bytes(), "nov.xml")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["imported"], body["skipped_duplicates"], body["format"]) == (240, 0, "camt.053")
    assert body["source_file"]["run_id"] == str(alice_run.pk)
    assert body["run_status"] == "completed"  # manual mode: nothing runs by itself
    listed = api_client_for("bob").get(f"{RUNS}/{alice_run.pk}/sources").json()["results"]
    [statement] = listed[0]["statements"]
    assert statement["opening_balance"] == "120431.20"
    assert statement["account"] == "DE89370400440532013000"
    assert listed[0]["status"] == "processed"


def test_the_same_file_twice_is_409_unless_allowed(api_client_for, alice_run, alice_ledger, alice):
    from reconciliation.services.runs import run_create

    client = api_client_for("rita")
    content = csv_rows("2026-11-02,10.00,R1,coffee")
    first = upload(client, alice_run, content)
    other_run = run_create(ledger=alice_ledger, actor=alice)
    again = upload(client, other_run, content)
    assert again.status_code == 409
    assert again.json()["errors"][0]["code"] == "duplicate_file"
    assert again.json()["existing_source_file"]["id"] == first.json()["source_file"]["id"]
    forced = upload(client, other_run, content, allow_duplicate="true")
    assert forced.status_code == 201
    assert forced.json()["imported"] == 1


def test_an_overlapping_statement_skips_what_was_imported(api_client_for, alice_run):
    client = api_client_for("rita")
    upload(
        client,
        alice_run,
        csv_rows("2026-11-02,10.00,,coffee", "2026-11-03,20.00,,lunch", "2026-11-04,30.00,,taxi"),
    )
    second = upload(
        client,
        alice_run,
        csv_rows("2026-11-03,20.00,,lunch", "2026-11-04,30.00,,taxi", "2026-11-05,40.00,,hotel"),
        name="b.csv",
    )
    assert (second.json()["imported"], second.json()["skipped_duplicates"]) == (1, 2)
    assert SourceEntry.objects.filter(run=alice_run).count() == 4


def test_two_identical_rows_on_one_day_are_both_kept(api_client_for, alice_run):
    rows = csv_rows("2026-11-12,-49.90,,CARD TANKSTELLE", "2026-11-12,-49.90,,CARD TANKSTELLE")
    response = upload(api_client_for("rita"), alice_run, rows)
    assert response.json()["imported"] == 2
    # ...and a later statement repeating that day skips exactly those two.
    again = upload(
        api_client_for("rita"), alice_run, rows + b"2026-11-13,5.00,,new\n", name="next.csv"
    )
    assert (again.json()["imported"], again.json()["skipped_duplicates"]) == (1, 2)


def test_a_file_that_cannot_be_parsed_is_422_and_recorded_as_failed(api_client_for, alice_run):
    content = csv_rows("2026-11-02,10.00,,ok", "2026-11-03,ten euros,,broken")
    response = upload(api_client_for("rita"), alice_run, content)
    assert response.status_code == 422, response.content
    body = response.json()
    failed = SourceFile.objects.get(pk=body["source_file"]["id"])
    assert failed.status == "failed"
    assert failed.error["line"] == 3
    assert body["line"] == 3
    assert SourceEntry.objects.count() == 0  # all or nothing
    assert Run.objects.get(pk=alice_run.pk).status == "failed"


def test_a_good_upload_after_a_failed_one_recovers_the_run(api_client_for, alice_run):
    client = api_client_for("rita")
    upload(client, alice_run, b"\x00\x01garbage" * 10)
    response = upload(client, alice_run, csv_rows("2026-11-02,10.00,,ok"), name="ok.csv")
    assert response.status_code == 201
    run = Run.objects.get(pk=alice_run.pk)
    assert (run.status, run.error) == ("completed", None)


def _billion_laughs() -> bytes:
    ents = "".join(
        f'<!ENTITY l{i} "&l{i - 1};&l{i - 1};&l{i - 1};&l{i - 1};">' for i in range(1, 10)
    )
    return (
        f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY l0 "lol">{ents}]>'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>'
        "&l9;</BkToCstmrStmt></Document>"
    ).encode()


def _xxe(target: str) -> bytes:
    return (
        f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "{target}">]>'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>'
        "<GrpHdr><MsgId>&x;</MsgId></GrpHdr></BkToCstmrStmt></Document>"
    ).encode()


def _deep(levels: int) -> bytes:
    return (
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>'
        + "<a>" * levels
        + "</a>" * levels
        + "</BkToCstmrStmt></Document>"
    ).encode()


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("statement.csv", b"0" * 10_000_000)
    return buffer.getvalue()


HOSTILE = {
    "billion_laughs": (_billion_laughs(), 422),
    "xxe_local_file": (_xxe("file:///etc/passwd"), 422),
    "xxe_url": (_xxe("http://127.0.0.1:9/secret"), 422),
    "external_dtd": (
        b'<?xml version="1.0"?><!DOCTYPE Document SYSTEM "http://127.0.0.1:9/x.dtd">'
        b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"/>',
        422,
    ),
    "deep_nesting": (_deep(200), 422),
    "zip_bomb": (_zip(), 415),
    "pdf": (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n", 415),
    "binary_garbage": (bytes(range(256)) * 64, 415),
    "empty": (b"", 415),
    "hundred_thousand_columns": (
        b",".join([b"c"] * 100_000) + b"\n" + b",".join([b"1"] * 100_000),
        422,
    ),
    "ten_megabyte_field": (
        b'Date,Amount,Description\n2026-11-02,1.00,"' + b"x" * 10_000_000 + b'"\n',
        422,
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_input_is_a_clean_4xx_storing_only_the_failed_file(api_client_for, alice_run, case):
    content, status = HOSTILE[case]
    response = upload(api_client_for("rita"), alice_run, content, name=f"{case}.xml")
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert body["type"] == "client_error"
    assert SourceFile.objects.get(pk=body["source_file"]["id"]).status == "failed"
    assert SourceFile.objects.count() == 1
    assert SourceEntry.objects.count() == 0
    assert "root:" not in response.content.decode()  # nothing of /etc/passwd
    assert len(response.content) < 4000  # no file content echoed back


def test_a_file_one_byte_over_the_limit_is_413_before_parsing(api_client_for, alice_run):
    with override_settings(STATEMENT_MAX_UPLOAD_BYTES=50 * 1024 * 1024):
        content = b"Date,Amount\n" + b"2026-11-02,1.00\n" * (50 * 1024 * 1024 // 16)
        content += b"x" * (50 * 1024 * 1024 + 1 - len(content))
        response = upload(api_client_for("rita"), alice_run, content)
    assert response.status_code == 413
    assert response.json()["errors"][0]["code"] == "file_too_large"
    assert SourceFile.objects.get().status == "failed"
    assert SourceEntry.objects.count() == 0


def test_a_declared_format_that_does_not_fit_the_content_is_415(api_client_for, alice_run):
    response = upload(
        api_client_for("rita"), alice_run, csv_rows("2026-11-02,1.00,,x"), format="camt.053"
    )
    assert response.status_code == 415


def test_a_wrong_encoding_in_the_mapping_is_422(api_client_for, alice_run, fixtures_dir):
    content = (fixtures_dir / "csv" / "gls-bank-de-latin1-semicolon-decimal-comma.csv").read_bytes()
    response = upload(api_client_for("rita"), alice_run, content, mapping='{"encoding": "utf-8"}')
    assert response.status_code == 422, response.content


@pytest.mark.parametrize(
    "mapping", ['{"amount": 5', '["amount"]', '{"colour": "red"}', '{"invert_sign": "yes"}']
)
def test_a_malformed_mapping_is_400(api_client_for, alice_run, mapping):
    response = upload(
        api_client_for("rita"), alice_run, csv_rows("2026-11-02,1.00,,x"), mapping=mapping
    )
    assert response.status_code == 400, response.content
    assert SourceFile.objects.count() == 0


def test_a_mapping_is_saved_on_the_account_and_reused(
    api_client_for, alice_ledger, alice_account, alice
):
    from reconciliation.services.runs import run_create

    run = run_create(ledger=alice_ledger, account=alice_account, actor=alice)
    content = b"When;What;Money\n03/04/2026;rent;-1200,00\n"
    mapping = json.dumps(
        {
            "booking_date": "When",
            "description": "What",
            "amount": "Money",
            "date_format": "%d/%m/%Y",
            "decimal_separator": ",",
        }
    )
    first = upload(api_client_for("rita"), run, content, mapping=mapping)
    assert first.status_code == 201, first.content
    alice_account.refresh_from_db()
    assert alice_account.csv_mapping["date_format"] == "%d/%m/%Y"
    second = upload(
        api_client_for("rita"), run, b"When;What;Money\n05/04/2026;gas;-80,00\n", name="next.csv"
    )
    assert second.status_code == 201, second.content
    entry = SourceEntry.objects.get(description="gas")
    assert (str(entry.amount), entry.booking_date.isoformat()) == ("-80.000000", "2026-04-05")


def test_uploading_to_a_closed_run_is_409(api_client_for, alice_run, alice):
    from reconciliation.services.runs import run_close

    run_close(run=alice_run, actor=alice, reason="no statement")
    response = upload(api_client_for("rita"), alice_run, csv_rows("2026-11-02,1.00,,x"))
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "run_closed"
    assert SourceFile.objects.count() == 0


def test_a_keyed_upload_is_replayed(api_client_for, alice_run):
    client = api_client_for("rita")
    content = csv_rows("2026-11-02,1.00,,x")
    first = upload(client, alice_run, content, idempotency_key="up-1")
    again = upload(client, alice_run, content, idempotency_key="up-1")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert SourceFile.objects.count() == 1


def test_an_automatic_run_matches_after_the_upload(
    api_client_for, alice_ledger, django_capture_on_commit_callbacks
):
    client = api_client_for("alice")
    client.post(
        f"/v1/ledgers/{alice_ledger.pk}/entries",
        [
            {
                "external_id": "G1",
                "amount": "10.00",
                "currency": "EUR",
                "booking_date": "2026-11-02",
                "reference": "INV-2026-0077",
            }
        ],
        format="json",
    )
    run = client.post(
        RUNS, {"ledger_id": str(alice_ledger.pk), "mode": "automatic"}, format="json"
    ).json()
    handle = io.BytesIO(csv_rows("2026-11-02,10.00,INV-2026-0077,payment"))
    handle.name = "s.csv"
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(
            f"{RUNS}/{run['id']}/sources/upload", {"file": handle}, format="multipart"
        )
    assert response.status_code == 201
    assert response.json()["run_status"] == "running"
    assert len(callbacks) == 1  # matching was queued for after the commit, not run inside it
    detail = client.get(f"{RUNS}/{run['id']}").json()
    assert detail["status"] == "completed"  # the in-process worker ran after commit
    assert detail["counts"]["matches"]["accepted"] == 1
    assert detail["counts"]["items"]["matched"] == 1


def test_deleting_a_file_removes_its_entries_and_matches(api_client_for, world):
    client = api_client_for("alice")
    run, source_file = world["run"], world["file"]
    response = client.delete(f"{RUNS}/{run.pk}/sources/{source_file.pk}")
    assert response.status_code == 204
    assert not SourceEntry.objects.filter(run=run).exists()
    assert not Match.objects.filter(run=run).exists()
    assert not Discrepancy.objects.filter(run=run, source_entry__isnull=False).exists()
    assert world["accepted"].ledger_links.count() == 0
    from ledgers.models import LedgerEntry

    assert set(LedgerEntry.objects.values_list("reconciliation_status", flat=True)) == {
        "unreconciled"
    }


def test_a_file_of_another_run_is_404(api_client_for, world, alice_run):
    response = api_client_for("alice").delete(f"{RUNS}/{alice_run.pk}/sources/{world['file'].pk}")
    assert response.status_code == 404
