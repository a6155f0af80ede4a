"""The house rules of docs/architecture.md, read from the code's imports (every import, lazy ones included):
each room imports only the rooms below it, no modules import each other in a loop, and the top of the package
keeps only its few cross-cutting modules."""

from __future__ import annotations

import ast
from pathlib import Path

from .conftest import ROOT

PACKAGE = ROOT / "alpaca_lc"
_STAGES = {"records", "endpoint", "generation", "annotation", "scoring", "stats", "release", "report", "pipeline"}
ALLOWED = {
    "errors": set(),
    "progress": set(),
    "stats": set(),
    "testing": set(),
    "config": {"errors"},
    "records": {"stats", "errors"},
    "endpoint": {"config", "errors"},
    "scoring": {"records", "stats", "config", "errors"},
    "generation": {"records", "endpoint", "config", "progress", "errors"},
    "annotation": {"records", "endpoint", "config", "progress", "errors"},
    "report": {"scoring", "records", "stats", "config", "errors"},
    "release": {"annotation", "scoring", "records", "stats", "config", "errors"},
    "pipeline": _STAGES - {"pipeline"} | {"config", "progress", "errors"},
    "cli": _STAGES | {"config", "progress", "errors"},
    "__main__": {"cli"},
}


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The alpaca_lc modules a file imports (a name imported from a package counts as its module when it is one)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "alpaca_lc":
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                is_module = (ROOT / Path(*child.split("."))).with_suffix(".py").exists()
                found.add(child if is_module else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "alpaca_lc"}
    return found


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "alpaca_lc"


GRAPH = {_module(p): _imports(p) for p in PACKAGE.rglob("*.py")}


def test_each_room_imports_only_rooms_below_it() -> None:
    wrong = [f"{src} imports {dst}" for src, targets in GRAPH.items() for dst in sorted(targets)
             if _room(dst) not in {_room(src), "alpaca_lc"} | ALLOWED[_room(src)]]  # fmt: skip
    assert not wrong, wrong


def test_no_modules_import_each_other_in_a_loop() -> None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = 1
        for target in sorted(GRAPH.get(module, ())):
            if target == module or target not in GRAPH or _module_is_package_face(target):
                continue
            if state.get(target) == 1:
                return [*path[path.index(target) :], target] if target in path else [module, target]
            if target not in state and (loop := visit(target, [*path, target])):
                return loop
        state[module] = 2
        return None

    for module in sorted(GRAPH):
        if module not in state:
            assert (loop := visit(module, [module])) is None, " -> ".join(loop)


def _module_is_package_face(module: str) -> bool:
    """`alpaca_lc` itself (its `__version__` and `package_file`) is the ground every room stands on."""
    return module == "alpaca_lc"


def test_the_top_of_the_package_keeps_only_its_cross_cutting_modules() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "config.py", "errors.py", "progress.py"], top
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert packages == _STAGES | {"cli", "testing"}, packages
    for name in packages:
        doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text(encoding="utf-8")))
        assert doc and "import" in doc.lower(), f"alpaca_lc/{name}/__init__.py must say what the room may import"
