"""Hand-off of "match this run" from an upload to a worker, and recovery when that fails.

Design: a transactional outbox with leases, in one table (`MatchRequest`, one row per run
whose matching is owed). Everything a worker or broker forgets is recovered from it.

1. The upload writes the request in its own transaction (`match_request_create`): the
   committed upload and the request for its matching are one atomic fact, so a broker that
   is down at that moment loses nothing.
2. After commit, the fast path hands a message to the broker at once (`match_request_deliver`)
   and records `enqueued_at`. With the broker down it logs and leaves the row undelivered.
3. The worker's task takes the request's lease (`match_request_claim`, a compare-and-set on
   a free or expired lease, or on its own lease when a retry of the same task comes back),
   keeps it alive from a heartbeat thread on its own connection every
   RUN_HEARTBEAT_SECONDS, matches, and deletes the row in the transaction that completes the
   run. A task that finds the lease held by a live worker leaves. Two passes over one run
   cannot overlap anyway: the pass holds the run row lock, and the run's status is checked
   under that lock, so the later pass finds the run completed and does nothing.
4. The sweep (`match_requests_sweep`; beat every RUN_SWEEP_SECONDS, and at worker start):
   - drops requests of runs that are no longer `running` (matched synchronously, closed);
   - an expired lease means the worker died (SIGKILL, OOM, host lost) or lost the database
     longer than the lease: the request counts one attempt and is delivered again. A run
     whose row is locked is being matched right now (the lease only looked dead), so it is
     left alone; a request delivered RUN_STALE_AFTER ago that no worker ever took lost its
     message (a broker restarted without its data) and is treated the same;
   - after RUN_MATCH_MAX_ATTEMPTS the run fails with `stale_run`: a run ends completed or
     failed, never `running` forever;
   - delivers every undelivered request (the broker was down at commit);
   - gives a run `running` for RUN_STALE_AFTER without a request (written by older code) one.
5. Without a broker (`make run`: eager tasks) the fast path runs the match in-process right
   after commit, which deletes the row: nothing is left pending.
6. Database errors inside the task are retried with capped exponential backoff
   (`retry_countdown`, RUN_MATCH_RETRY_*) under the same lease owner (the task id), so the
   retry takes its own lease back at once.

The broker's own redelivery (acks late, visibility timeout) stays as a second net: such a
late message finds the request gone or leased and does nothing.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import random
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from reconciliation.choices import RunStatus
from reconciliation.models import MatchRequest, Run

logger = logging.getLogger(__name__)

# The sweep leaves a request written this recently to the fast path of its own upload.
DELIVERY_GRACE = dt.timedelta(seconds=2)


class Claim(enum.Enum):
    TAKEN = "taken"  # this task holds the lease now
    BUSY = "busy"  # a live worker holds it
    GONE = "gone"  # nothing is owed (matched, deleted, or never requested)


def _lease() -> dt.timedelta:
    return dt.timedelta(seconds=settings.RUN_LEASE_SECONDS)


def match_request_create(*, run: Run) -> None:
    """Record, inside the caller's transaction, that `run` needs matching, and deliver it to
    the broker after commit. A request already there (a second upload) starts over."""
    now = timezone.now()
    MatchRequest.objects.update_or_create(
        run=run,
        defaults={
            "requested_at": now,
            "enqueued_at": None,
            "attempts": 0,
            "lease_owner": "",
            "lease_expires_at": None,
            "heartbeat_at": None,
        },
    )
    run_id = str(run.pk)

    # A named function, not a partial: Django's robust on_commit logs the callback's
    # __qualname__ when it fails, and a partial has none (the log call itself would raise).
    def deliver_match_request() -> None:
        match_request_deliver(run_id=run_id)

    transaction.on_commit(deliver_match_request, robust=True)


def match_request_deliver(*, run_id: str) -> bool:
    """Hand the request to the broker; False (logged) when the broker refuses. The row stays
    undelivered then, and the sweep delivers it when the broker is back."""
    from reconciliation.tasks import run_auto_match_task

    try:
        run_auto_match_task.delay(run_id=run_id)
    except Exception:  # kombu and redis raise transport-specific errors; all mean "not sent"
        logger.warning("broker unavailable: match of run %s waits in the outbox", run_id)
        return False
    MatchRequest.objects.filter(run_id=run_id, enqueued_at__isnull=True).update(
        enqueued_at=timezone.now()
    )
    return True


def match_request_claim(*, run_id: uuid.UUID, owner: str) -> Claim:
    """Take the lease of the run's request for `owner` (a task id)."""
    now = timezone.now()
    taken = (
        MatchRequest.objects.filter(run_id=run_id)
        .filter(
            Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now) | Q(lease_owner=owner)
        )
        .update(lease_owner=owner, lease_expires_at=now + _lease(), heartbeat_at=now)
    )
    if taken:
        return Claim.TAKEN
    return Claim.BUSY if MatchRequest.objects.filter(run_id=run_id).exists() else Claim.GONE


def match_request_heartbeat(*, run_id: uuid.UUID, owner: str) -> bool:
    """Extend `owner`'s lease; False when it no longer holds it."""
    now = timezone.now()
    return bool(
        MatchRequest.objects.filter(run_id=run_id, lease_owner=owner).update(
            lease_expires_at=now + _lease(), heartbeat_at=now
        )
    )


@contextmanager
def match_request_heartbeats(*, run_id: uuid.UUID, owner: str) -> Iterator[None]:
    """Keep `owner`'s lease alive while the body runs.

    A thread with its own database connection: the matching transaction is busy for
    minutes and holds the run row, and the heartbeat must neither wait for it nor be part of
    it (its updates would only become visible at the end). It touches the database only
    after the first interval, so short passes cost no connection.
    """
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(settings.RUN_HEARTBEAT_SECONDS):
                try:
                    if not match_request_heartbeat(run_id=run_id, owner=owner):
                        logger.info("run %s: lease no longer held by %s", run_id, owner)
                except DatabaseError:
                    # The database is away; the pass will notice too. The lease may expire
                    # meanwhile, which is the point: nobody can tell this worker is alive.
                    logger.warning("run %s: heartbeat failed", run_id)
                    connection.close_if_unusable_or_obsolete()
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"heartbeat-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        # Bounded: a heartbeat stuck on a frozen server must not keep the task from ending.
        thread.join(timeout=5)


def retry_countdown(retries: int) -> float:
    """Seconds before retry number `retries` + 1: base * 2^retries, capped, 75-100 % of it
    (jitter, so workers that failed together do not hammer the database together)."""
    base = settings.RUN_MATCH_RETRY_BASE_SECONDS * 2 ** min(retries, 30)
    delay = min(settings.RUN_MATCH_RETRY_MAX_SECONDS, base)
    seconds: float = delay * random.uniform(0.75, 1.0)  # noqa: S311 -- jitter, not security
    return seconds


def match_requests_sweep() -> int:
    """Recover every owed match (see the module docstring); returns how many requests were
    handed to the broker."""
    now = timezone.now()
    MatchRequest.objects.exclude(run__status=RunStatus.RUNNING).delete()
    orphans = Run.objects.filter(
        status=RunStatus.RUNNING,
        match_requested_at__lt=now - settings.RUN_STALE_AFTER,
        match_request__isnull=True,
    ).values_list("pk", flat=True)
    MatchRequest.objects.bulk_create(
        [MatchRequest(run_id=pk, requested_at=now - DELIVERY_GRACE) for pk in orphans],
        ignore_conflicts=True,
    )
    _requeue_lost(now=now)
    delivered = 0
    undelivered = MatchRequest.objects.filter(
        enqueued_at__isnull=True, requested_at__lte=now - DELIVERY_GRACE
    ).order_by("requested_at")
    for run_id in undelivered.values_list("run_id", flat=True):
        if not match_request_deliver(run_id=str(run_id)):
            break  # the broker is down: the next sweep tries again
        delivered += 1
    return delivered


def match_requests_recover_in_process() -> int:
    """`make run` start-up (eager tasks: no broker, no beat, matching runs inside the
    server). Any lease found now was held by a server that is gone, so it is expired at
    once, and the sweep matches what is owed before the new server serves."""
    now = timezone.now()
    MatchRequest.objects.filter(lease_expires_at__gt=now).update(
        lease_expires_at=now - dt.timedelta(seconds=1)
    )
    return match_requests_sweep()


def _requeue_lost(*, now: dt.datetime) -> None:
    lost = MatchRequest.objects.filter(
        Q(lease_expires_at__lt=now)
        | Q(lease_expires_at__isnull=True, enqueued_at__lt=now - settings.RUN_STALE_AFTER)
    )
    with transaction.atomic():
        requests = list(lost.select_for_update(skip_locked=True))
        if not requests:
            return
        # A locked run row is a pass in progress: its lease only looks dead (a heartbeat
        # that could not get through), so it is not taken away. SKIP LOCKED, because the
        # sweep must never wait for a pass of many minutes.
        idle = set(
            Run.objects.select_for_update(of=("self",), skip_locked=True)
            .filter(pk__in=[r.run_id for r in requests], status=RunStatus.RUNNING)
            .values_list("pk", flat=True)
        )
        for request in requests:
            if request.run_id not in idle:
                continue
            if request.attempts + 1 >= settings.RUN_MATCH_MAX_ATTEMPTS:
                _fail_stale(run_id=request.run_id, now=now)
                request.delete()
                continue
            logger.warning(
                "run %s: matching lost (lease of %r expired); queued again, attempt %d",
                request.run_id,
                request.lease_owner,
                request.attempts + 2,
            )
            MatchRequest.objects.filter(pk=request.pk).update(
                attempts=request.attempts + 1,
                lease_owner="",
                lease_expires_at=None,
                enqueued_at=None,
                requested_at=now - DELIVERY_GRACE,
            )
            Run.objects.filter(pk=request.run_id).update(
                match_requested_at=now, match_attempts=request.attempts + 1
            )


def _fail_stale(*, run_id: uuid.UUID, now: dt.datetime) -> None:
    logger.error(
        "run %s: matching failed %d times; run failed", run_id, settings.RUN_MATCH_MAX_ATTEMPTS
    )
    Run.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(
        status=RunStatus.FAILED,
        finished_at=now,
        error={
            "code": "stale_run",
            "detail": "Matching did not finish after "
            f"{settings.RUN_MATCH_MAX_ATTEMPTS} attempts (worker lost each time); "
            "retry with POST .../auto-match.",
        },
    )
