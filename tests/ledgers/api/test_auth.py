from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_a_user_exchanges_username_and_password_for_a_token(api_client_for, cast):
    response = api_client_for(None).post(
        "/v1/auth/token", {"username": "alice", "password": "pw-alice"}, format="json"
    )
    assert response.status_code == 200
    assert response.json() == {"token": cast["alice"][2]}


def test_the_token_authenticates_later_calls(api_client_for, cast):
    token = (
        api_client_for(None)
        .post("/v1/auth/token", {"username": "bob", "password": "pw-bob"}, format="json")
        .json()["token"]
    )
    response = api_client_for(None).get("/v1/ledgers", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200


def test_a_wrong_password_is_401_with_the_error_shape(api_client_for, cast):
    response = api_client_for(None).post(
        "/v1/auth/token", {"username": "alice", "password": "nope"}, format="json"
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "authentication_failed"


def test_missing_fields_are_named(api_client_for, cast):
    response = api_client_for(None).post("/v1/auth/token", {"username": "alice"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "validation_error"
    assert body["errors"][0]["attr"] == "password"


def test_a_bad_token_is_401(api_client_for, cast):
    response = api_client_for(None).get("/v1/ledgers", HTTP_AUTHORIZATION="Token nope")
    assert response.status_code == 401
