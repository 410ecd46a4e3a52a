"""Domain errors of the reconciliation app (no HTTP here; config.api maps them)."""

from __future__ import annotations

import uuid

from ledgers.exceptions import Conflict


class RunClosed(Conflict):
    def __init__(self, *, run_id: uuid.UUID) -> None:
        super().__init__(
            "The run is closed; it can no longer be changed.",
            code="run_closed",
            run_id=str(run_id),
            current_status="closed",
        )


class InvalidTransition(Conflict):
    def __init__(self, detail: str, *, current_status: str, **extra: object) -> None:
        super().__init__(detail, code="invalid_state", current_status=current_status, **extra)


class RunApproved(Conflict):
    """An approved run is immutable: every write on it or anything in it is refused."""

    def __init__(self, *, run_id: uuid.UUID) -> None:
        super().__init__(
            "The run is approved; it and everything in it can no longer be changed.",
            code="run_approved",
            run_id=str(run_id),
            current_status="closed",
        )
