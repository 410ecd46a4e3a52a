"""API tokens (issue #12 §2): a fresh token per login, hashed at rest, expiring, revocable."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from ledgers.models import ApiToken

pytestmark = pytest.mark.django_db
TOKEN = "/v1/auth/token"
REVOKE = "/v1/auth/token/revoke"


def login(client, username: str, password: str):
    return client.post(TOKEN, {"username": username, "password": password}, format="json")


def test_a_user_exchanges_username_and_password_for_a_fresh_token(api_client_for, cast):
    response = login(api_client_for(None), "alice", "pw-alice")
    assert response.status_code == 200
    token = response.json()["token"]
    assert token.startswith("rk_")
    assert token != cast["alice"][2]  # a new token per login; the old one keeps working
    for key in (token, cast["alice"][2]):
        ok = api_client_for(None).get("/v1/ledgers", HTTP_AUTHORIZATION=f"Token {key}")
        assert ok.status_code == 200


def test_only_the_sha256_of_a_token_is_stored(api_client_for, cast):
    token = login(api_client_for(None), "bob", "pw-bob").json()["token"]
    stored = ApiToken.objects.get(key_hash=hashlib.sha256(token.encode()).hexdigest())
    assert stored.user.username == "bob"
    assert token not in {v for row in ApiToken.objects.values() for v in map(str, row.values())}


def test_a_token_expires_after_the_configured_days(api_client_for, cast, settings):
    assert timedelta(days=30) == settings.API_TOKEN_TTL
    token = login(api_client_for(None), "bob", "pw-bob").json()["token"]
    stored = ApiToken.objects.get(key_hash=hashlib.sha256(token.encode()).hexdigest())
    assert stored.expires_at - stored.created_at == timedelta(days=30)


def test_an_expired_token_is_401_token_expired(api_client_for, cast):
    past = timezone.now() - timedelta(days=31)
    ApiToken.objects.filter(user=cast["bob"][0]).update(
        created_at=past, expires_at=past + timedelta(days=30)
    )
    response = api_client_for("bob").get("/v1/ledgers")
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "token_expired"


def test_revoking_logs_out_that_token_only(api_client_for, cast):
    second = login(api_client_for(None), "bob", "pw-bob").json()["token"]
    response = api_client_for("bob").post(REVOKE, format="json")
    assert response.status_code == 204
    again = api_client_for("bob").get("/v1/ledgers")
    assert again.status_code == 401
    assert again.json()["errors"][0]["code"] == "token_revoked"
    other = api_client_for(None).get("/v1/ledgers", HTTP_AUTHORIZATION=f"Token {second}")
    assert other.status_code == 200


def test_revoking_without_a_token_is_401(api_client_for, cast):
    response = api_client_for(None).post(REVOKE, format="json")
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "not_authenticated"


def test_revoking_through_a_session_is_400_no_token(client, cast):
    client.force_login(cast["bob"][0])
    response = client.post(REVOKE, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "no_token"


def test_revoke_takes_no_body(api_client_for, cast):
    response = api_client_for("bob").post(REVOKE, {"token": "x"}, format="json")
    assert response.status_code == 400


def test_mint_token_prints_a_token_that_authenticates(api_client_for, db):
    out = StringIO()
    call_command("mint_token", "mia", "--org", "Org M", "--role", "viewer", stdout=out)
    token = out.getvalue().strip()
    response = api_client_for(None).get("/v1/ledgers", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200


def test_a_token_of_a_deactivated_user_is_401(api_client_for, cast):
    bob = cast["bob"][0]
    bob.is_active = False
    bob.save()
    assert api_client_for("bob").get("/v1/ledgers").status_code == 401


def test_last_used_is_written_at_most_once_per_resolution(api_client_for, cast, settings):
    stored = ApiToken.objects.get(user=cast["bob"][0])
    issued = stored.last_used_at
    assert issued is not None
    api_client_for("bob").get("/v1/ledgers")
    stored.refresh_from_db()
    assert stored.last_used_at == issued  # within the resolution: no write
    ApiToken.objects.filter(pk=stored.pk).update(last_used_at=issued - timedelta(hours=1))
    api_client_for("bob").get("/v1/ledgers")
    stored.refresh_from_db()
    assert stored.last_used_at > issued - timedelta(hours=1)


def test_expired_and_revoked_tokens_are_purged_after_the_retention(cast):
    from ledgers.tokens import api_token_purge

    long_ago = timezone.now() - timedelta(days=90)
    ApiToken.objects.filter(user=cast["bob"][0]).update(
        created_at=long_ago, expires_at=long_ago + timedelta(days=30)
    )
    ApiToken.objects.filter(user=cast["rita"][0]).update(revoked_at=long_ago)
    assert api_token_purge() == 2
    assert set(ApiToken.objects.values_list("user__username", flat=True)) == {"alice", "charlie"}


def test_a_wrong_password_is_401_with_the_error_shape(api_client_for, cast):
    response = login(api_client_for(None), "alice", "nope")
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "authentication_failed"


def test_missing_fields_are_named(api_client_for, cast):
    response = api_client_for(None).post(TOKEN, {"username": "alice"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "validation_error"
    assert body["errors"][0]["attr"] == "password"


def test_a_bad_token_is_401(api_client_for, cast):
    response = api_client_for(None).get("/v1/ledgers", HTTP_AUTHORIZATION="Token nope")
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "authentication_failed"


def test_the_token_lookup_builds_the_token_and_user_the_orm_builds(cast: dict[str, Any]) -> None:
    """Authentication reads a token and its user in one hand-written statement
    (`tokens._token_with_user`); what it builds must be what the ORM builds."""
    from django.contrib.auth import get_user_model

    from ledgers.tokens import _token_with_user, api_token_revoke, key_hash

    key = cast["bob"][2]
    api_token_revoke(token=ApiToken.objects.get(key_hash=key_hash(key)))  # nulls filled too
    built = _token_with_user(key_hash(key))
    expected = ApiToken.objects.select_related("user").get(key_hash=key_hash(key))
    assert built is not None
    for model, mine, theirs in (
        (ApiToken, built, expected),
        (get_user_model(), built.user, expected.user),
    ):
        fields = [f.attname for f in model._meta.concrete_fields]
        assert [getattr(mine, name) for name in fields] == [
            getattr(theirs, name) for name in fields
        ]
        assert (mine._state.adding, mine._state.db) == (False, theirs._state.db)
    assert built.user.username == "bob"
    assert _token_with_user(key_hash(key + "x")) is None
