"""The import graph of ``src/stageline``: no cycle, and each layer imports only below it.

Every module is parsed with ``ast``; its imports at module level, inside functions and
under ``if TYPE_CHECKING:`` are all read. Importing ``a.b.c`` runs the packages ``a`` and
``a.b`` first, so it counts as importing them too (except a module's own packages, which
are being imported already). ``from pkg import name`` imports the submodule ``pkg.name``
when there is one, else ``pkg`` itself.

The cycle check uses the imports that run (module and function level); the layering
rules (the table below, drawn in docs/ARCHITECTURE.md) use every import, type-only ones
too, since a type-only import still ties a lower layer to a higher one.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "stageline"


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    #: where the import sits: "module", "function" or "type" (under TYPE_CHECKING)
    where: str


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@functools.cache
def modules() -> dict[str, Path]:
    """Every module of the package (alembic's revision files are data, not code)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        if "migrations/versions" not in path.as_posix():
            found[module_name(path)] = path
    return found


def _owner(name: str) -> str | None:
    """The module ``name`` is or lives in (``stageline.state.Store`` -> ``stageline.state``)."""
    while name and name not in modules():
        name = name.rpartition(".")[0]
    return name or None


class _Imports(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool) -> None:
        self.module = module
        self.package = module if is_package else module.rpartition(".")[0]
        self.where = "module"
        self.found: list[tuple[str, int, str]] = []

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        outer, self.where = self.where, "type" if self.where == "type" else "function"
        self.generic_visit(node)
        self.where = outer

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_If(self, node: ast.If) -> None:
        if "TYPE_CHECKING" not in ast.unparse(node.test):
            self.generic_visit(node)
            return
        outer, self.where = self.where, "type"
        for child in node.body:
            self.visit(child)
        self.where = outer
        for child in node.orelse:
            self.visit(child)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.found.append((alias.name, node.lineno, self.where))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            package = self.package
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{base}" if node.module else package
        names = [f"{base}.{alias.name}" for alias in node.names]
        submodules = [name for name in names if name in modules()]
        if len(submodules) < len(names):
            self.found.append((base, node.lineno, self.where))
        self.found.extend((name, node.lineno, self.where) for name in submodules)


def _with_packages(source: str, target: str) -> Iterator[str]:
    """``target`` and the packages importing it runs (not ``source``'s own packages)."""
    parts = target.split(".")
    for end in range(1, len(parts) + 1):
        name = ".".join(parts[:end])
        inside = source == name or source.startswith(name + ".")
        if name in modules() and (name == target or not inside):
            yield name


@functools.cache
def edges() -> tuple[Edge, ...]:
    """Every import of one stageline module by another."""
    found: set[Edge] = set()
    for module, path in modules().items():
        visitor = _Imports(module, path.name == "__init__.py")
        visitor.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        for name, line, where in visitor.found:
            target = _owner(name) if name.startswith("stageline") else None
            if target is None or target == module:
                continue
            for imported in _with_packages(module, target):
                found.add(Edge(module, imported, line, where))
    return tuple(sorted(found, key=lambda e: (e.source, e.target, e.line)))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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


def _names(text: str) -> frozenset[str]:
    """Full module or package names (each stands for itself and everything inside it)."""
    return frozenset(text.split())


def inside(module: str, names: Iterable[str]) -> bool:
    return any(module == name or module.startswith(name + ".") for name in names)


#: which layer may not import which
FORBIDDEN: dict[str, frozenset[str]] = {
    # the pipeline file's model and loader: below everything that acts
    "stageline.config": _names(
        "stageline.gates stageline.state stageline.targets stageline.agent stageline.web "
        "stageline.cli stageline.usecases stageline.host.workspace stageline.parity "
        "stageline.rehearsal"
    ),
    # gates are given what they need (GateContext), never fetch it
    "stageline.gates": _names(
        "stageline.state stageline.host.workspace stageline.config.loader stageline.targets "
        "stageline.agent stageline.usecases stageline.web stageline.cli "
        "stageline.parity.probe stageline.parity.report stageline.data.snapshot"
    ),
    # the store keeps rows; it knows nothing of what they are for
    "stageline.state": _names(
        "stageline.gates stageline.targets stageline.web stageline.cli stageline.agent "
        "stageline.usecases stageline.host.workspace stageline.config"
    ),
    "stageline.agent": _names(
        "stageline.targets stageline.gates stageline.usecases stageline.web stageline.cli"
    ),
    "stageline.targets": _names("stageline.gates stageline.usecases stageline.web stageline.cli"),
    "stageline.data": _names(
        "stageline.gates stageline.web stageline.cli stageline.usecases.verification "
        "stageline.usecases.deploy stageline.usecases.status"
    ),
    "stageline.parity": _names(
        "stageline.gates stageline.web stageline.cli stageline.usecases.verification "
        "stageline.usecases.deploy stageline.usecases.status"
    ),
    "stageline.rehearsal": _names(
        "stageline.usecases stageline.state stageline.host.workspace stageline.targets "
        "stageline.web stageline.cli"
    ),
    # the host's infrastructure serves everything above it
    "stageline.host": _names(
        "stageline.usecases stageline.gates stageline.targets stageline.agent stageline.web "
        "stageline.cli"
    ),
    "stageline.web": _names("stageline.cli"),
    # the proxy's recorder runs in every front: it reads no store, no pipeline
    "stageline.traffic": _names(
        "stageline.state stageline.config stageline.gates stageline.targets stageline.agent "
        "stageline.usecases stageline.web stageline.cli"
    ),
    # CI files are rendered from the pipeline file alone: nothing that acts or stores
    "stageline.ci": _names(
        "stageline.usecases stageline.state stageline.gates stageline.targets "
        "stageline.agent stageline.web stageline.cli"
    ),
}

#: layers that import nothing of stageline but the layers listed (pure decisions, leaves)
ONLY: dict[str, frozenset[str]] = {
    "stageline.errors": _names("stageline.values"),
    "stageline.values": _names(""),
    "stageline.runtime": _names(""),
    "stageline.plugins": _names("stageline.errors"),
    "stageline.traffic.profile": _names("stageline.values"),
    # the load generator, its measures and its verdict: below the gate that drives them
    "stageline.load": _names("stageline.values stageline.host"),
    # pure decisions: facts in, a decision out (each module may use the others)
    "stageline.decisions": _names("stageline.config stageline.errors stageline.values"),
}

#: the CLI, and the only modules outside it that may import it
CLI = "stageline.cli"
IMPORTS_CLI = ("stageline.__main__",)


def breaks_rule(edge: Edge) -> str | None:
    """Why ``edge`` breaks the layering, or None."""
    if inside(edge.target, [CLI]) and not inside(edge.source, [CLI, *IMPORTS_CLI]):
        return "only stageline.__main__ imports the CLI"
    for layer, forbidden in FORBIDDEN.items():
        if inside(edge.source, [layer]) and inside(edge.target, forbidden):
            return f"{layer} may not import {edge.target}"
    for layer, allowed in ONLY.items():
        if inside(edge.source, [layer]) and not inside(edge.target, [layer, *allowed]):
            return f"{layer} imports only {sorted(allowed) or 'the standard library'}"
    return None


def test_the_graph_is_read() -> None:
    """The parser finds what is known to be there (so an empty graph cannot pass)."""
    found = {(e.source, e.target, e.where) for e in edges()}
    assert ("stageline.usecases.verification", "stageline.gates.runner", "module") in found
    assert ("stageline.gates", "stageline.gates.runner", "module") in found
    assert ("stageline.usecases.verification", "stageline.gates", "module") in found  # its package
    assert ("stageline.cli.app", "stageline.config", "function") in found
    assert ("stageline.gates.pytest_gate", "stageline.rehearsal.isolation", "type") in found
    assert len(modules()) > 100


def test_no_import_cycle() -> None:
    graph: dict[str, set[str]] = {module: set() for module in modules()}
    for edge in edges():
        if edge.where != "type":  # type-only imports never run
            graph[edge.source].add(edge.target)
    assert cycles(graph) == []


def test_cycles_are_found() -> None:
    """The cycle finder itself, on a small graph with one cycle of three."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_every_import_keeps_to_its_layer() -> None:
    broken = [
        f"{edge.source}:{edge.line} imports {edge.target} ({why})"
        for edge in edges()
        if (why := breaks_rule(edge)) is not None
    ]
    assert broken == []


@pytest.mark.parametrize(
    "forbidden",
    [
        "stageline.usecases.pipeline",
        "stageline.config.loader",
        "stageline.host.workspace",
        "stageline.state",
    ],
)
def test_no_gate_reaches_back_into_the_application(forbidden: str) -> None:
    """Gates are given the pipeline, the store and the targets; none fetches them."""
    reached = [
        f"{edge.source}:{edge.line} ({edge.where})"
        for edge in edges()
        if inside(edge.source, ["stageline.gates"]) and inside(edge.target, [forbidden])
    ]
    assert reached == []


def test_the_rules_catch_a_breach() -> None:
    assert breaks_rule(Edge("stageline.gates.parity", "stageline.usecases.pipeline", 1, "function"))
    assert breaks_rule(Edge("stageline.config.loader", "stageline.gates.registry", 1, "module"))
    assert breaks_rule(Edge("stageline.state.store", "stageline.cli.app", 1, "type"))
    assert breaks_rule(Edge("stageline.decisions.signoff", "stageline.state", 1, "module"))
    assert breaks_rule(Edge("stageline.__main__", "stageline.cli", 1, "module")) is None
    assert (
        breaks_rule(Edge("stageline.gates.parity", "stageline.parity.compare", 1, "module")) is None
    )
