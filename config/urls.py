from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.api import api_not_found
from config.health import healthz
from config.security import ThrottledAdminLoginForm, admin_login

# The admin's login form counts failures like the API's token route (issue #12 §2).
admin.site.login_form = ThrottledAdminLoginForm

handler404 = "config.api.json_404"
handler500 = "config.api.json_500"

api_patterns = [
    path("", include("ledgers.api.urls")),
    path("", include("reconciliation.api.urls")),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    # Last: whatever no route above matched is a JSON 404, with DEBUG on or off.
    re_path(r"^.*$", api_not_found, name="api-not-found"),
]

urlpatterns = [
    path("v1/", include(api_patterns)),
    path("healthz", healthz, name="healthz"),
    path("admin/login/", admin_login, name="admin-login"),
    path("admin/", admin.site.urls),
    # A person who opens the bare address wants the review screens (the API's entry
    # points are /v1/ and its docs /v1/docs).
    path("", RedirectView.as_view(url="/admin/", permanent=False), name="root"),
]
