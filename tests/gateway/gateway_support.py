"""What the gateway's test modules share besides fixtures."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from helpers import Served

from natsrpc.gateway import Gateway

TEST_ORIGIN = "http://127.0.0.1:1"
"""An origin the test gateway allows (no page is served there: only the header counts)."""


@dataclass
class Running:
    """A gateway serving the test services: where to reach it, and what it serves."""

    gateway: Gateway
    http_url: str
    grpc_target: str
    served: Served


def connect_headers(**extra: Any) -> dict[str, str]:
    return {"connect-protocol-version": "1", **{k.replace("_", "-"): v for k, v in extra.items()}}


def envelope(payload: bytes, flags: int = 0) -> bytes:
    return struct.pack(">BI", flags, len(payload)) + payload


def envelopes(body: bytes) -> list[tuple[int, bytes]]:
    found = []
    while body:
        flags, size = struct.unpack_from(">BI", body)
        found.append((flags, body[5 : 5 + size]))
        body = body[5 + size :]
    return found
