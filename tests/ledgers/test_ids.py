"""Primary keys are time-ordered version-7 UUIDs (ledgers/ids.py)."""

from __future__ import annotations

import itertools
import time
import uuid

from ledgers.ids import hex_id_stream, new_id, raw_id_stream


def _ms(value: uuid.UUID) -> int:
    return value.int >> 80


def test_new_id_is_a_version_7_uuid_carrying_the_current_millisecond():
    before = time.time_ns() // 1_000_000
    value = new_id()
    after = time.time_ns() // 1_000_000
    assert (value.version, value.variant) == (7, uuid.RFC_4122)
    assert before <= _ms(value) <= after


def test_bulk_ids_are_unique_valid_and_ascending_within_a_chunk():
    chunk = 512
    raw = list(itertools.islice(raw_id_stream(chunk), chunk * 3))
    values = [uuid.UUID(bytes=b) for b in raw]
    assert len(set(values)) == len(values)
    assert all((v.version, v.variant) == (7, uuid.RFC_4122) for v in values)
    for start in range(0, len(raw), chunk):
        assert raw[start : start + chunk] == sorted(raw[start : start + chunk])
    assert _ms(values[0]) <= _ms(values[-1])


def test_hex_ids_read_as_the_same_kind_of_uuid():
    value = uuid.UUID(next(hex_id_stream(8)))
    assert (value.version, value.variant) == (7, uuid.RFC_4122)


def test_models_default_to_time_ordered_keys(db, alice_ledger):
    from ledgers.models import LedgerEntry

    entry = LedgerEntry.objects.create(
        ledger=alice_ledger, external_id="X-1", amount="1.00", currency="EUR",
        booking_date="2026-11-02",
    )  # fmt: skip
    assert entry.pk.version == 7
