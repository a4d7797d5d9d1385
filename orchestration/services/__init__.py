"""Writes of the domain, one module per entity; functions are ``<entity>_<verb>``,
keyword-only, and run in a transaction."""

from .backtests import backtest_run, backtest_start
from .fulfillments import (
    decline_reasons,
    fulfillment_decline,
    fulfillment_expire_overdue,
    fulfillment_export,
    fulfillment_export_retry,
    fulfillment_lines_cancel,
    fulfillment_pack,
    fulfillment_pick,
    fulfillment_ship,
    fulfillment_start,
    order_line_cancel,
    return_receive,
)
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
    "decline_reasons",
    "fulfillment_decline",
    "fulfillment_expire_overdue",
    "fulfillment_export",
    "fulfillment_export_retry",
    "fulfillment_lines_cancel",
    "fulfillment_pack",
    "fulfillment_pick",
    "fulfillment_ship",
    "fulfillment_start",
    "idempotency_key_claim",
    "idempotency_key_complete",
    "idempotency_key_release",
    "idempotency_keys_purge",
    "orchestration_details_create",
    "orchestration_details_purge",
    "order_announce",
    "order_create",
    "order_line_cancel",
    "order_orchestrate",
    "order_orchestration_request",
    "order_orchestration_retry",
    "return_order_create",
    "return_reasons",
    "return_receive",
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
