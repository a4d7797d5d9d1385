"""The domain model: organization units, products and stock, orders, sheets,
fulfilments, orchestration details, EVA-style settings and the API's idempotency keys."""

from .backtests import Backtest, BacktestStatus
from .events import OrderEvent, WebhookStatus
from .fulfillments import (
    CancellationReason,
    ExportStatus,
    FulfillmentAction,
    FulfillmentStatus,
    OrchestrationDetails,
    OrchestrationOutcome,
    OrderFulfillment,
    OrderFulfillmentLine,
    ReturnCondition,
)
from .idempotency import IdempotencyKey
from .network import NetworkVersion
from .orders import (
    FulfillmentOption,
    Order,
    OrderIntent,
    OrderLine,
    OrderLineStatus,
    OrderStatus,
)
from .organization import (
    OrganizationUnit,
    OrganizationUnitSet,
    OrganizationUnitStatus,
    OrganizationUnitType,
    Product,
    Stock,
)
from .settings_store import Setting
from .sheets import Sheet, SheetRevision, UserPreference

__all__ = [
    "Backtest",
    "BacktestStatus",
    "CancellationReason",
    "ExportStatus",
    "FulfillmentAction",
    "FulfillmentOption",
    "FulfillmentStatus",
    "IdempotencyKey",
    "NetworkVersion",
    "OrchestrationDetails",
    "OrchestrationOutcome",
    "Order",
    "OrderEvent",
    "OrderFulfillment",
    "OrderFulfillmentLine",
    "OrderIntent",
    "OrderLine",
    "OrderLineStatus",
    "OrderStatus",
    "OrganizationUnit",
    "OrganizationUnitSet",
    "OrganizationUnitStatus",
    "OrganizationUnitType",
    "Product",
    "ReturnCondition",
    "Setting",
    "Sheet",
    "SheetRevision",
    "Stock",
    "UserPreference",
    "WebhookStatus",
]
