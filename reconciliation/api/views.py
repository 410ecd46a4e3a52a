"""Reconciliation routes (API.md). Handlers validate, call one service, render."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from config.api import KeysetPagination, LimitOffsetPagination
from ledgers.api.base import TenantViewSet
from ledgers.api.idempotency import idempotency_key_from, run_idempotently
from ledgers.api.serializers import AuditEventSerializer
from ledgers.choices import MembershipRole
from ledgers.exceptions import NotFound
from ledgers.models import AuditEvent, LedgerEntry
from ledgers.selectors import account_get, audit_event_list, ledger_get
from reconciliation.api.filters import (
    AuditEventFilterSet,
    DiscrepancyFilterSet,
    MatchFilterSet,
    RunFilterSet,
    RunGlFilterSet,
    SourceEntryFilterSet,
)
from reconciliation.api.serializers import (
    AutoMatchResultSerializer,
    DiscrepancySerializer,
    DiscrepancyUpdateInputSerializer,
    ItemCloseInputSerializer,
    ManualMatchInputSerializer,
    MatchSerializer,
    NoteInputSerializer,
    OptionalNoteInputSerializer,
    ReconcileResultSerializer,
    ReportSerializer,
    RunApproveInputSerializer,
    RunCloseInputSerializer,
    RunCreateInputSerializer,
    RunGlEntrySerializer,
    RunGlEntryWithLinkSerializer,
    RunSerializer,
    RunUpdateInputSerializer,
    SourceEntrySerializer,
    SourceFileSerializer,
    SourceUploadInputSerializer,
    SourceUploadResultSerializer,
)
from reconciliation.choices import SourceEntryMatchStatus
from reconciliation.models import Discrepancy, Match, Run, SourceEntry, SourceFile
from reconciliation.selectors import (
    discrepancy_list,
    match_get,
    match_list,
    run_counts_attach,
    run_discrepancy_list,
    run_get,
    run_gl_entries,
    run_item_list,
    run_list,
    run_match_list,
    run_scope_get,
    source_entry_list,
    source_file_list,
)
from reconciliation.services.auto_match import ledger_reconcile, run_auto_match
from reconciliation.services.discrepancies import discrepancy_update
from reconciliation.services.imports import (
    csv_mapping_from,
    file_sha256,
    source_file_delete,
    source_file_upload,
)
from reconciliation.services.items import source_entry_close, source_entry_reopen
from reconciliation.services.matches import (
    match_accept,
    match_create_manual,
    match_reject,
    match_reopen,
    match_unmatch,
    match_update_note,
)
from reconciliation.services.runs import (
    run_approve,
    run_close,
    run_create,
    run_delete,
    run_update_note,
)


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
        "approve": MembershipRole.REVIEWER,
    }

    def get_queryset(self) -> QuerySet[Run]:
        return run_list(user=self.request.user)

    def paginate_queryset(self, queryset: QuerySet[Run]) -> list[Run] | None:
        page = super().paginate_queryset(queryset)
        if page is not None:
            run_counts_attach(page)
        return page

    def retrieve(self, request: Request, pk: str) -> Response:
        run = self.get_object()
        run_counts_attach([run])
        return Response(RunSerializer(run).data)

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

    @extend_schema(
        request=RunCloseInputSerializer,
        responses={200: RunSerializer},
        description="Freeze the run; the caller becomes its preparer (`closed_by`). When its "
        "reconciliation report does not balance (or has no bank closing balance), a "
        "`reason` is required: 409 `report_unbalanced` (with `difference`) without one. "
        "409 `run_approved` on an approved run, `run_running` while it is working.",
    )
    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: str) -> Response:
        data = RunCloseInputSerializer(data=request.data or {})
        data.is_valid(raise_exception=True)
        run = run_close(run=self.get_object(), actor=request.user, **data.validated_data)
        return self._render(run)

    @extend_schema(
        request=RunApproveInputSerializer,
        responses={200: RunSerializer},
        description="(ext) Four-eyes sign-off of a closed run by a reviewer or admin who did "
        "not close it: 403 `approver_is_preparer` for its preparer, 409 `run_not_closed` "
        "for a run that is not closed, 409 `run_approved` when approved already. The "
        "report is frozen with its sha256; from then on every write on the run or anything "
        "in it answers 409 `run_approved`. Audited (`run.approved`).",
    )
    def approve(self, request: Request, pk: str) -> Response:
        data = RunApproveInputSerializer(data=request.data or {})
        data.is_valid(raise_exception=True)
        run = run_approve(
            run=self.get_object(), actor=request.user, note=data.validated_data["note"]
        )
        return self._render(run)


class RunChildViewSet(TenantViewSet):
    """Lists and actions under RUNS/{run_pk}/...: the run is resolved (404 for other tenants)
    and role-checked before anything else."""

    pagination_class = KeysetPagination

    def run(self) -> Run:
        if not hasattr(self, "_run"):
            run = run_scope_get(user=self.request.user, run_id=self.kwargs["run_pk"])
            self.require(run.ledger.organization_id)
            self._run = run
        return self._run

    def organization_id_of(self, obj: Any) -> uuid.UUID:
        return self.run().ledger.organization_id

    def fake(self) -> bool:
        return bool(getattr(self, "swagger_fake_view", False))


class RunSourceFileViewSet(mixins.ListModelMixin, RunChildViewSet):
    serializer_class = SourceFileSerializer
    parser_classes = [MultiPartParser]
    pagination_class = LimitOffsetPagination
    action_roles = {"upload": MembershipRole.REVIEWER, "destroy": MembershipRole.ADMIN}
    ordering_fields = ["created_at", "filename", "status"]
    ordering = ["created_at"]

    def get_queryset(self) -> QuerySet[SourceFile]:
        if self.fake():
            return SourceFile.objects.none()
        return source_file_list(user=self.request.user, run=self.run())

    @extend_schema(
        request={"multipart/form-data": SourceUploadInputSerializer},
        responses={201: SourceUploadResultSerializer},
        description="Upload one statement (camt.053 or CSV, detected from the content). "
        "413 over the size limit, 415 for anything that is not a statement, 409 "
        "`duplicate_file` for a file already imported into this ledger, 422 for a statement "
        "that cannot be parsed (the failed file's id is in `source_file`). In a run bound to "
        "an account, each statement of another account of the same ledger is imported into "
        "that account (see `statements`); a statement of an IBAN the ledger has no account "
        "for is 422 `account_mismatch` naming the IBANs.",
    )
    def upload(self, request: Request, run_pk: str) -> Response:
        run = self.run()
        data = SourceUploadInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        upload = values["file"]
        mapping = csv_mapping_from(values["mapping"]) if values.get("mapping") is not None else None
        key = idempotency_key_from(request, values.get("idempotency_key"))
        sha256 = file_sha256(upload.file) if key else ""
        payload = {
            "run": str(run.pk),
            "sha256": sha256,
            "filename": upload.name,
            "format": values.get("format"),
            "mapping": values.get("mapping"),
            "allow_duplicate": values["allow_duplicate"],
        }

        def handler() -> Response:
            result = source_file_upload(
                run=run,
                stream=upload.file,
                filename=upload.name or "statement",
                size=upload.size,
                file_format=values.get("format"),
                mapping=mapping,
                allow_duplicate=values["allow_duplicate"],
                actor=request.user,
            )
            body = {
                "source_file": {"id": str(result.source_file.pk), "run_id": str(run.pk)},
                "imported": result.imported,
                "statements": [
                    {
                        "index": st.index,
                        "statement_id": st.statement_id,
                        "account_iban": st.account_iban,
                        "account_id": str(st.account_id) if st.account_id else None,
                        "imported": st.imported,
                    }
                    for st in result.statements
                ],
                "skipped_duplicates": result.skipped_duplicates,
                "skipped": result.skipped,
                "format": result.source_file.format,
                "warnings": result.warnings[:50],
                "run_status": Run.objects.values_list("status", flat=True).get(pk=run.pk),
            }
            return Response(body, status=status.HTTP_201_CREATED)

        return run_idempotently(
            request=request,
            organization_id=run.ledger.organization_id,
            key=key,
            payload=payload,
            handler=handler,
        )

    @extend_schema(request=None, responses={204: None})
    def destroy(self, request: Request, run_pk: str, pk: str) -> Response:
        source_file = get_object_or_404(self.get_queryset(), pk=pk)
        source_file_delete(source_file=source_file, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RunMatchingViewSet(RunChildViewSet):
    action_roles = {"auto_match": MembershipRole.REVIEWER, "manual_match": MembershipRole.REVIEWER}

    @extend_schema(request=None, responses={200: AutoMatchResultSerializer})
    def auto_match(self, request: Request, run_pk: str) -> Response:
        result = run_auto_match(run=self.run(), actor=request.user)
        return Response(AutoMatchResultSerializer(result).data)

    @extend_schema(request=ManualMatchInputSerializer, responses={201: MatchSerializer})
    def manual_match(self, request: Request, run_pk: str) -> Response:
        data = ManualMatchInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        match = match_create_manual(run=self.run(), actor=request.user, **data.validated_data)
        return Response(
            MatchSerializer(match_get(user=request.user, match_id=match.pk)).data,
            status=status.HTTP_201_CREATED,
        )


class RunMatchListViewSet(mixins.ListModelMixin, RunChildViewSet):
    serializer_class = MatchSerializer
    filterset_class = MatchFilterSet
    ordering_fields = ["created_at", "score", "status", "difference"]
    ordering = ["-score"]
    keyset_fields = ("created_at", "id")

    def get_queryset(self) -> QuerySet[Match]:
        if self.fake():
            return Match.objects.none()
        return run_match_list(run=self.run())


class RunItemListViewSet(mixins.ListModelMixin, RunChildViewSet):
    serializer_class = SourceEntrySerializer
    filterset_class = SourceEntryFilterSet
    ordering_fields = ["booking_date", "amount", "line", "match_status"]
    ordering = ["booking_date"]
    keyset_fields = ("booking_date", "id")

    def get_queryset(self) -> QuerySet[SourceEntry]:
        if self.fake():
            return SourceEntry.objects.none()
        return run_item_list(run=self.run())

    def offset_count(self) -> int | None:
        """The `count` of an offset page filtered by `match_status` and nothing else: the run's
        cached counts (`run_counts_attach`, kept per change of the run), not a COUNT(*).
        match_status is in no index (its updates are HOT), so counting the unmatched
        items of a 50k run read the run's rows on every such page (25-30 ms of database
        time, the load test's most frequent slow statement)."""
        params = self.request.query_params
        if set(params) - {"match_status", "limit", "offset", "ordering", "format"}:
            return None
        statuses = set(params.getlist("match_status"))
        if not statuses or not statuses <= set(SourceEntryMatchStatus.values):
            # Unfiltered, COUNT(*) reads only the (run, booking_date, id) index, cheaper
            # than recounting the statuses after a change; an unknown status is a 400.
            return None
        run = self.run()
        run_counts_attach([run])
        return sum(int(getattr(run, f"items_{status}")) for status in statuses)


class RunGlOnlyViewSet(mixins.ListModelMixin, RunChildViewSet):
    serializer_class = RunGlEntrySerializer
    filterset_class = RunGlFilterSet
    ordering_fields = ["booking_date", "amount", "external_id"]
    ordering = ["booking_date"]
    keyset_fields = ("booking_date", "id")
    only_unlinked = True

    def get_queryset(self) -> QuerySet[Any]:
        if self.fake():
            return LedgerEntry.objects.none()
        return run_gl_entries(run=self.run(), only_unlinked=self.only_unlinked)


class RunGlAllViewSet(RunGlOnlyViewSet):
    serializer_class = RunGlEntryWithLinkSerializer
    only_unlinked = False


class RunDiscrepancyListViewSet(mixins.ListModelMixin, RunChildViewSet):
    serializer_class = DiscrepancySerializer
    filterset_class = DiscrepancyFilterSet
    ordering_fields = ["created_at", "severity", "amount", "kind", "status"]
    ordering = ["created_at"]
    keyset_fields = ("created_at", "id")

    def get_queryset(self) -> QuerySet[Discrepancy]:
        if self.fake():
            return Discrepancy.objects.none()
        return run_discrepancy_list(run=self.run())


REPORT_FORMATS = ("json", "csv", "xlsx", "pdf")


class RunReportViewSet(RunChildViewSet):
    """GET RUNS/{runID}/report: the bank reconciliation statement (viewer role)."""

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # `?format=` names the report's file format here, not a DRF renderer: DRF's own
        # negotiation would answer 404 for csv/xlsx/pdf. Errors are always JSON.
        return (JSONRenderer(), JSONRenderer.media_type)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                enum=list(REPORT_FORMATS),
                description="json (default), or a file: csv, xlsx, pdf (with "
                "Content-Disposition: attachment). Anything else is a 400.",
            )
        ],
        responses={
            (200, "application/json"): ReportSerializer,
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="CSV file"),
            (
                200,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ): OpenApiResponse(OpenApiTypes.BINARY, description="XLSX file"),
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="PDF file"),
        },
        description="(ext) The bank reconciliation statement of the run as of its period end: "
        "bank closing balance (latest statement), book balance (account opening balance + "
        "GL entries up to the period end), the reconciling items with the rows behind each "
        "figure, the adjusted balances, `difference` and `balanced`. An approved run serves "
        "the report frozen at approval (`frozen: true`) with its sha256 in the body and in "
        "the X-Report-SHA256 header. Definitions: README, 'The reconciliation report'.",
    )
    def report(self, request: Request, run_pk: str) -> HttpResponse | Response:
        from reconciliation.report.build import run_report_get
        from reconciliation.report.files import CONTENT_TYPES, render

        file_format = request.query_params.get("format", "json")
        if file_format not in REPORT_FORMATS:
            raise ValidationError(
                {"format": [f"Unknown format {file_format!r}; use {', '.join(REPORT_FORMATS)}."]}
            )
        run = run_get(user=request.user, run_id=run_pk)
        self.require(run.ledger.organization_id)
        body = run_report_get(run=run)
        headers = {"X-Report-SHA256": body["sha256"]} if body["sha256"] else {}
        if file_format == "json":
            return Response(body, headers=headers)
        response = HttpResponse(render(body, file_format), content_type=CONTENT_TYPES[file_format])
        name = f"reconciliation-{run.pk}-{body['period_end']}.{file_format}"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        for key, value in headers.items():
            response[key] = value
        return response


class RunMatchUndoViewSet(RunChildViewSet):
    """Undo under RUNS/{runID}/matches/{matchID}/...: reopen a rejected match, unmatch an
    accepted one. A match of another run is a 404 here."""

    action_roles = {"reopen": MembershipRole.REVIEWER, "unmatch": MembershipRole.REVIEWER}

    def _match(self, pk: str) -> Match:
        match = match_get(user=self.request.user, match_id=pk)
        if match.run_id != self.run().pk:
            raise NotFound("Match not found.")
        return match

    def _render(self, match: Match) -> Response:
        return Response(MatchSerializer(match_get(user=self.request.user, match_id=match.pk)).data)

    @extend_schema(
        request=OptionalNoteInputSerializer,
        responses={200: MatchSerializer},
        description="(ext) Undo a reject: rejected -> suggested, its entries linked again (the "
        "pair may be suggested again). 409 `entry_in_other_match` / `item_closed` (naming "
        "the entries) when one of them is now in another live match or closed; 409 "
        "`invalid_state` for a match that is not rejected; 409 `run_closed`/`run_approved`.",
    )
    def reopen(self, request: Request, run_pk: str, pk: str) -> Response:
        match = self._match(pk)
        data = OptionalNoteInputSerializer(data=request.data or {})
        data.is_valid(raise_exception=True)
        return self._render(
            match_reopen(match=match, actor=request.user, note=data.validated_data["note"])
        )

    @extend_schema(
        request=OptionalNoteInputSerializer,
        responses={200: MatchSerializer},
        description="(ext) Undo an accept: the entries become unmatched and discrepancies are "
        "recomputed. An `auto` match returns to `suggested` (back in the review queue); a "
        "`manual` match becomes `rejected`. 409 `invalid_state` for a match that is not "
        "accepted; 409 `run_closed`/`run_approved`.",
    )
    def unmatch(self, request: Request, run_pk: str, pk: str) -> Response:
        match = self._match(pk)
        data = OptionalNoteInputSerializer(data=request.data or {})
        data.is_valid(raise_exception=True)
        return self._render(
            match_unmatch(match=match, actor=request.user, note=data.validated_data["note"])
        )


class RunEventListViewSet(mixins.ListModelMixin, TenantViewSet):
    """The audit trail of a run; readable after the run was deleted (events keep plain ids)."""

    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilterSet
    ordering_fields = ["created_at"]
    ordering = ["created_at"]

    def get_queryset(self) -> QuerySet[AuditEvent]:
        if getattr(self, "swagger_fake_view", False):
            return AuditEvent.objects.none()
        events = audit_event_list(user=self.request.user).filter(run_id=self.kwargs["run_pk"])
        first = events.order_by("created_at").select_related(None).only("organization_id").first()
        if first is None:
            raise NotFound("Run not found.")
        self.require(first.organization_id)
        return events


class MatchViewSet(TenantViewSet):
    serializer_class = MatchSerializer
    action_roles = {
        "accept": MembershipRole.REVIEWER,
        "reject": MembershipRole.REVIEWER,
        "note": MembershipRole.REVIEWER,
    }

    def get_queryset(self) -> QuerySet[Match]:
        return match_list(user=self.request.user)

    def organization_id_of(self, obj: Match) -> uuid.UUID:
        return obj.run.ledger.organization_id

    def _render(self, match: Match) -> Response:
        return Response(MatchSerializer(match_get(user=self.request.user, match_id=match.pk)).data)

    @extend_schema(request=OptionalNoteInputSerializer, responses={200: MatchSerializer})
    def accept(self, request: Request, pk: str) -> Response:
        data = OptionalNoteInputSerializer(data=request.data or {})
        data.is_valid(raise_exception=True)
        return self._render(
            match_accept(
                match=self.get_object(), actor=request.user, note=data.validated_data["note"]
            )
        )

    @extend_schema(request=OptionalNoteInputSerializer, responses={200: MatchSerializer})
    def reject(self, request: Request, pk: str) -> Response:
        data = OptionalNoteInputSerializer(data=request.data or {})
        data.is_valid(raise_exception=True)
        return self._render(
            match_reject(
                match=self.get_object(), actor=request.user, note=data.validated_data["note"]
            )
        )

    @extend_schema(request=NoteInputSerializer, responses={200: MatchSerializer})
    def note(self, request: Request, pk: str) -> Response:
        data = NoteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._render(
            match_update_note(
                match=self.get_object(), actor=request.user, note=data.validated_data["note"]
            )
        )


class ItemViewSet(TenantViewSet):
    serializer_class = SourceEntrySerializer
    action_roles = {"close": MembershipRole.REVIEWER, "reopen": MembershipRole.REVIEWER}

    def get_queryset(self) -> QuerySet[SourceEntry]:
        return source_entry_list(user=self.request.user).select_related("ledger", "closed_by")

    def organization_id_of(self, obj: SourceEntry) -> uuid.UUID:
        return obj.ledger.organization_id

    def _render(self, entry: SourceEntry) -> Response:
        return Response(SourceEntrySerializer(self.get_queryset().get(pk=entry.pk)).data)

    @extend_schema(request=ItemCloseInputSerializer, responses={200: SourceEntrySerializer})
    def close(self, request: Request, pk: str) -> Response:
        entry = self.get_object()
        data = ItemCloseInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._render(
            source_entry_close(entry=entry, actor=request.user, **data.validated_data)
        )

    @extend_schema(request=OptionalNoteInputSerializer, responses={200: SourceEntrySerializer})
    def reopen(self, request: Request, pk: str) -> Response:
        entry = self.get_object()
        data = OptionalNoteInputSerializer(data=request.data or {})
        data.is_valid(raise_exception=True)
        return self._render(
            source_entry_reopen(entry=entry, actor=request.user, note=data.validated_data["note"])
        )


def _assignee(user_id: int | None) -> Any:
    """The user an assignee id names (None unassigns). An unknown id is the same 400 as a
    user outside the organization: ids of other tenants' people are not revealed."""
    from django.contrib.auth import get_user_model

    from ledgers.exceptions import Invalid

    if user_id is None:
        return None
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise Invalid(
            "The assignee must be a reviewer or admin of the run's organization.",
            code="invalid_assignee",
            attr="assignee_id",
        )
    return user


class DiscrepancyViewSet(TenantViewSet):
    serializer_class = DiscrepancySerializer
    action_roles = {"partial_update": MembershipRole.REVIEWER}

    def get_queryset(self) -> QuerySet[Discrepancy]:
        return discrepancy_list(user=self.request.user)

    def organization_id_of(self, obj: Discrepancy) -> uuid.UUID:
        return obj.run.ledger.organization_id

    @extend_schema(
        request=DiscrepancyUpdateInputSerializer,
        responses={200: DiscrepancySerializer},
        description="Status, note (ext: close `reason`, `assignee_id`). Closing records the "
        "reason (`manual_review` when none is sent) and the time; reopening clears them. "
        "Audited as `discrepancy.updated` (before -> after).",
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        discrepancy = self.get_object()
        data = DiscrepancyUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        extra: dict[str, Any] = {}
        if "assignee_id" in values:
            extra["assignee"] = _assignee(values["assignee_id"])
        updated = discrepancy_update(
            discrepancy=discrepancy,
            actor=request.user,
            status=values.get("status"),
            note=values.get("note"),
            reason=values.get("reason"),
            **extra,
        )
        return Response(DiscrepancySerializer(self.get_queryset().get(pk=updated.pk)).data)


class LegacyReconcileViewSet(TenantViewSet):
    """Deprecated ledger-level trigger: auto-match every open run of the ledger."""

    action_roles = {"reconcile": MembershipRole.REVIEWER}

    @extend_schema(
        request=None,
        responses={200: ReconcileResultSerializer},
        deprecated=True,
        description="Deprecated: use POST .../runs/{runID}/auto-match. Runs auto-match "
        "for every pending or completed run of the ledger that has unmatched entries.",
    )
    def reconcile(self, request: Request, ledger_pk: str) -> Response:
        ledger = ledger_get(user=request.user, ledger_id=ledger_pk)
        self.require(ledger.organization_id)
        result = ledger_reconcile(ledger=ledger, actor=request.user)
        return Response(
            {"runs": result.runs, "matched": result.matched}, headers={"Deprecation": "true"}
        )
