"""The natsrpc Bench service every natsrpc server process runs, importable by ``natsrpc serve``.

``natsrpc serve bench.app:BenchService`` (the stubs directory on ``PYTHONPATH``)
serves it the way an application would; bench/serve.py serves the same class.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import bench_natsrpc

import natsrpc
from bench.handlers import stream_messages


class BenchService(bench_natsrpc.Bench):
    async def unary(self, request: Any, context: natsrpc.Context) -> Any:
        return request

    async def server_stream(self, request: Any, context: natsrpc.Context) -> AsyncIterator[Any]:
        count, message = stream_messages(request)
        for _ in range(count):
            yield message

    async def chat(self, requests: AsyncIterator[Any], context: natsrpc.Context) -> Any:
        async for request in requests:
            yield request
