from django.urls import path

from reconciliation.api import views

RUNS = "ledgers/reconciliation/runs"
RUN = RUNS + "/<uuid:run_pk>"
BASE = "ledgers/reconciliation"

urlpatterns = [
    path(RUNS, views.RunViewSet.as_view({"get": "list", "post": "create"}), name="run-list"),
    path(
        f"{RUNS}/<uuid:pk>",
        views.RunViewSet.as_view(
            {"get": "retrieve", "patch": "partial_update", "delete": "destroy"}
        ),
        name="run-detail",
    ),
    path(f"{RUNS}/<uuid:pk>/close", views.RunViewSet.as_view({"post": "close"}), name="run-close"),
    path(
        f"{RUNS}/<uuid:pk>/approve",
        views.RunViewSet.as_view({"post": "approve"}),
        name="run-approve",
    ),
    path(f"{RUN}/report", views.RunReportViewSet.as_view({"get": "report"}), name="run-report"),
    path(f"{RUN}/sources", views.RunSourceFileViewSet.as_view({"get": "list"}), name="run-sources"),
    path(
        f"{RUN}/sources/upload",
        views.RunSourceFileViewSet.as_view({"post": "upload"}),
        name="run-source-upload",
    ),
    path(
        f"{RUN}/sources/<uuid:pk>",
        views.RunSourceFileViewSet.as_view({"delete": "destroy"}),
        name="run-source-detail",
    ),
    path(
        f"{RUN}/auto-match",
        views.RunMatchingViewSet.as_view({"post": "auto_match"}),
        name="run-auto-match",
    ),
    path(
        f"{RUN}/manual-match",
        views.RunMatchingViewSet.as_view({"post": "manual_match"}),
        name="run-manual-match",
    ),
    path(f"{RUN}/matches", views.RunMatchListViewSet.as_view({"get": "list"}), name="run-matches"),
    path(
        f"{RUN}/matches/<uuid:pk>/reopen",
        views.RunMatchUndoViewSet.as_view({"post": "reopen"}),
        name="run-match-reopen",
    ),
    path(
        f"{RUN}/matches/<uuid:pk>/unmatch",
        views.RunMatchUndoViewSet.as_view({"post": "unmatch"}),
        name="run-match-unmatch",
    ),
    path(f"{RUN}/items", views.RunItemListViewSet.as_view({"get": "list"}), name="run-items"),
    path(f"{RUN}/gl-only", views.RunGlOnlyViewSet.as_view({"get": "list"}), name="run-gl-only"),
    path(f"{RUN}/gl-all", views.RunGlAllViewSet.as_view({"get": "list"}), name="run-gl-all"),
    path(
        f"{RUN}/discrepancies",
        views.RunDiscrepancyListViewSet.as_view({"get": "list"}),
        name="run-discrepancies",
    ),
    path(f"{RUN}/events", views.RunEventListViewSet.as_view({"get": "list"}), name="run-events"),
    path(
        f"{BASE}/matches/<uuid:pk>/accept",
        views.MatchViewSet.as_view({"post": "accept"}),
        name="match-accept",
    ),
    path(
        f"{BASE}/matches/<uuid:pk>/reject",
        views.MatchViewSet.as_view({"post": "reject"}),
        name="match-reject",
    ),
    path(
        f"{BASE}/matches/<uuid:pk>/note",
        views.MatchViewSet.as_view({"patch": "note"}),
        name="match-note",
    ),
    path(
        f"{BASE}/items/<uuid:pk>/close",
        views.ItemViewSet.as_view({"post": "close"}),
        name="item-close",
    ),
    path(
        f"{BASE}/items/<uuid:pk>/reopen",
        views.ItemViewSet.as_view({"post": "reopen"}),
        name="item-reopen",
    ),
    path(
        f"{BASE}/discrepancies/<uuid:pk>",
        views.DiscrepancyViewSet.as_view({"patch": "partial_update"}),
        name="discrepancy-detail",
    ),
    path(
        "ledgers/<uuid:ledger_pk>/reconcile",
        views.LegacyReconcileViewSet.as_view({"post": "reconcile"}),
        name="ledger-reconcile",
    ),
]
