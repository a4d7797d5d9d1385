"""Writes of the domain, one module per entity; functions are ``<entity>_<verb>``,
keyword-only, and run in a transaction. The fulfilment services (package ``fulfillments``)
are not re-exported here: import them from their modules."""

from .backtests import backtest_run, backtest_start
from .idempotency import (
    idempotency_key_claim,
    idempotency_key_complete,
    idempotency_key_release,
    idempotency_keys_purge,
)
from .orchestration import order_orchestrate, order_orchestration_retry
from .orchestration_details import orchestration_details_create, orchestration_details_purge
from .orchestration_requests import order_orchestration_request
from .orders import order_announce, order_create
from .preferences import user_preference_set
from .returns import return_order_create, return_reasons, returnable_quantities
from .roles import roles_ensure
from .settings import setting_reset, setting_set
from .sheets import (
    sheet_create,
    sheet_delete,
    sheet_diagnostics,
    sheet_problems,
    sheet_restore,
    sheet_set_active,
    sheet_update,
    sheet_warnings,
)
from .stock import StockLevel, stock_release, stock_reserve, stock_upsert_many
from .tokens import api_token_obtain, api_token_revoke

__all__ = [
    "StockLevel",
    "api_token_obtain",
    "api_token_revoke",
    "backtest_run",
    "backtest_start",
    "idempotency_key_claim",
    "idempotency_key_complete",
    "idempotency_key_release",
    "idempotency_keys_purge",
    "orchestration_details_create",
    "orchestration_details_purge",
    "order_announce",
    "order_create",
    "order_orchestrate",
    "order_orchestration_request",
    "order_orchestration_retry",
    "return_order_create",
    "return_reasons",
    "returnable_quantities",
    "roles_ensure",
    "setting_reset",
    "setting_set",
    "sheet_create",
    "sheet_delete",
    "sheet_diagnostics",
    "sheet_problems",
    "sheet_restore",
    "sheet_set_active",
    "sheet_update",
    "sheet_warnings",
    "stock_release",
    "stock_reserve",
    "stock_upsert_many",
    "user_preference_set",
]
