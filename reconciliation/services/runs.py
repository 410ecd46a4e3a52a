"""Run life cycle: create, note, close, delete (API.md "Run life cycle")."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from ledgers.exceptions import Conflict, Invalid
from ledgers.models import Account, Ledger
from ledgers.services import audit_event_record
from reconciliation.choices import RunMode, RunSourceType, RunStatus
from reconciliation.exceptions import RunClosed
from reconciliation.models import Run

MATCH_SETTING_NAMES = (
    "date_window_days",
    "amount_tolerance_abs",
    "amount_tolerance_pct",
    "auto_accept_threshold",
)


def actor_or_none(actor: AbstractBaseUser | None) -> AbstractBaseUser | None:
    """The user to store as created_by/decided_by: None for the system or anonymous."""
    return actor if actor is not None and actor.is_authenticated else None


def run_audit(
    *,
    run: Run,
    actor: AbstractBaseUser | None,
    action: str,
    before: Any = None,
    after: Any = None,
    note: str = "",
    subject_type: str = "run",
    subject_id: uuid.UUID | None = None,
) -> None:
    # Every change to what a run holds is audited here, so this is where the cached
    # counts (reconciliation.selectors.run_counts_attach) are invalidated.
    Run.objects.filter(pk=run.pk).update(counts_version=F("counts_version") + 1)
    audit_event_record(
        actor=actor,
        organization_id=run.ledger.organization_id,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id or run.pk,
        run_id=run.pk,
        ledger_id=run.ledger_id,
        before=before,
        after=after,
        note=note,
    )


def run_lock(*, run_id: uuid.UUID) -> Run:
    """Lock the run row first: every writer takes run -> match -> entries in that order."""
    return Run.objects.select_for_update(of=("self",)).select_related("ledger").get(pk=run_id)


def run_validate_open(*, run: Run) -> None:
    if run.status == RunStatus.CLOSED:
        raise RunClosed(run_id=run.pk)


@transaction.atomic
def run_create(
    *,
    ledger: Ledger,
    mode: str = RunMode.MANUAL,
    source_type: str = RunSourceType.UPLOAD,
    note: str = "",
    account: Account | None = None,
    idempotency_key: str | None = None,
    match_settings: dict[str, Any] | None = None,
    actor: AbstractBaseUser | None,
) -> Run:
    """A new run in `pending`. The account, when given, must belong to the ledger."""
    if account is not None and account.ledger_id != ledger.pk:
        raise Invalid("The account belongs to another ledger.", attr="account_id")
    try:
        with transaction.atomic():
            run = Run.objects.create(
                ledger=ledger,
                account=account,
                mode=mode,
                source_type=source_type,
                note=note,
                idempotency_key=idempotency_key,
                match_settings=match_settings or None,
                created_by=actor if actor is not None and actor.is_authenticated else None,
            )
    except IntegrityError:
        # The (ledger, idempotency_key) constraint is the last line of defence behind the
        # API's idempotency records, e.g. for a key reused across organizations' ledgers.
        raise Conflict(
            "A run with this idempotency key exists for this ledger.",
            code="idempotency_key_reused",
            attr="idempotency_key",
        ) from None
    run.ledger = ledger
    run_audit(
        run=run,
        actor=actor,
        action="run.created",
        after={"mode": mode, "status": run.status, "note": note},
    )
    return run


@transaction.atomic
def run_update_note(*, run: Run, note: str, actor: AbstractBaseUser | None) -> Run:
    run = run_lock(run_id=run.pk)
    run_validate_open(run=run)
    before = run.note
    if before != note:
        run.note = note
        run.save(update_fields=["note"])
        run_audit(
            run=run,
            actor=actor,
            action="run.note_changed",
            before={"note": before},
            after={"note": note},
        )
    return run


@transaction.atomic
def run_close(*, run: Run, actor: AbstractBaseUser | None, note: str = "") -> Run:
    """Freeze the run. Closing a closed run is a no-op; a run still working is a conflict."""
    run = run_lock(run_id=run.pk)
    if run.status == RunStatus.CLOSED:
        return run
    if run.status == RunStatus.RUNNING:
        raise Conflict(
            "The run is still importing or matching; close it when it has finished.",
            code="run_running",
            current_status=run.status,
        )
    before = run.status
    run.status = RunStatus.CLOSED
    run.closed_at = timezone.now()
    run.save(update_fields=["status", "closed_at"])
    run_audit(
        run=run,
        actor=actor,
        action="run.closed",
        before={"status": before},
        after={"status": run.status},
        note=note,
    )
    return run


@transaction.atomic
def run_delete(*, run: Run, actor: AbstractBaseUser | None) -> None:
    """Delete a run with its files, entries, matches and discrepancies.

    GL entries stay and become unlinked (their reconciliation status is recomputed).
    The audit trail keeps a record of the run: events hold plain ids, not foreign keys.
    """
    from reconciliation.services.entries import ledger_entries_refresh_status

    run = run_lock(run_id=run.pk)
    run_validate_open(run=run)
    linked_gl_ids = list(
        run.matches.filter(ledger_links__is_active=True)
        .values_list("ledger_links__ledger_entry_id", flat=True)
        .distinct()
    )
    snapshot = {
        "mode": run.mode,
        "status": run.status,
        "note": run.note,
        "source_files": run.source_files.count(),
        "source_entries": run.source_entries.count(),
        "matches": run.matches.count(),
    }
    run_audit(run=run, actor=actor, action="run.deleted", before=snapshot)
    run.delete()
    ledger_entries_refresh_status(ledger_entry_ids=linked_gl_ids)
