"""nats-py's private names are used in one package only: natsrpc/transport/natspy/.

A nats-py release may rename or reshape any of them; keeping them in one place,
behind a check per connection (``natspy.paths``), is what lets natsrpc fall
back to nats-py's public API instead of breaking. The private names are read
from the installed nats-py's own source, so a name it adds is covered too.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import nats
from test_layers import PACKAGE, ROOT, _written_by_hand

BOUNDARY = PACKAGE / "transport" / "natspy"
_ACCESSORS = {"getattr", "setattr", "hasattr", "delattr"}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@cache
def nats_private_names() -> frozenset[str]:
    """Every private attribute, method and module-level name in nats-py's source."""
    names: set[str] = set()
    for path in Path(nats.__file__).parent.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if node.value.id in ("self", "cls"):
                    names.add(node.attr)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
        for node in tree.body:
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return frozenset(n for n in names if _private(n))


def uses_of_nats_private_names(source: str) -> list[str]:
    """Each place ``source`` reaches a nats-py private name from outside the object's own class."""
    private = nats_private_names()
    found = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in private:
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                found.append(f"line {node.lineno}: .{node.attr}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _ACCESSORS
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and node.args[1].value in private
        ):
            found.append(f"line {node.lineno}: {node.func.id}(..., {node.args[1].value!r})")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "nats":
            found += [
                f"line {node.lineno}: import {a.name}" for a in node.names if _private(a.name)
            ]
    return sorted(found, key=lambda use: int(use.split(":")[0].split()[1]))


def test_nats_py_private_names_are_read_from_its_source() -> None:
    assert {"_pending", "_process_msg", "_error_cb", "_pending_queue"} <= nats_private_names()


def test_the_scan_finds_each_kind_of_use() -> None:
    source = (
        "from nats.aio.client import _validate_subject\n"
        "nc._pending.append(b'')\n"
        "getattr(nc, '_flush_queue', None)\n"
        "self._pending = []\n"
    )
    assert uses_of_nats_private_names(source) == [
        "line 1: import _validate_subject",
        "line 2: ._pending",
        "line 3: getattr(..., '_flush_queue')",
    ]


def test_only_the_boundary_touches_nats_py_internals() -> None:
    outside = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if BOUNDARY in path.parents or not _written_by_hand(path):
            continue
        uses = uses_of_nats_private_names(path.read_text())
        if uses:
            outside[str(path.relative_to(ROOT))] = uses
    assert outside == {}
