"""Several workers share one big run's auto-match (issue #17: scale-out).

The engine never pairs entries of different accounts or currencies, so a run's free bank
rows fall into independent (account, currency) parts. A run with at least
RUN_MATCH_PARTITION_MIN_ROWS free rows in two parts or more, with RUN_MATCH_WORKERS > 1:

1. The task holding the run's lease (`run_auto_match_job`) plans the parts, one `MatchPart`
   row each, and commits them (`match_parts_plan`); after commit it asks for up to
   RUN_MATCH_WORKERS - 1 helper tasks (`reconciliation.run_auto_match_part`).
2. Each of them, the lease holder too, takes the biggest unfinished part with
   `FOR UPDATE SKIP LOCKED`, matches it (engine, COPY of matches and links, status flips)
   and commits it marked finished, then takes the next (`match_parts_work`). A part's
   transaction holds the run row `FOR SHARE`: parts run side by side, while anything that
   locks the run `FOR UPDATE` (a person's decision, an upload, the sweep) waits for them
   as it waits for a one-task pass.
3. When no part is left to take, the lease holder runs the one-task pass's transaction
   (`run_auto_match`), whose `FOR UPDATE` on the run waits for the parts still in progress.
   There `match_parts_finish` matches any part nobody finished (its worker died: the
   rollback released it), refreshes the planner's statistics once, and the pass recomputes
   the run's discrepancies once and completes the run with the parts' totals.

Failure: a helper that dies loses only its uncommitted part, which the lease holder then
matches. A lease holder that dies leaves its parts; the sweep hands the run to a new task,
which plans again (committed parts are matched, so their rows are no longer free; the
parts keep their totals, so the run's `run.auto_matched` audit still counts every match of
the pass). An upload can slip in between two parts and ask for matching again: the lease
holder then no longer holds the request's lease and leaves the run `running` for the new
request's task, which plans and matches what is free and completes the run.

What differs from a one-task pass: parts commit one by one, so readers see a part's matches
before the run completes, and a run that fails midway keeps the parts it committed (it ends
`failed`; another auto-match matches the rest, as idempotent as ever). The proposals are the
same: the engine keys every candidate by currency, and runs are split by account either way
(tests/reconciliation/services/test_match_parts.py compares both on one data set).
"""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone

from reconciliation.choices import RunStatus
from reconciliation.models import MatchPart, Run
from reconciliation.services.auto_match import (
    ANALYZE_AFTER_LINKS,
    analyze_matches,
    run_free_parts,
    run_has_matched_entries,
    run_match_part,
)

logger = logging.getLogger(__name__)


def match_parts_plan(*, run_id: uuid.UUID) -> int:
    """Split the run's pass into parts when workers are configured and the run is big
    enough; returns how many parts (0: match it in one task). Committed in a transaction of
    its own, since other workers must see the parts; replaces an earlier plan (of a task
    that died, or before an upload added rows)."""
    if settings.RUN_MATCH_WORKERS <= 1:
        return 0
    with transaction.atomic():
        run = (
            Run.objects.select_for_update(of=("self",))
            .select_related("ledger", "account")
            .filter(pk=run_id)
            .first()
        )
        if run is None or run.status != RunStatus.RUNNING:
            return 0
        sizes = run_free_parts(run=run)
        if len(sizes) < 2 or sum(sizes.values()) < settings.RUN_MATCH_PARTITION_MIN_ROWS:
            # One task matches what is free; an earlier plan's totals are its pass's.
            return 0
        _plan_parts(run=run, sizes=sizes, rerun=run_has_matched_entries(run=run))
        helpers = min(settings.RUN_MATCH_WORKERS, len(sizes)) - 1
        run_id_text = str(run_id)

        def ask_match_part_helpers() -> None:
            match_parts_ask_helpers(run_id=run_id_text, count=helpers)

        transaction.on_commit(ask_match_part_helpers, robust=True)
    logger.info("run %s: matched in %d parts by up to %d workers", run_id, len(sizes), helpers + 1)
    return len(sizes)


def _plan_parts(*, run: Run, sizes: dict[tuple[uuid.UUID | None, str], int], rerun: bool) -> None:
    """One unfinished part per (account, currency) with free rows. An earlier plan of this
    pass (its lease holder died, or an upload asked again) keeps its parts' totals: the
    matches they committed belong to the pass the run's audit reports when it completes.
    A part with nothing free left is marked finished; one with free rows again is reopened."""
    existing = {(p.account_id, p.currency): p for p in MatchPart.objects.filter(run=run)}
    now = timezone.now()
    for key, part in existing.items():
        if key in sizes:
            part.rows, part.rerun, part.finished_at = sizes[key], rerun, None
        else:
            part.finished_at = part.finished_at or now
    MatchPart.objects.bulk_update(existing.values(), ["rows", "rerun", "finished_at"])
    MatchPart.objects.bulk_create(
        MatchPart(run=run, account_id=account_id, currency=currency, rows=rows, rerun=rerun)
        for (account_id, currency), rows in sizes.items()
        if (account_id, currency) not in existing
    )


def match_parts_ask_helpers(*, run_id: str, count: int) -> None:
    """Queue `count` helper tasks. A broker that refuses costs only speed: the lease holder
    matches every part itself."""
    from reconciliation.tasks import run_auto_match_part_task

    for _ in range(count):
        try:
            run_auto_match_part_task.delay(run_id=run_id)
        except Exception:  # kombu and redis raise transport-specific errors; all mean "not sent"
            logger.warning("broker unavailable: run %s is matched without helpers", run_id)
            return


def match_parts_work(*, run_id: uuid.UUID) -> int:
    """Match the run's unfinished parts one at a time, each committed on its own, until
    none is left to take; returns how many this worker matched."""
    matched = 0
    while (written := _match_next_part(run_id=run_id)) is not None:
        matched += 1
        if 2 * written >= ANALYZE_AFTER_LINKS:  # every match has a link row per side at least
            # The next part's free-row queries anti-join the link tables this part just
            # grew, faster than autovacuum counts them (the one-task pass analyzes inside
            # its transaction for the same reason). Here it runs after the commit, in a
            # statement of its own: inside the part it would hold its lock until commit and
            # make the parts of other workers queue behind each other.
            analyze_matches()
    return matched


def _match_next_part(*, run_id: uuid.UUID) -> int | None:
    """Take, match and commit the biggest free part; returns the matches it wrote, None
    when no part was left to take."""
    if not _free_part_left(run_id=run_id):
        # Checked before queueing for the run's share lock: once the lease holder waits
        # for the run FOR UPDATE to complete it, a helper asking for the share lock would
        # hold its worker slot until the run's discrepancies are recomputed, for nothing.
        return None
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                if not _run_running_shared(run_id=run_id):
                    return None
                part = (
                    MatchPart.objects.select_for_update(skip_locked=True)
                    .filter(run_id=run_id, finished_at__isnull=True)
                    .order_by("-rows", "pk")
                    .first()
                )
                if part is None:
                    return None
                run = Run.objects.select_related("ledger", "account").get(pk=run_id)
                logger.info("run %s: matching part %s (%d rows)", run_id, _name(part), part.rows)
                written = _match_part(run=run, part=part)
                part.finished_at = timezone.now()
                part.save(update_fields=["suggested", "accepted", "finished_at"])
            logger.info("run %s: part %s matched", run_id, _name(part))
            return written
        except IntegrityError:
            # A person's manual match linked one of the part's entries meanwhile.
            if attempt == 2:
                raise
            logger.info("run %s: a part lost a link race; retrying on fresh state", run_id)
    raise AssertionError("unreachable")


def _match_part(*, run: Run, part: MatchPart) -> int:
    """Match `part` and add its matches to the part's totals (a reopened part already has
    some, from before its new rows); returns the matches written now."""
    suggested, accepted = run_match_part(run=run, part=part)
    part.suggested += suggested
    part.accepted += accepted
    return suggested + accepted


def _name(part: MatchPart) -> str:
    return f"{part.currency}" if part.account_id is None else f"{part.account_id}/{part.currency}"


def _free_part_left(*, run_id: uuid.UUID) -> bool:
    """Whether an unfinished part of the run is free to take now. In a transaction of its
    own, so the part's lock is not held while the run's is asked for (run, then part is
    the lock order everywhere else)."""
    with transaction.atomic():
        return (
            MatchPart.objects.select_for_update(skip_locked=True)
            .filter(run_id=run_id, finished_at__isnull=True)
            .exists()
        )


def _run_running_shared(*, run_id: uuid.UUID) -> bool:
    """Lock the run row FOR SHARE (Django's select_for_update has no shared mode): parts
    share it, whatever locks it FOR UPDATE waits. True while the run is `running`."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT status FROM {Run._meta.db_table} WHERE id = %s FOR SHARE",  # noqa: S608 -- table name from the model
            [run_id],
        )
        row = cursor.fetchone()
    return row is not None and row[0] == RunStatus.RUNNING


def match_parts_drop(*, run: Run) -> tuple[int, int]:
    """Delete the run's plan, for a pass that matches the whole run itself; returns the
    parts' (suggested, accepted): matches they committed that no completed pass has
    reported yet, which that pass reports as its own."""
    plan = MatchPart.objects.filter(run=run)
    totals = plan.aggregate(suggested=Sum("suggested"), accepted=Sum("accepted"))
    plan.delete()
    return totals["suggested"] or 0, totals["accepted"] or 0


def match_parts_finish(*, run: Run) -> tuple[int, int] | None:
    """Inside the pass's transaction, with the run locked FOR UPDATE (no part is in
    progress): match the parts nobody finished and drop the plan; returns the parts'
    (suggested, accepted), or None when the run was not split."""
    parts = list(MatchPart.objects.filter(run=run).order_by("-rows", "pk"))
    if not parts:
        return None
    for part in parts:
        if part.finished_at is None:
            _match_part(run=run, part=part)
    suggested = sum(p.suggested for p in parts)
    accepted = sum(p.accepted for p in parts)
    # The discrepancy checks that follow query these tables: plan them for what the
    # parts wrote (here inside the transaction, which also sees the inline parts' rows).
    if 2 * (suggested + accepted) >= ANALYZE_AFTER_LINKS:
        analyze_matches()
    MatchPart.objects.filter(run=run).delete()
    return suggested, accepted
