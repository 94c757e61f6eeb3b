"""Which proto method names the generated sync client also offers, grpcio-style."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from plugin_helpers import ruff

from natsrpc.contract import MethodKind
from protoc_gen_natsrpc import literals
from protoc_gen_natsrpc.models import Method
from protoc_gen_natsrpc.naming import BASE_CLASS_MEMBERS, with_grpc_aliases


def method(name: str, attribute: str) -> Method:
    return Method(
        name=name,
        attribute=attribute,
        constant=f"S_{attribute.upper()}",
        kind=MethodKind.UNARY,
        request_type="pb.Req",
        response_type="pb.Resp",
        subject=f"pkg.S.{name}",
        timeout=None,
        idempotency=None,
        docstring="",
        description="",
    )


@pytest.mark.parametrize(
    ("name", "attribute", "alias"),
    [
        ("SayHello", "say_hello", "SayHello"),
        ("say_hello", "say_hello", None),  # the attribute itself
        ("None", "none", None),  # a keyword
        ("__Init", "_init", None),  # would be name-mangled
        ("_unary_unary", "_unary_unary_", None),  # a base class member
        ("ClassVar", "class_var", None),  # named in the class body
        ("EchoClient", "echo_client", None),  # the async client the class refers to
        ("type", "type_", None),  # named in the ClassVar annotation
    ],
)
def test_alias_rules(name: str, attribute: str, alias: str | None) -> None:
    body = {"ClassVar", "EchoClient", "ECHO_SERVICE"}
    members = BASE_CLASS_MEMBERS | {attribute}
    (result,) = with_grpc_aliases([method(name, attribute)], lambda n: n in members or n in body)
    assert result.grpc_alias == alias


def test_alias_never_takes_another_methods_name() -> None:
    first, second = with_grpc_aliases(
        [method("get_url", "get_url"), method("Get_url", "get_url_")], lambda n: False
    )
    assert first.grpc_alias is None
    assert second.grpc_alias == "Get_url"
    # A proto name that is another method's Python name stays that method's.
    third, fourth = with_grpc_aliases(
        [method("Foo", "foo"), method("foo", "foo_")], lambda n: False
    )
    assert third.grpc_alias == "Foo"
    assert fourth.grpc_alias is None


def test_aliases_on_the_generated_class(generated: Any) -> None:
    from natsrpc_test import stream_natsrpc

    sync_class = stream_natsrpc.StreamerSyncClient
    assert sync_class.Produce is sync_class.produce
    assert sync_class._natsrpc_client is stream_natsrpc.StreamerClient
    assert sync_class.produce.method is stream_natsrpc.STREAMER_PRODUCE


@pytest.mark.parametrize(
    ("target", "callee", "argument"),
    [
        ("say_hello", "natsrpc.stubs.UnaryMethod", "GREETER_SAY_HELLO"),
        ("a" * 70, "natsrpc.stubs.BidiStreamMethod", "B" * 78),  # parentheses make it fit
        ("a" * 70, "natsrpc.stubs.BidiStreamMethod", "B" * 95),  # nothing fits: split plainly
        ("a" * 40, "natsrpc.stubs.UnaryMethod", "B" * 60),  # split at the call's brackets
    ],
)
def test_sync_client_lines_are_laid_out_as_ruff_formats_them(
    tmp_path: Path, target: str, callee: str, argument: str
) -> None:
    alias = target.title().replace("_", "")
    member = f"{callee}(\n    {argument},\n)"
    source = (
        "import natsrpc.stubs\n\n"
        f"{argument} = 1\n\n\n"
        "class C:\n"
        f"{literals.assignment('    ', target, member)}\n"
        f"{literals.assignment('    ', alias + 'X' * 30, target)}\n"
        f"{literals.assignment('    ', alias, target)}\n"
    )
    (tmp_path / "shapes.py").write_text(source)
    result = ruff("format", "--check", "--diff", "shapes.py", cwd=tmp_path)
    assert result.returncode == 0, result.stdout
