"""The lean `many=True` rendering of the hot list pages is the serializers' own output,
row by row and byte for byte (ledgers.api.lean), on a run holding every kind of row:
accepted and suggested matches, a closed item (closed_by through a dotted source), free
items and GL entries, discrepancies with and without an assignee, nulls."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework import serializers

from ledgers.api.lean import LeanListSerializer
from ledgers.api.serializers import LedgerEntrySerializer
from ledgers.models import LedgerEntry
from reconciliation.api.serializers import (
    DiscrepancySerializer,
    MatchSerializer,
    RunGlEntrySerializer,
    RunGlEntryWithLinkSerializer,
    SourceEntrySerializer,
)
from reconciliation.selectors import (
    run_discrepancy_list,
    run_gl_entries,
    run_item_list,
    run_match_list,
)
from reconciliation.services.discrepancies import discrepancy_update

pytestmark = pytest.mark.django_db


def _standard(serializer_class: type[serializers.Serializer[Any]], rows: list[Any]) -> Any:
    """DRF's own rendering: one serializer per row."""
    return [serializer_class(row).data for row in rows]


def _lean(serializer_class: type[serializers.Serializer[Any]], rows: list[Any]) -> Any:
    many = serializer_class(rows, many=True)
    assert isinstance(many, LeanListSerializer)
    return many.data


@pytest.mark.parametrize(
    ("serializer_class", "rows_of"),
    [
        (SourceEntrySerializer, lambda w: run_item_list(run=w["run"])),
        (MatchSerializer, lambda w: run_match_list(run=w["run"])),
        (DiscrepancySerializer, lambda w: run_discrepancy_list(run=w["run"])),
        (RunGlEntrySerializer, lambda w: run_gl_entries(run=w["run"], only_unlinked=True)),
        (
            RunGlEntryWithLinkSerializer,
            lambda w: run_gl_entries(run=w["run"], only_unlinked=False),
        ),
        (LedgerEntrySerializer, lambda w: LedgerEntry.objects.filter(ledger=w["run"].ledger)),
    ],
)
def test_lean_list_rendering_equals_the_serializers_own(
    world: dict[str, Any], alice: Any, serializer_class: Any, rows_of: Any
) -> None:
    discrepancy_update(
        discrepancy=world["discrepancy"], status=None, note="looking", actor=alice, assignee=alice
    )
    rows = list(rows_of(world))
    assert rows
    lean, standard = _lean(serializer_class, rows), _standard(serializer_class, rows)
    assert lean == standard
    assert json.dumps(lean) == json.dumps(standard)  # same keys in the same order


def test_rows_of_a_closed_and_a_free_item_differ_where_they_should(world: dict[str, Any]) -> None:
    rows = {
        row["id"]: row
        for row in _lean(SourceEntrySerializer, list(run_item_list(run=world["run"])))
    }
    closed = rows[str(world["closed_item"].pk)]
    free = rows[str(world["free_item"].pk)]
    assert closed["match_status"] == "closed"
    assert closed["closed_by"] == "alice"
    assert closed["close_reason"] == "bank_error"
    assert free["closed_by"] is None
    assert free["close_reason"] is None
    assert isinstance(free["amount"], str)
    assert isinstance(free["line"], int)


def test_match_sides_from_plain_rows_equal_drf_on_the_entries(world: dict[str, Any]) -> None:
    """A match's sides are rendered from `values()` rows (selectors.match_sides) by a
    plan made on the first row: the same JSON as DRF's own serializer on the entries."""
    from reconciliation.api.serializers import _MatchLedgerEntry, _MatchSourceEntry

    matches = list(run_match_list(run=world["run"]))
    assert matches
    rendered = {row["id"]: row for row in _lean(MatchSerializer, matches)}
    sides_seen = 0
    for match in matches:
        source = [
            _MatchSourceEntry(link.source_entry).data
            for link in match.source_links.order_by("source_entry__booking_date", "source_entry")
        ]
        ledger = [
            _MatchLedgerEntry(link.ledger_entry).data
            for link in match.ledger_links.order_by("ledger_entry__booking_date", "ledger_entry")
        ]
        row = rendered[str(match.pk)]
        assert json.dumps(row["source_entries"]) == json.dumps(source)
        assert json.dumps(row["ledger_entries"]) == json.dumps(ledger)
        assert row["source_entry_ids"] == [entry["id"] for entry in source]
        assert row["ledger_entry_ids"] == [entry["id"] for entry in ledger]
        sides_seen += len(source) + len(ledger)
    assert sides_seen >= 2 * len(matches)
