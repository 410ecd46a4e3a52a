from __future__ import annotations

from typing import Any

from rest_framework import serializers

from ledgers.api.fields import AmountField, StrictFieldsMixin
from reconciliation.choices import MatchStatus, RunMode, RunSourceType, SourceEntryMatchStatus
from reconciliation.models import Run


class RunMatchSettingsSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    date_window_days = serializers.IntegerField(min_value=0, max_value=60, required=False)
    amount_tolerance_abs = AmountField(required=False)
    amount_tolerance_pct = serializers.DecimalField(
        max_digits=7, decimal_places=4, min_value=0, max_value=100, required=False
    )
    auto_accept_threshold = serializers.IntegerField(min_value=0, max_value=100, required=False)

    def validate_amount_tolerance_abs(self, value: Any) -> Any:
        if value < 0:
            raise serializers.ValidationError("Must not be negative.")
        return value


class RunCreateInputSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    ledger_id = serializers.UUIDField()
    mode = serializers.ChoiceField(choices=RunMode.choices, default=RunMode.MANUAL)
    source_type = serializers.ChoiceField(
        choices=RunSourceType.choices, default=RunSourceType.UPLOAD
    )
    idempotency_key = serializers.CharField(max_length=255, required=False)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    account_id = serializers.UUIDField(required=False, allow_null=True, default=None)
    match_settings = RunMatchSettingsSerializer(required=False)


class RunUpdateInputSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    note = serializers.CharField(max_length=2000, allow_blank=True)


class RunCloseInputSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class _CountsByItemStatus(serializers.Serializer[Any]):
    unmatched = serializers.IntegerField()
    matched = serializers.IntegerField()
    partial = serializers.IntegerField()
    closed = serializers.IntegerField()


class _CountsByMatchStatus(serializers.Serializer[Any]):
    suggested = serializers.IntegerField()
    accepted = serializers.IntegerField()
    rejected = serializers.IntegerField()


class RunCountsSerializer(serializers.Serializer[Any]):
    """Counts read from the selector's annotations (no extra queries)."""

    items = _CountsByItemStatus()
    matches = _CountsByMatchStatus()
    open_discrepancies = serializers.IntegerField()
    source_files = serializers.IntegerField()

    def to_representation(self, run: Run) -> dict[str, Any]:
        return {
            "items": {
                status: getattr(run, f"items_{status}", 0)
                for status in SourceEntryMatchStatus.values
            },
            "matches": {
                status: getattr(run, f"matches_{status}", 0) for status in MatchStatus.values
            },
            "open_discrepancies": getattr(run, "open_discrepancies", 0),
            "source_files": getattr(run, "source_file_count", 0),
        }


class RunSerializer(serializers.ModelSerializer[Run]):
    ledger_id = serializers.UUIDField(read_only=True)
    account_id = serializers.UUIDField(read_only=True, allow_null=True)
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)
    counts = RunCountsSerializer(source="*", read_only=True)

    class Meta:
        model = Run
        fields = [
            "id",
            "ledger_id",
            "account_id",
            "mode",
            "source_type",
            "status",
            "note",
            "idempotency_key",
            "match_settings",
            "counts",
            "error",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "closed_at",
        ]
        read_only_fields = fields
