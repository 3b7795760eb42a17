"""The house's floors (docs/architecture.md): no module imports from a higher layer, not even
inside a function, and no import cycle runs through what modules import when they load."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import jupyter_orbit

PACKAGE = Path(jupyter_orbit.__file__).parent

# Bottom to top; each top-level module or package of jupyter_orbit sits on one floor.
LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    (
        "core",
        frozenset(
            {
                "__init__",
                "_imports",
                "asof",
                "atomic",
                "browser",
                "client",
                "data",
                "errors",
                "execute",
                "gitdate",
                "hardware",
                "imagelayout",
                "linkmode",
                "indexes",
                "locking",
                "model",
                "notebook_dates",
                "offline",
                "paths",
                "plugins",
                "prestart",
                "progress",
                "pythons",
                "settings",
                "state",
                "trust",
                "untrusted",
                "uvcli",
                "usage",
                "uvfailure",
            }
        ),
    ),
    ("ecosystems", frozenset({"ecosystems"})),
    ("manifests", frozenset({"manifests"})),
    ("kernels", frozenset({"kernels"})),
    ("engines", frozenset({"engines", "remote"})),
    ("prepare", frozenset({"beside", "era", "prepare", "resolve"})),
    ("hub, bazaar, bundle and publish", frozenset({"hub", "bazaar", "bundle", "publish"})),
    ("server", frozenset({"server"})),
    ("profiles", frozenset({"profiles", "doctor", "desktop", "diskuse", "bundler"})),
    ("cli", frozenset({"cli", "__main__"})),
)
FLOOR = {name: n for n, (_, names) in enumerate(LAYERS) for name in names}
# Data folders, not Python.
NOT_CODE = {"labextensions", "web"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports(path: Path) -> tuple[set[str], set[str]]:
    """(every Orbit module ``path`` imports, the ones it imports when it loads)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = module_name(path)
    every: set[str] = set()
    at_load: set[str] = set()
    annotations_only = _type_checking(tree)

    def add(name: str, node: ast.AST, inside_function: bool) -> None:
        if not name.startswith("jupyter_orbit"):
            return
        every.add(name)
        if not inside_function and id(node) not in annotations_only:
            at_load.add(name)

    def walk(node: ast.AST, inside_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = inside_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(alias.name, child, nested)
            elif isinstance(child, ast.ImportFrom) and child.module:
                module = child.module
                if child.level:
                    base = here.split(".")[: len(here.split(".")) - child.level + 1]
                    module = ".".join([*base, module])
                add(module, child, nested)
                for alias in child.names:  # ``from jupyter_orbit import settings``
                    add(f"{module}.{alias.name}", child, nested)
            walk(child, nested)

    walk(tree, False)
    return every, at_load


def _type_checking(tree: ast.Module) -> set[int]:
    """The nodes under ``if TYPE_CHECKING:`` (imports for annotations only)."""
    out: set[int] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.If) and getattr(stmt.test, "id", None) == "TYPE_CHECKING":
            out |= {id(n) for s in stmt.body for n in ast.walk(s)}
    return out


def known(name: str, modules: set[str]) -> str | None:
    """The Orbit module an import names (``from x import y`` may name a module or a value)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(f) for f in files}
    every: dict[str, set[str]] = defaultdict(set)
    at_load: dict[str, set[str]] = defaultdict(set)
    for f in files:
        name = module_name(f)
        all_, load = imports(f)
        every[name] = {m for i in all_ if (m := known(i, modules)) and m != name}
        at_load[name] = {m for i in load if (m := known(i, modules)) and m != name}
    return every, at_load


def test_every_module_has_a_floor():
    modules = {top(module_name(f)) for f in PACKAGE.rglob("*.py")}
    unplaced = sorted(m for m in modules - FLOOR.keys() if m not in NOT_CODE)
    assert not unplaced, f"place these in LAYERS (and in docs/architecture.md): {unplaced}"


def test_no_module_imports_from_a_higher_layer():
    every, _ = graph()
    back = sorted(
        f"{a} ({LAYERS[FLOOR[top(a)]][0]}) imports {b} ({LAYERS[FLOOR[top(b)]][0]})"
        for a, targets in every.items()
        for b in targets
        if FLOOR[top(b)] > FLOOR[top(a)]
    )
    assert not back, "imports against the layers:\n" + "\n".join(back)


def test_no_import_cycles_when_modules_load():
    _, at_load = graph()
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(at_load.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*path[path.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(at_load):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_checker_sees_back_arrows_and_cycles(tmp_path: Path):
    """The walk itself: a lazy import inside a function and one guarded by TYPE_CHECKING."""
    mod = tmp_path / "jupyter_orbit" / "errors.py"
    mod.parent.mkdir()
    mod.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from jupyter_orbit.model import EnvSpec\n"
        "def f():\n    from jupyter_orbit.cli import main\n"
    )
    global PACKAGE
    saved, PACKAGE = PACKAGE, tmp_path / "jupyter_orbit"
    try:
        every, at_load = imports(mod)
    finally:
        PACKAGE = saved
    assert "jupyter_orbit.cli" in every and "jupyter_orbit.cli.main" in every
    assert "jupyter_orbit.model" in every and not at_load
