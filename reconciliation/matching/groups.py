"""Shapes other than 1:1: reversal pairs, 1:N batches and N:1 splits (DESIGN.md §2.4, §2.6).

Reversals (run first, before any GL matching). A bank entry flagged as reversal pairs with
a non-reversal bank entry of the same currency and the exactly opposite amount that either
shares a reference key with it (booked up to `reversal_window_days` before the reversal,
or within the date window after it), or, when neither side has a shared reference, has
the same counterparty (IBAN or normalised name) or the same normalised description and
lies within the date window. All such (reversal, original) pairs are ranked by (shared
reference first, date distance, ids) and taken greedily, each entry once; a reversal
whose best original ties with another on that rank is ambiguous.

Groups (run on what 1:1 left). For each remaining bank entry (id order), then each
remaining GL entry, look for the one combination of 2..max_group_size entries of the
other side, all of the target's currency and sign and within the date window, whose
total matches the target. Candidate members of every target are gathered at once with
the packed-key join of candidates.py (so a target with fewer than two candidates costs no
Python work at all):

1. Batch with transaction details (1:N only): every detail amount is matched to one GL
   entry of exactly that amount (a shared reference, then the counterparty, then the
   date decide between equal amounts). All details must be covered, and the GL total must
   be within tolerance of the bank amount. Equal candidates left undecided make the
   proposal ambiguous.
2. Evidence pool: entries sharing a reference key, IBAN or normalised name with the target
   (for a batch: also its details' references and remittances), at most
   :data:`POOL_CAP`, nearest first; the total may be within tolerance.
3. Date pool: the entries booked within the window (same sign, smaller amount), only when
   the window holds at most 2 x :data:`DATE_POOL` same-sign entries and at most
   :data:`DATE_POOL` of them are smaller, and exact totals only: without evidence, a
   bigger pool or a tolerance makes coincidental sums likely (about 2,500 subsets of 12
   values versus 18 million of 50), and such a match is only suggested (it scores at
   most 60). A busy window (a large ledger) therefore gets no date-pool search at all.
   Booking dates only, here.

For N:1 the tolerance is computed on the GL amount (the bank total is what is searched).

A combination is proposed only when it is the *only* one. Pools of up to
:data:`ENUMERATE_UP_TO` entries are enumerated whole (numpy, 2**n sums); larger ones are
searched depth first over the amount-sorted pool with two prunings (stop once the running
total passes the upper bound; skip a branch whose largest possible completion stays below
the lower bound), stopping at the second solution and giving up after
:data:`NODE_BUDGET` nodes (counted in stats; such a target gets no proposal), so skewed
data cannot explode.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
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
    EVIDENCE_MAX,
    REFERENCE_FULL,
    REFERENCE_INVOICE,
    STRUCTURE_MAX,
    Features,
    amount_criterion,
    amount_points,
    counterparty_points,
    criterion,
    date_criterion,
    date_points,
    evidence,
    normalise_name,
    pair_explanation,
    to_micro,
    tolerance_micro,
)
from reconciliation.matching.types import Criterion, DetailRow, MatchSettings, Shape

POOL_CAP: Final = 50
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
) -> list[GroupProposal]:
    """1:N then N:1 proposals on the free rows; marks used rows in the free masks."""
    if settings.max_group_size < 2:
        return []
    ctx = _Context(settings, forbidden, stats)
    stats.setdefault("group_budget_exhausted", 0)
    out: list[GroupProposal] = []

    batch_rows = np.fromiter((len(r.details) > 1 for r in src.rows), bool, len(src))
    targets = np.flatnonzero(src_free & (src.amount != 0))
    members = np.flatnonzero(led_free & (led.amount != 0))
    pools = _pools(src, targets, tolerance, led, members, vocab, settings.date_window_days)
    by_amount = _detail_amount_index(src, targets[batch_rows[targets]], led, members)
    todo = sorted(
        set(pools.evidence) | set(pools.window) | set(targets[batch_rows[targets]].tolist())
    )
    for b in todo:
        if not src_free[b]:
            continue
        tol = int(tolerance[b])
        found = None
        if batch_rows[b]:
            found = _batch_by_details(src, b, led, led_free, by_amount, tol, ctx)
        if found is None:
            found = _by_subset(src, b, led, led_free, pools, tol, ctx, many_on_ledger=True)
        if found is not None:
            src_free[b] = False
            for lg in found.ledger:
                led_free[lg] = False
            out.append(found)

    # Splits: bank rows that are batches themselves are not parts of a split.
    targets = np.flatnonzero(led_free & (led.amount != 0))
    members = np.flatnonzero(src_free & (src.amount != 0) & ~batch_rows)
    led_tolerance = np.zeros(len(led), dtype=tolerance.dtype)
    if settings.amount_tolerance_pct:
        rows = led.rows
        for g in targets.tolist():
            led_tolerance[g] = tolerance_micro(rows[g].amount, rows[g].currency, settings)
    else:
        led_tolerance[:] = to_micro(settings.amount_tolerance_abs)
    pools = _pools(led, targets, led_tolerance, src, members, vocab, settings.date_window_days)
    for g in sorted(set(pools.evidence) | set(pools.window)):
        if not led_free[g]:
            continue
        found = _by_subset(
            led, g, src, src_free, pools, int(led_tolerance[g]), ctx, many_on_ledger=False
        )
        if found is not None:
            led_free[g] = False
            for s in found.source:
                src_free[s] = False
            out.append(found)
    return out


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
) -> _Pools:
    """Evidence pools and date-window pools of every target (see `_Pools`)."""
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
    evidence: dict[int, list[int]] = {}
    if len(t_pair):
        codes = np.unique(t_pair * len(b) + m_pair)
        t_pair, m_pair = codes // len(b), codes % len(b)
        days, _ = day_distance(a, t_pair, b, m_pair)
        near = days <= window
        t_pair, m_pair, days = t_pair[near], m_pair[near], days[near]
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
) -> GroupProposal | None:
    """Unique subset of `other`'s free rows summing to row `t` (evidence pool, then date)."""
    target = abs(int(side.amount[t]))
    o_amount = other.amount
    pool = [
        m
        for m in pools.evidence.get(t, ())
        if free[m] and not _forbidden(ctx, t, m, many_on_ledger=many_on_ledger)
    ]
    if len(pool) >= 2:
        found = _unique(pool, o_amount, target - tol, target + tol, ctx)
        if found is not None:
            return _group_proposal(side, t, other, found, tol, ctx, many_on_ledger, "evidence")
    near = [
        m
        for m in pools.window.get(t, ())
        if free[m]
        and abs(int(o_amount[m])) < target
        and not _forbidden(ctx, t, m, many_on_ledger=many_on_ledger)
    ]
    if 2 <= len(near) <= DATE_POOL:
        found = _unique(near, o_amount, target, target, ctx)
        if found is not None:
            return _group_proposal(side, t, other, found, 0, ctx, many_on_ledger, "date")
    return None


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
    d_pts = date_points(days, ctx.settings.date_window_days)
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
            t_tuple, m_tuple, "one_to_many", score, difference, explanation, ambiguous, diff == 0
        )
    return GroupProposal(
        m_tuple, t_tuple, "many_to_one", score, difference, explanation, ambiguous, diff == 0
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
        own_keys = _detail_keys(detail) if len(near) > 1 else ()  # only to rank
        for days, lg in near:
            if len(near) == 1:
                ranked.append(((0, 0, days, lg), lg))  # nothing to rank
                break
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
    for k in order:
        free_opts = [o for o in options[k] if o[1] not in used]
        if not free_opts:
            return None
        best = free_opts[0]
        if len(free_opts) > 1 and free_opts[1][0][:3] == best[0][:3]:
            ambiguous = True  # another GL entry fits this detail just as well
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
    structure = criterion(
        "structure",
        STRUCTURE_DETAILS,
        STRUCTURE_MAX,
        f"all {len(details)} transaction details matched to GL entries of their amounts",
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


def find_reversals(src: Side, settings: MatchSettings) -> list[ReversalProposal]:
    """Pair reversal bank entries with their originals (module docstring)."""
    rows = src.rows
    is_reversal = np.fromiter((r.is_reversal for r in rows), bool, len(rows))
    reversals = np.flatnonzero(is_reversal).tolist()
    if not reversals:
        return []
    amounts = src.amount
    currency = src.currency
    # Originals: non-reversal rows whose amount is the opposite of some reversal's (found
    # with one vectorised membership test, then grouped by (currency, amount)).
    maybe = np.flatnonzero(~is_reversal & np.isin(amounts, -amounts[is_reversal]))
    originals: dict[tuple[int, int], list[int]] = {}
    for i in maybe.tolist():
        originals.setdefault((int(currency[i]), int(amounts[i])), []).append(i)
    window = settings.date_window_days
    back = settings.reversal_window_days
    ranked: list[tuple[tuple[int, int, int, int], Features, Features]] = []
    for r in reversals:
        fr = src.evidence(r)
        r_day = int(src.booking[r])
        for o in originals.get((int(currency[r]), -int(amounts[r])), ()):
            fo = src.evidence(o)
            o_day = int(src.booking[o])
            shares_ref = shared_key(fr.keys, fo.keys) is not None
            if shares_ref:
                if not (r_day - back <= o_day <= r_day + window):
                    continue
                rank = 0
            else:
                same_party = (fr.iban and fr.iban == fo.iban) or (fr.name and fr.name == fo.name)
                same_text = _same_text(rows[r].description, rows[o].description)
                if not (same_party or same_text) or abs(r_day - o_day) > window:
                    continue
                rank = 1
            ranked.append(((rank, abs(r_day - o_day), r, o), fr, fo))
    ranked.sort(key=lambda item: item[0])
    best_of: dict[int, tuple[int, int]] = {}
    tie: set[int] = set()
    for (rank, dist, r, _o), _, _ in ranked:
        if r in best_of:
            if best_of[r] == (rank, dist):
                tie.add(r)
        else:
            best_of[r] = (rank, dist)
    used: set[int] = set()
    out: list[ReversalProposal] = []
    for (rank, dist, r, o), _, _ in ranked:
        if r in used or o in used:
            continue
        used.update((r, o))
        ev = evidence(src.features(r), src.features(o))  # full features: descriptions too
        # Date points on the window that admitted the pair: a reversal with a shared
        # reference may come weeks later.
        d_pts = date_points(dist, back if rank == 0 else window)
        a_pts = amount_points(0, 0)
        explanation = pair_explanation(
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
        )
        out.append(
            ReversalProposal(r, o, a_pts + d_pts + ev.points(), explanation, ambiguous=r in tie)
        )
    return out
