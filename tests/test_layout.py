"""The house keeps its shape: imports follow the flow and no package imports in a loop.

The imports of every module under ``src/sessionbeat`` are read with ``ast`` (lazy imports inside
functions and ``TYPE_CHECKING`` ones included). Each subpackage is one node; each module of the
root package is a node of its own. docs/architecture.md ("Layout") draws the same graph.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "sessionbeat"

CONTRACT = frozenset({"models", "topics", "wire", "settings", "errors", "text"})
"""The root's contract modules: everything else may use them, they use only each other."""

ENTRY = frozenset({"cli", "cli_support", "_entry", "__main__"})
"""The root's entry points and the plumbing every area's ``cli.py`` shares."""

ALLOWED: dict[str, frozenset[str]] = {
    "claude_code": frozenset(),
    "broker": frozenset(),
    "publisher": frozenset({"claude_code", "broker"}),
    "exporter": frozenset({"claude_code"}),
    "notifier": frozenset(),
    "aggregator": frozenset({"broker", "exporter", "notifier"}),
    "readers": frozenset({"claude_code", "broker", "publisher"}),
    "dashboard": frozenset({"claude_code", "readers"}),
    "stack": frozenset({"claude_code", "broker", "publisher", "readers"}),
    "mcp_server": frozenset({"claude_code", "publisher", "readers"}),
}
"""The packages each package may import besides the contract (and ``cli_support``)."""


def _node(module: str) -> str:
    """Return the graph node of a dotted module name: its subpackage, else the root module."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def _imports() -> dict[str, set[tuple[str, str]]]:
    """Return, per node, the ``(node, importing module)`` pairs it imports (itself excluded)."""
    edges: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        source = _node(module)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module == "sessionbeat":  # a submodule, or a name such as __version__
                    targets = [
                        f"sessionbeat.{a.name}"
                        for a in node.names
                        if (PACKAGE / f"{a.name}.py").is_file() or (PACKAGE / a.name).is_dir()
                    ]
                elif node.module.startswith("sessionbeat."):
                    targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("sessionbeat.")]
            for target in targets:
                dest = _node(target)
                if dest not in (source, "__init__"):
                    edges[source].add((dest, module))
    return edges


def _cycle(edges: dict[str, set[tuple[str, str]]]) -> list[str] | None:
    """Return one cycle of the node graph as a list of nodes, or None."""
    graph = {src: sorted({dest for dest, _ in deps}) for src, deps in edges.items()}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_root_holds_only_the_contract_and_the_entry_points() -> None:
    """A new loose module at the root fails here: it belongs in the area it serves."""
    loose = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert loose == CONTRACT | ENTRY


def test_every_package_is_placed_in_the_flow() -> None:
    """Each subpackage has a row in ALLOWED, so a new one must be placed before it is used."""
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert packages == set(ALLOWED)


def test_no_import_loop_between_packages() -> None:
    """No package (or root module) reaches itself through imports."""
    assert _cycle(_imports()) is None


def test_the_contract_imports_no_package() -> None:
    """models, topics, wire, settings and errors depend on nothing but each other."""
    edges = _imports()
    wrong = {
        (module, dest)
        for node in CONTRACT
        for dest, module in edges.get(node, set())
        if dest not in CONTRACT
    }
    assert not wrong


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_the_flow_allows(package: str) -> None:
    """E.g. publisher never imports aggregator, the page never imports publisher or aggregator."""
    allowed = ALLOWED[package] | CONTRACT | {"cli_support"}
    wrong = {(module, dest) for dest, module in _imports().get(package, set())}
    assert {(m, d) for m, d in wrong if d not in allowed} == set()


def test_cycle_finder_sees_a_loop() -> None:
    """The check above can fail: a made-up loop between two packages is found."""
    edges = {"a": {("b", "sessionbeat.a.x")}, "b": {("a", "sessionbeat.b.y")}}
    assert _cycle(edges) == ["a", "b", "a"]
