"""Failed-login throttle shared by every process (issue #12 §2): the storage half.

The API's `POST /v1/auth/token` and the admin login form call the same three functions:
`login_throttle_check` before looking at the password, `login_failure_record` after a
wrong one, `login_success_record` after a right one. Counters live in PostgreSQL
(`LoginThrottle`), one per username and one per client address, so three gunicorn
workers (or thirty) see one count, and rotating `X-Forwarded-For` changes nothing
unless a trusted proxy wrote it (config.security.client_address).

After LOGIN_THROTTLE["username_failures"] failures for a username (or
["address_failures"] from an address) the key is locked for ["lockout_seconds"], doubling
with each further failure up to ["lockout_max_seconds"]. While locked, every attempt is
refused without checking the password, so a correct guess during the lock is worth
nothing, and the refusal neither extends the lock nor reveals whether the password was
right. Failures are forgotten ["window_seconds"] after the last failure or lock ends. A
successful login clears the username's counter, not the address's: otherwise an attacker
could reset the address counter by logging into an account of their own.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from ledgers.choices import LoginThrottleScope
from ledgers.models import LoginThrottle

logger = logging.getLogger(__name__)


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def address_key(address: str) -> str:
    """The address as throttled: IPv6 by its /64 (one host usually holds the whole /64,
    so per-address counting would give an attacker 2^64 fresh counters)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def username_ref(username: str) -> str:
    """How logs name a username: a short hash, since people type passwords into it."""
    return "sha256:" + _hash(username)[:12]


def _keys(*, username: str, address: str) -> list[tuple[str, str, int]]:
    config = settings.LOGIN_THROTTLE
    return [
        (LoginThrottleScope.USERNAME, _hash(username), config["username_failures"]),
        (LoginThrottleScope.ADDRESS, _hash(address_key(address)), config["address_failures"]),
    ]


def login_throttle_check(*, username: str, address: str) -> int | None:
    """Seconds until a login for `username` from `address` may be tried, or None."""
    now = timezone.now()
    condition = Q()
    for scope, key, _threshold in _keys(username=username, address=address):
        condition |= Q(scope=scope, key=key)
    until: datetime | None = (
        LoginThrottle.objects.filter(condition, locked_until__gt=now)
        .aggregate(until=Max("locked_until"))
        .get("until")
    )
    if until is None:
        return None
    wait = max(1, math.ceil((until - now).total_seconds()))
    logger.warning(
        "login refused, locked: user=%s address=%s retry_after=%ss",
        username_ref(username),
        address,
        wait,
    )
    return wait


def login_failure_record(*, username: str, address: str, user_id: Any = None) -> None:
    """Count one wrong password for the username and the address; lock at the threshold."""
    config = settings.LOGIN_THROTTLE
    now = timezone.now()
    window = timedelta(seconds=config["window_seconds"])
    failures: dict[str, int] = {}
    for scope, key, threshold in _keys(username=username, address=address):
        with transaction.atomic():
            # The row exists before it is locked, so two first failures cannot race on
            # the insert; then the row lock serialises the counting across processes.
            LoginThrottle.objects.bulk_create(
                [LoginThrottle(scope=scope, key=key)], ignore_conflicts=True
            )
            row = LoginThrottle.objects.select_for_update().get(scope=scope, key=key)
            quiet_since = max(
                (t for t in (row.last_failure_at, row.locked_until) if t is not None),
                default=None,
            )
            if quiet_since is not None and now - quiet_since > window:
                row.failures = 0
            row.failures += 1
            row.last_failure_at = now
            if row.failures >= threshold:
                doublings = min(row.failures - threshold, 30)
                seconds = min(
                    config["lockout_seconds"] * 2**doublings, config["lockout_max_seconds"]
                )
                row.locked_until = now + timedelta(seconds=seconds)
            row.save(update_fields=["failures", "last_failure_at", "locked_until"])
            failures[scope] = row.failures
    logger.warning(
        "login failed: user=%s%s address=%s failures(user)=%s failures(address)=%s",
        username_ref(username),
        f" (id {user_id})" if user_id is not None else "",
        address,
        failures[LoginThrottleScope.USERNAME],
        failures[LoginThrottleScope.ADDRESS],
    )


def login_success_record(*, username: str) -> None:
    """A right password: the username starts afresh (the address keeps its count)."""
    LoginThrottle.objects.filter(scope=LoginThrottleScope.USERNAME, key=_hash(username)).delete()


def login_throttle_expire() -> int:
    """Forget counters nobody failed on for a day past their window (a beat task)."""
    config = settings.LOGIN_THROTTLE
    cutoff = timezone.now() - timedelta(seconds=config["window_seconds"]) - timedelta(days=1)
    deleted, _ = (
        LoginThrottle.objects.filter(last_failure_at__lt=cutoff)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=cutoff))
        .delete()
    )
    return deleted
