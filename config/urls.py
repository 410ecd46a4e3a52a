from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.health import healthz

handler404 = "config.api.json_404"
handler500 = "config.api.json_500"

api_patterns = [
    path("", include("ledgers.api.urls")),
    path("", include("reconciliation.api.urls")),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]

urlpatterns = [
    path("v1/", include(api_patterns)),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    # A person who opens the bare address wants the review screens (the API's entry
    # points are /v1/ and its docs /v1/docs).
    path("", RedirectView.as_view(url="/admin/", permanent=False), name="root"),
]
