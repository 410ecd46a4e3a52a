"""Admin permission groups, one per membership role (applied by `manage.py sync_groups`).

The API checks roles from memberships directly; the Django admin works with permissions,
so each role maps to a group and a staff member's group follows their membership role.
"""

from __future__ import annotations

from typing import Final

from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.db import transaction

from ledgers.choices import ROLE_RANK, MembershipRole

APPS: Final = ("ledgers", "reconciliation")
REVIEWER_EXTRA: Final = (
    "reconciliation.decide_match",
    "reconciliation.close_sourceentry",
    "reconciliation.close_run",
    "reconciliation.change_discrepancy",
    "reconciliation.change_match",
    "reconciliation.change_run",
    "reconciliation.add_sourcefile",
)


def _perms(codenames: list[str]) -> list[Permission]:
    wanted = {tuple(name.split(".", 1)) for name in codenames}
    return [
        perm
        for perm in Permission.objects.filter(content_type__app_label__in=APPS).select_related(
            "content_type"
        )
        if (perm.content_type.app_label, perm.codename) in wanted
    ]


def group_permissions() -> dict[str, list[Permission]]:
    every = list(
        Permission.objects.filter(content_type__app_label__in=APPS).select_related("content_type")
    )
    view = [p for p in every if p.codename.startswith("view_")]
    return {
        MembershipRole.VIEWER: view,
        MembershipRole.REVIEWER: view + _perms(list(REVIEWER_EXTRA)),
        MembershipRole.ADMIN: every,
    }


@transaction.atomic
def sync_groups() -> dict[str, int]:
    """Create or update one group per role with exactly its permissions. Idempotent."""
    counts = {}
    for role, perms in group_permissions().items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(perms)
        counts[role] = len(perms)
    return counts


def user_sync_group(*, user: AbstractBaseUser, roles: list[str]) -> None:
    """Put a staff user in the group of their highest role (across organizations)."""
    groups = Group.objects.filter(name__in=MembershipRole.values)
    user.groups.remove(*groups)  # type: ignore[attr-defined]
    if roles:
        best = max(roles, key=ROLE_RANK.__getitem__)
        group = Group.objects.filter(name=best).first()
        if group is None:
            sync_groups()
            group = Group.objects.get(name=best)
        user.groups.add(group)  # type: ignore[attr-defined]
