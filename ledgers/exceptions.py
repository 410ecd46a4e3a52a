"""Domain errors (stdlib only). Services raise these; one API handler maps them to HTTP.

Each error has a stable `code` clients can branch on, a human `detail`, an optional `attr`
naming the offending field and an `extra` dict of ids (file id, current state, ...).
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    status_code: ClassVar[int] = 400
    default_code: ClassVar[str] = "invalid"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        attr: str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.attr = attr
        self.extra = extra


class Invalid(DomainError):
    """The request is well-formed but a value is wrong (400)."""


class Forbidden(DomainError):
    status_code = 403
    default_code = "permission_denied"


class NotFound(DomainError):
    status_code = 404
    default_code = "not_found"


class Conflict(DomainError):
    """The object's state (or a duplicate) forbids the change (409)."""

    status_code = 409
    default_code = "conflict"


class TooLarge(DomainError):
    status_code = 413
    default_code = "too_large"


class UnsupportedFormat(DomainError):
    status_code = 415
    default_code = "unsupported_format"


class Unprocessable(DomainError):
    """Well-formed but cannot be processed, e.g. a statement that cannot be parsed (422)."""

    status_code = 422
    default_code = "unprocessable"


class ServiceUnavailable(DomainError):
    status_code = 503
    default_code = "service_unavailable"
