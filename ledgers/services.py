"""Writes for tenants, ledgers, accounts, GL entries and the audit trail."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from rest_framework.authtoken.models import Token

from ledgers.choices import MembershipRole
from ledgers.exceptions import Conflict, Invalid
from ledgers.models import Account, AuditEvent, Ledger, LedgerEntry, Membership, Organization
from ledgers.money import format_amount, is_known_currency

User = get_user_model()


def audit_event_record(
    *,
    actor: AbstractBaseUser | None,
    organization_id: uuid.UUID,
    action: str,
    subject_type: str,
    subject_id: uuid.UUID,
    run_id: uuid.UUID | None = None,
    ledger_id: uuid.UUID | None = None,
    before: Any = None,
    after: Any = None,
    note: str = "",
) -> AuditEvent:
    """Append one audit event. Call inside the transaction of the change it records."""
    return AuditEvent.objects.create(
        organization_id=organization_id,
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        run_id=run_id,
        ledger_id=ledger_id,
        before=before,
        after=after,
        note=note,
    )


def validate_currency(currency: str, *, attr: str = "currency") -> str:
    if not is_known_currency(currency):
        raise Invalid(f"Unknown ISO 4217 currency {currency!r}.", attr=attr)
    return currency


def iban_is_valid(iban: str) -> bool:
    """ISO 13616 check: country code, check digits, mod-97 == 1."""
    compact = iban.replace(" ", "").upper()
    if not (15 <= len(compact) <= 34) or not compact[:2].isalpha() or not compact[2:4].isdigit():
        return False
    if not compact.isalnum():
        return False
    digits = "".join(str(int(ch, 36)) for ch in compact[4:] + compact[:4])
    return int(digits) % 97 == 1


@transaction.atomic
def organization_create(*, name: str) -> Organization:
    return Organization.objects.create(name=name)


@transaction.atomic
def membership_set(*, user: AbstractBaseUser, organization: Organization, role: str) -> Membership:
    from ledgers.permissions import user_sync_group

    membership, _ = Membership.objects.update_or_create(
        user=user, organization=organization, defaults={"role": role}
    )
    user_sync_group(
        user=user, roles=list(Membership.objects.filter(user=user).values_list("role", flat=True))
    )
    return membership


def token_for(*, user: AbstractBaseUser) -> str:
    token, _ = Token.objects.get_or_create(user=user)
    return token.key


@transaction.atomic
def user_setup(
    *, username: str, organization_name: str, role: str, password: str | None, staff: bool
) -> tuple[AbstractBaseUser, Organization, str]:
    """Create or update a user, its organization and role; return the user's API token."""
    if role not in MembershipRole.values:
        raise Invalid(f"Unknown role {role!r}.", attr="role")
    organization, _ = Organization.objects.get_or_create(name=organization_name)
    user, created = User.objects.get_or_create(username=username)
    if password is not None:
        user.set_password(password)
    elif created:
        user.set_unusable_password()
    user.is_staff = staff or user.is_staff
    user.save()
    membership_set(user=user, organization=organization, role=role)
    return user, organization, token_for(user=user)


@transaction.atomic
def ledger_create(
    *,
    organization: Organization,
    name: str,
    currency: str,
    actor: AbstractBaseUser | None,
    **match_settings: Any,
) -> Ledger:
    validate_currency(currency)
    if Ledger.objects.filter(organization=organization, name=name).exists():
        raise Conflict(f"A ledger named {name!r} exists already.", code="duplicate", attr="name")
    ledger = Ledger.objects.create(
        organization=organization, name=name, currency=currency, **match_settings
    )
    audit_event_record(
        actor=actor,
        organization_id=organization.pk,
        action="ledger.created",
        subject_type="ledger",
        subject_id=ledger.pk,
        ledger_id=ledger.pk,
        after={"name": name, "currency": currency},
    )
    return ledger


# Settings a ledger update may change, with how to compare and record them.
LEDGER_SETTINGS: tuple[str, ...] = (
    "date_window_days",
    "amount_tolerance_abs",
    "amount_tolerance_pct",
    "reference_tolerance_abs",
    "reference_tolerance_pct",
    "reference_window_days",
    "auto_accept_threshold",
)


@transaction.atomic
def ledger_update(*, ledger: Ledger, actor: AbstractBaseUser | None, **changes: Any) -> Ledger:
    """Rename a ledger or change its matching settings (`LEDGER_SETTINGS`).

    Only the fields given change; the audit event records each changed field before and
    after (money and percentages as decimal strings). A new name taken by another ledger
    of the organization is a Conflict `duplicate`. Runs matched already keep their
    matches: the settings apply to the next auto-match.
    """
    unknown = sorted(set(changes) - {"name", *LEDGER_SETTINGS})
    if unknown:
        raise Invalid(f"Unknown ledger fields: {', '.join(unknown)}.", attr=unknown[0])
    ledger = Ledger.objects.select_for_update().get(pk=ledger.pk)
    name = changes.get("name")
    if (
        name is not None
        and name != ledger.name
        and Ledger.objects.filter(organization_id=ledger.organization_id, name=name).exists()
    ):
        raise Conflict(f"A ledger named {name!r} exists already.", code="duplicate", attr="name")
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for field, value in changes.items():
        current = getattr(ledger, field)
        if current != value:
            before[field] = _audit_value(current)
            after[field] = _audit_value(value)
            setattr(ledger, field, value)
    if after:
        ledger.save(update_fields=list(after))
        audit_event_record(
            actor=actor,
            organization_id=ledger.organization_id,
            action="ledger.updated",
            subject_type="ledger",
            subject_id=ledger.pk,
            ledger_id=ledger.pk,
            before=before,
            after=after,
        )
    return ledger


def _audit_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return value


@transaction.atomic
def account_create(
    *,
    ledger: Ledger,
    name: str,
    code: str,
    currency: str,
    iban: str = "",
    actor: AbstractBaseUser | None,
) -> Account:
    validate_currency(currency)
    iban = iban.replace(" ", "").upper()
    if iban and not iban_is_valid(iban):
        raise Invalid("IBAN check digits do not match.", code="invalid_iban", attr="iban")
    if Account.objects.filter(ledger=ledger, code=code).exists():
        raise Conflict(
            f"An account with code {code!r} exists already.", code="duplicate", attr="code"
        )
    account = Account.objects.create(
        ledger=ledger, name=name, code=code, currency=currency, iban=iban
    )
    audit_event_record(
        actor=actor,
        organization_id=ledger.organization_id,
        action="account.created",
        subject_type="account",
        subject_id=account.pk,
        ledger_id=ledger.pk,
        after={"name": name, "code": code, "currency": currency},
    )
    return account


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerEntryInput:
    external_id: str
    amount: Decimal
    currency: str
    booking_date: date
    value_date: date | None = None
    account_id: uuid.UUID | None = None
    reference: str = ""
    description: str = ""
    counterparty: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerEntriesResult:
    entries: list[LedgerEntry]  # in input order: new and already-present alike
    created: int
    existing: int


_COMPARED = (
    "amount",
    "currency",
    "booking_date",
    "value_date",
    "account_id",
    "reference",
    "description",
    "counterparty",
)


def _differs(entry: LedgerEntry, item: LedgerEntryInput) -> list[str]:
    return [name for name in _COMPARED if getattr(entry, name) != getattr(item, name)]


def ledger_entries_create(
    *, ledger: Ledger, items: Sequence[LedgerEntryInput], actor: AbstractBaseUser | None
) -> LedgerEntriesResult:
    """Create GL entries, all or nothing, idempotent on `external_id`.

    A repeated external_id with the same content is returned as existing (a retried push);
    the same external_id with different content is a Conflict naming it, and nothing is
    written. A concurrent push of the same ids loses the unique-constraint race and is
    retried once, when it sees the winner's rows as existing.
    """
    try:
        return _ledger_entries_create(ledger=ledger, items=items, actor=actor)
    except IntegrityError:
        return _ledger_entries_create(ledger=ledger, items=items, actor=actor)


@transaction.atomic
def _ledger_entries_create(
    *, ledger: Ledger, items: Sequence[LedgerEntryInput], actor: AbstractBaseUser | None
) -> LedgerEntriesResult:
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        if item.external_id in seen:
            raise Invalid(
                f"external_id {item.external_id!r} appears twice in this request "
                f"(items {seen[item.external_id]} and {index}).",
                code="duplicate_external_id",
                attr=f"{index}.external_id",
            )
        seen[item.external_id] = index
        validate_currency(item.currency, attr=f"{index}.currency")
    account_ids = {item.account_id for item in items if item.account_id is not None}
    accounts = {
        account.pk: account for account in Account.objects.filter(ledger=ledger, pk__in=account_ids)
    }
    for index, item in enumerate(items):
        if item.account_id is not None:
            account = accounts.get(item.account_id)
            if account is None:
                raise Invalid("Account not found in this ledger.", attr=f"{index}.account_id")
            if account.currency != item.currency:
                raise Invalid(
                    f"Entry currency {item.currency} differs from its account's "
                    f"{account.currency}.",
                    code="currency_mismatch",
                    attr=f"{index}.currency",
                )
    existing = {
        entry.external_id: entry
        for entry in LedgerEntry.objects.filter(ledger=ledger, external_id__in=list(seen))
    }
    for index, item in enumerate(items):
        entry = existing.get(item.external_id)
        if entry is not None and (fields := _differs(entry, item)):
            raise Conflict(
                f"external_id {item.external_id!r} exists with different "
                f"{', '.join(fields)}; GL entries are immutable once pushed.",
                code="external_id_conflict",
                attr=f"{index}.external_id",
                ledger_entry_id=str(entry.pk),
            )
    new_rows = [
        LedgerEntry(
            ledger=ledger,
            account_id=item.account_id,
            external_id=item.external_id,
            amount=item.amount,
            currency=item.currency,
            booking_date=item.booking_date,
            value_date=item.value_date,
            reference=item.reference,
            description=item.description,
            counterparty=item.counterparty,
        )
        for item in items
        if item.external_id not in existing
    ]
    LedgerEntry.objects.bulk_create(new_rows, batch_size=2000)
    created = {row.external_id: row for row in new_rows}
    if new_rows:
        audit_event_record(
            actor=actor,
            organization_id=ledger.organization_id,
            action="ledger_entries.created",
            subject_type="ledger",
            subject_id=ledger.pk,
            ledger_id=ledger.pk,
            after={
                "created": len(new_rows),
                "total": format_amount(
                    sum((row.amount for row in new_rows), Decimal("0")), ledger.currency
                ),
            },
        )
    return LedgerEntriesResult(
        entries=[created.get(item.external_id) or existing[item.external_id] for item in items],
        created=len(new_rows),
        existing=len(items) - len(new_rows),
    )
