"""Staff screens of a reconciliation: runs, files, items, matches and discrepancies.

- Tenancy: every admin here is an `OrganizationScopedAdmin` (superusers see all, staff
  only their organizations); objects of another organization do not exist for them.
- Roles: viewers read; reviewers decide (accept/reject, close/reopen items, discrepancy
  status, upload, auto-match, close run); admins also create and delete runs and files.
  Each check combines the Django permission of the role's group with the user's role in
  the object's organization (`admin_views.can`).
- Imported facts (items, statements, files) are read-only. Every change goes through the
  services, so the admin writes the same audit events and obeys the same 409 rules as the
  API; a `DomainError` becomes an error message.
- The screens themselves (run overview, side-by-side review, close forms, history) live in
  `reconciliation.admin_views` and `templates/admin/reconciliation/`.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from ledgers.admin import OrganizationScopedAdmin
from ledgers.choices import MembershipRole
from ledgers.exceptions import DomainError
from ledgers.models import Account, Ledger
from ledgers.selectors import user_roles
from reconciliation import admin_views
from reconciliation.admin_forms import CloseItemsForm
from reconciliation.admin_views import (
    admin_url,
    can,
    money,
    report,
    role_anywhere,
    role_ok,
    signed_money,
    status_badge,
)
from reconciliation.choices import (
    CloseReason,
    DiscrepancyStatus,
    MatchStatus,
    RunStatus,
    SourceEntryMatchStatus,
)
from reconciliation.models import (
    Discrepancy,
    Match,
    MatchSourceLink,
    Run,
    SourceEntry,
    SourceFile,
    Statement,
)
from reconciliation.selectors import with_run_counts

REVIEWER = MembershipRole.REVIEWER
ADMIN = MembershipRole.ADMIN


class ReconciliationAdmin(OrganizationScopedAdmin):
    """History shows the audit trail; `organization_id(obj)` names the object's tenant."""

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return admin_views.history_view(self, request, object_id, extra_context)

    def organization_id(self, obj: Any) -> Any:
        raise NotImplementedError

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "note":
            kwargs["widget"] = forms.Textarea(attrs={"rows": 2, "cols": 80})
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def _wrap(self, view: Any, *, post_only: bool = False) -> Any:
        def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            return view(self, request, *args, **kwargs)

        if post_only:
            inner = require_POST(inner)
        return self.admin_site.admin_view(inner)


# --- runs -----------------------------------------------------------------------------------


class RunAddForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Run
        fields = ["ledger", "account", "mode", "note"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        ledger, account = data.get("ledger"), data.get("account")
        if ledger and account and account.ledger_id != ledger.pk:
            self.add_error("account", "This account belongs to another ledger.")
        return data


@admin.register(Run)
class RunAdmin(ReconciliationAdmin):
    organization_path = "ledger__organization"
    change_form_template = "admin/reconciliation/run/change_form.html"
    list_display = [
        "run_label",
        "ledger",
        "account",
        "mode",
        "status_column",
        "items_column",
        "suggested_column",
        "discrepancies_column",
        "created_at",
    ]
    list_display_links = ["run_label"]
    list_filter = ["status", "mode", ("ledger", RelatedOnlyFieldListFilter), "created_at"]
    list_select_related = ["ledger", "account", "created_by"]
    search_fields = ["note", "ledger__name", "account__name"]
    readonly_fields = [
        "ledger",
        "account",
        "mode",
        "source_type",
        "status",
        "error",
        "match_settings",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
        "closed_at",
    ]

    def organization_id(self, obj: Run) -> Any:
        return obj.ledger.organization_id

    def get_queryset(self, request: HttpRequest) -> QuerySet[Run]:
        return with_run_counts(
            super().get_queryset(request).select_related(*self.list_select_related)
        )

    # Permissions: the role's group *and* the role in the run's organization.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and role_anywhere(request.user, ADMIN)

    def has_change_permission(self, request: HttpRequest, obj: Run | None = None) -> bool:
        if not super().has_change_permission(request, obj):
            return False
        if obj is None:
            return role_anywhere(request.user, REVIEWER)
        return role_ok(request.user, obj.ledger.organization_id, REVIEWER) and not obj.is_closed

    def has_delete_permission(self, request: HttpRequest, obj: Run | None = None) -> bool:
        if not super().has_delete_permission(request, obj):
            return False
        if obj is None:
            return role_anywhere(request.user, ADMIN)
        return role_ok(request.user, obj.ledger.organization_id, ADMIN) and not obj.is_closed

    def get_form(self, request: HttpRequest, obj: Run | None = None, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = RunAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Run | None = None) -> list[str]:
        if obj is None:
            return ["ledger", "account", "mode", "note"]
        return [*self.readonly_fields[:5], "note", *self.readonly_fields[5:]]

    def get_readonly_fields(self, request: HttpRequest, obj: Run | None = None) -> list[str]:
        return [] if obj is None else list(self.readonly_fields)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        """Only ledgers (and their accounts) of organizations where the user is admin."""
        if not request.user.is_superuser:
            admin_orgs = [org for org, role in user_roles(request.user).items() if role == ADMIN]
            if db_field.name == "ledger":
                kwargs["queryset"] = Ledger.objects.filter(organization_id__in=admin_orgs)
            elif db_field.name == "account":
                kwargs["queryset"] = Account.objects.filter(
                    ledger__organization_id__in=admin_orgs
                ).select_related("ledger")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Run, form: Any, change: bool) -> None:
        from reconciliation.services.runs import run_create, run_update_note

        try:
            if not change:
                created = run_create(
                    ledger=obj.ledger,
                    account=obj.account,
                    mode=obj.mode,
                    note=obj.note,
                    actor=request.user,
                )
                obj.pk, obj.created_at, obj.status = created.pk, created.created_at, created.status
                obj._state.adding = False
            elif "note" in form.changed_data:
                run_update_note(run=obj, note=obj.note, actor=request.user)
        except DomainError as exc:
            report(request, exc)

    def delete_model(self, request: HttpRequest, obj: Run) -> None:
        from reconciliation.services.runs import run_delete

        try:
            run_delete(run=obj, actor=request.user)
        except DomainError as exc:
            report(request, exc, prefix=f"{obj}: ")

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        for run in queryset:
            if role_ok(request.user, run.ledger.organization_id, ADMIN):
                self.delete_model(request, run)
            else:
                messages.error(request, f"{run}: deleting a run needs the admin role.")

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, ...]:
        """A summary instead of walking the cascade (a run can hold a million items)."""
        runs = list(objs)
        lines = []
        totals = {"runs": len(runs), "source files": 0, "items": 0, "matches": 0}
        for run in runs:
            files = getattr(run, "source_file_count", None) or run.source_files.count()
            items = sum(getattr(run, f"items_{s}", 0) for s in SourceEntryMatchStatus.values)
            matches = sum(getattr(run, f"matches_{s}", 0) for s in MatchStatus.values)
            totals["source files"] += files
            totals["items"] += items
            totals["matches"] += matches
            lines.append(
                f"{admin_views.run_title(run)}: {files} files, {items} items, {matches} matches "
                "and their discrepancies (GL entries stay and become unlinked)"
            )
        return lines, totals, set(), []

    # Columns.
    @admin.display(description="run", ordering="created_at")
    def run_label(self, obj: Run) -> str:
        return f"{obj.created_at:%Y-%m-%d} {obj.note}".strip()

    @admin.display(description="status", ordering="status")
    def status_column(self, obj: Run) -> str:
        return status_badge(obj.status, obj.get_status_display())

    @admin.display(description="items")
    def items_column(self, obj: Run) -> str:
        parts = [
            (getattr(obj, f"items_{s}", 0), label.lower())
            for s, label in SourceEntryMatchStatus.choices
        ]
        return " · ".join(f"{n} {label}" for n, label in parts if n) or "—"

    @admin.display(description="suggested")
    def suggested_column(self, obj: Run) -> str:
        n = getattr(obj, "matches_suggested", 0)
        if not n:
            return "0"
        url = reverse("admin:reconciliation_match_review") + f"?run={obj.pk}"
        return format_html('<a href="{}">{} to review</a>', url, n)

    @admin.display(description="open discrepancies")
    def discrepancies_column(self, obj: Run) -> int:
        return getattr(obj, "open_discrepancies", 0)

    # The run page.
    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        run = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if run is not None:
            extra |= admin_views.run_summary(request, run)
            extra["title"], extra["subtitle"] = extra["run_title"], None
        return super().change_view(request, object_id, form_url, extra)

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<path:object_id>/upload/",
                self._wrap(admin_views.run_upload_view, post_only=True),
                name="reconciliation_run_upload",
            ),
            path(
                "<path:object_id>/auto-match/",
                self._wrap(admin_views.run_auto_match_view, post_only=True),
                name="reconciliation_run_auto_match",
            ),
            path(
                "<path:object_id>/close/",
                self._wrap(admin_views.run_close_view),
                name="reconciliation_run_close",
            ),
            *super().get_urls(),
        ]


# --- files ----------------------------------------------------------------------------------


class StatementInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Statement
    fields = [
        "statement_id",
        "account_key",
        "currency",
        "electronic_sequence",
        "period_from",
        "period_to",
        "opening",
        "closing",
        "entry_count",
        "entries_sum",
        "balances",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="opening balance")
    def opening(self, obj: Statement) -> str:
        return money(obj.opening_balance, obj.currency or "EUR") or "—"

    @admin.display(description="closing balance")
    def closing(self, obj: Statement) -> str:
        return money(obj.closing_balance, obj.currency or "EUR") or "—"

    @admin.display(description="sum of entries")
    def entries_sum(self, obj: Statement) -> str:
        return money(obj.entry_sum, obj.currency or "EUR")

    @admin.display(description="balances")
    def balances(self, obj: Statement) -> str:
        if obj.opening_balance is None or obj.closing_balance is None:
            return "—"
        gap = obj.opening_balance + obj.entry_sum - obj.closing_balance
        if not gap:
            return format_html('<span class="recon-ok">✓ balances</span>')
        return format_html(
            '<span class="recon-diff">✗ off by {}</span>', money(gap, obj.currency or "EUR")
        )


@admin.register(SourceFile)
class SourceFileAdmin(ReconciliationAdmin):
    organization_path = "ledger__organization"
    list_display = [
        "filename",
        "run",
        "format",
        "status_column",
        "imported_count",
        "skipped_duplicates",
        "size_bytes",
        "created_by",
        "created_at",
    ]
    list_filter = ["status", "format", ("run", RelatedOnlyFieldListFilter), "created_at"]
    list_select_related = ["run", "created_by", "ledger"]
    search_fields = ["filename", "sha256"]
    show_full_result_count = False
    inlines = [StatementInline]
    fields = [
        "filename",
        "run",
        "ledger",
        "format",
        "status",
        "sha256",
        "size_bytes",
        "imported_count",
        "skipped_duplicates",
        "skipped_count",
        "error",
        "warnings",
        "csv_mapping",
        "created_by",
        "created_at",
    ]
    readonly_fields = fields

    def organization_id(self, obj: SourceFile) -> Any:
        return obj.ledger.organization_id

    @admin.display(description="status", ordering="status")
    def status_column(self, obj: SourceFile) -> str:
        return status_badge(obj.status, obj.get_status_display())

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # files arrive through the upload form on the run page

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: SourceFile | None = None) -> bool:
        if not super().has_delete_permission(request, obj):
            return False
        if obj is None:
            return role_anywhere(request.user, ADMIN)
        return role_ok(request.user, obj.ledger.organization_id, ADMIN) and not obj.run.is_closed

    def delete_model(self, request: HttpRequest, obj: SourceFile) -> None:
        from reconciliation.services.imports import source_file_delete

        try:
            source_file_delete(source_file=obj, actor=request.user)
        except DomainError as exc:
            report(request, exc, prefix=f"{obj}: ")

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[SourceFile]) -> None:
        for source_file in queryset:
            if role_ok(request.user, source_file.ledger.organization_id, ADMIN):
                self.delete_model(request, source_file)
            else:
                messages.error(request, f"{source_file}: deleting a file needs the admin role.")

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, ...]:
        files = list(objs)
        lines = [
            f"{f.filename}: {f.imported_count} items with their matches and discrepancies"
            for f in files
        ]
        items = sum(f.imported_count for f in files)
        return lines, {"source files": len(files), "items": items}, set(), []


# --- items ----------------------------------------------------------------------------------


@admin.register(SourceEntry)
class SourceEntryAdmin(ReconciliationAdmin):
    organization_path = "ledger__organization"
    change_form_template = "admin/reconciliation/sourceentry/change_form.html"
    list_display = [
        "booking_date",
        "amount_column",
        "currency",
        "counterparty_name",
        "reference_column",
        "description_column",
        "status_column",
        "close_reason",
        "run",
    ]
    list_filter = [
        "match_status",
        "close_reason",
        "currency",
        "is_reversal",
        ("run", RelatedOnlyFieldListFilter),
        ("ledger", RelatedOnlyFieldListFilter),
        "booking_date",
    ]
    list_select_related = ["run", "ledger"]
    search_fields = [
        "reference",
        "end_to_end_id",
        "creditor_reference",
        "bank_reference",
        "counterparty_name",
        "counterparty_iban",
        "description",
    ]
    ordering = ["booking_date", "line", "id"]
    show_full_result_count = False
    list_per_page = 100
    actions = ["close_selected", "reopen_selected"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "run",
                    "source_file",
                    "statement",
                    "line",
                    ("booking_date", "value_date"),
                    ("amount_column", "currency", "excess_precision"),
                    "is_reversal",
                ]
            },
        ),
        (
            "Counterparty and references",
            {
                "fields": [
                    ("counterparty_name", "counterparty_iban"),
                    "reference",
                    ("end_to_end_id", "creditor_reference"),
                    ("bank_reference", "entry_reference"),
                    "bank_transaction_code",
                    "description",
                    "batch_count",
                    "details_table",
                ]
            },
        ),
        (
            "Reconciliation",
            {
                "fields": [
                    "match_status",
                    "matches_column",
                    "discrepancies_column",
                    ("close_reason", "closed_by", "closed_at"),
                    "close_note",
                ]
            },
        ),
    ]
    readonly_fields = [
        "run",
        "source_file",
        "statement",
        "line",
        "booking_date",
        "value_date",
        "amount_column",
        "currency",
        "excess_precision",
        "is_reversal",
        "counterparty_name",
        "counterparty_iban",
        "reference",
        "end_to_end_id",
        "creditor_reference",
        "bank_reference",
        "entry_reference",
        "bank_transaction_code",
        "description",
        "batch_count",
        "details_table",
        "match_status",
        "matches_column",
        "discrepancies_column",
        "close_reason",
        "closed_by",
        "closed_at",
        "close_note",
    ]

    def organization_id(self, obj: SourceEntry) -> Any:
        return obj.ledger.organization_id

    # Imported facts: never edited or deleted here; closing/reopening are actions.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_close_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("reconciliation.close_sourceentry") and role_anywhere(
            request.user, REVIEWER
        )

    @admin.action(description="Close selected items with a reason…", permissions=["close"])
    def close_selected(
        self, request: HttpRequest, queryset: QuerySet[SourceEntry]
    ) -> TemplateResponse | None:
        form = CloseItemsForm(request.POST if request.POST.get("post") else None)
        if request.POST.get("post") and form.is_valid():
            done, _failed = admin_views.close_items(
                request,
                queryset.select_related("ledger"),
                reason=form.cleaned_data["reason"],
                note=form.cleaned_data["note"],
            )
            if done:
                reason = CloseReason(form.cleaned_data["reason"]).label.lower()
                self.message_user(
                    request,
                    f"Closed {done} item{'s' if done != 1 else ''}: {reason}.",
                    messages.SUCCESS,
                )
            return None
        return admin_views.close_items_page(self, request, queryset, form, action="close_selected")

    @admin.action(description="Reopen selected closed items", permissions=["close"])
    def reopen_selected(self, request: HttpRequest, queryset: QuerySet[SourceEntry]) -> None:
        from reconciliation.services.items import source_entry_reopen

        done = 0
        for entry in queryset.select_related("ledger"):
            if not role_ok(request.user, entry.ledger.organization_id, REVIEWER):
                self.message_user(
                    request, f"Item {entry}: needs the reviewer role.", messages.ERROR
                )
                continue
            try:
                source_entry_reopen(entry=entry, actor=request.user)
            except DomainError as exc:
                report(request, exc, prefix=f"Item {entry}: ")
            else:
                done += 1
        if done:
            self.message_user(request, f"Reopened {done} item{'s' if done != 1 else ''}.")

    # Columns.
    @admin.display(description="amount", ordering="amount")
    def amount_column(self, obj: SourceEntry) -> str:
        return format_html('<span class="recon-amount">{}</span>', money(obj.amount, obj.currency))

    @admin.display(description="reference")
    def reference_column(self, obj: SourceEntry) -> str:
        return obj.creditor_reference or obj.end_to_end_id or obj.reference or obj.bank_reference

    @admin.display(description="description")
    def description_column(self, obj: SourceEntry) -> str:
        text = obj.description
        return text if len(text) <= 60 else text[:57] + "…"

    @admin.display(description="status", ordering="match_status")
    def status_column(self, obj: SourceEntry) -> str:
        return status_badge(obj.match_status, obj.get_match_status_display())

    @admin.display(description="batch details")
    def details_table(self, obj: SourceEntry) -> str:
        lines = [admin_views._detail_line(d, obj.currency) for d in obj.details or []]
        if not lines:
            return "—"
        return format_html(
            "<ol>{}</ol>", format_html_join("", "<li>{}</li>", ((x,) for x in lines))
        )

    @admin.display(description="matches")
    def matches_column(self, obj: SourceEntry) -> str:
        links = obj.match_links.select_related("match").order_by("match__created_at")
        rows = [
            (
                reverse("admin:reconciliation_match_review_one", args=[link.match_id]),
                link.match.get_status_display(),
                link.match.score,
                signed_money(link.match.difference, link.match.currency),
            )
            for link in links
        ]
        if not rows:
            return "—"
        return format_html_join(
            mark_safe("<br>"), '<a href="{}">{} match</a> · score {} · difference {}', rows
        )

    @admin.display(description="discrepancies")
    def discrepancies_column(self, obj: SourceEntry) -> str:
        rows = [
            (admin_url(d), d.get_kind_display(), d.get_severity_display(), d.get_status_display())
            for d in obj.discrepancies.order_by("created_at")
        ]
        if not rows:
            return "—"
        return format_html_join(mark_safe("<br>"), '<a href="{}">{}</a> · {} · {}', rows)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        entry = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if entry is not None:
            allowed = can(
                request, "reconciliation.close_sourceentry", entry.ledger.organization_id, REVIEWER
            )
            open_run = not entry.run.is_closed
            extra["can_close_item"] = (
                allowed
                and open_run
                and entry.match_status == SourceEntryMatchStatus.UNMATCHED
                and not entry.match_links.filter(is_active=True).exists()
            )
            extra["can_reopen_item"] = (
                allowed and open_run and entry.match_status == SourceEntryMatchStatus.CLOSED
            )
            extra["subtitle"] = " · ".join(
                part
                for part in (
                    f"{entry.booking_date:%Y-%m-%d}",
                    f"{money(entry.amount, entry.currency)} {entry.currency}",
                    entry.counterparty_name,
                    entry.get_match_status_display(),
                )
                if part
            )
        return super().change_view(request, object_id, form_url, extra)

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<path:object_id>/close/",
                self._wrap(admin_views.item_close_view),
                name="reconciliation_sourceentry_close",
            ),
            path(
                "<path:object_id>/reopen/",
                self._wrap(admin_views.item_reopen_view, post_only=True),
                name="reconciliation_sourceentry_reopen",
            ),
            *super().get_urls(),
        ]


# --- matches --------------------------------------------------------------------------------


class ScoreFilter(admin.SimpleListFilter):
    title = "score"
    parameter_name = "score"
    bands = {"90": (90, 101), "80": (80, 90), "60": (60, 80), "0": (0, 60)}

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("90", "90 and above"), ("80", "80 to 89"), ("60", "60 to 79"), ("0", "below 60")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Match]) -> QuerySet[Match]:
        band = self.bands.get(self.value() or "")
        if band is None:
            return queryset
        return queryset.filter(score__gte=band[0], score__lt=band[1])


def _first_source(field: str) -> Subquery:
    links = MatchSourceLink.objects.filter(match_id=OuterRef("pk")).order_by(
        "source_entry__booking_date", "source_entry__line"
    )
    return Subquery(links.values(f"source_entry__{field}")[:1])


@admin.register(Match)
class MatchAdmin(ReconciliationAdmin):
    organization_path = "run__ledger__organization"
    change_form_template = "admin/reconciliation/match/change_form.html"
    list_display = [
        "bank_date_column",
        "bank_column",
        "amount_column",
        "difference_column",
        "status_column",
        "score",
        "shape",
        "kind",
        "decided_by",
        "review_column",
    ]
    list_display_links = ["bank_date_column"]
    list_filter = [
        "status",
        ScoreFilter,
        "kind",
        "shape",
        "is_ambiguous",
        ("run", RelatedOnlyFieldListFilter),
        ("run__ledger", RelatedOnlyFieldListFilter),
        "created_at",
    ]
    list_select_related = ["run__ledger", "decided_by"]
    search_fields = ["note", "source_links__source_entry__counterparty_name"]
    show_full_result_count = False
    list_per_page = 100
    actions = ["accept_selected", "reject_selected"]
    CONFIRM_LIMIT = 200
    fields = [
        "run",
        ("status", "kind", "shape"),
        ("score", "is_ambiguous"),
        ("amount_column", "ledger_total_column", "difference_column"),
        "sides",
        "explanation_table",
        "note",
        ("created_by", "created_at"),
        ("decided_by", "decided_at"),
    ]
    readonly_fields = [
        "run",
        "status",
        "kind",
        "shape",
        "score",
        "is_ambiguous",
        "amount_column",
        "ledger_total_column",
        "difference_column",
        "sides",
        "explanation_table",
        "created_by",
        "created_at",
        "decided_by",
        "decided_at",
    ]

    def organization_id(self, obj: Match) -> Any:
        return obj.run.ledger.organization_id

    def get_queryset(self, request: HttpRequest) -> QuerySet[Match]:
        return (
            super()
            .get_queryset(request)
            .select_related("run__ledger", "run__account", "decided_by", "created_by")
            .annotate(
                bank_date=_first_source("booking_date"),
                bank_party=_first_source("counterparty_name"),
                bank_text=_first_source("description"),
                bank_count=Subquery(
                    MatchSourceLink.objects.filter(match_id=OuterRef("pk"))
                    .order_by()
                    .values("match_id")
                    .annotate(n=Count("pk"))
                    .values("n")[:1]
                ),
            )
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # matches come from auto-match and the API's manual-match

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # reject instead: the decision stays in the history

    def has_change_permission(self, request: HttpRequest, obj: Match | None = None) -> bool:
        if not super().has_change_permission(request, obj):
            return False
        if obj is None:
            return role_anywhere(request.user, REVIEWER)
        return role_ok(request.user, obj.run.ledger.organization_id, REVIEWER) and (
            not obj.run.is_closed
        )

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("reconciliation.decide_match") and role_anywhere(
            request.user, REVIEWER
        )

    def save_model(self, request: HttpRequest, obj: Match, form: Any, change: bool) -> None:
        from reconciliation.services.matches import match_update_note

        if "note" in form.changed_data:
            try:
                match_update_note(match=obj, note=obj.note, actor=request.user)
            except DomainError as exc:
                report(request, exc)

    # Bulk decisions with a confirmation page.
    @admin.action(description="Accept selected suggestions…", permissions=["decide"])
    def accept_selected(
        self, request: HttpRequest, queryset: QuerySet[Match]
    ) -> TemplateResponse | None:
        return self._bulk_decide(request, queryset, "accept")

    @admin.action(description="Reject selected matches…", permissions=["decide"])
    def reject_selected(
        self, request: HttpRequest, queryset: QuerySet[Match]
    ) -> TemplateResponse | None:
        return self._bulk_decide(request, queryset, "reject")

    def _bulk_decide(
        self, request: HttpRequest, queryset: QuerySet[Match], decision: str
    ) -> TemplateResponse | None:
        from reconciliation.services.matches import match_accept, match_reject

        if request.POST.get("post") != "yes":
            return self._bulk_confirmation(request, queryset, decision)
        service = match_accept if decision == "accept" else match_reject
        note = request.POST.get("note", "").strip()
        done = 0
        for match in queryset.order_by("-score", "pk").iterator(chunk_size=500):
            if not role_ok(request.user, match.run.ledger.organization_id, REVIEWER):
                self.message_user(
                    request, f"Match {match.pk}: needs the reviewer role.", messages.ERROR
                )
                continue
            try:
                service(match=match, actor=request.user, note=note)
            except DomainError as exc:
                self.message_user(
                    request,
                    f"Match {money(match.source_total, match.currency)} {match.currency} "
                    f"({match.pk}): {exc.detail}",
                    level=messages.ERROR,
                )
            else:
                done += 1
        verb = "Accepted" if decision == "accept" else "Rejected"
        if done:
            self.message_user(request, f"{verb} {done} match{'es' if done != 1 else ''}.")
        return None

    def _bulk_confirmation(
        self, request: HttpRequest, queryset: QuerySet[Match], decision: str
    ) -> TemplateResponse:
        """What each selected match becomes; the first CONFIRM_LIMIT rows are listed."""
        target = MatchStatus.ACCEPTED if decision == "accept" else MatchStatus.REJECTED
        rows = list(queryset.order_by("-score", "pk")[: self.CONFIRM_LIMIT])
        from_statuses = [MatchStatus.SUGGESTED]
        if decision == "reject":
            from_statuses.append(MatchStatus.ACCEPTED)
        changing = (
            queryset.filter(status__in=from_statuses).exclude(run__status=RunStatus.CLOSED).count()
        )
        total = queryset.count() if len(rows) == self.CONFIRM_LIMIT else len(rows)
        items = []
        for match in rows:
            if match.run.is_closed:
                outcome, changes = "the run is closed: refused", False
            elif match.status == target:
                outcome, changes = f"already {target}: unchanged", False
            elif decision == "accept" and match.status != MatchStatus.SUGGESTED:
                outcome, changes = f"{match.status}: cannot be accepted", False
            elif not role_ok(request.user, match.run.ledger.organization_id, REVIEWER):
                outcome, changes = "your role does not allow it", False
            else:
                outcome, changes = f"{match.status} → {target}", True
            items.append(
                {
                    "match": match,
                    "bank": " · ".join(
                        str(x) for x in (match.bank_date, match.bank_party, match.bank_text) if x
                    ),
                    "amount": money(match.source_total, match.currency),
                    "difference": signed_money(match.difference, match.currency),
                    "outcome": outcome,
                    "changes": changes,
                    "url": admin_url(match),
                }
            )
        context = {
            **self.admin_site.each_context(request),
            "title": f"{'Accept' if decision == 'accept' else 'Reject'} matches",
            "subtitle": None,
            "opts": self.opts,
            "decision": decision,
            "action": f"{decision}_selected",
            "items": items,
            "total": total,
            "more": total - len(items),
            "changing": changing,
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/reconciliation/match/confirm_bulk.html", context)

    # Columns.
    @admin.display(description="date", ordering="bank_date")
    def bank_date_column(self, obj: Match) -> str:
        day = obj.bank_date  # type: ignore[attr-defined]
        return format_html(
            '<span class="recon-amount">{}</span>', f"{day:%Y-%m-%d}" if day else "—"
        )

    @admin.display(description="status", ordering="status")
    def status_column(self, obj: Match) -> str:
        return status_badge(obj.status, obj.get_status_display())

    @admin.display(description="bank entry")
    def bank_column(self, obj: Match) -> str:
        parts = [str(p) for p in (obj.bank_party, obj.bank_text) if p]  # type: ignore[attr-defined]
        more = (obj.bank_count or 1) - 1  # type: ignore[attr-defined]
        text = " · ".join(parts)
        return f"{text} (+{more} more)" if more > 0 else text

    @admin.display(description="amount", ordering="source_total")
    def amount_column(self, obj: Match) -> str:
        return format_html(
            '<span class="recon-amount">{} {}</span>',
            money(obj.source_total, obj.currency),
            obj.currency,
        )

    @admin.display(description="ledger total")
    def ledger_total_column(self, obj: Match) -> str:
        return format_html(
            '<span class="recon-amount">{} {}</span>',
            money(obj.ledger_total, obj.currency),
            obj.currency,
        )

    @admin.display(description="difference", ordering="difference")
    def difference_column(self, obj: Match) -> str:
        css = "recon-ok" if obj.difference == 0 else "recon-diff"
        return format_html(
            '<span class="recon-amount {}">{}</span>',
            css,
            signed_money(obj.difference, obj.currency),
        )

    @admin.display(description="")
    def review_column(self, obj: Match) -> str:
        url = reverse("admin:reconciliation_match_review_one", args=[obj.pk])
        return format_html('<a href="{}?run={}">Review</a>', url, obj.run_id)

    @admin.display(description="entries")
    def sides(self, obj: Match) -> str:
        bank = SourceEntry.objects.filter(match_links__match=obj).order_by("booking_date", "line")
        gl = obj.ledger_links.select_related("ledger_entry").order_by("ledger_entry__booking_date")
        rows = [
            (
                "bank",
                admin_url(e),
                e.booking_date,
                money(e.amount, e.currency),
                e.currency,
                e.counterparty_name,
                e.description,
            )
            for e in bank
        ] + [
            (
                "GL",
                reverse("admin:ledgers_ledgerentry_change", args=[g.ledger_entry_id]),
                g.ledger_entry.booking_date,
                money(g.ledger_entry.amount, g.ledger_entry.currency),
                g.ledger_entry.currency,
                g.ledger_entry.counterparty,
                g.ledger_entry.description,
            )
            for g in gl
        ]
        return format_html(
            '<table class="recon-mini"><tbody>{}</tbody></table>',
            format_html_join(
                "",
                '<tr><th>{}</th><td><a href="{}">{}</a></td>'
                '<td class="recon-amount">{} {}</td><td>{}</td><td>{}</td></tr>',
                rows,
            ),
        )

    @admin.display(description="why")
    def explanation_table(self, obj: Match) -> str:
        rows = admin_views.explanation_rows(obj)
        return format_html(
            '<table class="recon-mini"><tbody>{}</tbody></table>',
            format_html_join(
                "",
                '<tr><th>{}</th><td class="recon-{}">{} / {}</td><td>{}</td></tr>',
                (
                    (r["criterion"], r["state"], r["points"], r["max_points"], r["detail"])
                    for r in rows
                ),
            ),
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        match = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if match is not None:
            extra["review_url"] = admin_views.review_url(match, str(match.run_id))
            extra["subtitle"] = (
                f"{match.get_status_display()} match · {match.get_shape_display()} · "
                f"{money(match.source_total, match.currency)} {match.currency} · "
                f"score {match.score}"
            )
        return super().change_view(request, object_id, form_url, extra)

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "review/",
                self._wrap(admin_views.review_start_view),
                name="reconciliation_match_review",
            ),
            path(
                "<path:object_id>/review/",
                self._wrap(admin_views.review_view),
                name="reconciliation_match_review_one",
            ),
            *super().get_urls(),
        ]


# --- discrepancies --------------------------------------------------------------------------


@admin.register(Discrepancy)
class DiscrepancyAdmin(ReconciliationAdmin):
    organization_path = "run__ledger__organization"
    list_display = [
        "created_at",
        "kind",
        "severity_column",
        "status_column",
        "amount_column",
        "message",
        "item_column",
        "run",
    ]
    list_filter = [
        "status",
        "severity",
        "kind",
        "is_current",
        ("run", RelatedOnlyFieldListFilter),
        ("run__ledger", RelatedOnlyFieldListFilter),
        "created_at",
    ]
    list_select_related = ["run__ledger", "source_entry", "ledger_entry"]
    search_fields = ["message", "note", "key"]
    show_full_result_count = False
    list_per_page = 100
    actions = ["mark_in_review", "close_selected", "reopen_selected"]
    raw_id_fields = ["source_entry", "ledger_entry", "match", "statement"]
    fields = [
        "run",
        ("kind", "severity", "is_current"),
        "amount_column",
        "message",
        "item_column",
        "match_column",
        "statement",
        "status",
        "note",
        ("created_at", "updated_at", "resolved_at"),
    ]
    readonly_fields = [
        "run",
        "kind",
        "severity",
        "is_current",
        "amount_column",
        "message",
        "item_column",
        "match_column",
        "statement",
        "created_at",
        "updated_at",
        "resolved_at",
    ]

    def organization_id(self, obj: Discrepancy) -> Any:
        return obj.run.ledger.organization_id

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # computed by the matcher and the statement checks

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Discrepancy | None = None) -> bool:
        if not super().has_change_permission(request, obj):
            return False
        if obj is None:
            return role_anywhere(request.user, REVIEWER)
        return role_ok(request.user, obj.run.ledger.organization_id, REVIEWER) and (
            not obj.run.is_closed
        )

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("reconciliation.change_discrepancy") and role_anywhere(
            request.user, REVIEWER
        )

    def save_model(self, request: HttpRequest, obj: Discrepancy, form: Any, change: bool) -> None:
        from reconciliation.services.discrepancies import discrepancy_update

        changed = set(form.changed_data)
        if not changed & {"status", "note"}:
            return
        try:
            discrepancy_update(
                discrepancy=obj,
                status=obj.status if "status" in changed else None,
                note=obj.note if "note" in changed else None,
                actor=request.user,
            )
        except DomainError as exc:
            report(request, exc)

    def _set_status(
        self, request: HttpRequest, queryset: QuerySet[Discrepancy], status: str
    ) -> None:
        from reconciliation.services.discrepancies import discrepancy_update

        done = 0
        for discrepancy in queryset.select_related("run__ledger"):
            if not role_ok(request.user, discrepancy.run.ledger.organization_id, REVIEWER):
                self.message_user(
                    request, f"{discrepancy}: needs the reviewer role.", messages.ERROR
                )
                continue
            try:
                discrepancy_update(
                    discrepancy=discrepancy, status=status, note=None, actor=request.user
                )
            except DomainError as exc:
                report(request, exc, prefix=f"{discrepancy.get_kind_display()}: ")
            else:
                done += 1
        if done:
            label = DiscrepancyStatus(status).label.lower()
            self.message_user(
                request, f"{done} discrepanc{'ies' if done != 1 else 'y'} now {label}."
            )

    @admin.action(description="Mark selected as in review", permissions=["resolve"])
    def mark_in_review(self, request: HttpRequest, queryset: QuerySet[Discrepancy]) -> None:
        self._set_status(request, queryset, DiscrepancyStatus.IN_REVIEW)

    @admin.action(description="Close selected discrepancies", permissions=["resolve"])
    def close_selected(self, request: HttpRequest, queryset: QuerySet[Discrepancy]) -> None:
        self._set_status(request, queryset, DiscrepancyStatus.CLOSED)

    @admin.action(description="Reopen selected discrepancies", permissions=["resolve"])
    def reopen_selected(self, request: HttpRequest, queryset: QuerySet[Discrepancy]) -> None:
        self._set_status(request, queryset, DiscrepancyStatus.OPEN)

    @admin.display(description="severity", ordering="severity")
    def severity_column(self, obj: Discrepancy) -> str:
        return status_badge(obj.severity, obj.get_severity_display())

    @admin.display(description="status", ordering="status")
    def status_column(self, obj: Discrepancy) -> str:
        return status_badge(obj.status, obj.get_status_display())

    @admin.display(description="amount", ordering="amount")
    def amount_column(self, obj: Discrepancy) -> str:
        if obj.amount is None:
            return "—"
        return format_html(
            '<span class="recon-amount">{} {}</span>',
            money(obj.amount, obj.currency or obj.run.ledger.currency),
            obj.currency,
        )

    @admin.display(description="match")
    def match_column(self, obj: Discrepancy) -> str:
        if not obj.match_id:
            return "—"
        url = reverse("admin:reconciliation_match_review_one", args=[obj.match_id])
        return format_html('<a href="{}">side-by-side review</a>', url)

    @admin.display(description="entry")
    def item_column(self, obj: Discrepancy) -> str:
        if obj.source_entry_id:
            entry = obj.source_entry
            return format_html(
                '<a href="{}">item {}</a>',
                admin_url(entry),
                f"{entry.booking_date:%Y-%m-%d} {money(entry.amount, entry.currency)}",
            )
        if obj.ledger_entry_id:
            url = reverse("admin:ledgers_ledgerentry_change", args=[obj.ledger_entry_id])
            return format_html('<a href="{}">GL {}</a>', url, obj.ledger_entry.external_id)
        return "—"


__all__ = [
    "DiscrepancyAdmin",
    "MatchAdmin",
    "RunAdmin",
    "SourceEntryAdmin",
    "SourceFileAdmin",
]
