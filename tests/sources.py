"""Where the tests find the public material they are checked against.

The tests read only files of this repository. What they need of ``../shared/``
(beside the project on the developers' machines, never on a user's) is copied
into ``tests/``:

- the shared scenarios, into ``tests/scenarios/`` beside the project's own
  (``SHARED_SCENARIO_COPIES``);
- the lines of EVA's orchestration chapter that name a variable, into
  ``tests/reference/`` (``REFERENCE_EXCERPT``, made by ``reference_excerpt``).

``tests/test_shared_copies.py`` checks that each copy still matches its
original, and runs ``../shared/tools/check_scenarios.py``, only when
``../shared/`` is there; nothing is read from it at import time.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
OWN_SCENARIOS = ROOT / "tests" / "scenarios"

# The files of ../shared/scenarios/, each copied as it is into tests/scenarios/.
SHARED_SCENARIO_NAMES = ("line-splitting.json",)
SHARED_SCENARIO_COPIES = tuple(OWN_SCENARIOS / name for name in SHARED_SCENARIO_NAMES)
LINE_SPLITTING = OWN_SCENARIOS / "line-splitting.json"

# EVA's "Order orchestration" chapter (../shared/reference/) and the excerpt of it kept here.
REFERENCE = SHARED / "reference" / "004_ea9b540a23819934.txt"
REFERENCE_EXCERPT = ROOT / "tests" / "reference" / "004-lines-naming-variables.txt"

_ROOTS = "Order|OrderLine|Orderline|Supplier|Product|FulfillmentOption|Shipment"
# A line names a variable when it declares one (``with X as``, ``data X as``),
# brackets one (``[Supplier.Type]``) or spells a property path (``Supplier.ID``).
_NAMES_A_VARIABLE = re.compile(
    rf"\b(?:with|data) \[?\w+\]? as\b|\[[A-Za-z_][\w.]*\]|\b(?:{_ROOTS})\.[A-Za-z_][\w.]*\w"
)


def reference_excerpt(text: str) -> str:
    """The lines of the reference that name a variable, in order, one per line."""
    return "".join(line + "\n" for line in text.splitlines() if _NAMES_A_VARIABLE.search(line))
