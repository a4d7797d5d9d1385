"""The layers, and the rules of the import graph that keep them.

The pure packages (sheet language, routing engine, fulfillment plans' core)
import no web or task framework: ``orchestration.engine`` may use
``orchestration.language``, ``orchestration.plans`` uses neither; none may use
Django, DRF, Celery, nor the rest of ``orchestration`` (which is Django). A
pure engine can be replayed anywhere: in ``simulate`` without a database, in
the preview, in a worker.

Across the whole project (``tests/importgraph.py`` reads the graph from the
source): Suite apps -> orchestration -> engine -> language, never back up; no
private name taken from another module; every name imported from the module
that defines it, not through a package's re-exports; no cycle among
module-level imports; imports inside functions only where a task calls its
service. Each rule is also run on a small tree that breaks it, so that each
check is known to fail when it should.
"""

import ast
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.importgraph import (
    Import,
    cycles,
    defined_names,
    imports_of,
    module_files,
    module_level_edges,
    package_attributes,
)

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = ("django", "rest_framework", "celery", "kombu", "pygments")
PURE_PACKAGES = {
    # package: the first-party packages it may import from
    "orchestration.language": ("orchestration.language",),
    "orchestration.engine": ("orchestration.engine", "orchestration.language"),
    "orchestration.plans": ("orchestration.plans",),
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
    """Every pure package is there, so the scan below is not vacuous."""
    assert {package for _, package, _ in _pure_files()} == set(PURE_PACKAGES)


@pytest.mark.parametrize(
    ("path", "allowed"),
    [(path, allowed) for path, _, allowed in _pure_files()],
    ids=lambda value: str(value.relative_to(ROOT)) if isinstance(value, Path) else "",
)
def test_pure_module_imports_no_framework(path: Path, allowed: tuple[str, ...]) -> None:
    """No module of a pure package imports Django, DRF, Celery or the domain."""
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
    """Importing every module of the pure packages loads no framework at all."""
    code = (
        "import importlib, pkgutil, sys\n"
        f"for name in {tuple(PURE_PACKAGES)!r}:\n"
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


# --- The whole project's import graph (``tests/importgraph.py``) ----------------------

# Layers, lowest first: a module may import its own layer and those below, never above.
# The Suite apps may share with each other (``sheets.access``, ``preview.presenters``).
LAYERS = (
    ("language", ("orchestration.language",)),
    # The generated worlds are pure too: the engine's tests import them.
    # The plans' pure core sits beside the engine: the domain uses it, it uses nothing.
    ("engine", ("orchestration.engine", "orchestration.benchmarks.worlds", "orchestration.plans")),
    ("domain", ("orchestration",)),
    ("suite", ("sheets", "preview", "orders")),
)

# Packages whose ``__init__`` is their public face, so importing through it is right:
# Django registers an app's models by importing ``<app>.models``, and the rest of
# Django's world (admin, DRF, migrations) refers to them as ``app.models.Name``.
PUBLIC_PACKAGES = frozenset({"orchestration.models"})

# Where an import may stay inside a function, and why. Everything else imports at
# module level, so that the graph below sees every dependency.
LAZY_ALLOWED = {
    # Tasks are thin wrappers: the services import the tasks they send at the top,
    # and a task imports its service when it runs (never the other way round).
    "orchestration.tasks": ("orchestration.services.",),
    # ``AppConfig.ready`` is Django's place for what needs the app registry loaded
    # (signal handlers, the Celery app, the built-in roles after migrate).
    "orchestration.apps": ("orchestration.",),
}


def _layer(module: str) -> int:
    """The rank of a module's layer: its most specific prefix in ``LAYERS`` decides
    (``orchestration.engine`` over ``orchestration``)."""
    matches = [
        (len(prefix), rank)
        for rank, (_name, prefixes) in enumerate(LAYERS)
        for prefix in prefixes
        if module == prefix or module.startswith(prefix + ".")
    ]
    return max(matches)[1]


def layer_violations(imports: dict[str, list[Import]]) -> list[str]:
    """Imports from a higher layer, as ``module:line imports target``."""
    return [
        f"{imported.module}:{imported.line} imports {imported.target}"
        for found in imports.values()
        for imported in found
        if _layer(imported.target) > _layer(imported.module)
    ]


def private_imports(imports: dict[str, list[Import]]) -> list[str]:
    """Names starting with ``_`` taken from another module."""
    return [
        f"{imported.module}:{imported.line} imports {imported.target}.{imported.name}"
        for found in imports.values()
        for imported in found
        if imported.name
        and imported.name.startswith("_")
        and not imported.name.startswith("__")
        and imported.target != imported.module
    ]


def re_exported_imports(imports: dict[str, list[Import]], modules: dict[str, Path]) -> list[str]:
    """Names taken from a module that only re-exports them: ``from m import f`` where
    ``m`` (a package or a module) imports ``f`` from elsewhere, or ``pkg.f`` read from
    a package ``pkg`` that does."""
    found_names: list[str] = []
    own: dict[str, set[str]] = {}

    def defines(package: str, name: str) -> bool:
        if package not in own:
            own[package] = defined_names(modules[package])
        return name in own[package]

    for module, found in imports.items():
        for imported in found:
            target = imported.target
            if (
                imported.name
                and target in modules
                and target not in PUBLIC_PACKAGES
                and not defines(target, imported.name)
            ):
                found_names.append(f"{module}:{imported.line} imports {target}.{imported.name}")
        for line, package, name in package_attributes(module, modules[module], modules):
            if package not in PUBLIC_PACKAGES and not defines(package, name):
                found_names.append(f"{module}:{line} reads {package}.{name}")
    return found_names


def lazy_imports(imports: dict[str, list[Import]]) -> list[str]:
    """Imports inside functions other than those ``LAZY_ALLOWED`` lists."""
    return [
        f"{imported.module}:{imported.line} imports {imported.target} in {imported.function}()"
        for module, found in imports.items()
        for imported in found
        if imported.function is not None
        and not imported.target.startswith(LAZY_ALLOWED.get(module, ()))
    ]


def _graph(root: Path) -> tuple[dict[str, Path], dict[str, list[Import]]]:
    modules = module_files(root)
    return modules, {module: imports_of(module, path, modules) for module, path in modules.items()}


@pytest.fixture(scope="module")
def project() -> tuple[dict[str, Path], dict[str, list[Import]]]:
    return _graph(ROOT)


def test_the_graph_covers_every_layer(project: Any) -> None:
    """Each layer has modules and imports, so the checks below are not vacuous."""
    modules, imports = project
    assert {_layer(module) for module in modules} == set(range(len(LAYERS)))
    assert sum(len(found) for found in imports.values()) > 500


def test_imports_point_down_the_layers(project: Any) -> None:
    """Suite apps -> orchestration -> engine -> language, never back up."""
    _modules, imports = project
    assert layer_violations(imports) == []


def test_no_module_imports_a_private_name_of_another(project: Any) -> None:
    _modules, imports = project
    assert private_imports(imports) == []


def test_every_name_is_imported_from_the_module_that_defines_it(project: Any) -> None:
    """Not through a package's re-exports: a grep for a function's module finds
    every caller, and importing one service does not import them all."""
    modules, imports = project
    assert re_exported_imports(imports, modules) == []


def test_no_cycle_among_module_level_imports(project: Any) -> None:
    modules, imports = project
    assert cycles(module_level_edges(imports, modules)) == []


def test_imports_inside_functions_only_where_a_task_calls_its_service(project: Any) -> None:
    _modules, imports = project
    assert lazy_imports(imports) == []


# --- The checks catch what they must (so the tests above can fail) --------------------

FAKE_TREE = {
    "orchestration/__init__.py": "",
    "orchestration/language/__init__.py": "",
    "orchestration/language/nodes.py": (
        "from ..engine import plan\n\n\nclass _Node:\n    pass\n"  # up a layer
    ),
    "orchestration/engine/__init__.py": "",
    "orchestration/engine/plan.py": "from ..language.nodes import _Node\n",  # private
    "orchestration/services/__init__.py": "from .orders import order_create\n",
    "orchestration/services/orders.py": (
        "from ..tasks import send\n\ndef order_create():\n    pass\n"
    ),
    "orchestration/tasks.py": (
        "from .services.orders import order_create\n\n"  # a cycle with services.orders
        "def send():\n    from .services import order_create\n"
    ),
    "orchestration/api.py": (
        "from . import services\n\n"
        "def view():\n    from .engine import plan\n    return services.order_create()\n"
    ),
    "sheets/__init__.py": "",
    # A module (not a package) that only passes a name on.
    "orchestration/shortcuts.py": "from .services.orders import order_create\n",
    "sheets/views.py": "from orchestration.shortcuts import order_create\n",
}


def test_the_checks_flag_each_kind_of_violation(tmp_path: Path) -> None:
    for name, text in FAKE_TREE.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    modules, imports = _graph(tmp_path)
    assert layer_violations(imports) == [
        "orchestration.language.nodes:1 imports orchestration.engine.plan"
    ]
    assert private_imports(imports) == [
        "orchestration.engine.plan:1 imports orchestration.language.nodes._Node"
    ]
    assert re_exported_imports(imports, modules) == [
        "orchestration.api:5 reads orchestration.services.order_create",
        "orchestration.tasks:4 imports orchestration.services.order_create",
        "sheets.views:1 imports orchestration.shortcuts.order_create",
    ]
    assert sorted(cycles(module_level_edges(imports, modules))) == [
        ["orchestration.engine.plan", "orchestration.language.nodes"],
        # Importing services.orders runs the package's __init__, which imports it back.
        ["orchestration.services", "orchestration.services.orders", "orchestration.tasks"],
    ]
    assert lazy_imports(imports) == [
        "orchestration.api:4 imports orchestration.engine.plan in view()",
        # A task may import its service's module, not the package that re-exports it.
        "orchestration.tasks:4 imports orchestration.services in send()",
    ]
