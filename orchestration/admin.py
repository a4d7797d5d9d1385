"""Django admin for every domain model.

Sheets and settings are saved through their services, so an edit in admin
makes a sheet revision or a type-checked setting, as the API does.
"""

import zoneinfo
from collections.abc import Sequence
from typing import Any

from django import forms
from django.contrib import admin
from django.db import models
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from orchestration.selectors.organization import organization_unit_list
from orchestration.selectors.settings import setting_list

from .engine.settings import DEFINITIONS
from .errors import ApplicationError
from .integrations.highlighting import highlight_css, highlight_json, highlight_sheet
from .language.lines import normalize
from .models import (
    Backtest,
    FalloutRule,
    IdempotencyKey,
    NetworkVersion,
    OrchestrationClaim,
    OrchestrationDetails,
    OrchestrationDrain,
    Order,
    OrderChange,
    OrderEvent,
    OrderFulfillment,
    OrderFulfillmentLine,
    OrderLine,
    OrganizationUnit,
    OrganizationUnitSet,
    OrganizationUnitType,
    Plan,
    PlanScenario,
    PlanStep,
    PlanStepAttempt,
    PlanTransition,
    Product,
    Setting,
    Sheet,
    SheetRevision,
    StepDefinition,
    StepDependency,
    StepGroup,
    StepGroupVersion,
    Stock,
    UserPreference,
)
from .permissions import (
    CREATE_SHEETS,
    DELETE_SHEETS,
    DESIGN_PLANS,
    EDIT_SHEETS,
    VIEW_PLANS,
    VIEW_SHEETS,
)
from .services.orders import order_announce
from .services.settings import setting_set
from .services.sheets import (
    REVISED_FIELDS,
    sheet_create,
    sheet_delete,
    sheet_problems,
    sheet_update,
)
from .services.step_groups import (
    fallout_rule_delete,
    fallout_rule_set,
    fallout_rule_update,
    plan_scenario_check,
    plan_scenario_delete,
    plan_scenario_set,
    plan_scenario_update,
    step_group_version_activate,
)
from .services.stock import StockLevel, stock_upsert_many


class DatalistInput(forms.TextInput):
    """A text input that suggests values but accepts any (an open choice list)."""

    def __init__(self, options: Sequence[str], attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.options = options

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        list_id = f"{(attrs or {}).get('id', name)}_options"
        html = super().render(name, value, {**(attrs or {}), "list": list_id}, renderer)
        options = format_html_join("", '<option value="{}">', ((o,) for o in self.options))
        return format_html('{}<datalist id="{}">{}</datalist>', html, list_id, options)


def _link(obj: Any, label: str | None = None) -> SafeString | str:
    if obj is None:
        return "-"
    meta = obj._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, label or str(obj))


def _highlighted(html: SafeString) -> SafeString:
    return format_html(
        '<style>{}</style><div style="max-width: 100%; overflow: auto">{}</div>',
        highlight_css(),
        html,
    )


# --- Organization units, products, stock ---------------------------------


class StockInline(admin.TabularInline):
    model = Stock
    extra = 0
    fields = [
        "product",
        "organization_unit",
        "quantity_on_hand",
        "quantity_reserved",
        "quantity_available",
    ]
    # Counted stock is edited on the stock page, which saves through the
    # stock service; a plain save here could overwrite a fresh reservation.
    readonly_fields = ["quantity_on_hand", "quantity_reserved", "quantity_available"]
    autocomplete_fields = ["product", "organization_unit"]
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OrganizationUnitForm(forms.ModelForm):
    class Meta:
        model = OrganizationUnit
        fields = "__all__"  # noqa: DJ007 - the admin shows every field
        widgets = {
            "type": DatalistInput(OrganizationUnitType.values),
            "time_zone": DatalistInput(sorted(zoneinfo.available_timezones())),
        }


@admin.register(OrganizationUnitSet)
class OrganizationUnitSetAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "member_count"]
    search_fields = ["name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[OrganizationUnitSet]:
        return super().get_queryset(request).annotate(members=Count("organization_units"))

    @admin.display(description="members", ordering="members")
    def member_count(self, obj: OrganizationUnitSet) -> int:
        return obj.members  # type: ignore[attr-defined]


@admin.register(OrganizationUnit)
class OrganizationUnitAdmin(admin.ModelAdmin):
    form = OrganizationUnitForm
    list_display = [
        "name",
        "backend_id",
        "type",
        "status",
        "country_id",
        "address_city",
        "time_zone",
        "active_ship_from_store_tasks",
    ]
    list_filter = ["type", "status", "country_id", "sets"]
    search_fields = ["name", "backend_id", "address_city"]
    filter_horizontal = ["sets", "staff"]
    readonly_fields = ["active_ship_from_store_tasks", "created_at", "updated_at"]
    inlines = [StockInline]
    fieldsets = [
        (None, {"fields": ["name", "backend_id", "type", "status", "sets"]}),
        ("Staff", {"fields": ["staff"]}),
        (
            "Location",
            {
                "fields": [
                    "country_id",
                    "time_zone",
                    "address_street",
                    "address_zip_code",
                    "address_city",
                    "address_country_id",
                    "address_latitude",
                    "address_longitude",
                ]
            },
        ),
        (
            "More",
            {
                "fields": [
                    "custom_fields",
                    "active_ship_from_store_tasks",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[OrganizationUnit]:
        return organization_unit_list()

    @admin.display(description="active SFS tasks", ordering="active_ship_from_store_tasks")
    def active_ship_from_store_tasks(self, obj: OrganizationUnit) -> int:
        return getattr(obj, "active_ship_from_store_tasks", 0)


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["backend_id", "name", "updated_at"]
    search_fields = ["backend_id", "name"]
    filter_horizontal = ["replacements"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [StockInline]


@admin.register(Stock)
class StockAdmin(admin.ModelAdmin):
    list_display = [
        "product",
        "organization_unit",
        "quantity_on_hand",
        "quantity_reserved",
        "quantity_available",
        "updated_at",
    ]
    list_filter = ["organization_unit__type", "organization_unit"]
    search_fields = [
        "product__backend_id",
        "product__name",
        "organization_unit__backend_id",
        "organization_unit__name",
    ]
    list_select_related = ["product", "organization_unit"]
    autocomplete_fields = ["product", "organization_unit"]
    # Reservations belong to orchestration; only the counted stock is edited here.
    readonly_fields = ["quantity_reserved", "quantity_available", "updated_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # The pair is the row's identity; change the count, not what it counts.
        pair = ["organization_unit", "product"] if obj is not None else []
        return [*pair, *self.readonly_fields]

    def save_model(
        self, request: HttpRequest, obj: Stock, form: forms.ModelForm, change: bool
    ) -> None:
        # Only quantity_on_hand is written, conditionally: a reservation made
        # since the form was loaded is kept, not overwritten.
        stock_upsert_many(
            levels=[
                StockLevel(
                    organization_unit=obj.organization_unit_id,
                    product=obj.product_id,
                    quantity_on_hand=obj.quantity_on_hand,
                )
            ]
        )
        obj.pk = Stock.objects.get(
            organization_unit_id=obj.organization_unit_id, product_id=obj.product_id
        ).pk


# --- Orders and fulfilments -----------------------------------------------


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    fields = [
        "product",
        "quantity",
        "unit_price",
        "unit_price_in_tax",
        "discount_amount",
        "is_gift_wrapped",
        "preferred_fulfillment_organization_unit",
        "status",
        "quantity_shipped",
        "quantity_cancelled",
    ]
    readonly_fields = ["quantity_shipped", "quantity_cancelled"]
    autocomplete_fields = ["product", "preferred_fulfillment_organization_unit"]
    show_change_link = True


class OrderFulfillmentInline(admin.TabularInline):
    model = OrderFulfillment
    extra = 0
    fields = [
        "fulfillment_link",
        "action",
        "supplier_organization_unit",
        "status",
        "sheet_name",
        "created_at",
    ]
    # fields is a flat list of names here, as readonly_fields takes (mypy sees the base's type).
    readonly_fields = fields  # type: ignore[assignment]
    can_delete = False
    verbose_name_plural = "fulfillments (open one to see its lines)"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="fulfillment")
    def fulfillment_link(self, obj: OrderFulfillment) -> SafeString | str:
        return _link(obj, f"#{obj.pk}")


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "backend_id",
        "intent",
        "status",
        "sold_from_organization_unit",
        "shipping_city",
        "line_count",
        "placed_at",
    ]
    list_filter = ["status", "intent", "requested_fulfillment_option", "placed_at"]
    search_fields = ["backend_id", "customer_email", "shipping_city"]
    date_hierarchy = "placed_at"
    autocomplete_fields = ["sold_from_organization_unit", "original_order"]
    readonly_fields = [
        "created_at",
        "updated_at",
        "created_by",
        "orchestration_failures",
        "orchestration_error",
    ]
    inlines = [OrderLineInline, OrderFulfillmentInline]

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        if not change:  # lines are saved by now: route the new order after commit
            # The admin lets in only staff users: never AnonymousUser.
            order_announce(order=form.instance, user=request.user, via="admin")  # type: ignore[arg-type]

    fieldsets = [
        (
            None,
            {
                "fields": [
                    "backend_id",
                    "intent",
                    "status",
                    "sold_from_organization_unit",
                    "original_order",
                    "customer_email",
                    "currency_id",
                    "allow_partial_fulfillment",
                    "requested_fulfillment_option",
                    "placed_at",
                ]
            },
        ),
        (
            "Shipping address",
            {
                "fields": [
                    "shipping_street",
                    "shipping_zip_code",
                    "shipping_city",
                    "shipping_country_id",
                    "shipping_latitude",
                    "shipping_longitude",
                    "shipping_is_pickup_point",
                ]
            },
        ),
        (
            "Billing address",
            {
                "fields": [
                    "billing_street",
                    "billing_zip_code",
                    "billing_city",
                    "billing_country_id",
                    "billing_latitude",
                    "billing_longitude",
                    "billing_is_pickup_point",
                ],
                "classes": ["collapse"],
            },
        ),
        ("More", {"fields": ["custom_fields", "created_at", "updated_at", "created_by"]}),
        # Retry a failed orchestration from the Suite's order page or the API.
        ("Orchestration", {"fields": ["orchestration_failures", "orchestration_error"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Order]:
        return (
            super()
            .get_queryset(request)
            .select_related("sold_from_organization_unit")
            .annotate(lines_count=Count("lines"))
        )

    @admin.display(description="lines", ordering="lines_count")
    def line_count(self, obj: Order) -> int:
        return obj.lines_count  # type: ignore[attr-defined]


@admin.register(OrderLine)
class OrderLineAdmin(admin.ModelAdmin):
    list_display = ["__str__", "order", "product", "quantity", "status"]
    list_filter = ["status"]
    search_fields = ["order__backend_id", "product__backend_id"]
    list_select_related = ["order", "product"]
    autocomplete_fields = ["order", "product", "preferred_fulfillment_organization_unit"]


class OrderFulfillmentLineInline(admin.TabularInline):
    model = OrderFulfillmentLine
    extra = 0
    fields = [
        "order_line",
        "product",
        "quantity",
        "status",
        "cancellation_reason",
        "started_at",
        "completed_at",
        "cancelled_at",
    ]
    readonly_fields = ["order_line", "product", "quantity"]
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(OrderEvent)
class OrderEventAdmin(admin.ModelAdmin):
    """The order timelines, read-only: events are written by the services only."""

    list_display = ["at", "order", "kind", "actor", "message", "webhook_status"]
    list_filter = ["kind", "webhook_status"]
    search_fields = ["order__backend_id", "message", "actor"]
    list_select_related = ["order"]
    date_hierarchy = "at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(NetworkVersion)
class NetworkVersionAdmin(admin.ModelAdmin):
    """The network's token, read-only: it changes by itself whenever an OU, set,
    product, sheet or setting does (workers then read the network again)."""

    list_display = ["token", "changed_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(OrchestrationClaim)
class OrchestrationClaimAdmin(admin.ModelAdmin):
    """The drains' claims on the orders they route, read-only: no other drain claims
    an order for 2 minutes after (``docs/lifecycle.md``); the sweep drops them then."""

    list_display = ["order", "claimed_at"]
    list_select_related = ["order"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(OrchestrationDrain)
class OrchestrationDrainAdmin(admin.ModelAdmin):
    """The drains of new orders asked for and not started yet, read-only (new orders
    take the slots, drains free them: ``docs/lifecycle.md``). The sweep frees a slot
    held for longer than 2 minutes; deleting one frees it at once."""

    list_display = ["slot", "rung_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(OrderFulfillment)
class OrderFulfillmentAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "order",
        "action",
        "supplier_organization_unit",
        "status",
        "sheet_name",
        "created_at",
    ]
    list_filter = ["action", "status", "export_status", "is_fanout"]
    search_fields = ["order__backend_id", "supplier_organization_unit__backend_id", "sheet_name"]
    list_select_related = ["order", "supplier_organization_unit"]
    readonly_fields = [
        "order",
        "sheet",
        "sheet_name",
        "supplier_organization_unit",
        "action",
        "details_link",
        "data_json",
        "created_at",
        "updated_at",
    ]
    exclude = ["orchestration_details", "data"]
    inlines = [OrderFulfillmentLineInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Fulfilments are made by orchestration, never by hand.
        return False

    @admin.display(description="orchestration details")
    def details_link(self, obj: OrderFulfillment) -> SafeString | str:
        return _link(obj.orchestration_details)

    @admin.display(description="data")
    def data_json(self, obj: OrderFulfillment) -> SafeString:
        return _highlighted(highlight_json(obj.data))


@admin.register(OrderFulfillmentLine)
class OrderFulfillmentLineAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "fulfillment",
        "order_line",
        "product",
        "quantity",
        "status",
        "cancellation_reason",
    ]
    list_filter = ["status", "cancellation_reason"]
    list_select_related = ["fulfillment", "order_line", "product"]
    readonly_fields = [
        "fulfillment",
        "order_line",
        "product",
        "quantity",
        "created_at",
        "updated_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class ExpiryFilter(admin.SimpleListFilter):
    title = "blob"
    parameter_name = "blob"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("kept", "Kept"), ("expired", "Expired")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        now = timezone.now()
        if self.value() == "kept":
            return queryset.filter(expires_at__gt=now, purged_at__isnull=True)
        if self.value() == "expired":
            return queryset.exclude(expires_at__gt=now, purged_at__isnull=True)
        return queryset


@admin.register(OrchestrationDetails)
class OrchestrationDetailsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "order", "at", "created_at", "expires_at", "is_kept"]
    list_filter = [ExpiryFilter]
    search_fields = ["order__backend_id"]
    readonly_fields = ["order", "at", "created_at", "expires_at", "purged_at", "blob_json"]
    exclude = ["blob"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="kept", boolean=True)
    def is_kept(self, obj: OrchestrationDetails) -> bool:
        return not obj.is_expired(timezone.now())

    @admin.display(description="blob")
    def blob_json(self, obj: OrchestrationDetails) -> SafeString | str:
        if obj.is_expired(timezone.now()):
            return f"Expired on {obj.expires_at:%Y-%m-%d %H:%M}; the blob is no longer kept."
        return _highlighted(highlight_json(obj.blob))


# --- Sheets -----------------------------------------------------------------


class SheetRevisionInline(admin.TabularInline):
    model = SheetRevision
    extra = 0
    fields = ["number", "name", "is_active", "author", "created_at", "comment"]
    # fields is a flat list of names here, as readonly_fields takes (mypy sees the base's type).
    readonly_fields = fields  # type: ignore[assignment]
    can_delete = False
    ordering = ["-number"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(VIEW_SHEETS)


class SheetForm(forms.ModelForm):
    comment = forms.CharField(
        required=False, max_length=500, help_text="What changed (kept with the revision)."
    )

    class Meta:
        model = Sheet
        fields = ["fulfillment", "name", "is_active", "source"]
        widgets = {
            "source": forms.Textarea(
                attrs={"rows": 24, "cols": 100, "style": "font-family: monospace"}
            )
        }

    def clean(self) -> dict[str, Any]:
        # The same check the service makes, shown on the form's fields.
        cleaned = super().clean() or {}
        if "fulfillment" in cleaned and "source" in cleaned:
            source = normalize(cleaned["source"])
            for problem in sheet_problems(fulfillment=cleaned["fulfillment"], source=source):
                hint = f" ({problem['hint']})" if problem.get("hint") else ""
                self.add_error(problem["field"], f"{problem['message']}{hint}")
        return cleaned


@admin.register(Sheet)
class SheetAdmin(admin.ModelAdmin):
    form = SheetForm
    list_display = [
        "id",
        "name",
        "fulfillment",
        "action",
        "is_active",
        "revision",
        "updated_by",
        "updated_at",
    ]
    list_display_links = ["id", "name"]
    list_filter = ["is_active"]
    search_fields = ["name", "fulfillment"]
    readonly_fields = [
        "highlighted_source",
        "editor_link",
        "revision",
        "created_by",
        "created_at",
        "updated_by",
        "updated_at",
    ]
    inlines = [SheetRevisionInline]
    fieldsets = [
        (None, {"fields": ["name", "fulfillment", "is_active", "revision", "editor_link"]}),
        ("Source", {"fields": ["highlighted_source", "source", "comment"]}),
        ("History", {"fields": ["created_by", "created_at", "updated_by", "updated_at"]}),
    ]

    # EVA's SymphonySheets permissions, not Django's defaults.
    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(VIEW_SHEETS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(CREATE_SHEETS)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(EDIT_SHEETS)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(DELETE_SHEETS)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return super().has_module_permission(request) or self.has_view_permission(request)

    @admin.display(description="source (highlighted)")
    def highlighted_source(self, obj: Sheet) -> SafeString | str:
        if not obj.source:
            return "-"
        return _highlighted(highlight_sheet(obj.source))

    @admin.display(description="Suite editor")
    def editor_link(self, obj: Sheet) -> SafeString | str:
        try:
            url = reverse("sheets:sheet-edit", args=[obj.pk])
        except NoReverseMatch:
            return "The Suite editor is not installed yet."
        return format_html('<a href="{}">Open in the Suite editor</a>', url)

    def save_model(
        self, request: HttpRequest, obj: Sheet, form: forms.ModelForm, change: bool
    ) -> None:
        values = {
            field: form.cleaned_data[field]
            for field in REVISED_FIELDS
            if field in form.cleaned_data
        }
        comment = form.cleaned_data.get("comment", "")
        if change:
            saved = sheet_update(sheet=obj, user=request.user, comment=comment, **values)
        else:
            saved = sheet_create(user=request.user, comment=comment, **values)
        obj.pk, obj.revision = saved.pk, saved.revision

    def delete_model(self, request: HttpRequest, obj: Sheet) -> None:
        sheet_delete(sheet=obj)


@admin.register(SheetRevision)
class SheetRevisionAdmin(admin.ModelAdmin):
    list_display = ["sheet", "number", "name", "is_active", "author", "created_at", "comment"]
    list_filter = ["is_active"]
    search_fields = ["sheet__name", "fulfillment", "comment"]
    list_select_related = ["sheet", "author"]
    readonly_fields = [
        "sheet",
        "number",
        "name",
        "fulfillment",
        "is_active",
        "comment",
        "author",
        "created_at",
        "highlighted_source",
    ]
    exclude = ["source"]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(VIEW_SHEETS)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="source")
    def highlighted_source(self, obj: SheetRevision) -> SafeString | str:
        return _highlighted(highlight_sheet(obj.source)) if obj.source else "-"


# --- Settings ---------------------------------------------------------------


class SettingForm(forms.ModelForm):
    name = forms.ChoiceField(choices=[(name, name) for name in sorted(DEFINITIONS)])
    value = forms.JSONField(
        required=False,
        help_text="As JSON: true/false, a number, a quoted string, or null.",
    )

    class Meta:
        model = Setting
        fields = ["name", "value"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        name = cleaned.get("name") or self.instance.name
        if name in DEFINITIONS:
            problem = DEFINITIONS[name].check(cleaned.get("value"))
            if problem:
                self.add_error("value", problem)
        return cleaned


@admin.register(Setting)
class SettingAdmin(admin.ModelAdmin):
    form = SettingForm
    list_display = ["name", "value", "default", "description"]
    search_fields = ["name"]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> Any:
        # Settings left at their default have no row: list them all above.
        context = {"known_settings": setting_list(), **(extra_context or {})}
        return super().changelist_view(request, extra_context=context)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # Renaming would store another setting and leave this one behind.
        return ["name"] if obj is not None else []

    @admin.display(description="default")
    def default(self, obj: Setting) -> Any:
        definition = DEFINITIONS.get(obj.name)
        return definition.default if definition else "(unknown setting)"

    @admin.display(description="meaning")
    def description(self, obj: Setting) -> str:
        definition = DEFINITIONS.get(obj.name)
        return definition.description if definition else ""

    def save_model(
        self, request: HttpRequest, obj: Setting, form: forms.ModelForm, change: bool
    ) -> None:
        saved = setting_set(name=form.cleaned_data["name"], value=form.cleaned_data["value"])
        obj.pk = saved.pk


@admin.register(UserPreference)
class UserPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "dark_mode"]
    search_fields = ["user__username"]


@admin.register(Backtest)
class BacktestAdmin(admin.ModelAdmin):
    list_display = ["id", "created_at", "created_by", "order_count", "status", "done", "total"]
    list_filter = ["status"]
    readonly_fields = [
        "created_by",
        "created_at",
        "finished_at",
        "drafts",
        "order_count",
        "status",
        "total",
        "done",
        "summary",
        "changes",
        "error",
    ]


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    """The API's idempotency keys, read-only (the API writes them; the daily purge drops
    them after 24 hours). Deleting one lets its key create an order again."""

    list_display = ["key", "user", "created_at", "response_status", "locked_at"]
    list_filter = ["response_status"]
    search_fields = ["key", "user__username"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- Fulfilment plans (docs/plans.md) ------------------------------------------------
#
# A version is never edited in place: plans in flight run on it. A new version is made
# in the Suite (Plans) or by POST /api/step-groups/, both through
# services/step_groups.py, which checks the whole group first. Here versions, their
# steps and dependencies are read-only; a version can be activated (the service
# again). Scenarios and fallout rules are saved through their services too. The
# run-time rows (plans, steps, attempts, transitions) are read-only: the plans'
# service writes them, with the order's timeline.

VERSIONS_NOT_EDITED = (
    "Versions are not edited in place: plans in flight run on them. Save a new version "
    "in the Suite (Plans) or with POST /api/step-groups/."
)


class _ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _may_view_plans(request: HttpRequest) -> bool:
    return request.user.has_perm(VIEW_PLANS)


def _may_design_plans(request: HttpRequest) -> bool:
    return request.user.has_perm(VIEW_PLANS) and request.user.has_perm(DESIGN_PLANS)


class _DesignAdmin(admin.ModelAdmin):
    """The plans' design: Plans:View to see, Plans:Design to change (as in the Suite and
    the API), not each model's own permissions."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _may_view_plans(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _may_design_plans(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _may_design_plans(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _may_design_plans(request)


class _DesignReadOnlyAdmin(_ReadOnlyAdmin):
    """A version, its steps and dependencies: Plans:View to see; nobody changes them."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _may_view_plans(request)


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class StepGroupVersionInline(_ReadOnlyInline):
    model = StepGroupVersion

    fields = ["number", "is_active", "comment", "created_by", "created_at"]
    readonly_fields = fields  # type: ignore[assignment]  # a flat list, as readonly_fields takes
    ordering = ["-number"]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _may_view_plans(request)


@admin.register(StepGroup)
class StepGroupAdmin(_DesignAdmin):
    """A group's name and description; its versions are made by a save in the Suite or
    the API (a group is made with its first version)."""

    list_display = ["key", "name", "created_at"]
    search_fields = ["key", "name"]
    fields = ["key", "name", "description", "created_at"]
    readonly_fields = ["key", "created_at"]
    inlines = [StepGroupVersionInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class StepDefinitionInline(_ReadOnlyInline):
    model = StepDefinition

    fields = ["position", "key", "name", "type", "scope", "handler", "retry_kind", "depends_on"]
    readonly_fields = fields  # type: ignore[assignment]  # a flat list, as readonly_fields takes
    ordering = ["position"]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _may_view_plans(request)

    @admin.display(description="Depends on")
    def depends_on(self, obj: StepDefinition) -> str:
        return ", ".join(
            f"{dependency.depends_on.key} ({dependency.scope})"
            for dependency in obj.dependencies.select_related("depends_on")
        )


@admin.register(StepGroupVersion)
class StepGroupVersionAdmin(_DesignReadOnlyAdmin):
    list_display = ["group", "number", "is_active", "comment", "created_by", "created_at"]
    list_filter = ["is_active", "group"]
    list_select_related = ["group", "created_by"]
    fields = ["group", "number", "is_active", "comment", "created_by", "created_at", "note"]
    readonly_fields = fields  # type: ignore[assignment]  # a flat list, as readonly_fields takes
    inlines = [StepDefinitionInline]
    actions = ["activate"]

    @admin.display(description="Editing")
    def note(self, obj: StepGroupVersion) -> str:
        return VERSIONS_NOT_EDITED

    @admin.action(description="Activate the selected version (new plans take it)")
    def activate(self, request: HttpRequest, queryset: QuerySet[StepGroupVersion]) -> None:
        if not request.user.has_perm(DESIGN_PLANS):
            self.message_user(request, "You need the permission Plans:Design.", level="error")
            return
        versions = list(queryset)
        if len({version.group_id for version in versions}) != len(versions):
            self.message_user(request, "Select one version per group.", level="error")
            return
        for version in versions:
            step_group_version_activate(version_id=version.pk)
        self.message_user(request, f"Activated {len(versions)} version(s).")


@admin.register(StepDefinition)
class StepDefinitionAdmin(_DesignReadOnlyAdmin):
    # Read-only, but Django builds the form: say how a scheme-less URL would be read.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["key", "name", "type", "scope", "version"]
    list_filter = ["type", "scope"]
    search_fields = ["key", "name", "version__group__key"]
    list_select_related = ["version__group"]


@admin.register(StepDependency)
class StepDependencyAdmin(_DesignReadOnlyAdmin):
    list_display = ["step", "depends_on", "scope"]
    list_select_related = ["step", "depends_on"]


class PlanScenarioForm(forms.ModelForm):
    class Meta:
        model = PlanScenario
        fields = ["group", "action", "condition", "priority", "is_active"]

    def clean(self) -> dict[str, Any]:
        # The service's own check, shown on the form.
        cleaned = super().clean() or {}
        if cleaned.get("group") and cleaned.get("action"):
            try:
                plan_scenario_check(
                    group_key=cleaned["group"].key,
                    action=cleaned["action"],
                    condition=cleaned.get("condition"),
                    priority=cleaned.get("priority") or 0,
                )
            except ApplicationError as error:
                field = (error.field or "condition").split(".")[0]
                self.add_error(field if field in self.fields else None, error.message)
        return cleaned


@admin.register(PlanScenario)
class PlanScenarioAdmin(_DesignAdmin):
    form = PlanScenarioForm
    list_display = ["action", "group", "priority", "is_active"]
    list_filter = ["action", "is_active"]
    list_select_related = ["group"]

    def save_model(self, request: HttpRequest, obj: PlanScenario, form: Any, change: bool) -> None:
        if change:
            saved = plan_scenario_update(
                scenario_id=obj.pk,
                group_key=obj.group.key,
                action=obj.action,
                condition=obj.condition,
                priority=obj.priority,
                is_active=obj.is_active,
            )
        else:
            saved = plan_scenario_set(
                group_key=obj.group.key,
                action=obj.action,
                condition=obj.condition,
                priority=obj.priority,
            )
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: PlanScenario) -> None:
        plan_scenario_delete(scenario_id=obj.pk)


@admin.register(FalloutRule)
class FalloutRuleAdmin(_DesignAdmin):
    list_display = ["step_key", "error_code", "queue", "priority"]
    search_fields = ["step_key", "error_code", "queue"]

    def save_model(self, request: HttpRequest, obj: FalloutRule, form: Any, change: bool) -> None:
        key, code, queue, priority = obj.step_key, obj.error_code, obj.queue, obj.priority
        saved = (
            fallout_rule_update(
                rule_id=obj.pk, step_key=key, error_code=code, queue=queue, priority=priority
            )
            if change
            else fallout_rule_set(step_key=key, error_code=code, queue=queue, priority=priority)
        )
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: FalloutRule) -> None:
        fallout_rule_delete(rule_id=obj.pk)


class PlanStepInline(_ReadOnlyInline):
    model = PlanStep
    fields = [
        "definition",
        "line",
        "state",
        "attempts",
        "next_run_at",
        "started_at",
        "completed_at",
        "at_risk",
        "assignee",
        "fallout_queue",
        "error",
    ]
    readonly_fields = fields  # type: ignore[assignment]  # a flat list, as readonly_fields takes
    ordering = ["definition__position", "line_id", "id"]


@admin.register(Plan)
class PlanAdmin(_ReadOnlyAdmin):
    """A fulfilment's plan and its steps, read-only: the plans' service writes them."""

    list_display = ["id", "order", "fulfillment", "version", "purpose", "state", "created_at"]
    list_filter = ["state", "purpose"]
    search_fields = ["order__backend_id"]
    list_select_related = ["order", "fulfillment", "version__group"]
    raw_id_fields = ["order", "fulfillment"]
    inlines = [PlanStepInline]


@admin.register(PlanStep)
class PlanStepAdmin(_ReadOnlyAdmin):
    list_display = ["id", "plan", "definition", "line", "state", "attempts", "fallout_queue"]
    list_filter = ["state", "at_risk"]
    search_fields = ["plan__order__backend_id", "definition__key"]
    list_select_related = ["plan", "definition", "line"]


@admin.register(PlanStepAttempt)
class PlanStepAttemptAdmin(_ReadOnlyAdmin):
    list_display = ["step", "number", "outcome", "started_at", "finished_at", "error_code"]
    list_filter = ["outcome"]
    list_select_related = ["step__definition"]


@admin.register(PlanTransition)
class PlanTransitionAdmin(_ReadOnlyAdmin):
    list_display = ["at", "plan", "step", "from_state", "to_state", "actor", "message"]
    list_select_related = ["plan", "step__definition"]
    search_fields = ["plan__order__backend_id", "message"]


@admin.register(OrderChange)
class OrderChangeAdmin(_ReadOnlyAdmin):
    """In-flight changes (supplemental orders): made through the API, kept as they were."""

    list_display = ["order", "number", "summary", "status", "created_at", "created_by"]
    list_filter = ["status"]
    list_select_related = ["order", "created_by"]
    search_fields = ["order__backend_id", "summary"]
