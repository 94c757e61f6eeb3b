"""Each rule the runtime shares has one implementation, and the others use it."""

from __future__ import annotations

import ast
import itertools

import pytest
from test_layers import PACKAGE

from natsrpc import contract
from natsrpc.spec import MethodKind


@pytest.mark.parametrize(
    "service, group_option, method, subject_option, subject",
    [
        ("pkg.Svc", "", "Do", "", "pkg.Svc.Do"),
        ("pkg.Svc", "billing.v1", "Do", "", "billing.v1.Do"),
        ("pkg.Svc", "", "Do", "do_it", "pkg.Svc.do_it"),
    ],
)
def test_the_group_is_the_method_subject_rule_undone(
    service: str, group_option: str, method: str, subject_option: str, subject: str
) -> None:
    group = contract.subject_group(service, group_option)
    assert contract.method_subject(group, method, subject_option) == subject
    assert contract.group_of(subject) == group


def test_method_kind_of_each_streaming_shape() -> None:
    kinds = {
        (client, server): MethodKind.of(client, server)
        for client, server in itertools.product((False, True), repeat=2)
    }
    assert all(kind.client_streams is client for (client, _), kind in kinds.items())
    assert all(kind.server_streams is server for (_, server), kind in kinds.items())
    assert len(set(kinds.values())) == 4


def test_header_blocks_are_built_in_header_blocks_only() -> None:
    # A literal starting a NATS header block anywhere else is a second builder.
    builders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "header_blocks.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
                text = node.value if isinstance(node.value, str) else node.value.decode("latin-1")
                if text.startswith("NATS/1.0"):
                    builders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert builders == []


def test_no_status_message_is_written_twice() -> None:
    # A message two places give RpcError as a literal belongs in a named constant.
    seen: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("RpcError", "_Status")
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value
            ):
                where = f"{path.relative_to(PACKAGE)}:{node.lineno}"
                seen.setdefault(str(node.args[1].value), []).append(where)
    assert {message: places for message, places in seen.items() if len(places) > 1} == {}
