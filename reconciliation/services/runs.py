"""Run life cycle: create, note, close, delete (API.md "Run life cycle")."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from ledgers.exceptions import Conflict, Forbidden, Invalid
from ledgers.models import Account, Ledger
from ledgers.services import audit_event_record
from reconciliation.choices import RunMode, RunSourceType, RunStatus
from reconciliation.exceptions import RunApproved, RunClosed
from reconciliation.models import Run, RunReport

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
    counts_change: bool = True,
) -> None:
    # Every change to what a run holds is audited here, so this is where the cached
    # counts (reconciliation.selectors.run_counts_attach) are invalidated. A change that
    # cannot move them (a note) says so: recounting a big run reads all its rows, and the
    # next view of the run would pay for it.
    if counts_change:
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
    """The one gate every write on a run (or anything in it) passes: an approved run is
    immutable (409 `run_approved`), a closed one frozen (409 `run_closed`)."""
    if run.approved_at is not None:
        raise RunApproved(run_id=run.pk)
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
            counts_change=False,
        )
    return run


@transaction.atomic
def run_close(*, run: Run, actor: AbstractBaseUser | None, note: str = "", reason: str = "") -> Run:
    """Freeze the run; its closer is the preparer (`closed_by`) of the four-eyes sign-off.

    The reconciliation report is computed first: when it does not balance (or cannot,
    without a bank closing balance), closing needs an explicit `reason` (409
    `report_unbalanced` without one, with the difference). The reason and the report's
    figures go into the audit event. Closing a closed run is a no-op; an approved run is
    409 `run_approved`; a run still working is 409 `run_running`.
    """
    from reconciliation.report.build import run_report

    run = run_lock(run_id=run.pk)
    if run.approved_at is not None:
        raise RunApproved(run_id=run.pk)
    if run.status == RunStatus.CLOSED:
        return run
    if run.status == RunStatus.RUNNING:
        raise Conflict(
            "The run is still importing or matching; close it when it has finished.",
            code="run_running",
            current_status=run.status,
        )
    report = run_report(run=run)
    reason = reason.strip()
    if not report["balanced"] and not reason:
        raise Conflict(
            "The reconciliation report does not balance"
            + (
                f" (difference {report['difference']} {report['currency']})"
                if report["difference"] is not None
                else " (the bank closing balance is unknown)"
            )
            + "; give a reason to close it anyway.",
            code="report_unbalanced",
            attr="reason",
            difference=report["difference"],
            currency=report["currency"],
        )
    before = run.status
    run.status = RunStatus.CLOSED
    run.closed_at = timezone.now()
    run.closed_by = actor_or_none(actor)  # type: ignore[assignment]
    run.save(update_fields=["status", "closed_at", "closed_by"])
    run_audit(
        run=run,
        actor=actor,
        action="run.closed",
        before={"status": before},
        after={
            "status": run.status,
            "balanced": report["balanced"],
            "difference": report["difference"],
            "currency": report["currency"],
            "reason": reason,
        },
        note=note,
    )
    return run


def run_validate_approver(*, run: Run, actor: AbstractBaseUser | None) -> None:
    """Four eyes: the approver is a person, and not the one who closed (prepared) the run."""
    approver = actor_or_none(actor)
    if approver is None:
        raise Forbidden("A run is approved by a person.", code="permission_denied")
    if run.closed_by_id is not None and run.closed_by_id == approver.pk:
        raise Forbidden(
            "You closed (prepared) this run; a second person approves it.",
            code="approver_is_preparer",
        )


@transaction.atomic
def run_approve(*, run: Run, actor: AbstractBaseUser | None, note: str = "") -> Run:
    """Sign off a closed run: closed -> approved, by someone other than its preparer.

    The report is frozen (`RunReport`, with the sha256 of its canonical JSON) and from
    now on every write on the run answers 409 `run_approved`. Errors: 409 `run_approved`
    (approved already), 409 `run_not_closed`, 403 `approver_is_preparer`.
    """
    from reconciliation.report.build import run_report
    from reconciliation.report.statement import report_digest

    run = run_lock(run_id=run.pk)
    if run.approved_at is not None:
        raise RunApproved(run_id=run.pk)
    if run.status != RunStatus.CLOSED:
        raise Conflict(
            "Only a closed run can be approved; close it first.",
            code="run_not_closed",
            current_status=run.status,
        )
    run_validate_approver(run=run, actor=actor)
    run.approved_at = timezone.now()
    run.approved_by = actor_or_none(actor)  # type: ignore[assignment]
    run.save(update_fields=["approved_at", "approved_by"])
    body = run_report(run=run, now=run.approved_at)
    digest = report_digest(body)
    RunReport.objects.create(run=run, body=body, sha256=digest)
    run_audit(
        run=run,
        actor=actor,
        action="run.approved",
        before={"status": run.status, "approved": False},
        after={
            "status": run.status,
            "approved": True,
            "report_sha256": digest,
            "balanced": body["balanced"],
            "difference": body["difference"],
        },
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
