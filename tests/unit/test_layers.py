"""The import graph of ``src/oculi``: no circle, and no import from a lower layer up to a higher one.

Read from the source with ``ast``: every import, at module level or inside a function (a deferred
import is still a dependency), except those under ``if TYPE_CHECKING`` (types only, never run).

Layers, lowest first: the domain and the errors know nothing of the rest; intake, structured
output and reasoning sit on the domain; engines sit on those and never on each other (what two
engines share lives in ``engines/common`` or ``engines/base``, below them); the store sits on the
domain; the service (the one pipeline) on engines, intake and store; the wire surfaces (``api``,
``grpc``) on the service; the app, server and command line on top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "oculi"

#: Layer of each top-level part of the package (a module may import its own layer and lower ones).
LAYERS: dict[str, int] = {
    "domain": 0,
    "errors": 0,
    "settings": 1,
    "logs": 1,
    "memory": 1,
    "metrics": 1,
    "families": 2,
    "intake": 2,
    "structured": 2,
    "reasoning": 2,
    "auth": 2,
    "store": 2,
    "engines": 3,
    "service": 4,
    "runtime": 5,
    "api": 6,
    "grpc": 6,
    "app": 7,
    "server": 8,
    "cli": 9,
    "cli_batch": 9,
    "testing": 9,  # test support: checkpoint builders, the scripted engine, a server runner
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def module_imports(path: Path) -> set[str]:
    """The ``oculi`` modules a module imports, anywhere in it but under ``if TYPE_CHECKING``."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(body: list) -> None:
        for node in body:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names if alias.name.startswith("oculi"))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    target = f"{base}.{node.module}" if node.module else base
                else:
                    target = node.module or ""
                if target.startswith("oculi"):
                    found.add(target)
                    found.update(f"{target}.{alias.name}" for alias in node.names)  # submodules named
            elif isinstance(node, ast.If) and _type_checking(node):
                visit(node.orelse)
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    inner = getattr(node, field, None)
                    if isinstance(inner, list):
                        visit([n for n in inner if isinstance(n, ast.stmt | ast.ExceptHandler)])

    visit(ast.parse(path.read_text()).body)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges[name] = {m for m in module_imports(path) if m in modules and m != name}
    return edges


def _part(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


def test_every_part_has_a_layer(graph: dict[str, set[str]]) -> None:
    parts = {_part(m) for m in graph} - {""}
    assert parts <= set(LAYERS), f"parts without a layer: {sorted(parts - set(LAYERS))}"


def test_no_import_reaches_up_a_layer(graph: dict[str, set[str]]) -> None:
    upward = [
        f"{module} → {target}"
        for module, targets in graph.items()
        for target in targets
        if _part(module) and _part(target) and LAYERS[_part(target)] > LAYERS[_part(module)]
    ]
    assert not upward, "imports from a lower layer up to a higher one:\n" + "\n".join(sorted(upward))


def test_engines_never_import_each_other(graph: dict[str, set[str]]) -> None:
    def engine(module: str) -> str | None:
        parts = module.split(".")
        if len(parts) > 3 and parts[1] == "engines" and parts[2] not in ("common",):
            return parts[2]
        return None

    crossing = [
        f"{module} → {target}"
        for module, targets in graph.items()
        for target in targets
        if engine(module) and engine(target) and engine(module) != engine(target)
    ]
    assert not crossing, "engines importing each other:\n" + "\n".join(sorted(crossing))


def test_the_import_graph_has_no_circle(graph: dict[str, set[str]]) -> None:
    # Tarjan's strongly connected components: a component of more than one module is a circle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    # A package's __init__ importing its own submodules is not a circle of design: leave those out.
    real = [c for c in circles if not all(m.startswith(min(c, key=len) + ".") or m == min(c, key=len) for m in c)]
    assert not real, "import circles:\n" + "\n".join(" ↔ ".join(c) for c in real)
