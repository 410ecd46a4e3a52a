from __future__ import annotations

import django_filters as filters

from reconciliation.choices import RunMode, RunStatus
from reconciliation.models import Run


class RunFilterSet(filters.FilterSet):
    ledger_id = filters.UUIDFilter(field_name="ledger_id")
    account_id = filters.UUIDFilter(field_name="account_id")
    status = filters.MultipleChoiceFilter(choices=RunStatus.choices)
    mode = filters.ChoiceFilter(choices=RunMode.choices)
    created_from = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_to = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")
    # Plain dates are accepted too: `created_after=2026-11-01` means from that day on.
    created_after = filters.DateFilter(field_name="created_at", lookup_expr="date__gte")
    created_before = filters.DateFilter(field_name="created_at", lookup_expr="date__lte")

    class Meta:
        model = Run
        fields = ["ledger_id", "account_id", "status", "mode"]
