"""The test service behind tests/protos/natsrpc_test/stream.proto.

Importable by tests, and runnable as a separate process so tests can kill it:
``python tests/stream_service.py serve URL HEARTBEAT`` serves until killed;
``python tests/stream_service.py chat URL HEARTBEAT`` opens a Chat call, prints
``streaming`` once the first reply is in, and keeps the call open until killed.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Mapping

from natsrpc_test import stream_natsrpc, stream_pb2

import natsrpc


def _typed(metadata: Mapping[str, str]) -> dict[str, str | bytes]:
    """A string map from the wire as metadata: a -bin key's value is its text's UTF-8 bytes."""
    return {k: v.encode() if k.endswith("-bin") else v for k, v in metadata.items()}


class StreamerService(stream_natsrpc.Streamer):
    def __init__(self) -> None:
        self.contexts: dict[str, natsrpc.Context] = {}
        self.active = 0
        self.cancelled = 0
        self.cancelled_event = asyncio.Event()
        self.started_event = asyncio.Event()
        self.received: list[int] = []
        self.produced: dict[str, int] = {}
        """Items each ``produce`` call (by tag) has handed to natsrpc so far."""

    def _enter(self, context: natsrpc.Context, tag: str) -> None:
        self.active += 1
        if tag:
            self.contexts[tag] = context
        self.started_event.set()

    def _cancelled(self) -> None:
        self.cancelled += 1
        self.cancelled_event.set()

    async def produce(
        self, request: stream_pb2.ProduceRequest, context: natsrpc.Context
    ) -> AsyncIterator[stream_pb2.Item]:
        self._enter(context, request.tag)
        try:
            if request.trailers:
                context.set_trailing_metadata(_typed(request.trailers))
            if request.initial:
                await context.send_initial_metadata(_typed(request.initial))
            for index in range(request.count):
                if request.fail_code and index == request.fail_after:
                    context.abort(natsrpc.StatusCode(request.fail_code), request.fail_message)
                if request.sleep_ms:
                    await asyncio.sleep(request.sleep_ms / 1000)
                self.produced[request.tag] = index + 1
                yield stream_pb2.Item(
                    index=index,
                    blob=b"x" * request.size,
                    metadata=dict(context.metadata) if request.echo_metadata else {},
                )
            if request.fail_code and request.fail_after >= request.count:
                context.abort(natsrpc.StatusCode(request.fail_code), request.fail_message)
        except asyncio.CancelledError:
            self._cancelled()
            raise
        finally:
            self.active -= 1

    async def _knobs(self, context: natsrpc.Context) -> float:
        metadata = context.metadata
        if "x-trailer" in metadata:
            context.set_trailing_metadata({"x-trailer": metadata["x-trailer"]})
        if "x-initial" in metadata:
            await context.send_initial_metadata({"x-initial": metadata["x-initial"]})
        return int(metadata.get("x-read-delay-ms", "0")) / 1000

    async def _obey(self, item: stream_pb2.Item, context: natsrpc.Context) -> None:
        self.received.append(item.index)
        if item.sleep_ms:
            await asyncio.sleep(item.sleep_ms / 1000)
        if item.fail_code:
            context.abort(natsrpc.StatusCode(item.fail_code), item.fail_message)

    async def collect(
        self, requests: AsyncIterator[stream_pb2.Item], context: natsrpc.Context
    ) -> stream_pb2.Summary:
        self._enter(context, context.metadata.get("x-tag", ""))
        try:
            read_delay = await self._knobs(context)
            summary = stream_pb2.Summary(metadata=dict(context.metadata))
            async for item in requests:
                await self._obey(item, context)
                summary.count += 1
                summary.bytes += len(item.blob)
                summary.indexes.append(item.index)
                if read_delay:
                    await asyncio.sleep(read_delay)
            return summary
        except asyncio.CancelledError:
            self._cancelled()
            raise
        finally:
            self.active -= 1

    async def chat(
        self, requests: AsyncIterator[stream_pb2.Item], context: natsrpc.Context
    ) -> AsyncIterator[stream_pb2.Item]:
        self._enter(context, context.metadata.get("x-tag", ""))
        try:
            read_delay = await self._knobs(context)
            async for item in requests:
                await self._obey(item, context)
                yield stream_pb2.Item(index=item.index, text=item.text, blob=item.blob)
                if read_delay:
                    await asyncio.sleep(read_delay)
        except asyncio.CancelledError:
            self._cancelled()
            raise
        finally:
            self.active -= 1

    async def ping(self, request: stream_pb2.Item, context: natsrpc.Context) -> stream_pb2.Item:
        return stream_pb2.Item(index=request.index, text="pong")


async def _serve(url: str, heartbeat: float) -> None:
    import nats

    nc = await nats.connect(url)
    server = natsrpc.Server(nc, heartbeat=heartbeat)
    server.add_service(StreamerService())
    await server.start()
    print("ready", flush=True)
    await asyncio.Event().wait()


async def _chat(url: str, heartbeat: float) -> None:
    import nats

    nc = await nats.connect(url)
    client = stream_natsrpc.StreamerClient(nc, heartbeat=heartbeat, timeout=600)
    call = client.chat(metadata={"x-tag": "remote"})
    await call.write(stream_pb2.Item(index=1, text="hello"))
    await call.read()
    print("streaming", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    role, url, heartbeat = sys.argv[1], sys.argv[2], float(sys.argv[3])
    asyncio.run(_serve(url, heartbeat) if role == "serve" else _chat(url, heartbeat))
