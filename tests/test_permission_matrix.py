"""Every route x (anonymous 401, other organization 404, too low a role 403, allowed 2xx).

netbox runs such a matrix for every model; here each route is one row of ROUTES. A route
that is added to the API must be added here (test_every_api_route_is_in_the_matrix).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tests.conftest import gl_payload

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # "{ledger}", "{run}" are replaced by alice's objects (or charlie's for 404)
    least_role: str  # "viewer" | "reviewer" | "admin"
    body: Callable[[dict[str, Any]], Any] | None = None
    ok: int = 200


RUNS = "/v1/ledgers/reconciliation/runs"
RUN = RUNS + "/{run}"
BASE = "/v1/ledgers/reconciliation"
ROUTES = [
    Route("get", "/v1/ledgers", "viewer"),
    Route("post", "/v1/ledgers", "admin", lambda o: {"name": "New", "currency": "EUR"}, 201),
    Route("get", "/v1/ledgers/{ledger}", "viewer"),
    Route("patch", "/v1/ledgers/{ledger}", "admin", lambda o: {"date_window_days": 4}),
    Route("get", "/v1/ledgers/accounts", "viewer"),
    Route(
        "post",
        "/v1/ledgers/accounts",
        "admin",
        lambda o: {"ledger_id": o["ledger"], "name": "Cash", "code": "9", "currency": "EUR"},
        201,
    ),
    Route("get", "/v1/ledgers/{ledger}/entries", "viewer"),
    Route(
        "post",
        "/v1/ledgers/{ledger}/entries",
        "reviewer",
        lambda o: gl_payload(2, prefix="MX"),
        201,
    ),
    Route("get", RUNS, "viewer"),
    Route("post", RUNS, "admin", lambda o: {"ledger_id": o["ledger"], "mode": "manual"}, 201),
    Route("get", RUNS + "/{run}", "viewer"),
    Route("patch", RUNS + "/{run}", "reviewer", lambda o: {"note": "renamed"}),
    Route("post", RUNS + "/{run}/close", "reviewer", lambda o: {"reason": "CSV, no balances"}),
    Route("delete", RUNS + "/{run}", "admin", ok=204),
    Route("get", RUN + "/report", "viewer"),
    # Closed by paula (a reviewer), so neither rita nor alice is its preparer.
    Route("post", RUNS + "/{closed_run}/approve", "reviewer", lambda o: {}),
    Route("get", RUN + "/sources", "viewer"),
    Route("post", RUN + "/sources/upload", "reviewer", lambda o: {"file": _csv()}, 201),
    Route("delete", RUN + "/sources/{file}", "admin", ok=204),
    Route("post", RUN + "/auto-match", "reviewer", lambda o: {}),
    Route(
        "post",
        RUN + "/manual-match",
        "reviewer",
        lambda o: {"source_entry_ids": [o["transfer_item"]], "ledger_entry_ids": [o["free_gl"]]},
        201,
    ),
    Route("get", RUN + "/matches", "viewer"),
    Route("post", RUN + "/matches/{rejected}/reopen", "reviewer", lambda o: {}),
    Route("post", RUN + "/matches/{accepted}/unmatch", "reviewer", lambda o: {}),
    Route("get", RUN + "/items", "viewer"),
    Route("get", RUN + "/gl-only", "viewer"),
    Route("get", RUN + "/gl-all", "viewer"),
    Route("get", RUN + "/discrepancies", "viewer"),
    Route("get", RUN + "/events", "viewer"),
    Route("post", BASE + "/matches/{suggested}/accept", "reviewer", lambda o: {}),
    Route("post", BASE + "/matches/{suggested}/reject", "reviewer", lambda o: {}),
    Route("patch", BASE + "/matches/{accepted}/note", "reviewer", lambda o: {"note": "ok"}),
    Route(
        "post",
        BASE + "/items/{free_item}/close",
        "reviewer",
        lambda o: {"ledger_id": o["ledger"], "reason": "write_off"},
    ),
    Route("post", BASE + "/items/{closed_item}/reopen", "reviewer", lambda o: {}),
    Route(
        "patch",
        BASE + "/discrepancies/{discrepancy}",
        "reviewer",
        lambda o: {"status": "in_review"},
    ),
    Route("post", "/v1/ledgers/{ledger}/reconcile", "reviewer", lambda o: {}),
    # Any authenticated user revokes the token it calls with; no object, so no 404 row.
    Route("post", "/v1/auth/token/revoke", "viewer", lambda o: {}, 204),
]
LIST_ROUTES_WITHOUT_OBJECT = {"/v1/ledgers", "/v1/ledgers/accounts", RUNS}
ROLE_OF = {"alice": "admin", "rita": "reviewer", "bob": "viewer"}
RANK = {"viewer": 1, "reviewer": 2, "admin": 3}


def _csv() -> Any:
    import io

    upload = io.BytesIO(b"Date,Amount,Description\n2026-11-20,12.00,coffee\n")
    upload.name = "extra.csv"
    return upload


@pytest.fixture
def objects(alice_ledger: Any, alice: Any, world: dict[str, Any]) -> dict[str, str]:
    from ledgers.services import user_setup
    from reconciliation.services.matches import match_create_manual, match_reject
    from reconciliation.services.runs import run_close, run_create

    rejected = match_reject(
        match=match_create_manual(
            run=world["run"],
            source_entry_ids=[world["transfer_item"].pk],
            ledger_entry_ids=[world["free_gl"].pk],
            actor=alice,
        ),
        actor=alice,
    )
    paula, _, _ = user_setup(
        username="paula", organization_name="Org A", role="reviewer", password=None, staff=False
    )
    closed_run = run_close(
        run=run_create(ledger=alice_ledger, actor=alice, note="October"),
        actor=paula,
        reason="no statement",
    )
    return {
        "ledger": str(alice_ledger.pk),
        "rejected": str(rejected.pk),
        "closed_run": str(closed_run.pk),
        **{k: str(v.pk) for k, v in world.items()},
    }


def _call(client: Any, route: Route, objects: dict[str, str]) -> Any:
    body = route.body(objects) if route.body else None
    fmt = "multipart" if body and "file" in body else "json"
    return getattr(client, route.method)(route.path.format(**objects), body, format=fmt)


def _ids(route: Route) -> str:
    return f"{route.method.upper()} {route.path}"


@pytest.mark.parametrize("route", ROUTES, ids=_ids)
def test_anonymous_gets_401_with_the_error_shape(route, api_client_for, objects):
    response = _call(api_client_for(None), route, objects)
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "not_authenticated"
    assert response.headers["WWW-Authenticate"].startswith("Token")


@pytest.mark.parametrize("route", [r for r in ROUTES if "{" in r.path], ids=_ids)
def test_charlie_gets_404_for_alices_objects(route, api_client_for, objects):
    response = _call(api_client_for("charlie"), route, objects)
    assert response.status_code == 404, response.content
    assert response.json()["type"] == "client_error"


BODY_NAMES_LEDGER = [
    r
    for r in ROUTES
    if r.body is not None
    and "ledger_id" in str(r.body(dict.fromkeys(("ledger", "transfer_item", "free_gl"), "x")))
]


@pytest.mark.parametrize("route", BODY_NAMES_LEDGER, ids=_ids)
def test_charlie_cannot_write_into_alices_ledger_through_a_body_reference(
    route, api_client_for, objects
):
    response = _call(api_client_for("charlie"), route, objects)
    assert response.status_code == 404


TOO_LOW = [
    pytest.param(route, who, id=f"{who} {_ids(route)}")
    for route in ROUTES
    for who in ("bob", "rita")
    if RANK[ROLE_OF[who]] < RANK[route.least_role]
]


@pytest.mark.parametrize(("route", "who"), TOO_LOW)
def test_too_low_a_role_gets_403(route, who, api_client_for, objects):
    response = _call(api_client_for(who), route, objects)
    assert response.status_code == 403, response.content
    assert response.json()["errors"][0]["code"] == "permission_denied"


@pytest.mark.parametrize("route", ROUTES, ids=_ids)
def test_the_least_role_is_enough(route, api_client_for, objects):
    who = {"viewer": "bob", "reviewer": "rita", "admin": "alice"}[route.least_role]
    response = _call(api_client_for(who), route, objects)
    assert response.status_code == route.ok, response.content


@pytest.mark.parametrize(
    "route",
    [r for r in ROUTES if r.path in LIST_ROUTES_WITHOUT_OBJECT and r.method == "get"],
    ids=_ids,
)
def test_lists_show_charlie_nothing_of_alices(route, api_client_for, objects):
    response = _call(api_client_for("charlie"), route, objects)
    assert response.status_code == 200
    assert objects["ledger"] not in response.content.decode()


def _api_paths() -> set[str]:
    found: set[str] = set()

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                found.add(prefix + str(pattern.pattern))

    walk(get_resolver().url_patterns, "/")
    return {
        p
        for p in found
        if p.startswith("/v1/")
        and not p.startswith(("/v1/schema", "/v1/docs"))
        and p != "/v1/^.*$"  # the JSON 404 for paths no route matches
    }


def test_every_api_route_is_in_the_matrix():
    def normalise(path: str) -> str:
        import re

        return re.sub(r"<uuid:\w+>|\{\w+\}", "{id}", path)

    matrix = {normalise(route.path) for route in ROUTES}
    unauthenticated = {"/v1/auth/token"}
    missing = {normalise(p) for p in _api_paths()} - matrix - unauthenticated
    assert not missing, f"routes without permission tests: {sorted(missing)}"
