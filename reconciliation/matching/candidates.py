"""1:1 candidate pairs by index, never by an all-pairs scan (DESIGN.md §2.1).

Two indexes, both sorted int64 keys searched with ``numpy.searchsorted`` (vectorised over
all sources at once, so a million lookups are one C call instead of a million dict probes):

1. Exact amounts, keyed ``(currency, day, amount rank)`` (days are business-day numbers,
   `scoring.business_day`, so the window skips weekends) where the rank is the position
   among the distinct ledger amounts. Every row is one or two *points* (booking date, and
   value date when it differs); a source point asks, for each day offset -window..+window,
   for the key range of its own amount: exactly what a ``(currency, amount)`` dict bucket
   filtered by date gives. This is the index the zero-tolerance case needs.
2. Shared evidence within tolerance, keyed ``(evidence key, currency, amount rank)``, where
   the evidence keys of a row are its reference keys, its IBAN and its normalised name
   (the row-level rule is `scoring.shares_evidence`). A source asks for the amount range
   ``[a - tol, a + tol]`` under each of its keys, `tol` being the widest any rule could
   accept for it (the ledger's tolerance, the fee tolerance of a shared reference, the
   difference its charges or instructed amount explain); the date window is then checked
   on the (few) hits, and the scoring decides which rule, if any, admits the pair. A pair
   whose amounts differ is a candidate *only* with shared evidence (a fee explains a
   difference only once the pair is known to be the same payment; a bare amount within
   tolerance is a coincidence, and on small amounts a 5.00 tolerance would otherwise make
   dozens of candidates per row). A key that brings more than
   :data:`EVIDENCE_KEY_LIMIT` rows into one source's range distinguishes nothing and is
   skipped (its pairs then get no reference points either).

Crowded sources. When one source has more than :data:`CROWD_LIMIT` exact-amount candidates
(skewed data: many equal amounts in the same few days) enumerating them all would make the
pair count quadratic in the bucket size. Such a source keeps its evidence pairs (index 2,
computed for every source) and the :data:`NEAREST_K` nearest by date. The optimum is then
taken over this reduced graph. A dropped pair shares no reference, IBAN or name with the
source and is no nearer in date than the kept ones, so it could differ from them only by
fuzzy-name or description points: among dozens of equal amounts, a guess either way (and
kept pairs that tie with each other are flagged ambiguous, so never auto-accepted).

Scoring is vectorised too: amount and date points are array arithmetic; the reference
points come from the evidence join's hits (so a key skipped by the limit above gives no
points); IBAN and name equality compare integer ids; name and description similarity run
through ``rapidfuzz.process.cpdist`` (pairwise, in C). Rows carry their evidence as small
integer ids (a CSR array of reference-key ids, an IBAN id, a name id) instead of Python
objects, which keeps a million rows per side within memory.

Cost: O((n + m) · window · log m) in C plus O(rows + candidates) in Python for key
extraction and list building, whatever the data.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
from rapidfuzz.fuzz import token_set_ratio
from rapidfuzz.process import cpdist
from rapidfuzz.utils import default_process

from reconciliation.matching.references import INVOICE_KIND, reference_keys
from reconciliation.matching.scoring import (
    AMOUNT_EXACT,
    AMOUNT_TOLERANCE_BEST,
    BASIS_CHARGES,
    BASIS_EXACT,
    BASIS_INSTRUCTED,
    BASIS_NONE,
    BASIS_REFERENCE,
    BASIS_TOLERANCE,
    COUNTERPARTY_IBAN,
    DESCRIPTION_MAX,
    EVIDENCE_MAX,
    NAME_STEPS,
    NOT_A_CANDIDATE,
    REFERENCE_FULL,
    REFERENCE_INVOICE,
    Features,
    amount_basis,
    amount_evidence,
    amount_points_array,
    basis_points,
    business_days_array,
    date_points_array,
    is_batch,
    normalise_iban,
    normalise_name,
    row_features,
    row_parts,
    to_micro,
)
from reconciliation.matching.types import EntryRow

CROWD_LIMIT: Final = 32
NEAREST_K: Final = 4
EVIDENCE_KEY_LIMIT: Final = 64
_JOIN_CHUNK: Final = 500_000
# cpdist threads: the comparisons are independent, and rapidfuzz releases the GIL.
FUZZY_WORKERS: Final = -1

_INT64_MICRO_LIMIT: Final = 2**62  # beyond this an amount's micro-units overflow int64 maths


@dataclass(slots=True)
class Vocabulary:
    """Evidence values shared by both sides, as dense ids (first seen, in id order).

    While the sides are encoded, reference keys live in a list and a lookup dict; `seal()`
    then packs them into one ASCII blob with offsets (keys are upper-case letters and
    digits), which takes a fifth of the memory of a million small strings.
    """

    names: list[str] = field(default_factory=list)  # normalised counterparty names
    n_keys: int = 0
    n_ibans: int = 0
    invoice: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    _keys: list[str] = field(default_factory=list)  # reference keys ("R:..."/"I:...")
    _blob: bytes = b""
    _offsets: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    _key_id: dict[str, int] = field(default_factory=dict)
    _name_id: dict[str, int] = field(default_factory=dict)
    _iban_id: dict[str, int] = field(default_factory=dict)

    def seal(self) -> None:
        """Pack the keys and drop the big lookup dicts (IBANs are few: that one stays)."""
        keys = self._keys
        self.n_keys = len(keys)
        self.invoice = np.fromiter((k[0] == INVOICE_KIND[0] for k in keys), bool, len(keys))
        self._offsets = np.zeros(len(keys) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, keys), np.int64, len(keys)), out=self._offsets[1:])
        self._blob = "".join(keys).encode("ascii")
        self._keys = []
        self._key_id = {}
        self._name_id = {}

    def key_text(self, key_id: int) -> str:
        return self._blob[self._offsets[key_id] : self._offsets[key_id + 1]].decode("ascii")

    def iban_token(self, iban: str) -> str:
        """The IBAN as `Side.evidence` spells it ("#<id>"), for values outside the rows."""
        norm = normalise_iban(iban)
        found = self._iban_id.get(norm)
        return f"#{found}" if found is not None else f"!{norm}"


@dataclass(slots=True)
class Side:
    """One side's rows (sorted by id) as column arrays, and their evidence as ids."""

    rows: Sequence[EntryRow]
    ids: list[str]
    amount: np.ndarray  # int64 micro-units, or object (Python ints) for huge amounts
    currency: np.ndarray  # int32 code, shared between the two sides
    # Business-day numbers (`scoring.business_day`): every distance here is in business days.
    booking: np.ndarray  # int64
    value: np.ndarray  # int64; the booking date's when there is no value date
    key_ptr: np.ndarray  # CSR: reference-key ids of row i are key_ids[key_ptr[i]:key_ptr[i+1]]
    key_ids: np.ndarray
    iban: np.ndarray  # int32 IBAN id, -1 when none
    name: np.ndarray  # int32 normalised-name id, -1 when none
    vocab: Vocabulary
    # Bank side: charges and instructed amount (micro-units, 0 when not reported), which
    # may explain a difference to the GL amount (scoring.amount_evidence).
    charges: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    instructed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    batch: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # is_batch
    has_invoice: np.ndarray | None = None  # computed on first use, once the vocabulary is sealed
    _features: dict[int, Features] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rows)

    def evidence(self, i: int) -> Features:
        """Keys, IBAN and name of row i from its ids (no description): cheap, for groups."""
        vocab = self.vocab
        lo, hi = int(self.key_ptr[i]), int(self.key_ptr[i + 1])
        keys = tuple(vocab.key_text(k) for k in self.key_ids[lo:hi].tolist())
        iban = int(self.iban[i])
        name = int(self.name[i])
        return Features(
            keys, f"#{iban}" if iban >= 0 else "", vocab.names[name] if name >= 0 else "", ""
        )

    def features(self, i: int) -> Features:
        """Full features of one row, computed on demand (groups and reversals need few)."""
        found = self._features.get(i)
        if found is None:
            found = self._features[i] = row_features(self.rows[i])
        return found


def prepare_side(
    rows: Sequence[EntryRow],
    currency_codes: dict[str, int],
    vocab: Vocabulary,
    *,
    bank: bool = True,
) -> Side:
    """Column arrays and evidence ids of rows already sorted by id (`bank`: the source
    side, whose batch flags and explained amounts the scoring uses)."""
    n = len(rows)
    try:
        amount = np.fromiter((to_micro(r.amount) for r in rows), np.int64, n)
        huge = n > 0 and max(int(amount.max()), -int(amount.min())) >= _INT64_MICRO_LIMIT
    except OverflowError:
        huge = True
    if huge:
        # Exact Python ints, just slower, when sums of micro-units could overflow int64.
        amount = np.array([to_micro(r.amount) for r in rows], dtype=object)
    booking = business_days_array(
        np.fromiter((r.booking_date.toordinal() for r in rows), np.int64, n)
    )
    # A missing value date is the booking date.
    value = business_days_array(
        np.fromiter(((r.value_date or r.booking_date).toordinal() for r in rows), np.int64, n)
    )
    currency = np.fromiter((currency_codes[r.currency] for r in rows), np.int32, n)

    key_id, name_id, iban_id = vocab._key_id, vocab._name_id, vocab._iban_id
    keys, names = vocab._keys, vocab.names
    # array('q'/'i') holds plain machine ints: a list would keep an int object per entry.
    ptr = array("q", [0])
    flat = array("q")
    ibans = array("i")
    people = array("i")
    # Raw IBAN/name text -> id: counterparties repeat, so most rows cost one dict probe.
    raw_iban: dict[str, int] = {}
    raw_name: dict[str, int] = {}
    explained: list[tuple[int, int, int]] = []  # (row, charges, instructed)
    batches: list[int] = []
    for index, row in enumerate(rows):
        if bank and is_batch(row):
            batches.append(index)
        if bank and (row.details or row.charges is not None or row.instructed_amount is not None):
            charges, instructed = amount_evidence(row)
            if charges or instructed:
                explained.append((index, charges, instructed))
        if row.details:
            references, texts, _, name, iban = row_parts(row)
        else:
            references, description = row.references, row.description
            texts = (description,) if description else ()
            name, iban = row.counterparty_name, row.counterparty_iban
        if references or texts:
            for key in reference_keys(references, texts):
                kid = key_id.get(key)
                if kid is None:
                    kid = key_id[key] = len(keys)
                    keys.append(key)
                flat.append(kid)
        ptr.append(len(flat))
        if iban:
            bid = raw_iban.get(iban)
            if bid is None:
                norm = normalise_iban(iban)
                bid = iban_id.get(norm)
                if bid is None:
                    bid = iban_id[norm] = len(iban_id)
                raw_iban[iban] = bid
            ibans.append(bid)
        else:
            ibans.append(-1)
        if name:
            nid = raw_name.get(name)
            if nid is None:
                norm = normalise_name(name)
                nid = name_id.get(norm, -1) if norm else -1
                if norm and nid < 0:
                    nid = name_id[norm] = len(names)
                    names.append(norm)
                raw_name[name] = nid
            people.append(nid)
        else:
            people.append(-1)
    vocab.n_ibans = len(iban_id)
    charges_of = np.zeros(n, dtype=np.int64)
    instructed_of = np.zeros(n, dtype=np.int64)
    for index, charges, instructed in explained:
        if max(charges, instructed) < _INT64_MICRO_LIMIT:
            charges_of[index], instructed_of[index] = charges, instructed
    return Side(
        rows=rows,
        ids=[r.id for r in rows],
        amount=amount,
        currency=currency,
        booking=booking,
        value=value,
        key_ptr=np.frombuffer(ptr, dtype=np.int64).copy(),
        key_ids=np.frombuffer(flat, dtype=np.int64).copy(),
        iban=np.frombuffer(ibans, dtype=np.int32).copy(),
        name=np.frombuffer(people, dtype=np.int32).copy(),
        vocab=vocab,
        charges=charges_of,
        instructed=instructed_of,
        batch=np.isin(np.arange(n), np.array(batches, dtype=np.int64)),
    )


def day_distance(
    src: Side, s: np.ndarray, led: Side, lg: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Smallest distance over booking/value dates per pair, and whether a value date won."""
    booking = np.abs(src.booking[s] - led.booking[lg])
    best = np.minimum(
        np.minimum(booking, np.abs(src.value[s] - led.value[lg])),
        np.minimum(np.abs(src.booking[s] - led.value[lg]), np.abs(src.value[s] - led.booking[lg])),
    )
    return best, best < booking


@dataclass(slots=True)
class CandidateEdges:
    source: np.ndarray  # int64 source index, sorted (then by ledger index)
    ledger: np.ndarray
    crowded_sources: int
    # Reference-key hits of the evidence join: (source, ledger, key id), window checked.
    hit_source: np.ndarray
    hit_ledger: np.ndarray
    hit_key: np.ndarray


def _points(side: Side, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row index, day) of every point: booking date, plus value date where different."""
    other = idx[side.value[idx] != side.booking[idx]]
    return (
        np.concatenate([idx, other]),
        np.concatenate([side.booking[idx], side.value[other]]).astype(np.int64),
    )


def _rank_bits(uniq: np.ndarray) -> int:
    return max(1, (len(uniq) + 1).bit_length())


def generate(
    src: Side,
    led: Side,
    vocab: Vocabulary,
    src_idx: np.ndarray,
    led_idx: np.ndarray,
    tolerance: np.ndarray,
    window: int,
) -> CandidateEdges:
    """Every candidate (source, ledger) pair of the free rows; see the module docstring.

    `tolerance` is per source row (micro-units); `src_idx`/`led_idx` are the free rows.
    """
    empty = np.zeros(0, dtype=np.int64)
    if len(src_idx) == 0 or len(led_idx) == 0:
        return CandidateEdges(empty, empty, 0, empty, empty, empty)
    uniq = np.unique(led.amount[led_idx])
    s_exact, l_exact, crowded = _exact_edges(src, led, src_idx, led_idx, uniq, window)
    s_ev, l_ev, e_ev = _evidence_edges(src, led, vocab, src_idx, led_idx, uniq, tolerance, window)
    codes = np.unique(np.concatenate([s_exact, s_ev]) * len(led) + np.concatenate([l_exact, l_ev]))
    is_key = e_ev < vocab.n_keys
    return CandidateEdges(
        codes // len(led),
        codes % len(led),
        int(crowded.sum()),
        s_ev[is_key],
        l_ev[is_key],
        e_ev[is_key],
    )


def _exact_edges(
    src: Side,
    led: Side,
    src_idx: np.ndarray,
    led_idx: np.ndarray,
    uniq: np.ndarray,
    window: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index 1: equal amounts within the window; plus the crowded-source mask."""
    lp_row, lp_day = _points(led, led_idx)
    sp_row, sp_day = _points(src, src_idx)
    first = min(int(lp_day.min()), int(sp_day.min())) - window - 1
    span = max(int(lp_day.max()), int(sp_day.max())) - first + window + 2
    bits = _rank_bits(uniq)

    lp_key = (led.currency[lp_row].astype(np.int64) * span + (lp_day - first)) << bits
    lp_key |= np.searchsorted(uniq, led.amount[lp_row]).astype(np.int64)
    order = np.argsort(lp_key, kind="stable")  # ties stay in row order
    lp_key, lp_row = lp_key[order], lp_row[order]

    s_amount = src.amount[sp_row]
    rank = np.searchsorted(uniq, s_amount, side="left")
    present = rank < len(uniq)
    present[present] = uniq[rank[present]] == s_amount[present]
    sp_row, sp_day, rank = sp_row[present], sp_day[present], rank[present].astype(np.int64)
    sp_cd = src.currency[sp_row].astype(np.int64) * span + (sp_day - first)
    # Sorted needles let searchsorted reuse its previous position (and the cache).
    order = np.argsort((sp_cd << bits) | rank)
    sp_row, sp_cd, rank = sp_row[order], sp_cd[order], rank[order]

    q_row: list[np.ndarray] = []
    q_delta: list[np.ndarray] = []
    q_lo: list[np.ndarray] = []
    q_hi: list[np.ndarray] = []
    for delta in range(-window, window + 1):
        key = ((sp_cd + delta) << bits) | rank
        lo = np.searchsorted(lp_key, key, side="left")
        hi = np.searchsorted(lp_key, key, side="right")
        hit = hi > lo
        q_row.append(sp_row[hit])
        q_delta.append(np.full(int(hit.sum()), delta, dtype=np.int64))
        q_lo.append(lo[hit])
        q_hi.append(hi[hit])
    rows = np.concatenate(q_row)
    deltas = np.concatenate(q_delta)
    los = np.concatenate(q_lo).astype(np.int64)
    his = np.concatenate(q_hi).astype(np.int64)

    per_source = np.bincount(rows, weights=his - los, minlength=len(src))
    crowded = per_source > CROWD_LIMIT
    plain = ~crowded[rows]
    s_edges, l_edges = _expand(rows[plain], los[plain], his[plain], lp_row)
    if crowded.any():
        cs, cl = _nearest(rows[~plain], deltas[~plain], los[~plain], his[~plain], lp_row)
        s_edges = np.concatenate([s_edges, cs])
        l_edges = np.concatenate([l_edges, cl])
    return s_edges, l_edges, crowded


def _expand(
    rows: np.ndarray, lo: np.ndarray, hi: np.ndarray, lp_row: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """All (source, ledger) pairs of the ranges, vectorised (repeat + running offsets)."""
    lengths = hi - lo
    total = int(lengths.sum())
    if total == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    starts = np.cumsum(lengths) - lengths
    pos = np.arange(total, dtype=np.int64) - np.repeat(starts - lo, lengths)
    return np.repeat(rows, lengths).astype(np.int64), lp_row[pos].astype(np.int64)


def _nearest(
    rows: np.ndarray, deltas: np.ndarray, los: np.ndarray, his: np.ndarray, lp_row: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The NEAREST_K ledger rows by date (then id) of each crowded source."""
    order = np.lexsort((los, deltas, np.abs(deltas), rows))
    rows_l, los_l, his_l = rows[order].tolist(), los[order].tolist(), his[order].tolist()
    out_s: list[int] = []
    out_l: list[int] = []
    current = -1
    taken: list[int] = []
    for s, lo, hi in zip(rows_l, los_l, his_l, strict=True):
        if s != current:
            current = s
            taken = []
        for pos in range(lo, min(hi, lo + NEAREST_K)):
            if len(taken) == NEAREST_K:
                break
            lg = int(lp_row[pos])
            if lg not in taken:
                taken.append(lg)
                out_s.append(s)
                out_l.append(lg)
    return np.array(out_s, dtype=np.int64), np.array(out_l, dtype=np.int64)


def _evidence_of(side: Side, vocab: Vocabulary, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(evidence id, row) of the rows in `idx`: reference keys, then IBANs, then names.

    Evidence ids: reference-key id, n_keys + IBAN id, n_keys + n_ibans + name id.
    """
    counts = side.key_ptr[idx + 1] - side.key_ptr[idx]
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    pos = np.arange(total, dtype=np.int64) - np.repeat(starts - side.key_ptr[idx], counts)
    k_rows = np.repeat(idx, counts)
    k_ids = side.key_ids[pos]
    has_iban = idx[side.iban[idx] >= 0]
    has_name = idx[side.name[idx] >= 0]
    n_keys = vocab.n_keys
    return (
        np.concatenate(
            [
                k_ids,
                n_keys + side.iban[has_iban].astype(np.int64),
                n_keys + vocab.n_ibans + side.name[has_name].astype(np.int64),
            ]
        ),
        np.concatenate([k_rows, has_iban, has_name]).astype(np.int64),
    )


def _evidence_edges(
    src: Side,
    led: Side,
    vocab: Vocabulary,
    src_idx: np.ndarray,
    led_idx: np.ndarray,
    uniq: np.ndarray,
    tolerance: np.ndarray,
    window: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index 2: pairs sharing evidence, amounts within tolerance, within the window.

    Returns every hit as (source, ledger, evidence id); a pair sharing two keys appears
    twice (the caller de-duplicates pairs and keeps the hits for the reference points).
    """
    n_cur = int(max(int(src.currency.max()), int(led.currency.max()))) + 1
    bits = _rank_bits(uniq)
    n_evidence = vocab.n_keys + vocab.n_ibans + len(vocab.names)
    if (n_evidence * n_cur) >> (62 - bits):
        raise ValueError("too many evidence values for the packed index")

    l_eid, l_row = _evidence_of(led, vocab, led_idx)
    lk_key = (l_eid * n_cur + led.currency[l_row]) << bits
    del l_eid
    lk_key |= np.searchsorted(uniq, led.amount[l_row]).astype(np.int64)
    order = np.argsort(lk_key, kind="stable")  # ties stay in row order
    lk_key, l_row = lk_key[order], l_row[order].astype(np.int32)
    del order

    s_eid, s_row = _evidence_of(src, vocab, src_idx)
    out_s: list[np.ndarray] = []
    out_l: list[np.ndarray] = []
    out_e: list[np.ndarray] = []
    # Sources in chunks: a dozen temporary arrays per evidence value would otherwise peak
    # at hundreds of MB for a million rows.
    for start in range(0, len(s_eid), _JOIN_CHUNK):
        eid = s_eid[start : start + _JOIN_CHUNK]
        row = s_row[start : start + _JOIN_CHUNK]
        head = (eid * n_cur + src.currency[row]) << bits
        amount = src.amount[row]
        tol = tolerance[row]
        lo = np.searchsorted(
            lk_key, head | np.searchsorted(uniq, amount - tol, side="left").astype(np.int64)
        )
        hi = np.searchsorted(
            lk_key, head | np.searchsorted(uniq, amount + tol, side="right").astype(np.int64)
        )
        useful = (hi > lo) & (hi - lo <= EVIDENCE_KEY_LIMIT)
        s_edges, l_edges = _expand(row[useful], lo[useful], hi[useful], l_row)
        e_edges = np.repeat(eid[useful], (hi - lo)[useful])
        days, _ = day_distance(src, s_edges, led, l_edges)
        near = days <= window
        out_s.append(s_edges[near])
        out_l.append(l_edges[near])
        out_e.append(e_edges[near])
    if not out_s:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    return np.concatenate(out_s), np.concatenate(out_l), np.concatenate(out_e)


@dataclass(slots=True)
class ScoredEdges:
    """Candidate pairs with their scores; parallel arrays, sorted by (source, ledger)."""

    source: np.ndarray
    ledger: np.ndarray
    score: np.ndarray  # int64 0..100 (NOT_A_CANDIDATE for a pair failing a rule)
    amount_points: np.ndarray
    date_points: np.ndarray
    days: np.ndarray
    via_value: np.ndarray  # bool: a value date gave the smallest distance
    reference_points: np.ndarray
    reference_key: np.ndarray  # vocabulary key id, -1 when none
    amount_basis: np.ndarray  # scoring.BASIS_*: why the amounts are acceptable
    amount_tolerance: np.ndarray  # the tolerance that admitted an inexact pair (micro-units)
    counterparty_raw: np.ndarray  # before the shared 35-point cap
    counterparty_kind: np.ndarray  # 0 no name on one side, 1 same IBAN, 2 names compared
    name_ratio: np.ndarray  # int 0..100 when kind == 2
    description_points: np.ndarray
    description_ratio: np.ndarray  # int 0..100, -1 when one side has no description
    crowded_sources: int = 0

    def take(self, mask: np.ndarray) -> ScoredEdges:
        keep = np.flatnonzero(mask)
        return ScoredEdges(
            **{f: getattr(self, f)[keep] for f in _ARRAY_FIELDS},
            crowded_sources=self.crowded_sources,
        )


_ARRAY_FIELDS: Final = (
    "source",
    "ledger",
    "score",
    "amount_points",
    "date_points",
    "days",
    "via_value",
    "reference_points",
    "reference_key",
    "amount_basis",
    "amount_tolerance",
    "counterparty_raw",
    "counterparty_kind",
    "name_ratio",
    "description_points",
    "description_ratio",
)


def _descriptions(side: Side, idx: np.ndarray) -> list[str]:
    rows = side.rows
    return [row_parts(rows[i])[2] if rows[i].details else rows[i].description for i in idx.tolist()]


def score(
    src: Side,
    led: Side,
    vocab: Vocabulary,
    edges: CandidateEdges,
    tolerance: np.ndarray,
    window: int,
    reference_tolerance: np.ndarray | None = None,
    *,
    batch_rule: bool = True,
) -> ScoredEdges:
    """Scores of all candidate pairs, vectorised (see the module docstring).

    `batch_rule=False` lets a batch row pair on an equal amount alone (the engine's last
    1:1 pass, for a batch booked as one GL entry; see engine.py).

    Gives exactly `scoring.score_rows` for every pair (the property tests check it), except
    that a reference key skipped by the evidence join's limit gives no points here.
    `tolerance` and `reference_tolerance` are per source row (micro-units).
    """
    s, lg = edges.source, edges.ledger
    n = len(s)
    if reference_tolerance is None:
        reference_tolerance = np.zeros(len(src), dtype=tolerance.dtype)
    diff = src.amount[s] - led.amount[lg]
    days, via_value = day_distance(src, s, led, lg)
    d_pts = date_points_array(days.astype(np.int64), window).astype(np.int64)

    # Reference: the best hit of each pair (a full reference over an invoice number, then
    # the lowest key id, so the explanation is deterministic).
    ref_pts = np.zeros(n, dtype=np.int64)
    ref_key = np.full(n, -1, dtype=np.int64)
    if len(edges.hit_key):
        edge_of = np.searchsorted(s * len(led) + lg, edges.hit_source * len(led) + edges.hit_ledger)
        pts = np.where(vocab.invoice[edges.hit_key], REFERENCE_INVOICE, REFERENCE_FULL)
        order = np.lexsort((edges.hit_key, -pts, edge_of))
        edge_of, pts, keys = edge_of[order], pts[order], edges.hit_key[order]
        first = np.ones(len(edge_of), dtype=bool)
        first[1:] = edge_of[1:] != edge_of[:-1]
        ref_pts[edge_of[first]] = pts[first]
        ref_key[edge_of[first]] = keys[first]

    # Counterparty: the same IBAN, else the names (equal ids need no fuzzy comparison).
    s_iban, l_iban = src.iban[s], led.iban[lg]
    s_name, l_name = src.name[s], led.name[lg]
    same_iban = (s_iban >= 0) & (s_iban == l_iban)
    named = ~same_iban & (s_name >= 0) & (l_name >= 0)
    ratio = np.zeros(n, dtype=np.int64)
    ratio[named & (s_name == l_name)] = 100
    fuzzy = np.flatnonzero(named & (s_name != l_name))
    if len(fuzzy):
        names = vocab.names
        ratio[fuzzy] = cpdist(
            [names[i] for i in s_name[fuzzy].tolist()],
            [names[i] for i in l_name[fuzzy].tolist()],
            scorer=token_set_ratio,
            dtype=np.float64,
            workers=FUZZY_WORKERS,
        ).astype(np.int64)
    cp_raw = np.zeros(n, dtype=np.int64)
    for threshold, points in reversed(NAME_STEPS):
        cp_raw[named & (ratio >= threshold)] = points
    cp_raw[same_iban] = COUNTERPARTY_IBAN
    cp_kind = np.where(same_iban, 1, np.where(named, 2, 0)).astype(np.int64)

    # Description similarity, both descriptions present.
    desc_ratio = np.full(n, -1, dtype=np.int64)
    s_desc = _descriptions(src, s)
    l_desc = _descriptions(led, lg)
    both = np.flatnonzero(
        np.fromiter(
            (bool(a.strip()) and bool(b.strip()) for a, b in zip(s_desc, l_desc, strict=True)),
            bool,
            n,
        )
    )
    if len(both):
        pick = both.tolist()
        desc_ratio[both] = cpdist(
            [s_desc[i] for i in pick],
            [l_desc[i] for i in pick],
            scorer=token_set_ratio,
            processor=default_process,
            dtype=np.float64,
            workers=FUZZY_WORKERS,
        ).astype(np.int64)
    desc_pts = np.where(desc_ratio < 0, 0, np.clip((desc_ratio - 50) // 10, 0, DESCRIPTION_MAX))

    # The amount: exact, or a difference one of scoring.amount_basis's rules admits.
    shared = (ref_pts > 0) | same_iban | (named & (s_name == l_name))
    conflict = _has_invoice(src, vocab)[s] & _has_invoice(led, vocab)[lg] & (ref_key < 0)
    basis, basis_tolerance, a_pts = _amount_bases(
        src,
        led,
        s,
        lg,
        diff,
        tolerance,
        reference_tolerance,
        shared,
        ref_pts > 0,
        conflict,
        src.batch[s] if batch_rule else np.zeros(n, dtype=bool),
    )
    total = a_pts + d_pts + ref_pts + np.minimum(cp_raw, EVIDENCE_MAX - ref_pts) + desc_pts
    total[basis == BASIS_NONE] = NOT_A_CANDIDATE
    return ScoredEdges(
        s,
        lg,
        total,
        a_pts,
        d_pts,
        days.astype(np.int64),
        via_value,
        ref_pts,
        ref_key,
        basis,
        basis_tolerance,
        cp_raw,
        cp_kind,
        ratio,
        desc_pts,
        desc_ratio,
        edges.crowded_sources,
    )


def _amount_bases(
    src: Side,
    led: Side,
    s: np.ndarray,
    lg: np.ndarray,
    diff: np.ndarray,
    tolerance: np.ndarray,
    reference_tolerance: np.ndarray,
    shared: np.ndarray,
    shared_reference: np.ndarray,
    conflict: np.ndarray,
    batch: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`scoring.amount_basis` and the amount points of every pair: (basis, the tolerance
    that admitted it, points)."""
    if diff.dtype == object:
        # Huge amounts (beyond int64 micro-units): exact Python ints, row by row.
        out = [
            amount_basis(
                int(d),
                int(la),
                tolerance=int(t),
                reference_tolerance=int(rt),
                charges=int(c),
                instructed=int(i),
                shared=bool(sh),
                shared_reference=bool(sr),
                batch=bool(bt),
                conflict=bool(cf),
            )
            for d, la, t, rt, c, i, sh, sr, bt, cf in zip(
                diff.tolist(),
                led.amount[lg].tolist(),
                tolerance[s].tolist(),
                reference_tolerance[s].tolist(),
                src.charges[s].tolist(),
                src.instructed[s].tolist(),
                shared.tolist(),
                shared_reference.tolist(),
                batch.tolist(),
                conflict.tolist(),
                strict=True,
            )
        ]
        basis = np.array([b for b, _ in out], dtype=np.int64)
        used = np.array([t for _, t in out], dtype=object)
        points = np.array(
            [basis_points(b, int(d), int(t)) for (b, t), d in zip(out, diff.tolist(), strict=True)],
            dtype=np.int64,
        )
        return basis, used, points
    gap = np.abs(diff)
    tol = tolerance[s]
    ref_tol = reference_tolerance[s]
    charges = src.charges[s]
    instructed = src.instructed[s]
    conditions = [
        batch & ~shared,
        diff == 0,
        ~shared | conflict | (batch & ~shared_reference),
        (charges > 0) & (diff == -charges),
        (instructed > 0) & (np.abs(led.amount[lg]) == instructed),
        gap <= tol,
        shared_reference & (gap <= ref_tol),
    ]
    basis = np.select(
        conditions,
        [
            BASIS_NONE,
            BASIS_EXACT,
            BASIS_NONE,
            BASIS_CHARGES,
            BASIS_INSTRUCTED,
            BASIS_TOLERANCE,
            BASIS_REFERENCE,
        ],
        default=BASIS_NONE,
    ).astype(np.int64)
    used = np.where(basis == BASIS_REFERENCE, ref_tol, np.where(basis == BASIS_TOLERANCE, tol, 0))
    points = np.where(
        basis == BASIS_EXACT,
        AMOUNT_EXACT,
        np.where(
            (basis == BASIS_CHARGES) | (basis == BASIS_INSTRUCTED),
            AMOUNT_TOLERANCE_BEST,
            amount_points_array(diff, used),
        ),
    ).astype(np.int64)
    return basis, used.astype(np.int64), points


def _has_invoice(side: Side, vocab: Vocabulary) -> np.ndarray:
    """Per row: does it carry an invoice-number key (see `scoring.invoice_conflict`)?"""
    if side.has_invoice is None:
        flags = vocab.invoice[side.key_ids] if len(side.key_ids) else np.zeros(0, dtype=bool)
        counts = np.diff(side.key_ptr)
        per_row = np.zeros(len(side), dtype=bool)
        rows_of = np.repeat(np.arange(len(side)), counts)
        per_row[rows_of[flags]] = True
        side.has_invoice = per_row
    return side.has_invoice
