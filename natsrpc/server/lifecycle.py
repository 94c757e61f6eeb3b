"""Running a server until the process is told to stop, then stopping without losing calls.

::

    async def main() -> natsrpc.Server:
        nc = await natsrpc.connect(url)
        server = natsrpc.Server(nc)
        server.add_service(Greeter())
        return server

    if __name__ == "__main__":
        natsrpc.run(main)          # serves until SIGINT or SIGTERM

On the first signal the server stops the way ``Server.stop`` does: it leaves its
queue groups (other instances take new requests), finishes every request it
already received within the grace period, answers what is still running then
with CANCELLED, and finally drains and closes the NATS connection, which
delivers replies still buffered. A second signal during that stop ends the
process at once (the signal's default action).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, Protocol, TypeVar, overload

from natsrpc.server.server import Server
from natsrpc.transport.dial import ConnectError

logger = logging.getLogger("natsrpc.lifecycle")

DEFAULT_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)

EVENT_LOOP_ENV = "NATSRPC_EVENT_LOOP"
"""Set to ``asyncio`` to keep asyncio's own event loop even where uvloop is installed."""

T = TypeVar("T")


class Probes(Protocol):
    """Metrics and health probes over HTTP (``natsrpc.metrics.Probes``)."""

    def watch(self, server: Server) -> None: ...

    def close(self) -> None: ...


_open_probes: Callable[[str, int], Probes] | None = None


def provide_probes(factory: Callable[[str, int], Probes]) -> None:
    """Install what ``run(metrics_port=...)`` serves with; importing natsrpc does.

    The probes live above this layer (``natsrpc.metrics``), so they are handed down.
    """
    global _open_probes
    _open_probes = factory


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop when uvloop is installed (the ``natsrpc[speed]`` extra), else asyncio's.

    uvloop runs the same natsrpc code with less CPU per message (bench/README.md
    has the numbers); without it nothing changes.
    """
    if os.environ.get(EVENT_LOOP_ENV, "").strip().lower() != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def run_in_new_loop(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on ``new_event_loop()``."""
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            return runner.run(main)
    loop = new_event_loop()  # pragma: no cover - Python 3.10
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main)
    finally:
        try:
            _cancel_all_tasks(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> None:  # pragma: no cover - 3.10
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


async def serve_until_signal(
    server: Server,
    *,
    signals: Iterable[signal.Signals] = DEFAULT_SIGNALS,
    grace_period: float | None = None,
    drain: bool = True,
    ready: Callable[[], object] | None = None,
) -> signal.Signals:
    """Serve until one of ``signals`` arrives, stop gracefully, and return that signal.

    Starts ``server`` unless it is already started; ``ready`` is called once it
    serves (handy for printing a readiness line). ``grace_period`` overrides the
    server's own. With ``drain`` (the default) the server's NATS connection is
    drained and closed afterwards; pass False to keep using the connection.
    Must run in the main thread (Python delivers signals only there).
    """
    loop = asyncio.get_running_loop()
    received: asyncio.Future[signal.Signals] = loop.create_future()
    wanted = tuple(signal.Signals(s) for s in signals)
    if not wanted:
        raise ValueError("give at least one signal")

    def on_signal(sig: signal.Signals) -> None:
        if not received.done():
            received.set_result(sig)

    installed: list[signal.Signals] = []
    try:
        for sig in wanted:
            loop.add_signal_handler(sig, on_signal, sig)
            installed.append(sig)
        if not server.started:
            await server.start()
        if ready is not None:
            ready()
        caught = await received
        logger.info("received %s; stopping gracefully", caught.name)
    finally:
        # From here on a second signal takes its default action: a forced stop.
        for sig in installed:
            loop.remove_signal_handler(sig)
    await server.stop(grace_period)
    if drain:
        nc = server.nc
        if not nc.is_closed:
            await nc.drain()
    return caught


@overload
def run(
    main: Callable[[], Awaitable[Server]],
    *,
    signals: Iterable[signal.Signals] = DEFAULT_SIGNALS,
    grace_period: float | None = None,
    ready: Callable[[], object] | None = None,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
) -> signal.Signals: ...


@overload
def run(
    main: Callable[[], Awaitable[None]],
    *,
    signals: Iterable[signal.Signals] = DEFAULT_SIGNALS,
    grace_period: float | None = None,
    ready: Callable[[], object] | None = None,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
) -> None: ...


def run(
    main: Callable[[], Awaitable[Server | None]],
    *,
    signals: Iterable[signal.Signals] = DEFAULT_SIGNALS,
    grace_period: float | None = None,
    ready: Callable[[], object] | None = None,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
) -> signal.Signals | None:
    """``asyncio.run`` a natsrpc program; one that returns a Server serves until a signal.

    ``main`` connects to NATS and returns a Server with its services added
    (started or not), which is then served as :func:`serve_until_signal`
    serves it; ``run`` returns the signal that stopped it. A ``main`` that
    returns None (a client, a script) just runs. Either way, when the first
    connection fails (:class:`natsrpc.ConnectError`, from ``natsrpc.connect``)
    the program ends with that one line on stderr and exit status 1. The event
    loop is uvloop's when uvloop is installed (see :func:`new_event_loop`).

    With ``metrics_port``, ``/metrics``, ``/healthz`` and ``/readyz`` are served
    on ``metrics_host:metrics_port`` (``natsrpc.metrics.open_probes``; the
    ``otel`` extra), for every server, client and publisher ``main`` makes.
    """

    async def serve() -> signal.Signals | None:
        probes = None
        if metrics_port is not None:
            if _open_probes is None:
                raise RuntimeError("metrics_port needs natsrpc.metrics: import natsrpc")
            probes = _open_probes(metrics_host, metrics_port)
        try:
            server = await main()
            if server is None:
                return None
            if probes is not None:
                probes.watch(server)
            try:
                return await serve_until_signal(
                    server, signals=signals, grace_period=grace_period, ready=ready
                )
            finally:
                nc = server.nc
                if not nc.is_closed:
                    with contextlib.suppress(Exception):
                        await nc.close()
        finally:
            if probes is not None:
                probes.close()

    try:
        return run_in_new_loop(serve())
    except ConnectError as error:
        raise SystemExit(f"error: {error}") from None
