"""Granted subjects, and how they are printed: nats-server configuration or a user JWT's."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from natsrpc.cli.output import CliError


@dataclass
class Permissions:
    publish: list[str] = field(default_factory=list)
    subscribe: list[str] = field(default_factory=list)

    def add(self, publish: Iterable[str] = (), subscribe: Iterable[str] = ()) -> None:
        """Add the subjects not granted yet, keeping the order they were first given in."""
        for granted, wanted in ((self.publish, publish), (self.subscribe, subscribe)):
            granted += [s for s in dict.fromkeys(wanted) if s not in granted]


def nats_config(permissions: Permissions, user: str, max_call: str, title: str) -> str:
    def allow(items: list[str]) -> list[str]:
        # Quoted: `$` starts a variable in unquoted nats-server configuration values.
        return ["    allow: [", *(f"      {json.dumps(item)}," for item in items), "    ]"]

    return "\n".join(
        [
            f"# {title}",
            f'# Connect as {user} with inbox prefix "_INBOX.{user}" '
            f"(natsrpc --inbox-prefix _INBOX.{user}; nats-py: inbox_prefix=...).",
            "permissions: {",
            "  publish: {",
            *allow(permissions.publish),
            "  }",
            "  subscribe: {",
            *allow(permissions.subscribe),
            "  }",
            f'  allow_responses: {{ max: -1, expires: "{max_call}" }}',
            "}",
        ]
    )


def jwt_permissions(permissions: Permissions, max_call_ns: int) -> dict[str, Any]:
    """The ``pub``/``sub``/``resp`` object of a NATS user JWT."""
    return {
        "pub": {"allow": permissions.publish},
        "sub": {"allow": permissions.subscribe},
        "resp": {"max": -1, "ttl": max_call_ns},
    }


def parse_duration(text: str) -> int:
    """Nanoseconds in ``90s``, ``15m``, ``2h``."""
    units = {"ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit):
            number = text[: -len(unit)]
            if number.isdigit() and int(number) > 0:
                return int(number) * units[unit]
    raise CliError(f"{text!r} is not a duration like 90s, 15m or 2h")
