from django.urls import path

from reconciliation.api.views import RunViewSet

RUNS = "ledgers/reconciliation/runs"

urlpatterns = [
    path(RUNS, RunViewSet.as_view({"get": "list", "post": "create"}), name="run-list"),
    path(
        f"{RUNS}/<uuid:pk>",
        RunViewSet.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"}),
        name="run-detail",
    ),
    path(f"{RUNS}/<uuid:pk>/close", RunViewSet.as_view({"post": "close"}), name="run-close"),
]
