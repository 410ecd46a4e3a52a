from __future__ import annotations

from typing import Any

from rest_framework import serializers

from ledgers.api.fields import AmountField, NonNegativeAmountField, PercentField, StrictFieldsMixin
from ledgers.api.lean import LeanListSerializer
from ledgers.choices import ReconciliationStatus
from ledgers.models import Account, AuditEvent, Ledger, LedgerEntry
from ledgers.money import CURRENCY_CODES, is_known_currency


class CurrencyField(serializers.ChoiceField):
    """An ISO 4217 code the money module knows; the schema lists them (enum `CurrencyEnum`),
    so a client and the server agree on `EUR` yes, `eur`/`000`/`XXY` no."""

    default_error_messages = {"invalid": "Unknown ISO 4217 currency code {input!r}."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=CURRENCY_CODES, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str) or not is_known_currency(data):
            self.fail("invalid", input=str(data)[:8])
        return data


class LedgerSerializer(serializers.ModelSerializer[Ledger]):
    organization_id = serializers.UUIDField(read_only=True)
    amount_tolerance_abs = AmountField(read_only=True)
    reference_tolerance_abs = AmountField(read_only=True)

    class Meta:
        model = Ledger
        fields = [
            "id",
            "organization_id",
            "name",
            "currency",
            "date_window_days",
            "amount_tolerance_abs",
            "amount_tolerance_pct",
            "reference_tolerance_abs",
            "reference_tolerance_pct",
            "reference_window_days",
            "auto_accept_threshold",
            "created_at",
        ]
        read_only_fields = fields


class LedgerSettingsInputSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    """The matching settings of a ledger (all optional; windows count business days)."""

    date_window_days = serializers.IntegerField(
        min_value=0,
        max_value=60,
        required=False,
        help_text="Business days (Mon-Fri) a bank and a GL date may lie apart.",
    )
    amount_tolerance_abs = NonNegativeAmountField(
        required=False,
        help_text="Any difference up to this is a candidate when the pair shares a "
        "reference, IBAN or name (0 on a new ledger). Never auto-accepted.",
    )
    amount_tolerance_pct = PercentField(
        required=False, help_text="The same as a percentage of the bank amount."
    )
    reference_tolerance_abs = NonNegativeAmountField(
        required=False,
        help_text="A pair sharing a reference (end-to-end id, creditor reference, invoice "
        "number) may differ by at most this (a bank fee; 25.00 by default) and at most "
        "reference_tolerance_pct. Suggested only. 0 switches it off.",
    )
    reference_tolerance_pct = PercentField(
        required=False,
        help_text="At most this percentage of the bank amount (2 by default); see "
        "reference_tolerance_abs.",
    )
    reference_window_days = serializers.IntegerField(
        min_value=0,
        max_value=60,
        required=False,
        help_text="Business days a split's instalment quoting the invoice may lie from it "
        "(10 by default).",
    )
    auto_accept_threshold = serializers.IntegerField(min_value=0, max_value=100, required=False)


class LedgerCreateInputSerializer(LedgerSettingsInputSerializer):
    name = serializers.CharField(max_length=200)
    currency = CurrencyField()
    organization_id = serializers.UUIDField(required=False)


class LedgerUpdateInputSerializer(LedgerSettingsInputSerializer):
    """PATCH: the name and the matching settings; the currency never changes."""

    name = serializers.CharField(max_length=200, required=False)


class AccountSerializer(serializers.ModelSerializer[Account]):
    ledger_id = serializers.UUIDField(read_only=True)
    opening_balance = AmountField(
        read_only=True,
        help_text="(ext) The book balance carried in before the GL entries held here, as "
        "of the start of `opening_balance_date`. The reconciliation report's book balance at "
        "T is this plus the account's GL entries dated `opening_balance_date`..T.",
    )
    unreconciled_count = serializers.IntegerField(read_only=True)
    unmatched_item_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Account
        fields = [
            "id",
            "ledger_id",
            "name",
            "code",
            "currency",
            "iban",
            "opening_balance",
            "opening_balance_date",
            "unreconciled_count",
            "unmatched_item_count",
            "created_at",
        ]
        read_only_fields = fields


class AccountCreateInputSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    ledger_id = serializers.UUIDField()
    name = serializers.CharField(max_length=200)
    code = serializers.CharField(max_length=64)
    currency = CurrencyField()
    iban = serializers.CharField(max_length=42, required=False, allow_blank=True, default="")
    opening_balance = AmountField(
        required=False,
        help_text="(ext) Book balance carried in (decimal string, default 0), as of the start "
        "of `opening_balance_date`.",
    )
    opening_balance_date = serializers.DateField(
        required=False,
        allow_null=True,
        help_text="(ext) The day the opening balance is at (GL entries before it are left "
        "out of the report's book balance); null: the balance precedes every GL entry.",
    )


class LedgerEntrySerializer(serializers.ModelSerializer[LedgerEntry]):
    ledger_id = serializers.UUIDField(read_only=True)
    account_id = serializers.UUIDField(read_only=True, allow_null=True)
    amount = AmountField(read_only=True)

    class Meta:
        model = LedgerEntry
        list_serializer_class = LeanListSerializer
        fields = [
            "id",
            "ledger_id",
            "account_id",
            "external_id",
            "amount",
            "currency",
            "booking_date",
            "value_date",
            "reference",
            "description",
            "counterparty",
            "reconciliation_status",
            "created_at",
        ]
        read_only_fields = fields


class LedgerEntryInputSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    external_id = serializers.CharField(max_length=128)
    amount = AmountField()
    currency = CurrencyField()
    booking_date = serializers.DateField()
    value_date = serializers.DateField(required=False, allow_null=True, default=None)
    account_id = serializers.UUIDField(required=False, allow_null=True, default=None)
    reference = serializers.CharField(max_length=256, required=False, allow_blank=True, default="")
    description = serializers.CharField(
        max_length=4000, required=False, allow_blank=True, default=""
    )
    counterparty = serializers.CharField(
        max_length=256, required=False, allow_blank=True, default=""
    )


class LedgerEntriesCreatedSerializer(serializers.Serializer[Any]):
    created = serializers.IntegerField()
    existing = serializers.IntegerField()
    results = LedgerEntrySerializer(many=True)


class AuditEventSerializer(serializers.ModelSerializer[AuditEvent]):
    actor = serializers.CharField(
        source="actor.username", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "action",
            "subject_type",
            "subject_id",
            "run_id",
            "ledger_id",
            "actor",
            "before",
            "after",
            "note",
            "created_at",
        ]
        read_only_fields = fields


class AuthTokenInputSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False)


class AuthTokenSerializer(serializers.Serializer[Any]):
    token = serializers.CharField()


RECONCILIATION_STATUS_CHOICES = ReconciliationStatus.choices
