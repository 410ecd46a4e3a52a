"""Organizations and memberships: who belongs where, with which role.

Only an organization's admins see and manage its memberships; creating or deleting an
organization is for superusers. Every change is audited and re-checked by the service.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.http import HttpRequest

from ledgers.admin.base import ADMIN, NOBODY, SUPERUSER, VIEWER, TenantAdmin
from ledgers.models import Membership, Organization
from ledgers.services import (
    membership_delete,
    membership_save,
    organization_create,
    organization_update,
)


@admin.register(Organization)
class OrganizationAdmin(TenantAdmin):
    organization_path = "pk"
    roles = {"view": VIEWER, "add": SUPERUSER, "change": ADMIN, "delete": NOBODY}
    list_display = ["name", "created_at"]
    search_fields = ["name"]
    fields = ["name"]

    def persist(self, request: HttpRequest, obj: Organization, form: Any, change: bool) -> None:
        if change:
            organization_update(organization=obj, name=obj.name, actor=request.user)
        else:
            created = organization_create(name=obj.name, actor=request.user)
            obj.pk, obj.created_at = created.pk, created.created_at
            obj._state.adding = False


@admin.register(Membership)
class MembershipAdmin(TenantAdmin):
    roles = {"view": ADMIN, "add": ADMIN, "change": ADMIN, "delete": ADMIN}
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", ("organization", RelatedOnlyFieldListFilter)]
    list_select_related = ["user", "organization"]
    search_fields = ["user__username", "organization__name"]
    fields = ["user", "organization", "role"]

    def persist(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        saved = membership_save(
            membership=obj if change else None,
            user=obj.user,
            organization=obj.organization,
            role=obj.role,
            actor=request.user,
        )
        obj.pk, obj.created_at = saved.pk, saved.created_at
        obj._state.adding = False

    def remove(self, request: HttpRequest, obj: Membership) -> None:
        membership_delete(membership=obj, actor=request.user)
