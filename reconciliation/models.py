"""Design overview: a reconciliation run and everything built on it.

- `Run` belongs to one ledger (optionally one account). Status moves
  pending -> running -> completed | failed -> closed; a closed run is frozen. A closed run
  can then be approved by a second person (`approved_at`/`approved_by`, four eyes): its
  reconciliation report is frozen in `RunReport` with a sha256 and every write is refused
  (`run_approved`). Approval is not a status of its own, so the API's status enum keeps
  its meaning; `is_approved` tells.
- `SourceFile` is one upload. It is recorded even when it fails (status `failed`, with the
  error), so a client always gets an id for what it sent. `Statement` rows carry the
  statement metadata of a file (balances, sequence numbers) for the continuity checks.
- `SourceEntry` ("item" in the API) is one bank line: signed Decimal `amount` (+ into the
  account), plain booking/value dates, references, counterparty, batch details.
- `Match` links N source entries with M GL entries through `MatchSourceLink` and
  `MatchLedgerLink`. The invariant "an entry is in at most one non-rejected match" is a
  partial unique index on each link table (`is_active` mirrors `match.status != rejected`,
  because an index condition cannot join), so concurrent runs cannot double-link.
- `Discrepancy` is computed idempotently: `key` is unique per run, so recomputation
  updates instead of duplicating, and a closed discrepancy stays closed.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q

from ledgers.models import (
    Account,
    Ledger,
    LedgerEntry,
    amount_field,
    currency_check,
    new_id,
)
from ledgers.money import format_amount
from reconciliation.choices import (
    CloseReason,
    DiscrepancyKind,
    DiscrepancySeverity,
    DiscrepancyStatus,
    MatchKind,
    MatchShape,
    MatchStatus,
    RunMode,
    RunSourceType,
    RunStatus,
    SourceEntryMatchStatus,
    SourceFileFormat,
    SourceFileStatus,
)


def _actor_reference() -> models.ForeignKey[Any, Any]:
    """Who closed an item or created/decided a match. Not indexed: searched only when a
    user is deleted, while an auto-match pass writes a million such rows, each paying
    for every index."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )


class Run(models.Model):
    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    ledger = models.ForeignKey(Ledger, on_delete=models.CASCADE, related_name="runs")
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="runs", null=True, blank=True
    )
    mode = models.CharField(max_length=16, choices=RunMode.choices, default=RunMode.MANUAL)
    source_type = models.CharField(
        max_length=16, choices=RunSourceType.choices, default=RunSourceType.UPLOAD
    )
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING)
    note = models.TextField(blank=True, default="")
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    # Per-run override of the ledger's matching settings (date window, tolerances, threshold).
    match_settings = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    error = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # The preparer: whoever closed the run. The approver must be someone else.
    closed_by = _actor_reference()
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = _actor_reference()
    # Bumped whenever matching is (re)queued, so a redelivered stale task can tell.
    match_requested_at = models.DateTimeField(null=True, blank=True)
    match_attempts = models.PositiveSmallIntegerField(default=0)
    # Bumped by every audited change to the run's contents (run_audit): the counts the API
    # shows are cached under (run, counts_version), so viewing a million-entry run does
    # not recount it until something changed.
    counts_version = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=RunStatus.values), name="run_status_valid"
            ),
            models.CheckConstraint(condition=Q(mode__in=RunMode.values), name="run_mode_valid"),
            models.UniqueConstraint(
                fields=["ledger", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="run_idempotency_key_unique",
            ),
            # Only a closed run can be approved.
            models.CheckConstraint(
                condition=Q(approved_at__isnull=True) | Q(status=RunStatus.CLOSED),
                name="run_approved_only_when_closed",
            ),
        ]
        indexes = [models.Index(fields=["ledger", "status"], name="run_ledger_status")]
        ordering = ["-created_at", "id"]

    def __str__(self) -> str:
        return f"Run {self.created_at:%Y-%m-%d} {self.note or self.pk}"

    @property
    def is_closed(self) -> bool:
        return self.status == RunStatus.CLOSED

    @property
    def is_approved(self) -> bool:
        return self.approved_at is not None


class MatchRequest(models.Model):
    """The outbox of "match this run": written in the upload's transaction, so the request
    survives a broker outage, and the lease of the worker that is matching.

    One row per run while its matching is owed (`reconciliation.services.auto_match`
    explains the life cycle). `enqueued_at` is null until a broker accepted a message for
    it; `lease_expires_at`/`lease_owner` say which task is matching it and until when, kept
    alive by that worker's heartbeat. The row lives apart from `Run` because the matching
    pass holds the run row locked for its whole length: a heartbeat there would wait for
    the very pass it reports on.
    """

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    run = models.OneToOneField(Run, on_delete=models.CASCADE, related_name="match_request")
    requested_at = models.DateTimeField()
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # Leases that expired (a worker died holding it, or a message got lost): bounded by
    # RUN_MATCH_MAX_ATTEMPTS, then the run fails with `stale_run`.
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_owner = models.CharField(max_length=255, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The sweep's two questions: what is not yet with a broker, whose lease expired.
            models.Index(
                fields=["requested_at"],
                condition=Q(enqueued_at__isnull=True),
                name="matchrequest_undelivered",
            ),
            models.Index(fields=["lease_expires_at"], name="matchrequest_lease"),
        ]

    def __str__(self) -> str:
        return f"Match request for run {self.run_id}"


class MatchPart(models.Model):
    """One (account, currency) share of a big run's auto-match, for the workers that share
    the run (`reconciliation.services.match_parts`).

    Matching never pairs entries of different currencies or of different accounts, so the
    shares are independent: each is matched and committed by whichever worker takes it
    (a row lock with SKIP LOCKED is the claim; a worker that dies releases it with its
    transaction). Rows live while the run's pass is in progress; the transaction that
    completes the run deletes them.
    """

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="match_parts")
    # None: a run of one account or none, whose scope is the run's own.
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    currency = models.CharField(max_length=3)
    rows = models.PositiveIntegerField()  # free bank rows when planned: big parts go first
    # The run had matched entries when planned: every part then reads the GL side's taken
    # entries too, as the one-task pass decides once for the run (auto_match._engine_call).
    # Asked per part, a later part would see the earlier parts' commits and decide otherwise.
    rerun = models.BooleanField(default=False)
    finished_at = models.DateTimeField(null=True, blank=True)
    suggested = models.PositiveIntegerField(default=0)
    accepted = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run", "account", "currency"],
                nulls_distinct=False,
                name="match_part_unique",
            )
        ]

    def __str__(self) -> str:
        return f"Match part {self.currency} of run {self.run_id}"


class RunReport(models.Model):
    """The reconciliation report of an approved run, frozen at approval.

    `body` is the report's JSON (money as decimal strings, so it round-trips exactly) and
    `sha256` the digest of its canonical serialisation (`reconciliation.report.statement.
    report_digest`): anyone can recompute it from the body the API serves.
    """

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    run = models.OneToOneField(Run, on_delete=models.CASCADE, related_name="frozen_report")
    body = models.JSONField(encoder=DjangoJSONEncoder)
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Report of run {self.run_id} ({self.sha256[:12]})"


class SourceFile(models.Model):
    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="source_files")
    # Denormalised from run for the per-ledger duplicate-file check.
    ledger = models.ForeignKey(Ledger, on_delete=models.CASCADE, related_name="+")
    filename = models.CharField(max_length=255)
    format = models.CharField(max_length=16, choices=SourceFileFormat.choices, blank=True)
    status = models.CharField(max_length=16, choices=SourceFileStatus.choices)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    imported_count = models.PositiveIntegerField(default=0)
    skipped_duplicates = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)  # pending/info/unparseable-by-design
    error = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    warnings = models.JSONField(default=list, blank=True, encoder=DjangoJSONEncoder)
    csv_mapping = models.JSONField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=SourceFileStatus.values), name="source_file_status_valid"
            ),
            # Target of the items' composite foreign key (see SourceEntry.run).
            models.UniqueConstraint(
                fields=["id", "run", "ledger"], name="source_file_id_run_ledger_unique"
            ),
        ]
        indexes = [models.Index(fields=["ledger", "sha256"], name="source_file_ledger_sha")]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.filename


class Statement(models.Model):
    """One statement inside a source file (camt `Stmt`, or the whole CSV)."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    # source_file, run and ledger are checked by one composite foreign key,
    # (source_file_id, run_id, ledger_id) -> source file (id, run_id, ledger_id), and are
    # the target of the items' own (migration 0015_perf_item_statement_key): an item's
    # statement, file, run and ledger then hold together through a single key per row.
    source_file = models.ForeignKey(
        SourceFile, on_delete=models.CASCADE, related_name="statements", db_constraint=False
    )
    run = models.ForeignKey(
        Run, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    ledger = models.ForeignKey(
        Ledger, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    index = models.PositiveIntegerField()
    statement_id = models.CharField(max_length=128, blank=True, default="")
    account_key = models.CharField(max_length=64, blank=True, default="")  # IBAN or other id
    # The ledger's account the statement was imported into (runs bound to an account:
    # the run's, or another account of the ledger whose IBAN the statement names).
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, null=True, blank=True, related_name="statements"
    )
    currency = models.CharField(max_length=3, blank=True, default="")
    electronic_sequence = models.BigIntegerField(null=True, blank=True)
    legal_sequence = models.BigIntegerField(null=True, blank=True)
    period_from = models.DateField(null=True, blank=True)
    period_to = models.DateField(null=True, blank=True)
    opening_balance = amount_field(null=True, blank=True)
    opening_date = models.DateField(null=True, blank=True)
    closing_balance = amount_field(null=True, blank=True)
    closing_date = models.DateField(null=True, blank=True)
    entry_count = models.PositiveIntegerField(default=0)
    entry_sum = amount_field(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source_file", "index"], name="statement_index_unique"),
            # Target of the items' composite foreign key (see SourceEntry.run).
            models.UniqueConstraint(
                fields=["id", "source_file", "run", "ledger"], name="statement_key_unique"
            ),
        ]
        indexes = [models.Index(fields=["ledger", "account_key"], name="statement_account")]
        ordering = ["source_file", "index"]

    def __str__(self) -> str:
        return self.statement_id or f"statement {self.index}"


class SourceEntry(models.Model):
    # Single-column indexes on run, ledger and closed_by are left out on purpose: the
    # composite indexes below lead with run and ledger, and each extra index costs about
    # 10 % of a million-row COPY. closed_by is only searched when a user is deleted.
    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    # statement, source_file, run and ledger are checked by one composite foreign key,
    # (statement_id, source_file_id, run_id, ledger_id) -> statement (id, source_file_id,
    # run_id, ledger_id), whose own key ties those to the file's (migrations
    # 0012_perf_item_file_key and 0015_perf_item_statement_key): one deferred check per
    # imported row instead of four, about 3 s of a million-row import's commit per check,
    # and it also proves the item's statement, run and ledger are its file's. Django's own
    # constraints on the four columns are therefore off.
    run = models.ForeignKey(
        Run,
        on_delete=models.CASCADE,
        related_name="source_entries",
        db_index=False,
        db_constraint=False,
    )
    source_file = models.ForeignKey(
        SourceFile, on_delete=models.CASCADE, related_name="entries", db_constraint=False
    )
    statement = models.ForeignKey(
        Statement, on_delete=models.CASCADE, related_name="entries", db_constraint=False
    )
    ledger = models.ForeignKey(
        Ledger, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    line = models.PositiveIntegerField()
    booking_date = models.DateField()
    value_date = models.DateField(null=True, blank=True)
    amount = amount_field()
    currency = models.CharField(max_length=3)
    excess_precision = models.BooleanField(default=False)
    reference = models.CharField(max_length=256, blank=True, default="")
    bank_reference = models.CharField(max_length=128, blank=True, default="")
    entry_reference = models.CharField(max_length=128, blank=True, default="")
    end_to_end_id = models.CharField(max_length=128, blank=True, default="")
    creditor_reference = models.CharField(max_length=128, blank=True, default="")
    description = models.TextField(blank=True, default="")
    counterparty_name = models.CharField(max_length=256, blank=True, default="")
    counterparty_iban = models.CharField(max_length=34, blank=True, default="")
    bank_transaction_code = models.CharField(max_length=64, blank=True, default="")
    is_reversal = models.BooleanField(default=False)
    batch_count = models.PositiveIntegerField(null=True, blank=True)
    details = models.JSONField(default=list, blank=True, encoder=DjangoJSONEncoder)
    account_key = models.CharField(max_length=64, blank=True, default="")
    # Hex digest and occurrence, compared for equality only: the "C" collation makes every
    # comparison a memcmp. Under a language collation (en_US, the postgres image's) the
    # random keys of a million-row import cost 1.2-1.5 s more in this index (0.5 s more
    # under Debian's C.UTF-8).
    fingerprint = models.CharField(max_length=64, db_collation="C")
    match_status = models.CharField(
        max_length=16,
        choices=SourceEntryMatchStatus.choices,
        default=SourceEntryMatchStatus.UNMATCHED,
    )
    close_reason = models.CharField(max_length=32, choices=CloseReason.choices, blank=True)
    close_note = models.TextField(blank=True, default="")
    closed_by = _actor_reference()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "source entry (item)"
        verbose_name_plural = "source entries (items)"
        constraints = [
            currency_check("source_entry_currency_iso"),
            models.CheckConstraint(
                condition=Q(match_status__in=SourceEntryMatchStatus.values),
                name="source_entry_match_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(match_status=SourceEntryMatchStatus.CLOSED) | Q(close_reason=""),
                name="source_entry_close_reason_only_when_closed",
            ),
        ]
        indexes = [
            # No index holds match_status: auto-match flips it for most of a run at once,
            # and an update that touches no indexed column (with room on the page: the
            # table's fillfactor is 60, migration 0011_perf_hot_status) is a HOT update
            # that writes no index entry. Status filters read the run's rows through
            # source_entry_run_date instead.
            models.Index(fields=["run", "booking_date", "id"], name="source_entry_run_date"),
            models.Index(fields=["ledger", "fingerprint"], name="source_entry_fingerprint"),
            models.Index(fields=["ledger", "bank_reference"], name="source_entry_bank_ref"),
        ]

    def __str__(self) -> str:
        return f"{self.booking_date} {format_amount(self.amount, self.currency)} {self.currency}"


class Match(models.Model):
    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    # Indexed through the composite indexes below, which all lead with run.
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="matches", db_index=False)
    status = models.CharField(max_length=16, choices=MatchStatus.choices)
    kind = models.CharField(max_length=16, choices=MatchKind.choices)
    shape = models.CharField(max_length=16, choices=MatchShape.choices)
    score = models.PositiveSmallIntegerField(default=0)
    is_ambiguous = models.BooleanField(default=False)
    explanation = models.JSONField(default=list, blank=True, encoder=DjangoJSONEncoder)
    currency = models.CharField(max_length=3)
    source_total = amount_field()
    ledger_total = amount_field()
    difference = amount_field()
    note = models.TextField(blank=True, default="")
    created_by = _actor_reference()
    created_at = models.DateTimeField(auto_now_add=True)
    decided_by = _actor_reference()
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "matches"
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=MatchStatus.values), name="match_status_valid"
            ),
            models.CheckConstraint(condition=Q(kind__in=MatchKind.values), name="match_kind_valid"),
            models.CheckConstraint(condition=Q(score__lte=100), name="match_score_range"),
            # A manual match is a person's decision: score 100 by definition (its
            # explanation's `manual` criterion says who; the other criteria the facts).
            models.CheckConstraint(
                condition=~Q(kind=MatchKind.MANUAL) | Q(score=100),
                name="match_manual_scores_100",
            ),
        ]
        indexes = [
            models.Index(fields=["run", "status", "-score"], name="match_run_status_score"),
            # The keyset cursor of GET .../matches: (created_at, id) within the run.
            models.Index(fields=["run", "created_at", "id"], name="match_run_created"),
        ]
        ordering = ["-created_at", "id"]

    def __str__(self) -> str:
        return f"Match {self.pk} ({self.status})"


class MatchSourceLink(models.Model):
    id = models.BigAutoField(primary_key=True)
    # No index of its own: the (match, entry) unique constraint below leads with match.
    match = models.ForeignKey(
        Match, on_delete=models.CASCADE, related_name="source_links", db_index=False
    )
    source_entry = models.ForeignKey(
        SourceEntry, on_delete=models.CASCADE, related_name="match_links"
    )
    is_active = models.BooleanField(default=True)  # == match.status != rejected

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source_entry"],
                condition=Q(is_active=True),
                name="source_entry_in_one_active_match",
            ),
            models.UniqueConstraint(
                fields=["match", "source_entry"], name="match_source_link_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.match_id} <- item {self.source_entry_id}"


class MatchLedgerLink(models.Model):
    id = models.BigAutoField(primary_key=True)
    # No index of its own: the (match, entry) unique constraint below leads with match.
    match = models.ForeignKey(
        Match, on_delete=models.CASCADE, related_name="ledger_links", db_index=False
    )
    ledger_entry = models.ForeignKey(
        LedgerEntry, on_delete=models.CASCADE, related_name="match_links"
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ledger_entry"],
                condition=Q(is_active=True),
                name="ledger_entry_in_one_active_match",
            ),
            models.UniqueConstraint(
                fields=["match", "ledger_entry"], name="match_ledger_link_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.match_id} <- GL {self.ledger_entry_id}"


class Discrepancy(models.Model):
    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    run = models.ForeignKey(
        Run, on_delete=models.CASCADE, related_name="discrepancies", db_index=False
    )
    # Stable identity for idempotent recomputation, e.g. "missing_in_ledger:<entry id>".
    key = models.CharField(max_length=200)
    kind = models.CharField(max_length=32, choices=DiscrepancyKind.choices)
    status = models.CharField(
        max_length=16, choices=DiscrepancyStatus.choices, default=DiscrepancyStatus.OPEN
    )
    severity = models.CharField(
        max_length=16, choices=DiscrepancySeverity.choices, default=DiscrepancySeverity.INFO
    )
    amount = amount_field(null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True, default="")
    source_entry = models.ForeignKey(
        SourceEntry, on_delete=models.CASCADE, null=True, blank=True, related_name="discrepancies"
    )
    ledger_entry = models.ForeignKey(
        LedgerEntry, on_delete=models.CASCADE, null=True, blank=True, related_name="discrepancies"
    )
    match = models.ForeignKey(
        Match, on_delete=models.CASCADE, null=True, blank=True, related_name="discrepancies"
    )
    statement = models.ForeignKey(
        Statement, on_delete=models.CASCADE, null=True, blank=True, related_name="discrepancies"
    )
    message = models.TextField()
    note = models.TextField(blank=True, default="")
    # Why a person closed it (the item close reasons); blank while open or auto-resolved.
    close_reason = models.CharField(max_length=32, choices=CloseReason.choices, blank=True)
    # Who works on it: a member of the run's organization with the reviewer role or more.
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_discrepancies",
    )
    # True while the condition that raised it still holds; a recompute that no longer sees it
    # resolves an open one automatically, but never reopens what a person closed.
    is_current = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "discrepancies"
        constraints = [
            models.UniqueConstraint(fields=["run", "key"], name="discrepancy_key_unique"),
            models.CheckConstraint(
                condition=Q(kind__in=DiscrepancyKind.values), name="discrepancy_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=DiscrepancyStatus.values), name="discrepancy_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(severity__in=DiscrepancySeverity.values),
                name="discrepancy_severity_valid",
            ),
            models.CheckConstraint(
                condition=Q(status=DiscrepancyStatus.CLOSED) | Q(close_reason=""),
                name="discrepancy_close_reason_only_when_closed",
            ),
        ]
        indexes = [
            models.Index(fields=["run", "status", "severity"], name="discrepancy_run_status"),
            # The keyset cursor of GET .../discrepancies: (created_at, id) within the run.
            models.Index(fields=["run", "created_at", "id"], name="discrepancy_run_created"),
        ]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.get_status_display()})"
