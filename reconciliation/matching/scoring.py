"""Pair scores (0-100) and their explanation (pure; stdlib, numpy and rapidfuzz only).

Weights (every proposal reports each criterion as a `Criterion`; the points add up to the
score):

| criterion    | max | how                                                               |
| ------------ | --- | ----------------------------------------------------------------- |
| amount       | 45  | exact 45; a difference the bank's own charges or instructed amount |
|              |     | explain 40; within tolerance 40 down to 30 as the gap nears the limit |
| date         | 15  | same day 15; minus 5 points spread over the window (±3: 13, 12, 10) |
| reference    | 35  | same full reference 35; same invoice number 30                    |
| counterparty | 30  | same IBAN 30; names (legal suffixes dropped) ≥95 % 25, ≥85 % 20, ≥75 % 10 |
| description  | 5   | token-set similarity: 1 point per 10 % above 50 %                 |

Reference and counterparty answer one question (who is this payment from or for), so
together they count for at most 35 points: the reference counts fully and the counterparty
fills the room the reference left. This is what keeps the auto-accept threshold (90)
meaningful:

- exact + same day + shared reference = 95; exact + 3 days + shared reference = 90;
- exact + same day + same IBAN = 90; exact + same day + same name only = 85 (suggested;
  90 with a near-identical description as well);
- exact + same day and nothing else = 60 (65 with an identical description): a bare amount
  coincidence is never auto-accepted;
- a difference within tolerance scores at most 40 + 15 + 35 + 5 = 95 but is never
  auto-accepted either, because auto-accept also requires a zero difference.

Dates are compared in business days (Monday to Friday; Saturday and Sunday count as the
Monday after them, the day a bank books a weekend payment): Friday and Monday are one day
apart, so a window of 3 days reaches from Thursday to the Tuesday after next.

Candidate rules on top of the score. A pair whose amounts differ is a candidate on one of
these grounds (the amount criterion says which), each needing shared evidence (a reference
key, the same IBAN or the same normalised name), since a fee only explains a difference
once the pair is known to be one payment:

1. explained by the bank: the GL amount is the bank amount plus the charges the bank
   reports (camt `Chrgs`), or the instructed amount (`AmtDtls/InstdAmt`);
2. within the ledger's tolerance (`amount_tolerance_abs`/`_pct`, 0 on a new ledger);
3. within the fee tolerance of a shared reference: at most `reference_tolerance_pct` of
   the bank amount and at most `reference_tolerance_abs` (2 % and 25.00 by default), and
   only with a shared reference (end-to-end id, creditor reference, invoice number), not
   a name or IBAN alone.

A difference is never accepted when both rows quote invoice numbers and share no key
(`invoice_conflict`): the bank paid another invoice than the GL entry is for.

A bank row whose amount is not one payment by its own account (`is_batch`: transaction
details, Btch/NbOfTxs, "SAMMLER 4 POSTEN", or an instalment "Teilzahlung 2/3") pairs 1:1
only with a GL entry that shares evidence with it, even at an equal amount (an equal total
alone is a coincidence more often than a GL entry posted for the whole run, which quotes
the run's id), and at a different amount only with a shared reference.

None of these is ever auto-accepted (auto-accept needs a zero difference): they are
suggested, and the match raises an `amount_mismatch` discrepancy with the difference. A
pair scoring below `MatchSettings.min_score` is no candidate: the default 50 lets every
pair through (the weakest, an exact amount at the window's edge, scores 55); raise it to
drop weak suggestions.

Amounts are compared as integer micro-units (`Decimal` scaled by 10**6: the amount columns
hold at most 6 decimals), never as floats; scores are plain ints.
"""

from __future__ import annotations

import re
from contextlib import suppress
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Final, NamedTuple

import numpy as np
from rapidfuzz.fuzz import token_set_ratio
from rapidfuzz.utils import default_process

from ledgers.money import AmountError, format_amount, quantize_money
from reconciliation.matching.references import INVOICE_KIND, reference_keys, shared_key
from reconciliation.matching.types import Criterion, EntryRow, MatchSettings

AMOUNT_EXACT: Final = 45
AMOUNT_TOLERANCE_BEST: Final = 40
AMOUNT_TOLERANCE_WORST: Final = 30
DATE_MAX: Final = 15
DATE_DECAY: Final = 5  # points lost from "same day" to "at the window's edge"
REFERENCE_FULL: Final = 35
REFERENCE_INVOICE: Final = 30
EVIDENCE_MAX: Final = 35  # reference + counterparty together
COUNTERPARTY_IBAN: Final = 30
NAME_STEPS: Final = ((95.0, 25), (85.0, 20), (75.0, 10))
DESCRIPTION_MAX: Final = 5
STRUCTURE_MAX: Final = 5  # groups only: replaces the description criterion
NO_NAME: Final = "no counterparty name on one side"

NOT_A_CANDIDATE: Final = -1  # score of a pair that fails a rule beyond the numbers

# Why a pair's amounts are acceptable (ScoredEdges.amount_basis; see the module docstring).
BASIS_NONE: Final = -1
BASIS_EXACT: Final = 0
BASIS_TOLERANCE: Final = 1
BASIS_REFERENCE: Final = 2
BASIS_CHARGES: Final = 3
BASIS_INSTRUCTED: Final = 4


def _words(text: str) -> list[str]:
    """Words of a word list written as text (easier to read and edit than quoted items)."""
    return text.split()


# Legal-form words dropped before comparing names ("ACME GmbH" == "Acme").
LEGAL_SUFFIXES: Final = frozenset(
    _words(
        "gmbh ag ltd limited inc incorporated llc llp plc sa sas sarl srl spa bv nv kg kgaa "
        "ohg ug co corp corporation company se oy ab as aps asa kft sro ek ev mbh"
    )
)
_NAME_JUNK = re.compile(r"[^0-9a-zäöüßéèàç]+")


class Features(NamedTuple):
    """What the scorer needs of one row, computed once per row."""

    keys: tuple[str, ...]  # reference keys, see references.py
    iban: str  # upper case, no spaces; "" if unknown
    name: str  # lower case, punctuation and legal suffixes removed; "" if unknown
    description: str  # as written ("" when blank); compared case and punctuation blind


class Evidence(NamedTuple):
    """The non-numeric part of a pair score (reference, counterparty, description)."""

    reference: int
    reference_key: str | None
    counterparty_raw: int  # before the shared 35-point cap
    counterparty_note: str
    description: int
    description_ratio: int  # 0-100, -1 when one side has no description

    def points(self) -> int:
        return (
            self.reference
            + min(self.counterparty_raw, EVIDENCE_MAX - self.reference)
            + self.description
        )


def to_micro(amount: Decimal) -> int:
    """`amount` as an exact integer number of micro-units (amounts carry <= 6 decimals)."""
    return int(amount.scaleb(6))


def business_day(day: date) -> int:
    """A day number that counts Monday to Friday only; Saturday and Sunday get the number
    of the Monday after them (`date(1, 1, 1)`, ordinal 1, was a Monday)."""
    week, weekday = divmod(day.toordinal() - 1, 7)
    return week * 5 + min(weekday, 5)


def business_days_array(ordinals: np.ndarray) -> np.ndarray:
    """`business_day` of an array of date ordinals."""
    shifted = ordinals.astype(np.int64) - 1
    return (shifted // 7) * 5 + np.minimum(shifted % 7, 5)


def tolerance_micro(amount: Decimal, currency: str, settings: MatchSettings) -> int:
    """Allowed |source - ledger| for a bank amount, in micro-units.

    The larger of the absolute tolerance and the percentage of |bank amount| (the
    percentage rounded half-even to the currency's minor units, DESIGN.md §2.5).
    """
    tolerance = settings.amount_tolerance_abs
    if settings.amount_tolerance_pct:
        share = abs(amount) * settings.amount_tolerance_pct / 100
        # An unknown currency keeps the exact share rather than a guess at minor units.
        with suppress(AmountError):
            share = quantize_money(share, currency)
        tolerance = max(tolerance, share)
    return to_micro(tolerance)


def reference_tolerance_micro(amount: Decimal, currency: str, settings: MatchSettings) -> int:
    """The fee tolerance of a pair sharing a reference, in micro-units: the smaller of
    `reference_tolerance_pct` of |bank amount| (rounded to the currency's minor units)
    and `reference_tolerance_abs`."""
    if not settings.reference_tolerance_pct or not settings.reference_tolerance_abs:
        return 0
    share = abs(amount) * settings.reference_tolerance_pct / 100
    with suppress(AmountError):
        share = quantize_money(share, currency)
    return to_micro(min(share, settings.reference_tolerance_abs))


def amount_evidence(row: EntryRow) -> tuple[int, int]:
    """(charges, instructed amount) of a bank row in micro-units, 0 when not reported.

    The entry's own figures first, else those of its only transaction detail (camt puts
    a single payment's InstdAmt and Chrgs there); a batch's details explain nothing.
    """
    charges, instructed = row.charges, row.instructed_amount
    if len(row.details) == 1:
        detail = row.details[0]
        charges = charges if charges is not None else detail.charges
        instructed = instructed if instructed is not None else detail.instructed_amount
    return (
        abs(to_micro(charges)) if charges else 0,
        abs(to_micro(instructed)) if instructed else 0,
    )


def amount_basis(
    diff: int,
    ledger_amount: int,
    *,
    tolerance: int,
    reference_tolerance: int,
    charges: int,
    instructed: int,
    shared: bool,
    shared_reference: bool,
    batch: bool = False,
    conflict: bool = False,
) -> tuple[int, int]:
    """Why a pair's amounts are acceptable (a BASIS_* constant, BASIS_NONE when they are
    not) and the tolerance that admitted it; the module docstring gives the rules. A
    `batch` bank row (`is_batch`) needs shared evidence even for an exact amount, and a
    shared reference for a different one; a `conflict` (`invoice_conflict`) rules out any
    difference."""
    if batch and not shared:
        return BASIS_NONE, 0
    if diff == 0:
        return BASIS_EXACT, 0
    if not shared or conflict or (batch and not shared_reference):
        return BASIS_NONE, 0
    if charges and diff == -charges:
        return BASIS_CHARGES, 0
    if instructed and abs(ledger_amount) == instructed:
        return BASIS_INSTRUCTED, 0
    if abs(diff) <= tolerance:
        return BASIS_TOLERANCE, tolerance
    if shared_reference and abs(diff) <= reference_tolerance:
        return BASIS_REFERENCE, reference_tolerance
    return BASIS_NONE, 0


def invoice_conflict(a: Features, b: Features) -> bool:
    """Both rows quote invoice numbers and no key is shared: the bank paid another
    invoice than the GL entry is for. A different amount is then no fee but a different
    payment (an equal amount is still proposed; banks' remittance texts carry typos)."""
    return (
        any(k.startswith(INVOICE_KIND) for k in a.keys)
        and any(k.startswith(INVOICE_KIND) for k in b.keys)
        and shared_key(a.keys, b.keys) is None
    )


def basis_points(basis: int, diff: int, tolerance: int) -> int:
    if basis == BASIS_EXACT:
        return AMOUNT_EXACT
    if basis in (BASIS_CHARGES, BASIS_INSTRUCTED):
        return AMOUNT_TOLERANCE_BEST
    return amount_points(diff, tolerance)


@lru_cache(maxsize=65536)
def normalise_name(name: str) -> str:
    """``"ACME Widgets GmbH & Co. KG"`` -> ``"acme widgets"``."""
    # Dots join ("e.K." -> "ek", "S.A." -> "sa"); other punctuation separates words.
    words = _NAME_JUNK.sub(" ", name.lower().replace(".", "")).split()
    kept = [w for w in words if w not in LEGAL_SUFFIXES]
    return " ".join(kept or words)


@lru_cache(maxsize=65536)
def normalise_iban(iban: str) -> str:
    return iban.replace(" ", "").upper()


def row_parts(row: EntryRow) -> tuple[tuple[str, ...], tuple[str, ...], str, str, str]:
    """(references, texts to search for keys, description, counterparty name, IBAN).

    camt puts the end-to-end id, remittance and counterparty of a single transaction in its
    only `TxDtls`, so a bank entry with exactly one detail borrows them. A batch (several
    details) keeps its own description and counterparty, but the details' references and
    remittances count as its reference keys: they are what its GL parts quote.
    """
    details = row.details
    description = row.description
    if not details:
        return (
            row.references,
            (description,) if description else (),
            description,
            row.counterparty_name,
            row.counterparty_iban,
        )
    if len(details) == 1:
        detail = details[0]
        if detail.remittance:
            description = f"{description} {detail.remittance}" if description else detail.remittance
        return (
            row.references + detail.references,
            (description,) if description else (),
            description,
            row.counterparty_name or detail.counterparty_name,
            row.counterparty_iban or detail.counterparty_iban,
        )
    references = row.references + tuple(r for d in details for r in d.references)
    texts = (description, *(d.remittance for d in details if d.remittance))
    return references, texts, description, row.counterparty_name, row.counterparty_iban


def row_features(row: EntryRow) -> Features:
    """Features of one row (see `row_parts` for what details contribute)."""
    references, texts, description, name, iban = row_parts(row)
    # Positional: this runs once per row, millions of times.
    return Features(
        reference_keys(references, texts),
        normalise_iban(iban) if iban else "",
        normalise_name(name) if name else "",
        description if description.strip() else "",
    )


def name_ratio(a: str, b: str) -> float:
    """Similarity of two normalised names (0-100); the engine computes the same in bulk."""
    return token_set_ratio(a, b)


def description_ratio(a: str, b: str) -> float:
    """Similarity of two descriptions (0-100), case and punctuation ignored."""
    return token_set_ratio(a, b, processor=default_process)


def name_points(ratio: float) -> tuple[int, str]:
    for threshold, points in NAME_STEPS:
        if ratio >= threshold:
            return points, f"name similar ({int(ratio)} %)"
    return 0, f"names differ ({int(ratio)} % similar)"


def description_points(ratio: int) -> int:
    """1 point per 10 % of similarity above 50 %, at most DESCRIPTION_MAX."""
    return max(0, min(DESCRIPTION_MAX, (ratio - 50) // 10))


def shares_evidence(a: Features, b: Features) -> bool:
    """Same reference key, same IBAN or same normalised name.

    A pair whose amounts differ (within tolerance) is a candidate only with shared
    evidence: a fee explains a difference only once the pair is known to be one payment.
    """
    return (
        shared_key(a.keys, b.keys) is not None
        or bool(a.iban and a.iban == b.iban)
        or bool(a.name and a.name == b.name)
    )


def amount_points(diff: int, tolerance: int) -> int:
    """45 when exact, else 40 (tiny gap) down to 30 (gap == tolerance)."""
    if diff == 0:
        return AMOUNT_EXACT
    diff = abs(diff)
    span = AMOUNT_TOLERANCE_BEST - AMOUNT_TOLERANCE_WORST
    lost = (2 * span * diff + tolerance) // (2 * tolerance) if tolerance else span
    return AMOUNT_TOLERANCE_BEST - min(span, lost)


def date_points(days: int, window: int) -> int:
    """15 on the same day, losing DATE_DECAY points evenly over the window (never < 0)."""
    if days <= 0:
        return DATE_MAX
    window = max(window, 1)
    return max(0, DATE_MAX - (2 * DATE_DECAY * days + window) // (2 * window))


def amount_points_array(diff: np.ndarray, tolerance: np.ndarray) -> np.ndarray:
    """`amount_points` for arrays of integer micro-unit gaps and tolerances."""
    diff = np.abs(diff)
    span = AMOUNT_TOLERANCE_BEST - AMOUNT_TOLERANCE_WORST
    safe = np.where(tolerance > 0, tolerance, 1)
    lost = np.minimum(span, (2 * span * diff + safe) // (2 * safe))
    return np.where(diff == 0, AMOUNT_EXACT, AMOUNT_TOLERANCE_BEST - lost)


def date_points_array(days: np.ndarray, window: int) -> np.ndarray:
    window = max(window, 1)
    lost = (2 * DATE_DECAY * days + window) // (2 * window)
    return np.where(days <= 0, DATE_MAX, np.maximum(0, DATE_MAX - lost))


def counterparty_points(a: Features, b: Features) -> tuple[int, str]:
    """Raw counterparty points (before the shared cap) and the words for the reviewer."""
    if a.iban and a.iban == b.iban:
        return COUNTERPARTY_IBAN, "same IBAN"
    if not a.name or not b.name:
        return 0, NO_NAME
    return name_points(name_ratio(a.name, b.name))


def evidence(a: Features, b: Features) -> Evidence:
    """Reference, counterparty and description points of a pair (the row-level form)."""
    key = shared_key(a.keys, b.keys)
    if key is None:
        ref = 0
    elif key.startswith(INVOICE_KIND):
        ref = REFERENCE_INVOICE
    else:
        ref = REFERENCE_FULL
    cp, cp_note = counterparty_points(a, b)
    if a.description and b.description:
        ratio = int(description_ratio(a.description, b.description))
        desc = description_points(ratio)
    else:
        ratio, desc = -1, 0
    return Evidence(ref, key, cp, cp_note, desc, ratio)


# ---------------------------------------------------------------------------- explanation


def criterion(name: str, points: int, max_points: int, detail: str) -> Criterion:
    return Criterion(name=name, points=points, max_points=max_points, detail=detail)  # type: ignore[arg-type]


def money_text(value: Decimal, currency: str) -> str:
    try:
        return format_amount(value, currency)
    except AmountError:
        return str(value)


_CACHE_LIMIT: Final = 10_000
_AMOUNT_CACHE: dict[tuple[int, str], Criterion] = {}
_DATE_CACHE: dict[tuple[int, int, bool, str], Criterion] = {}
_COUNTERPARTY_CACHE: dict[tuple[int, str, int], Criterion] = {}
_DESCRIPTION_CACHE: dict[tuple[int, int], Criterion] = {}
_EXACT: Final = Criterion(
    name="amount", points=AMOUNT_EXACT, max_points=AMOUNT_EXACT, detail="exact"
)
_NO_REFERENCE: Final = Criterion(
    name="reference", points=0, max_points=REFERENCE_FULL, detail="no reference in common"
)


def _remember(cache: dict, key: object, value: Criterion) -> Criterion:  # type: ignore[type-arg]
    # Explanations are built for every proposal; most criteria repeat ("exact", "same day"),
    # so they are built once and shared (they are immutable).
    if len(cache) < _CACHE_LIMIT:
        cache[key] = value
    return value


def amount_criterion(
    points: int,
    difference: Decimal,
    tolerance: int,
    currency: str,
    *,
    label: str = "exact",
    basis: int = BASIS_TOLERANCE,
    explained: int = 0,
) -> Criterion:
    """The amount criterion; `basis` says why an inexact amount was accepted, `explained`
    is the charges or instructed amount (micro-units) for those bases."""
    if difference == 0:
        found = _AMOUNT_CACHE.get((points, label))
        if found is None:
            found = _remember(
                _AMOUNT_CACHE, (points, label), criterion("amount", points, AMOUNT_EXACT, label)
            )
        return found
    tol = money_text(Decimal(tolerance).scaleb(-6), currency)
    sign = "+" if difference > 0 else ""
    gap = f"{sign}{money_text(difference, currency)} {currency}"
    if basis == BASIS_CHARGES:
        charges = money_text(Decimal(explained).scaleb(-6), currency)
        detail = f"difference {gap}: the bank's charges of {charges} (Chrgs) explain it"
    elif basis == BASIS_INSTRUCTED:
        instructed = money_text(Decimal(explained).scaleb(-6), currency)
        detail = f"difference {gap}: the GL amount is the instructed amount {instructed} (InstdAmt)"
    elif basis == BASIS_REFERENCE:
        detail = f"difference {gap} with a shared reference (fee tolerance {tol})"
    else:
        detail = f"within tolerance: difference {gap} (tolerance {tol})"
    return criterion("amount", points, AMOUNT_EXACT, detail)


def date_criterion(
    points: int, days: int, *, via_value_date: bool = False, what: str = ""
) -> Criterion:
    key = (points, days, via_value_date, what)
    found = _DATE_CACHE.get(key)
    if found is not None:
        return found
    detail = "same day" if days == 0 else f"{days} business day{'s' if days != 1 else ''} apart"
    if via_value_date:
        detail += " (value date)"
    if what:
        detail = f"{what}: {detail}"
    return _remember(_DATE_CACHE, key, criterion("date", points, DATE_MAX, detail))


def reference_criterion(points: int, key: str | None) -> Criterion:
    if key is None:
        return _NO_REFERENCE
    if key.startswith(INVOICE_KIND):
        return Criterion(
            name="reference",
            points=points,
            max_points=REFERENCE_FULL,
            detail=f"same invoice number {key[2:]}",
        )
    return Criterion(
        name="reference",
        points=points,
        max_points=REFERENCE_FULL,
        detail=f"same reference {key[2:]}",
    )


def counterparty_criterion(raw: int, note: str, reference_points: int) -> Criterion:
    key = (raw, note, reference_points)
    found = _COUNTERPARTY_CACHE.get(key)
    if found is not None:
        return found
    counted = min(raw, EVIDENCE_MAX - reference_points)
    if counted < raw:
        note = f"{note} ({raw} points, {counted} counted: reference and counterparty share 35)"
    return _remember(
        _COUNTERPARTY_CACHE, key, criterion("counterparty", counted, COUNTERPARTY_IBAN, note)
    )


def description_criterion(points: int, ratio: int) -> Criterion:
    found = _DESCRIPTION_CACHE.get((points, ratio))
    if found is not None:
        return found
    if ratio < 0:
        value = criterion("description", 0, DESCRIPTION_MAX, "missing on one side")
    else:
        word = "similar" if points else "different"
        value = criterion("description", points, DESCRIPTION_MAX, f"{word} ({ratio} %)")
    return _remember(_DESCRIPTION_CACHE, (points, ratio), value)


def pair_explanation(
    *,
    amount_pts: int,
    difference: Decimal,
    tolerance: int,
    currency: str,
    date_pts: int,
    days: int,
    via_value_date: bool,
    ev: Evidence,
    amount_label: str = "exact",
    date_what: str = "",
    amount_basis: int = BASIS_TOLERANCE,
    explained: int = 0,
) -> tuple[Criterion, ...]:
    return (
        amount_criterion(
            amount_pts,
            difference,
            tolerance,
            currency,
            label=amount_label,
            basis=amount_basis,
            explained=explained,
        ),
        date_criterion(date_pts, days, via_value_date=via_value_date, what=date_what),
        reference_criterion(ev.reference, ev.reference_key),
        counterparty_criterion(ev.counterparty_raw, ev.counterparty_note, ev.reference),
        description_criterion(ev.description, ev.description_ratio),
    )


def explain_exact_pair(
    date_pts: int,
    days: int,
    via_value_date: bool,
    ref_pts: int,
    ref_key: str | None,
    cp_raw: int,
    cp_note: str,
    desc_pts: int,
    desc_ratio: int,
) -> tuple[Criterion, ...]:
    """`pair_explanation` of an exact pair, positional and with the caches inlined: the
    engine builds hundreds of thousands of these."""
    found = _DATE_CACHE.get((date_pts, days, via_value_date, ""))
    date_c = (
        found
        if found is not None
        else date_criterion(date_pts, days, via_value_date=via_value_date)
    )
    found = _COUNTERPARTY_CACHE.get((cp_raw, cp_note, ref_pts))
    cp_c = found if found is not None else counterparty_criterion(cp_raw, cp_note, ref_pts)
    found = _DESCRIPTION_CACHE.get((desc_pts, desc_ratio))
    desc_c = found if found is not None else description_criterion(desc_pts, desc_ratio)
    return (_EXACT, date_c, reference_criterion(ref_pts, ref_key), cp_c, desc_c)


# ------------------------------------------------------------------------------ row cues

# "SAMMLER 4 POSTEN", "4 ITEMS", "Anzahl 4": how many payments a batch booking holds.
_COUNT_CUE: Final = re.compile(
    r"(?<![0-9])([0-9]{1,3})\s*(?:POSTEN|ITEMS?|TRANSAKTIONEN|TRANSACTIONS?|TXNS?|"
    r"ZAHLUNGEN|BUCHUNGEN|UEBERWEISUNGEN|ÜBERWEISUNGEN|LASTSCHRIFTEN|PAYMENTS?)(?![A-Z])"
    r"|(?:ANZAHL|NBOFTXS|COUNT)\W{0,3}([0-9]{1,3})(?![0-9])"
)
# Words of a booking that pays or collects several items at once.
_BATCH_WORDS: Final = (
    "SAMMLER", "SAMMEL", "BATCH", "BULK", "ZAHLUNGSLAUF", "PAYMENT RUN", "PMTINF", "POSTEN",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class BatchCue:
    count: int | None  # the number of payments the text or Btch/NbOfTxs states
    text: str  # what said so, for the explanation


def batch_cue(row: EntryRow) -> BatchCue | None:
    """Whether a bank row says it is a batch (`SAMMLER 4 POSTEN PMTINF-...`, camt
    Btch/NbOfTxs), and how many payments it holds when it says so."""
    text = f"{row.booking_text} {row.description}".upper()
    count = row.batch_count if row.batch_count and row.batch_count > 1 else None
    match = _COUNT_CUE.search(text)
    if match is not None and count is None:
        count = int(match[1] or match[2])
        if count < 2:
            count = None
    if count is not None:
        return BatchCue(count, f"{count} payments stated")
    for word in _BATCH_WORDS:
        if word in text:
            return BatchCue(None, f"'{word}' in the text")
    return None


# "Teilzahlung 2/3", "Rate 1/12", "Abschlag 1/2", "instalment 2 of 3": one part of a whole.
_INSTALMENT: Final = re.compile(
    r"(?:TEILZAHLUNG|RATE|ABSCHLAG|INSTAL+MENT|PARTIAL PAYMENT|TEILBETRAG)\W{0,3}"
    r"([0-9]{1,2})\s*(?:/|VON|OF)\s*([0-9]{1,2})(?![0-9])",
    re.IGNORECASE,
)


def is_batch(row: EntryRow) -> bool:
    """A bank row whose amount is not one GL entry's by its own account: several payments
    (details, Btch/NbOfTxs, a batch text) or one instalment of several ("Teilzahlung
    2/3"). It pairs 1:1 only with a GL entry sharing evidence with it: an equal amount is
    no evidence here."""
    if len(row.details) > 1 or (row.batch_count or 0) > 1:
        return True
    text = (
        f"{row.booking_text} {row.description}".upper()
        if row.booking_text
        else (row.description.upper())
    )
    if not might_be_batch(text):
        return False
    if batch_cue(row) is not None:
        return True
    match = _INSTALMENT.search(text)
    return match is not None and int(match[2]) > 1


def might_be_batch(text: str) -> bool:
    """A cheap pre-check before `is_batch`: a batch word, or digits around a slash."""
    return (
        "SAMM" in text
        or "POSTEN" in text
        or "BATCH" in text
        or "PMTINF" in text
        or ("/" in text and _INSTALMENT.search(text) is not None)
    )


# ----------------------------------------------------------------------- row-level helpers


def date_distance(a: EntryRow, b: EntryRow) -> tuple[int, bool]:
    """Smallest business-day distance over booking and value dates, and whether a value
    date won."""
    booking = abs(business_day(a.booking_date) - business_day(b.booking_date))
    best = booking
    for x in (a.booking_date, a.value_date):
        for y in (b.booking_date, b.value_date):
            if x is not None and y is not None:
                best = min(best, abs(business_day(x) - business_day(y)))
    return best, best < booking


class PairScore(NamedTuple):
    score: int
    difference: Decimal
    days: int
    explanation: tuple[Criterion, ...]


def score_rows(source: EntryRow, ledger: EntryRow, settings: MatchSettings) -> PairScore | None:
    """Score of a would-be 1:1 pair, or None when the pair is no candidate at all.

    A candidate has the same currency, |difference| within tolerance (and, when the
    difference is not zero, shared evidence: see `shares_evidence`), a date distance
    within the window and a score of at least `settings.min_score`. The engine computes
    the same numbers in bulk; this row-level form is the reference for tests.
    """
    if source.currency != ledger.currency:
        return None
    days, via_value = date_distance(source, ledger)
    if days > settings.date_window_days:
        return None
    diff = to_micro(source.amount) - to_micro(ledger.amount)
    fs, fl = row_features(source), row_features(ledger)
    ev = evidence(fs, fl)
    charges, instructed = amount_evidence(source)
    basis, tol = amount_basis(
        diff,
        to_micro(ledger.amount),
        tolerance=tolerance_micro(source.amount, source.currency, settings),
        reference_tolerance=reference_tolerance_micro(source.amount, source.currency, settings),
        charges=charges,
        instructed=instructed,
        shared=shares_evidence(fs, fl),
        shared_reference=ev.reference > 0,
        batch=is_batch(source),
        conflict=invoice_conflict(fs, fl),
    )
    if basis == BASIS_NONE:
        return None
    a_pts = basis_points(basis, diff, tol)
    d_pts = date_points(days, settings.date_window_days)
    score = a_pts + d_pts + ev.points()
    if score < settings.min_score:
        return None
    difference = source.amount - ledger.amount
    explanation = pair_explanation(
        amount_pts=a_pts,
        difference=difference,
        tolerance=tol,
        currency=source.currency,
        date_pts=d_pts,
        days=days,
        via_value_date=via_value,
        ev=ev,
        amount_basis=basis,
        explained=charges if basis == BASIS_CHARGES else instructed,
    )
    return PairScore(score, difference, days, explanation)
