"""Tenant-scoped reads of the reconciliation app."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.core.cache import cache
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
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


def run_list(*, user: UserLike) -> QuerySet[Run]:
    """The user's runs, without counts: `run_counts_attach` adds them to a page."""
    return Run.objects.filter(ledger__organization_id__in=organization_ids(user)).select_related(
        "ledger", "created_by"
    )


RUN_COUNT_NAMES = (
    *(f"items_{status}" for status in SourceEntryMatchStatus.values),
    *(f"matches_{status}" for status in MatchStatus.values),
    "open_discrepancies",
    "source_file_count",
)


def run_counts_attach(runs: Sequence[Run]) -> None:
    """Set the counts API.md puts on a run (`items_<status>`, `matches_<status>`,
    `open_discrepancies`, `source_file_count`) on each run of a page: four GROUP BY queries
    whatever the page size.

    One grouped scan per table, not one correlated count per status: on a million-entry
    run the subqueries rescanned the run's entries once per status (1.2 s for one run),
    where a grouped index-only scan of (run, match_status) reads it once (130 ms). The
    result is cached under the run's `counts_version`, which `run_audit` bumps with every
    change, so only the first view after a change pays for the scan.
    """
    if not runs:
        return
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
    return counts


def run_get(*, user: UserLike, run_id: Any, with_counts: bool = True) -> Run:
    """The run (404 outside the user's organizations), with its counts unless
    `with_counts=False`: the child lists and actions under a run need only the run."""
    try:
        run = run_list(user=user).get(pk=run_id)
    except (Run.DoesNotExist, ValueError, TypeError):
        raise NotFound("Run not found.") from None
    if with_counts:
        run_counts_attach([run])
    return run


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


def _with_sides(matches: QuerySet[Match]) -> QuerySet[Match]:
    """Both sides' entries prefetched: a page costs a fixed number of queries."""
    from django.contrib.auth import get_user_model
    from django.db.models import Prefetch

    from reconciliation.models import MatchLedgerLink, MatchSourceLink

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
    return matches.annotate(**usernames).prefetch_related(
        Prefetch(
            "source_links",
            queryset=MatchSourceLink.objects.select_related("source_entry").order_by(
                "source_entry__booking_date", "source_entry_id"
            ),
        ),
        Prefetch(
            "ledger_links",
            queryset=MatchLedgerLink.objects.select_related("ledger_entry").order_by(
                "ledger_entry__booking_date", "ledger_entry_id"
            ),
        ),
    )


def match_list(*, user: UserLike) -> QuerySet[Match]:
    return _with_sides(
        Match.objects.filter(run__ledger__organization_id__in=_visible(user)).select_related(
            "run__ledger"
        )
    )


# The lists under RUNS/{id}/...: `run` was resolved through the user's organizations
# (run_get), so its children need no second tenancy join. That join also misled the
# planner: it guessed the organization filter would leave a few hundred of the run's rows
# and sorted the whole run instead of reading the (run, booking_date, id) index in order
# (90 ms instead of 1 for a page of a 50,000-entry run).


def run_item_list(*, run: Run) -> QuerySet[SourceEntry]:
    return SourceEntry.objects.filter(run=run).select_related("closed_by")


def run_match_list(*, run: Run) -> QuerySet[Match]:
    return _with_sides(Match.objects.filter(run=run))


def run_discrepancy_list(*, run: Run) -> QuerySet[Discrepancy]:
    return Discrepancy.objects.filter(run=run)


def match_get(*, user: UserLike, match_id: Any) -> Match:
    try:
        return match_list(user=user).get(pk=match_id)
    except (Match.DoesNotExist, ValueError, TypeError):
        raise NotFound("Match not found.") from None


def discrepancy_list(*, user: UserLike) -> QuerySet[Discrepancy]:
    return Discrepancy.objects.filter(
        run__ledger__organization_id__in=_visible(user)
    ).select_related("run__ledger")


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
