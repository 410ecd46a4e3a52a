"""A big run's auto-match shared by several workers, one (account, currency) part each
(reconciliation/services/match_parts.py): the same matches as one task, parts taken with
SKIP LOCKED, a part nobody finished matched by the lease holder, and a lease lost to a new
upload leaving the run to the new request's task.

The data are the benchmark's synthetic truth sets in three currencies, loaded into two
ledgers: one is matched by the one-task pass, the other in parts, and the matches compared
by the entries' line numbers and GL ids.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

from benchmarks import data
from benchmarks.synthetic import generate
from ledgers.models import AuditEvent
from reconciliation.choices import RunStatus
from reconciliation.matching.types import EntryRow
from reconciliation.models import Discrepancy, Match, MatchPart, MatchRequest, Run
from reconciliation.services import match_parts
from reconciliation.services.auto_match import run_auto_match, run_auto_match_job

CURRENCIES = ("EUR", "USD", "GBP")
PARTED = override_settings(RUN_MATCH_WORKERS=3, RUN_MATCH_PARTITION_MIN_ROWS=1)
MatchKey = tuple[tuple[int, ...], tuple[str, ...], str, int, str, Decimal]


def _rows() -> tuple[list[EntryRow], list[EntryRow]]:
    source: list[EntryRow] = []
    ledger: list[EntryRow] = []
    for seed, currency in enumerate(CURRENCIES, start=11):
        truth = generate(300, seed=seed)
        source += [dataclasses.replace(r, currency=currency) for r in truth.source]
        ledger += [dataclasses.replace(r, currency=currency) for r in truth.ledger]
    assert len({r.id for r in source}) == len(source)
    assert len({r.id for r in ledger}) == len(ledger)
    return source, ledger


def _loaded(scenario: str, rows: tuple[list[EntryRow], list[EntryRow]]) -> Run:
    context = data.context_create(scenario=scenario, with_account=False)
    data.load_truth_set(context=context, source=rows[0], ledger=rows[1])
    run = Run.objects.select_related("ledger", "account").get(pk=context.run_id)
    return run


def _requested(run: Run) -> Run:
    """The run as an upload leaves it for the worker: running, its match owed."""
    Run.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING)
    MatchRequest.objects.create(run=run, requested_at=timezone.now())
    run.refresh_from_db()
    return run


def _matches(run: Run) -> tuple[set[MatchKey], Counter[tuple[Any, ...]], set[Any]]:
    """The run's matches by what they join (bank lines, GL ids), shape, score and status.

    Ambiguous matches (twins: equally good candidates) are paired by id order, and the
    two ledgers' rows get different ids: for those, the entries involved and the matches'
    figures are compared, not who was paired with whom."""
    exact: set[MatchKey] = set()
    ambiguous: Counter[tuple[Any, ...]] = Counter()
    involved: set[Any] = set()
    for match in Match.objects.filter(run=run).prefetch_related(
        "source_links__source_entry", "ledger_links__ledger_entry"
    ):
        lines = tuple(sorted(link.source_entry.line for link in match.source_links.all()))
        gl = tuple(sorted(link.ledger_entry.external_id for link in match.ledger_links.all()))
        figures = (match.shape, match.score, match.status, match.difference)
        if match.is_ambiguous:
            ambiguous[figures] += 1
            involved.update(lines)
            involved.update(gl)
        else:
            exact.add((lines, gl, *figures))
    return exact, ambiguous, involved


def _discrepancies(run: Run) -> list[tuple[str, str]]:
    return sorted(Discrepancy.objects.filter(run=run).values_list("kind", "severity"))


@pytest.fixture
def rows() -> tuple[list[EntryRow], list[EntryRow]]:
    return _rows()


@pytest.mark.django_db
def test_a_run_matched_in_parts_gets_the_matches_of_one_task(
    rows: tuple[list[EntryRow], list[EntryRow]], caplog: pytest.LogCaptureFixture
) -> None:
    one = _loaded("parts-one-task", rows)
    expected = run_auto_match(run=one, actor=None)
    parted = _requested(_loaded("parts-parted", rows))

    with PARTED, caplog.at_level(logging.INFO, logger="reconciliation.services.match_parts"):
        run_auto_match_job(run_id=parted.pk)

    assert "matched in 3 parts by up to 3 workers" in caplog.text
    parted.refresh_from_db()
    assert parted.status == RunStatus.COMPLETED
    assert not MatchPart.objects.filter(run=parted).exists()
    assert not MatchRequest.objects.filter(run=parted).exists()
    assert expected.matched > 600  # all three currencies matched
    assert _matches(parted) == _matches(one)
    assert _discrepancies(parted) == _discrepancies(one)
    audit = AuditEvent.objects.get(run_id=parted.pk, action="run.auto_matched").after
    assert audit is not None
    assert audit["suggested"] + audit["accepted"] == expected.matched

    # A second pass in parts, as after another upload with nothing new, creates nothing.
    before = Match.objects.filter(run=parted).count()
    with PARTED:
        run_auto_match_job(run_id=_requested(parted).pk)
    assert Match.objects.filter(run=parted).count() == before


@pytest.mark.django_db
def test_a_small_run_or_one_currency_or_one_worker_is_not_split(
    rows: tuple[list[EntryRow], list[EntryRow]],
) -> None:
    run = _requested(_loaded("parts-plan", rows))
    with override_settings(RUN_MATCH_WORKERS=1, RUN_MATCH_PARTITION_MIN_ROWS=1):
        assert match_parts.match_parts_plan(run_id=run.pk) == 0
    with override_settings(RUN_MATCH_WORKERS=4, RUN_MATCH_PARTITION_MIN_ROWS=100_000):
        assert match_parts.match_parts_plan(run_id=run.pk) == 0
    with override_settings(RUN_MATCH_WORKERS=4, RUN_MATCH_PARTITION_MIN_ROWS=1):
        assert match_parts.match_parts_plan(run_id=run.pk) == 3
        parts = {p.currency: p.rows for p in MatchPart.objects.filter(run=run)}
        assert parts == {c: sum(r.currency == c for r in rows[0]) for c in CURRENCIES}
        # A plan again (a new task after a lost lease) replaces the old one.
        assert match_parts.match_parts_plan(run_id=run.pk) == 3
        assert MatchPart.objects.filter(run=run).count() == 3

    single = _requested(
        _loaded("parts-plan-eur", ([r for r in rows[0] if r.currency == "EUR"], []))
    )
    with override_settings(RUN_MATCH_WORKERS=4, RUN_MATCH_PARTITION_MIN_ROWS=1):
        assert match_parts.match_parts_plan(run_id=single.pk) == 0


@pytest.fixture
def broker_down() -> Iterator[None]:
    """No broker (a port nobody listens on, not eager): helper tasks cannot be queued, so
    the test's own calls are the only workers, as when the broker fails for real."""
    from config.celery import app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    saved = {k: app.conf[k] for k in ("task_always_eager", "broker_url")}
    app.conf.update(task_always_eager=False, broker_url=f"redis://127.0.0.1:{port}/0")
    app._pool = None  # type: ignore[attr-defined]
    app.amqp._producer_pool = None  # type: ignore[attr-defined]
    yield
    app.conf.update(saved)
    app._pool = None  # type: ignore[attr-defined]
    app.amqp._producer_pool = None  # type: ignore[attr-defined]


class HeldPart:
    """One part's row lock held from another connection, as by a worker busy matching it."""

    def __init__(self) -> None:
        self._locked, self._release = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, part_id: int) -> None:
        def body() -> None:
            try:
                with transaction.atomic():
                    MatchPart.objects.select_for_update().get(pk=part_id)
                    self._locked.set()
                    self._release.wait(timeout=60)
            finally:
                connection.close()

        self._thread = threading.Thread(target=body)
        self._thread.start()
        assert self._locked.wait(timeout=30)

    def release(self) -> None:
        """The worker's transaction ends (it died, say): the lock goes with it."""
        self._release.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


@pytest.fixture
def held_part() -> Iterator[HeldPart]:
    held = HeldPart()
    yield held
    held.release()


@pytest.mark.django_db(transaction=True)
def test_workers_skip_a_part_in_progress_and_the_lease_holder_finishes_what_is_left(
    rows: tuple[list[EntryRow], list[EntryRow]], held_part: HeldPart, broker_down: None
) -> None:
    one = _loaded("parts-skip-one", rows)
    run_auto_match(run=one, actor=None)
    run = _requested(_loaded("parts-skip", rows))
    with PARTED:
        assert match_parts.match_parts_plan(run_id=run.pk) == 3
    biggest = MatchPart.objects.filter(run=run).order_by("-rows", "pk").first()
    assert biggest is not None
    held_part.hold(biggest.pk)

    # Another worker takes the two free parts and passes the locked one by.
    assert match_parts.match_parts_work(run_id=run.pk) == 2
    unfinished = MatchPart.objects.filter(run=run, finished_at__isnull=True)
    assert list(unfinished.values_list("pk", flat=True)) == [biggest.pk]
    assert Match.objects.filter(run=run).exists()  # the two parts are committed

    # Nothing is left to take, so a helper ends here instead of queueing for the run.
    assert not match_parts._free_part_left(run_id=run.pk)

    # The worker holding it ends without finishing: the completing pass matches the part.
    held_part.release()
    assert match_parts._free_part_left(run_id=run.pk)
    result = run_auto_match(run=run, actor=None, parts=True)
    assert not MatchPart.objects.filter(run=run).exists()
    assert _matches(run) == _matches(one)
    assert result.matched == Match.objects.filter(run=run).count()


@pytest.mark.django_db(transaction=True)
def test_an_upload_between_two_parts_leaves_the_run_to_the_new_request(
    rows: tuple[list[EntryRow], list[EntryRow]],
    monkeypatch: pytest.MonkeyPatch,
    broker_down: None,
) -> None:
    one = _loaded("parts-upload-one", rows)
    run_auto_match(run=one, actor=None)
    run = _requested(_loaded("parts-upload", rows))
    work = match_parts.match_parts_work

    def work_then_upload(*, run_id: Any) -> int:
        # Between two parts an upload into the run asks for matching again: its
        # match_request_create starts the request over (no lease, not yet delivered).
        assert match_parts._match_next_part(run_id=run_id) is not None
        MatchRequest.objects.filter(run_id=run_id).update(
            lease_owner="", lease_expires_at=None, enqueued_at=None, attempts=0
        )
        return 1 + work(run_id=run_id)

    monkeypatch.setattr(match_parts, "match_parts_work", work_then_upload)
    with PARTED:
        run_auto_match_job(run_id=run.pk, owner="first")
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING  # not completed by the task that lost its lease
    assert MatchRequest.objects.filter(run=run, lease_owner="").exists()

    monkeypatch.setattr(match_parts, "match_parts_work", work)
    with PARTED:
        run_auto_match_job(run_id=run.pk, owner="second")
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert not MatchRequest.objects.filter(run=run).exists()
    assert not MatchPart.objects.filter(run=run).exists()
    assert _matches(run) == _matches(one)
    # The first task's parts are the pass's too: the run's history counts every match.
    assert _audited_matches(run) == Match.objects.filter(run=run).count()


def _audited_matches(run: Run) -> int:
    (audit,) = AuditEvent.objects.filter(run_id=run.pk, action="run.auto_matched")
    assert audit.after is not None
    return int(audit.after["suggested"]) + int(audit.after["accepted"])


@pytest.mark.django_db(transaction=True)
def test_a_new_task_after_the_lease_holder_died_completes_the_plan_and_counts_its_parts(
    rows: tuple[list[EntryRow], list[EntryRow]], broker_down: None
) -> None:
    one = _loaded("parts-died-one", rows)
    expected = run_auto_match(run=one, actor=None)
    run = _requested(_loaded("parts-died", rows))
    with PARTED:
        assert match_parts.match_parts_plan(run_id=run.pk) == 3
    # The lease holder commits one part and dies; the sweep hands the run to a new task.
    first = match_parts._match_next_part(run_id=run.pk)
    assert first
    MatchRequest.objects.filter(run=run).update(lease_owner="", lease_expires_at=None)

    with PARTED:
        run_auto_match_job(run_id=run.pk, owner="second")
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert not MatchPart.objects.filter(run=run).exists()
    assert _matches(run) == _matches(one)
    assert _audited_matches(run) == expected.matched == Match.objects.filter(run=run).count()


@pytest.mark.django_db
def test_planning_again_keeps_the_parts_totals_and_reopens_a_part_with_free_rows(
    rows: tuple[list[EntryRow], list[EntryRow]],
) -> None:
    run = _requested(_loaded("parts-replan", rows))
    with PARTED:
        assert match_parts.match_parts_plan(run_id=run.pk) == 3
    parts = {p.currency: p for p in MatchPart.objects.filter(run=run)}
    now = timezone.now()
    MatchPart.objects.filter(pk=parts["EUR"].pk).update(finished_at=now, suggested=4, accepted=7)
    MatchPart.objects.filter(pk=parts["USD"].pk).update(finished_at=now, suggested=1, accepted=2)

    # New free rows in EUR (an upload, say) and nothing free left in GBP.
    match_parts._plan_parts(run=run, sizes={(None, "EUR"): 5, (None, "CHF"): 3}, rerun=True)

    after = {p.currency: p for p in MatchPart.objects.filter(run=run)}
    assert set(after) == {"EUR", "USD", "GBP", "CHF"}
    eur, usd, gbp, chf = (after[c] for c in ("EUR", "USD", "GBP", "CHF"))
    assert (eur.finished_at, eur.rows, eur.rerun, eur.suggested, eur.accepted) == (
        None, 5, True, 4, 7
    )  # fmt: skip
    assert (usd.finished_at, usd.suggested, usd.accepted) == (now, 1, 2)
    assert gbp.finished_at is not None  # nothing free: finished as it stood
    assert (chf.finished_at, chf.rows, chf.suggested) == (None, 3, 0)


@pytest.mark.django_db
def test_a_pass_that_did_not_plan_matches_everything_free_and_drops_a_stale_plan(
    rows: tuple[list[EntryRow], list[EntryRow]],
) -> None:
    one = _loaded("parts-stale-one", rows)
    run_auto_match(run=one, actor=None)
    run = _requested(_loaded("parts-stale", rows))
    with PARTED:
        assert match_parts.match_parts_plan(run_id=run.pk) == 3
    # One part matched, then the planning task died; someone runs the synchronous route.
    assert match_parts._match_next_part(run_id=run.pk) is not None
    result = run_auto_match(run=run, actor=None)
    assert not MatchPart.objects.filter(run=run).exists()
    assert _matches(run) == _matches(one)
    # The dead plan's committed part is reported by the pass that completes the run.
    assert result.matched == _audited_matches(run) == Match.objects.filter(run=run).count()
