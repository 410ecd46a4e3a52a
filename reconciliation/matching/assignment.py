"""Global 1:1 assignment: maximum total score, per connected component (DESIGN.md §2.3).

What is maximised is each pair's score above :data:`BASELINE` (50, the weakest score a
candidate has with the default `min_score`), never less than 1: the sum of the *extra*
points. A plain sum would rank two coincidences (an equal amount on the same day, 60
points each: 120) above one payment its reference proves (95) wherever they compete, and
each extra match on a coincidence would always look like a gain. Above the baseline one
proven payment (45) outweighs two coincidences (10 + 10), while pairs that do not compete
are all taken, as before. `weights()` is the transformation; the brute-force check in the
property tests uses it too.

The candidate graph (sources and ledger rows as nodes, scored candidate pairs as edges) is
split into connected components; entries of different components never compete, so the
optimum of the whole is the union of the components' optima.

- A pair whose two rows have no other candidate (most pairs) is taken as is.
- A component of at most 3 rows a side is solved by enumeration in plain Python (most
  non-trivial components are two payments and two GL entries; scipy's call overhead would
  dominate them).
- Up to :data:`DENSE_CELLS` cells: ``scipy.optimize.linear_sum_assignment`` on the score
  matrix, non-candidates scoring 0. Every candidate scores at least 30 (amount points), so
  a maximum-score full assignment only pairs zero cells when nothing better is left for
  those rows; dropping them leaves a maximum-score matching of the candidates.
- Larger: ``scipy.sparse.csgraph.min_weight_full_bipartite_matching`` (LAPJVsp) on the
  classic doubled graph (each source also gets a private "unmatched" partner, each ledger
  row too, and the copies are joined along every candidate edge), so only the E candidate
  edges are stored and the result is still the exact optimum. A 20,000 x 20,000 band takes
  about half a second.
- Above :data:`SPARSE_NODES` rows the exact solver's superlinear time would dominate the
  run, so the component is cut into date-ordered chunks of :data:`CHUNK_NODES` rows, each
  solved exactly, and the pairs that crossed a cut are solved once more among the rows
  still free (approximate; counted in `stats["chunked_components"]`). Candidate generation
  bounds crowded buckets, so this is a safety net, not the normal path.

Ambiguity (a tie in the optimum makes a pair a suggestion only). The practical test: an
assigned pair (s, l) with score w is ambiguous when
  (a) s has another candidate l' that is unassigned with score(s, l') == w, or l has
      another candidate s' that is unassigned with score(s', l) == w (moving s or l gives
      the same total), or
  (b) s has another candidate l' assigned to s', (s', l) is a candidate too, and
      score(s, l') + score(s', l) == score(s, l) + score(s', l') (swapping the two pairs
      gives the same total; both pairs are flagged).
Two equal-amount payments on one day with nothing to tell them apart hit (b) (or (a) when
only one counterpart exists); a pair made unique by a shared reference outscores its
alternatives by the 35 reference points and hits neither. Longer alternating cycles with
an equal total are not searched (rare; such pairs stay "unique").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Final

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components, min_weight_full_bipartite_matching

SMALL_SIDE: Final = 3  # up to 3x3 rows: exact enumeration in plain Python
DENSE_CELLS: Final = 4096
SPARSE_NODES: Final = 60_000
CHUNK_NODES: Final = 20_000
_COST_BASE: Final = 101.0  # > any score, so every cost of the doubled graph is positive
BASELINE: Final = 50


def weights(score: np.ndarray) -> np.ndarray:
    """The assignment weight of each pair: its score above BASELINE, at least 1."""
    return np.maximum(score - BASELINE, 1)


@dataclass(slots=True)
class AssignmentResult:
    chosen: np.ndarray  # edge indices of the assigned pairs, ascending
    ambiguous: set[int]  # edge indices of assigned pairs that tie with an alternative
    stats: dict[str, int] = field(default_factory=dict)


def assign(
    source: np.ndarray, ledger: np.ndarray, score: np.ndarray, *, order_key: np.ndarray
) -> AssignmentResult:
    """Maximum-score 1:1 matching of the candidate edges (parallel arrays).

    `order_key` gives each edge's date (used only to chunk oversized components).
    """
    stats = {"components": 0, "largest_component": 0, "chunked_components": 0}
    if len(source) == 0:
        return AssignmentResult(np.zeros(0, dtype=np.int64), set(), stats)
    n_src = int(source.max()) + 1
    n_led = int(ledger.max()) + 1
    deg_s = np.bincount(source, minlength=n_src)
    deg_l = np.bincount(ledger, minlength=n_led)
    trivial = (deg_s[source] == 1) & (deg_l[ledger] == 1)
    chosen: list[np.ndarray] = [np.flatnonzero(trivial)]
    stats["components"] = int(trivial.sum())
    stats["largest_component"] = 1
    ambiguous: set[int] = set()

    rest = np.flatnonzero(~trivial)
    if len(rest):
        r_s, r_l = source[rest], ledger[rest]
        graph = coo_matrix(
            (np.ones(len(rest), dtype=np.int8), (r_s, n_src + r_l)),
            shape=(n_src + n_led, n_src + n_led),
        ).tocsr()
        _, labels = connected_components(graph, directed=False)
        comp = labels[r_s]
        order = np.argsort(comp, kind="stable")
        rest, comp = rest[order], comp[order]
        bounds = [0, *(np.flatnonzero(np.diff(comp)) + 1).tolist(), len(rest)]
        # Python lists of the non-trivial edges only, indexed by position in `rest`.
        rest_l = rest.tolist()
        s_l, l_l, w_l = source[rest].tolist(), ledger[rest].tolist(), score[rest].tolist()
        picked: list[int] = []
        for a, b in pairwise(bounds):
            local = range(a, b)
            stats["components"] += 1
            n_src_c = len({s_l[e] for e in local})
            n_led_c = len({l_l[e] for e in local})
            stats["largest_component"] = max(stats["largest_component"], n_src_c + n_led_c)
            if n_src_c <= SMALL_SIDE and n_led_c <= SMALL_SIDE:
                # Most components are tiny (two payments and two GL entries): plain Python
                # beats building matrices for scipy.
                got = _solve_small(local, s_l, l_l, w_l)
            else:
                group = rest[a:b]  # ascending (a stable sort by component kept the order)
                solved = _solve(group, source, ledger, score, order_key, stats)
                got = [a + off for off in np.searchsorted(group, solved).tolist()]
            picked.extend(rest_l[e] for e in got)
            ambiguous.update(rest_l[e] for e in _ambiguous_py(local, got, s_l, l_l, w_l))
        chosen.append(np.array(picked, dtype=np.int64))
    return AssignmentResult(np.sort(np.concatenate(chosen)), ambiguous, stats)


def _solve_small(edges: Sequence[int], s_l: list[int], l_l: list[int], w_l: list[int]) -> list[int]:
    """Exact maximum by enumeration, for components of at most SMALL_SIDE rows a side.

    Sources in id order each take a free ledger row or none; on equal totals the first
    assignment found is kept, which prefers lower ids (deterministic).
    """
    by_source: dict[int, list[int]] = {}
    for e in edges:
        by_source.setdefault(s_l[e], []).append(e)
    options = [by_source[s] for s in sorted(by_source)]
    best_total = -1
    best: list[int] = []
    chosen: list[int] = []

    def walk(k: int, used: frozenset[int], total: int) -> None:
        nonlocal best_total, best
        if k == len(options):
            if total > best_total:
                best_total, best = total, chosen[:]
            return
        for e in options[k]:
            if l_l[e] not in used:
                chosen.append(e)
                walk(k + 1, used | {l_l[e]}, total + w_l[e])
                chosen.pop()
        walk(k + 1, used, total)

    walk(0, frozenset(), 0)
    return best


def _solve(
    group: np.ndarray,
    source: np.ndarray,
    ledger: np.ndarray,
    score: np.ndarray,
    order_key: np.ndarray,
    stats: dict[str, int],
) -> list[int]:
    """Edge indices of a maximum-score matching of the edges in `group`."""
    gs, gl, gw = source[group], ledger[group], score[group]
    us, ri = np.unique(gs, return_inverse=True)
    ul, ci = np.unique(gl, return_inverse=True)
    ns, nl = len(us), len(ul)
    if ns == 1 or nl == 1:
        # argmax takes the first maximum; edges are in (source, ledger) order, so a tie
        # goes to the lowest id.
        return [int(group[int(np.argmax(gw))])]
    if ns * nl <= DENSE_CELLS:
        matrix = np.zeros((ns, nl), dtype=np.float64)
        edge_at = np.full((ns, nl), -1, dtype=np.int64)
        matrix[ri, ci] = gw
        edge_at[ri, ci] = group
        rows, cols = linear_sum_assignment(matrix, maximize=True)
        return [int(e) for e in edge_at[rows, cols].tolist() if e >= 0]
    if ns + nl <= SPARSE_NODES:
        return _solve_sparse(group, ri, ci, gw, ns, nl)
    stats["chunked_components"] += 1
    return _solve_chunked(group, source, ledger, score, order_key, stats)


def _solve_sparse(
    group: np.ndarray, ri: np.ndarray, ci: np.ndarray, gw: np.ndarray, ns: int, nl: int
) -> list[int]:
    """Exact maximum-score matching via min-cost perfect matching on the doubled graph.

    Left nodes: sources (0..ns-1) and ledger copies (ns..ns+nl-1); right nodes: ledger
    rows (0..nl-1) and source copies (nl..nl+ns-1). Edges: every candidate (cost
    BASE - score), source i to its own copy and ledger copy j to ledger row j ("stay
    unmatched", cost BASE), and ledger copy j to source copy i for every candidate (i, j)
    (cost BASE), which completes the perfect matching when (i, j) is used. Total cost =
    (ns + nl) * BASE - total score, so the minimum is the maximum-score matching.
    """
    n_e = len(group)
    a_s = np.arange(ns)
    a_l = np.arange(nl)
    rows = np.concatenate([ri, a_s, ns + a_l, ns + ci])
    cols = np.concatenate([ci, nl + a_s, a_l, nl + ri])
    cost = np.concatenate([_COST_BASE - gw.astype(np.float64), np.full(ns + nl + n_e, _COST_BASE)])
    size = ns + nl
    matrix = csr_matrix((cost, (rows, cols)), shape=(size, size))
    left, right = min_weight_full_bipartite_matching(matrix)
    pair_edge = {
        (int(i), int(j)): int(e)
        for i, j, e in zip(ri.tolist(), ci.tolist(), group.tolist(), strict=True)
    }
    out = []
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if i < ns and j < nl:
            out.append(pair_edge[(i, j)])
    return out


def _solve_chunked(
    group: np.ndarray,
    source: np.ndarray,
    ledger: np.ndarray,
    score: np.ndarray,
    order_key: np.ndarray,
    stats: dict[str, int],
) -> list[int]:
    """Oversized component: exact per date-ordered chunk, then the cut pairs once more."""
    order = group[np.lexsort((group, order_key[group]))]
    # Chunk by edge position in date order, so both ends of most edges land together; a
    # node's chunk is that of its first edge.
    chunk_of_edge = np.arange(len(order)) // CHUNK_NODES
    s_chunk: dict[int, int] = {}
    l_chunk: dict[int, int] = {}
    for e, c in zip(order.tolist(), chunk_of_edge.tolist(), strict=True):
        s_chunk.setdefault(int(source[e]), c)
        l_chunk.setdefault(int(ledger[e]), c)
    inner = np.array(
        [s_chunk[int(source[e])] == l_chunk[int(ledger[e])] for e in order.tolist()], dtype=bool
    )
    picked: list[int] = []
    inner_edges = order[inner]
    chunks = np.array([s_chunk[int(source[e])] for e in inner_edges.tolist()], dtype=np.int64)
    for c in np.unique(chunks).tolist():
        part = np.sort(inner_edges[chunks == c])
        picked.extend(_solve_any(part, source, ledger, score, order_key, stats))
    used_s = {int(source[e]) for e in picked}
    used_l = {int(ledger[e]) for e in picked}
    cut = np.array(
        [
            e
            for e in order[~inner].tolist()
            if int(source[e]) not in used_s and int(ledger[e]) not in used_l
        ],
        dtype=np.int64,
    )
    if len(cut):
        picked.extend(_solve_any(np.sort(cut), source, ledger, score, order_key, stats))
    return picked


def _solve_any(
    edges: np.ndarray,
    source: np.ndarray,
    ledger: np.ndarray,
    score: np.ndarray,
    order_key: np.ndarray,
    stats: dict[str, int],
) -> list[int]:
    """Solve an edge set that may hold several components (used by the chunked path)."""
    if len(edges) == 0:
        return []
    gs, gl = source[edges], ledger[edges]
    us, ri = np.unique(gs, return_inverse=True)
    ul, ci = np.unique(gl, return_inverse=True)
    if len(us) + len(ul) <= SPARSE_NODES:
        if len(us) == 1 or len(ul) == 1 or len(us) * len(ul) <= DENSE_CELLS:
            return _solve(edges, source, ledger, score, order_key, stats)
        return _solve_sparse(edges, ri, ci, score[edges], len(us), len(ul))
    return _solve_chunked(edges, source, ledger, score, order_key, stats)


def _ambiguous_py(
    group: Sequence[int], picked: list[int], s_l: list[int], l_l: list[int], w_l: list[int]
) -> set[int]:
    """Assigned edges of `group` that tie with an alternative (module docstring, (a)/(b))."""
    weight: dict[tuple[int, int], int] = {}
    by_s: dict[int, list[int]] = {}
    by_l: dict[int, list[int]] = {}
    for e in group:
        s, lg = s_l[e], l_l[e]
        weight[(s, lg)] = w_l[e]
        by_s.setdefault(s, []).append(lg)
        by_l.setdefault(lg, []).append(s)
    s_of: dict[int, int] = {}
    l_of: dict[int, int] = {}
    edge_of: dict[tuple[int, int], int] = {}
    for e in picked:
        s, lg = s_l[e], l_l[e]
        l_of[s] = lg
        s_of[lg] = s
        edge_of[(s, lg)] = e
    out: set[int] = set()
    for (s, lg), e in edge_of.items():
        w = weight[(s, lg)]
        for other_l in by_s[s]:
            if other_l == lg:
                continue
            other_s = s_of.get(other_l)
            w2 = weight[(s, other_l)]
            if other_s is None:
                if w2 == w:
                    out.add(e)
            else:
                w3 = weight.get((other_s, lg))
                if w3 is not None and w2 + w3 == w + weight[(other_s, other_l)]:
                    out.add(e)
                    out.add(edge_of[(other_s, other_l)])
        for other_s in by_l[lg]:
            if other_s != s and other_s not in l_of and weight[(other_s, lg)] == w:
                out.add(e)
    return out
