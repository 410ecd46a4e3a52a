"""Idempotency records (API.md "Idempotency"): the storage half; HTTP glue is in ledgers/api.

A key is claimed by inserting its row before the work starts, in its own committed
statement, so concurrent requests with the same key see it at once: the first proceeds,
the others get `idempotency_in_progress` (or, once it finished, a replay). The unique
constraint on (organization, key) makes the claim race-free on every backend.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from ledgers.choices import IdempotencyState
from ledgers.exceptions import Conflict
from ledgers.models import IdempotencyRecord


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredResponse:
    status: int
    body: Any


def idempotency_claim(
    *, organization_id: uuid.UUID, key: str, request_hash: str
) -> StoredResponse | None:
    """Claim `key` for this request. None = go ahead; a StoredResponse = replay it.

    Raises Conflict `idempotency_key_reused` for a different payload under the same key,
    and `idempotency_in_progress` while the first request is still running.
    """
    now = timezone.now()
    for _attempt in range(3):
        try:
            with transaction.atomic():
                IdempotencyRecord.objects.create(
                    organization_id=organization_id, key=key, request_hash=request_hash
                )
            return None
        except IntegrityError:
            pass
        record = IdempotencyRecord.objects.filter(organization_id=organization_id, key=key).first()
        if record is None:  # finished with an error and released between our two statements
            continue
        if record.created_at < now - settings.IDEMPOTENCY_KEY_TTL:
            IdempotencyRecord.objects.filter(pk=record.pk, updated_at=record.updated_at).delete()
            continue
        if record.request_hash != request_hash:
            raise Conflict(
                "This idempotency key was used with a different request body.",
                code="idempotency_key_reused",
                attr="idempotency_key",
            )
        if record.state == IdempotencyState.DONE:
            return StoredResponse(status=record.response_status or 200, body=record.response_body)
        if record.updated_at < now - settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT:
            # The first request died without finishing (process killed): take the key over.
            # The conditional update lets exactly one retrier win.
            taken = IdempotencyRecord.objects.filter(
                pk=record.pk, updated_at=record.updated_at, state=IdempotencyState.IN_PROGRESS
            ).update(updated_at=now)
            if taken:
                return None
        raise Conflict(
            "A request with this idempotency key is still in progress; retry shortly.",
            code="idempotency_in_progress",
            attr="idempotency_key",
        )
    raise Conflict(
        "A request with this idempotency key is still in progress; retry shortly.",
        code="idempotency_in_progress",
        attr="idempotency_key",
    )


def idempotency_complete(*, organization_id: uuid.UUID, key: str, status: int, body: Any) -> None:
    IdempotencyRecord.objects.filter(organization_id=organization_id, key=key).update(
        state=IdempotencyState.DONE, response_status=status, response_body=body
    )


def idempotency_release(*, organization_id: uuid.UUID, key: str) -> None:
    """The request failed before doing anything: free the key so a corrected retry works."""
    IdempotencyRecord.objects.filter(
        organization_id=organization_id, key=key, state=IdempotencyState.IN_PROGRESS
    ).delete()


def idempotency_expire() -> int:
    cutoff = timezone.now() - settings.IDEMPOTENCY_KEY_TTL
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
