"""URLs of the REST API, its OpenAPI schema and the Swagger UI / ReDoc pages."""

from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.parsers import MultiPartParser
from rest_framework.routers import DefaultRouter

from . import serializers, views
from .parsers import LimitedFormParser, StrictJSONParser

router = DefaultRouter()
router.register("organization-units", views.OrganizationUnitViewSet, "organization-unit")
router.register("organization-unit-sets", views.OrganizationUnitSetViewSet, "organization-unit-set")
router.register("products", views.ProductViewSet, "product")
router.register("stock", views.StockViewSet, "stock")
router.register("orders", views.OrderViewSet, "order")
router.register("sheets", views.SheetViewSet, "sheet")
router.register("fulfillments", views.FulfillmentViewSet, "fulfillment")
router.register("settings", views.SettingViewSet, "setting")

urlpatterns = [
    path("", include(router.urls)),
    path("preview/", views.PreviewView.as_view(), name="preview"),
    path(
        "auth/token/",
        # DRF's view brings its own parsers and serializer: ours, with the API's limits
        # (on form bodies too) and refusing unknown fields.
        ObtainAuthToken.as_view(
            parser_classes=(StrictJSONParser, LimitedFormParser, MultiPartParser),
            serializer_class=serializers.AuthTokenSerializer,
        ),
        name="auth-token",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("docs/redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
]
