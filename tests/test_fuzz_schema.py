"""The schema-driven fuzzer (issue #12 acceptance): schemathesis against the live app.

Every operation of /v1/schema is called in process (the WSGI app, on the test database)
with a token of alice (admin of org A) on a run with data (ledger, GL entries, a statement,
accepted and suggested matches, a closed item, a discrepancy). Path ids are replaced by
alice's real objects, so requests reach the code behind the 404. Each response must be no
5xx, a documented status, a body matching the documented schema, and schema-invalid
input must be rejected while schema-valid input is not refused for its shape.

Bounded for CI: FUZZ_EXAMPLES examples per operation (default 6), derandomized so the
suite never flakes. `make fuzz` runs a longer, randomly seeded pass (FUZZ_EXAMPLES=100,
FUZZ_SEED=random).
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from schemathesis.transport.serialization import Binary, serialize_binary

pytestmark = [pytest.mark.django_db, pytest.mark.fuzz]

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
SEED = os.environ.get("FUZZ_SEED", "")  # empty: derandomized (deterministic) run


def _schema() -> Any:
    from drf_spectacular.renderers import OpenApiJsonRenderer

    raw = SchemaGenerator().get_schema(request=None, public=True)
    document = json.loads(OpenApiJsonRenderer().render(raw, renderer_context={}))
    config = schemathesis.Config.from_dict(
        {
            "generation": {
                "mode": "all",
                "max-examples": EXAMPLES,
                "deterministic": not SEED,
                "allow-x00": True,
            },
        }
    )
    loaded = schemathesis.openapi.from_dict(document, config=config)
    loaded.app = get_wsgi_application()
    return loaded


schema = _schema()


@schemathesis.check
def schema_valid_input_is_not_refused_for_its_shape(ctx: Any, response: Any, case: Any) -> None:
    """Schemathesis' positive_data_acceptance, minus the business rules a schema cannot state.

    A schema-valid request may still break a rule across fields or rows (`ledger_id` is
    not the item's ledger, an entry of another run, a cursor the server never issued):
    those are 400 `client_error` (API.md). A 400 `validation_error` is the server refusing
    the request's shape, which the schema said was fine: that is a contract hole.
    """
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 400:
        return
    body = response.json()
    if body.get("type") == "client_error":
        return
    # NUL is refused in every text field because PostgreSQL cannot store it; the fuzzer
    # sends NULs on purpose (they found 500s), the schema does not spell this out.
    shape = [e for e in body.get("errors", []) if e["code"] != "null_characters_not_allowed"]
    unsent = _empty_file_parts(case)
    shape = [e for e in shape if not (e["code"] == "required" and e["attr"] in unsent)]
    assert not shape, f"schema-valid request refused for its shape: {shape}"


def _empty_file_parts(case: Any) -> set[str]:
    """The multipart fields of `case` sent as empty files, which never reach the view.

    Werkzeug, which encodes the in-process requests, writes an empty file as a part with
    headers and no body, not even the blank line after them (RFC 2046 allows it), and
    Django's multipart parser drops such a part, so the view sees no file (400 `required`).
    Real clients (curl, requests, browsers) send the blank line, and an empty statement
    is then 415 `unsupported_format` ("the file is empty", tests/reconciliation/api/
    test_sources.py::test_hostile_input_is_a_clean_4xx_storing_only_the_failed_file).
    """
    if not (case.media_type or "").startswith("multipart/") or not isinstance(case.body, dict):
        return set()
    return {
        name
        for name, value in case.body.items()
        if isinstance(value, bytes | Binary) and serialize_binary(value) == b""
    }


# Which of the world's objects each `{id}` of a route stands for.
OBJECT_FOR = [
    ("/matches/{id}/accept", "suggested"),
    ("/matches/{id}/reject", "suggested"),
    ("/matches/{id}/note", "accepted"),
    ("/items/{id}/close", "free_item"),
    ("/items/{id}/reopen", "closed_item"),
    ("/discrepancies/{id}", "discrepancy"),
    ("/sources/{id}", "file"),
    ("/runs/{id}", "run"),
    ("/ledgers/{id}", "ledger"),
]


def _real_ids(path: str, objects: dict[str, str]) -> dict[str, str]:
    ids = {"run_pk": objects["run"], "ledger_pk": objects["ledger"]}
    for suffix, name in OBJECT_FOR:
        if suffix in path or path.endswith(suffix.replace("/{id}", "/{id}")):
            ids["id"] = objects[name]
            break
    return ids


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


@pytest.fixture
def same_connection() -> Any:
    """The real WSGI handler closes the database connection after each request; here every
    request runs inside the test's transaction, so it must stay open (Django's test client
    does the same)."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def objects(world: dict[str, Any], alice_ledger: Any) -> dict[str, str]:
    return {"ledger": str(alice_ledger.pk), **{k: str(v.pk) for k, v in world.items()}}


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not SEED,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_the_api_conforms_to_its_schema_and_never_answers_5xx(case, cast, objects, same_connection):
    real = _real_ids(case.operation.path, objects)
    for name, value in list((case.path_parameters or {}).items()):
        # Only a well-formed id is swapped for a real one: a malformed id is the mutation
        # of a negative case and must stay malformed (404).
        if name in real and _is_uuid(value):
            case.path_parameters[name] = real[name]
    headers = {"Authorization": f"Token {cast['alice'][2]}"}
    case.call_and_validate(
        headers=headers,
        excluded_checks=[positive_data_acceptance],
        additional_checks=[schema_valid_input_is_not_refused_for_its_shape],
    )


@pytest.mark.parametrize(
    ("content", "unsent", "code"),
    [(b"", {"file"}, "required"), (b"x", set(), "header_not_found")],
)
def test_an_empty_file_part_never_reaches_the_view_in_process(
    cast: Any,
    objects: dict[str, str],
    same_connection: Any,
    content: bytes,
    unsent: set[str],
    code: str,
) -> None:
    """Why the shape check lets `file: required` pass for an empty file (`_empty_file_parts`):
    in process, only the empty file goes missing; if Werkzeug or Django change, this says
    the exception can go."""
    case = schema["/v1/ledgers/reconciliation/runs/{run_pk}/sources/upload"]["POST"].Case(
        path_parameters={"run_pk": objects["run"]},
        body={"file": content},
        media_type="multipart/form-data",
    )
    response = case.call(headers={"Authorization": f"Token {cast['alice'][2]}"})
    assert _empty_file_parts(case) == unsent
    assert response.json()["errors"][0]["code"] == code
