"""The run list and the run page: where a run stands, upload, auto-match, close.

Admins create and delete runs; reviewers upload statements, run auto-match, close the run
and edit its note; viewers read. A closed run offers nothing but reading.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.contrib.admin.views.main import ORDER_VAR, ChangeList
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from ledgers.admin.base import ADMIN, REVIEWER, VIEWER
from ledgers.admin.base import report as report_error
from ledgers.admin.formatting import admin_url, event_rows, status_badge
from ledgers.exceptions import DomainError
from reconciliation.admin import manual
from reconciliation.admin.base import ReconciliationAdmin
from reconciliation.admin.formatting import report_sections, run_title, statement_line
from reconciliation.admin.forms import ApproveRunForm, CloseRunForm, StatementUploadForm
from reconciliation.choices import (
    DiscrepancySeverity,
    MatchStatus,
    SourceEntryMatchStatus,
)
from reconciliation.models import Discrepancy, Match, Run, SourceEntry
from reconciliation.selectors import (
    ATTENTION_NONE,
    audit_events_of,
    run_counts_attach,
    run_files,
    run_open_discrepancy_count,
    run_statements,
    source_entry_labels,
    with_attention,
)


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


class AttentionFirstChangeList(ChangeList):
    """Unless the reviewer sorts by a column: failed runs first, then runs with something
    to decide, then those still working, then the rest; newest first within each."""

    def get_ordering(self, request: HttpRequest, queryset: QuerySet[Any]) -> list[Any]:
        ordering = super().get_ordering(request, queryset)
        if ORDER_VAR in self.params:
            return ordering
        return ["attention", *ordering]


class AttentionFilter(admin.SimpleListFilter):
    title = "needs attention"
    parameter_name = "attention"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Failed, or something to decide"), ("no", "Nothing to do")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Run]) -> QuerySet[Run]:
        if self.value() == "yes":
            return queryset.filter(attention__lt=ATTENTION_NONE)
        if self.value() == "no":
            return queryset.filter(attention=ATTENTION_NONE)
        return queryset


def changelist(model: type, **params: Any) -> str:
    url = reverse(f"admin:reconciliation_{model._meta.model_name}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


@admin.register(Run)
class RunAdmin(ReconciliationAdmin):
    organization_path = "ledger__organization"
    roles = {
        "view": VIEWER,
        "add": ADMIN,
        "change": REVIEWER,
        "delete": ADMIN,
        "upload": REVIEWER,
        "auto_match": REVIEWER,
        "close": REVIEWER,
        "review": REVIEWER,
        "manual_match": REVIEWER,
        "approve": REVIEWER,
        "report": VIEWER,
    }
    change_form_template = "admin/reconciliation/run/change_form.html"
    list_display = [
        "run_label",
        "status_column",
        "items_column",
        "suggested_column",
        "discrepancies_column",
        "created_at",
    ]
    list_display_links = ["run_label"]
    list_filter = [
        AttentionFilter,
        "status",
        "mode",
        ("ledger", RelatedOnlyFieldListFilter),
        ("account", RelatedOnlyFieldListFilter),
        "created_at",
    ]
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

    def run_of(self, obj: Run) -> Run:
        return obj

    def state_allows(self, permission: str, obj: Run) -> bool:
        if permission == "approve":
            return obj.is_closed and obj.approved_at is None
        return permission in ("view", "report") or not obj.is_closed

    def get_queryset(self, request: HttpRequest) -> QuerySet[Run]:
        return with_attention(super().get_queryset(request))

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return AttentionFirstChangeList

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        run = super().get_object(request, object_id, from_field)
        if run is not None:
            run_counts_attach([run])
        return run

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            # Counts for the page's runs only, cached per run version (a million-entry run
            # is counted once after each change, not on every list view).
            run_counts_attach(list(changelist.result_list))
        return response

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

    def persist(self, request: HttpRequest, obj: Run, form: Any, change: bool) -> None:
        from reconciliation.services.runs import run_create, run_update_note

        if change:
            if "note" in form.changed_data:
                run_update_note(run=obj, note=obj.note, actor=request.user)
            return
        created = run_create(
            ledger=obj.ledger, account=obj.account, mode=obj.mode, note=obj.note, actor=request.user
        )
        obj.pk, obj.created_at, obj.status = created.pk, created.created_at, created.status
        obj._state.adding = False

    def remove(self, request: HttpRequest, obj: Run) -> None:
        from reconciliation.services.runs import run_delete

        run_delete(run=obj, actor=request.user)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, ...]:
        """A summary instead of walking the cascade (a run can hold a million items)."""
        runs = list(objs)
        run_counts_attach(runs)
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
                f"{run_title(run)}: {files} files, {items} items, {matches} matches "
                "and their discrepancies (GL entries stay and become unlinked)"
            )
        return lines, totals, set(), []

    def history_events(self, obj: Run) -> QuerySet[Any]:
        return audit_events_of(run_id=obj.pk)

    def history_title(self, obj: Run) -> str:
        return f"History of {run_title(obj)}"

    # Columns.
    @admin.display(description="run", ordering="created_at")
    def run_label(self, obj: Run) -> str:
        return run_title(obj, with_status=False)

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

    @admin.display(description="to review")
    def suggested_column(self, obj: Run) -> str:
        n = getattr(obj, "matches_suggested", 0)
        if not n:
            return "—"
        url = reverse("admin:reconciliation_match_review") + f"?run={obj.pk}"
        return format_html('<a href="{}">{} suggestion{}</a>', url, n, "s" if n != 1 else "")

    @admin.display(description="open discrepancies")
    def discrepancies_column(self, obj: Run) -> str:
        n = getattr(obj, "open_discrepancies", 0)
        if not n:
            return "—"
        url = changelist(Discrepancy, run__id__exact=obj.pk, status="unresolved")
        return format_html('<a href="{}">{}</a>', url, n)

    # The run page.
    def summary(self, request: HttpRequest, run: Run) -> dict[str, Any]:
        """Everything the run page shows above the form (`run` carries its counts)."""
        item_counts = [
            {
                "status": status,
                "label": label.lower(),
                "count": getattr(run, f"items_{status}", 0),
                "url": changelist(SourceEntry, run__id__exact=run.pk, match_status__exact=status),
            }
            for status, label in SourceEntryMatchStatus.choices
        ]
        match_counts = [
            {
                "status": status,
                "label": label.lower(),
                "count": getattr(run, f"matches_{status}", 0),
                "url": changelist(Match, run__id__exact=run.pk, status__exact=status),
            }
            for status, label in MatchStatus.choices
        ]
        return {
            "run_title": run_title(run),
            "run": run,
            "statements": [statement_line(s, run.ledger.currency) for s in run_statements(run=run)],
            "files": list(run_files(run=run)),
            "item_counts": item_counts,
            "match_counts": match_counts,
            "open_discrepancies": getattr(run, "open_discrepancies", 0),
            "critical_discrepancies": run_open_discrepancy_count(
                run=run, severity=DiscrepancySeverity.CRITICAL
            ),
            "discrepancies_url": changelist(
                Discrepancy, run__id__exact=run.pk, status="unresolved"
            ),
            "suggested": getattr(run, "matches_suggested", 0),
            "review_url": reverse("admin:reconciliation_match_review") + f"?run={run.pk}",
            "can_auto_match": self.allows(request, "auto_match", run),
            "can_close": self.allows(request, "close", run),
            "can_upload": self.allows(request, "upload", run),
            "can_review": self.allows(request, "review", run),
            "can_approve": self.allows(request, "approve", run)
            and run.closed_by_id != request.user.pk,
            "report_url": reverse("admin:reconciliation_run_report", args=[run.pk]),
            "upload_form": StatementUploadForm(),
            "events": event_rows(audit_events_of(run_id=run.pk)[:8], labels=source_entry_labels),
            "history_url": reverse("admin:reconciliation_run_history", args=[run.pk]),
        }

    def change_page_context(self, request: HttpRequest, run: Any) -> dict[str, Any]:
        summary = self.summary(request, run)
        return {**summary, "title": summary["run_title"], "subtitle": None}

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<path:object_id>/upload/",
                self.view_url(run_upload_view, post_only=True),
                name="reconciliation_run_upload",
            ),
            path(
                "<path:object_id>/auto-match/",
                self.view_url(run_auto_match_view, post_only=True),
                name="reconciliation_run_auto_match",
            ),
            path(
                "<path:object_id>/close/",
                self.view_url(run_close_view),
                name="reconciliation_run_close",
            ),
            path(
                "<path:object_id>/approve/",
                self.view_url(run_approve_view),
                name="reconciliation_run_approve",
            ),
            path(
                "<path:object_id>/report/",
                self.view_url(run_report_view),
                name="reconciliation_run_report",
            ),
            path(
                "<path:object_id>/match/",
                self.view_url(manual.manual_match_view),
                name="reconciliation_run_manual_match",
            ),
            path(
                "match-from-gl/<uuid:gl_id>/",
                self.view_url(manual.match_from_gl_view),
                name="reconciliation_run_match_from_gl",
            ),
            *super().get_urls(),
        ]


def run_upload_view(model_admin: RunAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    from reconciliation.services.imports import csv_mapping_from, source_file_upload

    run = model_admin.get_scoped(request, object_id)
    model_admin.require(request, "upload", run)
    back = HttpResponseRedirect(admin_url(run))
    form = StatementUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        for name, errors in form.errors.items():
            label = form.fields[name].label if name in form.fields else name
            messages.error(request, f"Upload: {label}: {' '.join(errors)}")
        return back
    upload = form.cleaned_data["file"]
    try:
        mapping = form.cleaned_data["mapping"]
        result = source_file_upload(
            run=run,
            stream=upload,
            filename=upload.name,
            size=upload.size,
            file_format=form.cleaned_data["format"] or None,
            mapping=csv_mapping_from(mapping) if mapping is not None else None,
            allow_duplicate=form.cleaned_data["allow_duplicate"],
            actor=request.user,
        )
    except DomainError as exc:
        report_error(request, exc, prefix=f"{upload.name}: ")
        return back
    text = f"{upload.name}: imported {result.imported} entries"
    if result.skipped_duplicates:
        text += f", skipped {result.skipped_duplicates} already imported"
    if result.skipped:
        text += f", skipped {result.skipped} pending/informational"
    messages.success(request, text + ".")
    for warning in result.warnings[:10]:
        messages.warning(request, f"{upload.name}: {warning['detail']}")
    return back


def run_auto_match_view(
    model_admin: RunAdmin, request: HttpRequest, object_id: str
) -> HttpResponse:
    from reconciliation.services.auto_match import run_auto_match

    run = model_admin.get_scoped(request, object_id)
    model_admin.require(request, "auto_match", run)
    try:
        result = run_auto_match(run=run, actor=request.user)
    except DomainError as exc:
        report_error(request, exc, prefix="Auto-match: ")
    else:
        messages.success(
            request,
            f"Auto-match: {result.matched} new matches ({result.accepted} accepted, "
            f"{result.suggested} suggested); {result.discrepancies} open discrepancies.",
        )
    return HttpResponseRedirect(admin_url(run))


def run_close_view(model_admin: RunAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    """GET: what is still open, whether the report balances, a confirmation; POST:
    run_close (with a reason when the report does not balance)."""
    from reconciliation.report.build import run_report
    from reconciliation.services.runs import run_close

    run = model_admin.get_scoped(request, object_id)
    if run.is_closed:
        messages.info(request, "This run is closed already.")
        return HttpResponseRedirect(admin_url(run))
    model_admin.require(request, "close", run)
    report = run_report(run=run)
    form = CloseRunForm(
        request.POST if request.method == "POST" else None, balanced=report["balanced"]
    )
    if request.method == "POST" and form.is_valid():
        try:
            run_close(
                run=run,
                actor=request.user,
                note=form.cleaned_data["note"],
                reason=form.cleaned_data["reason"],
            )
        except DomainError as exc:
            report_error(request, exc, prefix="Close run: ")
        else:
            messages.success(
                request,
                "The run is closed; it can no longer be changed. A second person approves it.",
            )
            return HttpResponseRedirect(admin_url(run))
    summary = model_admin.summary(request, run)
    context = {
        **model_admin.admin_site.each_context(request),
        **summary,
        "title": "Close run",
        "subtitle": summary["run_title"],
        "opts": model_admin.opts,
        "object": run,
        "form": form,
        "report": report,
        "unmatched": getattr(run, "items_unmatched", 0),
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/reconciliation/run/close_confirm.html", context)


def run_approve_view(model_admin: RunAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    """Four eyes: a second person signs the closed run off; its report is frozen."""
    from reconciliation.report.build import run_report_get
    from reconciliation.services.runs import run_approve

    run = model_admin.get_scoped(request, object_id)
    model_admin.require(request, "approve", run)
    form = ApproveRunForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            run_approve(run=run, actor=request.user, note=form.cleaned_data["note"])
        except DomainError as exc:
            report_error(request, exc, prefix="Approve: ")
        else:
            messages.success(request, "Approved: the run and its report are frozen.")
        return HttpResponseRedirect(admin_url(run))
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Approve run",
        "subtitle": run_title(run),
        "opts": model_admin.opts,
        "run": run,
        "form": form,
        "report": run_report_get(run=run),
        "is_preparer": run.closed_by_id == request.user.pk,
        "report_url": reverse("admin:reconciliation_run_report", args=[run.pk]),
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/reconciliation/run/approve_confirm.html", context)


def run_report_view(model_admin: RunAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    """The bank reconciliation statement, the same document as GET .../report."""
    from reconciliation.report.build import run_report_get

    run = model_admin.get_scoped(request, object_id)
    model_admin.require(request, "report", run)
    report = run_report_get(run=run)
    api = reverse("run-report", kwargs={"run_pk": run.pk})
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Reconciliation report",
        "subtitle": report["label"],
        "opts": model_admin.opts,
        "run": run,
        "run_url": admin_url(run),
        "report": report,
        "sections": report_sections(report),
        "downloads": [(fmt.upper(), f"{api}?format={fmt}") for fmt in ("pdf", "xlsx", "csv")],
        "json_url": api,
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/reconciliation/run/report.html", context)
