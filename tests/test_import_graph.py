"""The package import graph: every module imports, no cycle between packages, no stage imports the CLI root.

A cycle between packages (``a`` imports ``b`` and ``b`` imports ``a``, at any depth) means the two
are one stage in disguise and the one-way data flow of docs/architecture.md is broken. The graph is
built from the source with :mod:`ast` (imports inside functions count too: a deferred import is
still a dependency), with each module mapped to its package under ``servemark`` (``servemark.sol.cli``
-> ``sol``; top-level modules such as ``servemark.point`` are their own node).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "servemark"
ROOT_MODULES = {"cli", "__main__"}  # the composition root may import every stage
RUNS_ON_IMPORT = {"servemark.__main__"}  # `python -m servemark`: importing it runs the CLI

def _modules() -> list[str]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out.append(".".join(parts))
    return out


def _imports(module: str) -> set[str]:
    """Modules of servemark that ``module`` imports (absolute and relative, at any depth)."""
    rel = module.split(".")
    path = SRC.parent.joinpath(*rel)
    is_pkg = path.is_dir()
    path = path / "__init__.py" if is_pkg else path.with_suffix(".py")
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "servemark"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = rel if is_pkg else rel[:-1]
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.split(".")[0] != "servemark":
                continue
            found.add(name)
            # `from servemark import sol` imports a package, not a name of servemark/__init__
            found |= {f"{name}.{a.name}" for a in node.names if (SRC.parent / Path(*name.split("."), a.name)).exists()}
    return found


def _node(module: str) -> str:
    """``servemark.sol.cli`` -> ``sol``; ``servemark.point`` -> ``point``; ``servemark`` -> ``servemark``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for mod in _modules():
        src = _node(mod)
        graph.setdefault(src, set())
        for dep in _imports(mod):
            dst = _node(dep)
            if dst != src and dst != "servemark":
                graph[src].add(dst)
    return graph


@pytest.mark.parametrize("module", [m for m in _modules() if m not in RUNS_ON_IMPORT])
def test_every_module_imports(module: str) -> None:
    importlib.import_module(module)


def strongly_connected(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Groups of packages that import each other (directly or round a loop), size > 1."""
    reach = {n: _reachable(graph, n) for n in graph}
    groups = {frozenset(m for m in reach[n] if n in reach.get(m, ())) | {n} for n in graph}
    return sorted((g for g in groups if len(g) > 1), key=sorted)


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for m in graph.get(todo.pop(), ()):
            if m not in seen:
                seen.add(m)
                todo.append(m)
    return seen


def test_no_cycle_between_packages() -> None:
    graph = package_graph()
    assert {"sweep", "loadgen", "store", "cli"} <= graph.keys()  # the walk found the packages
    assert "store" in graph["sweep"]  # and their imports (sweep writes points to the store)
    cycles = strongly_connected(graph)
    assert cycles == [], f"import cycles between packages: {[sorted(c) for c in cycles]}"


def documented_layers() -> dict[str, int]:
    """The package layers drawn in docs/architecture.md: package -> layer number."""
    text = (SRC.parent.parent / "docs" / "architecture.md").read_text()
    block = text.split("<!-- package layers", 1)[1].split("```", 2)[1]
    return {pkg: int(num) for num, *pkgs in (line.split() for line in block.splitlines() if line.strip()) for pkg in pkgs}


def test_architecture_doc_draws_the_graph() -> None:
    """Each package is in the doc's layers, and imports only packages of lower layers."""
    graph, layers = package_graph(), documented_layers()
    graph.pop("servemark", None)
    assert sorted(graph) == sorted(layers), "docs/architecture.md package layers list other packages than the code"
    upward = sorted(f"{a} ({layers[a]}) -> {b} ({layers[b]})" for a, deps in graph.items() for b in deps if layers[b] >= layers[a])
    assert upward == [], "imports the layers of docs/architecture.md do not allow"


def test_no_stage_imports_the_cli_root() -> None:
    offenders = [m for m in _modules() if _node(m) not in ROOT_MODULES and "servemark.cli" in _imports(m)]
    assert offenders == []


def test_strongly_connected_finds_a_loop() -> None:
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [frozenset({"a", "b", "c"})]
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert strongly_connected({"a": {"b"}, "b": {"a", "c"}, "c": set()}) == [frozenset({"a", "b"})]
