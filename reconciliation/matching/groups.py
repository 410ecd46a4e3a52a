"""Shapes other than 1:1: reversal pairs, 1:N batches and N:1 splits (DESIGN.md §2.4, §2.6).

All distances here are business days (see scoring.py).

Reversals (`find_reversals`). DESIGN defines a pair by amount, opposite sign and
reference; a marker on the reversal is evidence, not a precondition:

- before any GL matching, the *marked* reversals: flagged (camt `RvslInd`) or booked
  with a return/storno word (`REVERSAL_WORDS`: Ruecklastschrift, Storno, Retoure,
  return, reversal, chargeback, ...). A flagged one pairs with a bank entry of the same
  currency and the exactly opposite amount that shares a reference key with it (booked up
  to `reversal_window_days` before the reversal, or within the date window after it),
  or, without one, has the same counterparty or description within the date window; a
  worded one only on a shared full reference (an end-to-end id: a refund quoting the same
  invoice number is a payment of its own, with its own GL entry);
- after the GL matching, among the bank entries it left, *unmarked* pairs of opposite
  amounts sharing a full reference (a CSV's return carries the original's EREF but no
  flag); the later one is the reversal.

Pairs are ranked by (shared reference first, more shared keys, date distance, ids) and
taken greedily, each entry once; a reversal whose best original ties with another on
that rank is ambiguous. The explanation's `structure` criterion names the marker.

Groups (run on what 1:1 left). For each remaining bank entry, then each remaining GL
entry, look for the one combination of 2..max_group_size entries of the other side, all
of the target's currency and sign and within the date window, whose total matches the
target. Candidate members of every target are gathered at once with the packed-key join
of candidates.py (so a target with fewer than two candidates costs no Python work):

1. Batch with transaction details (1:N only): every detail amount is matched to one GL
   entry of exactly that amount (a shared reference, then the counterparty, then the
   date decide between equal amounts). All details must be covered, and the GL total must
   be within tolerance of the bank amount. Equal candidates left undecided make the
   proposal ambiguous; a detail matched by its amount alone (no reference, no strong
   counterparty) makes it a suggestion only.
2. Evidence pools, in stages over all targets (`SUBSET_STAGES`): members sharing a
   reference with the target (exact sums, then within tolerance), then members sharing
   any evidence (a reference key, IBAN or normalised name; for a batch also its details'
   references and remittances), likewise; at most :data:`POOL_CAP`, nearest first. A
   member quoting another invoice number than the target is left out. Members sharing a
   reference key may lie up to `reference_window_days` away (an instalment a week late),
   others within the date window. Each stage runs over every target before the next, so
   stronger evidence decides first, whatever the targets' order.
3. Date pool: the entries booked within the window (same sign, smaller amount), only when
   the window holds at most 2 x :data:`DATE_POOL` same-sign entries and at most
   :data:`DATE_POOL` of them are smaller, and exact totals only (for 1:N the bank row
   must say it is a batch, `scoring.batch_cue`; for N:1 the bank rows must come from one
   party, `_one_party`): without evidence, a bigger pool or a tolerance makes
   coincidental sums likely (about 2,500 subsets of 12 values versus 18 million of 50),
   and such a match is only suggested (it scores at most 60). Booking dates only, here.
4. Payment runs in busy windows (1:N, last, on what everything else left): a bank row
   that says it is a batch ("SAMMLER 4 POSTEN PMTINF-...", Btch/NbOfTxs) but has no
   usable details is matched with the GL entries its run posted on one day: every set
   that adds up exactly is found day by day by meet-in-the-middle (`sized_subsets`,
   sizes = the stated count or 2..max_group_size, at most :data:`BUCKET_CAP` entries a
   day), and runs competing for entries are decided jointly (`_payment_runs`). The
   explanation reports the days searched and the largest day's size.

For N:1 the tolerance is computed on the GL amount (the bank total is what is searched).

A combination is proposed only when it is the *only* one (in an evidence pool: the only
exact one, else the only one within tolerance). Pools of up to
:data:`ENUMERATE_UP_TO` entries are enumerated whole (numpy, 2**n sums); larger ones are
searched depth first over the amount-sorted pool with two prunings (stop once the running
total passes the upper bound; skip a branch whose largest possible completion stays below
the lower bound), stopping at the second solution and giving up after
:data:`NODE_BUDGET` nodes (counted in stats; such a target gets no proposal), so skewed
data cannot explode.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import combinations
from typing import Final

import numpy as np

from reconciliation.matching.candidates import (
    EVIDENCE_KEY_LIMIT,
    Side,
    Vocabulary,
    _evidence_of,
    _expand,
    _rank_bits,
    day_distance,
)
from reconciliation.matching.references import INVOICE_KIND, reference_keys, shared_key
from reconciliation.matching.scoring import (
    _BATCH_WORDS,
    EVIDENCE_MAX,
    REFERENCE_FULL,
    REFERENCE_INVOICE,
    STRUCTURE_MAX,
    BatchCue,
    Features,
    amount_criterion,
    amount_points,
    batch_cue,
    counterparty_points,
    criterion,
    date_criterion,
    date_points,
    evidence,
    might_be_batch,
    normalise_name,
    pair_explanation,
    to_micro,
    tolerance_micro,
)
from reconciliation.matching.types import Criterion, DetailRow, EntryRow, MatchSettings, Shape

POOL_CAP: Final = 50
# Counterparty points that identify a party (same IBAN, or names >= 95 % alike).
STRONG_COUNTERPARTY: Final = 25
DATE_POOL: Final = 12
NODE_BUDGET: Final = 20_000
ENUMERATE_UP_TO: Final = 12
STRUCTURE_DETAILS: Final = STRUCTURE_MAX
STRUCTURE_EVIDENCE: Final = 3
STRUCTURE_DATE_ONLY: Final = 0


@dataclass(slots=True)
class GroupProposal:
    """A proposal in row indices; the engine turns it into a `Proposal`."""

    source: tuple[int, ...]
    ledger: tuple[int, ...]
    shape: Shape
    score: int
    difference: Decimal
    explanation: tuple[Criterion, ...]
    ambiguous: bool
    exact: bool
    suggest_only: bool = False  # never auto-accepted, whatever the score


class _Budget(Exception):
    """The subset search used up its node budget."""


class _Enough(Exception):
    """The subset search found a second solution: the answer is 'not unique'."""


def unique_subset(
    values: Sequence[int], lo: int, hi: int, max_size: int, budget: int = NODE_BUDGET
) -> tuple[tuple[int, ...] | None, bool]:
    """The only subset (as positions) of 2..max_size `values` whose sum is in [lo, hi].

    `values` must be positive and sorted ascending. Returns (positions, False) when exactly
    one subset fits, (None, False) when none or several do, (None, True) when the node
    budget ran out first. Pools of up to :data:`ENUMERATE_UP_TO` values are enumerated
    whole with numpy (2**n sums in C beat a Python search there); larger ones are searched
    depth first with pruning.
    """
    n = len(values)
    if n < 2 or max_size < 2:
        return None, False
    total = sum(values)
    if total < lo or values[0] + values[1] > hi:
        return None, False
    if n <= ENUMERATE_UP_TO and max(values) < 2**62 // n:
        return _enumerate(values, lo, hi, max_size), False
    return _search(values, lo, hi, max_size, budget)


_SIZES: dict[int, np.ndarray] = {}


def _enumerate(values: Sequence[int], lo: int, hi: int, max_size: int) -> tuple[int, ...] | None:
    n = len(values)
    sums = np.zeros(1, dtype=np.int64)
    for v in values:
        # Subset k's bits say which values it holds; doubling keeps that numbering.
        sums = np.concatenate([sums, sums + v])
    sizes = _SIZES.get(n)
    if sizes is None:
        sizes = np.zeros(1, dtype=np.int64)
        for _ in range(n):
            sizes = np.concatenate([sizes, sizes + 1])
        _SIZES[n] = sizes
    hits = np.flatnonzero((sums >= lo) & (sums <= hi) & (sizes >= 2) & (sizes <= max_size))
    if len(hits) != 1:
        return None
    mask = int(hits[0])
    return tuple(i for i in range(n) if mask >> i & 1)


def _search(
    values: Sequence[int], lo: int, hi: int, max_size: int, budget: int
) -> tuple[tuple[int, ...] | None, bool]:
    n = len(values)
    prefix = [0]
    for v in values:
        prefix.append(prefix[-1] + v)
    solutions: list[tuple[int, ...]] = []
    chosen: list[int] = []
    nodes = 0

    def dfs(start: int, total: int) -> None:
        nonlocal nodes
        for i in range(start, n):
            nodes += 1
            if nodes > budget:
                raise _Budget
            t = total + values[i]
            if t > hi:
                break  # ascending values: every later i only adds more
            chosen.append(i)
            if len(chosen) >= 2 and t >= lo:
                solutions.append(tuple(chosen))
                if len(solutions) > 1:
                    raise _Enough
            room = max_size - len(chosen)
            # The largest completion: the `room` largest values after i.
            if room and i + 1 < n and t + prefix[n] - prefix[max(i + 1, n - room)] >= lo:
                dfs(i + 1, t)
            chosen.pop()

    try:
        dfs(0, 0)
    except _Enough:
        return None, False
    except _Budget:
        return None, True
    return (solutions[0], False) if len(solutions) == 1 else (None, False)


def _days(a: Side, i: int, b: Side, j: int) -> int:
    ab, av = int(a.booking[i]), int(a.value[i])
    bb, bv = int(b.booking[j]), int(b.value[j])
    return min(abs(ab - bb), abs(av - bv), abs(ab - bv), abs(av - bb))


@dataclass(slots=True)
class _Context:
    settings: MatchSettings
    forbidden: frozenset[tuple[int, int]]  # (source index, ledger index)
    stats: dict[str, int]
    # Rows already in live matches (engine.match's `taken_*`): competitors, never members.
    src_taken: np.ndarray
    led_taken: np.ndarray

    def taken(self, *, many_on_ledger: bool) -> np.ndarray:
        """The taken mask of the side the members come from."""
        return self.led_taken if many_on_ledger else self.src_taken


@dataclass(slots=True)
class _Pools:
    """Candidate members per target, computed for all targets at once (vectorised).

    `evidence[t]`: members sharing evidence with t (nearest first); `window[t]`: the
    other side's same-sign rows booked within the window of t, for targets whose window
    holds few enough of them for a date-pool search.
    """

    evidence: dict[int, list[int]]
    window: dict[int, list[int]]


def find_groups(
    src: Side,
    led: Side,
    vocab: Vocabulary,
    src_free: np.ndarray,
    led_free: np.ndarray,
    tolerance: np.ndarray,
    settings: MatchSettings,
    forbidden: frozenset[tuple[int, int]],
    stats: dict[str, int],
    src_taken: np.ndarray | None = None,
    led_taken: np.ndarray | None = None,
) -> list[GroupProposal]:
    """1:N then N:1 proposals on the free rows; marks used rows in the free masks.

    Rows marked in `src_taken`/`led_taken` (already in a live match, neither free nor
    targets) stay in every pool a combination must be unique in, but a combination that
    uses one is never proposed. A rerun thus judges uniqueness against the candidates the
    pass before saw (those it took later in that pass included) and finds nothing that
    pass declined as ambiguous: see engine.match.
    """
    if settings.max_group_size < 2:
        return []
    ctx = _Context(
        settings,
        forbidden,
        stats,
        np.zeros(len(src), dtype=bool) if src_taken is None else src_taken,
        np.zeros(len(led), dtype=bool) if led_taken is None else led_taken,
    )
    stats.setdefault("group_budget_exhausted", 0)
    out: list[GroupProposal] = []

    window = settings.date_window_days
    reach = max(window, settings.reference_window_days)
    batch_rows = np.fromiter((len(r.details) > 1 for r in src.rows), bool, len(src))
    targets = np.flatnonzero(src_free & (src.amount != 0))
    members = np.flatnonzero((led_free | ctx.led_taken) & (led.amount != 0))
    pools = _pools(src, targets, tolerance, led, members, vocab, window, reach)
    by_amount = _detail_amount_index(src, targets[batch_rows[targets]], led, members)
    todo = sorted(
        set(pools.evidence) | set(pools.window) | set(targets[batch_rows[targets]].tolist())
    )
    for b in todo:
        if src_free[b] and batch_rows[b]:
            found = _batch_by_details(src, b, led, led_free, by_amount, int(tolerance[b]), ctx)
            if found is not None:
                _take(found, src_free, led_free, out)
    # Each stage over every target before the next, so that a target with stronger
    # evidence for some members is decided before one that could take them on weaker
    # evidence (an invoice's instalments before an accrual of the same customer).
    for stage in SUBSET_STAGES:
        for b in todo:
            if src_free[b]:
                found = _by_subset(
                    src,
                    b,
                    led,
                    led_free,
                    pools,
                    int(tolerance[b]),
                    ctx,
                    many_on_ledger=True,
                    stage=stage,
                )
                if found is not None:
                    _take(found, src_free, led_free, out)

    # Splits: bank rows that are batches themselves are not parts of a split.
    targets = np.flatnonzero(led_free & (led.amount != 0))
    members = np.flatnonzero((src_free | ctx.src_taken) & (src.amount != 0) & ~batch_rows)
    led_tolerance = np.zeros(len(led), dtype=tolerance.dtype)
    if settings.amount_tolerance_pct:
        rows = led.rows
        for g in targets.tolist():
            led_tolerance[g] = tolerance_micro(rows[g].amount, rows[g].currency, settings)
    else:
        led_tolerance[:] = to_micro(settings.amount_tolerance_abs)
    pools = _pools(led, targets, led_tolerance, src, members, vocab, window, reach)
    todo = sorted(set(pools.evidence) | set(pools.window))
    for stage in SUBSET_STAGES:
        for g in todo:
            if led_free[g]:
                found = _by_subset(
                    led,
                    g,
                    src,
                    src_free,
                    pools,
                    int(led_tolerance[g]),
                    ctx,
                    many_on_ledger=False,
                    stage=stage,
                )
                if found is not None:
                    _take(found, src_free, led_free, out)

    # Payment runs without details or shared evidence last, on what everything with
    # evidence left: the fewer free GL entries a day, the fewer coincidental sums.
    stats.setdefault("group_buckets_over_cap", 0)
    targets = np.flatnonzero(src_free & (src.amount != 0))
    cues = _batch_cues(src, targets)
    if cues and src.amount.dtype != object:
        members = np.flatnonzero((led_free | ctx.led_taken) & (led.amount != 0))
        for found in _payment_runs(src, led, led_free, _DayIndex(led, members), cues, ctx):
            src_free[found.source[0]] = False
            out.append(found)
    return out


def _take(
    found: GroupProposal, src_free: np.ndarray, led_free: np.ndarray, out: list[GroupProposal]
) -> None:
    for s in found.source:
        src_free[s] = False
    for lg in found.ledger:
        led_free[lg] = False
    out.append(found)


# The subset searches, strongest evidence first: members sharing a reference with the
# target (exact sum, then within tolerance), members sharing any evidence (likewise), then
# the date pool (exact sums only).
SUBSET_STAGES: Final = (
    ("reference", True),
    ("reference", False),
    ("evidence", True),
    ("evidence", False),
    ("date", True),
)


def _detail_amount_index(
    src: Side, batches: np.ndarray, led: Side, members: np.ndarray
) -> dict[tuple[int, int], list[tuple[int, int]]]:
    """(currency, signed detail amount) -> [(booking day, GL row)], for the amounts that
    some batch's details carry (a vectorised filter keeps the index small)."""
    wanted: set[tuple[int, int]] = set()
    for b in batches.tolist():
        row = src.rows[b]
        sign = -1 if row.amount < 0 else 1
        cur = int(src.currency[b])
        for detail in row.details:
            if detail.amount is not None:
                wanted.add((cur, sign * abs(to_micro(detail.amount))))
    if not wanted:
        return {}
    amounts = np.array([a for _, a in wanted], dtype=led.amount.dtype)
    hit = members[np.isin(led.amount[members], amounts)]
    index: dict[tuple[int, int], list[tuple[int, int]]] = {}
    columns = zip(
        hit.tolist(),
        led.currency[hit].tolist(),
        led.amount[hit].tolist(),
        led.booking[hit].tolist(),
        strict=True,
    )
    for m, cur, amount, day in columns:
        if (cur, amount) in wanted:
            index.setdefault((cur, amount), []).append((day, m))
    for rows in index.values():
        rows.sort()
    return index


def _pools(
    a: Side,
    targets: np.ndarray,
    tolerance: np.ndarray,
    b: Side,
    members: np.ndarray,
    vocab: Vocabulary,
    window: int,
    reference_window: int,
) -> _Pools:
    """Evidence pools and date-window pools of every target (see `_Pools`). A member that
    shares a reference key with the target may lie up to `reference_window` away; one
    that shares only an IBAN or a name must lie within `window`."""
    if len(targets) == 0 or len(members) == 0:
        return _Pools({}, {})
    # Evidence: the packed-key join of candidates.py, with the amount range "same sign,
    # at most the target's amount plus tolerance": (0, t + tol] or [t - tol, 0).
    uniq = np.unique(b.amount[members])
    bits = _rank_bits(uniq)
    n_cur = int(max(int(a.currency.max()), int(b.currency.max()))) + 1
    b_eid, b_row = _evidence_of(b, vocab, members)
    b_key = ((b_eid * n_cur + b.currency[b_row]) << bits) | np.searchsorted(
        uniq, b.amount[b_row]
    ).astype(np.int64)
    order = np.argsort(b_key, kind="stable")  # ties stay in row order
    b_key, b_row = b_key[order], b_row[order]
    t_eid, t_row = _evidence_of(a, vocab, targets)
    head = (t_eid * n_cur + a.currency[t_row]) << bits
    amount = a.amount[t_row]
    tol = tolerance[t_row]
    positive = amount > 0
    lo_amount = np.where(positive, 1, amount - tol)
    hi_amount = np.where(positive, amount + tol, -1)
    lo = np.searchsorted(b_key, head | np.searchsorted(uniq, lo_amount, "left").astype(np.int64))
    hi = np.searchsorted(b_key, head | np.searchsorted(uniq, hi_amount, "right").astype(np.int64))
    useful = (hi > lo) & (hi - lo <= EVIDENCE_KEY_LIMIT)
    t_pair, m_pair = _expand(t_row[useful], lo[useful], hi[useful], b_row)
    e_pair = np.repeat(t_eid[useful], (hi - lo)[useful])
    evidence: dict[int, list[int]] = {}
    if len(t_pair):
        days, _ = day_distance(a, t_pair, b, m_pair)
        allowed = np.where(e_pair < vocab.n_keys, max(window, reference_window), window)
        near = days <= allowed
        t_pair, m_pair, days = t_pair[near], m_pair[near], days[near]
        codes, first = np.unique(t_pair * len(b) + m_pair, return_index=True)
        t_pair, m_pair, days = codes // len(b), codes % len(b), days[first]
        order = np.lexsort((m_pair, days, t_pair))
        t_pair, m_pair = t_pair[order], m_pair[order]
        bounds = np.flatnonzero(np.diff(t_pair)) + 1
        for t_run, m_run in zip(np.split(t_pair, bounds), np.split(m_pair, bounds), strict=True):
            if len(m_run) >= 2:
                evidence[int(t_run[0])] = m_run[:POOL_CAP].tolist()

    # Date window: the other side's rows of the same currency and sign booked within the
    # window, kept only where there are few (a busy window would be an arbitrary pool).
    sign_b = _signs(b.amount[members]) + 1
    first = min(int(a.booking.min()), int(b.booking.min())) - window - 1
    span = max(int(a.booking.max()), int(b.booking.max())) - first + window + 2
    w_key = (b.currency[members].astype(np.int64) * 3 + sign_b) * span + (
        b.booking[members] - first
    )
    order = np.argsort(w_key, kind="stable")
    w_key, w_row = w_key[order], members[order]
    sign_t = _signs(a.amount[targets]) + 1
    t_key = (a.currency[targets].astype(np.int64) * 3 + sign_t) * span + (
        a.booking[targets] - first
    )
    lo = np.searchsorted(w_key, t_key - window, "left")
    hi = np.searchsorted(w_key, t_key + window, "right")
    few = np.flatnonzero((hi - lo >= 2) & (hi - lo <= 2 * DATE_POOL))
    in_window = {
        int(t): w_row[x:y].tolist()
        for t, x, y in zip(targets[few].tolist(), lo[few].tolist(), hi[few].tolist(), strict=True)
    }
    return _Pools(evidence, in_window)


def _signs(amounts: np.ndarray) -> np.ndarray:
    # Comparisons rather than np.sign: they also work on the object arrays of huge amounts.
    return (amounts > 0).astype(np.int64) - (amounts < 0).astype(np.int64)


def _forbidden(ctx: _Context, target: int, member: int, *, many_on_ledger: bool) -> bool:
    if not ctx.forbidden:
        return False
    pair = (target, member) if many_on_ledger else (member, target)
    return pair in ctx.forbidden


def _by_subset(
    side: Side,
    t: int,
    other: Side,
    free: np.ndarray,
    pools: _Pools,
    tol: int,
    ctx: _Context,
    *,
    many_on_ledger: bool,
    stage: tuple[str, bool],
) -> GroupProposal | None:
    """The unique subset of `other`'s free rows summing to row `t`, searched in one stage
    of SUBSET_STAGES: (pool, exact sums only)."""
    pool_name, exact = stage
    target = abs(int(side.amount[t]))
    o_amount = other.amount
    # Taken rows compete (a second combination through one makes the target ambiguous)
    # but are never part of a proposal.
    taken = ctx.taken(many_on_ledger=many_on_ledger)
    if pool_name != "date":
        if not exact and not tol:
            return None  # without a tolerance the exact stage said it all
        pool = [
            m
            for m in pools.evidence.get(t, ())
            if (free[m] or taken[m]) and not _forbidden(ctx, t, m, many_on_ledger=many_on_ledger)
        ]
        if len(pool) < 2:
            return None
        t_keys = side.evidence(t).keys
        keys = {m: other.evidence(m).keys for m in pool}
        # A member quoting another invoice than the target is no part of it.
        pool = [m for m in pool if not _invoices_conflict(t_keys, keys[m])]
        if pool_name == "reference":
            # Two instalment plans of one customer tell apart by their invoice numbers.
            pool = [m for m in pool if shared_key(t_keys, keys[m]) is not None]
        if len(pool) < 2:
            return None
        lo, hi = (target, target) if exact else (target - tol, target + tol)
        found = _unique(pool, o_amount, lo, hi, ctx)
        if found is None or not all(free[m] for m in found):
            return None
        return _group_proposal(side, t, other, found, tol, ctx, many_on_ledger, "evidence")
    if many_on_ledger and batch_cue(side.rows[t]) is None:
        # Unrelated GL entries that add up to an ordinary payment are a coincidence: a
        # bank row is split over GL entries without evidence only when it says it is a
        # batch.
        return None
    near = [
        m
        for m in pools.window.get(t, ())
        if (free[m] or taken[m])
        and abs(int(o_amount[m])) < target
        and not _forbidden(ctx, t, m, many_on_ledger=many_on_ledger)
    ]
    if 2 <= len(near) <= DATE_POOL:
        found = _unique(near, o_amount, target, target, ctx)
        if found is not None and not all(free[m] for m in found):
            return None
        if found is not None and (many_on_ledger or _one_party(other, found)):
            return _group_proposal(side, t, other, found, 0, ctx, many_on_ledger, "date")
    return None


def _invoices_conflict(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Both quote invoice numbers and share no key (see `scoring.invoice_conflict`)."""
    return (
        any(k.startswith(INVOICE_KIND) for k in a)
        and any(k.startswith(INVOICE_KIND) for k in b)
        and shared_key(a, b) is None
    )


def _one_party(side: Side, members: list[int]) -> bool:
    """Bank rows of a split without evidence must at least come from one party (the same
    IBAN or name): several payments settle one GL entry when one payer makes them, while
    four unrelated fees that happen to add up are a coincidence."""
    ibans = {int(side.iban[m]) for m in members}
    if len(ibans) == 1 and -1 not in ibans:
        return True
    names = {int(side.name[m]) for m in members}
    return len(names) == 1 and -1 not in names


# --------------------------------------------------------- payment runs in busy windows

BUCKET_CAP: Final = 64  # entries of one day searched at most (C(64, 3) = 41,664 half-sums)


def _batch_cues(src: Side, targets: np.ndarray) -> dict[int, BatchCue]:
    """Batch cues of the free bank rows without usable transaction details."""
    out: dict[int, BatchCue] = {}
    rows = src.rows
    for t in targets.tolist():
        row = rows[t]
        if row.details and all(d.amount is not None for d in row.details):
            continue  # the details say which payments it holds
        if row.batch_count is None and not might_be_batch(row.description):
            upper = f"{row.booking_text} {row.description}".upper()
            if not any(word in upper for word in _BATCH_WORDS):
                continue
        cue = batch_cue(row)
        if cue is not None:
            out[t] = cue
    return out


class _DayIndex:
    """GL rows by (currency, sign, booking day), for the payment-run search."""

    def __init__(self, side: Side, members: np.ndarray) -> None:
        self.side = side
        sign = _signs(side.amount[members]) + 1
        self.first = int(side.booking.min()) - 1 if len(side) else 0
        self.span = int(side.booking.max()) - self.first + 2 if len(side) else 1
        key = (side.currency[members].astype(np.int64) * 3 + sign) * self.span + (
            side.booking[members] - self.first
        )
        order = np.argsort(key, kind="stable")
        self.key = key[order]
        self.rows = members[order]

    def day(self, currency: int, sign: int, day: int) -> list[int]:
        if not 0 <= day - self.first < self.span:
            return []
        key = (currency * 3 + sign + 1) * self.span + (day - self.first)
        lo = int(np.searchsorted(self.key, key, "left"))
        hi = int(np.searchsorted(self.key, key, "right"))
        return self.rows[lo:hi].tolist()


@dataclass(slots=True)
class _RunSearch:
    """What the payment-run search found for one batch booking."""

    solutions: list[tuple[int, ...]]  # GL rows of each set that adds up (sorted)
    days_searched: int
    largest_day: int


def _run_solutions(
    src: Side,
    b: int,
    led: Side,
    led_free: np.ndarray,
    days: _DayIndex,
    cue: BatchCue,
    ctx: _Context,
) -> _RunSearch | None:
    """Every set of GL entries posted on one day within the window that adds up exactly
    to batch booking `b` (at most RUN_SOLUTIONS; None when there are more, or when a day
    was too busy to search, since then nothing can be unique).

    A payment run posts its payments together, so only sets within one day are tried:
    that keeps each search small (one day's free entries of the batch's sign) where the
    whole window would hold hundreds and coincidental sums. Sizes: the stated count, else
    2..max_group_size. Each day is searched exactly by meet-in-the-middle (the sums of
    the first half of each set against those of the second).
    """
    settings = ctx.settings
    target = int(src.amount[b])
    sign = 1 if target > 0 else -1
    currency = int(src.currency[b])
    center = int(src.booking[b])
    window = settings.date_window_days
    sizes = [cue.count] if cue.count is not None else list(range(2, settings.max_group_size + 1))
    if not sizes or max(sizes) > settings.max_group_size:
        return None
    solutions: list[tuple[int, ...]] = []
    searched: list[int] = []
    for offset in sorted(range(-window, window + 1), key=lambda d: (abs(d), d)):
        bucket = [
            lg
            for lg in days.day(currency, sign, center + offset)
            # Taken entries count as sets that add up; _payment_runs never proposes them.
            if (led_free[lg] or ctx.led_taken[lg])
            and abs(int(led.amount[lg])) < abs(target)
            and not _forbidden(ctx, b, lg, many_on_ledger=True)
        ]
        if len(bucket) < min(sizes):
            continue
        if len(bucket) > BUCKET_CAP:
            ctx.stats["group_buckets_over_cap"] += 1
            return None
        searched.append(len(bucket))
        bucket.sort(key=lambda m: (abs(int(led.amount[m])), m))
        values = [abs(int(led.amount[m])) for m in bucket]
        for size in sizes:
            limit = RUN_SOLUTIONS + 1 - len(solutions)
            for found in sized_subsets(values, size, abs(target), limit=limit):
                solutions.append(tuple(sorted(bucket[i] for i in found)))
            if len(solutions) > RUN_SOLUTIONS:
                return None
    if not solutions:
        return None
    return _RunSearch(solutions, len(searched), max(searched))


def _payment_runs(
    src: Side,
    led: Side,
    led_free: np.ndarray,
    days: _DayIndex,
    cues: dict[int, BatchCue],
    ctx: _Context,
) -> list[GroupProposal]:
    """Payment runs found by `_run_solutions`, decided together.

    One run alone is taken when it has exactly one set that adds up. Runs whose sets
    share GL entries (two payment runs posted on one day) are decided jointly: every way
    of giving each run one of its sets with no entry used twice is enumerated, and a run
    takes the set it has in all of those ways (if there is at least one). Two runs that
    each have two candidate sets, only one pair of which is disjoint, are then both
    decided, where either alone is ambiguous.
    """
    found: dict[int, _RunSearch] = {}
    for b in sorted(cues):
        result = _run_solutions(src, b, led, led_free, days, cues[b], ctx)
        if result is not None:
            found[b] = result
    # Components of runs linked by a GL entry two of them could use.
    owner: dict[int, list[int]] = {}
    for b, result in found.items():
        for members in result.solutions:
            for lg in members:
                owner.setdefault(lg, []).append(b)
    parent = {b: b for b in found}

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for runs in owner.values():
        for other in runs[1:]:
            parent[root(other)] = root(runs[0])
    components: dict[int, list[int]] = {}
    for b in found:
        components.setdefault(root(b), []).append(b)
    chosen: dict[int, tuple[int, ...]] = {}
    for runs in components.values():
        runs.sort()
        chosen.update(_decide_runs(runs, found))
    out = []
    for b in sorted(chosen):
        members = list(chosen[b])
        if not all(led_free[m] for m in members):
            continue
        out.append(
            _run_proposal(src, b, led, members, cues[b], found[b], len(found[b].solutions), ctx)
        )
        for m in members:
            led_free[m] = False
    return out


RUN_SOLUTIONS: Final = 8  # sets that add up, per payment run, before it counts as hopeless
RUN_JOINT_LIMIT: Final = 4096  # ways of combining the runs of one component, at most


def _decide_runs(runs: list[int], found: dict[int, _RunSearch]) -> dict[int, tuple[int, ...]]:
    """The set each run of one component surely takes (see `_payment_runs`).

    First by propagation: a run left with one set takes it (unless another such run
    needs an entry of it), and the sets of other runs that use its entries drop out;
    repeated until nothing changes. What is left is enumerated when small enough.
    """
    options = {b: list(found[b].solutions) for b in runs}
    decided: dict[int, tuple[int, ...]] = {}
    while True:
        used = {m for members in decided.values() for m in members}
        for b in runs:
            if b not in decided:
                options[b] = [m for m in options[b] if used.isdisjoint(m)]
        singles = [b for b in runs if b not in decided and len(options[b]) == 1]
        progress = False
        for b in singles:
            mine = set(options[b][0])
            if all(mine.isdisjoint(options[o][0]) for o in singles if o != b):
                decided[b] = options[b][0]
                progress = True
        if not progress:
            break
    rest = [b for b in runs if b not in decided and options[b]]
    for part in _components(rest, options):
        decided.update(_enumerate_runs(part, options))
    return decided


def _components(runs: list[int], options: dict[int, list[tuple[int, ...]]]) -> list[list[int]]:
    """Runs grouped by shared candidate entries."""
    parts: list[tuple[set[int], list[int]]] = []
    for b in runs:
        entries = {m for members in options[b] for m in members}
        touching = [p for p in parts if not p[0].isdisjoint(entries)]
        merged = (entries, [b])
        for p in touching:
            merged[0].update(p[0])
            merged[1].extend(p[1])
            parts.remove(p)
        parts.append(merged)
    return [sorted(p[1]) for p in parts]


def _enumerate_runs(
    runs: list[int], options: dict[int, list[tuple[int, ...]]]
) -> dict[int, tuple[int, ...]]:
    """Every way of giving each run one set with no entry used twice; a run takes the set
    it has in all of them (none when there is no way, or too many to enumerate)."""
    total = 1
    for b in runs:
        total *= len(options[b])
    if total > RUN_JOINT_LIMIT:
        return {}
    agreed: list[set[tuple[int, ...]]] = [set() for _ in runs]
    ways = 0

    def walk(k: int, used: frozenset[int], picked: list[tuple[int, ...]]) -> None:
        nonlocal ways
        if k == len(runs):
            ways += 1
            for i, members in enumerate(picked):
                agreed[i].add(members)
            return
        for members in options[runs[k]]:
            if used.isdisjoint(members):
                picked.append(members)
                walk(k + 1, used | frozenset(members), picked)
                picked.pop()

    walk(0, frozenset(), [])
    if not ways:
        return {}
    return {b: next(iter(sets)) for b, sets in zip(runs, agreed, strict=True) if len(sets) == 1}


def _run_proposal(
    src: Side,
    b: int,
    led: Side,
    members: list[int],
    cue: BatchCue,
    search: _RunSearch,
    candidates: int,
    ctx: _Context,
) -> GroupProposal:
    target = int(src.amount[b])
    counted = cue.count == len(members)
    how = (
        "the only set"
        if candidates == 1
        else f"of {candidates} sets, the only one leaving the other runs of these days theirs"
    )
    structure = criterion(
        "structure",
        STRUCTURE_EVIDENCE if counted else STRUCTURE_DATE_ONLY,
        STRUCTURE_MAX,
        f"{how}: {len(members)} GL entries posted on one day that add up exactly "
        f"({cue.text}; searched {search.days_searched} days of the window, at most "
        f"{search.largest_day} free entries a day, cap {BUCKET_CAP})",
    )
    return _finish(
        src,
        b,
        led,
        members,
        [src.evidence(b)] * len(members),
        [led.evidence(m) for m in members],
        max(_days(src, b, led, m) for m in members),
        target,
        sum(int(led.amount[m]) for m in members),
        0,
        ctx,
        True,
        structure,
        ambiguous=False,
    )


_COMBOS: dict[tuple[int, int], np.ndarray] = {}


def _combinations(n: int, r: int) -> np.ndarray:
    found = _COMBOS.get((n, r))
    if found is None:
        found = np.array(list(combinations(range(n), r)), dtype=np.int64).reshape(-1, r)
        if len(_COMBOS) < 256:
            _COMBOS[(n, r)] = found
    return found


def sized_subsets(
    values: Sequence[int], size: int, target: int, *, limit: int
) -> list[tuple[int, ...]]:
    """Up to `limit` sets of exactly `size` positions of `values` summing to `target`.

    Meet in the middle: every set is split into its `size // 2` lowest positions and the
    rest; the first halves' sums are looked up among the second halves' (sorted), and a
    pair counts only when the first half ends before the second begins, so each set is
    found once. Exact integer sums, never floats.
    """
    n = len(values)
    if size < 1 or size > n or limit <= 0:
        return []
    array = np.array(values, dtype=np.int64)
    if size == 1:
        return [(int(i),) for i in np.flatnonzero(array == target)[:limit]]
    low = size // 2
    left = _combinations(n, low)
    right = _combinations(n, size - low)
    left_sum = array[left].sum(axis=1)
    right_sum = array[right].sum(axis=1)
    order = np.argsort(right_sum, kind="stable")
    right, right_sum = right[order], right_sum[order]
    need = target - left_sum
    lo = np.searchsorted(right_sum, need, "left")
    hi = np.searchsorted(right_sum, need, "right")
    out: list[tuple[int, ...]] = []
    for i in np.flatnonzero(hi > lo).tolist():
        last = left[i, -1]
        for j in range(int(lo[i]), int(hi[i])):
            if right[j, 0] > last:
                out.append(tuple(int(x) for x in (*left[i], *right[j])))
                if len(out) >= limit:
                    return out
    return out


def _unique(
    members: list[int], amounts: np.ndarray, lo: int, hi: int, ctx: _Context
) -> list[int] | None:
    members = sorted(members, key=lambda m: (abs(int(amounts[m])), m))
    values = [abs(int(amounts[m])) for m in members]
    positions, exhausted = unique_subset(values, lo, hi, ctx.settings.max_group_size)
    if exhausted:
        ctx.stats["group_budget_exhausted"] += 1
    if positions is None:
        return None
    return sorted(members[p] for p in positions)


def _group_proposal(
    side: Side,
    t: int,
    o_side: Side,
    members: list[int],
    tol: int,
    ctx: _Context,
    many_on_ledger: bool,
    how: str,
) -> GroupProposal:
    """Score and explain a group found by subset-sum (target row `t` of `side`)."""
    t_feat = side.evidence(t)
    m_feats = [o_side.evidence(m) for m in members]
    days = max(_days(side, t, o_side, m) for m in members)
    t_total = int(side.amount[t])
    m_total = sum(int(o_side.amount[m]) for m in members)
    if how == "evidence":
        structure = criterion(
            "structure",
            STRUCTURE_EVIDENCE,
            STRUCTURE_MAX,
            f"the only combination of {len(members)} entries sharing a reference or "
            "counterparty with it that adds up",
        )
    else:
        structure = criterion(
            "structure",
            STRUCTURE_DATE_ONLY,
            STRUCTURE_MAX,
            f"the only combination of {len(members)} nearby entries that adds up exactly "
            "(no shared reference)",
        )
    return _finish(
        side,
        t,
        o_side,
        members,
        [t_feat] * len(members),
        m_feats,
        days,
        t_total,
        m_total,
        tol,
        ctx,
        many_on_ledger,
        structure,
        ambiguous=False,
    )


def _finish(
    side: Side,
    t: int,
    o_side: Side,
    members: list[int],
    target_feats: list[Features],
    member_feats: list[Features],
    days: int,
    t_total: int,
    m_total: int,
    tol: int,
    ctx: _Context,
    many_on_ledger: bool,
    structure: Criterion,
    *,
    ambiguous: bool,
    suggest_only: bool = False,
) -> GroupProposal:
    currency = side.rows[t].currency
    n = len(members)
    ref_sum = 0
    ref_n = 0
    cp_sum = 0
    example: str | None = None
    for tf, mf in zip(target_feats, member_feats, strict=True):
        key = shared_key(tf.keys, mf.keys)
        if key is not None:
            ref_n += 1
            ref_sum += REFERENCE_INVOICE if key.startswith(INVOICE_KIND) else REFERENCE_FULL
            example = example or key[2:]
        cp_sum += counterparty_points(tf, mf)[0]
    ref_pts = ref_sum // n
    cp_raw = cp_sum // n
    cp_pts = min(cp_raw, EVIDENCE_MAX - ref_pts)
    diff = t_total - m_total if many_on_ledger else m_total - t_total
    t_amount = side.rows[t].amount
    m_amount = sum((o_side.rows[m].amount for m in members), Decimal(0))
    difference = t_amount - m_amount if many_on_ledger else m_amount - t_amount
    a_pts = amount_points(diff, tol)
    window = ctx.settings.date_window_days
    # Beyond the window only members sharing a reference are taken (see `_pools`): their
    # date points run out over the wider window of a shared reference.
    d_pts = date_points(days, window if days <= window else ctx.settings.reference_window_days)
    label = f"exact: {n} entries add up to the {'bank' if many_on_ledger else 'GL'} amount"
    ref_detail = (
        f"{ref_n} of {n} share a reference with it (e.g. {example})"
        if ref_n
        else "no reference in common"
    )
    cp_detail = f"average over {n} entries" if cp_raw else "no counterparty in common"
    if cp_pts < cp_raw:
        cp_detail += f" ({cp_raw} points, {cp_pts} counted: reference and counterparty share 35)"
    explanation = (
        amount_criterion(a_pts, difference, tol, currency, label=label),
        date_criterion(d_pts, days, what="farthest entry"),
        criterion("reference", ref_pts, REFERENCE_FULL, ref_detail),
        criterion("counterparty", cp_pts, 30, cp_detail),
        structure,
    )
    score = a_pts + d_pts + ref_pts + cp_pts + structure.points
    t_tuple = (t,)
    m_tuple = tuple(sorted(members))
    if many_on_ledger:
        return GroupProposal(
            t_tuple,
            m_tuple,
            "one_to_many",
            score,
            difference,
            explanation,
            ambiguous,
            diff == 0,
            suggest_only,
        )
    return GroupProposal(
        m_tuple,
        t_tuple,
        "many_to_one",
        score,
        difference,
        explanation,
        ambiguous,
        diff == 0,
        suggest_only,
    )


def _detail_party(detail: DetailRow, entry: Features, vocab: Vocabulary) -> Features:
    """A detail's counterparty with its entry's keys (which include every detail's keys),
    spelled like `Side.evidence` (IBAN as id token)."""
    return Features(
        keys=entry.keys,
        iban=vocab.iban_token(detail.counterparty_iban) if detail.counterparty_iban else "",
        name=normalise_name(detail.counterparty_name) if detail.counterparty_name else "",
        description="",
    )


def _detail_keys(detail: DetailRow) -> tuple[str, ...]:
    return reference_keys(detail.references, (detail.remittance,) if detail.remittance else ())


# Rows of one amount are looked up by booking date, widened by this much so that value
# dates (the distance counts the nearest of booking and value dates) are still seen.
_VALUE_DATE_SLACK: Final = 7


def _around(rows: Sequence[tuple[int, int]], day: int, window: int) -> list[int]:
    """Rows (booking day, row) of one amount, sorted by day, booked near `day`."""
    if len(rows) <= 16:
        return [r for _, r in rows]
    reach = window + _VALUE_DATE_SLACK
    lo = bisect_left(rows, (day - reach, -1))
    hi = bisect_right(rows, (day + reach, 2**62))
    return [r for _, r in rows[lo:hi]]


def _batch_by_details(
    src: Side,
    b: int,
    led: Side,
    led_free: np.ndarray,
    by_amount: dict[tuple[int, int], list[tuple[int, int]]],
    tol: int,
    ctx: _Context,
) -> GroupProposal | None:
    """Match every transaction detail of batch entry `b` to one GL entry of its amount."""
    row = src.rows[b]
    details = row.details
    if any(d.amount is None for d in details) or len(details) > ctx.settings.max_group_size:
        return None
    window = ctx.settings.date_window_days
    sign = -1 if row.amount < 0 else 1
    cur = int(src.currency[b])
    day = int(src.booking[b])
    entry_feat = src.evidence(b)
    l_side = led
    options: list[list[tuple[tuple[int, int, int, int], int]]] = []
    feats: list[Features] = []
    for detail in details:
        amount = sign * abs(to_micro(detail.amount))  # type: ignore[arg-type]
        d_feat = _detail_party(detail, entry_feat, src.vocab)
        feats.append(d_feat)
        near = []
        for lg in _around(by_amount.get((cur, amount), ()), day, window):
            if led_free[lg] and not _forbidden(ctx, b, lg, many_on_ledger=True):
                days = _days(src, b, l_side, lg)
                if days <= window:
                    near.append((days, lg))
        if not near:
            return None
        ranked = []
        own_keys = _detail_keys(detail)
        for days, lg in near:
            l_feat = l_side.evidence(lg)
            key = shared_key(own_keys, l_feat.keys) or shared_key(entry_feat.keys, l_feat.keys)
            ref = 0 if key is None else (1 if key.startswith(INVOICE_KIND) else 2)
            cp = counterparty_points(d_feat, l_feat)[0] if d_feat.name or d_feat.iban else 0
            ranked.append(((-ref, -cp, days, lg), lg))
        ranked.sort()
        options.append(ranked)
    # Most constrained detail first; each GL entry serves one detail.
    order = sorted(range(len(details)), key=lambda k: (len(options[k]), k))
    taken: dict[int, int] = {}
    used: set[int] = set()
    ambiguous = False
    by_amount_alone = 0
    for k in order:
        free_opts = [o for o in options[k] if o[1] not in used]
        if not free_opts:
            return None
        best = free_opts[0]
        if len(free_opts) > 1 and free_opts[1][0][:3] == best[0][:3]:
            ambiguous = True  # another GL entry fits this detail just as well
        if best[0][0] == 0 and -best[0][1] < STRONG_COUNTERPARTY:
            # No reference and at most a loosely similar name ("Kaiser Foods" for "Fischer
            # Foods"): the amount only.
            by_amount_alone += 1
        taken[k] = best[1]
        used.add(best[1])
    members = [taken[k] for k in range(len(details))]
    t_total = int(src.amount[b])
    m_total = sum(int(l_side.amount[m]) for m in members)
    if abs(t_total - m_total) > tol:
        return None
    days = max(_days(src, b, l_side, m) for m in members)
    merged = [
        f if f.iban or f.name else entry_feat  # the detail's counterparty, else the entry's
        for f in feats
    ]
    detail_text = f"all {len(details)} transaction details matched to GL entries of their amounts"
    if by_amount_alone:
        detail_text += (
            f"; {by_amount_alone} of them by the amount alone (no reference or counterparty in "
            "common), so only suggested"
        )
    structure = criterion(
        "structure",
        STRUCTURE_DETAILS if not by_amount_alone else STRUCTURE_EVIDENCE,
        STRUCTURE_MAX,
        detail_text,
    )
    order_members = sorted(range(len(members)), key=lambda k: members[k])
    return _finish(
        src,
        b,
        l_side,
        [members[k] for k in order_members],
        [merged[k] for k in order_members],
        [l_side.evidence(members[k]) for k in order_members],
        days,
        t_total,
        m_total,
        tol,
        ctx,
        True,
        structure,
        ambiguous=ambiguous,
        suggest_only=bool(by_amount_alone),
    )


# ------------------------------------------------------------------------------ reversals


@dataclass(slots=True)
class ReversalProposal:
    reversal: int
    original: int
    score: int
    explanation: tuple[Criterion, ...]
    ambiguous: bool


def _same_text(a: str, b: str) -> bool:
    words = a.lower().split()
    return bool(words) and words == b.lower().split()


def _words(text: str) -> list[str]:
    """Words of a word list written as text (easier to read and edit than quoted items)."""
    return text.split()


# Words a bank writes on a returned or cancelled booking (upper case, umlauts spelt out or
# not). A word is matched whole.
REVERSAL_WORDS: Final = frozenset(
    _words(
        "RUECKLASTSCHRIFT RÜCKLASTSCHRIFT RUCKLASTSCHRIFT LASTSCHRIFTRUECKGABE RUECKBUCHUNG "
        "RÜCKBUCHUNG RUCKBUCHUNG RUECKUEBERWEISUNG RÜCKÜBERWEISUNG RUECKGABE RÜCKGABE STORNO "
        "STORNIERUNG STORNOBUCHUNG RETOURE RETURN RETURNED REVERSAL REVERSED CHARGEBACK"
    )
)
_REVERSAL_HINTS: Final = (
    "RUECK",
    "RÜCK",
    "RUCK",
    "STORN",
    "RETOUR",
    "RETURN",
    "REVERS",
    "CHARGEBACK",
)
_WORD_SPLIT: Final = re.compile(r"[^0-9A-ZÄÖÜ]+")


def reversal_marker(row: EntryRow) -> str | None:
    """How a bank row says it reverses an earlier one: `RvslInd` (camt's flag) or the
    return/storno word of its booking text or description; None when it does not."""
    if row.is_reversal:
        return "RvslInd"
    text = (
        f"{row.booking_text} {row.description}".upper()
        if row.booking_text
        else (row.description.upper())
    )
    if not any(hint in text for hint in _REVERSAL_HINTS):
        return None
    for word in _WORD_SPLIT.split(text):
        if word in REVERSAL_WORDS:
            return word
    return None


def find_reversals(
    src: Side,
    settings: MatchSettings,
    *,
    free: np.ndarray | None = None,
    marked: bool = True,
) -> list[ReversalProposal]:
    """Pair reversal bank entries with their originals (module docstring).

    `marked=True`: entries flagged (camt RvslInd) or worded as a reversal; a flagged one
    pairs on a shared reference, or on the same counterparty or description within the
    date window; a worded one only on a shared full reference (end-to-end id, creditor
    reference: a refund that quotes the same invoice number is a payment of its own).
    `marked=False`: what the GL matching left, pairs of opposite amounts sharing a full
    reference (DESIGN.md §2.6 defines a pair by amount, sign and reference); the later
    one is the reversal. `free` masks the rows still available.
    """
    rows = src.rows
    n = len(rows)
    available = np.ones(n, dtype=bool) if free is None else free.copy()
    amounts = src.amount
    currency = src.currency
    if marked:
        # Only a row whose opposite amount occurs can pair: the text is read for those.
        markers: list[str | None] = [None] * n
        is_reversal = np.zeros(n, dtype=bool)
        if n:
            maybe = available & (amounts != 0) & np.isin(amounts, -amounts[available])
            for i in np.flatnonzero(maybe).tolist():
                markers[i] = reversal_marker(rows[i])
                is_reversal[i] = markers[i] is not None
    else:
        markers = [None] * n
        # Only rows whose opposite amount is also free can pair at all.
        is_reversal = available & (amounts != 0) & np.isin(amounts, -amounts[available])
    reversals = np.flatnonzero(is_reversal).tolist()
    if not reversals:
        return []
    # Originals: free rows whose amount is the opposite of some reversal's (one vectorised
    # membership test, then grouped by (currency, amount)).
    maybe_original = available if not marked else available & ~is_reversal
    maybe = np.flatnonzero(maybe_original & np.isin(amounts, -amounts[is_reversal]))
    originals: dict[tuple[int, int], list[int]] = {}
    for i in maybe.tolist():
        originals.setdefault((int(currency[i]), int(amounts[i])), []).append(i)
    window = settings.date_window_days
    back = settings.reversal_window_days
    ranked: list[tuple[tuple[int, int, int, int, int], Features, Features]] = []
    for r in reversals:
        fr = src.evidence(r)
        r_day = int(src.booking[r])
        flagged = rows[r].is_reversal
        for o in originals.get((int(currency[r]), -int(amounts[r])), ()):
            if o == r:
                continue
            fo = src.evidence(o)
            o_day = int(src.booking[o])
            if not marked and (o_day, o) > (r_day, r):
                continue  # unmarked: the later of the two is the reversal
            shared = [k for k in fr.keys if k in fo.keys]
            full = [k for k in shared if not k.startswith(INVOICE_KIND)]
            if (full or (shared and flagged)) and r_day - back <= o_day <= r_day + window:
                rank = 0
            elif flagged:
                same_party = (fr.iban and fr.iban == fo.iban) or (fr.name and fr.name == fo.name)
                same_text = _same_text(rows[r].description, rows[o].description)
                if not (same_party or same_text) or abs(r_day - o_day) > window:
                    continue
                rank = 1
            else:
                continue
            # More shared keys first: a return quotes the end-to-end id and the mandate,
            # an earlier debit of the same mandate only the mandate.
            ranked.append(((rank, -len(shared), abs(r_day - o_day), r, o), fr, fo))
    ranked.sort(key=lambda item: item[0])
    best_of: dict[int, tuple[int, int, int]] = {}
    tie: set[int] = set()
    for (rank, keys, dist, r, _o), _, _ in ranked:
        if r in best_of:
            if best_of[r] == (rank, keys, dist):
                tie.add(r)
        else:
            best_of[r] = (rank, keys, dist)
    used: set[int] = set()
    out: list[ReversalProposal] = []
    for (rank, _keys, dist, r, o), _, _ in ranked:
        if r in used or o in used:
            continue
        used.update((r, o))
        ev = evidence(src.features(r), src.features(o))  # full features: descriptions too
        # Date points on the window that admitted the pair: a reversal with a shared
        # reference may come weeks later.
        d_pts = date_points(dist, back if rank == 0 else window)
        a_pts = amount_points(0, 0)
        marker = markers[r] or reversal_marker(rows[r])
        if marker == "RvslInd":
            structure = criterion(
                "structure", STRUCTURE_MAX, STRUCTURE_MAX, "flagged as a reversal (RvslInd)"
            )
        elif marker is not None:
            structure = criterion(
                "structure", STRUCTURE_MAX, STRUCTURE_MAX, f"booked as a reversal ({marker})"
            )
        else:
            structure = criterion(
                "structure",
                0,
                STRUCTURE_MAX,
                "no reversal marker: the same reference on the exactly opposite amount",
            )
        explanation = (
            *pair_explanation(
                amount_pts=a_pts,
                difference=Decimal(0),
                tolerance=0,
                currency=rows[r].currency,
                date_pts=d_pts,
                days=dist,
                via_value_date=False,
                ev=ev,
                amount_label="exactly offsets the original",
                date_what="reversal after original"
                if int(src.booking[o]) <= int(src.booking[r])
                else "reversal",
            )[:4],
            structure,
        )
        score = a_pts + d_pts + ev.points() - ev.description + structure.points
        out.append(ReversalProposal(r, o, score, explanation, ambiguous=r in tie))
    return out
