"""The generated parts of the designers' reference (``docs/sheet-language.md``).

The property, option, action and data tables are rendered from the catalogue;
``tests/language/test_reference_doc.py`` fails when the document's generated
sections differ from this output (regenerate with
``python -m orchestration.language.reference docs/sheet-language.md``), and
when any example in it does not pass the checker.
"""

import re
import sys
from pathlib import Path

from . import catalogue

BEGIN = "<!-- generated from the catalogue: begin -->"
END = "<!-- generated from the catalogue: end -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    """The generated section, as Markdown."""
    out = ["### Actions", "", "| action | needs data | what it does |", "|---|---|---|"]
    for action in catalogue.ACTIONS.values():
        needs = ", ".join(action.required_data) or "-"
        out.append(f"| `{action.name}` | {needs} | {_cell(action.description)} |")
    out += ["", "### Options", "", "| option | type | default | meaning |", "|---|---|---|---|"]
    for option in catalogue.OPTIONS.values():
        default = (
            repr(option.default)
            if not isinstance(option.default, bool)
            else (str(option.default).lower())
        )
        out.append(
            f"| `{option.name}` | {option.type} | `{default}` | {_cell(option.description)} |"
        )
    out += ["", "### Data keys", "", "| data | type | meaning |", "|---|---|---|"]
    for key in catalogue.DATA_KEYS.values():
        out.append(f"| `{key.name}` | {key.type} | {_cell(key.description)} |")
    out += ["", "### Variables, by scope", ""]
    out.append(
        "A name ending in `.*` stands for any name below it (custom fields, product content)."
    )
    for scope in catalogue.SCOPES:
        out += ["", f"#### scope {scope}", "", "| variable | type | meaning |", "|---|---|---|"]
        for prop in catalogue.properties_in_scope(scope):
            out.append(f"| `{prop.path}` | {prop.type} | {_cell(prop.description)} |")
    return "\n".join(out) + "\n"


def update(document: str) -> str:
    """``document`` with its generated section replaced by the current one."""
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)
    return pattern.sub(lambda _: f"{BEGIN}\n{render()}{END}", document)


def generated_section(document: str) -> str:
    """The generated section as it stands in ``document``."""
    start = document.index(BEGIN) + len(BEGIN) + 1
    return document[start : document.index(END)]


if __name__ == "__main__":
    path = Path(sys.argv[1])
    path.write_text(update(path.read_text()))
