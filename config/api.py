"""API plumbing shared by every app: error handler, pagination, ordering.

One error shape everywhere (API.md): `{"type": ..., "errors": [{"code", "detail", "attr"}]}`
plus, for domain errors, the ids a client needs (e.g. the failed file's id) at top level.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import logging
import sys
from collections import OrderedDict
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, InterfaceError, OperationalError
from django.db.models import ForeignObject, Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.defaults import page_not_found
from django_filters.rest_framework import DjangoFilterBackend
from drf_standardized_errors.handler import ExceptionHandler
from drf_standardized_errors.handler import exception_handler as standardized_handler
from rest_framework import exceptions, pagination
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import set_rollback

from config.database import is_database_unavailable, service_unavailable_response
from ledgers.api.fields import RequestTooLarge
from ledgers.exceptions import DomainError, Invalid

logger = logging.getLogger(__name__)


def error_body(
    *,
    status: int,
    code: str,
    detail: str,
    attr: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    kind = "server_error" if status >= 500 else "client_error"
    return {
        "type": kind,
        "errors": [{"code": code, "detail": detail, "attr": attr}],
        **(extra or {}),
    }


class ServiceUnavailable(exceptions.APIException):
    status_code = 503
    default_detail = "A backing service is unavailable; retry later."
    default_code = "service_unavailable"

    def __init__(self) -> None:
        super().__init__()
        # drf-standardized-errors turns `wait` into the Retry-After header (API.md).
        self.wait = settings.DB_UNAVAILABLE_RETRY_AFTER_SECONDS


class TooManyFields(exceptions.APIException):
    status_code = 400
    default_detail = "The request has too many form fields or files."
    default_code = "too_many_fields"


class DomainExceptionHandler(ExceptionHandler):
    """Installed as DRF_STANDARDIZED_ERRORS["EXCEPTION_HANDLER_CLASS"]."""

    def convert_known_exceptions(self, exc: Exception) -> Exception:
        # A lost database connection is infrastructure, not a bug in the request: 503, and the
        # transaction is rolled back by the caller's atomic block, so nothing is half-written.
        if isinstance(exc, OperationalError | InterfaceError):
            logger.warning("database unavailable: %s", type(exc).__name__)
            return ServiceUnavailable()
        return super().convert_known_exceptions(exc)

    def report_exception(self, exc: exceptions.APIException, response: Response) -> None:
        # An outage is logged above as a warning; reporting it as a server error (the
        # got_request_exception signal, error trackers) would page someone once per request.
        if isinstance(exc, ServiceUnavailable):
            return
        super().report_exception(exc, response)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    # Django's own body limits (DRF reads JSON through request.body; multipart fields and
    # counts) are the client's doing: 413/400 in the shape, not the 500 of an unknown error.
    if isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge()
    elif isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        exc = TooManyFields()
    if isinstance(exc, DomainError):
        set_rollback()
        extra = {key: _jsonable(value) for key, value in exc.extra.items()}
        return Response(
            error_body(
                status=exc.status_code, code=exc.code, detail=exc.detail, attr=exc.attr, extra=extra
            ),
            status=exc.status_code,
        )
    if isinstance(exc, DatabaseError) and not isinstance(exc, OperationalError | InterfaceError):
        # IntegrityError & co. that escaped a service are bugs; still answer the shape.
        logger.exception("unexpected database error")
    response = standardized_handler(exc, context)  # type: ignore[arg-type]
    if response is not None and isinstance(response.data, dict):
        # A bulk body's errors name the item by index (`0`, `3.amount` is already text):
        # attr is a string or null everywhere, as the schema says.
        for error in response.data.get("errors", []):
            if error.get("attr") is not None and not isinstance(error["attr"], str):
                error["attr"] = str(error["attr"])
    return response


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


def json_404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django-level 404 (no route matched, e.g. a malformed UUID segment): the API shape
    under /v1/, Django's page elsewhere (the admin is HTML)."""
    if not request.path.startswith("/v1/"):
        return page_not_found(request, exception or Http404())
    return api_not_found(request)


@csrf_exempt  # it changes nothing; a CSRF 403 page here would hide the 404
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """The last /v1/ route: any path no API route matched (`/v1/ledgers//entries`) is a
    JSON 404 in the error shape, with DEBUG on as well as off."""
    return JsonResponse(error_body(status=404, code="not_found", detail="Not found."), status=404)


def json_500(request: HttpRequest) -> HttpResponse:
    # Django calls this inside its `except` block, so the exception is at hand: a database
    # that went away in a middleware (outside any view) is a 503 as well.
    if is_database_unavailable(sys.exc_info()[1]):
        return service_unavailable_response(request)
    return JsonResponse(
        error_body(status=500, code="error", detail="Server Error (500)"), status=500
    )


# PostgreSQL's OFFSET is a bigint; a larger number would be a database error, not a page.
MAX_OFFSET = 2**63 - 1
MAX_CURSOR_LENGTH = 1024


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """`limit` (default 50, 1 to 500) and `offset`, the GetAll-compatible list shape.

    Out-of-range values are a 400 naming the parameter, as the schema says (minimum and
    maximum), rather than silently clamped.
    """

    default_limit = 50
    max_limit = 500

    def get_limit(self, request: Request) -> int:
        raw = request.query_params.get(self.limit_query_param)
        if raw is None:
            return self.default_limit
        return _bounded_int(raw, name="limit", low=1, high=self.max_limit)

    def get_offset(self, request: Request) -> int:
        raw = request.query_params.get(self.offset_query_param)
        if raw is None:
            return 0
        return _bounded_int(raw, name="offset", low=0, high=MAX_OFFSET)

    def paginate_queryset(  # type: ignore[override]
        self, queryset: QuerySet[Any], request: Request, view: Any = None
    ) -> list[Any] | None:
        # A view that knows the filtered total without counting rows says so (a run's
        # items by status: the run's cached counts); otherwise COUNT(*) as usual.
        known = getattr(view, "offset_count", None)
        self.known_count: int | None = known() if known is not None else None
        return super().paginate_queryset(queryset, request, view)

    def get_count(self, queryset: Any) -> int:
        if self.known_count is not None:
            return self.known_count
        return int(super().get_count(queryset))

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        bounds = {
            self.limit_query_param: {"minimum": 1, "maximum": self.max_limit, "default": 50},
            self.offset_query_param: {"minimum": 0, "maximum": MAX_OFFSET},
        }
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters


def _bounded_int(raw: str, *, name: str, low: int, high: int) -> int:
    message = f"An integer from {low} to {high} is required."
    # str.isdigit alone accepts "²" and other Unicode digits that int() refuses.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19):
        raise exceptions.ValidationError({name: [message]})
    value = int(raw)
    if not low <= value <= high:
        raise exceptions.ValidationError({name: [message]})
    return value


class KeysetPagination(LimitOffsetPagination):
    """limit/offset by default; `cursor` switches to keyset paging on (sort key, id).

    Lists that can hold millions of rows (items, gl-only, gl-all, matches, discrepancies)
    use this: page 10,000 through a cursor costs what page 1 costs, because the database
    seeks the index instead of counting and skipping. With a cursor, `count` is omitted.
    The view declares `keyset_fields`, e.g. ("booking_date", "id"); every field ascending.
    A cursor is opaque to clients but not trusted: each value is parsed as its column's
    type before it reaches SQL, so a forged one is a 400 on `cursor`, never a 500.
    """

    cursor_query_param = "cursor"

    def paginate_queryset(  # type: ignore[override]
        self, queryset: QuerySet[Any], request: Request, view: Any = None
    ) -> list[Any] | None:
        self.request = request
        self.keyset_fields: tuple[str, ...] = tuple(getattr(view, "keyset_fields", ("id",)))
        raw_cursor = request.query_params.get(self.cursor_query_param)
        if raw_cursor is None:
            self.using_cursor = False
            return super().paginate_queryset(queryset, request, view)
        self.using_cursor = True
        self.limit = self.get_limit(request)
        ordered = queryset.order_by(*self.keyset_fields)
        if raw_cursor:
            ordered = ordered.filter(self._after(self._decode(raw_cursor, queryset.model)))
        rows = list(ordered[: self.limit + 1])
        self.has_more = len(rows) > self.limit
        self.page_rows = rows[: self.limit]
        return self.page_rows

    def _decode(self, raw: str, model: type[Model]) -> list[Any]:
        try:
            if len(raw) > MAX_CURSOR_LENGTH:
                raise ValueError("cursor too long")
            padded = raw.encode("ascii") + b"=" * (-len(raw) % 4)
            values = json.loads(base64.urlsafe_b64decode(padded))
            if not isinstance(values, list) or len(values) != len(self.keyset_fields):
                raise ValueError("wrong shape")
            return [
                _cursor_value(model, name, value)
                for name, value in zip(self.keyset_fields, values, strict=True)
            ]
        except (ValueError, TypeError, OverflowError, binascii.Error, DjangoValidationError):
            # A client error rather than a validation error: any string fits the schema
            # (cursors are opaque), only the server can tell one it did not issue.
            raise Invalid("Invalid cursor.", attr="cursor") from None

    def _encode(self, row: Any) -> str:
        values = [str(_attr_path(row, name)) for name in self.keyset_fields]
        return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")

    def _after(self, values: list[str]) -> Any:
        # A row-value comparison `(booking_date, id) > (%s, %s)`: PostgreSQL seeks the
        # composite index with it directly, where the equivalent OR-of-ANDs made the
        # planner scan (2.7 s vs 0.4 ms for page 10,000 of a million-entry run). Django
        # writes the OR-of-ANDs itself on backends without row values.
        from django.db.models import F
        from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan

        return TupleGreaterThan(Tuple(*(F(name) for name in self.keyset_fields)), values)

    def get_paginated_response(self, data: Any) -> Response:
        if not getattr(self, "using_cursor", False):
            return super().get_paginated_response(data)
        url = self.request.build_absolute_uri()
        next_url = None
        if self.has_more and self.page_rows:
            next_url = replace_query_param(
                url, self.cursor_query_param, self._encode(self.page_rows[-1])
            )
            next_url = remove_query_param(next_url, self.offset_query_param)
        return Response(OrderedDict([("next", next_url), ("previous", None), ("results", data)]))

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        response = super().get_paginated_response_schema(schema)
        response["required"] = ["results"]
        return response

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            *super().get_schema_operation_parameters(view),
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Keyset cursor from `next`; pass an empty value to start.",
                "schema": {"type": "string"},
            },
        ]


def _cursor_value(model: type[Model], path: str, value: Any) -> Any:
    """`value` as the Python type of the column `path` (`booking_date`, `id`, `run__id`)."""
    if not isinstance(value, str):
        raise TypeError("cursor values are strings")
    field: Any = None
    for part in path.split("__"):
        field = model._meta.get_field(part)
        model = field.related_model or model
    if isinstance(field, ForeignObject):
        field = field.target_field
    parsed = field.to_python(value)
    if isinstance(parsed, datetime.datetime):
        if timezone.is_naive(parsed):
            raise ValueError("naive datetime in cursor")
        # PostgreSQL refuses offsets beyond +-15:59; the column compares in UTC anyway.
        parsed = parsed.astimezone(datetime.UTC)
    return parsed


def _attr_path(obj: Any, name: str) -> Any:
    for part in name.split("__"):
        obj = getattr(obj, part)
    return obj


# Query parameters that are never a filter: paging and ordering (their own classes check them).
NON_FILTER_PARAMS = frozenset({"cursor", "limit", "offset", "ordering"})


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend, not run for a request that sends no filter parameter.

    Building and validating a FilterSet's form costs about 1 ms of CPU per request, a
    tenth of a page of items, and with no filter parameter it returns the queryset it was
    given: no filter here is required or has a default, and each treats an absent value as
    no filter. Any other parameter (a filter, or one nobody knows) goes the full way.
    """

    def filter_queryset(
        self, request: HttpRequest, queryset: QuerySet[Any], view: Any
    ) -> QuerySet[Any]:
        # A DRF Request hands `GET` through: its query parameters.
        if NON_FILTER_PARAMS.issuperset(request.GET.keys()):
            return queryset
        return super().filter_queryset(request, queryset, view)


class StrictOrderingFilter(OrderingFilter):
    """`ordering=-created_at`; an unknown field is a 400, not silently ignored.

    The id is always appended as a tie breaker so paging is stable.
    """

    def get_ordering(self, request: Request, queryset: QuerySet[Any], view: Any) -> Any:
        params = request.query_params.get(self.ordering_param)
        if params is None:
            ordering = self.get_default_ordering(view)
        else:
            fields = params.split(",")
            valid = {
                item[0] for item in self.get_valid_fields(queryset, view, {"request": request})
            }
            # As strict as the schema's pattern: no blanks, spaces or empty entries.
            bad = [field for field in fields if field.removeprefix("-") not in valid]
            if bad:
                raise exceptions.ValidationError(
                    {
                        "ordering": [
                            f"Unknown ordering field(s): {', '.join(map(repr, bad))}. "
                            f"Allowed: {', '.join(sorted(valid))}."
                        ]
                    }
                )
            ordering = fields
        if ordering is None:
            return None
        ordering = list(ordering)
        if not any(field.lstrip("-") in {"id", "pk"} for field in ordering):
            ordering.append("id")
        return ordering

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        """The allowed fields as a pattern (`-created_at,status`): the schema then refuses
        what the server refuses."""
        parameters = super().get_schema_operation_parameters(view)
        fields = [f for f in getattr(view, "ordering_fields", None) or [] if f != "__all__"]
        if fields:
            names = "|".join(sorted(fields, key=len, reverse=True))
            for parameter in parameters:
                parameter["schema"]["pattern"] = rf"^-?({names})(,-?({names}))*$"
                parameter["description"] = (
                    "Sort by these fields, comma-separated; `-` for descending: "
                    + ", ".join(fields)
                    + "."
                )
        return parameters
