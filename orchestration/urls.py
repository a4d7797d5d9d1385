"""Top-level URLs: the Suite apps, Django admin and the REST API."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "Order orchestration administration"
admin.site.site_title = "Order orchestration"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="sheets:overview", permanent=False)),
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
