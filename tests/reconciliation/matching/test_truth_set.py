"""Precision and recall of the engine on a synthetic truth set (no database).

A proposal is correct when its exact (source ids, ledger ids) group is in the truth set;
for twins that are ambiguous by construction either pairing is correct, but it must be
flagged ambiguous. Run with ``-s`` to see the figures.
"""

from __future__ import annotations

from collections import Counter

import pytest

from benchmarks.synthetic import TruthSet, generate
from reconciliation.matching.engine import match
from reconciliation.matching.types import MatchResult, Proposal


def _twin_sets(truth: TruthSet) -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    return {s: pair for pair in truth.twins for s in pair[0]}


def _is_correct(
    p: Proposal, truth: TruthSet, twins: dict[str, tuple[frozenset[str], frozenset[str]]]
) -> bool:
    if (p.source_ids, p.ledger_ids) in truth.truth:
        return True
    if p.shape == "one_to_one" and p.source_ids[0] in twins:
        return p.ledger_ids[0] in twins[p.source_ids[0]][1]
    return False


def _measure(truth: TruthSet, result: MatchResult) -> dict[str, float]:
    twins = _twin_sets(truth)
    proposals = result.proposals
    correct = [p for p in proposals if _is_correct(p, truth, twins)]
    found = {(p.source_ids, p.ledger_ids) for p in correct}
    twin_found = {
        p.source_ids[0] for p in correct if p.shape == "one_to_one" and p.source_ids[0] in twins
    }
    missed: Counter[str] = Counter()
    for group, kind in truth.kinds.items():
        hit = group in found or (kind == "twin" and group[0][0] in twin_found)
        if not hit:
            missed[kind] += 1
    auto = [p for p in proposals if p.auto_accept]
    twin_proposals = [p for p in proposals if p.shape == "one_to_one" and p.source_ids[0] in twins]
    return {
        "proposals": len(proposals),
        "precision": len(correct) / len(proposals),
        "recall": 1 - sum(missed.values()) / len(truth.kinds),
        "auto_accepted": len(auto),
        "auto_accept_precision": sum(_is_correct(p, truth, twins) for p in auto)
        / max(1, len(auto)),
        "twins_flagged": sum(p.ambiguous for p in twin_proposals) / max(1, len(twin_proposals)),
        "missed": dict(missed),  # type: ignore[dict-item]
    }


@pytest.mark.parametrize("skew", [False, True], ids=["uniform", "skewed"])
def test_precision_and_recall_on_ten_thousand_entries(skew: bool) -> None:
    truth = generate(10_000, seed=20240601, skew=skew)
    result = match(source=truth.source, ledger=truth.ledger, settings=truth.settings)
    figures = _measure(truth, result)
    print(f"\ntruth set 10,000 ({'skewed' if skew else 'uniform'}): {figures}")  # noqa: T201
    assert figures["precision"] >= 0.99
    assert figures["recall"] >= 0.97
    assert figures["auto_accept_precision"] == 1.0
    assert figures["twins_flagged"] == 1.0


def test_the_generator_is_deterministic_and_consistent() -> None:
    a = generate(2_000, seed=3)
    b = generate(2_000, seed=3)
    assert a.source == b.source
    assert a.ledger == b.ledger
    assert a.truth == b.truth
    rows_only = generate(2_000, seed=3, with_truth=False)
    assert rows_only.source == a.source
    assert not rows_only.truth
    ids = {r.id for r in a.source} | {r.id for r in a.ledger}
    assert len(ids) == len(a.source) + len(a.ledger)
    for source_ids, ledger_ids in a.truth:
        assert set(source_ids) <= ids
        assert set(ledger_ids) <= ids
    assert set(a.kinds.values()) >= {
        "exact",
        "shifted",
        "fee",
        "batch",
        "batch_no_details",
        "split",
        "reversal",
        "twin",
    }
