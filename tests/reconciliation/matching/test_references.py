"""Reference extraction and normalisation (no database)."""

from __future__ import annotations

import pytest

from reconciliation.matching.references import (
    creditor_reference_valid,
    invoice_numbers,
    normalise_reference,
    reference_keys,
    shared_key,
)
from reconciliation.matching.scoring import normalise_name


def test_creditor_reference_ignores_spaces_and_case() -> None:
    assert normalise_reference("rf18 5390 0754 7034") == "RF18539007547034"
    bank = reference_keys((), ("SEPA ACME RF18 5390 0754 7034",))
    gl = reference_keys(("RF18539007547034",))
    assert shared_key(bank, gl) == "R:RF18539007547034"


def test_a_creditor_reference_printed_in_groups_stops_where_the_check_digits_say() -> None:
    # "EUR" could be a fifth group; the ISO 11649 check digits say the reference ends before.
    assert reference_keys((), ("pay RF18 5390 0754 7034 EUR 12.50",)) == ("R:RF18539007547034",)
    assert creditor_reference_valid("RF18539007547034")
    assert not creditor_reference_valid("RF18539007547035")


def test_swiss_qr_reference_printed_in_groups_matches_the_plain_digits() -> None:
    bank = reference_keys((), ("QR-Zahlung 21 00000 00003 13947 14300 09017",))
    gl = reference_keys(("210000000003139471430009017",))
    assert shared_key(bank, gl) == "R:210000000003139471430009017"


@pytest.mark.parametrize(
    ("bank_text", "gl_reference"),
    [
        ("Invoice 4711", "INV-4711"),
        ("Rechnung Nr. 4711", "INV-4711"),
        ("payment for INV 004711 thanks", "Invoice 4711"),
        ("RG 2024/0815", "INV-2024-0815"),
        ("Facture no 998877", "998877"),
    ],
)
def test_the_same_invoice_number_written_differently_is_shared(
    bank_text: str, gl_reference: str
) -> None:
    key = shared_key(reference_keys((), (bank_text,)), reference_keys((gl_reference,)))
    assert key is not None
    assert key.startswith("I:")


def test_short_numbers_are_not_invoice_numbers() -> None:
    assert invoice_numbers("Invoice 12") == []
    assert invoice_numbers("INV-0042") == []
    assert shared_key(reference_keys((), ("Invoice 12",)), reference_keys(("INV-12",))) is None


def test_numbers_without_an_invoice_keyword_are_not_invoice_numbers() -> None:
    assert invoice_numbers("order 4711 of 2024-01-15, 1234.56 EUR") == []
    assert reference_keys((), ("paid 2024-01-15 amount 1234.56",)) == ()


def test_placeholders_are_not_references() -> None:
    assert reference_keys(("NOTPROVIDED", "NONREF", "")) == ()


def test_an_iban_in_the_text_is_not_a_reference() -> None:
    assert reference_keys((), ("from DE89370400440532013000 rent",)) == ()


def test_a_reference_token_in_free_text_matches_the_reference_field() -> None:
    bank = reference_keys((), ("Payment ACME-2024-001A thanks",))
    gl = reference_keys(("ACME-2024-001A",))
    assert shared_key(bank, gl) == "R:ACME2024001A"


def test_a_full_reference_is_preferred_over_an_invoice_number() -> None:
    left = ("I:4711", "R:INV4711")
    right = ("I:4711", "R:INV4711")
    assert shared_key(left, right) == "R:INV4711"
    assert shared_key(("I:4711",), ("I:4711", "R:X12345")) == "I:4711"
    assert shared_key((), ("I:4711",)) is None


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("ACME GmbH", "Acme"),
        ("Kessler Holz GmbH & Co. KG", "KESSLER HOLZ"),
        ("Weiss Optik e.K.", "weiss optik"),
        ("Globex Inc.", "GLOBEX, INC"),
    ],
)
def test_legal_suffixes_do_not_make_names_differ(a: str, b: str) -> None:
    assert normalise_name(a) == normalise_name(b)
