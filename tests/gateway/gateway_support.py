"""What the gateway's test modules share besides fixtures."""

from __future__ import annotations

import asyncio
import re
import signal
import struct
import sys
from dataclasses import dataclass
from typing import Any

from helpers import Served

from natsrpc.gateway import Gateway

COMMAND = [sys.executable, "-m", "natsrpc.cli"]
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


@dataclass
class GatewayProcess:
    """A ``natsrpc gateway`` subprocess, read without blocking the test's event loop."""

    process: asyncio.subprocess.Process
    ready_line: str

    def address(self, front: str) -> str:
        """``host:port`` of ``gRPC`` or the URL of ``Connect`` from the ready line."""
        match = re.search(rf"{front} on (\S+?)[;\s]", self.ready_line)
        assert match, self.ready_line
        return match.group(1)

    async def stop(self) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), 30)


async def start_gateway(env: dict[str, str], *args: str) -> GatewayProcess:
    process = await asyncio.create_subprocess_exec(
        *COMMAND, "gateway", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    seen = []
    try:
        while True:
            line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
            seen.append(line)
            if not line or (line.startswith("natsrpc gateway: ") and " on " in line):
                break
    except BaseException:
        process.kill()
        await process.wait()
        raise
    assert line, f"the gateway exited: {''.join(seen)}"
    return GatewayProcess(process, line)
