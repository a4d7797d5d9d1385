"""The network snapshot each process keeps between orders.

Routing an order reads the whole network: every OU with its sets, every product
with its replacements, the active sheets and the settings. That changes a few
times a day; orders come all the time. So each process keeps one snapshot, tagged
with the token of ``NetworkVersion`` it was read under, and reads the network
again only when the token in the database differs. Handing the engine the *same*
tuples of OUs and products also lets it keep its own indexes of them between
routes (``engine/network.py``).

The token changes (to a new random value) whenever one of those rows is saved or
deleted, or a set or replacement is added or removed: the signal receivers below.
Code that changes them without signals (``bulk_create``, ``QuerySet.update``) must
call ``network_changed()`` itself; the project's own code does. A token is never
reused, so a snapshot read inside a transaction that was then rolled back can
never be taken for the network after the rollback.

Not part of the snapshot, read per order: stock, the order and its history, and
the shops' open ship-from-store tasks (only when a sheet reads
``Supplier.ActiveShipFromStoreTasks``).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType, SimpleNamespace
from typing import Any

from django.db import connection, transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from ..engine import model as engine_model
from ..engine.network import network_release
from ..models import (
    NetworkVersion,
    OrganizationUnit,
    OrganizationUnitSet,
    PlanScenario,
    Product,
    Setting,
    Sheet,
    StepDefinition,
    StepDependency,
    StepGroup,
    StepGroupVersion,
)
from ..plans import model as plans_model
from .plans import condition_spec, group_spec
from .settings import setting_list


def address(row: Any, prefix: str) -> engine_model.Address:
    """The engine's ``Address`` of a row's ``<prefix>_street``, ``_city``, ... fields
    (an OU's or an order's): blanks as None, coordinates as exact Decimals."""

    def decimal(value: float | None) -> Decimal | None:
        return None if value is None else Decimal(repr(value))

    return engine_model.Address(
        street=getattr(row, f"{prefix}_street") or None,
        city=getattr(row, f"{prefix}_city") or None,
        zip_code=getattr(row, f"{prefix}_zip_code") or None,
        country_id=getattr(row, f"{prefix}_country_id") or None,
        latitude=decimal(getattr(row, f"{prefix}_latitude")),
        longitude=decimal(getattr(row, f"{prefix}_longitude")),
        is_pickup_point=bool(getattr(row, f"{prefix}_is_pickup_point", False)),
    )


@dataclass(frozen=True, slots=True)
class NetworkSnapshot:
    """What routing reads of the network, as the engine takes it."""

    token: str | None
    units: tuple[engine_model.OrganizationUnit, ...]
    products: tuple[engine_model.Product, ...]
    sheets: tuple[engine_model.SheetSource, ...]  # the active ones, by ID
    settings: Mapping[str, Any]
    # The fulfilment plans' active scenarios, first by priority (``services/plans.py``):
    # an install without any pays no query for plans.
    plan_scenarios: tuple[PlanScenarioEntry, ...] = ()
    # The products by ID and by backend ID, made once per snapshot: at 100,000
    # products, a dictionary made per order took milliseconds of each run.
    products_by_id: Mapping[int, engine_model.Product] = field(default_factory=dict)
    products_by_backend_id: Mapping[str | None, engine_model.Product] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PlanVersion:
    """A step group's active version as plans are built from it: the pure core's
    spec and, by step key, the stored definition's ID."""

    id: int
    name: str  # the group's name and the version: "Ship from store, version 2"
    spec: plans_model.GroupSpec
    definitions: Mapping[str, int]
    # Manual steps with an assignment rule: assigned when they become Ready.
    assigned: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class PlanScenarioEntry:
    """An active plan scenario: the fulfilment action and condition it matches, and
    the active version of its group (None: the group has none, so it matches nothing)."""

    action: str
    condition: plans_model.Condition | None
    version: PlanVersion | None


# An OU's address columns (an OU has no pickup-point flag), as ``address`` reads them.
_OU_ADDRESS_PARTS = ("street", "city", "zip_code", "country_id", "latitude", "longitude")
_ADDRESS_NAMES = tuple(f"address_{part}" for part in _OU_ADDRESS_PARTS)

_lock = threading.Lock()
_snapshot: NetworkSnapshot | None = None


def network_token() -> str | None:
    """The network's current token (None if the row is missing, e.g. after a flush)."""
    return NetworkVersion.objects.filter(pk=1).values_list("token", flat=True).first()


def network_changed(**_signal: Any) -> None:
    """Give the network a new token (in the caller's transaction)."""
    token = uuid.uuid4().hex
    if not NetworkVersion.objects.filter(pk=1).update(token=token):
        with transaction.atomic():  # the row went missing (a flushed test database)
            NetworkVersion.objects.update_or_create(pk=1, defaults={"token": token})


def network_snapshot(token: str | None) -> NetworkSnapshot:
    """The network as of ``token`` (read just before, in the caller's transaction):
    this process's snapshot if it has that token, otherwise read now and kept.

    Without a token (no version row) nothing is kept: every call reads the network.
    """
    global _snapshot
    found = _snapshot
    if token is not None and found is not None and found.token == token:
        return found
    built = _read(token)
    if token is not None:
        with _lock:
            replaced, _snapshot = _snapshot, built
        if replaced is not None and replaced is not built:
            # Its OUs and products are not routed again: the engine's indexes of
            # them go with it, rather than stay among the last few it keeps.
            network_release(replaced.units, replaced.products)
    return built


def snapshot_reads_active_tasks() -> bool:
    """Whether this process's snapshot has a sheet that reads the shops' open tasks
    (then a run reads them with its lock): a guess, as the network may have changed
    since; ``order_scenario`` counts them itself when the guess was wrong."""
    found = _snapshot
    return found is not None and reads_active_tasks(found.sheets)


def network_forget() -> None:
    """Drop this process's snapshot (tests; the token check makes it unnecessary)."""
    global _snapshot
    with _lock:
        replaced, _snapshot = _snapshot, None
    if replaced is not None:
        network_release(replaced.units, replaced.products)


def _read(token: str | None) -> NetworkSnapshot:
    # Rows as values, not model instances, and the sets and replacements in one query
    # each, not prefetched: at 10,000 OUs and 100,000 products the ORM's instances and
    # its prefetch (an IN list of every product's ID) took 19 s and held 300 MB until
    # the next garbage collection (``bench persist --world national``).
    set_names: dict[int, list[str]] = {}
    for unit_id, name in OrganizationUnit.sets.through.objects.values_list(
        "organizationunit_id", "organizationunitset__name"
    ):
        set_names.setdefault(unit_id, []).append(name)
    fields = ("pk", "name", "backend_id", "type", "status", "country_id", "time_zone")
    parts = [f"address_{part}" for part in _OU_ADDRESS_PARTS]
    units = tuple(
        engine_model.OrganizationUnit(
            id=row[0],
            name=row[1],
            backend_id=row[2] or None,
            type=row[3],
            status=row[4],
            country_id=row[5] or None,
            time_zone=row[6],
            address=_address_of(row[7:-1]),
            set_names=tuple(sorted(set_names.get(row[0], ()))),
            custom_fields=row[-1],
        )
        for row in OrganizationUnit.objects.order_by("id")
        .values_list(*fields, *parts, "custom_fields")
        .iterator(chunk_size=5_000)
    )
    replacements: dict[int, list[int]] = {}
    for source, target in Product.replacements.through.objects.values_list(
        "from_product_id", "to_product_id"
    ):
        replacements.setdefault(source, []).append(target)
    products = _products_read(replacements)
    sheets = tuple(
        engine_model.SheetSource(sheet.pk, sheet.name, sheet.source, sheet.is_active)
        for sheet in Sheet.objects.filter(is_active=True).order_by("id")
    )
    settings = MappingProxyType({state.definition.name: state.value for state in setting_list()})
    scenarios = list(PlanScenario.objects.filter(is_active=True).order_by("-priority", "id"))
    active = {
        version.group_id: PlanVersion(
            version.pk,
            f"{version.group.name}, version {version.number}",
            group_spec(version),
            {definition.key: definition.pk for definition in version.steps.all()},
            frozenset(
                definition.key
                for definition in version.steps.all()
                if definition.type == "MANUAL" and definition.assignment != "NONE"
            ),
        )
        for version in StepGroupVersion.objects.filter(
            is_active=True, group__in={scenario.group_id for scenario in scenarios}
        )
        .select_related("group")
        .prefetch_related("steps__dependencies")
    }
    plan_scenarios = tuple(
        PlanScenarioEntry(
            scenario.action, condition_spec(scenario.condition), active.get(scenario.group_id)
        )
        for scenario in scenarios
    )
    return NetworkSnapshot(
        token,
        units,
        products,
        sheets,
        settings,
        plan_scenarios,
        MappingProxyType({product.id: product for product in products}),
        MappingProxyType({product.backend_id: product for product in products}),
    )


def _products_read(replacements: Mapping[int, list[int]]) -> tuple[engine_model.Product, ...]:
    """Every product, by ID, with its replacements.

    Read with a plain cursor, ``content`` as text: most products have the same few
    contents, and each text is decoded once and its dictionary shared by the products
    that have it (the engine only reads it), where the ORM decoded 100,000 of them,
    half the snapshot's time, and kept a dictionary each.
    """
    quote = connection.ops.quote_name
    # Quoted names of our own table and columns only; no value is formatted in.
    sql = (
        f"SELECT {quote('id')}, {quote('name')}, {quote('backend_id')}, "  # noqa: S608
        f"CAST({quote('content')} AS TEXT) FROM {quote(Product._meta.db_table)} "
        f"ORDER BY {quote('id')}"
    )
    decoded: dict[str, Any] = {}
    products = []
    with connection.cursor() as cursor:
        cursor.execute(sql)
        for pk, name, backend_id, text in cursor.fetchall():
            content = decoded.get(text)
            if content is None:
                content = decoded[text] = json.loads(text)
            products.append(
                engine_model.Product(
                    id=pk,
                    name=name,
                    backend_id=backend_id or None,
                    content=content,
                    replacements=tuple(sorted(replacements[pk])) if pk in replacements else (),
                )
            )
    return tuple(products)


def _address_of(values: tuple[Any, ...]) -> engine_model.Address:
    """An OU's ``Address`` from its address columns in ``_OU_ADDRESS_PARTS`` order, as
    ``address`` makes it from the row."""
    return address(SimpleNamespace(**dict(zip(_ADDRESS_NAMES, values, strict=True))), "address")


def reads_active_tasks(sheets: tuple[engine_model.SheetSource, ...]) -> bool:
    """Whether a sheet may read ``Supplier.ActiveShipFromStoreTasks`` (then the open
    tasks are counted for the order; a mention in a comment costs only that count)."""
    return any("ActiveShipFromStoreTasks" in sheet.source for sheet in sheets)


def connect() -> None:
    """Change the token whenever routing's view of the network changes."""
    for model in (
        OrganizationUnit,
        OrganizationUnitSet,
        Product,
        Sheet,
        Setting,
        # The plans' catalogue (plan_scenarios, and the versions plans are built from).
        PlanScenario,
        StepGroup,
        StepGroupVersion,
        StepDefinition,
        StepDependency,
    ):
        uid = f"network_changed_{model.__name__}"
        post_save.connect(network_changed, sender=model, dispatch_uid=uid + "_save")
        post_delete.connect(network_changed, sender=model, dispatch_uid=uid + "_delete")
    for through in (OrganizationUnit.sets.through, Product.replacements.through):
        m2m_changed.connect(_links_changed, sender=through, dispatch_uid=f"network_{through}")


def _links_changed(action: str, **_signal: Any) -> None:
    if action.startswith("post_"):
        network_changed()
