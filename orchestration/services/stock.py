"""Stock writes: reserve and release (one conditional UPDATE each) and bulk upsert.

Modelled on Saleor's ``warehouse/management.py``, but a reservation never reads
then writes: the database decides in one statement whether enough is available,
so concurrent orders can never reserve more than is on hand.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from ..errors import ApplicationError, ConflictError
from ..models import OrganizationUnit, Product, Stock


def stock_reserve(*, organization_unit_id: int, product_id: int, quantity: int) -> bool:
    """Reserve ``quantity`` units if that many are available; say whether it did."""
    if quantity < 1:
        raise ApplicationError(
            "The quantity to reserve must be at least 1.",
            code="invalid_quantity",
            field="quantity",
        )
    updated = Stock.objects.filter(
        organization_unit_id=organization_unit_id,
        product_id=product_id,
        quantity_available__gte=quantity,
    ).update(quantity_reserved=F("quantity_reserved") + quantity, updated_at=timezone.now())
    return updated == 1


def stock_release(*, organization_unit_id: int, product_id: int, quantity: int) -> None:
    """Give back ``quantity`` reserved units; refuse to release more than is reserved."""
    if quantity < 1:
        raise ApplicationError(
            "The quantity to release must be at least 1.",
            code="invalid_quantity",
            field="quantity",
        )
    updated = Stock.objects.filter(
        organization_unit_id=organization_unit_id,
        product_id=product_id,
        quantity_reserved__gte=quantity,
    ).update(quantity_reserved=F("quantity_reserved") - quantity, updated_at=timezone.now())
    if updated != 1:
        raise ConflictError(
            f"Cannot release {quantity} units: fewer are reserved.",
            code="not_reserved",
            field="quantity",
        )


@dataclass(frozen=True, slots=True)
class StockLevel:
    """The counted stock of one product at one OU, as an upsert sets it."""

    organization_unit: OrganizationUnit
    product: Product
    quantity_on_hand: int


def stock_upsert_many(*, levels: Sequence[StockLevel]) -> dict[str, int]:
    """Set the on-hand quantity of many (OU, product) pairs at once.

    Reservations are kept. All or nothing: if any level is invalid (a pair
    given twice, or on hand below what is already reserved), nothing is
    written and every fault is reported with its index.
    """
    errors = []
    seen: dict[tuple[int, int], int] = {}
    for index, level in enumerate(levels):
        pair = (level.organization_unit.pk, level.product.pk)
        if pair in seen:
            errors.append(
                {
                    "code": "duplicate",
                    "message": (f"Same organization unit and product as item {seen[pair]}."),
                    "field": f"[{index}]",
                }
            )
        seen.setdefault(pair, index)
    with transaction.atomic():
        reserved = {
            (row.organization_unit_id, row.product_id): row.quantity_reserved
            for row in Stock.objects.filter(
                organization_unit__in={level.organization_unit for level in levels},
                product__in={level.product for level in levels},
            ).select_for_update()
        }
        for index, level in enumerate(levels):
            pair = (level.organization_unit.pk, level.product.pk)
            if level.quantity_on_hand < reserved.get(pair, 0):
                errors.append(
                    {
                        "code": "below_reserved",
                        "message": (
                            f"{reserved[pair]} units of {level.product.backend_id} are "
                            f"reserved at {level.organization_unit.backend_id}; on hand "
                            "cannot be set below that."
                        ),
                        "field": f"[{index}].quantity_on_hand",
                    }
                )
        if errors:
            raise ApplicationError(errors[0]["message"], code="invalid_stock", errors=errors)
        now = timezone.now()
        try:
            Stock.objects.bulk_create(
                [
                    Stock(
                        organization_unit=level.organization_unit,
                        product=level.product,
                        quantity_on_hand=level.quantity_on_hand,
                        updated_at=now,
                    )
                    for level in levels
                ],
                update_conflicts=True,
                unique_fields=["organization_unit", "product"],
                update_fields=["quantity_on_hand", "updated_at"],
            )
        except IntegrityError as error:
            # SQLite ignores select_for_update: a reservation made between the
            # check and the write lands here instead.
            raise ConflictError(
                "Stock changed while it was being updated; send the request again.",
                code="conflict",
            ) from error
    created = sum(1 for pair in seen if pair not in reserved)
    return {"created": created, "updated": len(seen) - created}
