from __future__ import annotations

import re
from typing import Any

import django_filters as filters
from django.db.models import Q, QuerySet
from drf_spectacular.utils import extend_schema_field

from ledgers.api.filters import (
    AmountFilter,
    ScoreFilter,
    StrictBooleanFilter,
    StrictFilterSet,
    UTCIsoDateTimeFilter,
    text_filter,
)
from ledgers.choices import ReconciliationStatus
from ledgers.models import AuditEvent, LedgerEntry
from ledgers.money import CURRENCY_CODES
from reconciliation.choices import (
    DiscrepancyKind,
    DiscrepancySeverity,
    DiscrepancyStatus,
    MatchKind,
    MatchShape,
    MatchStatus,
    RunMode,
    RunStatus,
    SourceEntryMatchStatus,
)
from reconciliation.models import Discrepancy, Match, Run, SourceEntry


def _choices(choices: Any) -> filters.MultipleChoiceFilter:
    """`?status=a&status=b` on a column of the listed model itself. django-filter adds
    DISTINCT to multiple-choice filters by default (for filters across to-many
    relations); here it only made PostgreSQL sort whole rows, JSON included, for every
    filtered page (the suggested-matches page: 170 ms instead of a few)."""
    return filters.MultipleChoiceFilter(choices=choices.choices, distinct=False)


class RunFilterSet(StrictFilterSet):
    ledger_id = filters.UUIDFilter(field_name="ledger_id")
    account_id = filters.UUIDFilter(field_name="account_id")
    status = _choices(RunStatus)
    mode = filters.ChoiceFilter(choices=RunMode.choices)
    created_from = UTCIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_to = UTCIsoDateTimeFilter(field_name="created_at", lookup_expr="lte")
    # Plain dates are accepted too: `created_after=2026-11-01` means from that day on.
    created_after = filters.DateFilter(field_name="created_at", lookup_expr="date__gte")
    created_before = filters.DateFilter(field_name="created_at", lookup_expr="date__lte")

    class Meta:
        model = Run
        fields = ["ledger_id", "account_id", "status", "mode"]


class SourceEntryFilterSet(StrictFilterSet):
    match_status = _choices(SourceEntryMatchStatus)
    amount_min = AmountFilter(field_name="amount", lookup_expr="gte")
    amount_max = AmountFilter(field_name="amount", lookup_expr="lte")
    booking_date_from = filters.DateFilter(field_name="booking_date", lookup_expr="gte")
    booking_date_to = filters.DateFilter(field_name="booking_date", lookup_expr="lte")
    currency = filters.ChoiceFilter(choices=[(code, code) for code in CURRENCY_CODES])
    is_reversal = StrictBooleanFilter()
    source_file_id = filters.UUIDFilter(field_name="source_file_id")
    search = text_filter(200, method="filter_search")

    class Meta:
        model = SourceEntry
        fields = ["match_status", "currency", "is_reversal", "source_file_id"]

    def filter_search(
        self, queryset: QuerySet[SourceEntry], name: str, value: str
    ) -> QuerySet[SourceEntry]:
        return queryset.filter(
            Q(reference__icontains=value)
            | Q(description__icontains=value)
            | Q(counterparty_name__icontains=value)
            | Q(bank_reference__icontains=value)
            | Q(end_to_end_id__icontains=value)
            | Q(creditor_reference__icontains=value)
        )


class MatchFilterSet(StrictFilterSet):
    status = _choices(MatchStatus)
    kind = filters.ChoiceFilter(choices=MatchKind.choices)
    shape = filters.ChoiceFilter(choices=MatchShape.choices)
    score_min = ScoreFilter(field_name="score", lookup_expr="gte")
    score_max = ScoreFilter(field_name="score", lookup_expr="lte")
    is_ambiguous = StrictBooleanFilter()

    class Meta:
        model = Match
        fields = ["status", "kind", "shape", "is_ambiguous"]


# `me` or a user id; at most 9 digits, so an id never overflows the integer column.
ASSIGNEE_PATTERN = r"^(me|[1-9][0-9]{0,8})$"


class DiscrepancyFilterSet(StrictFilterSet):
    status = _choices(DiscrepancyStatus)
    severity = _choices(DiscrepancySeverity)
    kind = _choices(DiscrepancyKind)
    assignee = filters.CharFilter(
        method="filter_assignee",
        max_length=20,
        help_text="(ext) `me` (the caller's) or a user id: the discrepancies assigned to them.",
    )

    class Meta:
        model = Discrepancy
        fields = ["status", "severity", "kind"]

    @extend_schema_field({"type": "string", "pattern": ASSIGNEE_PATTERN})
    def filter_assignee(
        self, queryset: QuerySet[Discrepancy], name: str, value: str
    ) -> QuerySet[Discrepancy]:
        from rest_framework.exceptions import ValidationError

        if value == "me":
            return queryset.filter(assigned_to_id=self.request.user.pk)
        if not re.fullmatch(ASSIGNEE_PATTERN, value):
            raise ValidationError({"assignee": ["Use `me` or a user id."]})
        return queryset.filter(assigned_to_id=int(value))


class RunGlFilterSet(StrictFilterSet):
    booking_date_from = filters.DateFilter(field_name="booking_date", lookup_expr="gte")
    booking_date_to = filters.DateFilter(field_name="booking_date", lookup_expr="lte")
    amount_min = AmountFilter(field_name="amount", lookup_expr="gte")
    amount_max = AmountFilter(field_name="amount", lookup_expr="lte")
    reconciliation_status = filters.ChoiceFilter(choices=ReconciliationStatus.choices)
    search = text_filter(200, method="filter_search")

    class Meta:
        model = LedgerEntry
        fields = ["reconciliation_status"]

    def filter_search(
        self, queryset: QuerySet[LedgerEntry], name: str, value: str
    ) -> QuerySet[LedgerEntry]:
        return queryset.filter(
            Q(reference__icontains=value)
            | Q(description__icontains=value)
            | Q(counterparty__icontains=value)
            | Q(external_id__icontains=value)
        )


class AuditEventFilterSet(StrictFilterSet):
    action = text_filter(64)
    subject_type = text_filter(32)
    subject_id = filters.UUIDFilter()

    class Meta:
        model = AuditEvent
        fields = ["action", "subject_type", "subject_id"]
