"""Microbenchmarks of the natsrpc unary hot paths, without a network: ``python -m bench.hotpath``.

Each variant runs in this one process against a ``nats.aio.client.Client``
whose ``request``/``publish`` are replaced by stubs that return at once, so
what is timed is Python work per call: natsrpc's on top of what any nats-py
program pays. Variants toggle one thing at a time (the deadline header, the
permissions guard, the task per request) by monkeypatching, to price it.
These reach into natsrpc internals (``Server._dispatcher``, ``_serve_unary``)
on purpose; update them when those change.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import nats.aio.client
from nats.aio.msg import Msg

import natsrpc
import natsrpc.server
from bench import stubs

CALLS = 20_000
BATCH = 64
"""Requests handed to the server before the loop gets to run them, like concurrency 64."""
DEADLINE = {"Rpc-Timeout-Ms": "10000"}

Timed = Callable[[], Coroutine[Any, Any, float]]
"""One variant: runs CALLS calls and returns the seconds they took."""


def fake_nats() -> nats.aio.client.Client:
    nc = nats.aio.client.Client()
    nc._max_payload = 1 << 20

    async def publish(
        subject: str, payload: bytes = b"", reply: str = "", headers: Any = None
    ) -> None:
        return None

    nc.publish = publish  # type: ignore[method-assign]
    return nc


def best_of(repeats: int, run: Timed) -> float:
    """Fastest of ``repeats`` runs, in microseconds per call."""
    return min(asyncio.run(run()) for _ in range(repeats)) * 1e6 / CALLS


@contextlib.contextmanager
def patched(obj: Any, name: str, value: Any) -> Iterator[None]:
    original = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, original)


def server_variants(pb2: Any, generated: Any) -> dict[str, Timed]:
    data = pb2.Payload(data=b"x" * 100).SerializeToString()

    class Impl(generated.Bench):
        async def unary(self, request: Any, context: natsrpc.Context) -> Any:
            return request

    def messages(nc: Any, headers: dict[str, str] | None) -> list[Msg]:
        return [
            Msg(
                nc,
                subject="natsrpc_bench.Bench.Unary",
                reply=f"_INBOX.x.{i}",
                data=data,
                headers=headers,
            )
            for i in range(CALLS)
        ]

    async def natsrpc_server(headers: dict[str, str] | None) -> float:
        nc = fake_nats()
        server = natsrpc.Server(nc)
        server.add_service(Impl())
        ep = server._endpoints[0]
        dispatch = server._dispatcher(ep)
        msgs = messages(nc, headers)
        started = time.perf_counter()
        for i in range(0, CALLS, BATCH):
            for msg in msgs[i : i + BATCH]:
                await dispatch(msg)
            while server._tasks:
                await asyncio.sleep(0)
        return time.perf_counter() - started

    async def with_deadline() -> float:
        return await natsrpc_server(dict(DEADLINE))

    async def without_headers() -> float:
        return await natsrpc_server(None)

    async def inline(headers: dict[str, str] | None) -> float:
        # The handler awaited in the subscription callback: no task per request.
        def dispatcher(self: natsrpc.Server, ep: Any) -> Callable[[Msg], Awaitable[None]]:
            async def dispatch(msg: Msg) -> None:
                await self._serve_unary(ep, msg)

            return dispatch

        with patched(natsrpc.Server, "_dispatcher", dispatcher):
            return await natsrpc_server(headers)

    async def inline_with_deadline() -> float:
        return await inline(dict(DEADLINE))

    async def inline_without_headers() -> float:
        return await inline(None)

    async def raw() -> float:
        nc = fake_nats()
        parse = pb2.Payload.FromString

        async def on_request(msg: Msg) -> None:
            await nc.publish(msg.reply, parse(msg.data).SerializeToString())

        msgs = messages(nc, None)
        started = time.perf_counter()
        for i in range(0, CALLS, BATCH):
            for msg in msgs[i : i + BATCH]:
                await on_request(msg)
            await asyncio.sleep(0)
        return time.perf_counter() - started

    async def header_parse() -> float:
        # What nats-py spends turning the one deadline header into a dict.
        nc = fake_nats()
        raw_headers = b"NATS/1.0\r\nRpc-Timeout-Ms: 10000\r\n\r\n"
        started = time.perf_counter()
        for _ in range(CALLS):
            await nc._process_headers(raw_headers)
        return time.perf_counter() - started

    return {
        "server: raw nats-py callback (decode, encode, publish)": raw,
        "server: natsrpc, request with Rpc-Timeout-Ms (as sent)": with_deadline,
        "server: natsrpc, request without headers (no deadline timer)": without_headers,
        "server: natsrpc, handler awaited inline (no task)": inline_with_deadline,
        "server: natsrpc, inline and without headers": inline_without_headers,
        "server: nats-py parsing the Rpc-Timeout-Ms header block": header_parse,
    }


def client_variants(pb2: Any, generated: Any) -> dict[str, Timed]:
    payload = pb2.Payload(data=b"x" * 100)
    reply_data = payload.SerializeToString()

    def connection() -> nats.aio.client.Client:
        """A connection that answers every request at once, without a network."""
        nc = fake_nats()
        callbacks: dict[str, Any] = {}

        async def subscribe(subject: str, cb: Any = None, **_: Any) -> object:
            callbacks[subject.rstrip("*")] = cb
            return object()

        async def publish(
            subject: str, payload: bytes = b"", reply: str = "", headers: Any = None
        ) -> None:
            # The reply is routed before the caller waits for it: no loop round trip,
            # so only natsrpc's own work is timed.
            prefix = reply[: reply.rindex(".") + 1]
            await callbacks[prefix](Msg(nc, subject=reply, data=reply_data))

        async def request(
            subject: str,
            payload: bytes = b"",
            timeout: float = 0.5,
            old_style: bool = False,
            headers: dict[str, Any] | None = None,
        ) -> Msg:
            return Msg(nc, subject=subject, data=reply_data)

        nc.subscribe = subscribe  # type: ignore[method-assign, assignment]
        nc.publish = publish  # type: ignore[method-assign]
        nc.request = request  # type: ignore[method-assign]
        return nc

    async def natsrpc_client() -> float:
        client = generated.BenchClient(connection())
        started = time.perf_counter()
        for _ in range(CALLS):
            await client.unary(payload)
        return time.perf_counter() - started

    async def raw() -> float:
        nc = connection()
        parse = pb2.Payload.FromString
        started = time.perf_counter()
        for _ in range(CALLS):
            msg = await nc.request("natsrpc_bench.Bench.Unary", payload.SerializeToString(), 10.0)
            parse(msg.data)
        return time.perf_counter() - started

    async def timer() -> float:
        # What nats-py's request() adds for its timeout: asyncio.wait_for on a future.
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        for _ in range(CALLS):
            future = loop.create_future()
            loop.call_soon(future.set_result, None)
            await asyncio.wait_for(future, 10.0)
        return time.perf_counter() - started

    async def future_only() -> float:
        # The same round through the loop without wait_for: the control for ``timer``.
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        for _ in range(CALLS):
            future = loop.create_future()
            loop.call_soon(future.set_result, None)
            await future
        return time.perf_counter() - started

    return {
        "client: raw nats-py (serialize, request, parse)": raw,
        "client: natsrpc generated stub": natsrpc_client,
        "client: future resolved via the loop (control for the next line)": future_only,
        "client: the same awaited with asyncio.wait_for, as nats-py's request() does": timer,
    }


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="natsrpc-hotpath-") as tmp:
        generated_stubs = stubs.generate(Path(tmp))
        sys.path.insert(0, str(generated_stubs.directory))
        import bench_natsrpc
        import bench_pb2

        print(f"microseconds of CPU per call, best of 5 runs of {CALLS:,} calls (no network)")
        for variants in (server_variants, client_variants):
            for name, run in variants(bench_pb2, bench_natsrpc).items():
                print(f"  {best_of(5, run):7.2f}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
