"""The layering rule, checked on the source: dse modules form no import cycle, and each layer
imports only the layers before it (workloads -> hardware -> model -> search -> report -> cli).

Every ``import`` counts, also those inside functions: a lazy import hides a cycle from Python but
not from a reader."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "dse"
LAYERS = ("workloads", "hardware", "model", "search", "report", "cli")
#: Circles tolerated while a move is in progress (none: the grid builder now lives next to
#: DesignBatch, so space.py no longer imports designs.py).
PENDING_CYCLE_EDGES: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """dse module -> the dse modules it imports (a package import counts as its __init__)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative import
                    package = name if is_package else name.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        package = package.rpartition(".")[0]
                    base = f"{package}.{base}" if base else package
                found = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            for target in found:
                while target and target not in modules:  # dse.x.y.attr -> dse.x.y
                    target = target.rpartition(".")[0]
                if target.startswith("dse") and target != name:
                    targets.add(target)
        graph[name] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_sees_imports():
    graph = import_graph()
    assert "dse.search.spec" in graph["dse.search.study"]
    assert "dse.search.exhaustive" in graph["dse.search.run"]  # lazy, inside a function
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_import_cycle():
    graph = import_graph()
    for a, b in PENDING_CYCLE_EDGES:
        graph[a].discard(b)
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def test_layers_import_only_earlier_layers():
    wrong = []
    for name, targets in import_graph().items():
        layer = name.split(".")[1] if name.count(".") else None
        if layer not in LAYERS:
            continue
        for target in targets:
            other = target.split(".")[1] if target.count(".") else None
            if other in LAYERS and LAYERS.index(other) > LAYERS.index(layer):
                wrong.append(f"{name} imports {target}")
    assert not wrong, wrong
