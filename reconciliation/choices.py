"""Every enum of the reconciliation app. Values are exactly the API's strings."""

from django.db import models


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CLOSED = "closed", "Closed"


class RunMode(models.TextChoices):
    MANUAL = "manual", "Manual"
    AUTOMATIC = "automatic", "Automatic"


class RunSourceType(models.TextChoices):
    UPLOAD = "upload", "Upload"


class SourceFileFormat(models.TextChoices):
    CSV = "csv", "CSV"
    CAMT053 = "camt.053", "camt.053"


class SourceFileStatus(models.TextChoices):
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed"


class MatchStatus(models.TextChoices):
    SUGGESTED = "suggested", "Suggested"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"


class MatchKind(models.TextChoices):
    AUTO = "auto", "Auto"
    MANUAL = "manual", "Manual"


class MatchShape(models.TextChoices):
    ONE_TO_ONE = "one_to_one", "1:1"
    ONE_TO_MANY = "one_to_many", "1:N"
    MANY_TO_ONE = "many_to_one", "N:1"
    MANY_TO_MANY = "many_to_many", "N:M"
    REVERSAL = "reversal", "Reversal pair"


class SourceEntryMatchStatus(models.TextChoices):
    UNMATCHED = "unmatched", "Unmatched"
    MATCHED = "matched", "Matched"
    PARTIAL = "partial", "Partial"
    CLOSED = "closed", "Closed"


class CloseReason(models.TextChoices):
    MANUAL_REVIEW = "manual_review", "Manual review"
    WRITE_OFF = "write_off", "Write-off"
    DUPLICATE = "duplicate", "Duplicate"
    TIMING_DIFFERENCE = "timing_difference", "Timing difference"
    BANK_ERROR = "bank_error", "Bank error"
    OTHER = "other", "Other"


class DiscrepancyStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_REVIEW = "in_review", "In review"
    CLOSED = "closed", "Closed"


class DiscrepancySeverity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class DiscrepancyKind(models.TextChoices):
    MISSING_IN_LEDGER = "missing_in_ledger", "Missing in ledger"
    MISSING_IN_STATEMENT = "missing_in_statement", "Missing in statement"
    AMOUNT_MISMATCH = "amount_mismatch", "Amount mismatch"
    DATE_MISMATCH = "date_mismatch", "Date mismatch"
    CURRENCY_MISMATCH = "currency_mismatch", "Currency mismatch"
    DUPLICATE_ENTRY = "duplicate_entry", "Duplicate entry"
    BALANCE_MISMATCH = "balance_mismatch", "Balance mismatch"
    SEQUENCE_GAP = "sequence_gap", "Sequence gap"
