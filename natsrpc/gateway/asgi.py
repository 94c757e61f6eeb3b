"""One HTTP exchange on the ASGI interface: reading the request, writing the answer.

Plain ASGI rather than a framework: the Connect protocol needs only a router by
path and the raw request and response streams, and the gateway mounts in any
ASGI application (Starlette, FastAPI) as it stands.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any, Protocol

from natsrpc.status import RpcError, StatusCode

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]


class ClientGone(Exception):
    """The HTTP client disconnected: nobody is left to answer."""


class _Cancellable(Protocol):
    def cancel(self) -> bool: ...


class Exchange:
    """The request's parts, and the response's state (started or not)."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        self.method: str = scope["method"]
        root = scope.get("root_path", "")
        path: str = scope["path"]
        # Mounted under a prefix (Starlette's Mount): routes are below it.
        self.path = path[len(root) :] if root and path.startswith(root) else path
        self.header_pairs = [
            (name.decode("latin-1").lower(), value.decode("latin-1"))
            for name, value in scope["headers"]
        ]
        self.headers = dict(self.header_pairs)
        self.started = False
        self.gone = False
        self.streaming = False
        """Whether errors are answered in-band, in a Connect end-of-stream message."""

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    async def read_body(self, limit: int) -> bytes:
        """The whole request body, refused as soon as it passes ``limit`` bytes."""
        declared = self.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _too_large(int(declared), limit)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.gone = True
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(size, limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    @contextlib.contextmanager
    def cancelling_on_disconnect(self, call: _Cancellable) -> Iterator[None]:
        """Cancel ``call`` if the client goes away while the block runs."""
        watcher = asyncio.get_running_loop().create_task(self._watch(call))
        try:
            yield
        finally:
            watcher.cancel()

    async def _watch(self, call: _Cancellable) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass
        self.gone = True
        call.cancel()

    async def start(self, status: int, headers: Headers) -> None:
        self.started = True
        await self._send({"type": "http.response.start", "status": status, "headers": headers})

    async def write(self, body: bytes, more: bool = True) -> None:
        await self._send({"type": "http.response.body", "body": body, "more_body": more})

    async def respond(self, status: int, headers: Headers, body: bytes) -> None:
        headers.append((b"content-length", str(len(body)).encode()))
        await self.start(status, headers)
        await self.write(body, more=False)


def _too_large(size: int, limit: int) -> RpcError:
    return RpcError(
        StatusCode.RESOURCE_EXHAUSTED,
        f"request of {size} bytes exceeds the gateway's limit of {limit} bytes",
    )
