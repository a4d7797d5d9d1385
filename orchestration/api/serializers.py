"""Serializers: they validate input and shape output, and hold no business logic.

Organization units and products can be referred to by ID (an integer) or by
backend ID (a string) wherever an input names one, as integrations know their
own backend IDs.

Every serializer here derives from ``Serializer`` or ``ModelSerializer`` below, which
refuse a field the serializer does not write, at any depth (``lines[2].colour``): an
unknown one (a typo such as ``active`` for ``is_active`` would otherwise be dropped
silently, and the object written without it) and a read-only one (``id``,
``created_at``: as Stripe does, rather than ignoring what the client meant to set).
"""

import datetime
import difflib
import json
import zoneinfo
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from django.db import models
from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.relations import PKOnlyObject
from rest_framework.validators import UniqueValidator

from ..engine import limits
from ..models import (
    FulfillmentOption,
    FulfillmentStatus,
    Order,
    OrderChange,
    OrderEvent,
    OrderFulfillment,
    OrderFulfillmentLine,
    OrderLine,
    OrganizationUnit,
    OrganizationUnitSet,
    PlanStep,
    Product,
    ReturnCondition,
    Sheet,
    SheetRevision,
    Stock,
)
from ..selectors.previews import AS_ASKED, PreviewRequest
from ..selectors.scenario import SheetDraft, StockOverride
from ..services.fulfillments.receiving import ReceivedUnits
from ..services.persistence import order_references, safe_lookup_text
from ..services.persistence.orm import LOOKUP_BATCH
from ..validators import MAX_ID, validate_country_id, validate_json_object, validate_time_zone
from .built_fields import BuiltFieldsCache

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# Close matches are looked up for this many unknown fields of an object at most: a body
# of a hundred thousand unknown keys is refused as fast as one with a single typo.
MAX_SUGGESTIONS = 10


class RefuseUnwrittenFieldsMixin:
    """Refuse, with a 400 naming each, the fields of an input object that the serializer
    does not write: ``unknown_field`` (with the closest known name, if any) and
    ``read_only_field``. Nested serializers and lists of them use it too, so the
    error paths go as deep as the input does (``lines[2].colour``)."""

    def to_internal_value(self, data: Any) -> Any:
        refused = self._unwritten_fields(data) if isinstance(data, Mapping) else {}
        try:
            value = super().to_internal_value(data)  # type: ignore[misc]
        except serializers.ValidationError as error:
            if refused and isinstance(error.detail, dict):
                merged: dict[Any, Any] = {**refused, **error.detail}
                raise serializers.ValidationError(merged) from None
            raise
        if refused:
            raise serializers.ValidationError(refused)
        return value

    def _unwritten_fields(self, data: Mapping[str, Any]) -> dict[str, list[Any]]:
        fields = self.fields  # type: ignore[attr-defined]
        writable = [name for name, field in fields.items() if not field.read_only]
        refused: dict[str, list[Any]] = {}
        for name in data:
            if name in writable:
                continue
            if name in fields:
                refused[name] = [
                    serializers.ErrorDetail(
                        "This field is read-only; leave it out.", code="read_only_field"
                    )
                ]
                continue
            message = "Unknown field."
            if len(refused) < MAX_SUGGESTIONS:
                close = difflib.get_close_matches(str(name), writable, n=1)
                if close:
                    message = f"Unknown field; did you mean '{close[0]}'?"
            refused[name] = [serializers.ErrorDetail(message, code="unknown_field")]
        return refused


class DateTimeField(serializers.DateTimeField):
    """DRF's ``DateTimeField``, refusing a date-time without an offset that exists in the
    server's time zone but not in UTC (year 1 at midnight in Amsterdam is in year 0 in
    UTC) with its ``overflow`` message, as it refuses one with an offset, instead of
    raising ``OverflowError`` (a 500)."""

    def enforce_timezone(self, value: datetime.datetime) -> datetime.datetime:
        try:
            return super().enforce_timezone(value)
        except OverflowError:
            self.fail("overflow")


class Serializer(RefuseUnwrittenFieldsMixin, BuiltFieldsCache, serializers.Serializer):
    """DRF's ``Serializer``, refusing fields it does not write; its fields are built
    once per class (``built_fields``)."""


class ModelSerializer(RefuseUnwrittenFieldsMixin, BuiltFieldsCache, serializers.ModelSerializer):
    """DRF's ``ModelSerializer``, refusing fields it does not write; a model's date-times
    are the ``DateTimeField`` above; its fields are built once per class
    (``built_fields``)."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: DateTimeField,
    }


# The serializer context's key of ``PreloadedReferences`` and ``KnownBackendIds``.
PRELOADED = "preloaded_references"
KNOWN_BACKEND_IDS = "known_backend_ids"
# Every backend ID's length (the models' max_length).
MAX_BACKEND_ID_LENGTH = 100


class PreloadedReferences:
    """Objects that ``BackendReferenceField`` finds here instead of one query each:
    ``order_references_context`` looks up the references of an order, or of a bulk
    import's whole chunk of orders, at once. A value not preloaded (of a shape the query
    skips) is looked up as ever. Only for fields whose queryset is the model's every row
    (``.all()``)."""

    def __init__(self) -> None:
        self._found: dict[tuple[type[models.Model], int | str], models.Model | None] = {}

    def load(self, model: type[models.Model], values: set[Any]) -> None:
        """Look up ``values`` (IDs and backend IDs) of ``model``, a query per kind (none
        for the values known already)."""
        ids = {
            value
            for value in values
            if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID
        }
        names = lookup_names(values)
        for kind, wanted in (("pk", ids), ("backend_id", names)):
            listed = sorted((v for v in wanted if (model, v) not in self._found), key=str)
            for start in range(0, len(listed), LOOKUP_BATCH):
                batch = listed[start : start + LOOKUP_BATCH]
                found = {
                    getattr(obj, kind): obj
                    for obj in model._default_manager.filter(**{f"{kind}__in": batch})
                }
                for value in batch:
                    self._found[(model, value)] = found.get(value)

    def remember(
        self, model: type[models.Model], names: Iterable[str], found: Mapping[str, models.Model]
    ) -> None:
        """Record what a lookup of backend IDs ``names`` of ``model`` found elsewhere
        (``persistence.order_references``): those not in ``found`` do not exist."""
        for name in names:
            self._found[(model, name)] = found.get(name)

    def knows(self, model: type[models.Model], value: int | str) -> bool:
        return (model, value) in self._found

    def get(self, model: type[models.Model], value: int | str) -> models.Model | None:
        return self._found[(model, value)]


def lookup_names(values: Iterable[Any]) -> set[str]:
    """The backend IDs among ``values`` that a lookup query may take: strings of a
    backend ID's length at most, ``safe_lookup_text``."""
    return {
        value
        for value in values
        if isinstance(value, str)
        and len(value) <= MAX_BACKEND_ID_LENGTH
        and safe_lookup_text(value)
    }


class KnownBackendIds:
    """The order backend IDs taken among those an order or a bulk import's chunk names:
    those stored (looked up at once) and those of the chunk's orders validated before.
    ``OrderInputSerializer`` checks them instead of a query per order."""

    def __init__(self, *, candidates: set[str], taken: set[str]) -> None:
        self.candidates = candidates
        self.taken = taken

    def add(self, backend_id: str | None) -> None:
        if backend_id:
            self.candidates.add(backend_id)
            self.taken.add(backend_id)


@extend_schema_field(
    {
        "oneOf": [{"type": "integer"}, {"type": "string"}],
        "description": "ID (integer) or backend ID (string).",
    }
)
class BackendReferenceField(serializers.RelatedField):
    """Input: an object's ID (integer) or backend ID (string). Output: its ID."""

    default_error_messages = {
        "does_not_exist": "Unknown {kind} {value}.",
        "incorrect_type": "Expected an ID (integer) or a backend ID (string), got {data_type}.",
    }

    def __init__(self, kind: str, **kwargs: Any) -> None:
        self.kind = kind
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> models.Model:
        # Every BackendReferenceField is given a queryset.
        queryset: QuerySet[Any] = self.get_queryset()  # type: ignore[assignment]
        if isinstance(data, bool) or not isinstance(data, (int, str)):
            self.fail("incorrect_type", data_type=type(data).__name__)
        preloaded: PreloadedReferences | None = self.context.get(PRELOADED)
        if preloaded is not None and preloaded.knows(queryset.model, data):
            found = preloaded.get(queryset.model, data)
            if found is None:
                self.fail("does_not_exist", kind=self.kind, value=repr(data))
            return found
        lookup = {"pk": data} if isinstance(data, int) else {"backend_id": data}
        try:
            return queryset.get(**lookup)
        except queryset.model.DoesNotExist:
            self.fail("does_not_exist", kind=self.kind, value=repr(data))
        except (TypeError, ValueError, OverflowError):
            self.fail("does_not_exist", kind=self.kind, value=repr(data))
        raise AssertionError("unreachable")  # self.fail always raises

    def to_representation(self, value: models.Model | PKOnlyObject) -> int:
        return value.pk


@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
            {"type": "string", "minLength": 1, "maxLength": 100},
        ],
        "description": "ID (integer) or backend ID (string).",
    }
)
class ReferenceField(serializers.Field):
    """An ID (integer) or backend ID (string), checked for shape only: the
    service looks many of them up at once."""

    default_error_messages = {
        "incorrect_type": "Expected an ID (integer) or a backend ID (string), got {data_type}.",
        "out_of_range": "An ID is a whole number from 1 to 2^63-1.",
        "blank": "A backend ID may not be empty or longer than 100 characters.",
    }

    def to_internal_value(self, data: Any) -> int | str:
        if isinstance(data, bool) or not isinstance(data, (int, str)):
            self.fail("incorrect_type", data_type=type(data).__name__)
        if isinstance(data, int) and not 1 <= data <= 2**63 - 1:
            self.fail("out_of_range")
        if isinstance(data, str) and not 0 < len(data) <= 100:
            self.fail("blank")
        return data

    def to_representation(self, value: int | str) -> int | str:
        return value


_OPTION_NAMES = ", ".join(FulfillmentOption.values)
# An unknown option is shown in its error up to this many characters: enough to spot
# a typo, not a megabyte echoed back.
MAX_SHOWN_INPUT = 60


class FulfillmentOptionField(serializers.ChoiceField):
    """A delivery option of the FulfillmentOptions scope (``NormalDelivery``, ...), or null
    for none; an unknown one is refused naming the allowed values. Stored as "" for none."""

    default_error_messages = {
        "invalid_choice": f"Unknown delivery option {{input}}; expected one of {_OPTION_NAMES}.",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=FulfillmentOption.choices, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str) or data not in FulfillmentOption.values:
            # As JSON, so the client sees what it sent: "Sameday", "", 1, ["PickupDelivery"].
            shown = json.dumps(data, ensure_ascii=False)
            if len(shown) > MAX_SHOWN_INPUT:
                shown = shown[: MAX_SHOWN_INPUT - 3] + "..."
            self.fail("invalid_choice", input=shown)
        return data

    # None for no option: the API's null, where DRF's Field says str.
    def to_representation(self, value: Any) -> str | None:  # type: ignore[override]
        return value or None


class JSONObjectField(serializers.JSONField):
    """A JSON object of custom names to values (``CustomFields.X``)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("validators", [validate_json_object])
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)


class AddressFieldsSerializer(Serializer):
    """A postal address with coordinates: the fields every address in the API has."""

    street = serializers.CharField(max_length=200, required=False, allow_blank=True)
    zip_code = serializers.CharField(max_length=20, required=False, allow_blank=True)
    city = serializers.CharField(max_length=100, required=False, allow_blank=True)
    country_id = serializers.CharField(
        max_length=2, required=False, allow_blank=True, validators=[validate_country_id]
    )
    latitude = serializers.FloatField(min_value=-90, max_value=90, required=False, allow_null=True)
    longitude = serializers.FloatField(
        min_value=-180, max_value=180, required=False, allow_null=True
    )


class AddressSerializer(AddressFieldsSerializer):
    """A postal address with coordinates, stored as ``<prefix>*`` model fields."""

    def __init__(self, *, prefix: str, **kwargs: Any) -> None:
        self.prefix = prefix
        super().__init__(source="*", **kwargs)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        for name, field in fields.items():
            field.source = f"{self.prefix}{name}"
        return fields


class DeliveryAddressSerializer(AddressSerializer):
    """An order's shipping or billing address."""

    is_pickup_point = serializers.BooleanField(required=False)


class OrganizationUnitSummarySerializer(ModelSerializer):
    """The few fields that identify an OU inside another object."""

    class Meta:
        model = OrganizationUnit
        fields = ["id", "backend_id", "name", "type"]


class ProductSummarySerializer(ModelSerializer):
    """The few fields that identify a product inside another object."""

    class Meta:
        model = Product
        fields = ["id", "backend_id", "name"]


class OrganizationUnitSetSerializer(ModelSerializer):
    """A named set of OUs."""

    class Meta:
        model = OrganizationUnitSet
        fields = ["id", "name", "description"]


class OrganizationUnitSerializer(ModelSerializer):
    """A shop, warehouse, supplier, ... with its address and sets."""

    address = AddressSerializer(prefix="address_", required=False)
    custom_fields = JSONObjectField()
    sets = serializers.SlugRelatedField(
        slug_field="name",
        many=True,
        required=False,
        queryset=OrganizationUnitSet.objects.all(),
        help_text="Names of the OU sets it belongs to (`Supplier.SetNames`).",
    )
    active_ship_from_store_tasks = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = OrganizationUnit
        fields = [
            "id",
            "backend_id",
            "name",
            "type",
            "status",
            "country_id",
            "time_zone",
            "address",
            "custom_fields",
            "sets",
            "active_ship_from_store_tasks",
            "created_at",
            "updated_at",
        ]


class ProductSerializer(ModelSerializer):
    """A product with its custom content and replacement products."""

    content = JSONObjectField()
    replacements = BackendReferenceField(
        "product", many=True, required=False, queryset=Product.objects.all()
    )

    class Meta:
        model = Product
        fields = ["id", "backend_id", "name", "content", "replacements", "created_at", "updated_at"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is not None and self.instance in attrs.get("replacements", []):
            raise serializers.ValidationError({"replacements": "A product cannot replace itself."})
        return attrs


class StockSerializer(ModelSerializer):
    """Stock of one product at one OU."""

    organization_unit = OrganizationUnitSummarySerializer(read_only=True)
    product = ProductSummarySerializer(read_only=True)

    class Meta:
        model = Stock
        fields = [
            "id",
            "organization_unit",
            "product",
            "quantity_on_hand",
            "quantity_reserved",
            "quantity_available",
            "updated_at",
        ]
        read_only_fields = fields


def limited_integer(
    limit: limits.Limit, *, minimum: int, **kwargs: Any
) -> serializers.IntegerField:
    """An integer of at most ``limit`` (``engine.limits``), refused in the limit's words."""
    messages = {"max_value": limit.message(), **kwargs.pop("error_messages", {})}
    return serializers.IntegerField(
        min_value=minimum, max_value=limit.maximum, error_messages=messages, **kwargs
    )


def id_field(**kwargs: Any) -> serializers.IntegerField:
    """A primary key: 1 to ``MAX_ID`` (a 64-bit column; SQLite raises OverflowError on
    more, PostgreSQL finds nothing), so a larger number is the field's own 400."""
    return serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        error_messages={"max_value": "No object has an ID this large."},
        **kwargs,
    )


class StockLevelInputSerializer(Serializer):
    """One item of a stock upsert: the counted on-hand quantity of a product at an OU."""

    organization_unit = ReferenceField()
    product = ReferenceField()
    quantity_on_hand = limited_integer(limits.STOCK_QUANTITY, minimum=0)


class StockUpsertResultSerializer(Serializer):
    """How many stock rows an upsert created and updated."""

    created = serializers.IntegerField()
    updated = serializers.IntegerField()


class OrderLineInputSerializer(Serializer):
    """One line of a new order."""

    product = BackendReferenceField("product", queryset=Product.objects.all())
    quantity = limited_integer(limits.LINE_QUANTITY, minimum=1)
    # The defaults: DRF takes any value; 0 as the API has always given (stubs: a Decimal).
    unit_price = serializers.DecimalField(
        max_digits=14,
        decimal_places=4,
        min_value=0,
        required=False,
        default=0,  # type: ignore[arg-type]
    )
    unit_price_in_tax = serializers.DecimalField(
        max_digits=14,
        decimal_places=4,
        min_value=0,
        required=False,
        default=0,  # type: ignore[arg-type]
    )
    discount_amount = serializers.DecimalField(
        max_digits=14,
        decimal_places=4,
        max_value=0,
        required=False,
        default=0,  # type: ignore[arg-type]
        help_text="Zero or negative.",
    )
    is_gift_wrapped = serializers.BooleanField(required=False, default=False)
    preferred_fulfillment_organization_unit = BackendReferenceField(
        "organization unit",
        queryset=OrganizationUnit.objects.all(),
        required=False,
        allow_null=True,
    )
    custom_fields = JSONObjectField(default=dict)


class OrderInputSerializer(ModelSerializer):
    """A new order with all its lines.

    Its products, OUs and original order are looked up before validation, not a query
    each during it: in the context given (``order_references_context``: a bulk import
    gives a whole chunk's), else for the order itself when it is validated; so is its
    backend ID's uniqueness (``UniqueAmongKnown``), with the same messages and codes as
    DRF's own lookups."""

    sold_from_organization_unit = BackendReferenceField(
        "organization unit",
        queryset=OrganizationUnit.objects.all(),
        required=False,
        allow_null=True,
    )
    shipping_address = DeliveryAddressSerializer(prefix="shipping_")
    billing_address = DeliveryAddressSerializer(
        prefix="billing_",
        required=False,
        help_text="Left out: the same as the shipping address.",
    )
    requested_fulfillment_option = FulfillmentOptionField(
        required=False,
        allow_null=True,
        help_text="The delivery option the customer chose; null or left out: any.",
    )
    custom_fields = JSONObjectField(default=dict)
    original_order = BackendReferenceField(
        "order",
        queryset=Order.objects.all(),
        required=False,
        allow_null=True,
        help_text="For a return order: the sales order it returns goods of.",
    )
    # many=True makes a ListSerializer, which takes max_length (the stubs do not see it).
    lines = OrderLineInputSerializer(  # type: ignore[call-arg]
        many=True,
        allow_empty=False,
        max_length=limits.ORDER_LINES.maximum,
        error_messages={"max_length": limits.ORDER_LINES.message()},
    )

    class Meta:
        model = Order
        fields = [
            "backend_id",
            "intent",
            "sold_from_organization_unit",
            "customer_email",
            "currency_id",
            "allow_partial_fulfillment",
            "requested_fulfillment_option",
            "shipping_address",
            "billing_address",
            "custom_fields",
            "placed_at",
            "original_order",
            "lines",
        ]

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        backend_id = fields["backend_id"]
        backend_id.validators = [
            UniqueAmongKnown(validator) if isinstance(validator, UniqueValidator) else validator
            for validator in backend_id.validators
        ]
        return fields

    def run_validation(self, data: Any = serializers.empty) -> Any:
        # Its references and backend ID looked up first, unless given (a bulk import's
        # chunk, looked up at once).
        if self.parent is None and PRELOADED not in self._context:
            self._context = {**self._context, **order_references_context([data])}
        return super().run_validation(data)

    def validate_requested_fulfillment_option(self, value: str | None) -> str:
        return value or ""  # stored as "" for none

    def validate_backend_id(self, value: str | None) -> str | None:
        # An empty backend ID is no backend ID; "" would clash with the next "".
        return value or None


def order_references_context(bodies: list[Any]) -> dict[str, Any]:
    """The context of ``OrderInputSerializer`` for ``bodies`` (a bulk import's chunk, or
    ``POST /api/orders/``'s one order): their references and backend IDs looked up
    before validation, the products by backend ID and the backend IDs in one statement
    on PostgreSQL (``persistence.order_references``; two queries elsewhere), the rest
    (IDs given as numbers, OUs, original orders: seldom sent) a query per kind named."""
    units: set[Any] = set()
    products: set[Any] = set()
    originals: set[Any] = set()
    candidates: set[str] = set()
    for body in bodies:
        if not isinstance(body, Mapping):
            continue
        units.add(_hashable(body.get("sold_from_organization_unit")))
        originals.add(_hashable(body.get("original_order")))
        backend_id = body.get("backend_id")
        if isinstance(backend_id, str):
            # As the serializer's CharField gives it to the uniqueness check.
            backend_id = backend_id.strip()
            if 0 < len(backend_id) <= MAX_BACKEND_ID_LENGTH and safe_lookup_text(backend_id):
                candidates.add(backend_id)
        lines = body.get("lines")
        if isinstance(lines, list):
            for line in lines:
                if isinstance(line, Mapping):
                    products.add(_hashable(line.get("product")))
                    units.add(_hashable(line.get("preferred_fulfillment_organization_unit")))
    names = sorted(lookup_names(products))
    found = order_references(product_backend_ids=names, order_backend_ids=sorted(candidates))
    preloaded = PreloadedReferences()
    preloaded.remember(Product, names, found.products)
    preloaded.load(Product, products)
    preloaded.load(OrganizationUnit, units)
    preloaded.load(Order, originals)
    known = KnownBackendIds(candidates=candidates, taken=found.taken_backend_ids)
    return {PRELOADED: preloaded, KNOWN_BACKEND_IDS: known}


def _hashable(value: Any) -> Any:
    """A reference as given, or None for one no lookup could take (a list, an object)."""
    return value if isinstance(value, (int, str)) else None


class UniqueAmongKnown:
    """The ``UniqueValidator`` of an order's ``backend_id``, answered from the context's
    ``KnownBackendIds`` when it has the value (same message, same code), else by the
    validator's own query."""

    requires_context = True

    def __init__(self, unique: UniqueValidator) -> None:
        self.unique = unique

    def __call__(self, value: Any, field: serializers.Field) -> None:
        known: KnownBackendIds | None = field.context.get(KNOWN_BACKEND_IDS)
        if known is None or value not in known.candidates:
            self.unique(value, field)
        elif value in known.taken:
            raise serializers.ValidationError(self.unique.message, code="unique")


class OrderLineSerializer(ModelSerializer):
    """An order line as stored, with its totals."""

    product = ProductSummarySerializer(read_only=True)
    preferred_fulfillment_organization_unit = OrganizationUnitSummarySerializer(
        read_only=True, allow_null=True
    )
    total_amount = serializers.DecimalField(max_digits=20, decimal_places=4, read_only=True)
    total_amount_in_tax = serializers.DecimalField(max_digits=20, decimal_places=4, read_only=True)

    class Meta:
        model = OrderLine
        fields = [
            "id",
            "product",
            "quantity",
            "quantity_shipped",
            "quantity_cancelled",
            "unit_price",
            "unit_price_in_tax",
            "discount_amount",
            "total_amount",
            "total_amount_in_tax",
            "is_gift_wrapped",
            "preferred_fulfillment_organization_unit",
            "custom_fields",
            "status",
            "original_line",
            "return_reason",
        ]
        read_only_fields = fields


class OrderSerializer(ModelSerializer):
    """An order as stored, with its lines."""

    sold_from_organization_unit = OrganizationUnitSummarySerializer(read_only=True, allow_null=True)
    # Empty when none was given, so not declared as an e-mail format.
    customer_email = serializers.CharField(read_only=True)
    shipping_address = DeliveryAddressSerializer(prefix="shipping_", read_only=True)
    billing_address = DeliveryAddressSerializer(prefix="billing_", read_only=True)
    requested_fulfillment_option = FulfillmentOptionField(read_only=True, allow_null=True)
    lines = OrderLineSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = [
            "id",
            "backend_id",
            "intent",
            "status",
            "sold_from_organization_unit",
            "customer_email",
            "currency_id",
            "allow_partial_fulfillment",
            "requested_fulfillment_option",
            "shipping_address",
            "billing_address",
            "custom_fields",
            "placed_at",
            "original_order",
            "orchestration_failures",
            "orchestration_error",
            "created_at",
            "updated_at",
            "lines",
        ]
        read_only_fields = fields


class SheetSerializer(ModelSerializer):
    """A sheet; writing one stores a new revision."""

    comment = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=500,
        help_text="What changed, kept with the new revision.",
    )
    created_by: "serializers.SlugRelatedField[User]" = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    updated_by: "serializers.SlugRelatedField[User]" = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = Sheet
        fields = [
            "id",
            "fulfillment",
            "name",
            "source",
            "action",
            "is_active",
            "revision",
            "comment",
            "created_at",
            "created_by",
            "updated_at",
            "updated_by",
        ]
        read_only_fields = ["action", "revision", "created_at", "updated_at"]


class SheetRevisionSerializer(ModelSerializer):
    """One saved revision of a sheet."""

    author: "serializers.SlugRelatedField[User]" = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = SheetRevision
        fields = [
            "number",
            "fulfillment",
            "name",
            "source",
            "is_active",
            "comment",
            "author",
            "created_at",
        ]
        read_only_fields = fields


class SheetFileEntrySerializer(Serializer):
    """One sheet of an export file (``services/sheet_transfer.py``)."""

    fulfillment = serializers.CharField(help_text="The sheet's fulfillment identifier.")
    name = serializers.CharField()
    is_active = serializers.BooleanField()
    comment = serializers.CharField(
        required=False, allow_blank=True, help_text="Its current revision's comment."
    )
    # The file's field named source (DRF's metaclass takes it as a field): not .source.
    source = serializers.CharField(  # type: ignore[assignment]
        allow_blank=True, trim_whitespace=False
    )


class SheetsFileSerializer(Serializer):
    """An export file of sheets; what ``POST /api/sheets/import/`` takes as its body.

    Documentation only: the import service checks the body itself, so that the API,
    the Suite and ``manage.py sheets import`` refuse a file with the same messages.
    """

    format_version = serializers.IntegerField(help_text="1: the only version there is.")
    exported_at = DateTimeField(help_text="The exporting install's time.")
    sheets = SheetFileEntrySerializer(many=True)


class NameChangeSerializer(Serializer):
    """A sheet's name before and after an import."""

    before = serializers.CharField()
    after = serializers.CharField()


class ActiveChangeSerializer(Serializer):
    """Whether a sheet is active, before and after an import."""

    before = serializers.BooleanField()
    after = serializers.BooleanField()


class SheetChangesSerializer(Serializer):
    """The fields besides the source that an import changes (absent: unchanged)."""

    name = NameChangeSerializer(required=False)
    is_active = ActiveChangeSerializer(required=False)


class SheetImportItemSerializer(Serializer):
    """What an import does (or did) to one sheet of the file."""

    fulfillment = serializers.CharField()
    name = serializers.CharField()
    is_active = serializers.BooleanField()
    status = serializers.ChoiceField(choices=["new", "changed", "unchanged"])
    sheet = serializers.IntegerField(
        source="sheet_id",
        allow_null=True,
        help_text="The install's sheet; null for a new one on a dry run.",
    )
    revision = serializers.IntegerField(
        allow_null=True,
        help_text="Its revision: before the import on a dry run, after it once imported.",
    )
    changes = serializers.SerializerMethodField()
    source_diff = serializers.CharField(
        help_text="A changed source as a unified diff from the install's to the file's; "
        "empty when the source is the same."
    )

    @extend_schema_field(SheetChangesSerializer)
    def get_changes(self, sheet: Any) -> dict[str, Any]:
        return {
            change.field: {"before": change.before, "after": change.after}
            for change in sheet.changes
        }


class SheetImportQuerySerializer(Serializer):
    """``POST /api/sheets/import/``'s query string: ``dry_run`` and ``expected``."""

    dry_run = serializers.BooleanField(required=False, default=False)
    expected = serializers.CharField(required=False, allow_blank=True, max_length=64)

    def to_internal_value(self, data: Any) -> Any:
        # A query string's other parameters (``format``) are DRF's: not refused here.
        return super(RefuseUnwrittenFieldsMixin, self).to_internal_value(data)


class SheetImportSummarySerializer(Serializer):
    """How many sheets of the file are new, changed and unchanged."""

    new = serializers.IntegerField()
    changed = serializers.IntegerField()
    unchanged = serializers.IntegerField()


class SheetImportResultSerializer(Serializer):
    """What ``POST /api/sheets/import/`` did, or would do (``dry_run``)."""

    dry_run = serializers.BooleanField()
    exported_at = DateTimeField()
    fingerprint = serializers.CharField(
        help_text="Send it back as `expected` to import only what this dry run showed."
    )
    summary = serializers.SerializerMethodField()
    sheets = SheetImportItemSerializer(many=True)

    @extend_schema_field(SheetImportSummarySerializer)
    def get_summary(self, plan: Any) -> dict[str, int]:
        return {status: len(plan.with_status(status)) for status in ("new", "changed", "unchanged")}


class FulfillmentStatusField(serializers.ChoiceField):
    """A fulfilment status by EVA's name (``InProgress``), not its number."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=[label for _, label in FulfillmentStatus.choices], **kwargs)

    # The model stores the status as its number, where DRF's ChoiceField says str.
    def to_representation(self, value: int) -> str:  # type: ignore[override]
        return FulfillmentStatus(value).label


class OrderFulfillmentLineSerializer(ModelSerializer):
    """A quantity of one order line in a fulfilment."""

    product = ProductSummarySerializer(read_only=True)
    status = FulfillmentStatusField(read_only=True)
    cancellation_reason = serializers.CharField(read_only=True, allow_null=True)

    class Meta:
        model = OrderFulfillmentLine
        fields = [
            "id",
            "order_line",
            "product",
            "quantity",
            "status",
            "cancellation_reason",
            "created_at",
            "started_at",
            "completed_at",
            "cancelled_at",
        ]
        read_only_fields = fields

    def to_representation(self, instance: OrderFulfillmentLine) -> dict[str, Any]:
        data = super().to_representation(instance)
        # EVA reports "no reason" as NULL, not as an empty string.
        data["cancellation_reason"] = instance.cancellation_reason or None
        return data


class OrchestrationDetailsSerializer(Serializer):
    """The explanation blob of the run that made a fulfilment, if still kept."""

    status = serializers.ChoiceField(
        choices=["available", "expired", "none"],
        help_text=(
            "`available`: `blob` holds the details. `expired`: they were kept "
            "until `expires_at` and are gone. `none`: the fulfilment was not made "
            "by an orchestration run."
        ),
    )
    expires_at = DateTimeField(allow_null=True)
    message = serializers.CharField()
    blob = serializers.JSONField(allow_null=True)


class OrderFulfillmentSerializer(ModelSerializer):
    """A fulfilment: who does what for which lines, and in which state."""

    supplier_organization_unit = OrganizationUnitSummarySerializer(read_only=True, allow_null=True)
    status = FulfillmentStatusField(read_only=True)
    lines = OrderFulfillmentLineSerializer(many=True, read_only=True)

    class Meta:
        model = OrderFulfillment
        fields = [
            "id",
            "order",
            "sheet",
            "sheet_name",
            "supplier_organization_unit",
            "action",
            "status",
            "data",
            "lines",
            "task_key",
            "is_fanout",
            "holds_reservation",
            "priority",
            "labels",
            "start_deadline",
            "pack_deadline",
            "ship_deadline",
            "started_at",
            "picked_at",
            "packed_at",
            "shipped_at",
            "carrier",
            "tracking_number",
            "exporter_name",
            "export_status",
            "export_attempts",
            "export_next_at",
            "export_error",
            "exported_at",
            "created_at",
            "updated_at",
            "completed_at",
            "cancelled_at",
        ]
        read_only_fields = fields


class LineQuantitySerializer(Serializer):
    """A fulfilment line and a quantity of it."""

    id = id_field(help_text="The fulfilment line's ID.")
    quantity = limited_integer(limits.LINE_QUANTITY, minimum=0)


def _line_quantities(lines: list[dict[str, int]]) -> dict[int, int]:
    """``[{id, quantity}]`` as ``{id: quantity}``, refusing a line given twice."""
    result: dict[int, int] = {}
    for index, line in enumerate(lines):
        if line["id"] in result:
            raise serializers.ValidationError(
                # DRF keys a list's items by index, as its own ListSerializer does.
                {"lines": {index: {"id": [f"Line {line['id']} is given twice."]}}}  # type: ignore[dict-item, unused-ignore]
            )
        result[line["id"]] = line["quantity"]
    return result


class PickInputSerializer(Serializer):
    """What a shop picked; lines not listed are picked in full."""

    lines = LineQuantitySerializer(
        many=True,
        required=False,
        help_text="Picked quantity per line, for lines not picked in full.",
    )
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Why the rest was not picked: one of the setting ShipFromStore:DeclineReasons.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs["picked"] = _line_quantities(attrs.pop("lines", []))
        return attrs


class ShipInputSerializer(Serializer):
    """A shipment: carrier and tracking number; a warehouse may list partial quantities."""

    carrier = serializers.CharField(max_length=100)
    tracking_number = serializers.CharField(max_length=100)
    lines = LineQuantitySerializer(
        many=True,
        required=False,
        help_text="Exports only: shipped quantity per line, for lines not shipped in full; "
        "the rest is routed again.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs["shipped"] = _line_quantities(attrs.pop("lines", []))
        return attrs


class NoInputSerializer(Serializer):
    """The body of an action that takes none: empty, or an object without fields."""


class DeclineInputSerializer(Serializer):
    """Why a shop declines a task (Unknown when left out)."""

    reason = serializers.CharField(required=False, allow_blank=True)


class CancelLinesInputSerializer(Serializer):
    """Fulfilment lines to cancel and how many units of each."""

    lines = LineQuantitySerializer(many=True, allow_empty=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return {"quantities": _line_quantities(attrs["lines"])}


class ReturnLineInputSerializer(Serializer):
    """One line of a sales order to take back."""

    order_line = id_field(help_text="The sales order line's ID.")
    quantity = limited_integer(limits.LINE_QUANTITY, minimum=1)
    reason = serializers.CharField(
        required=False, allow_blank=True, help_text="One of the setting Returns:Reasons."
    )


class ReturnOrderInputSerializer(Serializer):
    """A return order from a sales order: which lines, how many, and why."""

    backend_id = serializers.CharField(
        max_length=100,
        required=False,
        help_text="Left out: the sales order's number with -R1, -R2, ...",
    )
    sold_from_organization_unit = BackendReferenceField(
        "organization unit",
        queryset=OrganizationUnit.objects.all(),
        required=False,
        help_text="Where the return is made; left out: the returns portal.",
    )
    # many=True makes a ListSerializer, which takes max_length (the stubs do not see it).
    lines = ReturnLineInputSerializer(  # type: ignore[call-arg]
        many=True,
        allow_empty=False,
        max_length=limits.ORDER_LINES.maximum,
        error_messages={"max_length": limits.ORDER_LINES.message()},
    )


class ReceiveLineInputSerializer(Serializer):
    """Units of a return's fulfilment line that arrived, and in which state."""

    id = id_field(help_text="The fulfilment line's ID.")
    quantity = limited_integer(limits.LINE_QUANTITY, minimum=1)
    condition = serializers.ChoiceField(
        choices=ReturnCondition.choices, help_text="Only Sellable units go back into stock."
    )


class ReceiveInputSerializer(Serializer):
    """What arrived of a return; a line may be listed once per condition."""

    lines = ReceiveLineInputSerializer(many=True, allow_empty=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs["lines"] = [
            ReceivedUnits(
                line_id=line["id"], quantity=line["quantity"], condition=line["condition"]
            )
            for line in attrs["lines"]
        ]
        return attrs


class OrderLineCancelInputSerializer(Serializer):
    """How many units of an order line to cancel."""

    quantity = limited_integer(limits.LINE_QUANTITY, minimum=1)


class OrderChangeLineSerializer(Serializer):
    """A line's new quantity."""

    id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    quantity = limited_integer(limits.LINE_QUANTITY, minimum=1)


class OrderAddedLineSerializer(Serializer):
    """A line added in flight."""

    product = BackendReferenceField("product", queryset=Product.objects.all())
    quantity = limited_integer(limits.LINE_QUANTITY, minimum=1)
    unit_price = serializers.DecimalField(
        max_digits=14,
        decimal_places=4,
        min_value=0,
        required=False,
    )
    unit_price_in_tax = serializers.DecimalField(
        max_digits=14,
        decimal_places=4,
        min_value=0,
        required=False,
    )


class ChangedAddressSerializer(AddressFieldsSerializer):
    """The new shipping address (the fields given replace the order's)."""

    is_pickup_point = serializers.BooleanField(required=False)


class OrderChangeInputSerializer(Serializer):
    """An in-flight change: any of a new shipping address, new quantities, lines added,
    lines removed (docs/plans.md). Refused with 409 past a point of no return."""

    shipping_address = ChangedAddressSerializer(required=False)
    # many=True makes a ListSerializer, which takes max_length (the stubs do not see it).
    lines = OrderChangeLineSerializer(  # type: ignore[call-arg]
        many=True, required=False, max_length=limits.ORDER_LINES.maximum
    )
    add_lines = OrderAddedLineSerializer(  # type: ignore[call-arg]
        many=True, required=False, max_length=limits.ORDER_LINES.maximum
    )
    remove_lines = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        max_length=limits.ORDER_LINES.maximum,
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not any(
            attrs.get(name) for name in ("shipping_address", "lines", "add_lines", "remove_lines")
        ):
            raise serializers.ValidationError(
                "Say what changes: shipping_address, lines, add_lines or remove_lines."
            )
        return attrs


class OrderCustomFieldsInputSerializer(Serializer):
    """Custom fields to set on an order (``null`` removes one)."""

    custom_fields = JSONObjectField(required=True)


class OrderChangeSerializer(ModelSerializer):
    """An in-flight change as recorded (the supplemental order): Pending while running
    steps of its plans finish (``waits_for`` names one), then Applied or Refused
    (``reason``); ``url`` is where to read it again."""

    created_by: "serializers.SlugRelatedField[User]" = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    url = serializers.SerializerMethodField(help_text="This change: GET it to follow it.")

    class Meta:
        model = OrderChange
        fields = [
            "number",
            "status",
            "summary",
            "waits_for",
            "reason",
            "before",
            "after",
            "undone",
            "created_at",
            "decided_at",
            "created_by",
            "url",
        ]

    def get_url(self, change: OrderChange) -> str:
        path = reverse("api:order-change", args=[change.order_id, change.number])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class OrderEventSerializer(ModelSerializer):
    """One entry of an order's timeline."""

    orchestration_run = serializers.IntegerField(
        source="orchestration_details.attempt", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = OrderEvent
        fields = [
            "id",
            "at",
            "kind",
            "message",
            "actor",
            "fulfillment",
            "orchestration_run",
            "data",
        ]
        read_only_fields = fields


class OrderFulfillmentDetailSerializer(OrderFulfillmentSerializer):
    """A fulfilment with its orchestration details (``include_orchestration_details``)."""

    orchestration_details = serializers.SerializerMethodField()

    class Meta(OrderFulfillmentSerializer.Meta):
        fields = [*OrderFulfillmentSerializer.Meta.fields, "orchestration_details"]
        read_only_fields = fields

    @extend_schema_field(OrchestrationDetailsSerializer)
    def get_orchestration_details(self, instance: OrderFulfillment) -> dict[str, Any]:
        state = self.context["orchestration_details"]
        messages = {
            "available": "Orchestration details of the run that created this fulfilment.",
            "expired": (
                "The orchestration details expired on {:%Y-%m-%d %H:%M %Z} and are no "
                "longer kept (setting Symphony:OrchestrationDetailsLifetimeInDays)."
            ),
            "none": "This fulfilment was not created by an orchestration run.",
        }
        message = messages[state.status]
        if state.status == "expired":
            message = message.format(state.expires_at)
        return {
            "status": state.status,
            "expires_at": state.expires_at,
            "message": message,
            "blob": state.blob,
        }


class SettingSerializer(Serializer):
    """A named setting: its type, effective value and default."""

    name = serializers.CharField()
    type = serializers.ChoiceField(choices=["boolean", "integer", "string"])
    nullable = serializers.BooleanField()
    value = serializers.JSONField(allow_null=True)
    default = serializers.JSONField(allow_null=True)
    is_default = serializers.BooleanField()
    description = serializers.CharField()


class SettingInputSerializer(Serializer):
    """A new value for a setting; its type must match the setting's."""

    value = serializers.JSONField(allow_null=True)


# --- Preview ------------------------------------------------------------------------------


class PreviewDraftSerializer(Serializer):
    """An unsaved sheet text: with ``sheet`` it replaces that sheet, without it is added."""

    sheet = id_field(required=False, allow_null=True)
    name = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    # A field called source, not DRF's Field.source (the attribute it reads).
    source = serializers.CharField(allow_blank=False, trim_whitespace=False, max_length=200_000)  # type: ignore[assignment]

    def validate_sheet(self, value: int | None) -> int | None:
        if value is not None and not Sheet.objects.filter(pk=value).exists():
            raise serializers.ValidationError(f"There is no sheet {value}.")
        return value


class PreviewStockSerializer(Serializer):
    """Stock for the preview: an available quantity, or a change to the real one."""

    organization_unit = id_field()
    product = id_field()
    quantity = limited_integer(
        limits.STOCK_QUANTITY,
        minimum=-limits.STOCK_QUANTITY.maximum,
        error_messages={"min_value": limits.STOCK_QUANTITY.message()[:-1] + ", either way."},
    )
    mode = serializers.ChoiceField(choices=["absolute", "delta"], default="absolute")

    def validate_organization_unit(self, value: int) -> int:
        if not OrganizationUnit.objects.filter(pk=value).exists():
            raise serializers.ValidationError(f"There is no organization unit {value}.")
        return value

    def validate_product(self, value: int) -> int:
        if not Product.objects.filter(pk=value).exists():
            raise serializers.ValidationError(f"There is no product {value}.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["mode"] == "absolute" and attrs["quantity"] < 0:
            raise serializers.ValidationError(
                {"quantity": "An absolute quantity is 0 or more; use mode 'delta' to lower it."}
            )
        return attrs


class PreviewInputSerializer(Serializer):
    """What to preview: a stored order or a hypothetical one, when, and what if."""

    order = serializers.CharField(
        required=False, max_length=100, help_text="An existing order, by its number (backend ID)."
    )
    scenario = serializers.JSONField(
        required=False,
        help_text="A hypothetical order as a scenario (docs/scenario-format.md); "
        "its own sheets, OUs and stock are used.",
    )
    at = serializers.CharField(
        required=False,
        max_length=64,
        help_text="When to replay it (ISO 8601, e.g. 2026-11-22T14:00). Without an offset "
        "it is read in time_zone. Default: now (for a scenario: its own time).",
    )
    time_zone = serializers.CharField(
        required=False, default="UTC", validators=[validate_time_zone], max_length=64
    )
    drafts = PreviewDraftSerializer(many=True, required=False, default=list)
    stock = PreviewStockSerializer(many=True, required=False, default=list)
    organization_units = serializers.ListField(
        child=id_field(),
        required=False,
        allow_null=True,
        default=None,
        help_text="Only these OUs may fulfil (a whitelist); omit for all.",
    )
    respect_current_fulfillments = serializers.BooleanField(
        default=True,
        help_text="Exclude what the order's fulfilments already say (cancelled OUs, lines "
        "in progress), as recalculation does; false: a clean slate.",
    )
    requested_fulfillment_option = FulfillmentOptionField(
        required=False,
        allow_null=True,
        help_text="What if the order asked for this delivery option (null: for none); left "
        "out: the one it asks for.",
    )

    def validate_at(self, value: str) -> datetime.datetime:
        try:
            return datetime.datetime.fromisoformat(value.strip())
        except ValueError as error:
            raise serializers.ValidationError(
                f"{value!r} is not a date and time (ISO 8601, e.g. 2026-11-22T14:00)."
            ) from error

    def validate_organization_units(self, value: list[int] | None) -> list[int] | None:
        if value is None:
            return None
        known = set(OrganizationUnit.objects.filter(pk__in=value).values_list("pk", flat=True))
        unknown = [unit for unit in value if unit not in known]
        if unknown:
            raise serializers.ValidationError(f"There is no organization unit {unknown[0]}.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        at = attrs.get("at")
        if at is not None and at.tzinfo is None:
            attrs["at"] = at.replace(tzinfo=zoneinfo.ZoneInfo(attrs["time_zone"]))
        has_order, has_scenario = "order" in attrs, "scenario" in attrs
        if has_order == has_scenario:
            raise serializers.ValidationError(
                {"order": "Give either an order number or a scenario (one of the two)."}
            )
        if has_scenario and (attrs["drafts"] or attrs["stock"] or attrs["organization_units"]):
            raise serializers.ValidationError(
                {"scenario": "A scenario brings its own sheets, stock and OUs: change them in it."}
            )
        return attrs

    def preview_request(self, *, scenario_text: str | None = None) -> PreviewRequest:
        """The checked request as ``previews.preview`` takes it (after ``is_valid()``).

        ``scenario_text``: the scenario as it was typed (the preview page keeps its text,
        for exact decimals); by default the JSON of the scenario given, if any.
        """
        data = self.validated_data
        if scenario_text is None and "scenario" in data:
            scenario_text = json.dumps(data["scenario"])
        units = data["organization_units"]
        return PreviewRequest(
            order=data.get("order"),
            scenario_text=scenario_text,
            at=data.get("at"),
            drafts=tuple(
                SheetDraft(d["source"], d.get("sheet"), d.get("name", "")) for d in data["drafts"]
            ),
            stock=tuple(
                StockOverride(
                    s["organization_unit"], s["product"], s["quantity"], s["mode"] == "delta"
                )
                for s in data["stock"]
            ),
            organization_units=tuple(units) if units is not None else None,
            respect_current_fulfillments=data["respect_current_fulfillments"],
            fulfillment_option=data.get("requested_fulfillment_option", AS_ASKED),
        )


# --- Delivery options at checkout --------------------------------------------------------


class BasketLineSerializer(Serializer):
    """One line of a basket: a product and how many."""

    product = ReferenceField(help_text="The product's ID (integer) or backend ID (string).")
    quantity = limited_integer(limits.LINE_QUANTITY, minimum=1)


class BasketAddressSerializer(AddressFieldsSerializer):
    """Where the basket would ship to."""

    is_pickup_point = serializers.BooleanField(required=False, default=False)


class FulfillmentOptionsInputSerializer(Serializer):
    """``POST /api/fulfillment-options/``: a basket, where it ships to and when."""

    # many=True makes a ListSerializer, which takes max_length (the stubs do not see it).
    lines = BasketLineSerializer(  # type: ignore[call-arg]
        many=True,
        allow_empty=False,
        max_length=limits.ORDER_LINES.maximum,
        error_messages={"max_length": limits.ORDER_LINES.message()},
    )
    shipping_address = BasketAddressSerializer()
    at = serializers.CharField(
        required=False,
        max_length=64,
        help_text="When the customer checks out (ISO 8601, e.g. 2026-11-22T14:00). Without "
        "an offset it is read in time_zone. Default: now.",
    )
    time_zone = serializers.CharField(
        required=False, default="UTC", validators=[validate_time_zone], max_length=64
    )
    custom_fields = JSONObjectField(
        default=dict, help_text="The order's custom fields, as the sheets read them."
    )

    def validate_at(self, value: str) -> datetime.datetime:
        try:
            return datetime.datetime.fromisoformat(value.strip())
        except ValueError as error:
            raise serializers.ValidationError(
                f"{value!r} is not a date and time (ISO 8601, e.g. 2026-11-22T14:00)."
            ) from error

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        at = attrs.get("at")
        if at is not None and at.tzinfo is None:
            attrs["at"] = at.replace(tzinfo=zoneinfo.ZoneInfo(attrs["time_zone"]))
        return attrs


class OptionSupplierSerializer(Serializer):
    """An organization unit that would fulfil a shipment."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    backend_id = serializers.CharField(allow_null=True)


class OptionLineSerializer(Serializer):
    """Units of a basket line, by its index in the request (``lines[0]`` is 0)."""

    line = serializers.IntegerField()
    quantity = serializers.IntegerField()


class OptionShipmentSerializer(Serializer):
    """A shipment the winning proposition makes under a delivery option."""

    action = serializers.CharField(help_text="SHIP_FROM_STORE, EXPORT_ORDER, ...")
    sheet = serializers.CharField(help_text="The sheet that routes it, by name.")
    supplier = OptionSupplierSerializer()
    fanout_suppliers = OptionSupplierSerializer(many=True)
    lines = OptionLineSerializer(many=True)
    deadline_in_minutes = serializers.FloatField(
        allow_null=True, help_text="The sheet's DeadlineInMinutes, if it sets a number."
    )
    pack_deadline_in_minutes = serializers.FloatField(allow_null=True)
    ship_deadline_in_minutes = serializers.FloatField(allow_null=True)
    start_deadline = DateTimeField(
        allow_null=True, help_text="at + DeadlineInMinutes: when the first deadline passes."
    )
    # A field named data (this serializer only documents the response): not Serializer.data.
    data = serializers.DictField(help_text="Everything the sheets set for the shipment.")  # type: ignore[assignment]


class FulfillmentOptionSerializer(Serializer):
    """One delivery option: whether it can be offered, and who would ship what."""

    option = serializers.ChoiceField(choices=FulfillmentOption.choices)
    available = serializers.BooleanField(
        help_text="Every unit ships under this option (nothing left unfulfilled)."
    )
    shipments = OptionShipmentSerializer(many=True)
    unfulfilled = OptionLineSerializer(many=True)


class FulfillmentOptionsSerializer(Serializer):
    """The delivery options of a basket at a moment."""

    at = DateTimeField()
    options = FulfillmentOptionSerializer(many=True)


class SignInSerializer(Serializer):
    """``POST /api/auth/token/``: the credentials of a user."""

    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


class ApiTokenSerializer(Serializer):
    """An API token: send it as ``Authorization: Token <token>`` until ``expires_at``."""

    token = serializers.CharField()
    expires_at = DateTimeField()


class PlanStepSerializer(ModelSerializer):
    """A step of a fulfilment plan (``docs/plans.md``), as the fallout queue lists it."""

    order = serializers.IntegerField(source="plan.order_id", read_only=True)
    order_backend_id = serializers.CharField(
        source="plan.order.backend_id", read_only=True, allow_null=True
    )
    fulfillment = serializers.IntegerField(
        source="plan.fulfillment_id", read_only=True, allow_null=True
    )
    key = serializers.CharField(source="definition.key", read_only=True)
    name = serializers.CharField(source="definition.name", read_only=True)
    type = serializers.CharField(source="definition.type", read_only=True)
    line = serializers.IntegerField(source="line_id", read_only=True, allow_null=True)
    assignee = serializers.CharField(
        source="assignee.username", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = PlanStep
        fields = [
            "id",
            "plan",
            "order",
            "order_backend_id",
            "fulfillment",
            "key",
            "name",
            "type",
            "line",
            "state",
            "attempts",
            "next_run_at",
            "at_risk",
            "assignee",
            "queue",
            "fallout_queue",
            "error_code",
            "error",
            "note",
            "updated_at",
        ]
        read_only_fields = fields


# Steps one bulk action takes, at most (the Suite's form has the same limit).
MAX_BULK_STEPS = 500


class PlanStepsActionInputSerializer(Serializer):
    """Fatally failed steps to retry or complete, and why."""

    steps = serializers.ListField(
        child=id_field(), allow_empty=False, max_length=MAX_BULK_STEPS, help_text="Step IDs."
    )
    note = serializers.CharField(
        max_length=2000, help_text="Why: kept on each step and on the order's timeline."
    )


class PlanStepsActionResultSerializer(Serializer):
    """How many steps the action took, and each afterwards."""

    count = serializers.IntegerField()
    steps = PlanStepSerializer(many=True)
