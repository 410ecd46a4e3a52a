"""Tenant-scoped reads of the reconciliation app."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.cache import caches
from django.db.models import (
    Count,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce

from ledgers.exceptions import NotFound
from ledgers.selectors import UserLike, organization_ids
from reconciliation.choices import DiscrepancyStatus, MatchStatus, SourceEntryMatchStatus
from reconciliation.models import Discrepancy, Match, Run, SourceEntry, SourceFile, Statement


def _count(model: Any, **filters: Any) -> Coalesce:
    subquery = (
        model.objects.filter(run_id=OuterRef("pk"), **filters)
        .order_by()
        .values("run_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(subquery, output_field=IntegerField()), Value(0))


def with_run_counts(queryset: QuerySet[Run]) -> QuerySet[Run]:
    """The counts of `run_counts_attach` as annotations (subqueries), for the admin's
    changelist, which sorts by them; the API attaches them per page instead."""
    annotations: dict[str, Any] = {
        f"items_{status}": _count(SourceEntry, match_status=status)
        for status in SourceEntryMatchStatus.values
    }
    annotations |= {
        f"matches_{status}": _count(Match, status=status) for status in MatchStatus.values
    }
    annotations["open_discrepancies"] = _count(
        Discrepancy, status__in=[DiscrepancyStatus.OPEN, DiscrepancyStatus.IN_REVIEW]
    )
    annotations["source_file_count"] = _count(SourceFile)
    return queryset.annotate(**annotations)


ATTENTION_FAILED, ATTENTION_DECIDE, ATTENTION_WORKING, ATTENTION_NONE = 0, 1, 2, 3


def with_attention(queryset: QuerySet[Run]) -> QuerySet[Run]:
    """`attention`: 0 failed, 1 something to decide (a suggestion, an open critical
    discrepancy), 2 still working, 3 nothing to do. EXISTS probes on the (run, status)
    indexes: cheap whatever a run holds, unlike the counts."""
    from django.db.models import Case, Exists, When

    from reconciliation.choices import DiscrepancySeverity, RunStatus

    suggestion = Match.objects.filter(run_id=OuterRef("pk"), status=MatchStatus.SUGGESTED)
    critical = Discrepancy.objects.filter(
        run_id=OuterRef("pk"),
        status__in=[DiscrepancyStatus.OPEN, DiscrepancyStatus.IN_REVIEW],
        severity=DiscrepancySeverity.CRITICAL,
    )
    return queryset.annotate(
        attention=Case(
            When(status=RunStatus.FAILED, then=Value(ATTENTION_FAILED)),
            When(status=RunStatus.CLOSED, then=Value(ATTENTION_NONE)),
            When(Exists(suggestion) | Exists(critical), then=Value(ATTENTION_DECIDE)),
            When(status__in=[RunStatus.PENDING, RunStatus.RUNNING], then=Value(ATTENTION_WORKING)),
            default=Value(ATTENTION_NONE),
            output_field=IntegerField(),
        )
    )


def run_list(*, user: UserLike) -> QuerySet[Run]:
    """The user's runs, without counts: `run_counts_attach` adds them to a page."""
    return Run.objects.filter(ledger__organization_id__in=organization_ids(user)).select_related(
        "ledger", "account", "created_by", "closed_by", "approved_by"
    )


RUN_COUNT_NAMES = (
    *(f"items_{status}" for status in SourceEntryMatchStatus.values),
    *(f"matches_{status}" for status in MatchStatus.values),
    "open_discrepancies",
    "source_file_count",
)
# Cached with the counts (they change only with an upload, which bumps counts_version):
# the statement period the run's label names.
RUN_PERIOD_NAMES = ("period_from", "period_to")


def run_counts_attach(runs: Sequence[Run]) -> None:
    """Set the counts API.md puts on a run (`items_<status>`, `matches_<status>`,
    `open_discrepancies`, `source_file_count`) on each run of a page: four GROUP BY queries
    whatever the page size.

    One grouped scan per table, not one correlated count per status: on a million-entry
    run the subqueries rescanned the run's entries once per status (1.2 s for one run),
    where one grouped scan reads it once. match_status is in no index (its updates are
    HOT, migration 0011_perf_hot_status), so that scan reads the run's rows (75 ms at
    100k). The result is cached under the run's `counts_version`, which `run_audit` bumps
    with every change, in the cache the workers share (`run_counts`, Redis when
    configured), so only the first view after a change pays for the scan.
    """
    if not runs:
        return
    cache = caches["run_counts"]  # Redis shared by the workers, when configured
    keys = {run.pk: f"run-counts:{run.pk}:{run.counts_version}" for run in runs}
    cached = cache.get_many(list(keys.values()))
    missing = [run for run in runs if keys[run.pk] not in cached]
    counts = {run.pk: cached[keys[run.pk]] for run in runs if keys[run.pk] in cached}
    if missing:
        fresh = _run_counts([run.pk for run in missing])
        cache.set_many({keys[pk]: value for pk, value in fresh.items()}, RUN_COUNTS_TTL)
        counts.update(fresh)
    for run in runs:
        for name in RUN_COUNT_NAMES:
            setattr(run, name, counts[run.pk].get(name, 0))
        for name in RUN_PERIOD_NAMES:
            setattr(run, name, counts[run.pk].get(name))


# The version in the key invalidates; the timeout only bounds what an idle run keeps.
RUN_COUNTS_TTL = 3600


def _run_counts(ids: list[Any]) -> dict[Any, dict[str, int]]:
    counts: dict[Any, dict[str, int]] = {pk: {} for pk in ids}
    grouped = (
        (SourceEntry.objects.filter(run_id__in=ids), "match_status", "items_"),
        (Match.objects.filter(run_id__in=ids), "status", "matches_"),
    )
    for queryset, field, prefix in grouped:
        rows = queryset.order_by().values_list("run_id", field).annotate(n=Count("*"))
        for run_id, status, n in rows:
            counts[run_id][f"{prefix}{status}"] = n
    singles = (
        (
            Discrepancy.objects.filter(
                run_id__in=ids,
                status__in=[DiscrepancyStatus.OPEN, DiscrepancyStatus.IN_REVIEW],
            ),
            "open_discrepancies",
        ),
        (SourceFile.objects.filter(run_id__in=ids), "source_file_count"),
    )
    for queryset, name in singles:
        for run_id, n in queryset.order_by().values_list("run_id").annotate(n=Count("*")):
            counts[run_id][name] = n
    periods = (
        Statement.objects.filter(source_file__run_id__in=ids)
        .order_by()
        .values_list("source_file__run_id")
        .annotate(first=Min("period_from"), last=Max("period_to"))
    )
    for run_id, first, last in periods:
        counts[run_id]["period_from"], counts[run_id]["period_to"] = first, last
    return counts


def run_get(*, user: UserLike, run_id: Any) -> Run:
    """The run (404 outside the user's organizations), with its counts."""
    run = _run_or_404(run_list(user=user), run_id)
    run_counts_attach([run])
    return run


def run_scope_get(*, user: UserLike, run_id: Any) -> Run:
    """The run that the lists and actions under it work in (404 outside the user's
    organizations), with only its ledger joined: that is what tenancy and the role check
    read, and every list page pays for this lookup. The run's other relations (account,
    the users who created, closed, approved it) load if a service asks for them; joining
    them all took 1 ms of CPU per request more (half the lookup)."""
    # run_list's tenancy, without its joins.
    runs = run_list(user=user).select_related(None).select_related("ledger")
    return _run_or_404(runs, run_id)


def _run_or_404(runs: QuerySet[Run], run_id: Any) -> Run:
    try:
        return runs.get(pk=run_id)
    except (Run.DoesNotExist, ValueError, TypeError):
        raise NotFound("Run not found.") from None


def _visible(user: UserLike) -> list[Any]:
    return organization_ids(user)


def source_file_list(*, user: UserLike, run: Run) -> QuerySet[SourceFile]:
    return SourceFile.objects.filter(
        run=run, ledger__organization_id__in=_visible(user)
    ).prefetch_related("statements")


def source_entry_list(*, user: UserLike) -> QuerySet[SourceEntry]:
    return SourceEntry.objects.filter(ledger__organization_id__in=_visible(user))


def source_entry_get(*, user: UserLike, entry_id: Any) -> SourceEntry:
    try:
        return source_entry_list(user=user).select_related("ledger").get(pk=entry_id)
    except (SourceEntry.DoesNotExist, ValueError, TypeError):
        raise NotFound("Item not found.") from None


def _with_usernames(matches: QuerySet[Match]) -> QuerySet[Match]:
    """Who created and who decided each match, as `created_by_username` and
    `decided_by_username` (MatchSerializer); its entries come from `match_sides`."""
    from django.contrib.auth import get_user_model

    # Usernames as scalar subqueries, not select_related joins: every match of an
    # auto-match pass shares one created_at, so PostgreSQL estimates a cursor page of
    # (created_at, id) at one row, and with the two user joins it hash-joined and sorted
    # the rest of the run (0.9 s for page 10,000 of a million-match run) instead of
    # reading the (run, created_at, id) index in order. Subqueries in the select list run
    # for the page's rows only and leave that plan alone.
    users = get_user_model().objects
    usernames = {
        f"{field}_username": Subquery(users.filter(pk=OuterRef(f"{field}_id")).values("username"))
        for field in ("created_by", "decided_by")
    }
    # The sides themselves are read per page by `match_sides`, not prefetched: Django's
    # prefetch builds a queryset per match and a model instance per link and entry, most
    # of the CPU of a page of matches.
    return matches.annotate(**usernames)


@dataclass(frozen=True, slots=True)
class MatchSides:
    """A match's entries as plain rows (dicts of the columns the API shows), each side in
    booking-date order."""

    source: list[dict[str, Any]]
    ledger: list[dict[str, Any]]


def match_sides(
    *,
    match_ids: Sequence[uuid.UUID],
    source_columns: Sequence[str],
    ledger_columns: Sequence[str],
) -> dict[uuid.UUID, MatchSides]:
    """Both sides of the given matches in two queries, whatever their number: the named
    columns of each bank entry and GL entry (the caller's fields, e.g. MatchSerializer's)."""
    from reconciliation.models import MatchLedgerLink, MatchSourceLink

    sides = {match_id: MatchSides(source=[], ledger=[]) for match_id in match_ids}
    if not sides:
        return sides
    for link_model, entry, columns, attribute in (
        (MatchSourceLink, "source_entry", source_columns, "source"),
        (MatchLedgerLink, "ledger_entry", ledger_columns, "ledger"),
    ):
        rows = (
            link_model.objects.filter(match_id__in=list(sides))
            .order_by(f"{entry}__booking_date", f"{entry}_id")
            .values_list("match_id", *(f"{entry}__{name}" for name in columns))
        )
        for match_id, *values in rows:
            getattr(sides[match_id], attribute).append(dict(zip(columns, values, strict=True)))
    return sides


def match_list(*, user: UserLike) -> QuerySet[Match]:
    return _with_usernames(
        Match.objects.filter(run__ledger__organization_id__in=_visible(user)).select_related(
            "run__ledger"
        )
    )


# The lists under RUNS/{id}/...: `run` was resolved through the user's organizations
# (run_scope_get), so its children need no second tenancy join. That join also misled the
# planner: it guessed the organization filter would leave a few hundred of the run's rows
# and sorted the whole run instead of reading the (run, booking_date, id) index in order
# (90 ms instead of 1 for a page of a 50,000-entry run).


def run_item_list(*, run: Run) -> QuerySet[SourceEntry]:
    return SourceEntry.objects.filter(run=run).select_related("closed_by")


def run_match_list(*, run: Run) -> QuerySet[Match]:
    return _with_usernames(Match.objects.filter(run=run))


def run_discrepancy_list(*, run: Run) -> QuerySet[Discrepancy]:
    return Discrepancy.objects.filter(run=run).select_related("assigned_to")


def match_get(*, user: UserLike, match_id: Any) -> Match:
    try:
        return match_list(user=user).get(pk=match_id)
    except (Match.DoesNotExist, ValueError, TypeError):
        raise NotFound("Match not found.") from None


def discrepancy_list(*, user: UserLike) -> QuerySet[Discrepancy]:
    return Discrepancy.objects.filter(
        run__ledger__organization_id__in=_visible(user)
    ).select_related("run__ledger", "assigned_to")


def discrepancy_get(*, user: UserLike, discrepancy_id: Any) -> Discrepancy:
    try:
        return discrepancy_list(user=user).get(pk=discrepancy_id)
    except (Discrepancy.DoesNotExist, ValueError, TypeError):
        raise NotFound("Discrepancy not found.") from None


def run_gl_entries(*, run: Run, only_unlinked: bool) -> QuerySet[Any]:
    """GL entries of the run's ledger (and accounts), with their live link, if any.

    gl-only: not linked by a non-rejected match in this or any other run.
    """
    from django.db.models import CharField, Exists, UUIDField

    from ledgers.models import LedgerEntry
    from reconciliation.models import MatchLedgerLink

    qs = LedgerEntry.objects.filter(ledger_id=run.ledger_id)
    if run.account_id:
        qs = qs.filter(run_accounts_q(run))
    live = MatchLedgerLink.objects.filter(ledger_entry_id=OuterRef("pk"), is_active=True)
    if only_unlinked:
        return qs.exclude(Exists(live))
    return qs.annotate(
        link_match_id=Subquery(live.values("match_id")[:1], output_field=UUIDField()),
        link_match_status=Subquery(live.values("match__status")[:1], output_field=CharField()),
        link_run_id=Subquery(live.values("match__run_id")[:1], output_field=UUIDField()),
    )


def run_accounts_q(run: Run, field: str = "account_id") -> Q:
    """A filter on `field` for the accounts a run bound to an account covers: its own and
    those its statements were imported into (services/imports.py, "Accounts"). A subquery,
    so a list costs no extra round trip. Only for runs with an account."""
    others = Statement.objects.filter(source_file__run_id=run.pk, account__isnull=False)
    return Q(**{field: run.account_id}) | Q(**{f"{field}__in": others.values("account_id")})


def run_account_ids(*, run: Run) -> list[uuid.UUID]:
    """The accounts a run covers (`run_accounts_q`), sorted; empty for a run without an
    account, which covers its whole ledger."""
    if not run.account_id:
        return []
    ids = set(
        Statement.objects.filter(source_file__run_id=run.pk, account__isnull=False).values_list(
            "account_id", flat=True
        )
    )
    ids.add(run.account_id)
    return sorted(ids)


# --- the admin's screens ----------------------------------------------------------------------
# Reads of the run page, the review screen and the item page. The admin scopes the object
# itself (TenantAdmin.get_queryset); these take the already-authorised object.


def run_statements(*, run: Run) -> QuerySet[Any]:
    from reconciliation.models import Statement

    return (
        Statement.objects.filter(source_file__run=run)
        .select_related("source_file")
        .order_by("period_from", "source_file__created_at", "pk")
    )


def run_files(*, run: Run) -> QuerySet[SourceFile]:
    return SourceFile.objects.filter(run=run).select_related("created_by").order_by("created_at")


def run_open_discrepancy_count(*, run: Run, severity: str | None = None) -> int:
    qs = Discrepancy.objects.filter(
        run=run, status__in=[DiscrepancyStatus.OPEN, DiscrepancyStatus.IN_REVIEW]
    )
    if severity is not None:
        qs = qs.filter(severity=severity)
    return qs.count()


def audit_events_of(*, run_id: Any = None, subject_ids: Sequence[Any] = ()) -> QuerySet[Any]:
    """Newest first: a run's whole trail (`run_id`), or the events about some objects."""
    from ledgers.models import AuditEvent

    events = AuditEvent.objects.select_related("actor").order_by("-created_at", "-id")
    if run_id is not None:
        return events.filter(run_id=run_id)
    return events.filter(subject_id__in=list(subject_ids))


def match_source_entries(*, match: Match) -> list[SourceEntry]:
    return list(
        SourceEntry.objects.filter(match_links__match=match).order_by("booking_date", "line", "pk")
    )


def match_ledger_entries(*, match: Match) -> list[Any]:
    from ledgers.models import LedgerEntry

    return list(
        LedgerEntry.objects.filter(match_links__match=match)
        .select_related("account")
        .order_by("booking_date", "external_id")
    )


def source_entry_matches(*, entry: SourceEntry) -> QuerySet[Any]:
    from reconciliation.models import MatchSourceLink

    return (
        MatchSourceLink.objects.filter(source_entry=entry)
        .select_related("match")
        .order_by("match__created_at")
    )


def source_entry_discrepancies(*, entry: SourceEntry) -> QuerySet[Discrepancy]:
    return entry.discrepancies.order_by("created_at")


def source_entry_match_ids(*, entry: SourceEntry) -> list[Any]:
    return list(entry.match_links.values_list("match_id", flat=True))


def source_entry_in_live_match(*, entry: SourceEntry) -> bool:
    return entry.match_links.filter(is_active=True).exists()


def ledger_entry_candidates(
    *,
    run: Run,
    currency: str,
    amount: Any,
    tolerance: Any,
    first_day: Any,
    last_day: Any,
    exclude_match: Match | None = None,
) -> QuerySet[Any]:
    """GL entries of the run's ledger (and account, or none) near an amount and a date
    range, each with the live match it is in (if any); accepted ones left out, the
    closest amount first. The review screen's "other candidates" read this."""
    from django.db.models import CharField, F, Q, UUIDField
    from django.db.models.functions import Abs

    from ledgers.models import LedgerEntry
    from reconciliation.models import MatchLedgerLink

    live = MatchLedgerLink.objects.filter(ledger_entry_id=OuterRef("pk"), is_active=True)
    qs = LedgerEntry.objects.filter(
        ledger_id=run.ledger_id,
        currency=currency,
        amount__gte=amount - tolerance,
        amount__lte=amount + tolerance,
        booking_date__gte=first_day,
        booking_date__lte=last_day,
    )
    if exclude_match is not None:
        qs = qs.exclude(match_links__match=exclude_match)
    if run.account_id:
        qs = qs.filter(run_accounts_q(run) | Q(account_id__isnull=True))
    return (
        qs.annotate(
            live_match_id=Subquery(live.values("match_id")[:1], output_field=UUIDField()),
            live_status=Subquery(live.values("match__status")[:1], output_field=CharField()),
            live_score=Subquery(live.values("match__score")[:1], output_field=IntegerField()),
            gap=Abs(F("amount") - amount),
        )
        .exclude(live_status=MatchStatus.ACCEPTED)
        .order_by("gap", "booking_date", "pk")
    )


def suggestion_queue(matches: QuerySet[Match], *, run_id: Any = None) -> QuerySet[Match]:
    """Suggested matches, best score first, then by bank date (the reviewer's queue).

    `matches` must carry the `bank_date` annotation (the first bank entry's date), as the
    match admin's queryset does.
    """
    qs = matches.filter(status=MatchStatus.SUGGESTED)
    if run_id:
        qs = qs.filter(run_id=run_id)
    return qs.order_by("-score", "bank_date", "pk")


# --- the manual-match workbench -----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CandidateSearch:
    """What the reviewer looks for: an amount range, a date range, words. Any may be open."""

    amount_min: Any = None
    amount_max: Any = None
    date_from: Any = None
    date_to: Any = None
    text: str = ""
    include_suggested: bool = True


def _words_q(text: str, fields: Sequence[str]) -> Any:
    from django.db.models import Q

    query = Q()
    for word in text.split()[:8]:
        any_field = Q()
        for name in fields:
            any_field |= Q(**{f"{name}__icontains": word})
        query &= any_field
    return query


BANK_TEXT_FIELDS = (
    "description",
    "counterparty_name",
    "reference",
    "end_to_end_id",
    "creditor_reference",
)


def manual_match_bank_candidates(
    *, run: Run, search: CandidateSearch, selected: Sequence[Any] = ()
) -> QuerySet[SourceEntry]:
    """Items of the run a person can still match: not closed, not in an accepted match.

    Items in a pending suggestion are listed after the free ones (matching them means
    rejecting the suggestion first); the selected ones always stay on the list.
    """
    from django.db.models import Case, Exists, Q, When

    from reconciliation.models import MatchSourceLink

    accepted = MatchSourceLink.objects.filter(
        source_entry_id=OuterRef("pk"), is_active=True, match__status=MatchStatus.ACCEPTED
    )
    suggested = MatchSourceLink.objects.filter(
        source_entry_id=OuterRef("pk"), is_active=True, match__status=MatchStatus.SUGGESTED
    )
    wanted = Q(**_range("amount", search.amount_min, search.amount_max))
    wanted &= Q(**_range("booking_date", search.date_from, search.date_to))
    if search.text:
        wanted &= _words_q(search.text, BANK_TEXT_FIELDS)
    if not search.include_suggested:
        wanted &= ~Exists(suggested)
    qs = (
        SourceEntry.objects.filter(run=run)
        .exclude(match_status=SourceEntryMatchStatus.CLOSED)
        .exclude(Exists(accepted))
        .filter(_or_selected(wanted, selected))
        .annotate(
            in_suggestion=Exists(suggested),
            is_selected=Case(When(pk__in=list(selected), then=Value(0)), default=Value(1)),
        )
    )
    return qs.order_by("is_selected", "in_suggestion", "booking_date", "line", "pk")


def manual_match_gl_candidates(
    *, run: Run, search: CandidateSearch, selected: Sequence[Any] = ()
) -> QuerySet[Any]:
    """GL entries of the run's ledger (and account, or none) a person can still match:
    not in an accepted match; free ones first, then those in a pending suggestion."""
    from django.db.models import Case, Exists, Q, When

    from ledgers.models import LedgerEntry
    from reconciliation.models import MatchLedgerLink

    accepted = MatchLedgerLink.objects.filter(
        ledger_entry_id=OuterRef("pk"), is_active=True, match__status=MatchStatus.ACCEPTED
    )
    suggested = MatchLedgerLink.objects.filter(
        ledger_entry_id=OuterRef("pk"), is_active=True, match__status=MatchStatus.SUGGESTED
    )
    wanted = Q(**_range("amount", search.amount_min, search.amount_max))
    wanted &= Q(**_range("booking_date", search.date_from, search.date_to))
    if search.text:
        wanted &= _words_q(search.text, ("description", "counterparty", "reference", "external_id"))
    if not search.include_suggested:
        wanted &= ~Exists(suggested)
    qs = LedgerEntry.objects.filter(ledger_id=run.ledger_id)
    if run.account_id:
        qs = qs.filter(run_accounts_q(run) | Q(account_id__isnull=True))
    qs = (
        qs.exclude(Exists(accepted))
        .filter(_or_selected(wanted, selected))
        .annotate(
            in_suggestion=Exists(suggested),
            is_selected=Case(When(pk__in=list(selected), then=Value(0)), default=Value(1)),
        )
    )
    return qs.order_by("is_selected", "in_suggestion", "booking_date", "external_id", "pk")


def manual_match_selection(
    *, run: Run, bank_ids: Sequence[Any], gl_ids: Sequence[Any]
) -> tuple[list[SourceEntry], list[Any]]:
    """The ticked items (of this run) and GL entries (of its ledger); others are ignored."""
    from ledgers.models import LedgerEntry

    bank = list(SourceEntry.objects.filter(run=run, pk__in=list(bank_ids)))
    gl = list(LedgerEntry.objects.filter(ledger_id=run.ledger_id, pk__in=list(gl_ids)))
    return bank, gl


def _or_selected(wanted: Any, selected: Sequence[Any]) -> Any:
    """`wanted`, plus the selected rows whatever the search. An empty `wanted` means
    everything: OR-ing an empty Q would keep only the selected rows."""
    from django.db.models import Q

    if not wanted:
        return Q()
    return wanted | Q(pk__in=list(selected))


def _range(name: str, low: Any, high: Any) -> dict[str, Any]:
    bounds = {}
    if low is not None:
        bounds[f"{name}__gte"] = low
    if high is not None:
        bounds[f"{name}__lte"] = high
    return bounds


def open_runs_for_ledger_entry(*, entry: Any, runs: QuerySet[Run]) -> QuerySet[Run]:
    """Runs (of those given, i.e. the user's) where a GL entry can be matched: same ledger,
    covering the entry's account (their own, one their statements went into, or none), not
    closed; newest first."""
    from django.db.models import Q

    from reconciliation.choices import RunStatus

    qs = runs.filter(ledger_id=entry.ledger_id).exclude(status=RunStatus.CLOSED)
    if entry.account_id:
        statements = Statement.objects.filter(account_id=entry.account_id)
        qs = qs.filter(
            Q(account_id=entry.account_id)
            | Q(account_id__isnull=True)
            | Q(pk__in=statements.values("source_file__run_id"))
        )
    return qs.order_by("-created_at", "pk")


def source_entry_labels(ids: set[str]) -> dict[str, str]:
    """'item 2026-11-06 77.00 EUR Gamma Ltd' for each statement item id among `ids`."""
    import uuid

    from ledgers.money import format_amount

    valid = []
    for value in ids:
        try:
            valid.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    rows = SourceEntry.objects.filter(pk__in=valid).values_list(
        "pk", "booking_date", "amount", "currency", "counterparty_name"
    )
    return {
        str(pk): " ".join(
            part
            for part in (f"item {day:%Y-%m-%d}", format_amount(amount, currency), currency, party)
            if part
        )
        for pk, day, amount, currency, party in rows
    }


# --- month-end close (#14): the run's period, label and report inputs ----------------------


def run_account_statements(*, run: Run) -> QuerySet[Any]:
    """The run's statements for its account: those whose account is the account's IBAN,
    or all of the run's statements when none names it (a CSV, an account without IBAN)."""
    from reconciliation.models import Statement

    statements = Statement.objects.filter(source_file__run=run).select_related("source_file")
    iban = run.account.iban if run.account_id and run.account else ""
    if iban:
        own = statements.filter(account_key=iban)
        if own.exists():
            return own
    return statements


def run_latest_statement(*, run: Run) -> Any:
    """The statement that ends last (by `to` date, else closing date, then sequence and
    upload order), or None. Its closing balance is the bank side of the report."""
    from django.db.models import F
    from django.db.models.functions import Coalesce as _Coalesce

    return (
        run_account_statements(run=run)
        .annotate(ends=_Coalesce("period_to", "closing_date"))
        .order_by(
            F("ends").desc(nulls_last=True),
            F("electronic_sequence").desc(nulls_last=True),
            "-source_file__created_at",
            "-index",
        )
        .first()
    )


def run_period_end(*, run: Run) -> tuple[Any, str]:
    """The day the run is judged as of, and where it comes from (#14.4).

    The latest statement's `to` date (`statement_period`), else its closing-balance date
    (`statement_closing_date`: a camt statement without FrToDt still dates its closing
    balance), else the run's creation date (`run_created`). Discrepancy age and the
    report's book balance are measured to this day, so a March statement is judged by
    March's dates, not by today's.
    """
    statement = run_latest_statement(run=run)
    if statement is not None and statement.period_to is not None:
        return statement.period_to, "statement_period"
    if statement is not None and statement.closing_date is not None:
        return statement.closing_date, "statement_closing_date"
    return run.created_at.date(), "run_created"


def run_period(*, run: Run) -> tuple[Any, Any]:
    """(earliest `from`, latest `to`) of the run's statements; (None, None) without any."""
    from django.db.models import Max, Min

    from reconciliation.models import Statement

    span = Statement.objects.filter(source_file__run=run).aggregate(
        first=Min("period_from"), last=Max("period_to")
    )
    return span["first"], span["last"]


def run_display_name(run: Run) -> str:
    """The account's name, else the ledger's: the first half of a run's label."""
    if run.account_id and run.account is not None:
        return run.account.name
    return run.ledger.name


def run_label_of(run: Run) -> str:
    """The run's label (reconciliation.labels.run_label). Uses the period attached by
    `run_counts_attach` when present (list pages), else reads it (one query)."""
    from reconciliation.labels import run_label

    if hasattr(run, "period_to"):
        first, last = getattr(run, "period_from", None), run.period_to
    else:
        first, last = run_period(run=run)
    return run_label(
        name=run_display_name(run), period_from=first, period_to=last, created_at=run.created_at
    )
