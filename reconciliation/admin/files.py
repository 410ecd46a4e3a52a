"""Uploaded statement files and the statements in them (read-only; admins delete files)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.http import HttpRequest
from django.utils.html import format_html

from ledgers.admin.base import ADMIN, VIEWER
from ledgers.admin.formatting import money, status_badge
from reconciliation.admin.base import ReconciliationAdmin
from reconciliation.admin.formatting import statement_gap
from reconciliation.models import SourceFile, Statement


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

    # Statements are facts read from the file: shown, never edited.
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
        gap = statement_gap(obj)
        if gap is None:
            return "—"
        if not gap:
            return format_html('<span class="recon-ok">✓ balances</span>')
        return format_html(
            '<span class="recon-diff">✗ off by {}</span>', money(gap, obj.currency or "EUR")
        )


@admin.register(SourceFile)
class SourceFileAdmin(ReconciliationAdmin):
    organization_path = "ledger__organization"
    # Files arrive through the upload form on the run page; deleting one removes its
    # items with their matches and discrepancies.
    roles = {"view": VIEWER, "delete": ADMIN}
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

    @admin.display(description="status", ordering="status")
    def status_column(self, obj: SourceFile) -> str:
        return status_badge(obj.status, obj.get_status_display())

    def remove(self, request: HttpRequest, obj: SourceFile) -> None:
        from reconciliation.services.imports import source_file_delete

        source_file_delete(source_file=obj, actor=request.user)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, ...]:
        files = list(objs)
        lines = [
            f"{f.filename}: {f.imported_count} items with their matches and discrepancies"
            for f in files
        ]
        items = sum(f.imported_count for f in files)
        return lines, {"source files": len(files), "items": items}, set(), []
