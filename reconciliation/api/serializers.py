from __future__ import annotations

import uuid
from typing import Any, cast

from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ledgers.api.fields import (
    AmountField,
    JSONTextField,
    StrictFieldsMixin,
)
from ledgers.api.lean import LeanListSerializer, LeanRows
from ledgers.api.serializers import LedgerSettingsInputSerializer
from reconciliation.choices import (
    CloseReason,
    DiscrepancyStatus,
    MatchStatus,
    RunMode,
    RunSourceType,
    SourceEntryMatchStatus,
    SourceFileFormat,
)
from reconciliation.models import Discrepancy, Match, Run, SourceEntry, SourceFile
from reconciliation.selectors import MatchSides, match_sides


class RunMatchSettingsSerializer(LedgerSettingsInputSerializer):
    """A run's overrides of its ledger's matching settings (same fields and meaning)."""


class RunCreateInputSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    ledger_id = serializers.UUIDField()
    mode = serializers.ChoiceField(choices=RunMode.choices, default=RunMode.MANUAL)
    source_type = serializers.ChoiceField(
        choices=RunSourceType.choices, default=RunSourceType.UPLOAD
    )
    idempotency_key = serializers.CharField(max_length=255, required=False)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    account_id = serializers.UUIDField(required=False, allow_null=True, default=None)
    match_settings = RunMatchSettingsSerializer(required=False)


class RunUpdateInputSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    note = serializers.CharField(max_length=2000, allow_blank=True)


class RunCloseInputSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    reason = serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        default="",
        help_text="(ext) Why the run is closed although its reconciliation report does not "
        "balance: required then (409 `report_unbalanced` without it), audited.",
    )


class RunApproveInputSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class _CountsByItemStatus(serializers.Serializer[Any]):
    unmatched = serializers.IntegerField()
    matched = serializers.IntegerField()
    partial = serializers.IntegerField()
    closed = serializers.IntegerField()


class _CountsByMatchStatus(serializers.Serializer[Any]):
    suggested = serializers.IntegerField()
    accepted = serializers.IntegerField()
    rejected = serializers.IntegerField()


class RunCountsSerializer(serializers.Serializer[Any]):
    """Counts read from the selector's annotations (no extra queries)."""

    items = _CountsByItemStatus()
    matches = _CountsByMatchStatus()
    open_discrepancies = serializers.IntegerField()
    source_files = serializers.IntegerField()

    def to_representation(self, run: Run) -> dict[str, Any]:
        return {
            "items": {
                status: getattr(run, f"items_{status}", 0)
                for status in SourceEntryMatchStatus.values
            },
            "matches": {
                status: getattr(run, f"matches_{status}", 0) for status in MatchStatus.values
            },
            "open_discrepancies": getattr(run, "open_discrepancies", 0),
            "source_files": getattr(run, "source_file_count", 0),
        }


class RunSerializer(serializers.ModelSerializer[Run]):
    ledger_id = serializers.UUIDField(read_only=True)
    account_id = serializers.UUIDField(read_only=True, allow_null=True)
    label = serializers.SerializerMethodField(
        help_text="(ext) The run named by account (else ledger) and statement period, e.g. "
        '"Operating EUR · Mar 2024"; before any statement "<name> · created <date>".'
    )
    created_by = serializers.CharField(
        source="created_by.username", default=None, read_only=True, allow_null=True
    )
    closed_by = serializers.CharField(
        source="closed_by.username",
        default=None,
        read_only=True,
        allow_null=True,
        help_text="(ext) Who closed the run: the preparer of the sign-off.",
    )
    approved_by = serializers.CharField(
        source="approved_by.username",
        default=None,
        read_only=True,
        allow_null=True,
        help_text="(ext) Who approved the closed run (a second person); null until then.",
    )
    approved_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="(ext) When the run was approved; an approved run is immutable (every "
        "write answers 409 `run_approved`) and its report is frozen.",
    )
    counts = RunCountsSerializer(source="*", read_only=True)

    def get_label(self, run: Run) -> str:
        from reconciliation.selectors import run_label_of

        return run_label_of(run)

    class Meta:
        model = Run
        fields = [
            "id",
            "ledger_id",
            "account_id",
            "label",
            "mode",
            "source_type",
            "status",
            "note",
            "idempotency_key",
            "match_settings",
            "counts",
            "error",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "closed_at",
            "closed_by",
            "approved_at",
            "approved_by",
        ]
        read_only_fields = fields


# --- source files -------------------------------------------------------------------------


class StatementSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    index = serializers.IntegerField()
    statement_id = serializers.CharField()
    account = serializers.CharField(source="account_key")
    account_id = serializers.UUIDField(
        allow_null=True,
        help_text="The ledger's account the statement was imported into (runs bound to "
        "an account); null for a run without one.",
    )
    currency = serializers.CharField()
    electronic_sequence = serializers.IntegerField(allow_null=True)
    legal_sequence = serializers.IntegerField(allow_null=True)
    period_from = serializers.DateField(allow_null=True)
    period_to = serializers.DateField(allow_null=True)
    opening_balance = AmountField(allow_null=True)
    opening_date = serializers.DateField(allow_null=True)
    closing_balance = AmountField(allow_null=True)
    closing_date = serializers.DateField(allow_null=True)
    entry_count = serializers.IntegerField()
    entry_sum = AmountField()


class BlankAsNullChoiceField(serializers.ChoiceField):
    """An enum column that stores "" for "not set": rendered as null, so the value is
    always in the enum or null, as the schema says."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_null=True, **kwargs)

    def to_representation(self, value: Any) -> str | None:
        return value or None


class SourceFileFormatField(BlankAsNullChoiceField):
    """`csv`/`camt.053`, or null for a file that failed before its format was known."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=SourceFileFormat.choices, **kwargs)


class SourceFileSerializer(serializers.ModelSerializer[SourceFile]):
    run_id = serializers.UUIDField(read_only=True)
    format = SourceFileFormatField(read_only=True)
    imported = serializers.IntegerField(source="imported_count", read_only=True)
    skipped = serializers.IntegerField(source="skipped_count", read_only=True)
    statements = StatementSerializer(many=True, read_only=True)
    created_by = serializers.CharField(
        source="created_by.username", default=None, read_only=True, allow_null=True
    )

    class Meta:
        model = SourceFile
        fields = [
            "id",
            "run_id",
            "filename",
            "format",
            "status",
            "sha256",
            "size_bytes",
            "imported",
            "skipped_duplicates",
            "skipped",
            "error",
            "warnings",
            "csv_mapping",
            "statements",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class SourceUploadInputSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    file = serializers.FileField(allow_empty_file=True)
    idempotency_key = serializers.CharField(max_length=255, required=False)
    format = serializers.ChoiceField(choices=SourceFileFormat.choices, required=False)
    mapping = JSONTextField(required=False)
    allow_duplicate = serializers.BooleanField(required=False, default=False)


class StatementImportSerializer(serializers.Serializer[Any]):
    index = serializers.IntegerField()
    statement_id = serializers.CharField()
    account_iban = serializers.CharField(allow_null=True)
    account_id = serializers.UUIDField(allow_null=True)
    imported = serializers.IntegerField()


class SourceUploadResultSerializer(serializers.Serializer[Any]):
    source_file = serializers.DictField(child=serializers.CharField())
    imported = serializers.IntegerField()
    statements = StatementImportSerializer(
        many=True,
        help_text="Per statement of the file: the account it went into and its entries. "
        "In a run bound to an account, a statement of another account of the same ledger "
        "goes into that account.",
    )
    skipped_duplicates = serializers.IntegerField()
    skipped = serializers.IntegerField()
    format = serializers.ChoiceField(choices=SourceFileFormat.choices)
    warnings = serializers.ListField(child=serializers.DictField())
    run_status = serializers.CharField()


# --- items --------------------------------------------------------------------------------


class SourceEntrySerializer(serializers.ModelSerializer[SourceEntry]):
    run_id = serializers.UUIDField(read_only=True)
    source_file_id = serializers.UUIDField(read_only=True)
    ledger_id = serializers.UUIDField(read_only=True)
    amount = AmountField(read_only=True)
    closed_by = serializers.CharField(
        source="closed_by.username", default=None, read_only=True, allow_null=True
    )
    close_reason = BlankAsNullChoiceField(choices=CloseReason.choices, read_only=True)

    class Meta:
        model = SourceEntry
        list_serializer_class = LeanListSerializer
        fields = [
            "id",
            "run_id",
            "source_file_id",
            "ledger_id",
            "line",
            "booking_date",
            "value_date",
            "amount",
            "currency",
            "excess_precision",
            "reference",
            "bank_reference",
            "entry_reference",
            "end_to_end_id",
            "creditor_reference",
            "description",
            "counterparty_name",
            "counterparty_iban",
            "bank_transaction_code",
            "is_reversal",
            "batch_count",
            "details",
            "match_status",
            "close_reason",
            "close_note",
            "closed_by",
            "closed_at",
        ]
        read_only_fields = fields


class ItemCloseInputSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    ledger_id = serializers.UUIDField()
    reason = serializers.ChoiceField(choices=CloseReason.choices)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class NoteInputSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    note = serializers.CharField(max_length=2000, allow_blank=True)


class OptionalNoteInputSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


# --- matches ------------------------------------------------------------------------------


class _MatchSideEntry(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    booking_date = serializers.DateField()
    value_date = serializers.DateField(allow_null=True)
    amount = AmountField()
    currency = serializers.CharField()
    reference = serializers.CharField()
    description = serializers.CharField()


class _MatchSourceEntry(_MatchSideEntry):
    counterparty_name = serializers.CharField()
    counterparty_iban = serializers.CharField()
    match_status = serializers.CharField()


class _MatchLedgerEntry(_MatchSideEntry):
    external_id = serializers.CharField()
    counterparty = serializers.CharField()
    reconciliation_status = serializers.CharField()


# The entry columns a match's sides show, read by selectors.match_sides.
_SOURCE_SIDE_COLUMNS = tuple(_MatchSourceEntry().fields)
_LEDGER_SIDE_COLUMNS = tuple(_MatchLedgerEntry().fields)


class MatchListSerializer(LeanListSerializer):
    """A page of matches: both sides of every match on it in two queries."""

    def to_representation(self, data: Any) -> list[Any]:
        rows = list(data.all() if isinstance(data, models.manager.BaseManager) else data)
        cast("MatchSerializer", self.child).read_sides([match.pk for match in rows])
        return super().to_representation(rows)


class MatchSerializer(serializers.ModelSerializer[Match]):
    run_id = serializers.UUIDField(read_only=True)
    score = serializers.IntegerField(
        read_only=True,
        help_text="0-100. For `kind: auto` the engine's score, the sum of the explanation's "
        "points. For `kind: manual` always 100: a person's decision; its explanation starts "
        "with a `manual` criterion (who, and the note), followed by the facts (amount, "
        "date, currency; for 1:1 also reference, counterparty, description) as the engine "
        "judges them, whose points are shown for comparison and do not add up to the score.",
    )
    source_entry_ids = serializers.SerializerMethodField()
    ledger_entry_ids = serializers.SerializerMethodField()
    source_entries = serializers.SerializerMethodField()
    ledger_entries = serializers.SerializerMethodField()
    source_total = AmountField(read_only=True)
    ledger_total = AmountField(read_only=True)
    difference = AmountField(read_only=True)
    # Annotated by the selectors (reconciliation.selectors._with_usernames).
    created_by = serializers.CharField(
        source="created_by_username", allow_null=True, read_only=True
    )
    decided_by = serializers.CharField(
        source="decided_by_username", allow_null=True, read_only=True
    )

    class Meta:
        model = Match
        list_serializer_class = MatchListSerializer
        fields = [
            "id",
            "run_id",
            "status",
            "kind",
            "shape",
            "score",
            "is_ambiguous",
            "currency",
            "source_entry_ids",
            "ledger_entry_ids",
            "source_total",
            "ledger_total",
            "difference",
            "explanation",
            "note",
            "source_entries",
            "ledger_entries",
            "created_by",
            "created_at",
            "decided_by",
            "decided_at",
        ]
        read_only_fields = fields

    def get_source_entry_ids(self, match: Match) -> list[str]:
        return [str(entry["id"]) for entry in self._sides(match).source]

    def get_ledger_entry_ids(self, match: Match) -> list[str]:
        return [str(entry["id"]) for entry in self._sides(match).ledger]

    @extend_schema_field(_MatchSourceEntry(many=True))
    def get_source_entries(self, match: Match) -> Any:
        return list(map(self._renderer(_MatchSourceEntry).render, self._sides(match).source))

    @extend_schema_field(_MatchLedgerEntry(many=True))
    def get_ledger_entries(self, match: Match) -> Any:
        return list(map(self._renderer(_MatchLedgerEntry).render, self._sides(match).ledger))

    def read_sides(self, match_ids: list[uuid.UUID]) -> None:
        """Read the entries of these matches in two queries (MatchListSerializer: the
        page's), the columns being the side serializers' own fields."""
        page: dict[uuid.UUID, MatchSides] = self.__dict__.setdefault("_page_sides", {})
        page.update(
            match_sides(
                match_ids=match_ids,
                source_columns=_SOURCE_SIDE_COLUMNS,
                ledger_columns=_LEDGER_SIDE_COLUMNS,
            )
        )

    def _sides(self, match: Match) -> MatchSides:
        """The match's entries: read for the whole page by MatchListSerializer, else for
        this one match."""
        page: dict[uuid.UUID, MatchSides] = self.__dict__.setdefault("_page_sides", {})
        if match.pk not in page:
            self.read_sides([match.pk])
        return page[match.pk]

    def _renderer(self, serializer_class: type[serializers.Serializer[Any]]) -> LeanRows:
        """One renderer per side for the whole page, not two serializers per match:
        building a DRF serializer deep-copies its fields, and planning the fields once
        per page saves DRF's per-field lookups on every entry."""
        cache: dict[type, LeanRows] = self.__dict__.setdefault("_renderers", {})
        if serializer_class not in cache:
            cache[serializer_class] = LeanRows(serializer_class())
        return cache[serializer_class]


class ManualMatchInputSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    source_entry_ids = serializers.ListField(
        child=serializers.UUIDField(), min_length=1, max_length=500
    )
    ledger_entry_ids = serializers.ListField(
        child=serializers.UUIDField(), min_length=1, max_length=500
    )
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class AutoMatchResultSerializer(serializers.Serializer[Any]):
    matched = serializers.IntegerField()
    suggested = serializers.IntegerField()
    accepted = serializers.IntegerField()
    discrepancies = serializers.IntegerField()


class ReconcileResultSerializer(serializers.Serializer[Any]):
    runs = serializers.IntegerField()
    matched = serializers.IntegerField()


# --- GL views and discrepancies -----------------------------------------------------------


class RunGlEntrySerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    ledger_id = serializers.UUIDField()
    account_id = serializers.UUIDField(allow_null=True)
    external_id = serializers.CharField()
    amount = AmountField()
    currency = serializers.CharField()
    booking_date = serializers.DateField()
    value_date = serializers.DateField(allow_null=True)
    reference = serializers.CharField()
    description = serializers.CharField()
    counterparty = serializers.CharField()
    reconciliation_status = serializers.CharField()

    class Meta:
        list_serializer_class = LeanListSerializer


class RunGlEntryWithLinkSerializer(RunGlEntrySerializer):
    link_state = serializers.SerializerMethodField()
    match_id = serializers.UUIDField(source="link_match_id", allow_null=True)
    match_run_id = serializers.UUIDField(source="link_run_id", allow_null=True)

    def get_link_state(self, entry: Any) -> str:
        """`unlinked`, or the live match's status (`suggested`/`accepted`)."""
        return entry.link_match_status or "unlinked"


class DiscrepancySerializer(serializers.ModelSerializer[Discrepancy]):
    run_id = serializers.UUIDField(read_only=True)
    source_entry_id = serializers.UUIDField(read_only=True, allow_null=True)
    ledger_entry_id = serializers.UUIDField(read_only=True, allow_null=True)
    match_id = serializers.UUIDField(read_only=True, allow_null=True)
    statement_id = serializers.UUIDField(read_only=True, allow_null=True)
    amount = AmountField(read_only=True, allow_null=True)
    close_reason = serializers.CharField(
        read_only=True,
        help_text="(ext) Why a person closed it (an item close reason); empty while open "
        "or when it resolved itself.",
    )
    assignee_id = serializers.IntegerField(
        source="assigned_to_id",
        read_only=True,
        allow_null=True,
        help_text="(ext) The user working on it (reviewer or admin of the organization).",
    )
    assignee = serializers.CharField(
        source="assigned_to.username", default=None, read_only=True, allow_null=True
    )

    class Meta:
        model = Discrepancy
        list_serializer_class = LeanListSerializer
        fields = [
            "id",
            "run_id",
            "kind",
            "status",
            "severity",
            "amount",
            "currency",
            "source_entry_id",
            "ledger_entry_id",
            "match_id",
            "statement_id",
            "message",
            "note",
            "close_reason",
            "assignee_id",
            "assignee",
            "created_at",
            "updated_at",
            "resolved_at",
        ]
        read_only_fields = fields


class DiscrepancyUpdateInputSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=DiscrepancyStatus.choices, required=False)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    reason = serializers.ChoiceField(
        choices=CloseReason.choices,
        required=False,
        help_text="(ext) Why it is closed (the item close reasons). Optional: closing "
        "without one records `manual_review`. Only with `status: closed` (or on a closed "
        "discrepancy), else 400 `reason_without_close`.",
    )
    assignee_id = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="(ext) Assign to a user (a reviewer or admin of the run's organization, "
        "else 400 `invalid_assignee`); null unassigns.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError("Send status, note, reason and/or assignee_id.")
        return attrs


# --- the reconciliation report (#14) -------------------------------------------------------
# Documentation of GET .../report's body (built by reconciliation.report.build); the view
# returns the built body as is.


class _ReportRow(serializers.Serializer[Any]):
    type = serializers.ChoiceField(choices=["gl_entry", "item", "match"])
    id = serializers.UUIDField()
    date = serializers.DateField(allow_null=True)
    amount = AmountField()
    text = serializers.CharField()
    external_id = serializers.CharField(required=False, help_text="GL entries")
    cleared_on = serializers.DateField(
        required=False,
        allow_null=True,
        help_text="GL entries: the bank date of the accepted match that clears it, when "
        "that is after the period end",
    )
    close_reason = serializers.CharField(required=False, help_text="closed items")
    close_note = serializers.CharField(required=False, help_text="closed items")
    closed_by = serializers.CharField(required=False, allow_null=True, help_text="closed items")
    closed_at = serializers.DateTimeField(required=False, allow_null=True, help_text="closed items")
    source_entry_ids = serializers.ListField(
        child=serializers.UUIDField(), required=False, help_text="matches"
    )
    ledger_entry_ids = serializers.ListField(
        child=serializers.UUIDField(), required=False, help_text="matches"
    )


class _ReportSection(serializers.Serializer[Any]):
    total = AmountField()
    count = serializers.IntegerField()
    rows = _ReportRow(many=True)


class _ReportStatement(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    statement_id = serializers.CharField()
    source_file_id = serializers.UUIDField()
    filename = serializers.CharField()
    account = serializers.CharField()
    period_from = serializers.DateField(allow_null=True)
    period_to = serializers.DateField(allow_null=True)
    opening_balance = AmountField(allow_null=True)
    closing_balance = AmountField(allow_null=True)
    closing_date = serializers.DateField(allow_null=True)


class _ReportBook(serializers.Serializer[Any]):
    opening_balance = AmountField()
    opening_balance_date = serializers.DateField(allow_null=True)
    entries_total = AmountField()
    entry_count = serializers.IntegerField()
    balance = AmountField()


class _ReportWarning(serializers.Serializer[Any]):
    code = serializers.CharField()
    detail = serializers.CharField()


class ReportSerializer(serializers.Serializer[Any]):
    """The bank reconciliation statement of a run (README "The reconciliation report").

    adjusted_bank_balance = bank_closing_balance + deposits_in_transit + unpresented_payments;
    adjusted_book_balance = book.balance + bank_only + partial_differences + closed_items
    + matched_outside_book; difference = adjusted bank - adjusted book; balanced when 0.
    """

    run_id = serializers.UUIDField()
    label = serializers.CharField()
    ledger = serializers.DictField(child=serializers.CharField())
    account = serializers.DictField(child=serializers.CharField(), allow_null=True)
    currency = serializers.CharField()
    period_from = serializers.DateField(allow_null=True)
    period_end = serializers.DateField(help_text="T: everything is as of this day.")
    period_end_source = serializers.ChoiceField(
        choices=["statement_period", "statement_closing_date", "run_created"]
    )
    statement = _ReportStatement(
        allow_null=True, help_text="The statement whose closing balance is the bank side."
    )
    book = _ReportBook()
    bank_closing_balance = AmountField(allow_null=True)
    book_balance = AmountField()
    outstanding_total = AmountField()
    deposits_in_transit = _ReportSection(help_text="GL entries > 0 not cleared by T")
    unpresented_payments = _ReportSection(help_text="GL entries < 0 not cleared by T")
    bank_only = _ReportSection(help_text="the run's items in no accepted match")
    partial_differences = _ReportSection(help_text="accepted matches: bank - GL")
    closed_items = _ReportSection(help_text="items closed by a person")
    matched_outside_book = _ReportSection(
        help_text="GL sides of accepted matches not in the book balance (dated after T or "
        "before the opening date, or on no/another account)"
    )
    adjusted_bank_balance = AmountField(allow_null=True)
    adjusted_book_balance = AmountField()
    difference = AmountField(allow_null=True)
    balanced = serializers.BooleanField()
    warnings = _ReportWarning(many=True)
    run_status = serializers.CharField()
    closed_by = serializers.CharField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    approved_by = serializers.CharField(allow_null=True)
    approved_at = serializers.DateTimeField(allow_null=True)
    generated_at = serializers.DateTimeField()
    frozen = serializers.BooleanField(help_text="true: the report frozen at approval")
    sha256 = serializers.CharField(
        allow_null=True,
        help_text="sha256 of the frozen report's canonical JSON (sorted keys, no "
        "whitespace, UTF-8) without `frozen` and `sha256`; also header X-Report-SHA256.",
    )
