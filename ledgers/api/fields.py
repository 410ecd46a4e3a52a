"""Serializer fields and parsers shared by both apps' APIs."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.http import QueryDict
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
            value = safejson.loads(raw.decode(encoding))
        except (ValueError, UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        # Every body of this API is an object (or a list of GL entries); `null` or `0`
        # would otherwise read as "no body" in the views that take an optional one.
        if not isinstance(value, dict | list):
            raise ParseError("JSON parse error - the body must be a JSON object or list.")
        return value


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


NON_NEGATIVE_AMOUNT_PATTERN = r"^\d{1,18}(\.\d{1,6})?$"


@extend_schema_field(
    {
        "type": "string",
        "format": "decimal",
        "pattern": NON_NEGATIVE_AMOUNT_PATTERN,
        "example": "2.50",
    }
)
class NonNegativeAmountField(AmountField):
    """An amount that cannot be negative (a tolerance); the schema's pattern says so."""

    default_error_messages = {
        **AmountField.default_error_messages,
        "negative": "Must not be negative.",
    }

    def to_internal_value(self, data: Any) -> Decimal:
        value = super().to_internal_value(data)
        if value < 0 or (isinstance(data, str) and data.startswith("-")):
            self.fail("negative")
        return value


class JSONTextField(serializers.JSONField):
    """A JSON value that may arrive as form text (multipart); the text is kept as text for
    the service to parse with the depth limit (`ledgers.safejson`). DRF's JSONField would
    `json.loads` form text itself, where 2 KB of brackets is a RecursionError."""

    def get_value(self, dictionary: Any) -> Any:
        value = super().get_value(dictionary)
        return str(value) if isinstance(value, str) else value


PERCENT_PATTERN = r"^(100(\.0{1,4})?|\d{1,2}(\.\d{1,4})?)$"


@extend_schema_field(
    {"type": "string", "format": "decimal", "pattern": PERCENT_PATTERN, "example": "0.5"}
)
class PercentField(serializers.DecimalField):
    """A percentage from "0" to "100" with up to 4 decimals, a decimal string like money."""

    default_error_messages = {
        **serializers.DecimalField.default_error_messages,
        "not_a_string": 'A percentage is a decimal string such as "0.5".',
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_digits=7, decimal_places=4, min_value=0, max_value=100, **kwargs)

    def to_internal_value(self, data: Any) -> Decimal:
        if not isinstance(data, str):
            self.fail("not_a_string")
        if not re.fullmatch(PERCENT_PATTERN, data):
            self.fail("invalid")
        return super().to_internal_value(data)


# JSON types each kind of field takes, as the schema states them. DRF would coerce 0 to
# "0" for a CharField and "5" to 5 for an IntegerField; a schema-driven client (and the
# fuzzer) rightly expects the server to refuse what the schema refuses.
_JSON_TYPES: tuple[tuple[type, type | tuple[type, ...], str], ...] = (
    (serializers.BooleanField, bool, "a boolean"),
    (serializers.IntegerField, int, "an integer"),
    (serializers.ListField, list, "a list"),
    (serializers.CharField, str, "a string"),
    (serializers.ChoiceField, str, "a string"),
    (serializers.UUIDField, str, "a string"),
    (serializers.DateField, str, "a string"),
    (serializers.DateTimeField, str, "a string"),
    (serializers.Serializer, dict, "an object"),
)


class StrictFieldsMixin:
    """Reject unknown input fields instead of silently ignoring them (400, names them), and,
    for JSON bodies, values of the wrong JSON type (`"note": 0`)."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            allowed = set(self.fields)  # type: ignore[attr-defined]
            unknown = sorted(set(data) - allowed)
            if unknown:
                raise serializers.ValidationError(
                    {name: ["This field is not accepted here."] for name in unknown}
                )
            if not isinstance(data, QueryDict):  # form fields are all text by nature
                wrong = {
                    name: [f"Must be {label}."]
                    for name, value in data.items()
                    if value is not None and (label := _wrong_type(self.fields[name], value))  # type: ignore[attr-defined]
                }
                # DRF trims text before checking max_length; the schema counts it as sent.
                wrong |= {
                    name: [f"Ensure this field has no more than {field.max_length} characters."]
                    for name, value in data.items()
                    if isinstance(field := self.fields[name], serializers.CharField)  # type: ignore[attr-defined]
                    and isinstance(value, str)
                    and field.max_length is not None
                    and len(value) > field.max_length
                    and name not in wrong
                }
                if wrong:
                    raise serializers.ValidationError(wrong)
        return super().to_internal_value(data)  # type: ignore[misc]


def _wrong_type(field: Any, value: Any) -> str | None:
    for kind, types, label in _JSON_TYPES:
        if isinstance(field, kind):
            if isinstance(value, bool) and types is not bool:
                return label
            return None if isinstance(value, types) else label
    return None
