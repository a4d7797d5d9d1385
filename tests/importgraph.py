"""The project's import graph, read from the source (no module is imported).

``tests/test_layers.py`` checks its rules on it. A module is a ``.py`` file of
one of ``PACKAGES`` (migrations left out: Django writes them); an import is an
edge from the importing module to the module whose name it takes:
``from a.b import c`` is an edge to ``a.b.c`` when that is a module, else to
``a.b`` taking the name ``c``. Imports under ``if TYPE_CHECKING:`` never run and
are left out; an import inside a function body is marked as such.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

PACKAGES = ("orchestration", "sheets", "preview", "orders")


@dataclass(frozen=True, slots=True)
class Import:
    """One name (or module) one module imports from another."""

    module: str  # the importing module
    target: str  # the module imported, or the module the name is taken from
    name: str | None  # the name taken from ``target``; None: the module itself
    line: int
    function: str | None  # the function the import is in; None: at module level


def module_files(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    """Dotted module name -> file, for every module of ``packages`` under ``root``."""
    files: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if "migrations" in parts:
                continue
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = path
    return files


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(module: str, path: Path, modules: Mapping[str, Path]) -> list[Import]:
    """The first-party imports of one module, in source order."""
    package = module if is_package(path) else module.rpartition(".")[0]
    first_party = {name.split(".")[0] for name in modules}
    found: list[Import] = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking_only(child):
                continue
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, function or child.name)
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.split(".")[0] in first_party:
                        found.append(Import(module, alias.name, None, child.lineno, function))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - child.level + 1]
                    source = ".".join([*base, child.module] if child.module else base)
                else:
                    source = child.module or ""
                if source.split(".")[0] not in first_party:
                    continue
                for alias in child.names:
                    submodule = f"{source}.{alias.name}"
                    if submodule in modules:
                        found.append(Import(module, submodule, None, child.lineno, function))
                    else:
                        found.append(Import(module, source, alias.name, child.lineno, function))
            else:
                visit(child, function)

    visit(ast.parse(path.read_text(), str(path)), None)
    return found


def defined_names(path: Path) -> set[str]:
    """The names a module defines at its top level itself (imports left out)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def package_attributes(
    module: str, path: Path, modules: Mapping[str, Path]
) -> list[tuple[int, str, str]]:
    """``(line, package, name)`` for each ``package.name`` read in a module, where
    ``package`` is a first-party package it imported and ``name`` not a submodule."""
    bound: dict[str, str] = {}
    for imported in imports_of(module, path, modules):
        target = imported.target
        if imported.name is None and target in modules and is_package(modules[target]):
            bound[target.rpartition(".")[2]] = target
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in bound
        ):
            package = bound[node.value.id]
            if f"{package}.{node.attr}" not in modules:
                found.append((node.lineno, package, node.attr))
    return found


def cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        # Iterative: (node, iterator over its targets).
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            advanced = False
            for target in targets:
                if target not in index:
                    index[target] = low[target] = counter
                    counter += 1
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(edges.get(target, ())))))
                    advanced = True
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def module_level_edges(
    imports: Mapping[str, list[Import]], modules: Mapping[str, Path]
) -> dict[str, set[str]]:
    """What each module runs when it is imported: the modules it imports at module
    level and, for each, the packages around it (their ``__init__`` runs first),
    except the importer's own packages (already running)."""
    edges: dict[str, set[str]] = {module: set() for module in modules}
    for module, found in imports.items():
        for imported in found:
            if imported.function is not None or imported.target not in modules:
                continue
            edges[module].add(imported.target)
            parts = imported.target.split(".")
            for end in range(1, len(parts)):
                package = ".".join(parts[:end])
                if package in modules and not (
                    module == package or module.startswith(package + ".")
                ):
                    edges[module].add(package)
    return edges
