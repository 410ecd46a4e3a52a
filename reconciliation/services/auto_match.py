"""Auto-match: feed the pure engine, persist its proposals, keep statuses and audit current.

Concurrency: the run row is locked for the whole pass (run -> match -> entries lock
order), so two auto-matches of one run queue up and the second finds nothing new. Entries
linked meanwhile by another run or a manual match are protected by the partial unique
indexes on the link tables: a lost race raises IntegrityError, and the pass is retried
once on fresh state instead of double-linking.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from json.encoder import encode_basestring_ascii as _json_text  # the C encoder json.dumps uses
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Exists, Max, Min, OuterRef
from django.utils import timezone

from ledgers.ids import hex_id_stream
from ledgers.models import LedgerEntry
from reconciliation.choices import (
    MatchKind,
    MatchShape,
    MatchStatus,
    RunStatus,
    SourceEntryMatchStatus,
)
from reconciliation.matching.types import Criterion, EntryRow, MatchSettings, Proposal
from reconciliation.models import Match, MatchLedgerLink, MatchSourceLink, Run, SourceEntry
from reconciliation.selectors import run_account_ids
from reconciliation.services.runs import run_audit, run_validate_open

logger = logging.getLogger(__name__)

SHAPES = {
    "one_to_one": MatchShape.ONE_TO_ONE,
    "one_to_many": MatchShape.ONE_TO_MANY,
    "many_to_one": MatchShape.MANY_TO_ONE,
    "reversal": MatchShape.REVERSAL,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class AutoMatchResult:
    matched: int  # matches created by this pass (suggested + accepted)
    suggested: int
    accepted: int
    discrepancies: int  # open discrepancies of the run afterwards


def run_match_settings(run: Run) -> MatchSettings:
    """The ledger's matching settings with the run's overrides on top."""
    ledger = run.ledger
    values: dict[str, Any] = {
        "date_window_days": ledger.date_window_days,
        "amount_tolerance_abs": Decimal(ledger.amount_tolerance_abs),
        "amount_tolerance_pct": Decimal(ledger.amount_tolerance_pct),
        "reference_tolerance_abs": Decimal(ledger.reference_tolerance_abs),
        "reference_tolerance_pct": Decimal(ledger.reference_tolerance_pct),
        "reference_window_days": ledger.reference_window_days,
        "auto_accept_threshold": ledger.auto_accept_threshold,
    }
    for name, value in (run.match_settings or {}).items():
        if name in values and value is not None:
            decimal = name.endswith(("_abs", "_pct"))
            values[name] = Decimal(str(value)) if decimal else int(value)
    return MatchSettings(**values)


_SOURCE_FIELDS = (
    ("id", "text"),
    ("amount", "numeric"),
    ("currency", "varchar"),
    ("booking_date", "date"),
    ("value_date", "date"),
    ("reference", "varchar"),
    ("bank_reference", "varchar"),
    ("end_to_end_id", "varchar"),
    ("creditor_reference", "varchar"),
    ("counterparty_name", "varchar"),
    ("counterparty_iban", "varchar"),
    ("description", "text"),
    ("is_reversal", "bool"),
    ("details", "jsonb"),
    ("bank_transaction_code", "varchar"),
    ("batch_count", "int4"),
)
_LEDGER_FIELDS = (
    ("id", "text"),
    ("amount", "numeric"),
    ("currency", "varchar"),
    ("booking_date", "date"),
    ("value_date", "date"),
    ("reference", "varchar"),
    ("external_id", "varchar"),
    ("counterparty", "varchar"),
    ("description", "text"),
)


def _stream(qs: Any, fields: tuple[tuple[str, str], ...]) -> Iterator[tuple[Any, ...]]:
    """`qs.values_list(...)` rows with the id as text, streamed.

    On PostgreSQL the query runs inside COPY ... TO STDOUT (FORMAT BINARY): rows arrive
    as a stream and psycopg's C loaders build the values, where Django's iterator spent
    more per row on cursor chunks and field converters than the engine spends matching.
    """
    names = [name for name, _ in fields]
    if connection.vendor != "postgresql":
        for row in qs.values_list(*names).iterator(chunk_size=10_000):
            yield (str(row[0]), *row[1:])
        return
    sql, params = qs.values_list(*names).query.sql_with_params()
    columns = ", ".join(
        f'q."{name}"::text' if kind == "text" and name == "id" else f'q."{name}"'
        for name, kind in fields
    )
    with connection.cursor() as cursor:
        # The SQL is the ORM's own query for `qs`; its values stay parameters.
        statement = f"COPY (SELECT {columns} FROM ({sql}) q) TO STDOUT (FORMAT BINARY)"  # noqa: S608
        with cursor.cursor.copy(statement, params) as copy:
            copy.set_types([kind for _, kind in fields])
            yield from copy.rows()


def _source_rows(run: Run) -> list[EntryRow]:
    free = SourceEntry.objects.filter(
        run=run, match_status=SourceEntryMatchStatus.UNMATCHED
    ).exclude(
        Exists(MatchSourceLink.objects.filter(source_entry_id=OuterRef("pk"), is_active=True))
    )
    rows = []
    for e in _stream(free, _SOURCE_FIELDS):
        refs = tuple(r for r in (e[5], e[6], e[7], e[8]) if r)
        rows.append(
            EntryRow(
                id=e[0],
                amount=e[1],
                currency=e[2],
                booking_date=e[3],
                value_date=e[4],
                references=refs,
                counterparty_name=e[9],
                counterparty_iban=e[10],
                description=e[11],
                is_reversal=e[12],
                details=_details(e[13], currency=e[2]),
                booking_text=e[14],
                batch_count=e[15],
            )
        )
    return rows


def _details(raw: list[dict[str, Any]] | None, *, currency: str) -> tuple[Any, ...]:
    if not raw:
        return ()
    from reconciliation.matching.types import DetailRow

    out = []
    for d in raw:
        refs = tuple(
            str(d[k]) for k in ("end_to_end_id", "creditor_reference", "instruction_id") if d.get(k)
        )
        amount = d.get("amount")
        charges = d.get("charges")
        instructed = d.get("instructed_amount")
        # An instructed amount in another currency (a card payment abroad) explains nothing
        # about the difference to a GL amount in the entry's currency.
        same_currency = d.get("instructed_currency") in (None, currency)
        out.append(
            DetailRow(
                amount=Decimal(amount) if amount is not None else None,
                references=refs,
                counterparty_name=d.get("counterparty_name") or "",
                counterparty_iban=d.get("counterparty_iban") or "",
                remittance=d.get("remittance") or "",
                charges=Decimal(charges) if charges is not None else None,
                instructed_amount=Decimal(instructed)
                if instructed is not None and same_currency
                else None,
            )
        )
    return tuple(out)


def _sources_by_account(
    run: Run, sources: list[EntryRow], accounts: list[uuid.UUID]
) -> dict[uuid.UUID, list[EntryRow]]:
    """The free bank rows of a run over several accounts, by the account their statement
    went into (an entry without one belongs to the run's own account)."""
    account_of = dict(
        SourceEntry.objects.filter(run=run, statement__account__isnull=False).values_list(
            "id", "statement__account_id"
        )
    )
    out: dict[uuid.UUID, list[EntryRow]] = {}
    for row in sources:
        account_id = account_of.get(uuid.UUID(row.id), run.account_id)
        if account_id in accounts:
            out.setdefault(account_id, []).append(row)
    return out


def _ledger_rows(
    run: Run, *, first: dt.date, last: dt.date, window: int, account: uuid.UUID | None = None
) -> list[EntryRow]:
    """Free GL entries of the run's ledger (and account) near the statement's dates.

    The date bound keeps a ledger's years of history out of memory; it is wider than the
    matching window (business days: 5 of them span 7 calendar days) so value-date
    candidates are not lost.
    """
    margin = dt.timedelta(days=window * 7 // 5 + 9)
    qs = LedgerEntry.objects.filter(
        ledger_id=run.ledger_id, booking_date__gte=first - margin, booking_date__lte=last + margin
    ).exclude(
        Exists(MatchLedgerLink.objects.filter(ledger_entry_id=OuterRef("pk"), is_active=True))
    )
    if account is not None or run.account_id:
        qs = qs.filter(account_id=account or run.account_id)
    rows = []
    for e in _stream(qs, _LEDGER_FIELDS):
        rows.append(
            EntryRow(
                id=e[0],
                amount=e[1],
                currency=e[2],
                booking_date=e[3],
                value_date=e[4],
                references=tuple(r for r in (e[5],) if r),
                counterparty_name=e[7],
                description=e[8],
            )
        )
    return rows


def _forbidden_pairs(run: Run) -> frozenset[tuple[str, str]]:
    rejected = Match.objects.filter(run=run, status=MatchStatus.REJECTED)
    sources: dict[uuid.UUID, list[str]] = {}
    for match_id, entry_id in MatchSourceLink.objects.filter(match__in=rejected).values_list(
        "match_id", "source_entry_id"
    ):
        sources.setdefault(match_id, []).append(str(entry_id))
    pairs = set()
    for match_id, gl_id in MatchLedgerLink.objects.filter(match__in=rejected).values_list(
        "match_id", "ledger_entry_id"
    ):
        for source_id in sources.get(match_id, []):
            pairs.add((source_id, str(gl_id)))
    return frozenset(pairs)


def _persist(
    *,
    run: Run,
    proposals: tuple[Proposal, ...],
    sources: dict[str, EntryRow],
    ledgers: dict[str, EntryRow],
) -> tuple[int, int, list[str], list[str]]:
    """Write the proposals as matches with their link rows; returns (suggested, accepted,
    accepted source ids, accepted GL ids).

    A million-row pass writes ~2.8 million rows here. On PostgreSQL they go through three
    COPY statements as ready-made text lines, built while they stream (the only list kept
    is the match ids): no model instances (bulk_create spent more time in Python per row
    than COPY spends in total), no per-value adaptation, and no second copy of every
    explanation in memory. The values are ids, codes, numbers and JSON, so only the JSON
    needs COPY's backslash escaping. Elsewhere (SQLite) bulk_create does the same work.
    """
    now = timezone.now()
    ids = hex_id_stream()
    match_ids = [next(ids) for _ in proposals]
    accepted_sources = [i for p in proposals if p.auto_accept for i in p.source_ids]
    accepted_ledgers = [i for p in proposals if p.auto_accept for i in p.ledger_ids]
    accepted = sum(1 for p in proposals if p.auto_accept)
    explained: dict[Any, str] = {}
    rows = (
        _match_values(p, match_id, sources=sources, ledgers=ledgers, now=now, cache=explained)
        for p, match_id in zip(proposals, match_ids, strict=True)
    )
    pairs = list(zip(proposals, match_ids, strict=True))
    source_links = ((match_id, i) for p, match_id in pairs for i in p.source_ids)
    ledger_links = ((match_id, i) for p, match_id in pairs for i in p.ledger_ids)
    if connection.vendor == "postgresql":
        _copy_matches(run=run, now=now, rows=rows)
        linked = _copy_links(MatchSourceLink, "source_entry_id", source_links)
        linked += _copy_links(MatchLedgerLink, "ledger_entry_id", ledger_links)
        if linked >= ANALYZE_AFTER_LINKS:
            _analyze(
                (Match, ("id", "run_id", "status", "difference")),
                (MatchSourceLink, ("match_id", "source_entry_id", "is_active")),
                (MatchLedgerLink, ("match_id", "ledger_entry_id", "is_active")),
            )
    else:
        _bulk_create_matches(
            run=run,
            rows=list(rows),
            source_links=list(source_links),
            ledger_links=list(ledger_links),
        )
    return len(match_ids) - accepted, accepted, accepted_sources, accepted_ledgers


def _match_values(
    p: Proposal,
    match_id: str,
    *,
    sources: dict[str, EntryRow],
    ledgers: dict[str, EntryRow],
    now: dt.datetime,
    cache: dict[Any, str],
) -> tuple[Any, ...]:
    first = sources[p.source_ids[0]]
    return (
        match_id,
        _ACCEPTED if p.auto_accept else _SUGGESTED,
        _SHAPE_VALUES[p.shape],
        p.score,
        p.ambiguous,
        _explanation_json(p.explanation, cache),
        first.currency,
        # Most matches are 1:1: skip the generator and sum() for them.
        first.amount if len(p.source_ids) == 1 else _total(sources, p.source_ids),
        ledgers[p.ledger_ids[0]].amount
        if len(p.ledger_ids) == 1
        else _total(ledgers, p.ledger_ids),
        p.difference,
        now if p.auto_accept else None,
    )


_ACCEPTED = MatchStatus.ACCEPTED.value
_SUGGESTED = MatchStatus.SUGGESTED.value
_SHAPE_VALUES = {name: shape.value for name, shape in SHAPES.items()}


def _total(rows: dict[str, EntryRow], ids: tuple[str, ...]) -> Decimal:
    return sum((rows[i].amount for i in ids), Decimal("0"))


# Statistics are refreshed inside the pass once it wrote this many links: see _analyze.
ANALYZE_AFTER_LINKS = 20_000


def _analyze(*tables: tuple[Any, tuple[str, ...]]) -> None:
    """Refresh planner statistics of tables this transaction just bulk-loaded.

    The status refresh and the discrepancy checks that follow query the match and link
    tables. Autovacuum cannot count rows that are not committed, so a first big pass
    (or one after the tables were emptied) plans those queries for empty tables and
    picks nested loops that rescan the new links for every entry: minutes instead of a
    second, measured at 30,000 entries. ANALYZE in the transaction counts its own rows.
    It holds a SHARE UPDATE EXCLUSIVE lock until commit, which only another ANALYZE or
    VACUUM waits for (autovacuum skips a locked table), so two big passes serialise
    here; small passes stay below the threshold and never take it.

    Only the columns those queries filter and join on are sampled: statistics of the
    explanation JSON cost most of the time of a whole-table ANALYZE of the matches.
    """
    with connection.cursor() as cursor:
        for model, columns in tables:
            cursor.execute(f"ANALYZE {model._meta.db_table} ({', '.join(columns)})")


_MATCH_COPY_COLUMNS = (
    "id", "status", "shape", "score", "is_ambiguous", "explanation", "currency",
    "source_total", "ledger_total", "difference", "decided_at",
    "run_id", "kind", "note", "created_at",
)  # fmt: skip


def _explanation_json(criteria: tuple[Criterion, ...], cache: dict[Any, str]) -> str:
    """The explanation as JSON text (what the JSONField stores), from per-criterion
    fragments. Most criteria objects are shared by many proposals ("exact", "same day"),
    so their fragment is built once, keyed by identity: every criterion stays referenced
    by `proposals` while this runs, so an id cannot be reused meanwhile."""
    # Whole explanations repeat too (an exact 1:1 match explains itself the same way
    # thousands of times): look the tuple up first, by the identities of its criteria.
    whole_key = tuple(map(id, criteria))
    whole = cache.get(whole_key)
    if whole is not None:
        return whole
    parts = []
    for c in criteria:
        fragment = cache.get(id(c))
        if fragment is None:
            fragment = cache[id(c)] = (
                f'{{"criterion": {_json_text(c.name)}, "points": {int(c.points)}, '
                f'"max_points": {int(c.max_points)}, "detail": {_json_text(c.detail)}}}'
            )
        parts.append(fragment)
    whole = cache[whole_key] = "[" + ", ".join(parts) + "]"
    return whole


def _copy_text(value: str) -> str:
    """COPY text format: a backslash is the escape character (JSON escapes are doubled)."""
    return value.replace("\\", "\\\\")


def _copy_lines(table: str, columns: tuple[str, ...], lines: Iterator[str]) -> int:
    written = 0
    with connection.cursor() as cursor:
        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with cursor.cursor.copy(sql) as copy:
            buffer: list[str] = []
            for line in lines:
                buffer.append(line)
                if len(buffer) >= 10_000:
                    copy.write("".join(buffer))
                    written += len(buffer)
                    buffer = []
            if buffer:
                copy.write("".join(buffer))
                written += len(buffer)
    return written


def _copy_matches(*, run: Run, now: dt.datetime, rows: Iterator[tuple[Any, ...]]) -> None:
    tail = f"\t{run.pk.hex}\t{MatchKind.AUTO.value}\t\t{now.isoformat()}\n"
    null = "\\N"
    _copy_lines(
        Match._meta.db_table,
        _MATCH_COPY_COLUMNS,
        (
            f"{r[0]}\t{r[1]}\t{r[2]}\t{r[3]}\t{'t' if r[4] else 'f'}\t{_copy_text(r[5])}\t"
            f"{r[6]}\t{r[7]}\t{r[8]}\t{r[9]}\t{r[10].isoformat() if r[10] else null}{tail}"
            for r in rows
        ),
    )


def _copy_links(model: Any, column: str, links: Iterator[tuple[str, str]]) -> int:
    return _copy_lines(
        model._meta.db_table,
        ("match_id", column, "is_active"),
        (f"{match_id}\t{entry_id}\tt\n" for match_id, entry_id in links),
    )


def _bulk_create_matches(
    *,
    run: Run,
    rows: list[tuple[Any, ...]],
    source_links: list[tuple[str, str]],
    ledger_links: list[tuple[str, str]],
) -> None:
    matches = [
        Match(
            id=r[0],
            run=run,
            status=r[1],
            kind=MatchKind.AUTO,
            shape=r[2],
            score=r[3],
            is_ambiguous=r[4],
            explanation=json.loads(r[5]),
            currency=r[6],
            source_total=r[7],
            ledger_total=r[8],
            difference=r[9],
            decided_at=r[10],
        )
        for r in rows
    ]
    Match.objects.bulk_create(matches, batch_size=2000)
    MatchSourceLink.objects.bulk_create(
        [MatchSourceLink(match_id=m, source_entry_id=i) for m, i in source_links],
        batch_size=5000,
    )
    MatchLedgerLink.objects.bulk_create(
        [MatchLedgerLink(match_id=m, ledger_entry_id=i) for m, i in ledger_links],
        batch_size=5000,
    )


def _auto_match_pass(*, run: Run, actor: AbstractBaseUser | None) -> AutoMatchResult:
    from reconciliation.matching.engine import match as engine_match
    from reconciliation.services.discrepancies import discrepancies_recompute
    from reconciliation.services.entries import (
        entries_mark_auto_accepted,
    )

    sources = _source_rows(run)
    suggested = accepted = 0
    if sources:
        span = SourceEntry.objects.filter(run=run).aggregate(
            first=Min("booking_date"), last=Max("booking_date")
        )
        match_settings = run_match_settings(run)
        reach = max(match_settings.date_window_days, match_settings.reference_window_days)
        forbidden = _forbidden_pairs(run)
        accounts = run_account_ids(run=run)
        if len(accounts) <= 1:
            ledger_rows = _ledger_rows(run, first=span["first"], last=span["last"], window=reach)
            proposals = engine_match(
                source=sources,
                ledger=ledger_rows,
                settings=match_settings,
                forbidden_pairs=forbidden,
            ).proposals
        else:
            # Statements of several accounts: each account's entries against its own GL
            # entries (a transfer between two accounts is no match).
            ledger_rows, proposals = [], ()
            parts = _sources_by_account(run, sources, accounts)
            for account_id in accounts:
                part_ledger = _ledger_rows(
                    run, first=span["first"], last=span["last"], window=reach, account=account_id
                )
                ledger_rows.extend(part_ledger)
                proposals += engine_match(
                    source=parts.get(account_id, []),
                    ledger=part_ledger,
                    settings=match_settings,
                    forbidden_pairs=forbidden,
                ).proposals
        suggested, accepted, accepted_sources, accepted_ledgers = _persist(
            run=run,
            proposals=proposals,
            sources={r.id: r for r in sources},
            ledgers={r.id: r for r in ledger_rows},
        )
        entries_mark_auto_accepted(
            source_entry_ids=accepted_sources, ledger_entry_ids=accepted_ledgers
        )
    open_count = discrepancies_recompute(run=run)
    run_audit(
        run=run,
        actor=actor,
        action="run.auto_matched",
        after={"suggested": suggested, "accepted": accepted, "open_discrepancies": open_count},
    )
    return AutoMatchResult(
        matched=suggested + accepted,
        suggested=suggested,
        accepted=accepted,
        discrepancies=open_count,
    )


def run_auto_match(*, run: Run, actor: AbstractBaseUser | None) -> AutoMatchResult:
    """Match the run now (the synchronous route). Idempotent: a second pass adds nothing.

    Accepted and rejected decisions are never touched; rejected pairs are never proposed
    again. The run ends `completed` (or `failed` with the error, re-raised).
    """
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                locked = (
                    Run.objects.select_for_update(of=("self",))
                    .select_related("ledger", "account")
                    .get(pk=run.pk)
                )
                run_validate_open(run=locked)
                result = _auto_match_pass(run=locked, actor=actor)
                now = timezone.now()
                locked.status, locked.error = RunStatus.COMPLETED, None
                locked.started_at = locked.started_at or now
                locked.finished_at = now
                locked.save(update_fields=["status", "error", "started_at", "finished_at"])
                return result
        except IntegrityError:
            # Another run or a manual match linked one of our entries meanwhile.
            if attempt == 2:
                raise
            logger.info("auto-match of run %s lost a link race; retrying on fresh state", run.pk)
    raise AssertionError("unreachable")


def run_auto_match_enqueue(*, run: Run) -> None:
    """Queue matching for after the current transaction commits (never inside it: the worker
    would read uncommitted state). `robust` logs a broker outage instead of failing the
    committed upload; the stale-run sweeper re-queues it when the broker is back."""
    from reconciliation.tasks import run_auto_match_task

    run_id = str(run.pk)

    # A named function, not a partial: Django's robust on_commit logs the callback's
    # __qualname__ when it fails, and a partial has none (the log call itself would raise).
    def enqueue_auto_match() -> None:
        run_auto_match_task.delay(run_id=run_id)

    transaction.on_commit(enqueue_auto_match, robust=True)


def run_auto_match_job(*, run_id: uuid.UUID) -> None:
    """The worker's entry: match a run that is `running` after an upload, then complete it.

    Redelivery-safe: a run that is no longer `running` (finished, closed, deleted) is left
    alone, and a pass over an already matched run creates nothing.
    """
    run = Run.objects.filter(pk=run_id).first()
    if run is None or run.status != RunStatus.RUNNING:
        return
    try:
        run_auto_match(run=run, actor=None)
    except OperationalError:
        raise  # infrastructure: the task retries
    except Exception as exc:
        logger.exception("auto-match of run %s failed", run_id)
        error = {"code": "auto_match_failed", "detail": f"{type(exc).__name__}: {exc}"[:500]}
        Run.objects.filter(pk=run_id).exclude(status=RunStatus.CLOSED).update(
            status=RunStatus.FAILED, error=error, finished_at=timezone.now()
        )


MAX_MATCH_ATTEMPTS = 3


def runs_recover_stale() -> int:
    """Runs stuck in `running` past RUN_STALE_AFTER (worker died, broker lost the message):
    queue their matching again, at most MAX_MATCH_ATTEMPTS times, then fail them with the
    reason, so a run never stays `running` forever."""
    from reconciliation.tasks import run_auto_match_task

    now = timezone.now()
    requeued = 0
    stale = Run.objects.filter(
        status=RunStatus.RUNNING, match_requested_at__lt=now - settings.RUN_STALE_AFTER
    )
    for run in stale.only("pk", "match_attempts"):
        if run.match_attempts + 1 >= MAX_MATCH_ATTEMPTS:
            Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
                status=RunStatus.FAILED,
                finished_at=now,
                error={
                    "code": "stale_run",
                    "detail": "Matching did not finish after "
                    f"{MAX_MATCH_ATTEMPTS} attempts; retry with POST .../auto-match.",
                },
            )
            continue
        claimed = Run.objects.filter(
            pk=run.pk, status=RunStatus.RUNNING, match_attempts=run.match_attempts
        ).update(match_attempts=run.match_attempts + 1, match_requested_at=now)
        if claimed:
            run_auto_match_task.delay(run_id=str(run.pk))
            requeued += 1
    return requeued


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconcileResult:
    runs: int
    matched: int


def ledger_reconcile(*, ledger: Any, actor: AbstractBaseUser | None) -> ReconcileResult:
    """The legacy trigger: auto-match every pending/completed run of the ledger that still
    has unmatched entries, one run (one transaction) at a time."""
    runs = (
        Run.objects.filter(ledger=ledger, status__in=[RunStatus.PENDING, RunStatus.COMPLETED])
        .filter(source_entries__match_status=SourceEntryMatchStatus.UNMATCHED)
        .distinct()
        .order_by("created_at")
    )
    count = matched = 0
    for run in runs:
        matched += run_auto_match(run=run, actor=actor).matched
        count += 1
    return ReconcileResult(runs=count, matched=matched)
