"""Idempotent POST handling for views that opt in (API.md "Idempotency")."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from ledgers.idempotency import idempotency_claim, idempotency_complete, idempotency_release

REPLAY_HEADER = "Idempotent-Replayed"


def idempotency_key_from(request: Request, body_key: str | None) -> str | None:
    """The key from the body field or the `Idempotency-Key` header; both must agree."""
    header_key = request.headers.get("Idempotency-Key")
    if header_key is not None and body_key is not None and header_key != body_key:
        raise ValidationError({"idempotency_key": ["Differs from the Idempotency-Key header."]})
    key = body_key if body_key is not None else header_key
    if key is not None and not (1 <= len(key) <= 255):
        raise ValidationError({"idempotency_key": ["Must be 1 to 255 characters."]})
    return key


def request_fingerprint(request: Request, payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(f"{request.method} {request.path}\n{canonical}".encode()).hexdigest()


def run_idempotently(
    *,
    request: Request,
    organization_id: uuid.UUID,
    key: str | None,
    payload: Any,
    handler: Callable[[], Response],
) -> Response:
    """Run `handler` once per (organization, key); repeats replay its first 2xx response.

    Errors are not stored: the key is released so the client can retry after fixing the
    request (as Stripe does for requests that fail validation).
    """
    if key is None:
        return handler()
    stored = idempotency_claim(
        organization_id=organization_id, key=key, request_hash=request_fingerprint(request, payload)
    )
    if stored is not None:
        return Response(stored.body, status=stored.status, headers={REPLAY_HEADER: "true"})
    # The claim holds a session lock on this connection (ledgers/idempotency.py): every
    # path below ends in idempotency_complete or idempotency_release, which give it up.
    try:
        response = handler()
        succeeded = 200 <= response.status_code < 300
        body = json.loads(json.dumps(response.data, default=str)) if succeeded else None
    except BaseException:
        idempotency_release(organization_id=organization_id, key=key)
        raise
    if succeeded:
        idempotency_complete(
            organization_id=organization_id, key=key, status=response.status_code, body=body
        )
    else:
        idempotency_release(organization_id=organization_id, key=key)
    return response
