from __future__ import annotations

import django_filters as filters

from ledgers.choices import ReconciliationStatus
from ledgers.models import Account, LedgerEntry


class AccountFilterSet(filters.FilterSet):
    ledger_id = filters.UUIDFilter(field_name="ledger_id")

    class Meta:
        model = Account
        fields = ["ledger_id"]


class LedgerEntryFilterSet(filters.FilterSet):
    account_id = filters.UUIDFilter(field_name="account_id")
    booking_date_from = filters.DateFilter(field_name="booking_date", lookup_expr="gte")
    booking_date_to = filters.DateFilter(field_name="booking_date", lookup_expr="lte")
    reconciliation_status = filters.ChoiceFilter(choices=ReconciliationStatus.choices)
    amount_min = filters.NumberFilter(field_name="amount", lookup_expr="gte")
    amount_max = filters.NumberFilter(field_name="amount", lookup_expr="lte")
    external_id = filters.CharFilter(field_name="external_id")

    class Meta:
        model = LedgerEntry
        fields = ["account_id", "reconciliation_status", "external_id"]
