"""The one place that says who may do what in the admin, and the tenancy every screen obeys.

Every model admin of both apps derives from `TenantAdmin` and declares two things:

- `organization_path`: the ORM path from the model to its `Organization`
  (`"ledger__organization"`); the admin reads and checks tenancy through it.
- `roles`: permission name -> the least membership role that grants it, e.g.
  `{"view": VIEWER, "change": REVIEWER, "decide": REVIEWER, "delete": ADMIN}`. Django's
  `view`/`add`/`change`/`delete` and every custom action permission (`@admin.action(
  permissions=["decide"])`) and custom screen (`self.require(request, "upload", run)`) are
  answered from this table, so there are no hand-written `has_*_permission` methods.
  `SUPERUSER` grants superusers only; a permission that is absent (or `NOBODY`) is granted to
  nobody, superusers included (imported bank and GL facts are never edited by hand).

The role is the user's membership role in the *object's* organization (a user can be admin
in one organization and viewer in another); for list-level questions ("offer this action at
all?") any organization counts and each row is checked again when the action runs. Django's
model permissions and groups play no part: memberships are the single source of truth, as
in the API (`TenantViewSet.action_roles`).

Tenancy holds on input too, not only on what is listed: every foreign-key choice of a form is
limited to objects of organizations where the user holds the role the form needs, a forged
POST with another tenant's id is a form error, and the organization the saved object ends up
in is checked again before the service writes it. Writes go through services, which audit
them; a `DomainError` from a service becomes a form error (the form is shown again) or an
admin message, never a 500.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Final

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.forms import ModelChoiceField
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from ledgers.choices import ROLE_RANK, MembershipRole
from ledgers.exceptions import DomainError
from ledgers.models import AuditEvent
from ledgers.selectors import organizations_with_role, user_roles

VIEWER: Final = MembershipRole.VIEWER
REVIEWER: Final = MembershipRole.REVIEWER
ADMIN: Final = MembershipRole.ADMIN
SUPERUSER: Final = "superuser"
NOBODY: Final = "nobody"
HISTORY_LIMIT: Final = 200


def domain_error_text(exc: DomainError) -> str:
    """The service's message plus where in the file it happened, when it says so."""
    where = [
        f"{name} {exc.extra[name]}"
        for name in ("line", "row", "element")
        if exc.extra.get(name) not in (None, "")
    ]
    text = exc.detail
    if where and not all(str(part) in text for part in where):
        text = f"{text} ({', '.join(where)})"
    return f"{text} [{exc.code}]"


def report(request: HttpRequest, exc: DomainError, prefix: str = "") -> None:
    messages.error(request, f"{prefix}{domain_error_text(exc)}")


class ServiceRefused(Exception):
    """A service refused a save; the admin shows the form again with the reason."""

    def __init__(self, error: DomainError) -> None:
        super().__init__(error.detail)
        self.error = error


def user_allowed(user: Any, need: str, organization_id: uuid.UUID | None) -> bool:
    """Does `user` hold role `need` in the organization (None: in any organization)?"""
    if need == NOBODY or not (user.is_active and user.is_staff):
        return False
    if user.is_superuser:
        return True
    if need == SUPERUSER:
        return False
    roles = user_roles(user)
    if organization_id is None:
        return any(ROLE_RANK[have] >= ROLE_RANK[need] for have in roles.values())
    have = roles.get(organization_id)
    return have is not None and ROLE_RANK[have] >= ROLE_RANK[need]


class TenantAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    class Media:
        css = {"all": ["recon/admin.css"]}

    organization_path: ClassVar[str] = "organization"
    roles: ClassVar[Mapping[str, str]] = {"view": VIEWER}
    history_template = "admin/audit_history.html"

    # --- who may do what ------------------------------------------------------------------

    def organization_id_of(self, obj: Any) -> uuid.UUID:
        parts = self.organization_path.split("__")
        if parts == ["pk"]:
            return obj.pk  # type: ignore[no-any-return]
        for part in parts[:-1]:
            obj = getattr(obj, part)
        return getattr(obj, f"{parts[-1]}_id")  # type: ignore[no-any-return]

    def state_allows(self, permission: str, obj: Any) -> bool:
        """Object state that forbids a permission whatever the role (a closed run)."""
        return True

    def role_allows(self, request: HttpRequest, permission: str, obj: Any = None) -> bool:
        need = self.roles.get(permission, NOBODY)
        org = None if obj is None else self.organization_id_of(obj)
        return user_allowed(request.user, need, org)

    def allows(self, request: HttpRequest, permission: str, obj: Any = None) -> bool:
        """Role and object state: what the screens offer."""
        if not self.role_allows(request, permission, obj):
            return False
        return obj is None or self.state_allows(permission, obj)

    def require(self, request: HttpRequest, permission: str, obj: Any = None) -> None:
        """The role only (403 otherwise): a refusal because of the object's state (a closed
        run) comes from the service, as a message saying why."""
        if not self.role_allows(request, permission, obj):
            raise PermissionDenied("Your role in this organization does not allow this.")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return user_allowed(request.user, VIEWER, None)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.allows(request, "view", obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self.allows(request, "add")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.allows(request, "change", obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.allows(request, "delete", obj)

    def __getattr__(self, name: str) -> Callable[..., bool]:
        # `@admin.action(permissions=["decide"])` asks for `has_decide_permission(request)`.
        if name.startswith("has_") and name.endswith("_permission"):
            permission = name.removeprefix("has_").removesuffix("_permission")
            if permission in type(self).roles:
                return lambda request, obj=None: self.allows(request, permission, obj)
        raise AttributeError(name)

    # --- what is visible ------------------------------------------------------------------

    def organizations_for(self, request: HttpRequest, permission: str) -> list[uuid.UUID] | None:
        """Organizations where the user holds `permission`'s role; None = all (superuser)."""
        need = self.roles.get(permission, NOBODY)
        if request.user.is_superuser:
            return None
        if need in (NOBODY, SUPERUSER):
            return []
        return organizations_with_role(request.user, need)

    def scope(self, queryset: QuerySet[Any], request: HttpRequest, permission: str) -> Any:
        orgs = self.organizations_for(request, permission)
        if orgs is None:
            return queryset
        return queryset.filter(**{f"{self.organization_path}__in": orgs})

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return self.scope(super().get_queryset(request), request, "view")  # type: ignore[no-any-return]

    # --- forms: limited choices, re-checked tenancy, service errors as form errors --------

    def choices_for(self, model: type[models.Model], request: HttpRequest, permission: str) -> Any:
        """The objects of `model` a form needing `permission` may point at."""
        related = self.admin_site._registry.get(model)
        queryset = model._default_manager.all()
        if isinstance(related, TenantAdmin):
            orgs = self.organizations_for(request, permission)
            if orgs is None:
                return queryset
            return queryset.filter(**{f"{related.organization_path}__in": orgs})
        if request.user.is_superuser:
            return queryset
        if model is get_user_model():
            # Colleagues: users of the organizations where the user holds the role.
            orgs = self.organizations_for(request, permission) or []
            return queryset.filter(memberships__organization_id__in=orgs).distinct()
        return queryset.none()  # a model without tenancy: nothing, until someone decides

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form_class = super().get_form(request, obj, change=change, **kwargs)
        permission = "change" if obj is not None else "add"
        model_admin = self

        class TenantForm(form_class):  # type: ignore[misc, valid-type]
            def clean(self) -> Any:
                data = super().clean()
                refused = getattr(request, "_service_refused", None)
                if refused is not None:
                    self.add_error(None, domain_error_text(refused.error))
                elif not self.errors and not model_admin.allows(request, permission, None):
                    self.add_error(None, "Your role does not allow this.")
                return data

        TenantForm.__name__ = form_class.__name__
        # After subclassing: a ModelForm subclass rebuilds its fields from the model.
        for field in TenantForm.base_fields.values():
            if isinstance(field, ModelChoiceField):
                field.queryset = self.choices_for(field.queryset.model, request, permission)
        return TenantForm

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceRefused as refused:
            # The save ran in the admin's transaction and was rolled back; show the same
            # POST again, its form now carrying the service's reason.
            request._service_refused = refused  # type: ignore[attr-defined]
            return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # The object as the form left it: its organization may be a new one.
        self.require(request, "change" if change else "add", obj)
        try:
            self.persist(request, obj, form, change)
        except DomainError as exc:
            raise ServiceRefused(exc) from exc

    def persist(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Write `obj` through a service. Admins that allow add or change implement it."""
        raise PermissionDenied("This admin has no save service.")

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self.require(request, "delete", obj)
        try:
            self.remove(request, obj)
        except DomainError as exc:
            report(request, exc, prefix=f"{obj}: ")

    def remove(self, request: HttpRequest, obj: Any) -> None:
        """Delete `obj` through a service. Admins that allow delete implement it."""
        raise PermissionDenied("This admin has no delete service.")

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for obj in queryset:
            if self.allows(request, "delete", obj):
                self.delete_model(request, obj)
            else:
                messages.error(request, f"{obj}: your role does not allow deleting it.")

    # --- history: the audit trail instead of Django's LogEntry list -----------------------

    def history_events(self, obj: Any) -> QuerySet[AuditEvent]:
        return AuditEvent.objects.filter(subject_id=obj.pk)

    def history_title(self, obj: Any) -> str:
        return f"History of {obj}"

    def history_labels(self, ids: set[str]) -> dict[str, str]:
        """Names for ids in audit values beyond GL entries (statement items, say)."""
        return {}

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        from ledgers.admin.formatting import event_rows

        obj = self.get_object(request, object_id)
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        self.require(request, "view", obj)
        events = self.history_events(obj).select_related("actor").order_by("-created_at", "-id")
        context = {
            **self.admin_site.each_context(request),
            "title": self.history_title(obj),
            "subtitle": None,
            "opts": self.opts,
            "object": obj,
            "events": event_rows(events[:HISTORY_LIMIT], labels=self.history_labels),
            "limit": HISTORY_LIMIT,
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.history_template, context)
