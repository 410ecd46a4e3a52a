from django.urls import path

from ledgers.api.views import (
    AccountViewSet,
    AuthTokenRevokeView,
    AuthTokenView,
    LedgerEntryViewSet,
    LedgerViewSet,
)

urlpatterns = [
    path("auth/token", AuthTokenView.as_view(), name="auth-token"),
    path("auth/token/revoke", AuthTokenRevokeView.as_view(), name="auth-token-revoke"),
    path("ledgers", LedgerViewSet.as_view({"get": "list", "post": "create"}), name="ledger-list"),
    path(
        "ledgers/accounts",
        AccountViewSet.as_view({"get": "list", "post": "create"}),
        name="account-list",
    ),
    path(
        "ledgers/<uuid:pk>",
        LedgerViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="ledger-detail",
    ),
    path(
        "ledgers/<uuid:ledger_pk>/entries",
        LedgerEntryViewSet.as_view({"get": "list", "post": "create"}),
        name="ledger-entry-list",
    ),
]
