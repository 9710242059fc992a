"""The simulator's module structure: imports go one way, it stands apart from the product, and
its modules stay small."""

from __future__ import annotations

from pathlib import Path

import grimp
import pytest

import spendscope.simulator

PACKAGE = "spendscope.simulator"
MAX_LINES = 500


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("spendscope")


def _simulator_modules(graph: grimp.ImportGraph) -> list[str]:
    return sorted(m for m in graph.modules if m == PACKAGE or m.startswith(PACKAGE + "."))


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (or a self-import): Tarjan's
    algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
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
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
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
                if len(component) > 1 or node in edges[node]:
                    found.append(sorted(component))
    return found


def test_cycle_finder_finds_cycles() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "d"}, "e": set()}
    assert sorted(_cycles(edges)) == [["a", "b", "c"], ["d"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_simulator_modules(graph: grimp.ImportGraph) -> None:
    modules = _simulator_modules(graph)
    assert f"{PACKAGE}.server" in modules
    assert f"{PACKAGE}.routing" in modules
    edges = {
        m: {d for d in graph.find_modules_directly_imported_by(m) if d in modules} for m in modules
    }
    assert _cycles(edges) == []


def test_simulator_imports_nothing_of_the_product(graph: grimp.ImportGraph) -> None:
    outside = {
        (m, d)
        for m in _simulator_modules(graph)
        for d in graph.find_modules_directly_imported_by(m)
        if d.split(".")[0] == "spendscope" and not (d == PACKAGE or d.startswith(PACKAGE + "."))
    }
    assert outside == set()


def test_simulator_modules_stay_small() -> None:
    root = Path(spendscope.simulator.__file__).parent
    sizes = {p.name: len(p.read_text().splitlines()) for p in root.rglob("*.py")}
    assert len(sizes) > 20
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}
