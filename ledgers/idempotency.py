"""Idempotency records (API.md "Idempotency"): the storage half; HTTP glue is in ledgers/api.

A key is claimed by inserting its row before the work starts, in its own committed
statement, so concurrent requests with the same key see it at once: the first proceeds,
the others get `idempotency_in_progress` (or, once it finished, a replay). The unique
constraint on (organization, key) makes the claim race-free.

Liveness. While a request owns a key it also holds a session-level advisory lock on it
(`pg_try_advisory_lock`, keyed on a hash of organization and key) on its own database
connection. The lock lives exactly as long as the owner does: released by
`idempotency_complete`/`idempotency_release`, and by PostgreSQL itself when the owner's
connection ends (process killed, connection terminated or lost with the network). So a
retrier that finds an `in_progress` row and *can* take its lock knows the owner is gone
and takes the key over at once; while the owner lives, the lock is taken and the answer is
409 `idempotency_in_progress`. The lock is taken before the row is written, so a retrier
can never see a fresh row whose owner has not locked it yet. Session-level rather than
transaction-level, because the handler commits its own transactions (ATOMIC_REQUESTS is
off); the callers release it in `finally`, since the connection is reused (CONN_MAX_AGE).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ledgers.choices import IdempotencyState
from ledgers.exceptions import Conflict
from ledgers.models import IdempotencyRecord


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredResponse:
    status: int
    body: Any


def _lock_key(organization_id: uuid.UUID, key: str) -> str:
    return f"ledgers.idempotency:{organization_id}:{key}"


def _try_lock(organization_id: uuid.UUID, key: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))",
            [_lock_key(organization_id, key)],
        )
        row = cursor.fetchone()
    return bool(row and row[0])


def _unlock(organization_id: uuid.UUID, key: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_unlock(hashtextextended(%s, 0))",
            [_lock_key(organization_id, key)],
        )


def _in_progress() -> Conflict:
    return Conflict(
        "A request with this idempotency key is still in progress; retry shortly.",
        code="idempotency_in_progress",
        attr="idempotency_key",
    )


def _reused() -> Conflict:
    return Conflict(
        "This idempotency key was used with a different request body.",
        code="idempotency_key_reused",
        attr="idempotency_key",
    )


def idempotency_claim(
    *, organization_id: uuid.UUID, key: str, request_hash: str
) -> StoredResponse | None:
    """Claim `key` for this request. None = go ahead (the caller now owns the key and must
    end with `idempotency_complete` or `idempotency_release`); a StoredResponse = replay it.

    Raises Conflict `idempotency_key_reused` for a different payload under the same key,
    and `idempotency_in_progress` while the first request is still running.
    """
    if not _try_lock(organization_id, key):
        # A live request owns the key (or is just finishing): tell the client what it is.
        record = IdempotencyRecord.objects.filter(organization_id=organization_id, key=key).first()
        if record is not None and record.request_hash != request_hash:
            raise _reused()
        if record is not None and record.state == IdempotencyState.DONE:
            return StoredResponse(status=record.response_status or 200, body=record.response_body)
        raise _in_progress()
    try:
        return _claim_locked(organization_id=organization_id, key=key, request_hash=request_hash)
    except BaseException:
        _unlock(organization_id, key)
        raise


def _claim_locked(
    *, organization_id: uuid.UUID, key: str, request_hash: str
) -> StoredResponse | None:
    """The key's lock is ours: no live request owns it. Claim it, or answer from its row."""
    now = timezone.now()
    record = IdempotencyRecord.objects.filter(organization_id=organization_id, key=key).first()
    if record is not None and record.created_at < now - settings.IDEMPOTENCY_KEY_TTL:
        record.delete()
        record = None
    if record is None:
        try:
            with transaction.atomic():
                IdempotencyRecord.objects.create(
                    organization_id=organization_id, key=key, request_hash=request_hash
                )
        except IntegrityError:
            # Only a claimant without the lock could have inserted meanwhile; never ours.
            raise _in_progress() from None
        return None
    if record.request_hash != request_hash:
        _unlock(organization_id, key)
        raise _reused()
    if record.state == IdempotencyState.DONE:
        _unlock(organization_id, key)
        return StoredResponse(status=record.response_status or 200, body=record.response_body)
    # In progress, yet nobody holds its lock: its request died (process killed, connection
    # lost). Take the key over now instead of waiting for a timer.
    IdempotencyRecord.objects.filter(pk=record.pk).update(updated_at=now)
    return None


def idempotency_complete(*, organization_id: uuid.UUID, key: str, status: int, body: Any) -> None:
    """Store the response for replays and give up the key's lock."""
    try:
        IdempotencyRecord.objects.filter(organization_id=organization_id, key=key).update(
            state=IdempotencyState.DONE, response_status=status, response_body=body
        )
    finally:
        _unlock(organization_id, key)


def idempotency_release(*, organization_id: uuid.UUID, key: str) -> None:
    """The request failed before doing anything: free the key so a corrected retry works."""
    try:
        IdempotencyRecord.objects.filter(
            organization_id=organization_id, key=key, state=IdempotencyState.IN_PROGRESS
        ).delete()
    finally:
        _unlock(organization_id, key)


def idempotency_expire() -> int:
    cutoff = timezone.now() - settings.IDEMPOTENCY_KEY_TTL
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
