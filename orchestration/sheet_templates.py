"""Starting points for a new sheet: the reference's example sheets, renamed.

Each template is one of the demo sheets (``demo/sheets/``, EVA's examples) with
its ``fulfillment`` line set to the new sheet's identifier, so a new sheet
checks cleanly from the first keystroke.
"""

import re
from dataclasses import dataclass
from pathlib import Path

_SHEETS = Path(__file__).resolve().parent / "demo" / "sheets"
_FULFILLMENT_LINE = re.compile(r"^fulfillment[ \t]+\S+", re.MULTILINE | re.IGNORECASE)


@dataclass(frozen=True)
class SheetTemplate:
    """A starting point: its key, what designers read, and the example it copies."""

    key: str
    title: str
    description: str
    file: str

    def source(self, fulfillment: str) -> str:
        """The template's text, with ``fulfillment`` as its identifier."""
        text = (_SHEETS / self.file).read_text(encoding="utf-8")
        return _FULFILLMENT_LINE.sub(f"fulfillment {fulfillment}", text, count=1)


TEMPLATES: dict[str, SheetTemplate] = {
    template.key: template
    for template in (
        SheetTemplate(
            "ship-from-store",
            "Ship from store",
            "Shops near the customer, open now and with stock, get a task; closer is better.",
            "ShipFromStore.sheet",
        ),
        SheetTemplate(
            "warehouse-export",
            "Warehouse export",
            "Whole lines to the warehouse of the customer's country, exported to its system.",
            "WarehouseFulfillment.sheet",
        ),
        SheetTemplate(
            "cancel-fallback",
            "Cancel fallback",
            "What no other sheet can fulfil is cancelled instead of waiting.",
            "CancelFallback.sheet",
        ),
        SheetTemplate(
            "returns",
            "Returns",
            "Return orders from the returns portal go to the returns warehouse.",
            "ReturnOrdersFromReturnPortal.sheet",
        ),
    )
}
