"""Serializer fields and parsers shared by both apps' APIs."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser

from ledgers import safejson
from ledgers.money import AmountError, check_amount, format_amount


class RequestTooLarge(APIException):
    status_code = 413
    default_detail = "The request body is larger than the limit."
    default_code = "request_too_large"


class DecimalJSONParser(JSONParser):
    """JSON with numbers read as exact Decimals, so `12.30` never passes through a float.

    The body is read at most up to DATA_UPLOAD_MAX_MEMORY_SIZE (413 beyond it: DRF reads
    the stream itself, so Django's own check never runs for JSON), and nesting deeper than
    `ledgers.safejson.MAX_DEPTH` is a 400 instead of a RecursionError.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        limit: int | None = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is None:
            raw = stream.read()
        else:
            request = parser_context.get("request")
            declared = str(request.META.get("CONTENT_LENGTH") or "") if request else ""
            # Refuse on the declared length before reading; read one byte past the limit
            # for bodies that declare none (chunked) or lie.
            raw = b"" if declared.isdigit() and int(declared) > limit else stream.read(limit + 1)
            if len(raw) > limit or (declared.isdigit() and int(declared) > limit):
                raise RequestTooLarge(f"The request body is larger than {limit} bytes.")
        try:
            return safejson.loads(raw.decode(encoding))
        except (ValueError, UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None


AMOUNT_PATTERN = r"^-?\d{1,18}(\.\d{1,6})?$"
_AMOUNT_RE = re.compile(AMOUNT_PATTERN)


@extend_schema_field(
    {"type": "string", "format": "decimal", "pattern": AMOUNT_PATTERN, "example": "-1250.50"}
)
class AmountField(serializers.Field):  # type: ignore[type-arg]
    """Money as a decimal string: exact Decimal in, currency minor units out.

    Input is a decimal string matching AMOUNT_PATTERN (at most 18 integer digits and 6
    decimals, the column size of ledgers.money). A JSON number is refused even when
    DecimalJSONParser read it exactly: money is a string on the wire (API.md), and a client
    that sends 0.1 as a number has usually been through a float already. Output renders the
    currency's minor units (`"12.30"`, `"1250"` JPY), or the exact digits of an amount more
    precise than that.
    """

    default_error_messages = {
        "invalid": 'A decimal string such as "-1250.50" is required.',
        "not_a_string": 'Money is a decimal string such as "-1250.50", not a JSON number.',
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
        if isinstance(data, int | float | Decimal) and not isinstance(data, bool):
            self.fail("not_a_string")
        if not isinstance(data, str) or not _AMOUNT_RE.fullmatch(data):
            self.fail("invalid")
        try:
            return check_amount(Decimal(data))
        except (AmountError, InvalidOperation) as exc:
            self.fail("range", detail=str(exc))


class JSONTextField(serializers.JSONField):
    """A JSON value that may arrive as form text (multipart); the text is kept as text for
    the service to parse with the depth limit (`ledgers.safejson`). DRF's JSONField would
    `json.loads` form text itself, where 2 KB of brackets is a RecursionError."""

    def get_value(self, dictionary: Any) -> Any:
        value = super().get_value(dictionary)
        return str(value) if isinstance(value, str) else value


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
