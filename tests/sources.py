"""Where the tests find the public material they are checked against.

The tests read only files of this repository. What they need of ``../shared/``
(beside the project on the developers' machines, never on a user's) is copied
into ``tests/``:

- the shared scenarios, into ``tests/scenarios/`` beside the project's own
  (``SHARED_SCENARIO_COPIES``);
- the lines of EVA's orchestration chapter that name a variable, into
  ``tests/reference/`` (``REFERENCE_EXCERPT``, made by ``reference_excerpt``);
- every sheet and snippet of that chapter, into ``tests/language/golden/``
  (``GOLDEN_SHEETS``: our header comments and, for a fragment, the lines that wrap
  it into a sheet, then the reference's text; ``golden_reference_part`` takes it out).

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


# The reference's sheets and snippets, each with a header of ours (test_golden.py).
GOLDEN_SHEETS = ROOT / "tests" / "language" / "golden"
_WRAPPED = re.compile(r"# fragment, wrapped in: (.*)$")
_WRAPPER_LINE = ("fulfillment ", "action ", "scope ")


def golden_reference_part(copy: str) -> str:
    """The reference's text in a golden copy: what follows its header (and, for a
    fragment, the wrapper lines the header names)."""
    lines = copy.splitlines()
    for index, line in enumerate(lines):
        wrapped = _WRAPPED.match(line)
        if wrapped:
            wrapper = [w.strip() for w in wrapped.group(1).split(",")]
            wrapper = [w for w in wrapper if w.startswith(_WRAPPER_LINE)]
            start = index + 1
            while lines[start].startswith("#"):
                start += 1
            if [line.strip() for line in lines[start : start + len(wrapper)]] != wrapper:
                raise ValueError(f"the wrapper lines are not {wrapper}")
            return "\n".join(lines[start + len(wrapper) :])
        if line.startswith("# copied whole"):
            return "\n".join(lines[index + 1 :])
    raise ValueError("no '# fragment, wrapped in:' or '# copied whole' header")


def is_reference_text(part: str, reference: str) -> bool:
    """Whether ``part`` is a run of the reference's lines (blank lines and trailing
    spaces aside), or one line found within a line of its prose."""
    wanted = [line.rstrip() for line in part.splitlines() if line.strip()]
    lines = [line.rstrip() for line in reference.splitlines() if line.strip()]
    if len(wanted) == 1 and any(wanted[0] in line for line in lines):
        return True
    size = len(wanted)
    return any(lines[at : at + size] == wanted for at in range(len(lines) - size + 1))
