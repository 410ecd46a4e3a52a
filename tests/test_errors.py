"""Client mistakes get a clear 4xx in the one error shape, never a 500."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db
RUNS = "/v1/ledgers/reconciliation/runs"


def assert_shape(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["type"] in {"client_error", "validation_error"}
    assert {"code", "detail", "attr"} <= set(body["errors"][0])
    return body


@pytest.mark.parametrize(
    "raw", [b"{", b"[1,2", b'{"ledger_id": NaN}', b"\xff\xfe\x00", b'{"a": 1e999999}', b"null"]
)
def test_malformed_json_is_400(api_client_for, alice_ledger, raw):
    response = api_client_for("alice").post(RUNS, raw, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["errors"]


@pytest.mark.parametrize(
    "path",
    [
        f"{RUNS}/not-a-uuid",
        f"{RUNS}/12345678-1234-1234-1234-1234567890ab/nothing",
        "/v1/ledgers/xyz/entries",
        "/v1/nowhere",
    ],
)
def test_malformed_ids_and_unknown_paths_are_404_json(api_client_for, cast, path):
    assert_shape(api_client_for("alice").get(path), 404)


def test_an_unknown_uuid_is_404(api_client_for, cast):
    assert_shape(api_client_for("alice").get(f"{RUNS}/00000000-0000-4000-8000-000000000000"), 404)


def test_a_wrong_method_is_405(api_client_for, alice_run):
    body = assert_shape(
        api_client_for("alice").put(f"{RUNS}/{alice_run.pk}", {}, format="json"), 405
    )
    assert body["errors"][0]["code"] == "method_not_allowed"


def test_an_unsupported_media_type_is_415(api_client_for, alice_ledger):
    response = api_client_for("alice").post(RUNS, "ledger_id=x", content_type="text/plain")
    assert_shape(response, 415)


def test_a_list_instead_of_an_object_is_400(api_client_for, alice_ledger):
    response = api_client_for("alice").post(RUNS, [1, 2], format="json")
    assert response.status_code == 400


def test_a_huge_note_is_400(api_client_for, alice_ledger):
    response = api_client_for("alice").post(
        RUNS, {"ledger_id": str(alice_ledger.pk), "note": "x" * 5000}, format="json"
    )
    assert assert_shape(response, 400)["errors"][0]["attr"] == "note"


def test_healthz_reports_the_database(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"]["database"] is True


def test_the_schema_and_offline_docs_are_served(api_client_for, cast):
    client = api_client_for("alice")
    schema = client.get("/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert "/v1/ledgers/reconciliation/runs" in schema.json()["paths"]
    docs = client.get("/v1/docs")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html
    assert "cdn.jsdelivr.net" not in html  # served from the sidecar: works without internet
