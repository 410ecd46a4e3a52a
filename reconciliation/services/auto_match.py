"""Auto-match: feed the pure engine, persist its proposals, keep statuses and audit current.

Concurrency: the run row is locked for the whole pass (run -> match -> entries lock
order), so two auto-matches of one run queue up and the second finds nothing new. Entries
linked meanwhile by another run or a manual match are protected by the partial unique
indexes on the link tables: a lost race raises IntegrityError, and the pass is retried
once on fresh state instead of double-linking.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from json.encoder import encode_basestring_ascii as _json_text  # the C encoder json.dumps uses
from typing import Any, NamedTuple

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import Count, Exists, Max, Min, OuterRef, Q, QuerySet
from django.utils import timezone

from ledgers.ids import hex_id_stream
from ledgers.models import LedgerEntry
from reconciliation.bulk import analyze, copy_lines, copy_text, stream_rows
from reconciliation.choices import (
    MatchKind,
    MatchShape,
    MatchStatus,
    RunStatus,
    SourceEntryMatchStatus,
)
from reconciliation.matching.types import Criterion, EntryRow, MatchSettings, Proposal
from reconciliation.models import (
    Match,
    MatchLedgerLink,
    MatchPart,
    MatchRequest,
    MatchSourceLink,
    Run,
    SourceEntry,
)
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


class FreeSourceEntry(NamedTuple):
    """What the engine reads of a free bank entry; the fields are the columns streamed."""

    id: str
    amount: Decimal
    currency: str
    booking_date: dt.date
    value_date: dt.date | None
    reference: str
    bank_reference: str
    end_to_end_id: str
    creditor_reference: str
    counterparty_name: str
    counterparty_iban: str
    description: str
    is_reversal: bool
    details: list[dict[str, Any]] | None
    bank_transaction_code: str
    batch_count: int | None


class FreeLedgerEntry(NamedTuple):
    """What the engine reads of a free GL entry; the fields are the columns streamed."""

    id: str
    amount: Decimal
    currency: str
    booking_date: dt.date
    value_date: dt.date | None
    reference: str
    external_id: str
    counterparty: str
    description: str


def _free_source_entries(run: Run, *, taken: bool = False) -> QuerySet[SourceEntry]:
    """The run's free bank entries; `taken`: instead those already in a live match."""
    linked = Exists(MatchSourceLink.objects.filter(source_entry_id=OuterRef("pk"), is_active=True))
    if taken:
        return SourceEntry.objects.filter(linked, run=run)
    unmatched = SourceEntry.objects.filter(run=run, match_status=SourceEntryMatchStatus.UNMATCHED)
    return unmatched.exclude(linked)


def _source_rows(run: Run, *, taken: bool = False, part: MatchPart | None = None) -> list[EntryRow]:
    """The run's free bank entries (of one `part` only, if given); `taken`: instead those
    already in a live match."""
    free = _free_source_entries(run, taken=taken)
    if part is not None:
        free = free.filter(currency=part.currency)
        if part.account_id is not None:
            free = free.filter(_account_q(run=run, account_id=part.account_id))
    rows = []
    for e in stream_rows(free, FreeSourceEntry, as_text=("id",)):
        refs = tuple(
            r for r in (e.reference, e.bank_reference, e.end_to_end_id, e.creditor_reference) if r
        )
        rows.append(
            EntryRow(
                id=e.id,
                amount=e.amount,
                currency=e.currency,
                booking_date=e.booking_date,
                value_date=e.value_date,
                references=refs,
                counterparty_name=e.counterparty_name,
                counterparty_iban=e.counterparty_iban,
                description=e.description,
                is_reversal=e.is_reversal,
                details=_details(e.details, currency=e.currency),
                booking_text=e.bank_transaction_code,
                batch_count=e.batch_count,
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


def _account_q(*, run: Run, account_id: uuid.UUID) -> Q:
    """Bank entries of one account of a run over several: their statement went into it,
    or (a statement without an account) it is the run's own."""
    if account_id == run.account_id:
        return Q(statement__account_id=account_id) | Q(statement__account__isnull=True)
    return Q(statement__account_id=account_id)


def run_has_matched_entries(*, run: Run) -> bool:
    """Whether a pass over the run now is a rerun: some of its entries are in live matches."""
    return _free_source_entries(run, taken=True).exists()


def run_free_parts(*, run: Run) -> dict[tuple[uuid.UUID | None, str], int]:
    """The run's free bank rows counted by (account, currency), the parts several workers
    can match independently (`match_parts`). The account is None for a run of one account
    or none: its scope is the run's own."""
    free = _free_source_entries(run)
    if len(run_account_ids(run=run)) <= 1:
        counted = free.values("currency").annotate(n=Count("pk")).values_list("currency", "n")
        return {(None, currency): rows for currency, rows in counted}
    parts: dict[tuple[uuid.UUID | None, str], int] = {}
    for account_id, currency, rows in (
        free.values("statement__account_id", "currency")
        .annotate(n=Count("pk"))
        .values_list("statement__account_id", "currency", "n")
    ):
        key = (account_id or run.account_id, currency)
        parts[key] = parts.get(key, 0) + rows
    return parts


def _sources_by_account(
    run: Run, sources: list[EntryRow], accounts: list[uuid.UUID]
) -> dict[uuid.UUID | None, list[EntryRow]]:
    """The free bank rows of a run over several accounts, by the account their statement
    went into (an entry without one belongs to the run's own account)."""
    account_of = dict(
        SourceEntry.objects.filter(run=run, statement__account__isnull=False).values_list(
            "id", "statement__account_id"
        )
    )
    out: dict[uuid.UUID | None, list[EntryRow]] = {}
    for row in sources:
        account_id = account_of.get(uuid.UUID(row.id), run.account_id)
        if account_id in accounts:
            out.setdefault(account_id, []).append(row)
    return out


def _ledger_rows(
    run: Run,
    *,
    first: dt.date,
    last: dt.date,
    window: int,
    account: uuid.UUID | None = None,
    currency: str | None = None,
    taken: bool = False,
) -> list[EntryRow]:
    """Free GL entries of the run's ledger (and account, and currency) near the statement's
    dates; `taken`: instead those already in a live match.

    The date bound keeps a ledger's years of history out of memory; it is wider than the
    matching window (business days: 5 of them span 7 calendar days) so value-date
    candidates are not lost.
    """
    margin = dt.timedelta(days=window * 7 // 5 + 9)
    linked = Exists(MatchLedgerLink.objects.filter(ledger_entry_id=OuterRef("pk"), is_active=True))
    qs = LedgerEntry.objects.filter(
        ledger_id=run.ledger_id, booking_date__gte=first - margin, booking_date__lte=last + margin
    )
    qs = qs.filter(linked) if taken else qs.exclude(linked)
    if account is not None or run.account_id:
        qs = qs.filter(account_id=account or run.account_id)
    if currency is not None:
        qs = qs.filter(currency=currency)
    rows = []
    for e in stream_rows(qs, FreeLedgerEntry, as_text=("id",)):
        rows.append(
            EntryRow(
                id=e.id,
                amount=e.amount,
                currency=e.currency,
                booking_date=e.booking_date,
                value_date=e.value_date,
                references=(e.reference,) if e.reference else (),
                counterparty_name=e.counterparty,
                description=e.description,
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
    sources: dict[str, tuple[Decimal, str]],
    ledgers: dict[str, Decimal],
    analyze_after: bool = True,
) -> tuple[int, int, list[str], list[str]]:
    """Write the proposals as matches with their link rows; returns (suggested, accepted,
    accepted source ids, accepted GL ids).

    A million-row pass writes ~2.8 million rows here. They go through three COPY
    statements as ready-made text lines, built while they stream (the only list kept is
    the match ids): no model instances (bulk_create spent more time in Python per row than
    COPY spends in total), no per-value adaptation, and no second copy of every
    explanation in memory. The values are ids, codes, numbers and JSON, so only the JSON
    needs COPY's backslash escaping.
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
    _copy_matches(run=run, now=now, rows=rows)
    linked = _copy_links(MatchSourceLink, "source_entry_id", source_links)
    linked += _copy_links(MatchLedgerLink, "ledger_entry_id", ledger_links)
    if analyze_after and linked >= ANALYZE_AFTER_LINKS:
        # The status refresh and the discrepancy checks that follow query these tables:
        # plan them for the rows this pass wrote. Only the columns those queries filter
        # and join on are sampled: statistics of the explanation JSON cost most of the
        # time of a whole-table ANALYZE of the matches. Small passes never take the lock.
        analyze_matches()
    return len(match_ids) - accepted, accepted, accepted_sources, accepted_ledgers


def analyze_matches() -> None:
    analyze(
        (Match, ("id", "run_id", "status", "difference")),
        (MatchSourceLink, ("match_id", "source_entry_id", "is_active")),
        (MatchLedgerLink, ("match_id", "ledger_entry_id", "is_active")),
    )


class MatchRow(NamedTuple):
    """The per-match values of a `reconciliation_match` row as the pass COPYs it; the
    fields open the COPY column list (`MATCH_COPY_COLUMNS`), the pass's constants close it."""

    id: str  # 32 hex digits
    status: str
    shape: str
    score: int
    is_ambiguous: bool
    explanation: str  # JSON text
    currency: str
    source_total: Decimal
    ledger_total: Decimal
    difference: Decimal
    decided_at: dt.datetime | None


MATCH_COPY_COLUMNS = (*MatchRow._fields, "run_id", "kind", "note", "created_at")


def _match_values(
    p: Proposal,
    match_id: str,
    *,
    sources: dict[str, tuple[Decimal, str]],
    ledgers: dict[str, Decimal],
    now: dt.datetime,
    cache: dict[Any, str],
) -> MatchRow:
    first_amount, currency = sources[p.source_ids[0]]
    # Positional, in field order: keyword arguments cost a second per million matches.
    return MatchRow(
        match_id,
        _ACCEPTED if p.auto_accept else _SUGGESTED,
        _SHAPE_VALUES[p.shape],
        p.score,
        p.ambiguous,
        _explanation_json(p.explanation, cache),
        currency,
        # Most matches are 1:1: skip the generator and sum() for them.
        first_amount
        if len(p.source_ids) == 1
        else sum((sources[i][0] for i in p.source_ids), Decimal("0")),
        ledgers[p.ledger_ids[0]]
        if len(p.ledger_ids) == 1
        else sum((ledgers[i] for i in p.ledger_ids), Decimal("0")),
        p.difference,
        now if p.auto_accept else None,
    )


_ACCEPTED = MatchStatus.ACCEPTED.value
_SUGGESTED = MatchStatus.SUGGESTED.value
_SHAPE_VALUES = {name: shape.value for name, shape in SHAPES.items()}


# Statistics are refreshed inside the pass once it wrote this many links (bulk.analyze).
ANALYZE_AFTER_LINKS = 20_000


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


def _copy_matches(*, run: Run, now: dt.datetime, rows: Iterator[MatchRow]) -> None:
    # run_id, kind, note, created_at: the same for every match of the pass.
    tail = f"\t{run.pk.hex}\t{MatchKind.AUTO.value}\t\t{now.isoformat()}\n"
    null = "\\N"
    copy_lines(
        Match._meta.db_table,
        MATCH_COPY_COLUMNS,
        (
            f"{r.id}\t{r.status}\t{r.shape}\t{r.score}\t{'t' if r.is_ambiguous else 'f'}\t"
            f"{copy_text(r.explanation)}\t{r.currency}\t{r.source_total}\t{r.ledger_total}\t"
            f"{r.difference}\t{r.decided_at.isoformat() if r.decided_at else null}{tail}"
            for r in rows
        ),
    )


def _copy_links(model: Any, column: str, links: Iterator[tuple[str, str]]) -> int:
    return copy_lines(
        model._meta.db_table,
        ("match_id", column, "is_active"),
        (f"{match_id}\t{entry_id}\tt\n" for match_id, entry_id in links),
    )


@dataclass(frozen=True, slots=True)
class _PassInputs:
    """What every engine call of a pass shares: the GL date bounds, settings and the pairs
    a person rejected."""

    first: dt.date
    last: dt.date
    settings: MatchSettings
    reach: int
    forbidden: frozenset[tuple[str, str]]


def _pass_inputs(run: Run) -> _PassInputs:
    span = SourceEntry.objects.filter(run=run).aggregate(
        first=Min("booking_date"), last=Max("booking_date")
    )
    match_settings = run_match_settings(run)
    return _PassInputs(
        first=span["first"],
        last=span["last"],
        settings=match_settings,
        reach=max(match_settings.date_window_days, match_settings.reference_window_days),
        forbidden=_forbidden_pairs(run),
    )


def _engine_call(
    run: Run,
    inputs: _PassInputs,
    *,
    sources: list[EntryRow],
    taken_sources: list[EntryRow],
    rerun: bool,
    account: uuid.UUID | None,
    currency: str | None = None,
) -> tuple[tuple[Proposal, ...], list[EntryRow]]:
    """The engine's proposals for one account's (and currency's) free bank rows, and the
    GL rows it saw. `rerun`: the run has matched entries already, so the GL side's taken
    entries are read too (a first pass reads none)."""
    from reconciliation.matching.engine import match as engine_match

    def gl(*, taken: bool) -> list[EntryRow]:
        return _ledger_rows(
            run,
            first=inputs.first,
            last=inputs.last,
            window=inputs.reach,
            account=account,
            currency=currency,
            taken=taken,
        )

    ledger_rows = gl(taken=False)
    proposals = engine_match(
        source=sources,
        ledger=ledger_rows,
        settings=inputs.settings,
        forbidden_pairs=inputs.forbidden,
        taken_source=taken_sources,
        taken_ledger=gl(taken=True) if rerun else (),
    ).proposals
    return proposals, ledger_rows


def _propose(*, run: Run, sources: list[EntryRow]) -> tuple[tuple[Proposal, ...], list[EntryRow]]:
    """The engine's proposals for the run's free bank rows, and the GL rows it saw."""
    inputs = _pass_inputs(run)
    accounts = run_account_ids(run=run)
    # Entries already in live matches: the engine judges a split's or batch's
    # uniqueness against them too, so a rerun sees the candidates the first pass saw
    # and adds nothing (engine.match, issue #13 §5). A first pass reads none.
    taken_sources = _source_rows(run, taken=True)
    # One engine call per account: statements of several accounts match each account's
    # entries against its own GL entries (a transfer between two accounts is no match);
    # a run of one account (None: the run's own) is the one-part case.
    parts: dict[uuid.UUID | None, list[EntryRow]] = {None: sources}
    taken_parts: dict[uuid.UUID | None, list[EntryRow]] = {None: taken_sources}
    if len(accounts) > 1:
        parts = _sources_by_account(run, sources, accounts)
        taken_parts = _sources_by_account(run, taken_sources, accounts)
    ledger_rows: list[EntryRow] = []
    proposals: tuple[Proposal, ...] = ()
    for account_id in [None] if len(accounts) <= 1 else [*accounts]:
        part_proposals, part_ledger = _engine_call(
            run,
            inputs,
            sources=parts.get(account_id, []),
            taken_sources=taken_parts.get(account_id, []),
            rerun=bool(taken_sources),
            account=account_id,
        )
        ledger_rows.extend(part_ledger)
        proposals += part_proposals
    return proposals, ledger_rows


def _propose_part(
    *, run: Run, part: MatchPart, sources: list[EntryRow]
) -> tuple[tuple[Proposal, ...], list[EntryRow]]:
    """`_propose` for one (account, currency) part of the run: the engine never pairs
    across accounts or currencies, so the parts' proposals are the whole pass's."""
    taken_sources = _source_rows(run, taken=True, part=part)
    return _engine_call(
        run,
        _pass_inputs(run),
        sources=sources,
        taken_sources=taken_sources,
        rerun=part.rerun,
        account=part.account_id,
        currency=part.currency,
    )


def _amounts(
    proposals: tuple[Proposal, ...], sources: list[EntryRow], ledger_rows: list[EntryRow]
) -> tuple[dict[str, tuple[Decimal, str]], dict[str, Decimal]]:
    """What persisting needs of the loaded rows: the amount (and, bank side, currency) of
    each row in a proposal. The rows themselves (a million of each side at the design
    load, with their texts and references) can then be freed before the matches are
    written, so the pass's peak memory is the engine's, not the engine's plus persist's."""
    in_source = {i for p in proposals for i in p.source_ids}
    in_ledger = {i for p in proposals for i in p.ledger_ids}
    return (
        {r.id: (r.amount, r.currency) for r in sources if r.id in in_source},
        {r.id: r.amount for r in ledger_rows if r.id in in_ledger},
    )


def _match_and_persist(
    *,
    run: Run,
    sources: list[EntryRow],
    propose: Callable[[list[EntryRow]], tuple[tuple[Proposal, ...], list[EntryRow]]],
    analyze_after: bool = True,
) -> tuple[int, int]:
    """Propose for `sources`, write the proposals and flip the accepted entries' statuses;
    returns (suggested, accepted). The caller passes its only reference to `sources` in
    (no name of its own kept), so the rows can be freed before persisting."""
    from reconciliation.services.entries import entries_mark_auto_accepted

    if not sources:
        return 0, 0
    proposals, ledger_rows = propose(sources)
    source_amounts, ledger_amounts = _amounts(proposals, sources, ledger_rows)
    del sources, ledger_rows
    suggested, accepted, accepted_sources, accepted_ledgers = _persist(
        run=run,
        proposals=proposals,
        sources=source_amounts,
        ledgers=ledger_amounts,
        analyze_after=analyze_after,
    )
    del proposals, source_amounts, ledger_amounts
    entries_mark_auto_accepted(source_entry_ids=accepted_sources, ledger_entry_ids=accepted_ledgers)
    return suggested, accepted


def _auto_match_pass(*, run: Run, actor: AbstractBaseUser | None, parts: bool) -> AutoMatchResult:
    from reconciliation.services.match_parts import match_parts_drop, match_parts_finish

    parted = match_parts_finish(run=run) if parts else None
    if parted is not None:
        # Workers shared this pass (match_parts): they matched and committed the parts;
        # what is left here is the run-wide part.
        suggested, accepted = parted
    else:
        # A plan nobody is finishing (its task died, or this is another pass): this pass
        # matches everything free, reports the matches the plan's parts committed as its
        # own (no completed pass reported them), and the plan must not outlive it.
        carried_suggested, carried_accepted = match_parts_drop(run=run)
        suggested, accepted = _match_and_persist(
            run=run,
            sources=_source_rows(run),
            propose=lambda sources: _propose(run=run, sources=sources),
        )
        suggested += carried_suggested
        accepted += carried_accepted
    return _pass_finish(run=run, actor=actor, suggested=suggested, accepted=accepted)


def run_match_part(*, run: Run, part: MatchPart) -> tuple[int, int]:
    """Match one (account, currency) part of the run, in the caller's transaction; returns
    (suggested, accepted). Statistics are left to the pass's end (`match_parts_finish`):
    ANALYZE holds its table lock until commit, so parts that each ran one would queue
    behind each other."""
    return _match_and_persist(
        run=run,
        sources=_source_rows(run, part=part),
        propose=lambda sources: _propose_part(run=run, part=part, sources=sources),
        analyze_after=False,
    )


def _pass_finish(
    *, run: Run, actor: AbstractBaseUser | None, suggested: int, accepted: int
) -> AutoMatchResult:
    from reconciliation.services.discrepancies import discrepancies_recompute

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


def run_auto_match(
    *, run: Run, actor: AbstractBaseUser | None, parts: bool = False
) -> AutoMatchResult:
    """Match the run now (the synchronous route). Idempotent: a second pass adds nothing.

    Accepted and rejected decisions are never touched; rejected pairs are never proposed
    again. The run ends `completed` (or `failed` with the error, re-raised). `parts`: the
    calling worker planned the run in parts (match_parts) and matched what it could take;
    this pass completes that plan instead of matching the whole run.
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
                result = _auto_match_pass(run=locked, actor=actor, parts=parts)
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
    """Ask for the run's matching inside the current transaction: a durable request (the
    outbox row) delivered to the broker after commit, and again by the sweep until a worker
    completes it (`reconciliation.services.match_requests`)."""
    from reconciliation.services.match_requests import match_request_create

    match_request_create(run=run)


def run_auto_match_job(*, run_id: uuid.UUID, owner: str = "") -> None:
    """The worker's entry: match a run that is `running` after an upload, then complete it.

    Holds the request's lease (kept alive by heartbeats) while matching. Redelivery-safe: a
    request that is gone or leased by a live worker is left alone, a run no longer
    `running` under its row lock is not matched again, and a pass over an already matched
    run creates nothing. Database errors propagate (the task retries); any other error fails
    the run with the reason.
    """
    from reconciliation.services.match_parts import match_parts_plan, match_parts_work
    from reconciliation.services.match_requests import (
        Claim,
        match_request_claim,
        match_request_heartbeats,
    )

    owner = owner or f"local-{uuid.uuid4()}"
    if match_request_claim(run_id=run_id, owner=owner) is not Claim.TAKEN:
        return
    with match_request_heartbeats(run_id=run_id, owner=owner):
        try:
            # A big run of several accounts or currencies is shared with helper tasks:
            # the parts commit one by one, and the transaction below completes the run.
            parted = match_parts_plan(run_id=run_id) > 0
            if parted:
                match_parts_work(run_id=run_id)
            with transaction.atomic():
                run = Run.objects.select_for_update(of=("self",)).filter(pk=run_id).first()
                if parted and not _lease_held(run_id=run_id, owner=owner):
                    # An upload asked for matching again between two parts: the new
                    # request's task plans what is free now and completes the run.
                    return
                if run is not None and run.status == RunStatus.RUNNING:
                    run_auto_match(run=run, actor=None, parts=parted)
                # In the completing transaction: the run is never completed with its
                # request still owed, nor the request gone with the run unfinished.
                MatchRequest.objects.filter(run_id=run_id).delete()
        except (OperationalError, InterfaceError):
            raise  # infrastructure: the task retries under the same lease
        except Exception as exc:
            logger.exception("auto-match of run %s failed", run_id)
            error = {"code": "auto_match_failed", "detail": f"{type(exc).__name__}: {exc}"[:500]}
            with transaction.atomic():
                Run.objects.filter(pk=run_id).exclude(status=RunStatus.CLOSED).update(
                    status=RunStatus.FAILED, error=error, finished_at=timezone.now()
                )
                MatchRequest.objects.filter(run_id=run_id).delete()


def _lease_held(*, run_id: uuid.UUID, owner: str) -> bool:
    return MatchRequest.objects.filter(run_id=run_id, lease_owner=owner).exists()


def runs_recover_stale() -> int:
    """The beat sweep: deliver undelivered match requests and re-queue runs whose worker
    died, failing them (`stale_run`) after RUN_MATCH_MAX_ATTEMPTS, so a run never stays
    `running` forever. Returns how many requests went to the broker."""
    from reconciliation.services.match_requests import match_requests_sweep

    return match_requests_sweep()


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


def source_entry_as_row(entry: SourceEntry) -> EntryRow:
    """One item as the engine sees it: the review screen judges each field with the
    engine's own functions, so its ✓/≠ never contradicts the score."""
    references = (entry.reference, entry.bank_reference, entry.end_to_end_id)
    return EntryRow(
        id=str(entry.pk),
        amount=entry.amount,
        currency=entry.currency,
        booking_date=entry.booking_date,
        value_date=entry.value_date,
        references=tuple(r for r in (*references, entry.creditor_reference) if r),
        counterparty_name=entry.counterparty_name,
        counterparty_iban=entry.counterparty_iban,
        description=entry.description,
        is_reversal=entry.is_reversal,
        details=_details(entry.details, currency=entry.currency),
        booking_text=entry.bank_transaction_code,
        batch_count=entry.batch_count,
    )


def ledger_entry_as_row(entry: LedgerEntry) -> EntryRow:
    return EntryRow(
        id=str(entry.pk),
        amount=entry.amount,
        currency=entry.currency,
        booking_date=entry.booking_date,
        value_date=entry.value_date,
        references=(entry.reference,) if entry.reference else (),
        counterparty_name=entry.counterparty,
        description=entry.description,
    )
