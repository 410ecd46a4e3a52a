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

from ledgers.choices import MembershipRole
from ledgers.exceptions import Conflict, Forbidden, Invalid
from ledgers.models import Account, AuditEvent, Ledger, LedgerEntry, Membership, Organization
from ledgers.money import format_amount, has_excess_precision, is_known_currency, minor_units
from ledgers.tokens import api_token_issue

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
def organization_create(*, name: str, actor: AbstractBaseUser | None = None) -> Organization:
    if Organization.objects.filter(name=name).exists():
        raise Conflict(f"An organization named {name!r} exists already.", attr="name")
    organization = Organization.objects.create(name=name)
    audit_event_record(
        actor=actor,
        organization_id=organization.pk,
        action="organization.created",
        subject_type="organization",
        subject_id=organization.pk,
        after={"name": name},
    )
    return organization


@transaction.atomic
def membership_set(*, user: AbstractBaseUser, organization: Organization, role: str) -> Membership:
    """Set a role from the command line (mint_token, the demo); the admin uses
    membership_save, which checks and audits the actor."""
    membership, _ = Membership.objects.update_or_create(
        user=user, organization=organization, defaults={"role": role}
    )
    return membership


@transaction.atomic
def user_setup(
    *, username: str, organization_name: str, role: str, password: str | None, staff: bool
) -> tuple[AbstractBaseUser, Organization, str]:
    """Create or update a user, its organization and role; return a new API token for it
    (`mint_token`, the demo and the tests' cast log in with it)."""
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
    return user, organization, api_token_issue(user=user)


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


@transaction.atomic
def account_create(
    *,
    ledger: Ledger,
    name: str,
    code: str,
    currency: str,
    iban: str = "",
    opening_balance: Decimal = Decimal("0"),
    opening_balance_date: date | None = None,
    actor: AbstractBaseUser | None,
) -> Account:
    """A bank account of the ledger. `opening_balance` (as of the start of
    `opening_balance_date`) is the book balance carried in: the reconciliation report adds
    the account's GL entries from that day on to it."""
    validate_currency(currency)
    iban = iban.replace(" ", "").upper()
    if iban and not iban_is_valid(iban):
        raise Invalid("IBAN check digits do not match.", code="invalid_iban", attr="iban")
    if Account.objects.filter(ledger=ledger, code=code).exists():
        raise Conflict(
            f"An account with code {code!r} exists already.", code="duplicate", attr="code"
        )
    account = Account.objects.create(
        ledger=ledger,
        name=name,
        code=code,
        currency=currency,
        iban=iban,
        opening_balance=opening_balance,
        opening_balance_date=opening_balance_date,
    )
    audit_event_record(
        actor=actor,
        organization_id=ledger.organization_id,
        action="account.created",
        subject_type="account",
        subject_id=account.pk,
        ledger_id=ledger.pk,
        after={
            "name": name,
            "code": code,
            "currency": currency,
            "opening_balance": str(opening_balance),
            "opening_balance_date": opening_balance_date,
        },
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
        if has_excess_precision(Decimal(str(item.amount)), item.currency):
            raise Invalid(
                f"{item.currency} amounts have at most {minor_units(item.currency)} decimals.",
                code="excess_precision",
                attr=f"{index}.amount",
            )
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


# --- changes made in the admin -------------------------------------------------------------
# The API creates ledgers and accounts; the admin also edits them and manages memberships.
# Each change is audited like the API's writes, and the services that can grant access
# (memberships) check the actor's role themselves: a form that forgot to limit its choices
# must still not let a staff user of one organization into another.


def _require_admin_of(actor: AbstractBaseUser | None, organization_id: uuid.UUID) -> None:
    from ledgers.selectors import require_role

    if actor is not None and getattr(actor, "is_superuser", False):
        return
    if actor is None:
        raise Forbidden("Managing members needs a signed-in admin.")
    require_role(user=actor, organization_id=organization_id, role=MembershipRole.ADMIN)


def _keep_an_admin(membership: Membership, *, leaving: bool) -> None:
    """An organization always keeps one admin: nobody could manage it otherwise."""
    if membership.role != MembershipRole.ADMIN or not leaving:
        return
    others = Membership.objects.filter(
        organization_id=membership.organization_id, role=MembershipRole.ADMIN
    ).exclude(pk=membership.pk)
    if not others.exists():
        raise Conflict(
            f"{membership.user.get_username()} is the last admin of {membership.organization};"
            " make someone else admin first.",
            code="last_admin",
        )


def _changes(obj: Any, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(before, after) of the fields that really change, for the audit event."""
    before, after = {}, {}
    for name, value in values.items():
        old = getattr(obj, name)
        if old != value:
            before[name], after[name] = old, value
    return before, after


@transaction.atomic
def organization_update(
    *, organization: Organization, name: str, actor: AbstractBaseUser | None
) -> Organization:
    before, after = _changes(organization, {"name": name})
    if not after:
        return organization
    if Organization.objects.filter(name=name).exclude(pk=organization.pk).exists():
        raise Conflict(f"An organization named {name!r} exists already.", attr="name")
    organization.name = name
    organization.save(update_fields=["name"])
    audit_event_record(
        actor=actor,
        organization_id=organization.pk,
        action="organization.updated",
        subject_type="organization",
        subject_id=organization.pk,
        before=before,
        after=after,
    )
    return organization


@transaction.atomic
def membership_save(
    *,
    membership: Membership | None,
    user: AbstractBaseUser,
    organization: Organization,
    role: str,
    actor: AbstractBaseUser | None,
) -> Membership:
    """Grant `user` a role in `organization` (new membership or a changed one).

    The actor must be admin of the organization granted *and*, for a change, of the one the
    membership belonged to; else Forbidden/NotFound and nothing is written.
    """
    if role not in MembershipRole.values:
        raise Invalid(f"Unknown role {role!r}.", attr="role")
    _require_admin_of(actor, organization.pk)
    if membership is None:
        if Membership.objects.filter(user=user, organization=organization).exists():
            raise Conflict(
                f"{user.get_username()} is already a member of {organization}.", attr="user"
            )
        membership = Membership.objects.create(user=user, organization=organization, role=role)
        before: dict[str, Any] = {}
        after: dict[str, Any] = {"user": user.get_username(), "role": role}
        action = "membership.created"
    else:
        current = Membership.objects.select_for_update().get(pk=membership.pk)
        _require_admin_of(actor, current.organization_id)
        values = {"user_id": user.pk, "organization_id": organization.pk, "role": role}
        before, after = _changes(current, values)
        if not after:
            return current
        _keep_an_admin(
            current,
            leaving=role != MembershipRole.ADMIN or organization.pk != current.organization_id,
        )
        twin = Membership.objects.filter(user=user, organization=organization)
        if twin.exclude(pk=current.pk).exists():
            raise Conflict(
                f"{user.get_username()} is already a member of {organization}.", attr="user"
            )
        Membership.objects.filter(pk=current.pk).update(**values)
        membership = Membership.objects.get(pk=current.pk)
        action = "membership.updated"
    audit_event_record(
        actor=actor,
        organization_id=organization.pk,
        action=action,
        subject_type="membership",
        subject_id=membership.pk,
        before=before,
        after=after,
    )
    return membership


@transaction.atomic
def membership_delete(*, membership: Membership, actor: AbstractBaseUser | None) -> None:
    _require_admin_of(actor, membership.organization_id)
    _keep_an_admin(membership, leaving=True)
    audit_event_record(
        actor=actor,
        organization_id=membership.organization_id,
        action="membership.deleted",
        subject_type="membership",
        subject_id=membership.pk,
        before={"user": membership.user.get_username(), "role": membership.role},
    )
    membership.delete()


LEDGER_EDITABLE = (
    "name",
    "date_window_days",
    "amount_tolerance_abs",
    "amount_tolerance_pct",
    "reference_tolerance_abs",
    "reference_tolerance_pct",
    "reference_window_days",
    "auto_accept_threshold",
)


@transaction.atomic
def ledger_update(*, ledger: Ledger, actor: AbstractBaseUser | None, **values: Any) -> Ledger:
    """Rename a ledger or change its match settings (runs keep the settings they started
    with). Only the names in LEDGER_EDITABLE; the currency and organization never change."""
    unknown = set(values) - set(LEDGER_EDITABLE)
    if unknown:
        raise Invalid(f"Not editable: {', '.join(sorted(unknown))}.", attr=sorted(unknown)[0])
    ledger = Ledger.objects.select_for_update().get(pk=ledger.pk)
    before, after = _changes(ledger, values)
    if not after:
        return ledger
    name = after.get("name")
    if (
        name is not None
        and Ledger.objects.filter(organization_id=ledger.organization_id, name=name)
        .exclude(pk=ledger.pk)
        .exists()
    ):
        raise Conflict(f"A ledger named {name!r} exists already.", code="duplicate", attr="name")
    _save_audited(
        ledger,
        before=before,
        after=after,
        actor=actor,
        organization_id=ledger.organization_id,
        ledger_id=ledger.pk,
        subject_type="ledger",
    )
    return ledger


@transaction.atomic
def account_update(
    *, account: Account, name: str, code: str, iban: str, actor: AbstractBaseUser | None
) -> Account:
    """Rename/recode an account or set its IBAN. Its ledger and currency never change:
    GL entries and runs are booked against them."""
    iban = iban.replace(" ", "").upper()
    if iban and not iban_is_valid(iban):
        raise Invalid("IBAN check digits do not match.", code="invalid_iban", attr="iban")
    account = Account.objects.select_for_update().get(pk=account.pk)
    before, after = _changes(account, {"name": name, "code": code, "iban": iban})
    if not after:
        return account
    if (
        "code" in after
        and Account.objects.filter(ledger_id=account.ledger_id, code=code)
        .exclude(pk=account.pk)
        .exists()
    ):
        raise Conflict(
            f"An account with code {code!r} exists already.", code="duplicate", attr="code"
        )
    _save_audited(
        account,
        before=before,
        after=after,
        actor=actor,
        organization_id=account.ledger.organization_id,
        ledger_id=account.ledger_id,
        subject_type="account",
    )
    return account


def _save_audited(
    instance: Ledger | Account,
    *,
    before: dict[str, Any],
    after: dict[str, Any],
    actor: AbstractBaseUser | None,
    organization_id: uuid.UUID,
    ledger_id: uuid.UUID,
    subject_type: str,
) -> None:
    """Write the changed fields and their `<subject>.updated` audit event together."""
    for field_name, value in after.items():
        setattr(instance, field_name, value)
    instance.save(update_fields=list(after))
    audit_event_record(
        actor=actor,
        organization_id=organization_id,
        action=f"{subject_type}.updated",
        subject_type=subject_type,
        subject_id=instance.pk,
        ledger_id=ledger_id,
        before=before,
        after=after,
    )


@transaction.atomic
def account_delete(*, account: Account, actor: AbstractBaseUser | None) -> None:
    """Only an account nothing is booked on: GL entries and runs protect it (409)."""
    if account.entries.exists() or account.runs.exists():
        raise Conflict(
            "GL entries or runs are booked on this account; it cannot be deleted.",
            code="account_in_use",
        )
    audit_event_record(
        actor=actor,
        organization_id=account.ledger.organization_id,
        action="account.deleted",
        subject_type="account",
        subject_id=account.pk,
        ledger_id=account.ledger_id,
        before={"name": account.name, "code": account.code, "currency": account.currency},
    )
    account.delete()
