"""API tokens (API.md "Auth"): issue, check, revoke, purge. HTTP glue is in ledgers/api.

A token is `rk_` + 43 URL-safe characters (256 bits). Only its SHA-256 is stored, so the
lookup is an indexed equality on the hash, and a leaked database or backup holds no
usable credential. Each login issues a fresh token with its own expiry
(API_TOKEN_TTL, default 30 days); revoking one leaves the user's other clients logged in.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q
from django.utils import timezone

from ledgers.exceptions import DomainError
from ledgers.models import ApiToken

logger = logging.getLogger(__name__)

KEY_PREFIX = "rk_"


class TokenRejected(DomainError):
    """The presented token does not authenticate (401); `code` says why."""

    status_code = 401
    default_code = "authentication_failed"


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def api_token_issue(*, user: AbstractBaseUser, ttl: timedelta | None = None) -> str:
    """A new token for `user`; returns the key, which is shown once and never stored."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    # last_used_at starts at issue: the login that produced the token is its first use,
    # and the first request then needs no write (API_TOKEN_LAST_USED_RESOLUTION).
    ApiToken.objects.create(
        user=user,
        key_hash=key_hash(key),
        prefix=key[:10],
        created_at=now,
        expires_at=now + (ttl or settings.API_TOKEN_TTL),
        last_used_at=now,
    )
    return key


def api_token_check(*, key: str) -> ApiToken:
    """The live token for `key`, with its user; TokenRejected otherwise.

    Codes: `authentication_failed` (unknown key, inactive user), `token_expired`,
    `token_revoked`. last_used_at is refreshed at most once per resolution window.
    """
    token = ApiToken.objects.select_related("user").filter(key_hash=key_hash(key)).first()
    if token is None or not token.user.is_active:
        raise TokenRejected("Invalid token.")
    now = timezone.now()
    if token.revoked_at is not None:
        raise TokenRejected("This token was revoked; log in again.", code="token_revoked")
    if token.expires_at <= now:
        raise TokenRejected("This token has expired; log in again.", code="token_expired")
    stale = now - settings.API_TOKEN_LAST_USED_RESOLUTION
    if token.last_used_at is None or token.last_used_at < stale:
        # Conditional, so concurrent requests on one token write once, not each.
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale)
        ).update(last_used_at=now)
        token.last_used_at = now
    return token


def api_token_revoke(*, token: ApiToken) -> None:
    """Revoke one token (idempotent); the row stays until purged, so a later use of it is
    answered `token_revoked` rather than looking like a typo."""
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    logger.info("api token revoked: token=%s user=%s", token.prefix, token.user_id)


def api_token_purge() -> int:
    """Delete tokens expired or revoked longer ago than API_TOKEN_RETENTION."""
    cutoff = timezone.now() - settings.API_TOKEN_RETENTION
    deleted, _ = ApiToken.objects.filter(
        Q(expires_at__lt=cutoff) | Q(revoked_at__lt=cutoff)
    ).delete()
    return deleted
