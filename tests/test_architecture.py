"""GUIDE §2: the core is pure (no file, clock, network, process or printing) and its
dependencies point one way; the core never imports the edges (ledger, CLI, servers)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "noc_ledger"

#: The core's modules and their layer: a module may import only from lower layers.
LAYERS: dict[str, int] = {
    "noc_ledger": 0,
    "noc_ledger.errors": 0,
    "noc_ledger.codec": 1,
    "noc_ledger.merkle": 1,
    "noc_ledger.vocabulary": 1,
    "noc_ledger._fields": 2,
    "noc_ledger.signing": 2,
    "noc_ledger.statusmap": 2,
    "noc_ledger.bundle": 3,
    "noc_ledger.scope": 3,
    "noc_ledger.note": 3,
    "noc_ledger.model": 4,
    "noc_ledger.checkpoint": 4,
    "noc_ledger.policy": 4,
    "noc_ledger.events": 5,
    "noc_ledger.logstate": 6,
    "noc_ledger.verify": 7,
    "noc_ledger.presentation": 8,
    "noc_ledger.interop": 8,
    "noc_ledger.splitview": 5,
    # The read path (spec/tiles.md, spec/witness.md): pure parts only.
    "noc_ledger.tiles": 2,
    "noc_ledger.witness": 5,
    "noc_ledger.audit": 7,
}
EDGE_PREFIXES = (
    "noc_ledger.ledger",
    "noc_ledger.client",
    "noc_ledger.cli",
    "noc_ledger.server",
    "noc_ledger.hsm",
    "noc_ledger.publish",
)

#: Standard-library modules that touch files, clocks, the network, processes or the
#: environment. The core must not import them.
IMPURE = {
    "os",
    "io",
    "pathlib",
    "shutil",
    "tempfile",
    "glob",
    "fileinput",
    "sqlite3",
    "dbm",
    "time",
    "datetime",
    "zoneinfo",
    "socket",
    "ssl",
    "select",
    "selectors",
    "asyncio",
    "http",
    "urllib",
    "ftplib",
    "smtplib",
    "subprocess",
    "multiprocessing",
    "threading",
    "signal",
    "sys",
    "logging",
    "random",
    "secrets",
    "uuid",
    "webbrowser",
    "getpass",
}
#: The one sanctioned read: packaged vocabulary data (read-only, shipped with the code).
ALLOWED = {"noc_ledger.vocabulary": {"importlib.resources"}}
FORBIDDEN_CALLS = {"open", "print", "input", "exec", "eval", "breakpoint"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(tree: ast.AST, module: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.rsplit(".", node.level)[0] if module.count(".") else module
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            found.add(name)
            # ``from noc_ledger import codec`` imports the submodule noc_ledger.codec.
            if name == "noc_ledger":
                found.update(f"noc_ledger.{alias.name}" for alias in node.names)
    return found


CORE = sorted(p for p in PACKAGE.rglob("*.py") if _module_name(p) in LAYERS)


def test_every_module_is_classified() -> None:
    # A new module must be placed in a layer (or be an edge module) deliberately.
    for path in PACKAGE.rglob("*.py"):
        name = _module_name(path)
        assert name in LAYERS or name.startswith(EDGE_PREFIXES) or name == "noc_ledger.__main__", (
            f"unclassified module {name}"
        )


@pytest.mark.parametrize("path", CORE, ids=_module_name)
def test_core_module_is_pure_and_layered(path: Path) -> None:
    module = _module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for name in _imports(tree, module):
        top = name.split(".")[0]
        if name in ALLOWED.get(module, set()):
            continue
        assert top not in IMPURE and name not in IMPURE, f"{module} imports {name}"
        assert not name.startswith(EDGE_PREFIXES), f"{module} imports the edge module {name}"
        if name.startswith("noc_ledger.") and name in LAYERS and module != "noc_ledger":
            assert LAYERS[name] < LAYERS[module], f"{module} imports {name} (same or higher layer)"
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in FORBIDDEN_CALLS, f"{module} calls {node.func.id}()"


def test_the_check_catches_impurity(tmp_path: Path) -> None:
    # The test above must be able to fail.
    tree = ast.parse("import os\nfrom time import time\nfrom noc_ledger.ledger import x\n")
    names = _imports(tree, "noc_ledger.model")
    assert {"os", "time", "noc_ledger.ledger"} <= names
