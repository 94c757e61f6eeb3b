"""``natsrpc.connect``: nats-py's connect, failing fast and quietly when no server answers.

nats-py retries a first connection that fails as it retries a lost one: with its
defaults, 60 attempts 2 s apart per server, each logged with a traceback
("nats: encountered error"), before ``NoServersError``. A program that is
started with no server running should say so at once. So the first connection
tries each server once, within ``connect_timeout`` in all, and fails with one
line naming the servers and the cause. Once connected, reconnecting is
nats-py's, with its options; each failure is logged as one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.client import Client as NATS

logger = logging.getLogger("natsrpc.connection")

DEFAULT_URL = "nats://127.0.0.1:4222"
URL_ENV = "NATS_URL"
"""The environment variable the nats CLI, the natsrpc command and ``connect()`` read."""
CONNECT_TIMEOUT = 5.0

ErrorCallback = Callable[[Exception], Awaitable[None]]


class ConnectError(ConnectionError):
    """No server of the list accepted the first connection; the message is one line."""

    __module__ = "natsrpc"  # its public name, in tracebacks too

    def __init__(self, servers: str, cause: str) -> None:
        super().__init__(f"could not connect to {servers}: {cause}")
        self.servers = servers
        self.cause = cause


def default_servers() -> str:
    """``$NATS_URL``, else nats://127.0.0.1:4222 (where ``natsrpc dev`` listens)."""
    return os.environ.get(URL_ENV, "").strip() or DEFAULT_URL


def server_list(servers: str | list[str] | None) -> list[str]:
    """The URLs to try: a list, or one string of comma-separated URLs as the nats CLI takes."""
    if servers is None:
        servers = default_servers()
    if isinstance(servers, str):
        servers = servers.split(",")
    urls = [url.strip() for url in servers if url.strip()]
    if not urls:
        raise ValueError("give at least one NATS server URL")
    return urls


def describe(error: BaseException, timeout: float | None = None) -> str:
    """A connection failure in a few words, without the errno and address noise."""
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, (asyncio.TimeoutError, TimeoutError)):
        return "timed out" if timeout is None else f"no answer within {timeout:g}s"
    text = str(error).strip()
    if text.startswith("nats: "):
        text = text[len("nats: ") :]
    return text or type(error).__name__


async def connect(
    servers: str | list[str] | None = None,
    *,
    connect_timeout: float = CONNECT_TIMEOUT,
    error_cb: ErrorCallback | None = None,
    disconnected_cb: Callable[[], Awaitable[None]] | None = None,
    reconnected_cb: Callable[[], Awaitable[None]] | None = None,
    **options: Any,
) -> NATS:
    """Connect to NATS, or raise :class:`ConnectError` within ``connect_timeout`` seconds.

    ``servers`` defaults to ``$NATS_URL``, else ``nats://127.0.0.1:4222``; a
    string may list several URLs separated by commas. The other keyword
    arguments are ``nats.connect``'s and keep their meaning once connected
    (reconnecting, pings, credentials, TLS). Without an ``error_cb``, every
    error after the first connection is logged on the ``natsrpc.connection``
    logger as one line, and so are disconnects and reconnects.
    """
    urls = server_list(servers)
    shown = ", ".join(urls)
    loop = asyncio.get_running_loop()
    first_connection_failed: asyncio.Future[Exception] = loop.create_future()
    failures: list[Exception] = []
    connected = False
    nc = NATS()

    async def on_error(error: Exception) -> None:
        if not connected:
            # Each attempt on a server reports its failure here; when every server
            # has failed once the first connection has failed.
            failures.append(error)
            if len(failures) >= len(urls) and not first_connection_failed.done():
                first_connection_failed.set_result(error)
            return
        if error_cb is not None:
            await error_cb(error)
        else:
            logger.warning("NATS connection (%s): %s", _current(nc, shown), describe(error))

    async def on_disconnected() -> None:
        if disconnected_cb is not None:
            await disconnected_cb()
        elif nc.is_reconnecting:
            logger.warning("NATS connection lost (%s); reconnecting", shown)

    async def on_reconnected() -> None:
        if reconnected_cb is not None:
            await reconnected_cb()
        else:
            logger.warning("NATS connection restored (%s)", _current(nc, shown))

    attempt = loop.create_task(
        nc.connect(
            urls,
            connect_timeout=connect_timeout,  # type: ignore[arg-type] # nats-py says int, means seconds
            error_cb=on_error,
            disconnected_cb=on_disconnected,
            reconnected_cb=on_reconnected,
            **options,
        )
    )
    waiting: set[asyncio.Future[Any]] = {attempt, first_connection_failed}
    try:
        done, _ = await asyncio.wait(
            waiting,
            timeout=connect_timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
    except BaseException:
        await _abandon(attempt, nc)
        raise
    if attempt in done and attempt.exception() is None:
        connected = True
        return nc
    await _abandon(attempt, nc)
    if first_connection_failed.done():
        cause: BaseException = first_connection_failed.result()
    elif attempt in done:
        cause = attempt.exception() or RuntimeError("connect failed")
    else:
        cause = TimeoutError()
    reason = describe(cause, connect_timeout)
    if isinstance(cause, ConnectionRefusedError):
        reason += " (is nats-server running? `natsrpc dev` starts one)"
    raise ConnectError(shown, reason) from None


def _current(nc: NATS, fallback: str) -> str:
    url = nc.connected_url
    return url.geturl() if url is not None else fallback


async def _abandon(attempt: asyncio.Task[None], nc: NATS) -> None:
    attempt.cancel()
    with contextlib.suppress(BaseException):
        await attempt
    with contextlib.suppress(Exception):
        await nc.close()
