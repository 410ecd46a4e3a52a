"""Serializer fields and parsers shared by both apps' APIs."""

from __future__ import annotations

import codecs
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from ledgers.money import AmountError, check_amount, format_amount


class DecimalJSONParser(JSONParser):
    """JSON with numbers read as exact Decimals, so `12.30` never passes through a float."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            decoded = codecs.getreader(encoding)(stream)
            return json.load(decoded, parse_float=Decimal, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


@extend_schema_field(
    {"type": "string", "format": "decimal", "pattern": r"^-?\d+(\.\d+)?$", "example": "-1250.50"}
)
class AmountField(serializers.Field):  # type: ignore[type-arg]
    """Money as a decimal string: exact Decimal in, currency minor units out.

    Input accepts a decimal string (or an exact JSON number, read as Decimal by
    DecimalJSONParser); a float can never arrive. Output renders the currency's minor units
    (`"12.30"`, `"1250"` JPY), or the exact digits of an amount more precise than that.
    """

    default_error_messages = {
        "invalid": 'A decimal string such as "-1250.50" is required.',
        "range": "{detail}",
    }

    def __init__(self, *, currency_field: str = "currency", **kwargs: Any) -> None:
        self.currency_field = currency_field
        super().__init__(**kwargs)

    def get_attribute(self, instance: Any) -> Any:
        value = super().get_attribute(instance)
        currency = getattr(instance, self.currency_field, None)
        if isinstance(instance, dict):
            currency = instance.get(self.currency_field)
        return (value, currency)

    def to_representation(self, value: Any) -> str | None:
        amount, currency = value if isinstance(value, tuple) else (value, None)
        if amount is None:
            return None
        return format_amount(Decimal(amount), currency or "")

    def to_internal_value(self, data: Any) -> Decimal:
        if isinstance(data, bool) or not isinstance(data, str | int | Decimal):
            self.fail("invalid")
        text = str(data).strip()
        if not text or len(text) > 40:
            self.fail("invalid")
        try:
            value = Decimal(text)
        except InvalidOperation:
            self.fail("invalid")
        try:
            return check_amount(value)
        except AmountError as exc:
            self.fail("range", detail=str(exc))


class StrictFieldsMixin:
    """Reject unknown input fields instead of silently ignoring them (400, names them)."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            allowed = set(self.fields)  # type: ignore[attr-defined]
            unknown = sorted(set(data) - allowed)
            if unknown:
                raise serializers.ValidationError(
                    {name: ["This field is not accepted here."] for name in unknown}
                )
        return super().to_internal_value(data)  # type: ignore[misc]
