"""The parsers' hot value types build through `_init_through_slots`: the same objects, the
same signature and the same errors as the `__init__` dataclasses generates."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from reconciliation.parsers.types import ParsedEntry, TransactionDetail, _init_through_slots


def _generated(cls: type) -> type:
    """A twin of `cls` with dataclasses' own `__init__`: same fields, defaults, options."""
    return dataclasses.make_dataclass(
        f"Generated{cls.__name__}",
        [(f.name, f.type, f) for f in dataclasses.fields(cls)],
        frozen=True,
        slots=True,
        kw_only=True,
    )


DETAIL: dict[str, Any] = {"amount": Decimal("-12.50"), "currency": "EUR"}
DETAIL_ALL = {
    **DETAIL,
    **{
        f.name: f"{f.name}-value"
        for f in dataclasses.fields(TransactionDetail)
        if f.name not in DETAIL
    },
}
ENTRY: dict[str, Any] = {
    "line": 7,
    "statement_index": 1,
    "booking_date": date(2024, 3, 4),
    "value_date": None,
    "amount": Decimal("100.00"),
    "currency": "EUR",
    "excess_precision": False,
}
ENTRY_ALL = {
    **ENTRY,
    "bank_reference": "BNK1",
    "entry_reference": "7",
    "end_to_end_id": "E2E",
    "creditor_reference": "RF18539007547034",
    "description": "Rechnung 4711",
    "counterparty_name": "ACME GmbH",
    "counterparty_iban": "DE89370400440532013000",
    "bank_transaction_code": "PMNT/RCDT/ESCT",
    "is_reversal": True,
    "batch_count": 3,
    "details": (TransactionDetail(**DETAIL),),
    "charges": Decimal("1.20"),
    "account_iban": "DE02120300000000202051",
}


@pytest.mark.parametrize(
    ("cls", "values"),
    [
        (TransactionDetail, DETAIL),
        (TransactionDetail, DETAIL_ALL),
        (ParsedEntry, ENTRY),
        (ParsedEntry, ENTRY_ALL),
    ],
    ids=["detail-defaults", "detail-all", "entry-defaults", "entry-all"],
)
def test_an_instance_has_the_fields_the_generated_init_gives_it(
    cls: type, values: dict[str, Any]
) -> None:
    built = cls(**values)
    expected = _generated(cls)(**values)
    assert dataclasses.asdict(built) == dataclasses.asdict(expected)
    assert built == cls(**values)
    assert hash(built) == hash(cls(**values))
    assert dataclasses.replace(built, currency="CHF").currency == "CHF"
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.currency = "USD"


@pytest.mark.parametrize("cls", [TransactionDetail, ParsedEntry])
def test_wrong_calls_fail_as_they_do_with_the_generated_init(cls: type) -> None:
    values = DETAIL if cls is TransactionDetail else ENTRY
    generated = _generated(cls)
    calls: list[Callable[[type], object]] = [
        lambda c: c(**{k: v for k, v in values.items() if k != "currency"}),  # missing
        lambda c: c(**values, unknown=1),  # unexpected keyword
        lambda c: c(*values.values()),  # positional
    ]
    for call in calls:
        with pytest.raises(TypeError):
            call(generated)
        with pytest.raises(TypeError):
            call(cls)


def test_a_field_with_a_default_factory_is_refused() -> None:
    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class WithFactory:
        items: list[int] = dataclasses.field(default_factory=list)

    with pytest.raises(TypeError, match="plain defaults"):
        _init_through_slots(WithFactory)
