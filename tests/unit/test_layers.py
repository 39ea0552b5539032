"""The package's layering, read from its own module-level imports: no cycle, the leaves
import only leaves, `engines/` and `store/` never reach up into workflows, the CLI or MCP,
and no module grows past the size a reader takes in at once."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "oubliette"
LEAVES = {"oubliette.model", "oubliette.spec", "oubliette.errors", "oubliette.report", "oubliette.validate",
          "oubliette.interrupts"}
UPPER = ("oubliette.ops", "oubliette.cli", "oubliette.mcp", "oubliette.app")
MAX_LINES = 420


def module_name(path: Path) -> str:
    name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return name.removesuffix(".__init__")


def imports(path: Path) -> set[str]:
    """What a module imports when it is loaded (not in functions, not for type checking)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.ImportFrom) and inner.module and inner.module.startswith("oubliette"):
                found.add(inner.module)
                found.update(f"{inner.module}.{alias.name}" for alias in inner.names)
            elif isinstance(inner, ast.Import):
                found.update(alias.name for alias in inner.names if alias.name.startswith("oubliette"))
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(path): imports(path) for path in PACKAGE.rglob("*.py")}
    return {name: {dep for dep in deps if dep in modules and dep != name} for name, deps in modules.items()}


def test_no_import_cycle():
    edges = graph()
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(name):] + [name]))
        if name in done:
            return
        for dep in edges[name]:
            visit(dep, [*path, name])
        done.add(name)

    for name in edges:
        visit(name, [])


def test_leaves_import_only_leaves_and_lower_layers_never_reach_up():
    for name, deps in graph().items():
        if name in LEAVES:
            assert deps <= LEAVES, (name, deps - LEAVES)
        if name.startswith(("oubliette.engines", "oubliette.store")):
            assert not [dep for dep in deps if dep.startswith(UPPER)], (name, deps)


def test_no_module_is_over_the_size_a_reader_takes_in():
    sizes = {module_name(p): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}
