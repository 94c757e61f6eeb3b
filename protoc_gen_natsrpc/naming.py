"""Turning proto identifiers into Python names that are valid, readable and unique."""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from .models import Method

# A boundary sits between a lower-case letter or digit and an upper-case letter
# (``sayHello``, ``Server2Go``) and before the last capital of an acronym that
# starts a new word (``HTTPServer`` -> ``HTTP_Server``).
_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")

RESERVED_WORDS = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist)

BASE_CLASS_MEMBERS = frozenset(
    {
        "_client",
        "_config",
        "_connection",
        "_natsrpc_client",
        "_natsrpc_component",
        "_natsrpc_reflected",
        "_natsrpc_service",
        "_prepare",
        "_start_stream",
        "_start_unary",
        "_stream_stream",
        "_stream_unary",
        "_unary_stream",
        "_unary_unary",
    }
)
"""Private members of ``natsrpc.Client``, ``natsrpc.Service`` and ``natsrpc.sync.SyncClient``;
a generated method of the same name would replace them, as it would the attributes the runtime
reads off generated classes (``_natsrpc_*``). tests/plugin/test_plugin_generate.py keeps
this list complete."""


def snake_case(name: str) -> str:
    """Python method name: ``GetURL`` -> ``get_url``, ``HTTPServer2Go`` -> ``http_server2_go``.

    Names already in snake case are unchanged.
    """
    return _WORD_BOUNDARY.sub("_", name).lower()


def upper_snake_case(name: str) -> str:
    return snake_case(name).upper()


def member_name(name: str) -> str:
    """Python attribute name for a proto method.

    A leading double underscore would trigger class-private name mangling, so the
    runtime could not find the method by its attribute name; keep a single one.
    """
    snake = snake_case(name)
    if snake.startswith("__"):
        snake = "_" + snake.lstrip("_")
    return snake


class NameScope:
    """Hands out names unique within one namespace; later claimants get trailing underscores."""

    def __init__(self, taken: Iterable[str] = ()) -> None:
        self._taken = set(taken)

    def claim(self, wanted: str) -> str:
        name = wanted
        while name in self._taken or name in RESERVED_WORDS:
            name += "_"
        self._taken.add(name)
        return name

    def __contains__(self, name: object) -> bool:
        return name in self._taken


def with_grpc_aliases(
    methods: Sequence[Method], taken: Callable[[str], bool]
) -> tuple[Method, ...]:
    """``methods`` with ``grpc_alias`` set wherever the proto name can be a second attribute.

    grpcio stubs name methods as the proto does (``stub.SayHello``); both clients
    offer that name too unless it is the attribute itself, a keyword, private
    (leading double underscore), another method's attribute, or ``taken`` (names
    the class body refers to or inherits).
    """
    attributes = {method.attribute for method in methods}

    def usable(name: str, attribute: str) -> bool:
        return (
            name != attribute
            and name.isidentifier()
            and name not in RESERVED_WORDS
            and not name.startswith("__")
            and name not in attributes
            # ``type`` is spelled in the class's ClassVar annotation.
            and name != "type"
            and not taken(name)
        )

    return tuple(
        replace(method, grpc_alias=method.name) if usable(method.name, method.attribute) else method
        for method in methods
    )
