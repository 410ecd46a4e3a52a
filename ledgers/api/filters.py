"""FilterSets of the ledgers API, and the strict filter base both apps' lists use."""

from __future__ import annotations

import datetime
import re
from functools import cache
from typing import Any

import django_filters as filters
from django import forms
from django.core.exceptions import ValidationError
from django_filters.fields import IsoDateTimeField
from drf_spectacular.utils import extend_schema_field

from ledgers.api.fields import AMOUNT_PATTERN
from ledgers.choices import ReconciliationStatus
from ledgers.models import Account, LedgerEntry
from ledgers.money import AMOUNT_DECIMAL_PLACES, AMOUNT_MAX_DIGITS


class StrictFilterSet(filters.FilterSet):
    """A filter sent with an empty value (`?booking_date_from=`) is a 400 naming it, as the
    schema says (`minLength: 1`): a client that meant "no filter" omits the parameter, and
    an empty value is never silently read as "everything"."""

    def is_valid(self) -> bool:
        valid = super().is_valid()
        for name in self.filters:
            if name not in self.data:
                continue
            values = self.data.getlist(name) if hasattr(self.data, "getlist") else []
            if any(value == "" for value in values):
                self.form.errors.pop(name, None)  # "blank", not the field's own complaint
                self.form.add_error(
                    name,
                    ValidationError(
                        "Omit the parameter instead of sending it empty.", code="blank"
                    ),
                )
        return valid and not self.form.errors


# RFC 3339 with an offset real time zones use (-12:00 to +14:00, so +-14:59 at most).
DATETIME_PATTERN = (
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-](0\d|1[0-4]):[0-5]\d)$"
)
_DATETIME_RE = re.compile(DATETIME_PATTERN)


@cache
def _text_filter_class(max_length: int) -> type[filters.CharFilter]:
    schema = {"type": "string", "minLength": 1, "maxLength": max_length}
    return extend_schema_field(schema)(type(f"Text{max_length}Filter", (filters.CharFilter,), {}))


def text_filter(max_length: int, **kwargs: Any) -> filters.CharFilter:
    """A text filter whose length limit the schema states; the value is taken as sent
    (no stripping), so the length the schema counts is the length the server checks."""
    return _text_filter_class(max_length)(max_length=max_length, strip=False, **kwargs)


class UTCIsoDateTimeField(IsoDateTimeField):
    """ISO 8601 / RFC 3339 with an explicit offset, compared in UTC.

    PostgreSQL refuses offsets beyond +-15:59 (`0913-07-13T07:07:46-20:39` was a 500), and
    a value near year 1 or 9999 can leave the calendar when converted: both are a 400, as
    is a time without an offset (whose meaning would depend on the server's zone). The
    schema carries the same rule as a pattern.
    """

    default_error_messages = {
        "invalid": "Enter a date and time with an offset, e.g. 2026-11-02T09:30:00+01:00.",
        "range": "The date and time is out of range once converted to UTC.",
    }

    def to_python(self, value: Any) -> datetime.datetime | None:
        if value in self.empty_values:
            return None
        if not isinstance(value, str) or not _DATETIME_RE.fullmatch(value.strip()):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(datetime.UTC)
        except (OverflowError, ValueError):
            raise ValidationError(self.error_messages["range"], code="invalid") from None


@extend_schema_field(
    {"type": "string", "format": "date-time", "pattern": DATETIME_PATTERN, "minLength": 1}
)
class UTCIsoDateTimeFilter(filters.IsoDateTimeFilter):
    field_class = UTCIsoDateTimeField


class AmountFilterField(forms.DecimalField):
    """A decimal string as money is written (AMOUNT_PATTERN): no exponent, no spaces."""

    def to_python(self, value: Any) -> Any:
        if value not in self.empty_values and not re.fullmatch(AMOUNT_PATTERN, str(value)):
            raise ValidationError("Enter an amount such as -1250.50.", code="invalid")
        return super().to_python(value)


class StrictBooleanField(forms.Field):
    """`true` or `false`; anything else is a 400 (django-filter read it as "no filter")."""

    def to_python(self, value: Any) -> bool | None:
        if value in self.empty_values:
            return None
        if value in ("true", "false"):
            return value == "true"
        raise ValidationError("Must be true or false.", code="invalid")


class StrictBooleanFilter(filters.BooleanFilter):
    field_class = StrictBooleanField


@extend_schema_field(
    {"type": "string", "format": "decimal", "pattern": AMOUNT_PATTERN, "example": "-1250.50"}
)
class AmountFilter(filters.NumberFilter):
    """A money bound: at most the amount column's digits, so `1e999999` is a 400 and not a
    numeric overflow in PostgreSQL."""

    field_class = AmountFilterField

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", AMOUNT_MAX_DIGITS)
        kwargs.setdefault("decimal_places", AMOUNT_DECIMAL_PLACES)
        super().__init__(**kwargs)


@extend_schema_field({"type": "integer", "minimum": 0, "maximum": 100})
class ScoreFilter(filters.NumberFilter):
    """A match score bound, 0 to 100 like the scores themselves."""

    field_class = forms.IntegerField

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=0, max_value=100, **kwargs)


class AccountFilterSet(StrictFilterSet):
    ledger_id = filters.UUIDFilter(field_name="ledger_id")

    class Meta:
        model = Account
        fields = ["ledger_id"]


class LedgerEntryFilterSet(StrictFilterSet):
    account_id = filters.UUIDFilter(field_name="account_id")
    booking_date_from = filters.DateFilter(field_name="booking_date", lookup_expr="gte")
    booking_date_to = filters.DateFilter(field_name="booking_date", lookup_expr="lte")
    reconciliation_status = filters.ChoiceFilter(choices=ReconciliationStatus.choices)
    amount_min = AmountFilter(field_name="amount", lookup_expr="gte")
    amount_max = AmountFilter(field_name="amount", lookup_expr="lte")
    external_id = text_filter(128, field_name="external_id")

    class Meta:
        model = LedgerEntry
        fields = ["account_id", "reconciliation_status", "external_id"]
