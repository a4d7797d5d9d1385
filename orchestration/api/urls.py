"""URLs of the REST API, its OpenAPI schema and the Swagger UI / ReDoc pages."""

from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)
from rest_framework.routers import DefaultRouter

from . import plan_views, views
from .auth import ApiDocsPermission, TokenView, docs_page

router = DefaultRouter()
router.register("organization-units", views.OrganizationUnitViewSet, "organization-unit")
router.register("organization-unit-sets", views.OrganizationUnitSetViewSet, "organization-unit-set")
router.register("products", views.ProductViewSet, "product")
router.register("stock", views.StockViewSet, "stock")
router.register("orders", views.OrderViewSet, "order")
router.register("sheets", views.SheetViewSet, "sheet")
router.register("fulfillments", views.FulfillmentViewSet, "fulfillment")
router.register("settings", views.SettingViewSet, "setting")
router.register("plan-steps", views.PlanStepViewSet, "plan-step")
router.register("step-groups", plan_views.StepGroupViewSet, "step-group")
router.register("plan-scenarios", plan_views.PlanScenarioViewSet, "plan-scenario")
router.register("fallout-rules", plan_views.FalloutRuleViewSet, "fallout-rule")

urlpatterns = [
    path("", include(router.urls)),
    path("preview/", views.PreviewView.as_view(), name="preview"),
    path(
        "fulfillment-options/", views.FulfillmentOptionsView.as_view(), name="fulfillment-options"
    ),
    path("auth/token/", TokenView.as_view(), name="auth-token"),
    path(
        "schema/", SpectacularAPIView.as_view(permission_classes=[ApiDocsPermission]), name="schema"
    ),
    path(
        "docs/",
        docs_page(SpectacularSwaggerView.as_view(url_name="api:schema")),
        name="docs",
    ),
    path(
        "docs/redoc/",
        docs_page(SpectacularRedocView.as_view(url_name="api:schema")),
        name="redoc",
    ),
]
