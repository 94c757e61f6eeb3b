"""Turning proto identifiers into Python names that are valid, readable and unique."""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable

# A boundary sits between a lower-case letter or digit and an upper-case letter
# (``sayHello``, ``Server2Go``) and before the last capital of an acronym that
# starts a new word (``HTTPServer`` -> ``HTTP_Server``).
_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")

RESERVED_WORDS = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist)

BASE_CLASS_MEMBERS = frozenset(
    {
        "_heartbeat",
        "_interceptors",
        "_nc",
        "_stream_interceptors",
        "_stream_stream",
        "_stream_unary",
        "_stream_window",
        "_subject_prefix",
        "_timeout",
        "_unary_call",
        "_unary_stream",
        "_unary_unary",
    }
)
"""Private members of ``natsrpc.Client`` and ``natsrpc.Service``; a generated method of the
same name would replace them. tests/test_plugin_generate.py keeps this list complete."""


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

    def reserve(self, name: str) -> None:
        self._taken.add(name)

    def __contains__(self, name: object) -> bool:
        return name in self._taken
