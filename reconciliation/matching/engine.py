"""The matching engine's entry point: rows in, proposals out (DESIGN.md §2; no Django).

Order of work (see `reconciliation/matching/__init__.py` for the design overview):

1. Sort both sides by id, so nothing depends on input order and every tie is broken on ids.
2. Marked reversal pairs on the bank side (groups.find_reversals); they need no GL entry.
3. 1:1 candidates by index (candidates.generate), scored (candidates.score), minus pairs
   below `min_score` and previously rejected pairs.
4. Global maximum-weight 1:1 assignment per connected component (assignment.assign:
   scores above a baseline), with the ambiguity flag.
5. 1:N batches and N:1 splits on what is left (groups.find_groups), payment runs last.
6. Unmarked reversal pairs among the bank entries still free.
7. Proposals sorted by source ids; auto-accept = score >= threshold, unique (not
   ambiguous), exact (difference == 0) and not marked suggestion-only.
"""

from __future__ import annotations

import gc
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from itertools import pairwise
from operator import attrgetter

import numpy as np

from ledgers.money import MINOR_UNITS
from reconciliation.matching import candidates, groups
from reconciliation.matching.assignment import assign, weights
from reconciliation.matching.scoring import (
    BASIS_CHARGES,
    NO_NAME,
    STRUCTURE_MAX,
    Evidence,
    batch_cue,
    criterion,
    explain_exact_pair,
    name_points,
    pair_explanation,
    reference_tolerance_micro,
    to_micro,
    tolerance_micro,
)
from reconciliation.matching.types import (
    Criterion,
    EntryRow,
    MatchResult,
    MatchSettings,
    Proposal,
)


def match(
    *,
    source: Sequence[EntryRow],
    ledger: Sequence[EntryRow],
    settings: MatchSettings,
    forbidden_pairs: frozenset[tuple[str, str]] = frozenset(),
    taken_source: Sequence[EntryRow] = (),
    taken_ledger: Sequence[EntryRow] = (),
) -> MatchResult:
    """Propose matches between free bank entries (`source`) and free GL entries (`ledger`).

    `forbidden_pairs` holds (source id, ledger id) pairs rejected before: no proposal
    contains one (for a group: none of its source x ledger pairs).

    `taken_source`/`taken_ledger` are the entries of the same scope already in live
    matches (an earlier pass's or a person's). No proposal contains one, but the group
    searches (batches, splits, payment runs) count them as candidates when they judge
    whether a combination is the only one: in the pass that matched them they were
    candidates of every target decided before they were taken. Without them a rerun saw
    a smaller pool, and a split that pass declined as ambiguous became unique (issue
    #13 §5); with them, a rerun on unchanged inputs proposes nothing.
    """
    # The run allocates millions of small objects and frees almost none before it ends;
    # the cyclic collector would rescan the whole heap again and again (a quarter of the
    # run time at 100k rows) to find no garbage: pause it, and restore its state after.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _match(source, ledger, settings, forbidden_pairs, taken_source, taken_ledger)
    finally:
        if collecting:
            gc.enable()


def _match(
    source: Sequence[EntryRow],
    ledger: Sequence[EntryRow],
    settings: MatchSettings,
    forbidden_pairs: frozenset[tuple[str, str]],
    taken_source: Sequence[EntryRow] = (),
    taken_ledger: Sequence[EntryRow] = (),
) -> MatchResult:
    # Taken rows are sorted in with the free ones (every index and tie stays in id order)
    # and start out not free.
    src_rows = sorted([*source, *taken_source], key=attrgetter("id"))
    led_rows = sorted([*ledger, *taken_ledger], key=attrgetter("id"))
    _check_unique(src_rows, "source")
    _check_unique(led_rows, "ledger")
    codes = {
        c: i
        for i, c in enumerate(
            sorted({r.currency for r in src_rows} | {r.currency for r in led_rows})
        )
    }
    vocab = candidates.Vocabulary()
    src = candidates.prepare_side(src_rows, codes, vocab)
    led = candidates.prepare_side(led_rows, codes, vocab, bank=False)
    vocab.seal()
    if src.amount.dtype == object or led.amount.dtype == object:
        src.amount = src.amount.astype(object)
        led.amount = led.amount.astype(object)
    object_dtype = src.amount.dtype == object
    tolerance = _tolerances(src_rows, settings, object_dtype=object_dtype)
    reference_tolerance = _reference_tolerances(src_rows, src, codes, settings)
    forbidden = _forbidden_indices(src, led, forbidden_pairs)

    stats: dict[str, int] = {"source_rows": len(source), "ledger_rows": len(ledger)}
    proposals: list[Proposal] = []
    src_taken = _taken_mask(src_rows, taken_source)
    led_taken = _taken_mask(led_rows, taken_ledger)
    src_free = ~src_taken
    led_free = ~led_taken

    # Reversals marked as such (camt RvslInd, or a return/storno keyword) first: they
    # need no GL entry. A pair sharing a reference with opposite amounts but no marker
    # is only taken from what the GL leaves, below.
    proposals.extend(_reversals(src, src_rows, src_free, settings, marked=True))
    stats["reversal"] = len(proposals)

    proposals.extend(
        _one_to_one(
            src,
            led,
            vocab,
            src_free,
            led_free,
            tolerance,
            reference_tolerance,
            settings,
            forbidden,
            stats,
            src_taken=src_taken,
            led_taken=led_taken,
        )
    )

    found = groups.find_groups(
        src,
        led,
        vocab,
        src_free,
        led_free,
        tolerance,
        settings,
        forbidden,
        stats,
        src_taken=src_taken,
        led_taken=led_taken,
    )
    for g in found:
        proposals.append(
            _proposal(
                tuple(src.ids[i] for i in g.source),
                tuple(led.ids[i] for i in g.ledger),
                g.shape,
                g.score,
                g.difference,
                g.explanation,
                g.ambiguous,
                settings,
                suggest_only=g.suggest_only,
            )
        )
    stats["one_to_many"] = sum(1 for g in found if g.shape == "one_to_many")
    stats["many_to_one"] = sum(1 for g in found if g.shape == "many_to_one")
    # A batch booking no group explained may be one GL entry of its total (an ERP that
    # books a payment run as a whole): only now, when no part of any other batch or split
    # can be taken from it, on an equal amount alone.
    batches = _batch_rows(src)
    if batches.any():
        totals = _one_to_one(
            src,
            led,
            vocab,
            src_free & batches,
            led_free,
            tolerance,
            reference_tolerance,
            settings,
            forbidden,
            {},
            batch_totals=True,
            src_taken=src_taken & batches,
            led_taken=led_taken,
        )
        for p in totals:
            src_free[src_index_of(src, p.source_ids[0])] = False
        proposals.extend(totals)
        stats["batch_totals"] = len(totals)
    unmarked = _reversals(src, src_rows, src_free, settings, marked=False)
    proposals.extend(unmarked)
    stats["reversal"] += len(unmarked)

    proposals.sort(key=lambda p: (p.source_ids, p.ledger_ids))
    stats["proposals"] = len(proposals)
    stats["auto_accept"] = sum(p.auto_accept for p in proposals)
    stats["ambiguous"] = sum(p.ambiguous for p in proposals)
    return MatchResult(proposals=tuple(proposals), stats=stats)


def _taken_mask(rows: list[EntryRow], taken: Sequence[EntryRow]) -> np.ndarray:
    if not taken:
        return np.zeros(len(rows), dtype=bool)
    ids = {r.id for r in taken}
    return np.fromiter((r.id in ids for r in rows), dtype=bool, count=len(rows))


def _check_unique(rows: list[EntryRow], side: str) -> None:
    # Sorted by id, so a duplicate sits next to its twin.
    for a, b in pairwise(rows):
        if a.id == b.id:
            raise ValueError(f"duplicate {side} id {a.id!r}")


def _reversals(
    src: candidates.Side,
    src_rows: list[EntryRow],
    src_free: np.ndarray,
    settings: MatchSettings,
    *,
    marked: bool,
) -> list[Proposal]:
    out = []
    for rev in groups.find_reversals(src, settings, free=src_free, marked=marked):
        src_free[rev.reversal] = src_free[rev.original] = False
        ids = tuple(sorted((src.ids[rev.reversal], src.ids[rev.original])))
        out.append(
            _proposal(
                ids,
                (),
                "reversal",
                rev.score,
                src_rows[rev.reversal].amount + src_rows[rev.original].amount,
                rev.explanation,
                rev.ambiguous,
                settings,
            )
        )
    return out


def _tolerances(rows: list[EntryRow], settings: MatchSettings, *, object_dtype: bool) -> np.ndarray:
    dtype = object if object_dtype else np.int64
    if not settings.amount_tolerance_pct:
        return np.full(len(rows), to_micro(settings.amount_tolerance_abs), dtype=dtype)
    return np.array([tolerance_micro(r.amount, r.currency, settings) for r in rows], dtype=dtype)


def _reference_tolerances(
    rows: list[EntryRow], src: candidates.Side, codes: dict[str, int], settings: MatchSettings
) -> np.ndarray:
    """Per bank row, the fee tolerance of a shared reference (scoring.py, rule 3):
    `scoring.reference_tolerance_micro` of every row, in integer arithmetic on the micro
    amounts (a Decimal per row cost more than half a second at 100,000 rows)."""
    pct, cap = settings.reference_tolerance_pct, settings.reference_tolerance_abs
    if src.amount.dtype == object:
        if not pct or not cap:
            return np.zeros(len(rows), dtype=object)
        return np.array(
            [reference_tolerance_micro(r.amount, r.currency, settings) for r in rows],
            dtype=object,
        )
    if not pct or not cap or not len(rows):
        return np.zeros(len(rows), dtype=np.int64)
    numerator, denominator = pct.as_integer_ratio()
    denominator *= 100  # a percentage
    magnitude = np.abs(src.amount)
    if int(magnitude.max()) * numerator >= 2**62 or denominator >= 2**20:
        return np.array(
            [reference_tolerance_micro(r.amount, r.currency, settings) for r in rows],
            dtype=np.int64,
        )
    # The share rounded half-even to the currency's minor units (`quantize_money`), an
    # unknown currency keeping the exact micro-units.
    step_of = np.ones(len(codes), dtype=np.int64)
    for currency, code in codes.items():
        minor = MINOR_UNITS.get(currency)
        if minor is not None and minor <= 6:
            step_of[code] = 10 ** (6 - minor)
    step = step_of[src.currency]
    whole, rest = np.divmod(magnitude * numerator, denominator * step)
    up = (2 * rest > denominator * step) | ((2 * rest == denominator * step) & (whole % 2 == 1))
    return np.minimum((whole + up) * step, to_micro(cap))


def _search_tolerances(
    src: candidates.Side, tolerance: np.ndarray, reference_tolerance: np.ndarray
) -> np.ndarray:
    """The widest difference any rule could accept per bank row: what the evidence
    index is searched with (the scoring then decides which rule admits a pair)."""
    widest = np.maximum(tolerance, reference_tolerance)
    explained = np.maximum(
        src.charges, np.where(src.instructed > 0, np.abs(np.abs(src.amount) - src.instructed), 0)
    )
    if widest.dtype == object:
        explained = explained.astype(object)
    return np.maximum(widest, explained)


def _free_edges(
    edges: candidates.CandidateEdges, src_free: np.ndarray, led_free: np.ndarray
) -> candidates.CandidateEdges:
    keep = src_free[edges.source] & led_free[edges.ledger]
    hits = src_free[edges.hit_source] & led_free[edges.hit_ledger]
    return candidates.CandidateEdges(
        edges.source[keep],
        edges.ledger[keep],
        edges.crowded_sources,
        edges.hit_source[hits],
        edges.hit_ledger[hits],
        edges.hit_key[hits],
    )


def _forbidden_indices(
    src: candidates.Side, led: candidates.Side, pairs: frozenset[tuple[str, str]]
) -> frozenset[tuple[int, int]]:
    if not pairs:
        return frozenset()
    s_ids = {s for s, _ in pairs}
    l_ids = {lg for _, lg in pairs}
    s_pos = {i: n for n, i in enumerate(src.ids) if i in s_ids}
    l_pos = {i: n for n, i in enumerate(led.ids) if i in l_ids}
    return frozenset((s_pos[s], l_pos[lg]) for s, lg in pairs if s in s_pos and lg in l_pos)


def _one_to_one(
    src: candidates.Side,
    led: candidates.Side,
    vocab: candidates.Vocabulary,
    src_free: np.ndarray,
    led_free: np.ndarray,
    tolerance: np.ndarray,
    reference_tolerance: np.ndarray,
    settings: MatchSettings,
    forbidden: frozenset[tuple[int, int]],
    stats: dict[str, int],
    *,
    batch_totals: bool = False,
    src_taken: np.ndarray | None = None,
    led_taken: np.ndarray | None = None,
) -> list[Proposal]:
    """The 1:1 pass; `batch_totals`: the last one, for batch rows only (see `_match`).

    Taken rows (`match`'s `taken_*`) join the candidate search and are dropped from its
    edges: a crowded amount keeps its nearest candidates, and a too-common evidence key is
    skipped, counting them as the pass that matched them did, so a rerun does not find a
    coincidence that pass left out.
    """
    window = settings.date_window_days
    has_taken = (src_taken is not None and bool(src_taken.any())) or (
        led_taken is not None and bool(led_taken.any())
    )
    edges = candidates.generate(
        src,
        led,
        vocab,
        np.flatnonzero(src_free | src_taken if has_taken and src_taken is not None else src_free),
        np.flatnonzero(led_free | led_taken if has_taken and led_taken is not None else led_free),
        _search_tolerances(src, tolerance, reference_tolerance),
        window,
    )
    if has_taken:
        edges = _free_edges(edges, src_free, led_free)
    stats["candidate_pairs"] = len(edges.source)
    stats["crowded_sources"] = edges.crowded_sources
    scored = candidates.score(
        src,
        led,
        vocab,
        edges,
        tolerance,
        window,
        reference_tolerance=reference_tolerance,
        batch_rule=not batch_totals,
    )
    keep = scored.score >= settings.min_score
    if forbidden:
        codes = scored.source * len(led) + scored.ledger
        banned = np.array([s * len(led) + lg for s, lg in forbidden], dtype=np.int64)
        keep &= ~np.isin(codes, banned)
    if not keep.all():
        scored = scored.take(keep)
    stats["scored_pairs"] = len(scored.source)

    result = assign(
        scored.source, scored.ledger, weights(scored.score), order_key=src.booking[scored.source]
    )
    stats.update(result.stats)
    out: list[Proposal] = []
    chosen = result.chosen
    threshold = settings.auto_accept_threshold
    ambiguous = result.ambiguous
    src_free[scored.source[chosen]] = False
    led_free[scored.ledger[chosen]] = False
    for start in range(0, len(chosen), _PROPOSAL_CHUNK):
        # In chunks: 16 columns of Python ints for every chosen pair at once would cost
        # hundreds of MB at a million rows.
        part = chosen[start : start + _PROPOSAL_CHUNK]
        out.extend(_one_to_one_proposals(src, led, vocab, scored, part, ambiguous, threshold))
    stats["one_to_one"] = len(out)
    if batch_totals:
        out = [_as_batch_total(p, src.rows[src_index_of(src, p.source_ids[0])]) for p in out]
    return out


def _batch_rows(src: candidates.Side) -> np.ndarray:
    """The rows of `src.batch` that hold several payments (not an instalment of one)."""
    out = src.batch.copy()
    for i in np.flatnonzero(out).tolist():
        row = src.rows[i]
        out[i] = len(row.details) > 1 or (row.batch_count or 0) > 1 or batch_cue(row) is not None
    return out


def src_index_of(src: candidates.Side, row_id: str) -> int:
    return bisect_left(src.ids, row_id)


def _as_batch_total(p: Proposal, row: EntryRow) -> Proposal:
    """A batch paired with one GL entry of its total: said so, and never auto-accepted
    unless shared evidence made the pair (an equal total alone is a guess)."""
    cue = batch_cue(row)
    what = cue.text if cue is not None else f"{len(row.details)} transaction details"
    note = criterion(
        "structure",
        0,
        STRUCTURE_MAX,
        f"a batch ({what}) paired with one GL entry of its total, as no set of GL entries fitted",
    )
    evidence = any(c.points for c in p.explanation if c.name in ("reference", "counterparty"))
    return replace(
        p,
        explanation=(*p.explanation, note),
        auto_accept=p.auto_accept and evidence,
    )


def _one_to_one_proposals(
    src: candidates.Side,
    led: candidates.Side,
    vocab: candidates.Vocabulary,
    scored: candidates.ScoredEdges,
    chosen: np.ndarray,
    ambiguous: set[int],
    threshold: int,
) -> list[Proposal]:
    out: list[Proposal] = []
    key_text_of = vocab.key_text
    notes, zeros = _NOTES, _ZEROS
    columns = zip(
        chosen.tolist(),
        *(getattr(scored, f)[chosen].tolist() for f in _PROPOSAL_COLUMNS),
        strict=True,
    )
    for (
        e,
        s,
        lg,
        score,
        a_pts,
        d_pts,
        days,
        via,
        ref_pts,
        ref_key,
        basis,
        tol,
        cp_raw,
        cp_kind,
        ratio,
        desc_pts,
        desc_ratio,
    ) in columns:
        s_row, l_row = src.rows[s], led.rows[lg]
        cp_note = notes.get((cp_kind, ratio)) or _counterparty_note(cp_kind, ratio)
        key_text = key_text_of(ref_key) if ref_key >= 0 else None
        difference = s_row.amount - l_row.amount
        if difference:
            explanation = pair_explanation(
                amount_pts=a_pts,
                difference=difference,
                tolerance=tol,
                currency=s_row.currency,
                date_pts=d_pts,
                days=days,
                via_value_date=via,
                ev=Evidence(ref_pts, key_text, cp_raw, cp_note, desc_pts, desc_ratio),
                amount_basis=basis,
                explained=int(src.charges[s] if basis == BASIS_CHARGES else src.instructed[s]),
            )
        else:
            zero = zeros.get(difference.adjusted())  # (a zero is falsy: no `or` here)
            difference = zero if zero is not None else _shared_zero(difference)
            explanation = explain_exact_pair(
                d_pts, days, via, ref_pts, key_text, cp_raw, cp_note, desc_pts, desc_ratio
            )
        is_ambiguous = e in ambiguous
        out.append(
            Proposal(
                source_ids=(s_row.id,),
                ledger_ids=(l_row.id,),
                shape="one_to_one",
                score=score,
                difference=difference,
                explanation=explanation,
                ambiguous=is_ambiguous,
                auto_accept=score >= threshold and not is_ambiguous and not difference,
            )
        )
    return out


_PROPOSAL_COLUMNS = (
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
_PROPOSAL_CHUNK = 50_000
_NOTES: dict[tuple[int, int], str] = {}
_ZEROS: dict[int, Decimal] = {}


def _shared_zero(zero: Decimal) -> Decimal:
    """One Decimal zero per exponent (`adjusted()` of a zero is its exponent): most
    proposals are exact, and a million equal zeros would cost ~100 MB."""
    return _ZEROS.setdefault(zero.adjusted(), zero)


def _counterparty_note(kind: int, ratio: int) -> str:
    note = _NOTES.get((kind, ratio))
    if note is None:
        if kind == 1:
            note = "same IBAN"
        elif kind == 2:
            note = name_points(ratio)[1]
        else:
            note = NO_NAME
        _NOTES[(kind, ratio)] = note
    return note


def _proposal(
    source_ids: tuple[str, ...],
    ledger_ids: tuple[str, ...],
    shape: str,
    score: int,
    difference: Decimal,
    explanation: tuple[Criterion, ...],
    ambiguous: bool,
    settings: MatchSettings,
    *,
    suggest_only: bool = False,
) -> Proposal:
    return Proposal(
        source_ids=tuple(sorted(source_ids)),
        ledger_ids=tuple(sorted(ledger_ids)),
        shape=shape,  # type: ignore[arg-type]
        score=score,
        difference=difference,
        explanation=explanation,
        ambiguous=ambiguous,
        auto_accept=score >= settings.auto_accept_threshold
        and not ambiguous
        and not suggest_only
        and difference == 0,
    )
