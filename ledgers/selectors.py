"""Tenant-scoped reads. Every selector takes the user: tenancy cannot be forgotten."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from ledgers.choices import ROLE_RANK, ReconciliationStatus
from ledgers.exceptions import Forbidden, NotFound
from ledgers.models import Account, AuditEvent, Ledger, LedgerEntry, Membership

UserLike = AbstractBaseUser | AnonymousUser


def user_roles(user: UserLike) -> dict[uuid.UUID, str]:
    """{organization id: role} of the user, read once per request (cached on the user)."""
    cached: dict[uuid.UUID, str] | None = getattr(user, "_org_roles", None)
    if cached is None:
        if not user.is_authenticated:
            cached = {}
        else:
            cached = dict(
                Membership.objects.filter(user_id=user.pk).values_list("organization_id", "role")
            )
        user._org_roles = cached  # type: ignore[union-attr]
    return cached


def organization_ids(user: UserLike) -> list[uuid.UUID]:
    return list(user_roles(user))


def organizations_with_role(user: UserLike, role: str) -> list[uuid.UUID]:
    """Organizations where the user's role is at least `role`."""
    return [org for org, have in user_roles(user).items() if ROLE_RANK[have] >= ROLE_RANK[role]]


def require_role(*, user: UserLike, organization_id: uuid.UUID, role: str) -> None:
    """Forbidden unless the user's role in the organization is at least `role`.

    Callers have already scoped the object to the user's organizations (404 otherwise), so a
    403 here never reveals the existence of another tenant's object.
    """
    have = user_roles(user).get(organization_id)
    if have is None:
        raise NotFound("Not found.")
    if ROLE_RANK[have] < ROLE_RANK[role]:
        raise Forbidden(
            f"This action needs the {role} role; you are {have}.", code="permission_denied"
        )


def has_role(*, user: UserLike, organization_id: uuid.UUID, role: str) -> bool:
    have = user_roles(user).get(organization_id)
    return have is not None and ROLE_RANK[have] >= ROLE_RANK[role]


def ledger_list(*, user: UserLike) -> QuerySet[Ledger]:
    return Ledger.objects.filter(organization_id__in=organization_ids(user))


def ledger_get(*, user: UserLike, ledger_id: Any) -> Ledger:
    try:
        return ledger_list(user=user).get(pk=ledger_id)
    except (Ledger.DoesNotExist, ValueError, TypeError):
        raise NotFound("Ledger not found.", attr="ledger_id") from None


def account_list(*, user: UserLike) -> QuerySet[Account]:
    """Accounts with `unreconciled_count` (GL entries not reconciled) and unmatched items.

    Both counts are correlated subqueries, so a page of accounts costs one query, never
    one per row.
    """
    from reconciliation.choices import SourceEntryMatchStatus  # app dependency flows one way
    from reconciliation.models import SourceEntry

    unreconciled = (
        LedgerEntry.objects.filter(account_id=OuterRef("pk"))
        .exclude(reconciliation_status=ReconciliationStatus.RECONCILED)
        .order_by()
        .values("account_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    unmatched_items = (
        SourceEntry.objects.filter(
            run__account_id=OuterRef("pk"),
            match_status__in=[SourceEntryMatchStatus.UNMATCHED, SourceEntryMatchStatus.PARTIAL],
        )
        .order_by()
        .values("run__account_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        Account.objects.filter(ledger__organization_id__in=organization_ids(user))
        .select_related("ledger")
        .annotate(
            unreconciled_count=Coalesce(Subquery(unreconciled), Value(0)),
            unmatched_item_count=Coalesce(Subquery(unmatched_items), Value(0)),
        )
    )


def account_get(*, user: UserLike, account_id: Any, ledger: Ledger | None = None) -> Account:
    qs = Account.objects.filter(ledger__organization_id__in=organization_ids(user))
    if ledger is not None:
        qs = qs.filter(ledger=ledger)
    try:
        return qs.get(pk=account_id)
    except (Account.DoesNotExist, ValueError, TypeError):
        raise NotFound("Account not found.", attr="account_id") from None


def ledger_entry_list(*, user: UserLike, ledger: Ledger) -> QuerySet[LedgerEntry]:
    if ledger.organization_id not in user_roles(user):
        return LedgerEntry.objects.none()
    return LedgerEntry.objects.filter(ledger=ledger)


def audit_event_list(*, user: UserLike) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(organization_id__in=organization_ids(user)).select_related(
        "actor"
    )


def ledger_entries_visible_q(user: UserLike) -> Q:
    return Q(ledger__organization_id__in=organization_ids(user))


def user_id_for(*, username: str) -> Any:
    """The id of the user with this username, or None (failed-login logs name real users)."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(username=username).values_list("pk", flat=True).first()


def ledger_entry_facts(ids: set[str]) -> dict[str, tuple[str, Any, str]]:
    """{id: (external_id, amount, currency)} for the GL entries among `ids` (strings that
    are not UUIDs are skipped): what the admin's history names an entry by."""
    valid = []
    for value in ids:
        try:
            valid.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    rows = LedgerEntry.objects.filter(pk__in=valid).values_list(
        "pk", "external_id", "amount", "currency"
    )
    return {str(pk): (external_id, amount, currency) for pk, external_id, amount, currency in rows}


def ledger_currencies(ledger_ids: set[Any]) -> dict[Any, str]:
    return dict(Ledger.objects.filter(pk__in=ledger_ids).values_list("pk", "currency"))


def ledger_entry_visible(*, user: UserLike, entry_id: Any) -> LedgerEntry | None:
    """A GL entry of the user's organizations (any for a superuser), or None."""
    entries = LedgerEntry.objects.all()
    if not getattr(user, "is_superuser", False):
        entries = entries.filter(ledger_entries_visible_q(user))
    return entries.filter(pk=entry_id).first()
