"""API views: authenticate, validate with a serializer, call a service or selector.

No business logic lives here; writes go through ``orchestration.services``.
"""

import datetime
from collections.abc import Mapping
from typing import Any

from django import forms
from django.db import transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from orchestration.selectors.fulfillments import (
    fulfillment_list,
    fulfillment_orchestration_details,
    fulfillments_visible,
    store_task_list,
)
from orchestration.selectors.orders import (
    order_change_numbered,
    order_list,
    order_timeline,
    orders_visible,
)
from orchestration.selectors.organization import organization_unit_list, user_works_at
from orchestration.selectors.plans import plan_steps_check_visible, plan_steps_visible
from orchestration.selectors.scenario import BasketLine
from orchestration.selectors.settings import SettingState, setting_list, setting_state

from ..engine.settings import DEFINITIONS
from ..errors import ForbiddenError
from ..models import (
    ExportStatus,
    FulfillmentAction,
    FulfillmentStatus,
    Order,
    OrderChangeStatus,
    OrderFulfillment,
    OrderIntent,
    OrderStatus,
    OrganizationUnit,
    OrganizationUnitSet,
    PlanStep,
    Product,
    Setting,
    Sheet,
    StepState,
    Stock,
)
from ..permissions import (
    ADD_ORDER,
    CHANGE_FULFILLMENT,
    CHANGE_ORDER,
    CHANGE_ORDER_LINE,
    CHANGE_STOCK,
    VIEW_FULFILLMENT,
    VIEW_ORDER,
)
from ..selectors import checkout, previews
from ..services.fulfillments.cancellations import fulfillment_lines_cancel, order_line_cancel
from ..services.fulfillments.common import LineError
from ..services.fulfillments.exports import fulfillment_export_retry
from ..services.fulfillments.receiving import return_receive
from ..services.fulfillments.steps import (
    fulfillment_decline,
    fulfillment_pack,
    fulfillment_pick,
    fulfillment_ship,
    fulfillment_start,
)
from ..services.orchestration import order_orchestration_retry
from ..services.order_changes import order_change
from ..services.orders import order_create, order_custom_fields_set
from ..services.plans import plan_steps_complete, plan_steps_retry
from ..services.returns import return_order_create
from ..services.settings import setting_reset, setting_set
from ..services.sheet_transfer import sheets_export, sheets_file_name, sheets_import
from ..services.sheets import sheet_create, sheet_delete, sheet_update
from ..services.stock import StockLevel, stock_upsert_many
from . import serializers
from .idempotency import (
    IDEMPOTENCY_KEY_PARAMETER,
    KEY_REUSED_RESPONSE,
    REPLAYED_HEADER,
    REPLAYED_PARAMETER,
    idempotent,
)
from .order_imports import (
    RETURN_MINIMAL,
    OrderBulkInputSerializer,
    OrderBulkResponseSerializer,
    order_bodies_import,
    orders_represented,
    return_minimal_preferred,
)
from .permissions import (
    SheetTransferPermission,
    SymphonySheetsPermission,
    SymphonySheetsView,
    requires_permission,
)

MAX_ID = 2**63 - 1
BULK_REPLAYED_PARAMETER = OpenApiParameter(
    REPLAYED_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=[200],
    enum=["true"],
    description="Set on a response sent again for a retried Idempotency-Key.",
)
PREFER_PARAMETER = OpenApiParameter(
    "Prefer",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    enum=[RETURN_MINIMAL],
    description=(
        "`return=minimal` (RFC 7240): each created order answered with its `id` and "
        "`backend_id` only, not as `POST /api/orders/` returns it; the response then "
        "has `Preference-Applied: return=minimal`."
    ),
)
PREFERENCE_APPLIED = "Preference-Applied"
PREFERENCE_APPLIED_PARAMETER = OpenApiParameter(
    PREFERENCE_APPLIED,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=[200],
    enum=[RETURN_MINIMAL],
    description="Set when `Prefer: return=minimal` was followed.",
)
CHANGE_FULFILLMENTS = requires_permission(CHANGE_FULFILLMENT)


class IdFilter(filters.NumberFilter):
    """A filter on an ID: a whole number within the database's integer range."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class BoundedIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time that also exists in UTC (year 1 at +14:00 does not).

    Given on as UTC: ISO 8601 allows offsets up to ±23:59, PostgreSQL only up to
    ±15:59, and the same instant in UTC is always within both.
    """

    def to_python(self, value: Any) -> Any:
        result = super().to_python(value)
        if result is not None:
            try:
                return result.astimezone(datetime.UTC)
            except OverflowError:
                raise forms.ValidationError("Date and time out of range.", code="invalid") from None
        return result


class BoundedIsoDateTimeFilter(filters.IsoDateTimeFilter):
    """``IsoDateTimeFilter`` without the overflow at the ends of the calendar."""

    field_class = BoundedIsoDateTimeField


class OrganizationUnitFilter(filters.FilterSet):
    """Filters of the OU list."""

    type = filters.CharFilter()
    status = filters.CharFilter()
    country_id = filters.CharFilter()
    set = filters.CharFilter(field_name="sets__name", label="OU set name")

    class Meta:
        model = OrganizationUnit
        fields = ["type", "status", "country_id", "set"]


class OrganizationUnitViewSet(viewsets.ModelViewSet):
    """Organization units: shops, warehouses, suppliers, returns portals, ..."""

    queryset = organization_unit_list()
    serializer_class = serializers.OrganizationUnitSerializer
    filterset_class = OrganizationUnitFilter
    search_fields = ["name", "backend_id"]
    ordering_fields = ["id", "name", "backend_id", "type"]

    def perform_create(self, serializer: BaseSerializer) -> None:
        with transaction.atomic():
            serializer.save()

    def perform_update(self, serializer: BaseSerializer) -> None:
        with transaction.atomic():
            serializer.save()

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "include_finished",
                bool,
                description="Also list completed, cancelled and deactivated tasks.",
            )
        ],
        responses={200: serializers.OrderFulfillmentSerializer(many=True)},
        summary="The ship-from-store tasks of a shop",
    )
    @action(
        detail=True,
        methods=["get"],
        permission_classes=[requires_permission(VIEW_FULFILLMENT)],
    )
    def tasks(self, request: Request, pk: str | None = None) -> Response:
        """Open tasks first by priority, then by start deadline (the store's work list)."""
        unit = self.get_object()
        if not user_works_at(request.user, unit.pk):
            raise ForbiddenError(
                f"You do not work at {unit}: only its staff see its tasks.",
                code="not_your_organization_unit",
            )
        finished = _boolean(request, "include_finished")
        page = self.paginate_queryset(store_task_list(unit, include_finished=finished))
        return self.get_paginated_response(
            serializers.OrderFulfillmentSerializer(page, many=True).data
        )


def _boolean(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise ValidationError({name: ["Must be true or false."]})
    return raw in ("true", "1")


class OrganizationUnitSetViewSet(viewsets.ModelViewSet):
    """Named sets of organization units (``Supplier.SetNames``)."""

    queryset = OrganizationUnitSet.objects.all()
    serializer_class = serializers.OrganizationUnitSetSerializer
    search_fields = ["name"]
    ordering_fields = ["id", "name"]


class ProductViewSet(viewsets.ModelViewSet):
    """Products, their custom content and replacements."""

    queryset = Product.objects.prefetch_related("replacements")
    serializer_class = serializers.ProductSerializer
    search_fields = ["backend_id", "name"]
    ordering_fields = ["id", "backend_id", "name"]

    def perform_create(self, serializer: BaseSerializer) -> None:
        with transaction.atomic():
            serializer.save()

    def perform_update(self, serializer: BaseSerializer) -> None:
        with transaction.atomic():
            serializer.save()


class StockFilter(filters.FilterSet):
    """Filters of the stock list."""

    organization_unit = IdFilter(field_name="organization_unit_id")
    organization_unit_backend_id = filters.CharFilter(field_name="organization_unit__backend_id")
    product = IdFilter(field_name="product_id")
    product_backend_id = filters.CharFilter(field_name="product__backend_id")
    available_at_least = IdFilter(field_name="quantity_available", lookup_expr="gte")

    class Meta:
        model = Stock
        fields = [
            "organization_unit",
            "organization_unit_backend_id",
            "product",
            "product_backend_id",
            "available_at_least",
        ]


class StockViewSet(viewsets.ReadOnlyModelViewSet):
    """Stock per OU and product; counted levels come in through the bulk upsert."""

    queryset = Stock.objects.select_related("organization_unit", "product")
    serializer_class = serializers.StockSerializer
    filterset_class = StockFilter
    ordering_fields = ["id", "quantity_on_hand", "quantity_available", "updated_at"]

    @extend_schema(
        request=serializers.StockLevelInputSerializer(many=True),
        responses={200: serializers.StockUpsertResultSerializer},
        summary="Set the on-hand stock of many products at many OUs at once",
        description=(
            "All or nothing. Existing pairs get the new on-hand quantity (their "
            "reservations are kept); new pairs are created. Up to 10,000 items."
        ),
    )
    @action(detail=False, methods=["post"], url_path="bulk-upsert")
    def bulk_upsert(self, request: Request) -> Response:
        # The model permissions checked add_stock (a POST); an upsert also
        # changes existing rows.
        if not request.user.has_perm(CHANGE_STOCK):
            self.permission_denied(
                request, message="Setting stock needs permission to add and change stock."
            )
        # many=True makes a ListSerializer, which takes max_length (the stubs do not see it).
        serializer = serializers.StockLevelInputSerializer(  # type: ignore[call-arg]
            data=request.data, many=True, max_length=10_000, allow_empty=False
        )
        serializer.is_valid(raise_exception=True)
        result = stock_upsert_many(
            levels=[StockLevel(**item) for item in serializer.validated_data]
        )
        return Response(serializers.StockUpsertResultSerializer(result).data)


class OrderFilter(filters.FilterSet):
    """Filters of the order list."""

    status = filters.ChoiceFilter(choices=OrderStatus.choices)
    intent = filters.ChoiceFilter(choices=OrderIntent.choices)
    backend_id = filters.CharFilter()
    sold_from_organization_unit = IdFilter(field_name="sold_from_organization_unit_id")
    placed_after = BoundedIsoDateTimeFilter(field_name="placed_at", lookup_expr="gte")
    placed_before = BoundedIsoDateTimeFilter(field_name="placed_at", lookup_expr="lt")

    class Meta:
        model = Order
        fields = ["status", "intent", "backend_id", "sold_from_organization_unit"]


@extend_schema_view(
    create=extend_schema(
        request=serializers.OrderInputSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER, REPLAYED_PARAMETER],
        responses={201: serializers.OrderSerializer, 422: KEY_REUSED_RESPONSE},
        summary="Create an order with all its lines",
    )
)
class OrderViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Orders (sales, returns, purchase) and their lines."""

    queryset = order_list()
    serializer_class = serializers.OrderSerializer
    filterset_class = OrderFilter
    search_fields = ["backend_id", "customer_email"]
    ordering_fields = ["id", "placed_at", "created_at"]

    def get_queryset(self) -> Any:
        """Store staff see the orders of their own OUs' fulfilments only."""
        return orders_visible(self.request.user, super().get_queryset())

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return idempotent(request, lambda: self._create(request))

    def _create(self, request: Request) -> Response:
        serializer = serializers.OrderInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        order = order_create(
            lines=fields.pop("lines"),
            created_by=request.user if request.user.is_authenticated else None,
            **fields,
        )
        # As created, with its lines: nothing to read back.
        return Response(serializers.OrderSerializer(order).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=OrderBulkInputSerializer,
        parameters=[
            IDEMPOTENCY_KEY_PARAMETER,
            BULK_REPLAYED_PARAMETER,
            PREFER_PARAMETER,
            PREFERENCE_APPLIED_PARAMETER,
        ],
        responses={200: OrderBulkResponseSerializer, 422: KEY_REUSED_RESPONSE},
        summary="Create up to 500 orders in one request, each on its own",
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="bulk",
        permission_classes=[requires_permission(ADD_ORDER)],
    )
    def bulk(self, request: Request) -> Response:
        """Each order is validated and created on its own, exactly as `POST /api/orders/`
        would: `results` has one entry per order, in the order sent, with `status` 201
        and the `order`, or the status and `error` body `POST /api/orders/` would have
        answered. The response is a 200 whenever the request itself was valid, even if
        every order was refused (docs/api.md). With `Prefer: return=minimal`, a created
        order is its `id` and `backend_id` only."""
        minimal = return_minimal_preferred(request.headers.get("Prefer"))
        response = idempotent(
            request,
            lambda: self._bulk(request, minimal=minimal),
            variant=RETURN_MINIMAL if minimal else "",
        )
        if minimal and response.status_code == status.HTTP_200_OK:
            response[PREFERENCE_APPLIED] = RETURN_MINIMAL  # a replay's too
        return response

    def _bulk(self, request: Request, *, minimal: bool) -> Response:
        body = OrderBulkInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        results = [
            result
            for chunk in order_bodies_import(
                bodies=body.validated_data["orders"],
                user=request.user,  # type: ignore[arg-type]  # requires_permission: signed in.
            )
            for result in chunk
        ]
        created = sum(1 for result in results if result.order is not None)
        return Response(
            {
                "created": created,
                "refused": len(results) - created,
                "results": orders_represented(results, minimal=minimal),
            }
        )

    @extend_schema(
        responses={200: serializers.OrderEventSerializer(many=True)},
        summary="The order's timeline: every orchestration run and state change",
    )
    @action(detail=True, methods=["get"], permission_classes=[requires_permission(VIEW_ORDER)])
    def timeline(self, request: Request, pk: str | None = None) -> Response:
        """Oldest first, with who or what did it (a username or ``system:<job>``) and why."""
        order = self.get_object()
        page = self.paginate_queryset(order_timeline(order))
        return self.get_paginated_response(serializers.OrderEventSerializer(page, many=True).data)

    @extend_schema(
        request=serializers.OrderLineCancelInputSerializer,
        responses={200: serializers.OrderSerializer},
        summary="Cancel units of an order line itself (nothing is routed again)",
    )
    @action(
        detail=True,
        methods=["post"],
        # At most 19 digits (2^63-1): int() refuses more than 4,300, a 500 before.
        url_path=r"lines/(?P<line_id>[0-9]{1,19})/cancel",
        permission_classes=[requires_permission(CHANGE_ORDER_LINE)],
    )
    def cancel_line(self, request: Request, pk: str | None = None, line_id: str = "") -> Response:
        """Its open fulfilment lines are cancelled (FulfillmentCancelled), stock released."""
        order = self.get_object()
        if not order.lines.filter(pk=int(line_id)).exists():
            raise Http404
        body = serializers.OrderLineCancelInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        order_line_cancel(
            order_line_id=int(line_id),
            quantity=body.validated_data["quantity"],
            user=request.user,  # type: ignore[arg-type]  # requires_permission: never AnonymousUser here.
        )
        return Response(serializers.OrderSerializer(order_list().get(pk=order.pk)).data)

    @extend_schema(
        request=serializers.OrderCustomFieldsInputSerializer,
        responses={200: serializers.OrderSerializer},
        summary="Set some of the order's custom fields (e.g. the payment status)",
        description=(
            "`null` removes a field. The order's plans look again at what they wait "
            "for: a pause on `Order.CustomFields.PaymentStatus` resumes (docs/plans.md)."
        ),
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="custom-fields",
        permission_classes=[requires_permission(CHANGE_ORDER)],
    )
    def custom_fields(self, request: Request, pk: str | None = None) -> Response:
        """Merge the given custom fields into the order's."""
        order = self.get_object()
        body = serializers.OrderCustomFieldsInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        order_custom_fields_set(
            order_id=order.pk,
            values=body.validated_data["custom_fields"],
            user=request.user,  # type: ignore[arg-type]  # requires_permission: never AnonymousUser here.
        )
        return Response(serializers.OrderSerializer(order_list().get(pk=order.pk)).data)

    @extend_schema(
        request=serializers.OrderChangeInputSerializer,
        responses={201: serializers.OrderChangeSerializer, 202: serializers.OrderChangeSerializer},
        summary="Change the order in flight: address, quantities, lines added or removed",
        description=(
            "Before a plan's point of no return the affected fulfilments are cancelled, "
            "their plans frozen, and the order routed again (201, status `APPLIED`); "
            "after it, a 409 `point_of_no_return` names the step and its state and "
            "nothing changes. While an automatic step of an affected plan runs, the "
            "change waits (202, status `PENDING`, `waits_for` names the step; "
            "`Location` and `url` are the change, to GET until it is `APPLIED` or "
            "`REFUSED`); a second change meanwhile is a 409 `change_pending` "
            "(docs/plans.md)."
        ),
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="changes",
        permission_classes=[requires_permission(CHANGE_ORDER)],
    )
    def changes(self, request: Request, pk: str | None = None) -> Response:
        """Record and apply one in-flight change (a supplemental order), or keep it
        pending while its plans freeze."""
        order = self.get_object()
        body = serializers.OrderChangeInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        address = data.get("shipping_address")
        change = order_change(
            order_id=order.pk,
            user=request.user,  # type: ignore[arg-type]  # requires_permission: never AnonymousUser here.
            shipping_address=dict(address) if address else None,
            quantities=[(line["id"], line["quantity"]) for line in data.get("lines", [])],
            add_lines=[dict(line) for line in data.get("add_lines", [])],
            remove_lines=data.get("remove_lines", []),
        )
        shown = serializers.OrderChangeSerializer(change, context={"request": request}).data
        if change.status == OrderChangeStatus.PENDING:
            return Response(shown, status=202, headers={"Location": shown["url"]})
        return Response(shown, status=201)

    @extend_schema(
        responses={200: serializers.OrderChangeSerializer},
        summary="One in-flight change of the order, by its number: is it applied yet?",
    )
    @action(
        detail=True,
        methods=["get"],
        # At most 9 digits: a change's number; more is a 404, never a 500.
        url_path=r"changes/(?P<number>[0-9]{1,9})",
        url_name="change",
        permission_classes=[requires_permission(VIEW_ORDER)],
    )
    def change(self, request: Request, pk: str | None = None, number: str = "") -> Response:
        """The change as recorded now: Pending, Applied or Refused (with the reason)."""
        order = self.get_object()
        change = order_change_numbered(order, int(number))
        if change is None:
            raise Http404
        return Response(
            serializers.OrderChangeSerializer(change, context={"request": request}).data
        )

    @extend_schema(
        request=None,
        responses={200: serializers.OrderSerializer},
        summary="Retry an order whose orchestration failed (status OrchestrationFailed)",
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="retry-orchestration",
        permission_classes=[requires_permission(CHANGE_ORDER)],
    )
    def retry_orchestration(self, request: Request, pk: str | None = None) -> Response:
        """Once the cause is fixed: the failure count starts again and the order is
        orchestrated again. 409 ``not_failed`` for an order that did not fail."""
        order = self.get_object()
        if request.data:  # it takes no body: whatever is sent is not for it
            serializers.NoInputSerializer(data=request.data).is_valid(raise_exception=True)
        order_orchestration_retry(order_id=order.pk, user=request.user)  # type: ignore[arg-type]  # requires_permission: never AnonymousUser here.
        return Response(serializers.OrderSerializer(order_list().get(pk=order.pk)).data)

    @extend_schema(
        request=serializers.ReturnOrderInputSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER, REPLAYED_PARAMETER],
        responses={201: serializers.OrderSerializer, 422: KEY_REUSED_RESPONSE},
        summary="Create a return order from this sales order",
    )
    @action(detail=True, methods=["post"], permission_classes=[requires_permission(ADD_ORDER)])
    def returns(self, request: Request, pk: str | None = None) -> Response:
        """Never more of a line than was shipped and is not on a return already: a 400
        names the line (``lines[i].quantity``) and nothing is written. The return order
        is orchestrated like any order (intent Returns)."""
        order = self.get_object()
        return idempotent(request, lambda: self._create_return(request, order))

    def _create_return(self, request: Request, order: Order) -> Response:
        body = serializers.ReturnOrderInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        created = return_order_create(
            original_order_id=order.pk,
            user=request.user,  # type: ignore[arg-type]  # requires_permission: never AnonymousUser here.
            **body.validated_data,
        )
        return Response(
            serializers.OrderSerializer(order_list().get(pk=created.pk)).data,
            status=status.HTTP_201_CREATED,
        )


class SheetFilter(filters.FilterSet):
    """Filters of the sheet list: active or not, and name or ID."""

    is_active = filters.BooleanFilter()
    name_or_id = filters.CharFilter(method="filter_name_or_id", label="Name or ID")

    class Meta:
        model = Sheet
        fields = ["is_active", "name_or_id"]

    def filter_name_or_id(self, queryset: Any, name: str, value: str) -> Any:
        match = queryset.filter(name__icontains=value) | queryset.filter(
            fulfillment__icontains=value
        )
        # isdigit() also accepts '²'; an ID is plain ASCII digits in range.
        if value.isascii() and value.isdigit() and int(value) <= MAX_ID:
            match = match | queryset.filter(pk=int(value))
        return match


SHEET_IDENTIFIERS = OpenApiParameter(
    "identifier",
    str,
    many=True,
    description="A sheet's fulfillment identifier; repeat for more. None: every active sheet.",
)
DRY_RUN = OpenApiParameter(
    "dry_run", bool, description="Only say what importing would do; write nothing."
)
EXPECTED_PLAN = OpenApiParameter(
    "expected",
    str,
    description=(
        "The `fingerprint` of a dry run: refuse (`409 conflict`) if the file or the "
        "install's sheets changed since."
    ),
)


class SheetViewSet(viewsets.ModelViewSet):
    """Sheets; needs the SymphonySheets permissions (View, Create, Edit, Delete)."""

    queryset = Sheet.objects.select_related("created_by", "updated_by")
    serializer_class = serializers.SheetSerializer
    permission_classes = [SymphonySheetsPermission]
    filterset_class = SheetFilter
    search_fields = ["name", "fulfillment"]
    ordering_fields = ["id", "name", "fulfillment", "is_active", "revision", "updated_at"]

    def perform_create(self, serializer: BaseSerializer) -> None:
        data = dict(serializer.validated_data)
        serializer.instance = sheet_create(user=self.request.user, **data)

    def perform_update(self, serializer: BaseSerializer) -> None:
        data = dict(serializer.validated_data)
        serializer.instance = sheet_update(
            sheet=serializer.instance,  # type: ignore[arg-type]  # an update has its Sheet
            user=self.request.user,
            comment=data.pop("comment", ""),
            **data,
        )

    def perform_destroy(self, instance: Sheet) -> None:
        sheet_delete(sheet=instance)

    @extend_schema(responses={200: serializers.SheetRevisionSerializer(many=True)})
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def revisions(self, request: Request, pk: str | None = None) -> Response:
        """Every saved revision of the sheet, newest first."""
        sheet = self.get_object()
        revisions = sheet.revisions.select_related("author").order_by("-number")
        return Response(serializers.SheetRevisionSerializer(revisions, many=True).data)

    @extend_schema(
        parameters=[SHEET_IDENTIFIERS],
        responses={200: serializers.SheetsFileSerializer},
        summary="Export sheets as one file",
        description=(
            "Every active sheet, or those named by `identifier` (active or not), as the "
            "file `POST /api/sheets/import/` takes on another install: format version, "
            "this install's time, and per sheet its identifier, name, active flag, current "
            "revision's comment and source. Needs SymphonySheets:View and :Edit."
        ),
    )
    @action(
        detail=False,
        methods=["get"],
        url_path="export",
        filterset_class=None,
        pagination_class=None,
        permission_classes=[SheetTransferPermission],
    )
    def export(self, request: Request) -> Response:
        """Every active sheet (or those named) as one file."""
        identifiers = request.query_params.getlist("identifier") or None
        content = sheets_export(identifiers=identifiers)
        response = Response(content)
        response["Content-Disposition"] = f'attachment; filename="{sheets_file_name(content)}"'
        return response

    @extend_schema(
        parameters=[DRY_RUN, EXPECTED_PLAN],
        request=serializers.SheetsFileSerializer,
        responses={200: serializers.SheetImportResultSerializer},
        summary="Import a file of sheets (or only say what it would do)",
        description=(
            "The body is a file from `GET /api/sheets/export/`. Sheets are matched by "
            "fulfillment identifier: one the install lacks is created, one whose name, "
            "source or active flag differ gets a new revision (its comment says it was "
            "imported, with the file's comment), an unchanged one gets none; nothing is "
            "deleted. All or nothing: a file with any problem is refused with `400 "
            "invalid`, every problem in `errors` with its field (`sheets[1].source`) "
            "and, for a source, its line and column. With `dry_run=true` nothing is "
            "written: the answer says what importing would do, with each changed source's "
            "diff. Needs SymphonySheets:View and :Edit, and :Create for a file with new "
            "sheets."
        ),
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        filterset_class=None,
        pagination_class=None,
        permission_classes=[SheetTransferPermission],
    )
    def import_file(self, request: Request) -> Response:
        """Import an export file, all or nothing; ``dry_run``: only say what it would do."""
        flags = serializers.SheetImportQuerySerializer(data=request.query_params)
        flags.is_valid(raise_exception=True)
        plan = sheets_import(
            data=request.data,
            user=request.user,
            dry_run=flags.validated_data["dry_run"],
            expected=flags.validated_data.get("expected") or None,
        )
        return Response(serializers.SheetImportResultSerializer(plan).data)


class FulfillmentFilter(filters.FilterSet):
    """Filters of the fulfilment list."""

    order = IdFilter(field_name="order_id")
    supplier_organization_unit = IdFilter(field_name="supplier_organization_unit_id")
    sheet = IdFilter(field_name="sheet_id")
    action = filters.ChoiceFilter(choices=FulfillmentAction.choices)
    status = filters.ChoiceFilter(
        choices=[(label, label) for _, label in FulfillmentStatus.choices],
        method="filter_status",
    )
    export_status = filters.ChoiceFilter(
        choices=[(c, c) for c, _ in ExportStatus.choices if c],
        help_text="Failed: the exports to retry by hand.",
    )

    class Meta:
        model = OrderFulfillment
        fields = [
            "order",
            "supplier_organization_unit",
            "sheet",
            "action",
            "status",
            "export_status",
        ]

    def filter_status(self, queryset: Any, name: str, value: str) -> Any:
        codes = {label: code for code, label in FulfillmentStatus.choices}
        return queryset.filter(status=codes[value])


INCLUDE_DETAILS = OpenApiParameter(
    "include_orchestration_details",
    bool,
    description=(
        "Also return the orchestration details (the explanation blob) of the run "
        "that created the fulfilment, as EVA's GetOrderFulfillment does."
    ),
)


@extend_schema_view(
    retrieve=extend_schema(
        parameters=[INCLUDE_DETAILS],
        responses={200: serializers.OrderFulfillmentDetailSerializer},
    )
)
class FulfillmentViewSet(viewsets.ReadOnlyModelViewSet):
    """Fulfilments that orchestration created, and their lines."""

    queryset = fulfillment_list()
    serializer_class = serializers.OrderFulfillmentSerializer
    filterset_class = FulfillmentFilter
    ordering_fields = ["id", "created_at", "status"]

    def get_queryset(self) -> Any:
        """Store staff see their own OUs' fulfilments only."""
        return fulfillments_visible(self.request.user, super().get_queryset())

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        fulfillment = self.get_object()
        raw = request.query_params.get("include_orchestration_details", "false")
        if raw.lower() not in ("true", "false", "1", "0"):
            raise ValidationError({"include_orchestration_details": ["Must be true or false."]})
        serializer: serializers.OrderFulfillmentSerializer
        if raw.lower() in ("true", "1"):
            state = fulfillment_orchestration_details(fulfillment, now=timezone.now())
            serializer = serializers.OrderFulfillmentDetailSerializer(
                fulfillment, context={"orchestration_details": state}
            )
        else:
            serializer = serializers.OrderFulfillmentSerializer(fulfillment)
        return Response(serializer.data)

    def _act(self, request: Request, service: Any, body: type[Any] | None = None) -> Response:
        """Validate ``body``, call ``service`` on this fulfilment, answer with it afterwards."""
        fulfillment = self.get_object()
        arguments: dict[str, Any] = {}
        if body is not None:
            serializer = body(data=request.data)
            serializer.is_valid(raise_exception=True)
            arguments = {k: v for k, v in serializer.validated_data.items() if v not in ("", None)}
        elif request.data:  # an action without a body: whatever is sent is not for it
            serializers.NoInputSerializer(data=request.data).is_valid(raise_exception=True)
        try:
            service(fulfillment_id=fulfillment.pk, user=request.user, **arguments)
        except LineError as error:
            raise error.at(_line_field(error, arguments)) from None
        fresh = fulfillment_list().get(pk=fulfillment.pk)
        return Response(serializers.OrderFulfillmentSerializer(fresh).data)

    @extend_schema(request=None, summary="A shop starts a ship-from-store task (first start wins)")
    @action(detail=True, methods=["post"], permission_classes=[CHANGE_FULFILLMENTS])
    def start(self, request: Request, pk: str | None = None) -> Response:
        """409 ``other_store`` when another shop's copy of the task was started first."""
        return self._act(request, fulfillment_start)

    @extend_schema(request=serializers.PickInputSerializer, summary="Record what was picked")
    @action(detail=True, methods=["post"], permission_classes=[CHANGE_FULFILLMENTS])
    def pick(self, request: Request, pk: str | None = None) -> Response:
        """Lines not listed are picked in full; the rest is routed again without this shop."""
        return self._act(request, fulfillment_pick, serializers.PickInputSerializer)

    @extend_schema(request=None, summary="The picked lines are packed")
    @action(detail=True, methods=["post"], permission_classes=[CHANGE_FULFILLMENTS])
    def pack(self, request: Request, pk: str | None = None) -> Response:
        return self._act(request, fulfillment_pack)

    @extend_schema(request=serializers.ShipInputSerializer, summary="Shipped, with tracking")
    @action(detail=True, methods=["post"], permission_classes=[CHANGE_FULFILLMENTS])
    def ship(self, request: Request, pk: str | None = None) -> Response:
        """A shop ships a packed task; a warehouse reports what it shipped of an export."""
        return self._act(request, fulfillment_ship, serializers.ShipInputSerializer)

    @extend_schema(request=serializers.DeclineInputSerializer, summary="A shop declines a task")
    @action(detail=True, methods=["post"], permission_classes=[CHANGE_FULFILLMENTS])
    def decline(self, request: Request, pk: str | None = None) -> Response:
        return self._act(request, fulfillment_decline, serializers.DeclineInputSerializer)

    @extend_schema(
        request=serializers.CancelLinesInputSerializer,
        summary="Cancel fulfilment lines; they are routed again without this supplier",
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="cancel-lines",
        permission_classes=[CHANGE_FULFILLMENTS],
    )
    def cancel_lines(self, request: Request, pk: str | None = None) -> Response:
        """Part of a line only with the setting OrderFulfillment:AllowPartialCancellation."""
        return self._act(request, fulfillment_lines_cancel, serializers.CancelLinesInputSerializer)

    @extend_schema(
        request=serializers.ReceiveInputSerializer,
        summary="The receiving OU registers what arrived of a return, and its condition",
    )
    @action(detail=True, methods=["post"], permission_classes=[CHANGE_FULFILLMENTS])
    def receive(self, request: Request, pk: str | None = None) -> Response:
        """Sellable units go back into stock; a ``return.received`` event (webhook)
        carries the amounts to refund."""
        return self._act(request, return_receive, serializers.ReceiveInputSerializer)

    @extend_schema(request=None, summary="Retry a failed export")
    @action(
        detail=True,
        methods=["post"],
        url_path="retry-export",
        permission_classes=[CHANGE_FULFILLMENTS],
    )
    def retry_export(self, request: Request, pk: str | None = None) -> Response:
        return self._act(request, fulfillment_export_retry)


class PlanStepFilter(filters.FilterSet):
    """Filters of the plan steps (the fallout queue: ``state=FATALLY_FAILED``)."""

    state = filters.ChoiceFilter(choices=StepState.choices)
    queue = filters.CharFilter(
        method="filter_queue",
        help_text="The fallout queue of a fatally failed step, or the queue a manual "
        "step is assigned to.",
    )
    key = filters.CharFilter(field_name="definition__key", help_text="The step's key.")
    error_code = filters.CharFilter()
    order = IdFilter(field_name="plan__order_id")

    class Meta:
        model = PlanStep
        fields = ["state", "queue", "key", "error_code", "order"]

    def filter_queue(self, queryset: Any, name: str, value: str) -> Any:
        return queryset.filter(Q(fallout_queue=value) | Q(queue=value))


class PlanStepViewSet(viewsets.ReadOnlyModelViewSet):
    """The steps of fulfilment plans, newest change first; retry or complete fatally
    failed ones with a note (the fallout queue). Reading needs Orders:View, acting
    Fulfillments:Edit too; store staff see their own shops' steps only."""

    queryset = PlanStep.objects.select_related("definition", "plan__order", "assignee").order_by(
        "-updated_at", "-id"
    )
    serializer_class = serializers.PlanStepSerializer
    filterset_class = PlanStepFilter
    permission_classes = [requires_permission(VIEW_ORDER)]
    ordering_fields = ["id", "updated_at"]

    def get_queryset(self) -> Any:
        return plan_steps_visible(self.request.user, super().get_queryset())

    def _bulk(self, request: Request, service: Any) -> Response:
        body = serializers.PlanStepsActionInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ids = list(dict.fromkeys(body.validated_data["steps"]))
        plan_steps_check_visible(request.user, ids)
        count = service(
            step_ids=ids, user=request.user, note=body.validated_data["note"], now=timezone.now()
        )
        steps = self.get_queryset().filter(pk__in=ids).order_by("id")
        return Response(
            {"count": count, "steps": serializers.PlanStepSerializer(steps, many=True).data}
        )

    @extend_schema(
        request=serializers.PlanStepsActionInputSerializer,
        responses={200: serializers.PlanStepsActionResultSerializer},
        summary="Retry fatally failed steps (they become Ready), with a note",
    )
    @action(
        detail=False,
        methods=["post"],
        permission_classes=[requires_permission(VIEW_ORDER), CHANGE_FULFILLMENTS],
    )
    def retry(self, request: Request) -> Response:
        """400 ``invalid_state`` naming the steps that are not fatally failed; nothing
        changes then."""
        return self._bulk(request, plan_steps_retry)

    @extend_schema(
        request=serializers.PlanStepsActionInputSerializer,
        responses={200: serializers.PlanStepsActionResultSerializer},
        summary="Complete fatally failed steps by hand, ignoring their error, with a note",
    )
    @action(
        detail=False,
        methods=["post"],
        permission_classes=[requires_permission(VIEW_ORDER), CHANGE_FULFILLMENTS],
    )
    def complete(self, request: Request) -> Response:
        """400 ``invalid_state`` naming the steps that are not fatally failed; nothing
        changes then."""
        return self._bulk(request, plan_steps_complete)


def _line_field(error: LineError, arguments: Mapping[str, Any]) -> str:
    """Where the body's ``lines`` holds the line a service refused: ``lines[i].<part>``.

    The services name a line by its ID (and which of its listings); the body lists
    them in order, as ``{line ID: quantity}`` once validated (pick, ship, cancel) or
    as received units (receive, a line once per condition).
    """
    listed: list[int] = []
    for name in ("picked", "shipped", "quantities"):
        if name in arguments:
            listed = list(arguments[name])
    if "lines" in arguments:
        listed = [units.line_id for units in arguments["lines"]]
    places = [index for index, line_id in enumerate(listed) if line_id == error.line_id]
    if error.listing >= len(places):  # not a line of the body: the list as a whole
        return "lines"
    return f"lines[{places[error.listing]}].{error.part}"


def _setting_data(state: SettingState) -> dict[str, Any]:
    definition = state.definition
    return {
        "name": definition.name,
        "type": definition.type_name,
        "nullable": definition.nullable,
        "value": state.value,
        "default": definition.default,
        "is_default": state.is_default,
        "description": definition.description,
    }


class SettingViewSet(viewsets.ViewSet):
    """EVA-style named settings, typed, with defaults."""

    queryset = Setting.objects.all()  # for the model permissions
    lookup_field = "name"
    lookup_value_regex = "[^/]+"

    @extend_schema(responses={200: serializers.SettingSerializer(many=True)})
    def list(self, request: Request) -> Response:
        """Every known setting with its effective value."""
        return Response([_setting_data(state) for state in setting_list()])

    @extend_schema(responses={200: serializers.SettingSerializer})
    def retrieve(self, request: Request, name: str) -> Response:
        """One setting."""
        return Response(_setting_data(self._state(name)))

    @extend_schema(
        request=serializers.SettingInputSerializer,
        responses={200: serializers.SettingSerializer},
    )
    def update(self, request: Request, name: str) -> Response:
        """Set a value; it must have the setting's type."""
        self._state(name)
        serializer = serializers.SettingInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        setting_set(name=name, value=serializer.validated_data["value"])
        return Response(_setting_data(self._state(name)))

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, name: str) -> Response:
        """Forget the stored value: the setting has its default again."""
        self._state(name)
        setting_reset(name=name)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _state(self, name: str) -> SettingState:
        if name not in DEFINITIONS:
            raise Http404
        return setting_state(name)


__all__ = [
    "FulfillmentViewSet",
    "OrderViewSet",
    "OrganizationUnitSetViewSet",
    "OrganizationUnitViewSet",
    "ProductViewSet",
    "SettingViewSet",
    "SheetViewSet",
    "StockViewSet",
]


_PREVIEW_EXAMPLE = {
    "order": "ORD-1001",
    "at": "2026-11-22T14:00",
    "time_zone": "Europe/Amsterdam",
    "drafts": [{"sheet": 1, "source": "fulfillment ShipFromStore\n..."}],
    "stock": [{"organization_unit": 3, "product": 7, "quantity": 0, "mode": "absolute"}],
    "organization_units": [3, 4, 5],
    "respect_current_fulfillments": True,
}


class PreviewView(APIView):
    """What orchestration would do with an order at a moment, and why; writes nothing."""

    permission_classes = [SymphonySheetsView]

    @extend_schema(
        request=serializers.PreviewInputSerializer,
        responses={200: OpenApiTypes.OBJECT},
        summary="Preview the orchestration of an order (or a hypothetical one)",
        description=(
            "Runs the engine call that routes real orders, on a stored order (by number) "
            "or a scenario, at the given time, with what-if changes: draft sheets (one "
            "with a sheet's ID replaces it, one without is added), stock (absolute or a "
            "delta), a whitelist of OUs, and whether the order's current fulfilments "
            "count. Returns the orchestration-details blob (winning proposition first, "
            "valid suppliers, rejections with reasons, errors). Needs SymphonySheets:View."
        ),
        examples=[OpenApiExample("A stored order on a Sunday afternoon", _PREVIEW_EXAMPLE)],
    )
    def post(self, request: Request) -> Response:
        serializer = serializers.PreviewInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(previews.preview(serializer.preview_request()))


_OPTIONS_EXAMPLE = {
    "lines": [{"product": "SNK-CANVAS-WHT", "quantity": 1}, {"product": 7, "quantity": 2}],
    "shipping_address": {
        "street": "Herengracht 182",
        "zip_code": "1016 BR",
        "city": "Amsterdam",
        "country_id": "NL",
        "latitude": 52.3752,
        "longitude": 4.8872,
    },
    "at": "2026-11-20T12:00",
    "time_zone": "Europe/Amsterdam",
}


class FulfillmentOptionsView(APIView):
    """The delivery options a webshop can offer for a basket; writes nothing."""

    permission_classes = [SymphonySheetsView]

    @extend_schema(
        request=serializers.FulfillmentOptionsInputSerializer,
        responses={200: serializers.FulfillmentOptionsSerializer},
        summary="Delivery options for a basket at checkout",
        description=(
            "For a basket (products and quantities), a shipping address and a moment, "
            "each delivery option (NormalDelivery, SameDayDelivery, PickupDelivery): "
            "whether every unit can ship when the order asks for it, the suppliers that "
            "would fulfil it (the winning proposition, fan-out included) and the deadline "
            "data the sheets set. Computed by the engine call that routes real orders, "
            "once per option; nothing is written. Needs SymphonySheets:View."
        ),
        examples=[OpenApiExample("A basket to Amsterdam at noon", _OPTIONS_EXAMPLE)],
    )
    def post(self, request: Request) -> Response:
        serializer = serializers.FulfillmentOptionsInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        return Response(
            checkout.fulfillment_options(
                [BasketLine(line["product"], line["quantity"]) for line in data["lines"]],
                at=data.get("at") or timezone.now(),
                shipping_address=data["shipping_address"],
                custom_fields=data["custom_fields"],
            )
        )
