"""Tenant-scoped reads of the reconciliation app."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from ledgers.exceptions import NotFound
from ledgers.selectors import UserLike, organization_ids
from reconciliation.choices import DiscrepancyStatus, MatchStatus, SourceEntryMatchStatus
from reconciliation.models import Discrepancy, Match, Run, SourceEntry, SourceFile


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
    """Annotate the counts API.md puts on a run, as subqueries: one query per page."""
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
    return with_run_counts(
        Run.objects.filter(ledger__organization_id__in=organization_ids(user)).select_related(
            "ledger", "created_by"
        )
    )


def run_get(*, user: UserLike, run_id: Any) -> Run:
    try:
        return run_list(user=user).get(pk=run_id)
    except (Run.DoesNotExist, ValueError, TypeError):
        raise NotFound("Run not found.") from None
