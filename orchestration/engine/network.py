"""What a route can reuse from the last one: the network's indexes, per snapshot.

The OUs and products change rarely; orders come all the time. Everything the
engine derives from the OUs and products alone (the indexes by ID, each OU's
coordinates in radians, the values of ``Supplier.*`` names that depend on the OU
only, the OUs grouped by such a value) is kept here and shared by every route
given the *same* ``organization_units`` and ``products`` tuples. The caller
decides what "the same" means: the orchestration layer keeps one network
snapshot per process until the network's version changes
(``orchestration.selectors.network``), a benchmark reuses its scenario. A new
tuple is a new network: nothing is shared across snapshots, so a stale index
can never be used.

Kept: the last ``KEEP`` networks, each with a reference to its tuples (so that
an ``id()`` is never reused while it is a key here), until their owner releases
them (``network_release``).
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

from .model import OrganizationUnit, Product, Scenario
from .routes import point

if TYPE_CHECKING:
    from .variables import Partition

_T = TypeVar("_T")

KEEP = 4
# Descriptions kept per statement (``Network.texts_of``): by OU, or by (OU, stock) for
# a line's "only has n" text, which a long-lived snapshot could see thousands of stock
# levels of. Past this many (about 10 MB of text) a statement's are not kept any more
# (written per order, as without the cache).
TEXTS_KEPT = 100_000

# ``Supplier.*`` names whose value depends on the OU alone (not on the order or the
# clock): they are computed once per network. ``Address.*`` and ``CustomFields.*``
# are too.
STATIC_NAMES = frozenset({"ID", "Name", "BackendID", "Type", "Status", "CountryID", "SetNames"})
STATIC_GROUPS = frozenset({"Address", "CustomFields"})


@functools.lru_cache(maxsize=4096)
def is_static(path: tuple[str, ...]) -> bool:
    """Whether ``path`` is a ``Supplier.*`` value that depends on the OU alone."""
    if path[0] != "Supplier":
        return False
    if len(path) == 2:
        return path[1] in STATIC_NAMES
    return len(path) == 3 and path[1] in STATIC_GROUPS


class Network:
    """Indexes of one snapshot of OUs and products; read-only once built, except
    for the caches it fills on first use (each entry computed from the OUs alone)."""

    def __init__(self, units: tuple[OrganizationUnit, ...], products: tuple[Product, ...]) -> None:
        self.unit_tuple = units  # held so that its id() stays unique while cached
        self.product_tuple = products
        self.units: dict[int, OrganizationUnit] = {unit.id: unit for unit in units}
        self.products: dict[int, Product] = {product.id: product for product in products}
        self.points: dict[int, tuple[float, float] | None] = {
            unit.id: point(unit.address) for unit in units
        }
        self.values: dict[tuple[int, tuple[str, ...]], object] = {}
        self.partitions: dict[tuple[str, ...], Partition] = {}
        self.varied: dict[tuple[str, ...], bool] = {}
        # A plain ``require`` that reads only OU-alone values (``[Supplier.BackendID]
        # contains 'IBE'``): the IDs of the OUs it lets through, per statement. The
        # statement is kept with its answer so that its id() is not reused meanwhile.
        self.filters: dict[int, tuple[object, frozenset[int] | None]] = {}
        # A reason's description that reads only OU-alone values ("Supplier {[Supplier.
        # Name]} is not a shop"), per statement: OU ID -> its text (kept with the step).
        self.texts: dict[int, tuple[object, dict[int, object]]] = {}
        self.lock = threading.Lock()
        self._by_latitude: tuple[list[float], list[int], list[int]] | None = None
        self._positions: dict[int, int] | None = None

    def positions(self) -> dict[int, int]:
        """Each OU's position in the network's tuple, by ID (made on first use)."""
        found = self._positions
        if found is None:
            found = self._positions = {unit_id: index for index, unit_id in enumerate(self.units)}
        return found

    def partition(
        self,
        path: tuple[str, ...],
        build: Callable[[Iterable[OrganizationUnit]], Partition],
    ) -> Partition:
        """All OUs grouped by their value at a static path (built once per network)."""
        found = self.partitions.get(path)
        if found is None:
            found = build(self.units.values())
            with self.lock:
                found = self.partitions.setdefault(path, found)
        return found

    def by_latitude(self) -> tuple[list[float], list[int], list[int]]:
        """The OUs with coordinates by latitude (radians, and their IDs, in the same
        order), and the IDs of those without (for ``nearby``)."""
        found = self._by_latitude
        if found is None:
            placed = sorted(
                (place[0], unit_id) for unit_id, place in self.points.items() if place is not None
            )
            found = self._by_latitude = (
                [latitude for latitude, _id in placed],
                [unit_id for _latitude, unit_id in placed],
                [unit_id for unit_id, place in self.points.items() if place is None],
            )
        return found

    def passing(
        self, step: object, build: Callable[[], frozenset[int] | None]
    ) -> frozenset[int] | None:
        """The OUs a static filter lets through (None: it cannot be told once for all)."""
        return self._for_step(self.filters, step, build)

    def texts_of(self, step: object) -> dict[int, object]:
        """The descriptions of ``step`` told so far, by OU ID or (OU ID, stock) (filled
        by the caller, only for descriptions that read nothing but OU-alone values and
        the stock, up to ``TEXTS_KEPT``)."""
        return self._for_step(self.texts, step, dict)

    def _for_step(
        self, table: dict[int, tuple[object, _T]], step: object, make: Callable[[], _T]
    ) -> _T:
        """``table``'s entry for ``step``, made on first use; kept with the statement
        so that its id() is not reused while the entry lives."""
        found = table.get(id(step))
        if found is None or found[0] is not step:
            found = (step, make())
            with self.lock:
                table[id(step)] = found
        return found[1]


_networks: OrderedDict[tuple[int, int], Network] = OrderedDict()
_lock = threading.Lock()


def network_of(scenario: Scenario) -> Network:
    """The network of ``scenario``'s OUs and products: shared when the tuples are."""
    units, products = scenario.organization_units, scenario.products
    key = (id(units), id(products))
    with _lock:
        found = _networks.get(key)
        if found is not None and found.unit_tuple is units and found.product_tuple is products:
            _networks.move_to_end(key)
            return found
    built = Network(units, products)
    with _lock:
        _networks[key] = built
        _networks.move_to_end(key)
        while len(_networks) > KEEP:
            _networks.popitem(last=False)
    return built


def network_release(units: tuple[OrganizationUnit, ...], products: tuple[Product, ...]) -> None:
    """Drop what is kept for the network of these tuples: their owner has replaced them
    (``orchestration.selectors.network``), and a national network's indexes are tens of
    megabytes that would otherwise stay until ``KEEP`` newer networks pushed them out.
    A route still running over it keeps its own reference."""
    key = (id(units), id(products))
    with _lock:
        found = _networks.get(key)
        if found is not None and found.unit_tuple is units and found.product_tuple is products:
            del _networks[key]
