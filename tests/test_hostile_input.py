"""Issue #12 §3 and §4, each as the attacker's request: never a 500, always the error shape.

Every test sends what the fuzzer or the pen-tester sent and asserts the exact status and
error code. The client does not raise the server's exceptions, so a 500 fails the status
assertion instead of hiding behind a traceback.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

pytestmark = pytest.mark.django_db

RUNS = "/v1/ledgers/reconciliation/runs"
DEEP = "[" * 1000 + "]" * 1000  # 2 KB


@pytest.fixture
def client_for(api_client_for: Any) -> Any:
    def make(name: str | None) -> Any:
        client = api_client_for(name)
        client.raise_request_exception = False
        return client

    return make


def error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert body["type"] in {"client_error", "validation_error"}
    assert {"code", "detail", "attr"} <= set(body["errors"][0])
    return body["errors"][0]


def cursor(values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


# --- JSON nested 1,000 deep --------------------------------------------------------------


def json_routes(world: dict[str, Any], ledger: Any) -> list[tuple[str, str]]:
    run = world["run"].pk
    base = "/v1/ledgers/reconciliation"
    return [
        ("post", "/v1/ledgers"),
        ("post", "/v1/ledgers/accounts"),
        ("post", f"/v1/ledgers/{ledger.pk}/entries"),
        ("post", RUNS),
        ("patch", f"{RUNS}/{run}"),
        ("post", f"{RUNS}/{run}/close"),
        ("post", f"{RUNS}/{run}/manual-match"),
        ("post", f"{base}/matches/{world['suggested'].pk}/accept"),
        ("post", f"{base}/matches/{world['suggested'].pk}/reject"),
        ("patch", f"{base}/matches/{world['accepted'].pk}/note"),
        ("post", f"{base}/items/{world['free_item'].pk}/close"),
        ("post", f"{base}/items/{world['closed_item'].pk}/reopen"),
        ("patch", f"{base}/discrepancies/{world['discrepancy'].pk}"),
        ("post", "/v1/auth/token/revoke"),
    ]


def test_json_nested_1000_deep_is_400_on_every_json_route(client_for, world, alice_ledger):
    client = client_for("alice")
    for method, path in json_routes(world, alice_ledger):
        response = getattr(client, method)(path, DEEP, content_type="application/json")
        assert error(response, 400)["code"] == "parse_error", path


def test_json_nested_1000_deep_is_400_on_the_unauthenticated_token_route(client_for, cast):
    response = client_for(None).post("/v1/auth/token", DEEP, content_type="application/json")
    assert error(response, 400)["code"] == "parse_error"


def test_json_nested_33_deep_is_400_although_python_could_parse_it(client_for, alice_ledger):
    body = '{"name": ' + "[" * 33 + "]" * 33 + ', "currency": "EUR"}'
    response = client_for("alice").post("/v1/ledgers", body, content_type="application/json")
    assert error(response, 400)["code"] == "parse_error"


def test_a_mapping_nested_1000_deep_is_400_mapping_invalid(client_for, world):
    response = client_for("rita").post(
        f"{RUNS}/{world['run'].pk}/sources/upload",
        {"file": _csv(), "mapping": '{"amount": ' + DEEP + "}"},
        format="multipart",
    )
    body = error(response, 400)
    assert (body["code"], body["attr"]) == ("mapping_invalid", "mapping")


def _csv() -> Any:
    import io

    upload = io.BytesIO(b"Date,Amount,Description\n2026-11-20,12.00,coffee\n")
    upload.name = "hostile.csv"
    return upload


# --- bodies over the size limit -----------------------------------------------------------


def test_a_json_body_over_the_limit_is_413_in_the_error_shape(client_for, alice_run, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"note": "x" * 2000})
    response = client_for("alice").patch(
        f"{RUNS}/{alice_run.pk}", body, content_type="application/json"
    )
    assert error(response, 413)["code"] == "request_too_large"
    alice_run.refresh_from_db()
    assert alice_run.note == "November"


def test_a_json_body_that_understates_its_length_is_still_413(client_for, alice_run, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"note": "x" * 2000})
    response = client_for("alice").generic(
        "PATCH",
        f"{RUNS}/{alice_run.pk}",
        body,
        content_type="application/json",
        CONTENT_LENGTH="",  # chunked transfer: no declared length
    )
    assert response.status_code in {400, 413}  # no declared length: DRF reads no body
    assert response.status_code != 500


def test_a_multipart_field_over_the_limit_is_413_in_the_error_shape(client_for, world, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client_for("rita").post(
        f"{RUNS}/{world['run'].pk}/sources/upload",
        {"file": _csv(), "mapping": "x" * 2000},
        format="multipart",
    )
    assert error(response, 413)["code"] == "request_too_large"


def test_a_token_request_over_the_limit_is_413(client_for, cast, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"username": "alice", "password": "x" * 2000})
    response = client_for(None).post("/v1/auth/token", body, content_type="application/json")
    assert error(response, 413)["code"] == "request_too_large"


# --- forged cursors -----------------------------------------------------------------------

CURSOR_LISTS = ["items", "matches", "discrepancies", "gl-only", "gl-all"]
FORGED = [
    pytest.param(["x", "y"], id="strings"),
    pytest.param(["2026-11-02", "not-a-uuid"], id="non-uuid-id"),
    pytest.param(["2026-11-02T10:00:00+00:00", "00000000-0000-4000-8000-000000000000"], id="dt"),
    pytest.param([1, 2], id="numbers"),
    pytest.param([{"a": 1}, None], id="object-and-null"),
    pytest.param(["2026-11-02 10:00:00-20:39", "00000000-0000-4000-8000-000000000000"], id="tz"),
    pytest.param(["2026-11-02"], id="one-value"),
    pytest.param({"a": 1}, id="object"),
]


@pytest.mark.parametrize("name", CURSOR_LISTS)
@pytest.mark.parametrize("values", FORGED)
def test_a_forged_cursor_is_400_invalid_on_cursor(client_for, world, name, values):
    response = client_for("bob").get(f"{RUNS}/{world['run'].pk}/{name}", {"cursor": cursor(values)})
    well_typed = values in (FORGED[2].values[0], FORGED[5].values[0])
    if well_typed and name in {"matches", "discrepancies"}:
        # A datetime is the right type for a created_at list, whatever its offset: it is
        # compared in UTC, so the page is simply the rows after it.
        assert response.status_code == 200, response.content
        return
    body = error(response, 400)
    assert (body["code"], body["attr"]) == ("invalid", "cursor")


@pytest.mark.parametrize("raw", ["%%%", "bm90IGpzb24", "W10", "x" * 2000, "w6k"])
def test_a_cursor_that_is_not_base64_json_is_400(client_for, world, raw):
    response = client_for("bob").get(f"{RUNS}/{world['run'].pk}/items", {"cursor": raw})
    body = error(response, 400)
    assert (body["code"], body["attr"]) == ("invalid", "cursor")


def test_a_cursor_from_next_still_pages(client_for, world):
    client = client_for("bob")
    first = client.get(f"{RUNS}/{world['run'].pk}/items", {"cursor": "", "limit": 2}).json()
    second = client.get(first["next"]).json()
    assert len(first["results"]) == 2
    assert {r["id"] for r in first["results"]}.isdisjoint(r["id"] for r in second["results"])


# --- datetimes, numbers and strings in filters -------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "0913-07-13T07:07:46-20:39",  # the fuzzer's: an offset PostgreSQL refuses
        "0001-01-01T00:00:00+05:00",  # before year 1 once in UTC
        "9999-12-31T23:59:59-05:00",  # after 9999 once in UTC
        "2026-13-01T00:00:00Z",
        "2026-11-01T00:00:00",  # no offset: its meaning would depend on the server
        "2026-11-01T00:00:00+15:00",
        "yesterday",
    ],
)
@pytest.mark.parametrize("name", ["created_from", "created_to"])
def test_an_unusable_datetime_filter_is_400_naming_it(client_for, alice_run, name, value):
    body = error(client_for("alice").get(RUNS, {name: value}), 400)
    assert (body["code"], body["attr"]) == ("invalid", name)


@pytest.mark.parametrize(
    ("value", "count"),
    [("2000-01-01T00:00:00+14:00", 1), ("0913-07-13T07:07:46-11:59", 1), ("9999-01-01T00:00Z", 0)],
)
def test_datetime_filters_with_real_offsets_compare_in_utc(client_for, alice_run, value, count):
    response = client_for("alice").get(RUNS, {"created_from": value})
    assert response.status_code == 200, response.content
    assert response.json()["count"] == count


@pytest.mark.parametrize(
    ("path", "name", "value"),
    [
        ("items", "amount_min", "1e999999"),
        ("items", "amount_max", "1" * 30),
        ("items", "amount_min", "0.0000001"),
        ("gl-only", "amount_min", "NaN"),
        ("gl-all", "amount_max", "-Infinity"),
        ("matches", "score_min", "1e999999"),
        ("matches", "score_max", "101"),
        ("matches", "score_min", "50.5"),
        ("items", "booking_date_from", "10000-01-01"),
        ("items", "search", "a\x00b"),
        ("items", "search", "x" * 201),
        ("items", "currency", "EURO"),
        ("discrepancies", "status", "nope"),
    ],
)
def test_an_unusable_filter_value_is_400_naming_it(client_for, world, path, name, value):
    response = client_for("bob").get(f"{RUNS}/{world['run'].pk}/{path}", {name: value})
    assert error(response, 400)["attr"] == name


def test_an_amount_filter_on_ledger_entries_is_bounded_too(client_for, alice_ledger):
    response = client_for("bob").get(
        f"/v1/ledgers/{alice_ledger.pk}/entries", {"amount_min": "1e999999"}
    )
    assert error(response, 400)["attr"] == "amount_min"


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/v1/ledgers/{ledger}/entries", "booking_date_from"),
        ("/v1/ledgers/{ledger}/entries", "account_id"),
        (RUNS, "created_from"),
        (RUNS, "created_after"),
        (RUNS, "status"),
        (RUNS + "/{run}/items", "booking_date_to"),
        (RUNS + "/{run}/items", "search"),
        (RUNS + "/{run}/gl-only", "booking_date_from"),
        (RUNS + "/{run}/matches", "score_min"),
        ("/v1/ledgers/accounts", "ledger_id"),
    ],
)
def test_an_empty_filter_is_400_blank_as_the_schema_says(
    client_for, world, alice_ledger, path, name
):
    url = path.format(ledger=alice_ledger.pk, run=world["run"].pk)
    body = error(client_for("bob").get(url, {name: ""}), 400)
    assert (body["code"], body["attr"]) == ("blank", name)


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": ""}, "limit"),
        ({"limit": "²"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"offset": "1" + "0" * 30}, "offset"),
        ({"offset": "9223372036854775808"}, "offset"),
    ],
)
def test_limit_and_offset_outside_the_schema_bounds_are_400(client_for, alice_run, params, name):
    body = error(client_for("alice").get(RUNS, params), 400)
    assert body["attr"] == name


def test_limit_500_and_a_huge_offset_are_an_empty_page(client_for, alice_run):
    response = client_for("alice").get(RUNS, {"limit": "500", "offset": "9223372036854775807"})
    assert response.status_code == 200
    assert response.json()["results"] == []


# --- strings PostgreSQL cannot store ------------------------------------------------------


def test_a_nul_character_in_a_note_is_400_naming_the_field(client_for, alice_run):
    response = client_for("alice").patch(
        f"{RUNS}/{alice_run.pk}", {"note": "a\x00b"}, format="json"
    )
    body = error(response, 400)
    assert (body["code"], body["attr"]) == ("null_characters_not_allowed", "note")


def test_a_nul_character_in_a_csv_mapping_is_400(client_for, world):
    response = client_for("rita").post(
        f"{RUNS}/{world['run'].pk}/sources/upload",
        {"file": _csv(), "mapping": json.dumps({"amount": "Amount\x00"})},
        format="multipart",
    )
    body = error(response, 400)
    assert (body["code"], body["attr"]) == ("mapping_invalid", "mapping")


# --- OPTIONS and unknown paths ------------------------------------------------------------


@pytest.mark.parametrize("path", ["{runs}/{run}/auto-match", "/v1/ledgers/{ledger}/reconcile"])
def test_options_on_action_routes_without_a_serializer_is_200(client_for, alice_run, path):
    url = path.format(runs=RUNS, run=alice_run.pk, ledger=alice_run.ledger_id)
    response = client_for("alice").options(url)
    assert response.status_code == 200, response.content
    assert "POST" in response.headers["Allow"]


@pytest.mark.parametrize(
    "path",
    ["/v1/ledgers//entries", "/v1/", "/v1/ledgers/reconciliation", "/v1/auth/token/x", "/v1/%00"],
)
@pytest.mark.parametrize("debug", [False, True])
def test_a_path_no_route_matches_is_a_json_404_even_with_debug(
    client_for, cast, settings, path, debug
):
    settings.DEBUG = debug
    response = client_for("alice").get(path)
    assert error(response, 404)["code"] == "not_found"
    assert response.headers["Content-Type"] == "application/json"


def test_a_missing_admin_page_is_still_html(client, db):
    response = client.get("/admin-nothing-here")
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")


# --- §4 contract holes --------------------------------------------------------------------


def test_money_as_a_json_number_is_400_saying_money_is_a_decimal_string(client_for, alice_ledger):
    row = {"external_id": "F-1", "amount": 0.1, "currency": "EUR", "booking_date": "2026-11-02"}
    response = client_for("alice").post(
        f"/v1/ledgers/{alice_ledger.pk}/entries", row, format="json"
    )
    body = error(response, 400)
    assert (body["code"], body["attr"]) == ("not_a_string", "amount")
    assert "decimal string" in body["detail"]


def test_a_tolerance_as_a_json_number_is_400_too(client_for, cast):
    body = {"name": "Float", "currency": "EUR", "amount_tolerance_abs": 5}
    response = client_for("alice").post("/v1/ledgers", body, format="json")
    err = error(response, 400)
    assert (err["code"], err["attr"]) == ("not_a_string", "amount_tolerance_abs")


@pytest.mark.parametrize("currency", ["000", "eur", "XXY", "EU"])
def test_a_currency_the_schema_does_not_list_is_400(client_for, cast, currency):
    response = client_for("alice").post(
        "/v1/ledgers", {"name": "C", "currency": currency}, format="json"
    )
    body = error(response, 400)
    assert (body["code"], body["attr"]) == ("invalid", "currency")


def test_a_failed_source_file_has_a_null_format_not_an_empty_string(client_for, world):
    client = client_for("rita")
    response = client.post(
        f"{RUNS}/{world['run'].pk}/sources/upload",
        {"file": _named(b"\x00\x01 not a statement", "junk.bin")},
        format="multipart",
    )
    assert error(response, 415)["code"] == "unsupported_format"
    files = client.get(f"{RUNS}/{world['run'].pk}/sources").json()["results"]
    failed = [f for f in files if f["status"] == "failed"]
    assert failed
    assert failed[0]["format"] is None


def _named(content: bytes, name: str) -> Any:
    import io

    upload = io.BytesIO(content)
    upload.name = name
    return upload


def test_an_unknown_upload_field_is_400_like_everywhere_else(client_for, world):
    response = client_for("rita").post(
        f"{RUNS}/{world['run'].pk}/sources/upload",
        {"file": _csv(), "colour": "red"},
        format="multipart",
    )
    assert error(response, 400)["attr"] == "colour"
