"""Values the matching engine takes and returns (no Django imports)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

Shape = Literal["one_to_one", "one_to_many", "many_to_one", "reversal"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DetailRow:
    """One transaction detail of a batch bank entry (camt TxDtls)."""

    amount: Decimal | None
    references: tuple[str, ...] = ()  # end-to-end id, creditor reference, invoice numbers
    counterparty_name: str = ""
    counterparty_iban: str = ""
    remittance: str = ""
    charges: Decimal | None = None  # camt Chrgs (unsigned)
    instructed_amount: Decimal | None = None  # camt InstdAmt (unsigned), same currency only


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryRow:
    """A source entry (bank side) or a GL entry (ledger side), as plain values."""

    id: str  # stable, sortable id (UUID string); ties are broken on it for determinism
    amount: Decimal  # signed, same convention on both sides
    currency: str
    booking_date: date
    value_date: date | None = None
    references: tuple[str, ...] = ()  # every reference-like string the row carries
    counterparty_name: str = ""
    counterparty_iban: str = ""
    description: str = ""
    is_reversal: bool = False
    details: tuple[DetailRow, ...] = ()  # bank side only
    # Bank side only, all optional evidence: the bank's booking text ("Ruecklastschrift",
    # "SAMMLER"), the count of a batch booking (camt Btch/NbOfTxs), and the charges and
    # instructed amount that explain a difference to the GL amount (see scoring.py).
    booking_text: str = ""
    batch_count: int | None = None
    charges: Decimal | None = None
    instructed_amount: Decimal | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MatchSettings:
    """Matching settings. Every window counts business days (Monday to Friday): a bank
    books a weekend payment on Monday, so Friday and Monday are one day apart."""

    date_window_days: int = 3
    # Any difference within this tolerance is a candidate when the pair shares evidence
    # (a reference, the IBAN or the name): the ledger's own choice, 0 on a new ledger.
    amount_tolerance_abs: Decimal = Decimal("0")
    amount_tolerance_pct: Decimal = Decimal("0")  # percent of the bank amount, e.g. 0.5
    # A difference of at most this percentage of the bank amount AND at most this amount
    # is a candidate when the pair shares a reference (end-to-end id, creditor reference,
    # invoice number): a bank fee taken from one payment. Such a match is a suggestion,
    # never auto-accepted (auto-accept needs a zero difference). 0 switches it off.
    reference_tolerance_pct: Decimal = Decimal("2")
    reference_tolerance_abs: Decimal = Decimal("25.00")
    auto_accept_threshold: int = 90
    max_group_size: int = 6  # 1:N / N:1 subset-sum bound (DESIGN.md §2.4); 1 disables groups
    # Pairs scoring below this are not candidates. With the default weights every pair
    # that passes the other rules scores at least 55; raise it to drop weak suggestions.
    min_score: int = 50
    # How long after its original a reversal that shares a reference may come.
    reversal_window_days: int = 30
    # The window of a split's or batch's parts that share a reference with it
    # ("Teilzahlung 3/3 RE 4711" a week after the invoice).
    reference_window_days: int = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class Criterion:
    name: Literal["amount", "date", "reference", "counterparty", "description", "structure"]
    points: int  # contribution to the score
    max_points: int
    detail: str  # in words, for the reviewer: "exact", "within tolerance (-2.50)", "1 day"


@dataclass(frozen=True, slots=True, kw_only=True)
class Proposal:
    source_ids: tuple[str, ...]  # sorted
    ledger_ids: tuple[str, ...]  # sorted; empty for a reversal pair
    shape: Shape
    score: int  # 0..100
    difference: Decimal  # sum(source) - sum(ledger); for a reversal pair, sum of both
    explanation: tuple[Criterion, ...]
    ambiguous: bool  # another assignment with the same total score exists
    auto_accept: bool  # score >= threshold, unique, exact amount


@dataclass(frozen=True, slots=True, kw_only=True)
class MatchResult:
    proposals: tuple[Proposal, ...]  # in a canonical order (sorted by source_ids)
    stats: dict[str, int] = field(default_factory=dict)
