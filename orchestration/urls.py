"""Top-level URLs: the Suite apps, Django admin, the REST API and the health check."""

from django.contrib import admin
from django.contrib.auth.views import LoginView
from django.urls import include, path

from . import account, health
from .signin import throttle_sign_in

admin.site.site_header = "Order orchestration administration"
admin.site.site_title = "Order orchestration"

urlpatterns = [
    path("", account.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    # The two login pages, throttled (orchestration/signin.py); before the includes.
    path("accounts/login/", throttle_sign_in(LoginView.as_view()), name="login"),
    path("admin/login/", throttle_sign_in(admin.site.login)),
    path("accounts/api-token/", account.api_token, name="api-token"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("api/", include(("orchestration.api.urls", "api"), namespace="api")),
    path("sheets/", include("sheets.urls")),
    path("preview/", include("preview.urls")),
    path("orders/", include("orders.urls")),
]

handler400 = "orchestration.views.bad_request"
handler404 = "orchestration.views.page_not_found"
handler500 = "orchestration.views.server_error"
