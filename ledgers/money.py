"""Money helpers shared by parsers, matcher, services and serializers (stdlib only).

Amounts are `Decimal` from end to end, built from the text a bank or client sent, never
from a float. Every amount column has one size (24 digits, 6 places): that holds the
3-decimal currencies (BHD, KWD, ...) and the extra decimals DESIGN.md says to keep and flag
instead of rounding silently.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Final

AMOUNT_MAX_DIGITS: Final = 24
AMOUNT_DECIMAL_PLACES: Final = 6
_FINEST: Final = Decimal(1).scaleb(-AMOUNT_DECIMAL_PLACES)
_LARGEST: Final = Decimal(10) ** (AMOUNT_MAX_DIGITS - AMOUNT_DECIMAL_PLACES)

# ISO 4217 minor units of every active currency (plus a few funds codes banks use).
# Currencies with no minor unit are 0; unlisted codes are unknown and refused.
MINOR_UNITS: Final[dict[str, int]] = {
    **dict.fromkeys(
        [
            "AED",
            "AFN",
            "ALL",
            "AMD",
            "ANG",
            "AOA",
            "ARS",
            "AUD",
            "AWG",
            "AZN",
            "BAM",
            "BBD",
            "BDT",
            "BGN",
            "BMD",
            "BND",
            "BOB",
            "BRL",
            "BSD",
            "BTN",
            "BWP",
            "BYN",
            "BZD",
            "CAD",
            "CDF",
            "CHE",
            "CHF",
            "CHW",
            "CNY",
            "COP",
            "COU",
            "CRC",
            "CUC",
            "CUP",
            "CVE",
            "CZK",
            "DKK",
            "DOP",
            "DZD",
            "EGP",
            "ERN",
            "ETB",
            "EUR",
            "FJD",
            "FKP",
            "GBP",
            "GEL",
            "GHS",
            "GIP",
            "GMD",
            "GTQ",
            "GYD",
            "HKD",
            "HNL",
            "HRK",
            "HTG",
            "HUF",
            "IDR",
            "ILS",
            "INR",
            "JMD",
            "KES",
            "KGS",
            "KHR",
            "KPW",
            "KYD",
            "KZT",
            "LAK",
            "LBP",
            "LKR",
            "LRD",
            "LSL",
            "MAD",
            "MDL",
            "MGA",
            "MKD",
            "MMK",
            "MNT",
            "MOP",
            "MRU",
            "MUR",
            "MVR",
            "MWK",
            "MXN",
            "MXV",
            "MYR",
            "MZN",
            "NAD",
            "NGN",
            "NIO",
            "NOK",
            "NPR",
            "NZD",
            "PAB",
            "PEN",
            "PGK",
            "PHP",
            "PKR",
            "PLN",
            "QAR",
            "RON",
            "RSD",
            "RUB",
            "SAR",
            "SBD",
            "SCR",
            "SDG",
            "SEK",
            "SGD",
            "SHP",
            "SLE",
            "SLL",
            "SOS",
            "SRD",
            "SSP",
            "STN",
            "SVC",
            "SYP",
            "SZL",
            "THB",
            "TJS",
            "TMT",
            "TOP",
            "TRY",
            "TTD",
            "TWD",
            "TZS",
            "UAH",
            "USD",
            "USN",
            "UYU",
            "UZS",
            "VED",
            "VES",
            "WST",
            "XCD",
            "XCG",
            "YER",
            "ZAR",
            "ZMW",
            "ZWG",
            "ZWL",
        ],
        2,
    ),
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    "CLF": 4,
    "UYW": 4,
}


CURRENCY_CODES: Final[tuple[str, ...]] = tuple(sorted(MINOR_UNITS))


class AmountError(ValueError):
    """The text is not a usable amount (not a number, infinite, too precise, too large)."""


def minor_units(currency: str) -> int:
    """Decimal places of `currency`; raises AmountError for an unknown code."""
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        raise AmountError(f"unknown currency {currency!r}") from None


def is_known_currency(currency: str) -> bool:
    return currency in MINOR_UNITS


def check_amount(value: Decimal) -> Decimal:
    """`value` if it fits an amount column exactly; AmountError otherwise."""
    if not value.is_finite():
        raise AmountError(f"unusable amount {value!s}")
    # Magnitude first: quantizing 1e400 would itself overflow the decimal context.
    if abs(value) >= _LARGEST:
        raise AmountError("amount is too large")
    if value != value.quantize(_FINEST, rounding=ROUND_HALF_EVEN):
        raise AmountError(f"amount {value!s} has more than {AMOUNT_DECIMAL_PLACES} decimals")
    return value


def has_excess_precision(value: Decimal, currency: str) -> bool:
    """True when `value` has more decimals than `currency` allows (kept exactly, flagged)."""
    step = Decimal(1).scaleb(-minor_units(currency))
    return value != value.quantize(step, rounding=ROUND_HALF_EVEN)


def parse_amount(text: str, currency: str) -> tuple[Decimal, bool]:
    """Exact amount from plain decimal text, and whether it is more precise than `currency`.

    Only the canonical form (`-1250.50`) is accepted here; locale styles (`1.234,56`,
    `(12.00)`) are the CSV parser's business and are normalised before this is called.
    """
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise AmountError(f"not an amount: {text[:40]!r}") from None
    check_amount(value)
    return value, has_excess_precision(value, currency)


def quantize_money(value: Decimal, currency: str) -> Decimal:
    """Round a *computed* value (tolerance, fee split) to the currency's minor units.

    The one place money is rounded, always half-even; imported amounts are never rounded.
    """
    return value.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_EVEN)


def format_amount(value: Decimal, currency: str) -> str:
    """Decimal string with the currency's minor units (`12.30`, `1250`, `1.250`).

    A value more precise than the currency keeps its exact digits instead of being rounded.
    """
    places = MINOR_UNITS.get(currency, 2)
    step = Decimal(1).scaleb(-places)
    if value == value.quantize(step, rounding=ROUND_HALF_EVEN):
        return f"{value:.{places}f}"
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
