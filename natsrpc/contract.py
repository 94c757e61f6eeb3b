"""The rules the plugin, the generated code and the runtime must agree on.

This module imports nothing but the standard library, so that the plugin can use
it without loading the runtime: the ADR-32 name and version rules, the method
kinds, and how a method's NATS subject follows from its service and its options
(docs/protocol.md §1).
"""

from __future__ import annotations

import enum
import re

# ADR-32's rules for service names and versions (the semver.org regular expression).
NAME_PATTERN = re.compile(r"[A-Za-z0-9\-_]+")
SEMVER_PATTERN = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
)


class MethodKind(enum.Enum):
    """How many messages travel in each direction; values are ADR-32 metadata strings."""

    UNARY = "unary"
    SERVER_STREAMING = "server_streaming"
    CLIENT_STREAMING = "client_streaming"
    BIDI_STREAMING = "bidi_streaming"

    @classmethod
    def of(cls, client_streaming: bool, server_streaming: bool) -> MethodKind:
        """The kind of a proto method with these ``stream`` markers."""
        if client_streaming and server_streaming:
            return cls.BIDI_STREAMING
        if client_streaming:
            return cls.CLIENT_STREAMING
        if server_streaming:
            return cls.SERVER_STREAMING
        return cls.UNARY

    @property
    def client_streams(self) -> bool:
        return self in (MethodKind.CLIENT_STREAMING, MethodKind.BIDI_STREAMING)

    @property
    def server_streams(self) -> bool:
        return self in (MethodKind.SERVER_STREAMING, MethodKind.BIDI_STREAMING)


def subject_group(service_full_name: str, subject_group_option: str = "") -> str:
    """A service's subject group: its ``subject_group`` option, else its full proto name."""
    return subject_group_option or service_full_name


def method_subject(group: str, method_name: str, subject_option: str = "") -> str:
    """A method's subject: its service's group, then its ``subject`` option or its name."""
    return f"{group}.{subject_option or method_name}"


def group_of(method_subject: str) -> str:
    """The subject group a method subject belongs to: ``method_subject``'s rule undone."""
    return method_subject.rpartition(".")[0]
