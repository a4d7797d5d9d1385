"""The pure packages (sheet language, routing engine) import no web or task framework.

Dependencies point one way: ``orchestration.engine`` may use
``orchestration.language``; neither may use Django, DRF, Celery, nor the rest
of ``orchestration`` (which is Django). A pure engine can be replayed anywhere:
in ``simulate`` without a database, in the preview, in a worker.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = ("django", "rest_framework", "celery", "kombu", "pygments")
PURE_PACKAGES = {
    # package: the first-party packages it may import from
    "orchestration.language": ("orchestration.language",),
    "orchestration.engine": ("orchestration.engine", "orchestration.language"),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def impure_imports(source: str, module: str, allowed: tuple[str, ...], filename: str) -> list[str]:
    """Every import in ``source`` that a pure module may not make, as ``file:line: name``."""
    package = module if filename.endswith("__init__.py") else module.rpartition(".")[0]
    problems = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                names = [".".join([*base, node.module] if node.module else base)]
            else:
                names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            first_party = top in ("orchestration", "sheets", "preview")
            if top in FORBIDDEN or (
                first_party and not any(name == a or name.startswith(a + ".") for a in allowed)
            ):
                problems.append(f"{filename}:{node.lineno}: imports {name}")
    return problems


def _pure_files() -> list[tuple[Path, str, tuple[str, ...]]]:
    files = []
    for package, allowed in PURE_PACKAGES.items():
        folder = ROOT.joinpath(*package.split("."))
        for path in sorted(folder.rglob("*.py")):
            files.append((path, package, allowed))
    return files


def test_pure_packages_exist() -> None:
    """Both pure packages are there, so the scan below is not vacuous."""
    assert {package for _, package, _ in _pure_files()} == set(PURE_PACKAGES)


@pytest.mark.parametrize(
    ("path", "allowed"),
    [(path, allowed) for path, _, allowed in _pure_files()],
    ids=lambda value: str(value.relative_to(ROOT)) if isinstance(value, Path) else "",
)
def test_pure_module_imports_no_framework(path: Path, allowed: tuple[str, ...]) -> None:
    """No module of the language or the engine imports Django, DRF, Celery or the domain."""
    problems = impure_imports(
        path.read_text(), _module_name(path), allowed, str(path.relative_to(ROOT))
    )
    assert problems == []


@pytest.mark.parametrize(
    ("source", "module", "expected"),
    [
        ("import django\n", "orchestration.engine.x", ["x.py:1: imports django"]),
        (
            "from rest_framework import views\n",
            "orchestration.engine.x",
            ["x.py:1: imports rest_framework"],
        ),
        ("\n\nimport celery.app\n", "orchestration.engine.x", ["x.py:3: imports celery.app"]),
        (
            "from ..models import Order\n",
            "orchestration.engine.x",
            ["x.py:1: imports orchestration.models"],
        ),
        ("from ..language import nodes\n", "orchestration.engine.x", []),
        ("from . import nodes\n", "orchestration.engine.x", []),
        ("import json, dataclasses\n", "orchestration.engine.x", []),
    ],
)
def test_scan_catches_forbidden_imports(source: str, module: str, expected: list[str]) -> None:
    """The scan itself flags what it must (so the test above can fail)."""
    allowed = PURE_PACKAGES["orchestration.engine"]
    assert impure_imports(source, module, allowed, "x.py") == expected


def test_pure_packages_import_without_django() -> None:
    """Importing every module of both packages loads no framework at all."""
    code = (
        "import importlib, pkgutil, sys\n"
        "for name in ('orchestration.language', 'orchestration.engine'):\n"
        "    package = importlib.import_module(name)\n"
        "    for info in pkgutil.walk_packages(package.__path__, name + '.'):\n"
        "        importlib.import_module(info.name)\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
