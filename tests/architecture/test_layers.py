"""The runtime's shape (docs/architecture.md): layers, no cycles, small modules, a true map."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "natsrpc"
MAX_LINES = 400

CORE = {
    "natsrpc.status",
    "natsrpc.spec",
    "natsrpc.codec",
    "natsrpc.metadata",
    "natsrpc.contract",
    "natsrpc.details",
    "natsrpc._version",
    "natsrpc.telemetry",
}
# What each layer may import from natsrpc, besides itself.
ALLOWED = {
    "core": CORE,
    "natsrpc.protocol": CORE,
    "natsrpc.transport": CORE | {"natsrpc.protocol"},
    "natsrpc.service_api": CORE | {"natsrpc.protocol", "natsrpc.transport"},
    "natsrpc.client": CORE | {"natsrpc.protocol", "natsrpc.transport"},
    "natsrpc.server": CORE | {"natsrpc.protocol", "natsrpc.transport", "natsrpc.service_api"},
}


def _written_by_hand(path: Path) -> bool:
    head = path.read_text().split("\n", 2)[:2]
    return not any("DO NOT EDIT" in line for line in head)


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if _written_by_hand(path):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports_of(path: Path, name: str) -> set[str]:
    """natsrpc modules ``path`` imports, each as the most specific module that exists."""
    known = set(modules())
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from package import module`` depends on the module, not on the package.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target.startswith("natsrpc") and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    return {name: imports_of(path, name) for name, path in modules().items()}


def layer(module: str) -> str:
    if module in CORE:
        return "core"
    for prefix in ALLOWED:
        if module == prefix or module.startswith(prefix + "."):
            return prefix
    return "top"


def test_no_module_is_over_the_limit() -> None:
    long = {
        name: n
        for name, path in modules().items()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_no_import_cycles() -> None:
    edges = graph()
    # Packages re-export their modules; only module-to-module imports can form a cycle
    # that matters, so an edge into a package means its __init__ alone.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in edges:
        if node not in index:
            visit(node)
    assert cycles == []


@pytest.mark.parametrize("module", sorted(m for m in modules() if layer(m) in ALLOWED))
def test_layers_import_only_downwards(module: str) -> None:
    own = layer(module)
    allowed = ALLOWED[own]
    illegal = {
        target
        for target in imports_of(modules()[module], module)
        if layer(target) != own
        and not any(target == a or target.startswith(a + ".") for a in allowed)
    }
    assert illegal == set(), f"{module} ({own}) may not import {sorted(illegal)}"


def test_client_and_server_never_import_each_other() -> None:
    for name, targets in graph().items():
        if layer(name) == "natsrpc.client":
            assert not {t for t in targets if layer(t) == "natsrpc.server"}, name
        if layer(name) == "natsrpc.server":
            assert not {t for t in targets if layer(t) == "natsrpc.client"}, name


def test_architecture_document_names_every_module() -> None:
    document = (ROOT / "docs" / "architecture.md").read_text()
    missing = []
    for name in modules():
        relative = name.removeprefix("natsrpc.").replace(".", "/")
        if name == "natsrpc" or name.endswith("__init__"):
            continue
        leaf = relative.rsplit("/", 1)[-1]
        if f"`{relative}`" not in document and not (
            leaf.startswith("_") or f"`{relative}/`" in document
        ):
            missing.append(relative)
    assert missing == []
