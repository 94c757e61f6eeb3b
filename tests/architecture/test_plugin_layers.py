"""The plugin's shape (docs/architecture.md): it reads three dependency-free runtime modules
and nothing else of the runtime, so that running protoc loads no nats-py."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "protoc_gen_natsrpc"
MAX_LINES = 400
# natsrpc modules that import nothing but the standard library and protobuf.
SHARED = {"natsrpc.contract", "natsrpc._version", "natsrpc.options_pb2"}


def _plugin_modules() -> dict[str, Path]:
    return {
        ".".join(path.relative_to(ROOT).with_suffix("").parts): path
        for path in sorted(PLUGIN.rglob("*.py"))
    }


def _natsrpc_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.update(
                f"{node.module}.{alias.name}" if node.module == "natsrpc" else node.module
                for alias in node.names
            )
    return {name for name in found if name == "natsrpc" or name.startswith("natsrpc.")}


def test_plugin_imports_only_the_shared_runtime_modules() -> None:
    illegal = {
        name: sorted(imports - SHARED)
        for name, path in _plugin_modules().items()
        if (imports := _natsrpc_imports(path)) - SHARED
    }
    assert illegal == {}


def test_no_plugin_module_is_over_the_limit() -> None:
    long = {
        name: n
        for name, path in _plugin_modules().items()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_architecture_document_names_every_plugin_module() -> None:
    document = (ROOT / "docs" / "architecture.md").read_text()
    start = document.index("## The plugin")
    plugin_section = document[start : document.index("\n## ", start + 1)]
    missing = [
        name.rsplit(".", 1)[-1]
        for name in _plugin_modules()
        if not name.endswith("__init__") and f"`{name.rsplit('.', 1)[-1]}`" not in plugin_section
    ]
    assert missing == []


def test_importing_the_plugin_loads_no_runtime() -> None:
    probe = (
        "import sys\n"
        "import protoc_gen_natsrpc.plugin, protoc_gen_natsrpc.__main__\n"
        "import protoc_gen_natsrpc\n"
        "assert protoc_gen_natsrpc.__version__\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('nats', 'natsrpc'))\n"
        "print(' '.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    loaded = set(result.stdout.split())
    assert not {m for m in loaded if m == "nats" or m.startswith("nats.")}
    assert "natsrpc.server" not in loaded
    assert "natsrpc.client" not in loaded
    assert loaded <= {"natsrpc"} | SHARED, sorted(loaded)
