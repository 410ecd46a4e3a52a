"""Discrepancies: computed idempotently, keyed per run, closed ones stay closed.

Severity is judged as of the run's statement period end (`reconciliation.selectors.
run_period_end`: the latest statement's `to` date, else its closing date, else the run's
creation date), not as of today: an item two days before the end of a March statement is
two days old, whenever the run is reviewed, so a past month is not all "critical".

Each check produces `Finding`s with a stable key ("balance:<statement id>"); `_sync` creates
what is new, refreshes what is still open, and auto-resolves open findings that no longer
hold. A discrepancy a person closed (or put in review) keeps its status.

Scale: a million-entry run yields a few hundred thousand findings. `discrepancies_sync`
is set-based (COPY the findings into a temporary table, one INSERT ... ON CONFLICT DO
UPDATE carrying the rules above, one UPDATE for what went stale), and the cross checks
over live matches are one aggregate query.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone

from ledgers.exceptions import Invalid
from ledgers.money import format_amount
from reconciliation.bulk import copy_rows, temp_table
from reconciliation.choices import (
    CloseReason,
    DiscrepancyKind,
    DiscrepancySeverity,
    DiscrepancyStatus,
)
from reconciliation.models import Discrepancy, Run, Statement
from reconciliation.services.runs import run_audit, run_lock, run_validate_open


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    key: str
    kind: str
    amount: Decimal | None
    currency: str
    message: str
    severity: str
    source_entry_id: object = None
    ledger_entry_id: object = None
    match_id: object = None
    statement_id: object = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Touched:
    """The entities one decision changed: a recompute limited to them.

    Accepting, rejecting or creating a match and closing or reopening an item only change
    the findings of the entries and matches involved; recomputing the whole run instead
    scanned every entry of a million-entry run for each click.
    """

    source_entry_ids: frozenset[Any] = frozenset()
    ledger_entry_ids: frozenset[Any] = frozenset()
    match_ids: frozenset[Any] = frozenset()

    def keys(self) -> list[str]:
        """The discrepancy keys these entities own (all but duplicate_entry, which no
        decision changes)."""
        return [
            *(f"missing_in_ledger:{i}" for i in self.source_entry_ids),
            *(f"missing_in_statement:{i}" for i in self.ledger_entry_ids),
            *(
                f"{kind}:{i}"
                for i in self.match_ids
                for kind in ("amount_mismatch", "currency_mismatch", "date_mismatch")
            ),
        ]


def severity_for(*, amount: Decimal | None, day: dt.date | None, today: dt.date) -> str:
    """Severity grows with amount and age (thresholds are settings): each threshold passed
    raises it one level, capped at critical. `today` is the day age is measured to: the
    run's period end (`run_as_of`), never the wall clock."""
    cfg = settings.DISCREPANCY_SEVERITY
    level = 0
    if amount is not None:
        warning, critical = _amount_thresholds(cfg["warning_amount"], cfg["critical_amount"])
        magnitude = abs(amount)
        if magnitude >= critical:
            level = 2
        elif magnitude >= warning:
            level = 1
    if day is not None:
        age = (today - day).days
        if age >= cfg["critical_age_days"]:
            level += 2
        elif age >= cfg["warning_age_days"]:
            level += 1
    return _LEVELS[min(level, 2)]


_LEVELS = (DiscrepancySeverity.INFO, DiscrepancySeverity.WARNING, DiscrepancySeverity.CRITICAL)


@lru_cache(maxsize=16)
def _amount_thresholds(warning: object, critical: object) -> tuple[Decimal, Decimal]:
    # Called once per finding (hundreds of thousands per run): parse the settings once.
    return Decimal(str(warning)), Decimal(str(critical))


def _previous(statement: Statement) -> Statement | None:
    """The account's statement just before this one: by sequence number, else by date."""
    if not statement.account_key:
        return None
    others = Statement.objects.filter(
        ledger_id=statement.ledger_id, account_key=statement.account_key
    ).exclude(pk=statement.pk)
    if statement.electronic_sequence is not None:
        prev = (
            others.filter(electronic_sequence__lt=statement.electronic_sequence)
            .order_by("-electronic_sequence")
            .first()
        )
        if prev is not None:
            return prev
    start = statement.opening_date or statement.period_from
    if start is None:
        return None
    return (
        others.filter(closing_date__isnull=False, closing_date__lte=start)
        .order_by("-closing_date", "-electronic_sequence")
        .first()
    )


def statement_findings(statements: Iterable[Statement], *, today: dt.date) -> list[Finding]:
    findings = []
    for st in sorted(statements, key=lambda s: (s.electronic_sequence or 0, s.index)):
        cur = st.currency or ""
        day = st.closing_date or st.period_to
        label = st.statement_id or f"statement {st.index + 1}"
        if st.opening_balance is not None and st.closing_balance is not None:
            expected = st.opening_balance + st.entry_sum
            if expected != st.closing_balance:
                diff = st.closing_balance - expected
                findings.append(
                    Finding(
                        key=f"balance:{st.pk}",
                        kind=DiscrepancyKind.BALANCE_MISMATCH,
                        amount=diff,
                        currency=cur,
                        statement_id=st.pk,
                        severity=severity_for(amount=diff, day=day, today=today),
                        message=(
                            f"{label}: opening {format_amount(st.opening_balance, cur or 'EUR')} "
                            f"+ entries {format_amount(st.entry_sum, cur or 'EUR')} = "
                            f"{format_amount(expected, cur or 'EUR')}, but the closing balance "
                            f"is {format_amount(st.closing_balance, cur or 'EUR')} "
                            f"(difference {format_amount(diff, cur or 'EUR')})."
                        ),
                    )
                )
        prev = _previous(st)
        if prev is None:
            continue
        if (
            prev.closing_balance is not None
            and st.opening_balance is not None
            and prev.closing_balance != st.opening_balance
        ):
            diff = st.opening_balance - prev.closing_balance
            findings.append(
                Finding(
                    key=f"continuity:{st.pk}",
                    kind=DiscrepancyKind.BALANCE_MISMATCH,
                    amount=diff,
                    currency=cur,
                    statement_id=st.pk,
                    severity=severity_for(amount=diff, day=day, today=today),
                    message=(
                        f"{label}: opening balance "
                        f"{format_amount(st.opening_balance, cur or 'EUR')} differs from the "
                        "previous statement's closing balance "
                        f"{format_amount(prev.closing_balance, cur or 'EUR')}."
                    ),
                )
            )
        if (
            prev.electronic_sequence is not None
            and st.electronic_sequence is not None
            and st.electronic_sequence > prev.electronic_sequence + 1
        ):
            missing = st.electronic_sequence - prev.electronic_sequence - 1
            findings.append(
                Finding(
                    key=f"sequence:{st.pk}",
                    kind=DiscrepancyKind.SEQUENCE_GAP,
                    amount=None,
                    currency=cur,
                    statement_id=st.pk,
                    severity=DiscrepancySeverity.WARNING,
                    message=(
                        f"{label}: sequence number {st.electronic_sequence} follows "
                        f"{prev.electronic_sequence}; {missing} statement(s) missing."
                    ),
                )
            )
    return findings


def run_as_of(run: Run) -> dt.date:
    """The day discrepancy age is measured to: the run's statement period end."""
    from reconciliation.selectors import run_period_end

    return run_period_end(run=run)[0]  # type: ignore[no-any-return]


def statement_checks(*, run: Run, statements: Iterable[Statement]) -> None:
    """Balance continuity and sequence gaps of freshly imported statements."""
    findings = statement_findings(statements, today=run_as_of(run))
    discrepancies_sync(run=run, findings=findings, scope_prefixes=None)


_FINDINGS_TABLE = "reconciliation_findings_tmp"
# A version-7 (time-ordered) UUID in SQL, as ledgers/ids.py makes them in Python: the
# current millisecond over the first 48 bits of a random UUID, version bits 0100 -> 0111.
# PostgreSQL 15 has no uuidv7(); random keys would scatter the inserts over the index.
_UUID7_SQL = (
    "encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing "
    "substring(int8send(floor(extract(epoch from clock_timestamp()) * 1000)::bigint) "
    "from 3) from 1 for 6), 52, 1), 53, 1), 'hex')::uuid"
)
_FINDING_COLUMNS = (
    "key", "kind", "amount", "currency", "message", "severity",
    "source_entry_id", "ledger_entry_id", "match_id", "statement_id",
)  # fmt: skip


_FINDINGS_DEFINITION = (
    "key varchar(200) NOT NULL, kind varchar(32) NOT NULL, amount numeric, "
    "currency varchar(3) NOT NULL, message text NOT NULL, severity varchar(16) NOT NULL, "
    "source_entry_id uuid, ledger_entry_id uuid, match_id uuid, statement_id uuid"
)
_FINDING_TYPES = (
    "varchar", "varchar", "numeric", "varchar", "text", "varchar", "uuid", "uuid", "uuid", "uuid",
)  # fmt: skip


def discrepancies_sync(
    *,
    run: Run,
    findings: list[Finding],
    scope_prefixes: tuple[str, ...] | None,
    scope_keys: list[str] | None = None,
) -> int:
    """Create new findings, refresh open ones; resolve open ones in scope no longer found.

    `scope_prefixes` names the key families this pass owns (e.g. ("missing_in_ledger:",));
    `scope_keys` names single keys instead (a targeted recompute); neither means
    "add/refresh only" (statement checks run per file). Returns how many were created.

    Three statements, whatever the number of findings. The ON CONFLICT branch carries the
    per-row rule: a row a person closed (closed and still current) is left alone; one
    auto-resolved earlier (closed, not current) is reopened; an open or in-review row is
    refreshed only when something changed, keeping its status.
    """
    now = timezone.now()
    table = Discrepancy._meta.db_table
    closed, opened = DiscrepancyStatus.CLOSED, DiscrepancyStatus.OPEN
    with temp_table(_FINDINGS_TABLE, _FINDINGS_DEFINITION) as cursor:
        copy_rows(
            _FINDINGS_TABLE,
            _FINDING_COLUMNS,
            (
                (
                    f.key,
                    f.kind,
                    f.amount,
                    f.currency,
                    f.message,
                    f.severity,
                    f.source_entry_id,
                    f.ledger_entry_id,
                    f.match_id,
                    f.statement_id,
                )
                for f in findings
            ),
            types=_FINDING_TYPES,
        )
        # The stale check below is an anti-join on key: probe an index, whatever the
        # planner guesses about how many of the run's discrepancies survive.
        cursor.execute(f"CREATE INDEX ON {_FINDINGS_TABLE} (key)")
        cursor.execute(f"ANALYZE {_FINDINGS_TABLE}")
        cursor.execute(
            f"""
            WITH written AS (
                INSERT INTO {table} AS d (
                    id, run_id, key, kind, status, severity, amount, currency,
                    source_entry_id, ledger_entry_id, match_id, statement_id,
                    message, note, is_current, created_at, updated_at, resolved_at,
                    close_reason
                )
                SELECT {_UUID7_SQL}, %(run)s, f.key, f.kind, %(open)s, f.severity,
                       f.amount, f.currency, f.source_entry_id, f.ledger_entry_id,
                       f.match_id, f.statement_id, f.message, '', true, %(now)s, %(now)s, NULL,
                       ''
                FROM {_FINDINGS_TABLE} f
                ON CONFLICT (run_id, key) DO UPDATE SET
                    amount = EXCLUDED.amount,
                    message = EXCLUDED.message,
                    severity = EXCLUDED.severity,
                    is_current = true,
                    status = CASE WHEN d.status = %(closed)s THEN %(open)s ELSE d.status END,
                    resolved_at = CASE WHEN d.status = %(closed)s THEN NULL ELSE d.resolved_at END,
                    close_reason = CASE WHEN d.status = %(closed)s THEN '' ELSE d.close_reason END,
                    updated_at = %(now)s
                WHERE NOT (d.status = %(closed)s AND d.is_current)
                  AND (d.status = %(closed)s
                       OR d.amount IS DISTINCT FROM EXCLUDED.amount
                       OR d.message <> EXCLUDED.message
                       OR d.severity <> EXCLUDED.severity
                       OR NOT d.is_current)
                RETURNING (xmax = 0) AS inserted
            )
            SELECT count(*) FILTER (WHERE inserted) FROM written
            """,  # noqa: S608 -- table names are ours, values are parameters
            {"run": run.pk, "now": now, "open": opened, "closed": closed},
        )
        created = int(cursor.fetchone()[0])
        if scope_prefixes or scope_keys:
            if scope_keys:
                # (run_id, key) is the unique index: each key is one probe.
                scope, scope_params = "d.key = ANY(%s)", [list(scope_keys)]
            else:
                scope = " OR ".join(["starts_with(d.key, %s)"] * len(scope_prefixes or ()))
                scope_params = list(scope_prefixes or ())
            stale = (
                f"d.run_id = %s AND d.is_current AND ({scope}) AND NOT EXISTS "  # noqa: S608
                f"(SELECT 1 FROM {_FINDINGS_TABLE} f WHERE f.key = d.key)"
            )
            params = [run.pk, *scope_params]
            cursor.execute(
                f"UPDATE {table} AS d SET is_current = false, status = %s, resolved_at = %s, "  # noqa: S608
                f"updated_at = %s WHERE {stale} AND d.status <> %s",
                [closed, now, now, *params, closed],
            )
            cursor.execute(
                f"UPDATE {table} AS d SET is_current = false WHERE {stale} AND d.status = %s",  # noqa: S608
                [*params, closed],
            )
    return created


RECOMPUTED_PREFIXES = (
    "missing_in_ledger:",
    "missing_in_statement:",
    "amount_mismatch:",
    "date_mismatch:",
    "currency_mismatch:",
    "duplicate_entry:",
)


def match_findings(run: Run, *, today: dt.date, touched: Touched | None = None) -> list[Finding]:
    """What the matching state says: unmatched on either side, matches with differences.

    With `touched`, only the findings of those entries and matches (see `Touched`)."""
    from django.db.models import Exists, OuterRef

    from ledgers.models import LedgerEntry
    from reconciliation.choices import MatchStatus, SourceEntryMatchStatus
    from reconciliation.models import Match, MatchLedgerLink, MatchSourceLink, SourceEntry
    from reconciliation.services.auto_match import run_match_settings

    # The run's effective window (its own override on top of the ledger's), the one the
    # matcher used: a date_mismatch must not contradict the match it is about.
    window = run_match_settings(run).date_window_days
    findings: list[Finding] = []
    live_source = MatchSourceLink.objects.filter(source_entry_id=OuterRef("pk"), is_active=True)
    unmatched = SourceEntry.objects.filter(run=run, match_status=SourceEntryMatchStatus.UNMATCHED)
    if touched is not None:
        unmatched = unmatched.filter(pk__in=touched.source_entry_ids)
    for e_id, amount, cur, day, desc in (
        unmatched.exclude(Exists(live_source))
        .values_list("id", "amount", "currency", "booking_date", "description")
        .iterator(chunk_size=10_000)
    ):
        findings.append(
            Finding(
                key=f"missing_in_ledger:{e_id}",
                kind=DiscrepancyKind.MISSING_IN_LEDGER,
                amount=amount,
                currency=cur,
                source_entry_id=e_id,
                severity=severity_for(amount=amount, day=day, today=today),
                message=f"Bank entry of {day} ({format_amount(amount, cur)} {cur}) has no GL "
                f"counterpart{': ' + desc[:80] if desc else ''}.",
            )
        )
    duplicates = (
        SourceEntry.objects.filter(run=run)
        .exclude(fingerprint__endswith=":1")
        .values_list("id", "amount", "currency", "booking_date")
    )
    for e_id, amount, cur, day in duplicates if touched is None else ():
        findings.append(
            Finding(
                key=f"duplicate_entry:{e_id}",
                kind=DiscrepancyKind.DUPLICATE_ENTRY,
                amount=amount,
                currency=cur,
                source_entry_id=e_id,
                severity=DiscrepancySeverity.WARNING,
                message=f"Bank entry of {day} ({format_amount(amount, cur)} {cur}) repeats an "
                "identical entry of the same statement: a genuine second payment or a "
                "duplicate booking?",
            )
        )
    # GL entries in the statement period that the bank does not show: per account the
    # run's statements went into (services/imports.py, "Accounts"), each over the period
    # of that account's statements.
    for account_id, first, last in _statement_scopes(run):
        if not (first and last and (touched is None or touched.ledger_entry_ids)):
            continue
        gl = LedgerEntry.objects.filter(
            ledger_id=run.ledger_id, booking_date__gte=first, booking_date__lte=last
        ).exclude(
            Exists(MatchLedgerLink.objects.filter(ledger_entry_id=OuterRef("pk"), is_active=True))
        )
        if account_id is not None:
            gl = gl.filter(account_id=account_id)
        if touched is not None:
            gl = gl.filter(pk__in=touched.ledger_entry_ids)
        for g_id, amount, cur, day, ext in gl.values_list(
            "id", "amount", "currency", "booking_date", "external_id"
        ).iterator(chunk_size=10_000):
            findings.append(
                Finding(
                    key=f"missing_in_statement:{g_id}",
                    kind=DiscrepancyKind.MISSING_IN_STATEMENT,
                    amount=amount,
                    currency=cur,
                    ledger_entry_id=g_id,
                    severity=severity_for(amount=amount, day=day, today=today),
                    message=f"GL entry {ext} of {day} ({format_amount(amount, cur)} {cur}) is not "
                    "on the bank statement.",
                )
            )
    matches = Match.objects.filter(run=run).exclude(status=MatchStatus.REJECTED)
    if touched is not None:
        matches = matches.filter(pk__in=touched.match_ids)
    for m in matches.exclude(difference=0).values("id", "difference", "currency", "created_at"):
        findings.append(
            Finding(
                key=f"amount_mismatch:{m['id']}",
                kind=DiscrepancyKind.AMOUNT_MISMATCH,
                amount=m["difference"],
                currency=m["currency"],
                match_id=m["id"],
                severity=severity_for(amount=m["difference"], day=None, today=today),
                message=(
                    "Matched with a difference of "
                    f"{format_amount(m['difference'], m['currency'])} {m['currency']} "
                    "(bank minus ledger), e.g. bank fees."
                ),
            )
        )
    if touched is None or touched.match_ids:
        match_ids = None if touched is None else touched.match_ids
        _cross_checks(run=run, findings=findings, window=window, match_ids=match_ids)
    return findings


def _statement_scopes(run: Run) -> list[tuple[Any, dt.date | None, dt.date | None]]:
    """(account id or None, first day, last day) of the GL entries a run's statements
    cover: its statements' periods (else its entries' booking dates), one scope per
    account for a run whose statements went into several accounts."""
    from django.db.models import Max, Min

    from reconciliation.models import SourceEntry
    from reconciliation.selectors import run_account_ids

    accounts = run_account_ids(run=run)
    if len(accounts) <= 1:
        period = run.source_files.filter(statements__isnull=False).aggregate(
            first=Min("statements__period_from"), last=Max("statements__period_to")
        )
        span = SourceEntry.objects.filter(run=run).aggregate(
            first=Min("booking_date"), last=Max("booking_date")
        )
        return [(run.account_id, period["first"] or span["first"], period["last"] or span["last"])]
    periods = {
        row["account"]: row
        for row in Statement.objects.filter(source_file__run=run)
        .values("account")
        .annotate(
            first=Min("period_from"),
            last=Max("period_to"),
            first_entry=Min("entries__booking_date"),
            last_entry=Max("entries__booking_date"),
        )
    }
    scopes = []
    for account_id in accounts:
        row = periods.get(account_id)
        if row is not None:
            scopes.append(
                (
                    account_id,
                    row["first"] or row["first_entry"],
                    row["last"] or row["last_entry"],
                )
            )
    return scopes


# `matching.scoring.business_day` in SQL: weekdays counted from Monday 0001-01-01, a
# Saturday or Sunday numbered as the Monday after it (the matcher's windows are business
# days, so a match within its window is no date_mismatch across a weekend).
_BUSINESS_DAY = (
    "((({day}) - date '0001-01-01') / 7 * 5 + least(mod(({day}) - date '0001-01-01', 7), 5))"
)


_GAP = (
    f"min(abs({_BUSINESS_DAY.format(day='s.booking_date')}"
    f" - {_BUSINESS_DAY.format(day='g.booking_date')}))"
)
# The matches that mix currencies (all equal <=> the smallest equals the largest) or
# whose closest bank/GL dates lie further apart than the window, in business days.
_FLAGGED_MATCHES = f"""
    SELECT s.match_id,
           {_GAP} AS gap,
           least(min(s.currency), min(g.currency))
               <> greatest(max(s.currency), max(g.currency)) AS mixed
    FROM s JOIN g ON g.match_id = s.match_id
    GROUP BY s.match_id
    HAVING {_GAP} > %(window)s
        OR least(min(s.currency), min(g.currency))
           <> greatest(max(s.currency), max(g.currency))
    """  # noqa: S608 -- no values in it: they are parameters


def _cross_checks(
    *, run: Run, findings: list[Finding], window: int, match_ids: frozenset[Any] | None
) -> None:
    """Currency and date mismatches inside live matches (manual matches can cross both),
    as one aggregate over the live links; `match_ids` limits them to those matches.

    Fetching every live link of a million-match run to compare its sides in Python moved
    two million rows for a handful of findings. Here the database answers only the
    matches that mix currencies or whose dates lie too far apart (`_FLAGGED_MATCHES`).
    """
    from ledgers.models import LedgerEntry
    from reconciliation.choices import MatchStatus
    from reconciliation.models import Match, MatchLedgerLink, MatchSourceLink, SourceEntry

    only = "" if match_ids is None else "AND m.id = ANY(%(only)s)"
    sides = f"""
        WITH s AS (
            SELECT l.match_id, e.currency, e.booking_date
            FROM {MatchSourceLink._meta.db_table} l
            JOIN {Match._meta.db_table} m ON m.id = l.match_id
            JOIN {SourceEntry._meta.db_table} e ON e.id = l.source_entry_id
            WHERE m.run_id = %(run)s AND l.is_active AND m.status <> %(rejected)s {only}
        ), g AS (
            SELECT l.match_id, e.currency, e.booking_date
            FROM {MatchLedgerLink._meta.db_table} l
            JOIN {Match._meta.db_table} m ON m.id = l.match_id
            JOIN {LedgerEntry._meta.db_table} e ON e.id = l.ledger_entry_id
            WHERE m.run_id = %(run)s AND l.is_active {only}
        )"""  # noqa: S608 -- table names are ours, values are parameters
    params = {
        "run": run.pk,
        "rejected": MatchStatus.REJECTED,
        "window": window,
        "only": list(match_ids or ()),
    }
    with connection.cursor() as cursor:
        cursor.execute(sides + _FLAGGED_MATCHES, params)
        flagged = cursor.fetchall()
        mixed_ids = [match_id for match_id, _, mixed in flagged if mixed]
        currencies: dict[object, list[str]] = {}
        if mixed_ids:
            cursor.execute(
                sides  # noqa: S608 -- see `sides`
                + """
                SELECT match_id, currency FROM s WHERE match_id = ANY(%(ids)s)
                UNION SELECT match_id, currency FROM g WHERE match_id = ANY(%(ids)s)
                """,
                {**params, "ids": mixed_ids},
            )
            for match_id, currency in cursor.fetchall():
                currencies.setdefault(match_id, []).append(currency)
    for match_id, gap, mixed in flagged:
        if mixed:
            findings.append(
                Finding(
                    key=f"currency_mismatch:{match_id}",
                    kind=DiscrepancyKind.CURRENCY_MISMATCH,
                    amount=None,
                    currency="",
                    match_id=match_id,
                    severity=DiscrepancySeverity.CRITICAL,
                    message=f"The match links entries in "
                    f"{', '.join(sorted(currencies.get(match_id, [])))}.",
                )
            )
        if gap > window:
            findings.append(
                Finding(
                    key=f"date_mismatch:{match_id}",
                    kind=DiscrepancyKind.DATE_MISMATCH,
                    amount=None,
                    currency="",
                    match_id=match_id,
                    severity=DiscrepancySeverity.INFO,
                    message=f"Bank and ledger dates are {gap} business days apart (window "
                    f"{window}).",
                )
            )


def discrepancies_recompute(*, run: Run, touched: Touched | None = None) -> int:
    """Recompute the matching-derived discrepancies of a run, or only those of the
    `touched` entries and matches; returns how many of the run's are open."""
    findings = match_findings(run, today=run_as_of(run), touched=touched)
    if touched is None:
        discrepancies_sync(run=run, findings=findings, scope_prefixes=RECOMPUTED_PREFIXES)
    else:
        discrepancies_sync(
            run=run, findings=findings, scope_prefixes=None, scope_keys=touched.keys()
        )
    return Discrepancy.objects.filter(
        run=run, status__in=[DiscrepancyStatus.OPEN, DiscrepancyStatus.IN_REVIEW]
    ).count()


def discrepancies_refresh(
    run: Run,
    *,
    source_entry_ids: Iterable[Any] = (),
    ledger_entry_ids: Iterable[Any] = (),
    match_ids: Iterable[Any] = (),
) -> None:
    """Recompute the discrepancies of what a decision touched (not the whole run: a click
    in a million-entry run must not rescan it)."""
    touched = Touched(
        source_entry_ids=frozenset(source_entry_ids),
        ledger_entry_ids=frozenset(ledger_entry_ids),
        match_ids=frozenset(match_ids),
    )
    discrepancies_recompute(run=run, touched=touched)


def discrepancy_validate_assignee(*, run: Run, assignee: AbstractBaseUser | None) -> None:
    """An assignee is a member of the run's organization with the reviewer role or more
    (a viewer cannot act on it; someone outside the organization cannot see it)."""
    from ledgers.choices import MembershipRole
    from ledgers.selectors import has_role

    if assignee is None:
        return
    if not has_role(
        user=assignee, organization_id=run.ledger.organization_id, role=MembershipRole.REVIEWER
    ):
        raise Invalid(
            "The assignee must be a reviewer or admin of the run's organization.",
            code="invalid_assignee",
            attr="assignee_id",
        )


_UNSET: Any = object()


@transaction.atomic
def discrepancy_update(
    *,
    discrepancy: Discrepancy,
    status: str | None,
    note: str | None,
    actor: AbstractBaseUser | None,
    reason: str | None = None,
    assignee: AbstractBaseUser | None = _UNSET,
) -> Discrepancy:
    """Change a discrepancy's status, note, close reason and assignee; audited.

    Closing records `reason` (one of the item close reasons; `manual_review` when none is
    given) and the time; leaving `closed` clears both. A reason without closing is a 400
    (`reason_without_close`). `assignee`: a user (reviewer+ of the run's organization,
    else 400 `invalid_assignee`), None to unassign, or left out to keep. Refused on a
    closed (409 `run_closed`) or approved (409 `run_approved`) run.
    """
    if status is not None and status not in DiscrepancyStatus.values:
        raise Invalid(f"Unknown status {status!r}.", attr="status")
    if reason is not None and reason not in CloseReason.values:
        raise Invalid(f"Unknown reason {reason!r}.", attr="reason")
    run = run_lock(run_id=discrepancy.run_id)
    run_validate_open(run=run)
    if assignee is not _UNSET:
        discrepancy_validate_assignee(run=run, assignee=assignee)
    discrepancy = Discrepancy.objects.select_for_update().get(pk=discrepancy.pk)
    closing = (status or discrepancy.status) == DiscrepancyStatus.CLOSED
    if reason is not None and not closing:
        raise Invalid(
            "A reason is given when closing; send status=closed with it.",
            code="reason_without_close",
            attr="reason",
        )
    before = _state(discrepancy)
    if status is not None and status != discrepancy.status:
        discrepancy.status = status
        discrepancy.resolved_at = timezone.now() if status == DiscrepancyStatus.CLOSED else None
        discrepancy.close_reason = (
            (reason or CloseReason.MANUAL_REVIEW) if status == DiscrepancyStatus.CLOSED else ""
        )
    elif reason is not None:
        discrepancy.close_reason = reason  # re-stating why a closed one is closed
    if note is not None:
        discrepancy.note = note
    if assignee is not _UNSET:
        discrepancy.assigned_to = assignee
    after = _state(discrepancy)
    if after != before:
        discrepancy.save(
            update_fields=[
                "status",
                "resolved_at",
                "note",
                "close_reason",
                "assigned_to",
                "updated_at",
            ]
        )
        run_audit(
            run=run,
            actor=actor,
            action="discrepancy.updated",
            subject_type="discrepancy",
            subject_id=discrepancy.pk,
            before=before,
            after=after,
            note=discrepancy.note if note is not None else "",
        )
    return discrepancy


def _state(discrepancy: Discrepancy) -> dict[str, Any]:
    return {
        "status": discrepancy.status,
        "note": discrepancy.note,
        "reason": discrepancy.close_reason,
        "assignee_id": str(discrepancy.assigned_to_id) if discrepancy.assigned_to_id else None,
    }
