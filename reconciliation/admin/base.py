"""What every reconciliation admin shares on top of `ledgers.admin.base.TenantAdmin`.

- A closed run is frozen: no permission but `view` holds on anything in it, whatever the
  role (the services refuse such writes anyway; the admin does not offer them).
- Custom screens (upload, auto-match, close, review, item close) are views wired in through
  `get_urls`; `view_url` wraps them with the admin's login, CSRF and `never_cache`.
- The history page shows the audit trail of the object (see `TenantAdmin.history_view`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from ledgers.admin.base import TenantAdmin
from reconciliation.models import Run
from reconciliation.selectors import source_entry_labels


class ReconciliationAdmin(TenantAdmin):
    def history_labels(self, ids: set[str]) -> dict[str, str]:
        return source_entry_labels(ids)

    def run_of(self, obj: Any) -> Run:
        return obj.run  # type: ignore[no-any-return]

    def state_allows(self, permission: str, obj: Any) -> bool:
        return permission == "view" or not self.run_of(obj).is_closed

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "note":
            kwargs["widget"] = forms.Textarea(attrs={"rows": 2, "cols": 80})
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def change_page_context(self, request: HttpRequest, obj: Any) -> dict[str, Any]:
        """What a model's change page shows beyond the form (its summary, its actions)."""
        return {}

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        obj = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if obj is not None:
            extra |= self.change_page_context(request, obj)
        return super().change_view(request, object_id, form_url, extra)

    def get_scoped(self, request: HttpRequest, object_id: str) -> Any:
        """The object if this user may see it; 404 otherwise (never a hint it exists)."""
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404(f"{self.opts.verbose_name.capitalize()} not found.")
        return obj

    def view_url(
        self, view: Callable[..., HttpResponse], *, post_only: bool = False
    ) -> Callable[..., HttpResponse]:
        def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            return view(self, request, *args, **kwargs)

        if post_only:
            inner = require_POST(inner)
        return self.admin_site.admin_view(inner)
