"""Design overview: tenants, ledgers and the general-ledger side of reconciliation.

- `Organization` is the tenant. A user reaches data only through a `Membership` carrying a
  role (viewer < reviewer < admin). Every other row hangs off an organization, directly or
  through its ledger, so tenancy is one join away for every selector.
- `Ledger` owns `Account`s (bank accounts, each with one currency and an optional IBAN)
  and `LedgerEntry` rows (GL entries). `external_id` is unique per ledger: it is the
  integrator's idempotency handle for bulk pushes.
- Amounts are signed Decimals, + = money into the bank account (a debit to an asset
  account), - = money out; one column size for all money (ledgers.money).
- `AuditEvent` is append-only and keeps plain ids (not foreign keys) for what it describes,
  so the record of a deleted run survives its run.
- `IdempotencyRecord` stores the first response to a keyed request for replay.
- `ApiToken` holds API credentials as SHA-256 hashes with an expiry; `LoginThrottle`
  counts failed logins per username and per client address for every process at once.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone

from ledgers import ids
from ledgers.choices import (
    IdempotencyState,
    LoginThrottleScope,
    MembershipRole,
    ReconciliationStatus,
)
from ledgers.money import AMOUNT_DECIMAL_PLACES, AMOUNT_MAX_DIGITS

CURRENCY_REGEX = r"^[A-Z]{3}$"


# Time-ordered keys (see ledgers/ids.py); migrations refer to `ledgers.models.new_id`.
new_id = ids.new_id


def amount_field(**kwargs: Any) -> models.DecimalField[Any, Any]:
    return models.DecimalField(
        max_digits=AMOUNT_MAX_DIGITS, decimal_places=AMOUNT_DECIMAL_PLACES, **kwargs
    )


def currency_check(name: str, field: str = "currency") -> models.CheckConstraint:
    return models.CheckConstraint(condition=Q(**{f"{field}__regex": CURRENCY_REGEX}), name=name)


class Organization(models.Model):
    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    name = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=MembershipRole.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="membership_unique"),
            models.CheckConstraint(
                condition=Q(role__in=MembershipRole.values), name="membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.organization} ({self.role})"


class Ledger(models.Model):
    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="ledgers")
    name = models.CharField(max_length=200)
    currency = models.CharField(max_length=3)
    # Matching settings (DESIGN.md §2; reconciliation.matching.types.MatchSettings says
    # what each means); a run may override them. Windows count business days.
    date_window_days = models.PositiveSmallIntegerField(default=3)
    amount_tolerance_abs = amount_field(default=0)
    amount_tolerance_pct = models.DecimalField(max_digits=7, decimal_places=4, default=0)
    # The fee a shared reference lets through: at most this percentage and this amount.
    reference_tolerance_pct = models.DecimalField(
        max_digits=7, decimal_places=4, default=Decimal("2")
    )
    reference_tolerance_abs = amount_field(default=Decimal("25"))
    # How far a split's instalment that quotes its invoice may lie from it.
    reference_window_days = models.PositiveSmallIntegerField(default=10)
    auto_accept_threshold = models.PositiveSmallIntegerField(default=90)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="ledger_name_unique"),
            currency_check("ledger_currency_iso"),
            models.CheckConstraint(
                condition=Q(auto_accept_threshold__lte=100), name="ledger_threshold_range"
            ),
            models.CheckConstraint(
                condition=Q(amount_tolerance_abs__gte=0, amount_tolerance_pct__gte=0),
                name="ledger_tolerance_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(
                    reference_tolerance_abs__gte=0,
                    reference_tolerance_pct__gte=0,
                    reference_tolerance_pct__lte=100,
                ),
                name="ledger_reference_tolerance_range",
            ),
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Account(models.Model):
    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    ledger = models.ForeignKey(Ledger, on_delete=models.CASCADE, related_name="accounts")
    name = models.CharField(max_length=200)
    code = models.CharField(max_length=64)
    currency = models.CharField(max_length=3)
    iban = models.CharField(max_length=34, blank=True, default="")
    # The book balance before the first GL entry the service holds (the balance carried
    # in from the previous system or period): book balance at T = opening_balance + the
    # account's GL entries dated opening_balance_date..T (all up to T when no date).
    opening_balance = amount_field(default=0)
    opening_balance_date = models.DateField(null=True, blank=True)
    # A CSV column mapping saved from an upload, reused for the next file of this account.
    csv_mapping = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ledger", "code"], name="account_code_unique"),
            currency_check("account_currency_iso"),
        ]
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class LedgerEntry(models.Model):
    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    # ledger and account get no single-column index: the composite indexes and the
    # external_id constraint below lead with them, and a ledger of millions of GL entries
    # pays every index on each import and each status update.
    ledger = models.ForeignKey(
        Ledger, on_delete=models.CASCADE, related_name="entries", db_index=False
    )
    account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        related_name="entries",
        null=True,
        blank=True,
        db_index=False,
    )
    external_id = models.CharField(max_length=128)
    amount = amount_field()
    currency = models.CharField(max_length=3)
    booking_date = models.DateField()
    value_date = models.DateField(null=True, blank=True)
    reference = models.CharField(max_length=256, blank=True, default="")
    description = models.TextField(blank=True, default="")
    counterparty = models.CharField(max_length=256, blank=True, default="")
    reconciliation_status = models.CharField(
        max_length=16,
        choices=ReconciliationStatus.choices,
        default=ReconciliationStatus.UNRECONCILED,
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "GL entry"
        verbose_name_plural = "GL entries"
        constraints = [
            models.UniqueConstraint(
                fields=["ledger", "external_id"], name="ledger_entry_external_id_unique"
            ),
            currency_check("ledger_entry_currency_iso"),
            models.CheckConstraint(
                condition=Q(reconciliation_status__in=ReconciliationStatus.values),
                name="ledger_entry_status_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["ledger", "booking_date", "id"], name="ledger_entry_ledger_date"),
            # reconciliation_status is in no index, so the auto-match pass's status flips
            # are HOT updates (see migration 0007_perf_hot_status); the account's GL
            # entries are found in date order, as the lists and the matcher read them.
            models.Index(
                fields=["account", "booking_date", "id"], name="ledger_entry_account_date"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.external_id} {self.amount} {self.currency}"


class AuditEvent(models.Model):
    """Append-only record of a state change. Never updated or deleted by the application."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="audit_events"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="audit_events",
    )
    action = models.CharField(max_length=64)  # "run.created", "match.accepted", ...
    subject_type = models.CharField(max_length=32)  # "run", "match", "source_entry", ...
    subject_id = models.UUIDField()
    # Plain ids, not foreign keys: events outlive the run they describe.
    run_id = models.UUIDField(null=True, blank=True)
    ledger_id = models.UUIDField(null=True, blank=True)
    before = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    after = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["run_id", "created_at"], name="audit_event_run"),
            models.Index(fields=["subject_type", "subject_id"], name="audit_event_subject"),
        ]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.action} {self.subject_type}:{self.subject_id}"


class IdempotencyRecord(models.Model):
    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    state = models.CharField(
        max_length=16, choices=IdempotencyState.choices, default=IdempotencyState.IN_PROGRESS
    )
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "key"], name="idempotency_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.organization_id}:{self.key}"


class ApiToken(models.Model):
    """An API credential. Only the SHA-256 of the key is stored: a copy of the database
    does not log anyone in. A user holds any number (one per login or minted client), each
    with its own expiry, and revoking one leaves the others working."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    key_hash = models.CharField(max_length=64, unique=True)
    # The first characters of the key, so a person can tell their tokens apart.
    prefix = models.CharField(max_length=12)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    # Written at most once per API_TOKEN_LAST_USED_RESOLUTION, not on every request.
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "expires_at"], name="api_token_user_expiry")]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("created_at")), name="api_token_expiry_after"
            )
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user_id})"


class LoginThrottle(models.Model):
    """Failed logins per username and per client address, shared by every web process.

    `key` is a SHA-256 (of the username as typed, or of the address / IPv6 /64), so the
    table never holds what someone typed into the username field, which is sometimes a
    password. A row is a counter with a lock: `locked_until` is set once `failures`
    reaches the threshold and grows exponentially with each further failure.
    """

    id = models.BigAutoField(primary_key=True)
    scope = models.CharField(max_length=16, choices=LoginThrottleScope.choices)
    key = models.CharField(max_length=64)
    failures = models.PositiveIntegerField(default=0)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="login_throttle_unique"),
            models.CheckConstraint(
                condition=Q(scope__in=LoginThrottleScope.values), name="login_throttle_scope_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key[:12]} ({self.failures})"
