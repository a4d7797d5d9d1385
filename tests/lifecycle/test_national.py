"""A national network: what a run reads of it, and the generated world it is measured on.

- A run routes a sales order over the OUs with stock of its products only
  (``order_scenario(stocked_only=True)``): the same decision as over every OU, an
  explanation without the OUs that hold none, unless the setting
  ``Orchestration:ExplainSuppliersWithoutStock`` asks for them.
- The network snapshot is read with plain queries (``selectors.network._read``): it
  must give what the ORM gives, and a stock change must not make a process read it
  again, while an OU change must.
- ``manage.py bench world`` COPYs a generated world into PostgreSQL: its rows must be
  valid for the models, and ``bench persist --world national`` must leave the
  database as it found it.
"""

import re
from collections.abc import Callable
from io import StringIO
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from orchestration.benchmarks import national
from orchestration.engine import model as engine_model
from orchestration.engine.network import network_of
from orchestration.models import (
    OrchestrationDetails,
    Order,
    OrganizationUnit,
    OrganizationUnitSet,
    Product,
    Sheet,
    Stock,
)
from orchestration.selectors.network import (
    address,
    network_forget,
    network_snapshot,
    network_token,
)
from orchestration.services.settings import setting_set
from orchestration.services.stock import StockLevel, stock_upsert_many

from .conftest import unit

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the world is loaded with PostgreSQL's COPY"
)

# Stocked at three shops and the Lelystad warehouse only (orchestration/demo/data.py).
SILK = "SCF-SILK-LTD"


def suppliers_named(order: Order) -> set[int]:
    """The OUs the run's explanation names: rejected, dropped or valid."""
    blob = OrchestrationDetails.objects.get(order=order).blob
    named = {entry["SupplierID"] for entry in blob["Rejections"] + blob["ValidSuppliers"]}
    dropped = blob["Dropped"]
    named |= {row[0] for row in dropped.get("Suppliers", [])}
    for summary in dropped.get("Summary", []):
        named |= set(summary["SupplierIDs"])
    return named - {None}


def winners(order: Order) -> list[tuple[str, str]]:
    return sorted(
        order.fulfillments.values_list("action", "supplier_organization_unit__backend_id")
    )


@pytest.mark.django_db
def test_a_run_explains_only_the_ous_with_stock_and_decides_as_over_all(
    place: Callable[..., Order], client: Any, admin_user: Any
) -> None:
    stocked = set(
        Stock.objects.filter(product__backend_id=SILK, quantity_on_hand__gt=0).values_list(
            "organization_unit_id", flat=True
        )
    )
    assert len(stocked) == 4

    pruned = place(SILK)
    named = suppliers_named(pruned)
    assert named <= stocked
    assert unit("1187").pk in named  # the shop that won it
    # The others are counted, not listed: the explanation accounts for every OU.
    left_out = OrganizationUnit.objects.count() - len(stocked)
    blob = OrchestrationDetails.objects.get(order=pruned).blob
    assert blob["SuppliersWithoutStock"] == left_out > 0
    client.force_login(admin_user)
    page = client.get(f"/orders/{pruned.pk}/runs/1/")
    assert (
        f"{left_out} other organization units held none of the order's products in stock "
        "and were not weighed"
    ) in page.content.decode()

    setting_set(name="Orchestration:ExplainSuppliersWithoutStock", value=True)
    everyone = place(SILK)
    assert unit("1026").pk in suppliers_named(everyone)  # a shop without any: rejected
    assert "SuppliersWithoutStock" not in OrchestrationDetails.objects.get(order=everyone).blob
    assert suppliers_named(everyone) > named
    assert winners(pruned) == winners(everyone) == [("SHIP_FROM_STORE", "1187")]


@pytest.mark.django_db
def test_a_stock_change_keeps_the_snapshot_and_an_ou_change_reads_it_again(demo: None) -> None:
    network_forget()
    first = network_snapshot(network_token())
    shop, silk = unit("1026"), Product.objects.get(backend_id=SILK)
    stock_upsert_many(
        levels=[StockLevel(organization_unit=shop.pk, product=silk.pk, quantity_on_hand=5)]
    )
    assert network_snapshot(network_token()) is first

    shop.name = "Utrecht Hoog Catharijne"
    shop.save()
    again = network_snapshot(network_token())
    assert again is not first
    assert next(u for u in again.units if u.id == shop.pk).name == "Utrecht Hoog Catharijne"


@pytest.mark.django_db
def test_a_replaced_snapshot_takes_the_engine_s_indexes_of_it_along(demo: None) -> None:
    network_forget()
    first = network_snapshot(network_token())
    over_first: Any = SimpleNamespace(organization_units=first.units, products=first.products)
    indexes = network_of(over_first)
    assert network_of(over_first) is indexes  # kept while the snapshot is current

    unit("1026").save()  # a change: the next order reads the network again
    network_snapshot(network_token())
    assert network_of(over_first) is not indexes  # released, not kept among the last few


@pytest.mark.django_db
def test_the_snapshot_gives_the_ous_and_products_as_the_orm_reads_them(demo: None) -> None:
    printers = OrganizationUnitSet.objects.create(name="Printers")
    unit("1187").sets.add(printers)
    silk = Product.objects.get(backend_id=SILK)
    silk.replacements.add(*Product.objects.filter(backend_id__startswith="SCF-WOOL"))
    Product.objects.create(backend_id="EMPTY-1", name="No content")
    network_forget()

    snapshot = network_snapshot(network_token())

    assert snapshot.units == tuple(
        engine_model.OrganizationUnit(
            id=row.pk,
            name=row.name,
            backend_id=row.backend_id or None,
            type=row.type,
            status=row.status,
            country_id=row.country_id or None,
            time_zone=row.time_zone,
            address=address(row, "address"),
            set_names=tuple(sorted(s.name for s in row.sets.all())),
            custom_fields=row.custom_fields,
        )
        for row in OrganizationUnit.objects.order_by("id")
    )
    assert snapshot.products == tuple(
        engine_model.Product(
            id=row.pk,
            name=row.name,
            backend_id=row.backend_id or None,
            content=row.content,
            replacements=tuple(sorted(r.pk for r in row.replacements.all())),
        )
        for row in Product.objects.order_by("id")
    )
    assert snapshot.products_by_id[silk.pk].replacements
    assert snapshot.products_by_backend_id["EMPTY-1"].content == {}


@postgresql_only
@pytest.mark.django_db
def test_a_tiny_generated_world_is_copied_in_as_valid_rows_and_dropped_whole() -> None:
    size = national.SIZES["tiny"]
    token = network_token()
    out = StringIO()
    call_command("bench", "world", "--size", "tiny", stdout=out)

    units = OrganizationUnit.objects.filter(backend_id__startswith="NAT-")
    products = Product.objects.filter(backend_id__startswith="NAT-")
    stock = Stock.objects.filter(organization_unit__backend_id__startswith="NAT-")
    assert (units.count(), products.count(), stock.count()) == (
        size.ous,
        size.products,
        size.stock,
    )
    for row in [*units, *products[:50], *stock.select_related()[:200]]:
        row.full_clean()  # every validator of the model passes
    assert {u.type for u in units} >= {"Shop", "Warehouse"}
    assert not stock.exclude(organization_unit__type__in=["Shop", "Warehouse"]).exists()
    assert all(row.quantity_available == row.quantity_on_hand for row in stock[:100])
    assert set(Sheet.objects.filter(is_active=True).values_list("fulfillment", flat=True)) >= {
        name for name, _n, _s in national.SHEETS
    }
    assert network_token() != token  # the network changed, although no signal fired
    assert re.search(
        r"^world 40 OUs, 300 products, 1,000 stock rows loaded with COPY in [\d.]+ s \(analyzed\)$",
        out.getvalue(),
        re.M,
    )

    again = StringIO()
    call_command("bench", "world", "--size", "tiny", stdout=again)
    assert again.getvalue() == "A generated world (NAT-*) is already loaded here: nothing done.\n"
    assert units.all().count() == size.ous

    call_command("bench", "world", "--drop", stdout=StringIO())
    assert not units.all().exists()
    assert not products.all().exists()
    assert not stock.all().exists()
    assert not Sheet.objects.filter(fulfillment__startswith="National").exists()


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_bench_persist_on_the_world_leaves_no_order_and_the_stock_as_it_was() -> None:
    call_command("bench", "world", "--size", "tiny", stdout=StringIO())
    before = dict(Stock.objects.values_list("pk", "quantity_reserved"))
    out = StringIO()
    call_command("bench", "persist", "--world", "national", "--repeat", "6", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("network snapshot: 40 OUs, 300 products: read again after")
    assert lines[1].startswith("persist on the national world: 6 orders of 1 to 3 lines")
    assert not Order.objects.exists()
    assert dict(Stock.objects.values_list("pk", "quantity_reserved")) == before


@postgresql_only
@pytest.mark.django_db
def test_bench_persist_on_a_database_without_the_world_says_what_to_run() -> None:
    with pytest.raises(Exception, match=r"no generated world here: run `manage.py bench world`"):
        call_command("bench", "persist", "--world", "national", stdout=StringIO())
