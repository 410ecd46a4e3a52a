"""Login abuse (issue #12 §2), written as the attacker's requests.

The pen test: 300 wrong passwords with a rotating X-Forwarded-For got 300 x 401 and no
429, then the right password worked; the counter was per process, and the admin login
had none. Settings in force: 5 failures per username, 20 per address, 60 s lock doubling
to at most an hour.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.test import Client, RequestFactory
from django.utils import timezone

from config.security import client_address
from ledgers.choices import LoginThrottleScope
from ledgers.models import LoginThrottle

pytestmark = pytest.mark.django_db
TOKEN = "/v1/auth/token"


def attempt(client, username: str, password: str, *, forwarded: str | None = None, addr=None):
    extra = {}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    if addr is not None:
        extra["REMOTE_ADDR"] = addr
    return client.post(TOKEN, {"username": username, "password": password}, format="json", **extra)


def test_rotating_x_forwarded_for_does_not_dodge_the_lockout(api_client_for, cast):
    client = api_client_for(None)
    statuses = [
        attempt(client, "alice", f"guess-{i}", forwarded=f"203.0.113.{i}").status_code
        for i in range(30)
    ]
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429] * 25
    locked = attempt(client, "alice", "pw-alice", forwarded="198.51.100.7")
    assert locked.status_code == 429  # the right password during the lock is refused too
    body = locked.json()
    assert body["errors"][0]["code"] == "too_many_login_attempts"
    assert 1 <= int(locked.headers["Retry-After"]) <= 60


def test_one_address_trying_many_usernames_is_locked_for_every_username(api_client_for, cast):
    client = api_client_for(None)
    statuses = [attempt(client, f"user{i}", "x", addr="192.0.2.10").status_code for i in range(21)]
    assert statuses[:20] == [401] * 20
    assert statuses[20] == 429
    assert attempt(client, "bob", "pw-bob", addr="192.0.2.10").status_code == 429
    assert attempt(client, "bob", "pw-bob", addr="192.0.2.11").status_code == 200


def test_an_ipv6_attacker_cannot_rotate_through_its_64(api_client_for, cast):
    client = api_client_for(None)
    statuses = [
        attempt(client, f"user{i}", "x", addr=f"2001:db8:1:2::{i:x}").status_code for i in range(21)
    ]
    assert statuses[20] == 429


def test_the_lock_doubles_with_each_failure_after_it(api_client_for, cast):
    client = api_client_for(None)
    for i in range(5):
        attempt(client, "alice", f"guess-{i}")
    row = LoginThrottle.objects.get(scope=LoginThrottleScope.USERNAME)
    first = (row.locked_until - row.last_failure_at).total_seconds()
    # The lock runs out; the next wrong password locks for twice as long.
    LoginThrottle.objects.filter(pk=row.pk).update(locked_until=timezone.now())
    assert attempt(client, "alice", "guess-5").status_code == 401
    row.refresh_from_db()
    second = (row.locked_until - row.last_failure_at).total_seconds()
    assert (first, second) == (60, 120)
    response = attempt(client, "alice", "pw-alice")
    assert response.status_code == 429
    assert 60 < int(response.headers["Retry-After"]) <= 120


def test_the_lock_never_exceeds_the_maximum(api_client_for, cast, settings):
    client = api_client_for(None)
    for i in range(40):
        LoginThrottle.objects.update(locked_until=None)
        attempt(client, "alice", f"guess-{i}")
    row = LoginThrottle.objects.get(scope=LoginThrottleScope.USERNAME)
    assert (row.locked_until - row.last_failure_at) == timedelta(seconds=3600)


def test_a_successful_login_resets_the_usernames_counter(api_client_for, cast):
    client = api_client_for(None)
    for i in range(4):
        assert attempt(client, "alice", f"guess-{i}").status_code == 401
    assert attempt(client, "alice", "pw-alice").status_code == 200
    for i in range(4):
        assert attempt(client, "alice", f"again-{i}").status_code == 401
    assert attempt(client, "alice", "pw-alice").status_code == 200


def test_old_failures_are_forgotten_after_the_window(api_client_for, cast):
    client = api_client_for(None)
    for i in range(4):
        attempt(client, "alice", f"guess-{i}")
    LoginThrottle.objects.update(last_failure_at=timezone.now() - timedelta(hours=2))
    assert attempt(client, "alice", "guess-4").status_code == 401
    assert attempt(client, "alice", "pw-alice").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_the_counter_is_shared_by_concurrent_processes(cast, concurrently):
    from ledgers.login_throttle import login_failure_record

    concurrently(8, lambda i: login_failure_record(username="alice", address=f"10.0.0.{i}"))
    row = LoginThrottle.objects.get(scope=LoginThrottleScope.USERNAME)
    assert row.failures == 8  # no lost update: every process counted


def test_failed_and_locked_logins_are_logged_without_the_password(api_client_for, cast, caplog):
    client = api_client_for(None)
    with caplog.at_level(logging.WARNING, logger="ledgers.login_throttle"):
        for i in range(6):
            attempt(client, "alice", f"secret-guess-{i}", addr="192.0.2.99")
    text = caplog.text
    assert "login failed" in text
    assert "login refused, locked" in text
    assert "192.0.2.99" in text
    assert f"(id {cast['alice'][0].pk})" in text
    assert "secret-guess" not in text
    assert "alice" not in text  # the username as typed is hashed: it is sometimes a password


def test_the_store_holds_no_username_or_address_in_clear(api_client_for, cast):
    attempt(api_client_for(None), "alice", "wrong", addr="192.0.2.44")
    keys = list(LoginThrottle.objects.values_list("key", flat=True))
    assert len(keys) == 2
    assert all(len(key) == 64 and "alice" not in key and "192" not in key for key in keys)


# --- the admin login form -----------------------------------------------------------------


def admin_post(client: Client, username: str, password: str, **extra):
    return client.post(
        "/admin/login/?next=/admin/", {"username": username, "password": password}, **extra
    )


def test_the_admin_login_locks_after_five_failures_with_429(cast):
    client = Client()
    statuses = [admin_post(client, "alice", f"guess-{i}").status_code for i in range(5)]
    assert statuses == [200] * 5  # the form again, with its error
    locked = admin_post(client, "alice", "pw-alice")
    assert locked.status_code == 429
    assert 1 <= int(locked.headers["Retry-After"]) <= 60
    assert "Too many failed logins" in locked.content.decode()
    assert "_auth_user_id" not in client.session  # the right password did not log in


def test_admin_and_api_failures_count_together(api_client_for, cast):
    client = Client()
    for i in range(3):
        admin_post(client, "alice", f"guess-{i}")
    for i in range(2):
        attempt(api_client_for(None), "alice", f"api-{i}")
    assert attempt(api_client_for(None), "alice", "pw-alice").status_code == 429
    assert admin_post(client, "alice", "pw-alice").status_code == 429


def test_the_admin_login_still_works_and_resets_the_counter(cast):
    client = Client()
    for i in range(4):
        admin_post(client, "alice", f"guess-{i}")
    response = admin_post(client, "alice", "pw-alice")
    assert response.status_code == 302
    assert not LoginThrottle.objects.filter(scope=LoginThrottleScope.USERNAME).exists()


# --- who the client is --------------------------------------------------------------------


def meta(remote: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_x_forwarded_for_is_ignored_unless_a_proxy_is_trusted(settings):
    assert client_address(meta("192.0.2.1", "203.0.113.9")) == "192.0.2.1"


def test_trusted_proxies_are_walked_from_the_right(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    # The client forged the leftmost entry; our proxy (10.0.0.2) appended the real one.
    request = meta("10.0.0.2", "6.6.6.6, 203.0.113.9, 10.0.0.7")
    assert client_address(request) == "203.0.113.9"
    assert client_address(meta("192.0.2.1", "203.0.113.9")) == "192.0.2.1"  # not via proxy
    assert client_address(meta("10.0.0.2", "garbage, 10.0.0.7")) == "10.0.0.7"


def test_num_proxies_takes_that_many_hops_from_the_right(settings):
    settings.NUM_PROXIES = 1
    assert client_address(meta("10.0.0.2", "6.6.6.6, 203.0.113.9")) == "203.0.113.9"
    settings.NUM_PROXIES = 2
    assert client_address(meta("10.0.0.2", "6.6.6.6, 203.0.113.9, 10.0.0.7")) == "203.0.113.9"
    assert client_address(meta("10.0.0.2")) == "10.0.0.2"


def test_behind_a_trusted_proxy_the_forwarded_address_is_what_is_throttled(
    api_client_for, cast, settings
):
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    client = api_client_for(None)
    for i in range(20):
        attempt(client, f"u{i}", "x", forwarded="203.0.113.50", addr="127.0.0.1")
    blocked = attempt(client, "bob", "pw-bob", forwarded="203.0.113.50", addr="127.0.0.1")
    assert blocked.status_code == 429
    other = attempt(client, "bob", "pw-bob", forwarded="203.0.113.51", addr="127.0.0.1")
    assert other.status_code == 200
