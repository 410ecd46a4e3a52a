from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.security import client_address
from ledgers.api.base import TenantViewSet
from ledgers.api.fields import DecimalJSONParser
from ledgers.api.filters import AccountFilterSet, LedgerEntryFilterSet
from ledgers.api.serializers import (
    AccountCreateInputSerializer,
    AccountSerializer,
    AuthTokenInputSerializer,
    AuthTokenSerializer,
    LedgerCreateInputSerializer,
    LedgerEntriesCreatedSerializer,
    LedgerEntryInputSerializer,
    LedgerEntrySerializer,
    LedgerSerializer,
    LedgerUpdateInputSerializer,
)
from ledgers.choices import MembershipRole
from ledgers.exceptions import Invalid
from ledgers.login_throttle import (
    login_failure_record,
    login_success_record,
    login_throttle_check,
)
from ledgers.models import Account, ApiToken, Ledger, LedgerEntry, Organization
from ledgers.selectors import (
    account_list,
    ledger_entry_list,
    ledger_get,
    ledger_list,
    user_id_for,
    user_roles,
)
from ledgers.services import (
    LedgerEntryInput,
    account_create,
    ledger_create,
    ledger_entries_create,
    ledger_update,
)
from ledgers.tokens import api_token_issue, api_token_revoke


class TooManyLoginAttempts(exceptions.Throttled):
    default_detail = "Too many failed logins; try again later."
    default_code = "too_many_login_attempts"

    def __init__(self, wait: int) -> None:
        super().__init__(wait=wait, detail=f"Too many failed logins; try again in {wait} seconds.")


class AuthTokenView(APIView):
    """Exchange a username and password for a new API token.

    Failed logins are counted per username and per client address in the database
    (ledgers.login_throttle); a locked login is 429 `too_many_login_attempts` with
    Retry-After, even with the right password.
    """

    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []
    parser_classes = [DecimalJSONParser]

    def get_authenticate_header(self, request: Request) -> str:
        return "Token"  # wrong credentials are a 401 with a challenge, not a 403

    @extend_schema(
        request=AuthTokenInputSerializer,
        responses={
            200: AuthTokenSerializer,
            401: OpenApiResponse(description="Wrong credentials"),
            429: OpenApiResponse(description="Too many failed logins (Retry-After)"),
        },
        auth=[],
        description="A fresh token on every login, valid for API_TOKEN_TTL_DAYS (default "
        "30); other tokens of the user stay valid until they expire or are revoked.",
    )
    def post(self, request: Request) -> Response:
        data = AuthTokenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        username = data.validated_data["username"]
        address = client_address(request._request)
        wait = login_throttle_check(username=username, address=address)
        if wait is not None:
            raise TooManyLoginAttempts(wait)
        user = authenticate(request, username=username, password=data.validated_data["password"])
        if user is None or not user.is_active:
            login_failure_record(
                username=username, address=address, user_id=user_id_for(username=username)
            )
            raise exceptions.AuthenticationFailed("Unable to log in with these credentials.")
        login_success_record(username=username)
        return Response({"token": api_token_issue(user=user)})


class AuthTokenRevokeView(APIView):
    """Revoke the token this request authenticates with (log out an API client)."""

    parser_classes = [DecimalJSONParser]

    @extend_schema(
        request=None,
        responses={204: None},
        description="Revokes the calling token: later calls with it are 401 "
        "`token_revoked`. The user's other tokens are untouched.",
    )
    def post(self, request: Request) -> Response:
        if request.data:
            raise ValidationError({"non_field_errors": ["This route takes no body."]})
        if not isinstance(request.auth, ApiToken):
            raise Invalid(
                "Only a request authenticated with a token can revoke it.", code="no_token"
            )
        api_token_revoke(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _pick_organization(user: Any, organization_id: uuid.UUID | None) -> uuid.UUID:
    roles = user_roles(user)
    if organization_id is not None:
        if organization_id not in roles:
            raise Invalid("Organization not found.", code="not_found", attr="organization_id")
        return organization_id
    if len(roles) != 1:
        raise Invalid(
            "You belong to several organizations: say which one with organization_id.",
            code="required",
            attr="organization_id",
        )
    return next(iter(roles))


class LedgerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    serializer_class = LedgerSerializer
    action_roles = {"create": MembershipRole.ADMIN, "partial_update": MembershipRole.ADMIN}
    ordering_fields = ["name", "created_at"]
    ordering = ["name"]

    def get_queryset(self) -> QuerySet[Ledger]:
        return ledger_list(user=self.request.user)

    def organization_id_of(self, obj: Ledger) -> uuid.UUID:
        return obj.organization_id

    @extend_schema(request=LedgerCreateInputSerializer, responses={201: LedgerSerializer})
    def create(self, request: Request) -> Response:
        data = LedgerCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        organization_id = _pick_organization(request.user, values.pop("organization_id", None))
        self.require(organization_id)
        ledger = ledger_create(
            organization=Organization(pk=organization_id), actor=request.user, **values
        )
        return Response(LedgerSerializer(ledger).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=LedgerUpdateInputSerializer,
        responses={200: LedgerSerializer},
        description="Admin: rename the ledger or change its matching settings (only the "
        "fields sent change; an empty object changes nothing). Audited as `ledger.updated` "
        "with each changed field before and after. The settings apply to the next "
        "auto-match; matches made already stay. Unknown fields or bad values are 400, a "
        "name another ledger of the organization has is 409 `duplicate`.",
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        ledger = self.get_object()
        data = LedgerUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ledger = ledger_update(ledger=ledger, actor=request.user, **data.validated_data)
        return Response(LedgerSerializer(ledger).data)


class AccountViewSet(mixins.ListModelMixin, TenantViewSet):
    serializer_class = AccountSerializer
    filterset_class = AccountFilterSet
    action_roles = {"create": MembershipRole.ADMIN}
    ordering_fields = ["code", "name", "created_at", "unreconciled_count"]
    ordering = ["code"]

    def get_queryset(self) -> QuerySet[Account]:
        return account_list(user=self.request.user)

    @extend_schema(request=AccountCreateInputSerializer, responses={201: AccountSerializer})
    def create(self, request: Request) -> Response:
        data = AccountCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        ledger = ledger_get(user=request.user, ledger_id=values.pop("ledger_id"))
        self.require(ledger.organization_id)
        account = account_create(ledger=ledger, actor=request.user, **values)
        return Response(
            AccountSerializer(account_list(user=request.user).get(pk=account.pk)).data,
            status=status.HTTP_201_CREATED,
        )


class LedgerEntryViewSet(mixins.ListModelMixin, TenantViewSet):
    """GL entries of one ledger: push (one object or a list of up to 10,000) and list."""

    serializer_class = LedgerEntrySerializer
    filterset_class = LedgerEntryFilterSet
    action_roles = {"create": MembershipRole.REVIEWER}
    ordering_fields = ["booking_date", "amount", "created_at", "external_id"]
    ordering = ["booking_date"]

    def ledger(self) -> Ledger:
        if not hasattr(self, "_ledger"):
            self._ledger = ledger_get(user=self.request.user, ledger_id=self.kwargs["ledger_pk"])
        return self._ledger

    def get_queryset(self) -> QuerySet[LedgerEntry]:
        if getattr(self, "swagger_fake_view", False):
            return LedgerEntry.objects.none()
        return ledger_entry_list(user=self.request.user, ledger=self.ledger())

    @extend_schema(
        request=LedgerEntryInputSerializer(many=True),
        responses={201: LedgerEntriesCreatedSerializer, 200: LedgerEntriesCreatedSerializer},
        description="One GL entry object or a list (all-or-nothing, at most 10,000). "
        "`external_id` is unique per ledger: re-sending the same entry is a no-op, "
        "different content under a known external_id is 409 `external_id_conflict`.",
    )
    def create(self, request: Request, ledger_pk: str) -> Response:
        ledger = self.ledger()
        self.require(ledger.organization_id)
        many = isinstance(request.data, list)
        if many and not 1 <= len(request.data) <= settings.GL_BULK_MAX:
            raise Invalid(
                f"Send between 1 and {settings.GL_BULK_MAX} entries per request.",
                code="bulk_size",
                attr="non_field_errors",
            )
        data = LedgerEntryInputSerializer(data=request.data, many=many)
        data.is_valid(raise_exception=True)
        rows = data.validated_data if many else [data.validated_data]
        result = ledger_entries_create(
            ledger=ledger, items=[LedgerEntryInput(**row) for row in rows], actor=request.user
        )
        body = {
            "created": result.created,
            "existing": result.existing,
            "results": LedgerEntrySerializer(result.entries, many=True).data,
        }
        if not many:
            body = {**LedgerEntrySerializer(result.entries[0]).data, "created": result.created == 1}
        return Response(
            body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        )
