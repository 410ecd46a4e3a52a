"""Reconciliation routes (API.md). Handlers validate, call one service, render."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from ledgers.api.base import TenantViewSet
from ledgers.api.idempotency import idempotency_key_from, run_idempotently
from ledgers.choices import MembershipRole
from ledgers.selectors import account_get, ledger_get
from reconciliation.api.filters import RunFilterSet
from reconciliation.api.serializers import (
    RunCloseInputSerializer,
    RunCreateInputSerializer,
    RunSerializer,
    RunUpdateInputSerializer,
)
from reconciliation.models import Run
from reconciliation.selectors import run_get, run_list
from reconciliation.services.runs import run_close, run_create, run_delete, run_update_note


class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    serializer_class = RunSerializer
    filterset_class = RunFilterSet
    ordering_fields = ["created_at", "status", "mode", "started_at", "finished_at"]
    ordering = ["-created_at"]
    action_roles = {
        "create": MembershipRole.ADMIN,
        "destroy": MembershipRole.ADMIN,
        "partial_update": MembershipRole.REVIEWER,
        "close": MembershipRole.REVIEWER,
    }

    def get_queryset(self) -> QuerySet[Run]:
        return run_list(user=self.request.user)

    def organization_id_of(self, obj: Run) -> uuid.UUID:
        return obj.ledger.organization_id

    def _render(self, run: Run, *, code: int = status.HTTP_200_OK) -> Response:
        fresh = run_get(user=self.request.user, run_id=run.pk)
        return Response(RunSerializer(fresh).data, status=code)

    @extend_schema(
        request=RunCreateInputSerializer,
        responses={201: RunSerializer},
        description="Create a run. With `idempotency_key` (or the Idempotency-Key header) a "
        "repeat answers the original 201 with `Idempotent-Replayed: true`; a different body "
        "under the same key is 409 `idempotency_key_reused`, a repeat while the first is "
        "still running 409 `idempotency_in_progress`.",
    )
    def create(self, request: Request) -> Response:
        data = RunCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values: dict[str, Any] = dict(data.validated_data)
        ledger = ledger_get(user=request.user, ledger_id=values.pop("ledger_id"))
        self.require(ledger.organization_id)
        account_id = values.pop("account_id")
        account = account_get(user=request.user, account_id=account_id) if account_id else None
        key = idempotency_key_from(request, values.pop("idempotency_key", None))

        def handler() -> Response:
            run = run_create(
                ledger=ledger, account=account, idempotency_key=key, actor=request.user, **values
            )
            return self._render(run, code=status.HTTP_201_CREATED)

        return run_idempotently(
            request=request,
            organization_id=ledger.organization_id,
            key=key,
            payload=request.data,
            handler=handler,
        )

    @extend_schema(request=RunUpdateInputSerializer, responses={200: RunSerializer})
    def partial_update(self, request: Request, pk: str) -> Response:
        data = RunUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = run_update_note(
            run=self.get_object(), note=data.validated_data["note"], actor=request.user
        )
        return self._render(run)

    @extend_schema(request=None, responses={204: None})
    def destroy(self, request: Request, pk: str) -> Response:
        run_delete(run=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=RunCloseInputSerializer, responses={200: RunSerializer})
    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: str) -> Response:
        data = RunCloseInputSerializer(data=request.data or {})
        data.is_valid(raise_exception=True)
        run = run_close(run=self.get_object(), actor=request.user, note=data.validated_data["note"])
        return self._render(run)
