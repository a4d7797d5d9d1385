"""Organization units (shops, warehouses, ...), their sets, products and stock."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from ..permissions import ORGANIZATION_UNIT_PERMISSIONS
from ..validators import (
    validate_backend_id,
    validate_country_id,
    validate_json_object,
    validate_time_zone,
)

LATITUDE_VALIDATORS = [MinValueValidator(-90.0), MaxValueValidator(90.0)]
LONGITUDE_VALIDATORS = [MinValueValidator(-180.0), MaxValueValidator(180.0)]


class OrganizationUnitType(models.TextChoices):
    """The usual OU types. The field is open: any other type may be stored,
    sheets compare it as written (``Supplier.Type = 'Franchise'``)."""

    SHOP = "Shop"
    WAREHOUSE = "Warehouse"
    SUPPLIER = "Supplier"
    RETURNS_PORTAL = "ReturnsPortal"
    COMPANY = "Company"
    WEBSHOP = "WebShop"
    COUNTRY = "Country"


class OrganizationUnitStatus(models.TextChoices):
    """Whether an OU takes part in business at all (``Supplier.Status``)."""

    OPEN = "Open"
    CLOSED = "Closed"


class OrganizationUnitSet(models.Model):
    """A named group of OUs; a sheet reads an OU's sets as ``Supplier.SetNames``."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "organization unit set"

    def __str__(self) -> str:
        return self.name


class OrganizationUnit(models.Model):
    """A shop, warehouse, supplier, returns portal, ...: anything that can sell,
    stock or fulfil. Sheets decide which of them are suppliers for an order."""

    name = models.CharField(max_length=200)
    backend_id = models.CharField(
        "backend ID", max_length=100, unique=True, validators=[validate_backend_id]
    )
    type = models.CharField(
        max_length=50,
        default=OrganizationUnitType.SHOP,
        help_text="Shop, Warehouse, Supplier, ReturnsPortal, Company, or any other type.",
    )
    status = models.CharField(
        max_length=20,
        choices=OrganizationUnitStatus.choices,
        default=OrganizationUnitStatus.OPEN,
    )
    country_id = models.CharField("country ID", max_length=2, validators=[validate_country_id])
    time_zone = models.CharField(
        max_length=64,
        default="Europe/Amsterdam",
        validators=[validate_time_zone],
        help_text="IANA name; a sheet's Supplier.LocalTime is the clock in this zone.",
    )
    address_street = models.CharField("street", max_length=200, blank=True)
    address_zip_code = models.CharField("zip code", max_length=20, blank=True)
    address_city = models.CharField("city", max_length=100, blank=True)
    address_country_id = models.CharField(
        "address country ID",
        max_length=2,
        blank=True,
        validators=[validate_country_id],
    )
    address_latitude = models.FloatField(
        "latitude", null=True, blank=True, validators=LATITUDE_VALIDATORS
    )
    address_longitude = models.FloatField(
        "longitude", null=True, blank=True, validators=LONGITUDE_VALIDATORS
    )
    custom_fields = models.JSONField(default=dict, blank=True, validators=[validate_json_object])
    sets = models.ManyToManyField(
        OrganizationUnitSet, blank=True, related_name="organization_units"
    )
    staff = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="organization_units",
        help_text=(
            "Who works here: they see and work this unit's fulfilments. Users with the "
            "permission 'Can see and work the fulfilments of every organization unit' "
            "need not be listed."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "organization unit"
        permissions = [*ORGANIZATION_UNIT_PERMISSIONS]
        indexes = [models.Index(fields=["type", "status"], name="ou_type_status")]
        constraints = [
            models.CheckConstraint(
                condition=Q(address_latitude__isnull=True)
                | Q(address_latitude__gte=-90, address_latitude__lte=90),
                name="ou_latitude_range",
            ),
            models.CheckConstraint(
                condition=Q(address_longitude__isnull=True)
                | Q(address_longitude__gte=-180, address_longitude__lte=180),
                name="ou_longitude_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.backend_id})"


class Product(models.Model):
    """A sellable product; ``content`` holds its custom properties
    (``Product.Content.X`` in a sheet)."""

    backend_id = models.CharField(
        "backend ID", max_length=100, unique=True, validators=[validate_backend_id]
    )
    name = models.CharField(max_length=200)
    content = models.JSONField(default=dict, blank=True, validators=[validate_json_object])
    replacements = models.ManyToManyField(
        "self",
        symmetrical=False,
        blank=True,
        related_name="replaced_products",
        help_text=(
            "Products that may stand in for this one when a sheet sets "
            "UseReplacementProductsForStock."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["backend_id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.backend_id})"


class Stock(models.Model):
    """The stock of one product at one OU.

    ``quantity_available`` is computed by the database, so a reservation can be
    one conditional UPDATE (``... WHERE quantity_available >= n``) that two
    concurrent orders can never both win beyond what is there.
    """

    organization_unit = models.ForeignKey(
        OrganizationUnit, on_delete=models.CASCADE, related_name="stock"
    )
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="stock")
    quantity_on_hand = models.PositiveIntegerField(default=0)
    quantity_reserved = models.PositiveIntegerField(default=0)
    quantity_available = models.GeneratedField(
        expression=F("quantity_on_hand") - F("quantity_reserved"),
        output_field=models.IntegerField(),
        db_persist=True,
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization_unit_id", "product_id"]
        verbose_name_plural = "stock"
        constraints = [
            models.UniqueConstraint(
                fields=["organization_unit", "product"], name="stock_unique_ou_product"
            ),
            models.CheckConstraint(
                condition=Q(quantity_on_hand__gte=0), name="stock_on_hand_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(quantity_reserved__gte=0),
                name="stock_reserved_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(quantity_reserved__lte=F("quantity_on_hand")),
                name="stock_reserved_within_on_hand",
            ),
        ]
        # The engine reads "every OU's stock of these products".
        indexes = [models.Index(fields=["product"], name="stock_product")]

    def __str__(self) -> str:
        return (
            f"{self.product.backend_id} at {self.organization_unit.backend_id}: "
            f"{self.quantity_on_hand} on hand, {self.quantity_reserved} reserved"
        )
