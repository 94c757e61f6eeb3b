"""The interceptors the interceptor tests use: the examples docs/interceptors.md shows, and
recorders."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from google.protobuf.message import Message

import natsrpc
import natsrpc.spec
from natsrpc.client.interceptors import StreamInvoker, UnaryInvoker
from natsrpc.server.interceptors import StreamHandler, UnaryHandler
from natsrpc.status import status_of

S = natsrpc.StatusCode


class ServerAuth(natsrpc.ServerInterceptor):
    """Refuses calls without the right ``authorization`` metadata, before any handler runs."""

    def __init__(self, token: str) -> None:
        self.expected = f"Bearer {token}"

    def _check(self, context: natsrpc.Context) -> None:
        if context.metadata.get("authorization") != self.expected:
            context.abort(S.UNAUTHENTICATED, "missing or wrong token")

    async def intercept_unary(
        self,
        request: Message,
        context: natsrpc.Context,
        method: natsrpc.spec.MethodSpec[Any, Any],
        call_next: UnaryHandler,
    ) -> Message:
        self._check(context)
        return await call_next(request, context)

    async def intercept_stream(
        self,
        requests: AsyncIterator[Message],
        context: natsrpc.Context,
        method: natsrpc.spec.MethodSpec[Any, Any],
        call_next: StreamHandler,
    ) -> AsyncIterator[Message]:
        self._check(context)
        async for response in call_next(requests, context):
            yield response


class ClientAuth(natsrpc.ClientInterceptor):
    """Adds the token to every call."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def intercept_unary(
        self, request: Message, details: natsrpc.CallDetails, call_next: UnaryInvoker
    ) -> Message:
        details.metadata["authorization"] = f"Bearer {self.token}"
        return await call_next(request, details)

    async def intercept_stream(
        self, details: natsrpc.CallDetails, call_next: StreamInvoker
    ) -> None:
        await call_next(
            details.replace(metadata={**details.metadata, "authorization": f"Bearer {self.token}"})
        )


class ServerMetrics(natsrpc.ServerInterceptor):
    """Counts calls per method and status."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, S]] = Counter()

    async def intercept_unary(
        self,
        request: Message,
        context: natsrpc.Context,
        method: natsrpc.spec.MethodSpec[Any, Any],
        call_next: UnaryHandler,
    ) -> Message:
        try:
            response = await call_next(request, context)
        except BaseException as error:
            self.calls[method.name, status_of(error, context)] += 1
            raise
        self.calls[method.name, S.OK] += 1
        return response

    async def intercept_stream(
        self,
        requests: AsyncIterator[Message],
        context: natsrpc.Context,
        method: natsrpc.spec.MethodSpec[Any, Any],
        call_next: StreamHandler,
    ) -> AsyncIterator[Message]:
        try:
            async for response in call_next(requests, context):
                yield response
        except BaseException as error:
            self.calls[method.name, status_of(error, context)] += 1
            raise
        self.calls[method.name, S.OK] += 1


class ClientMetrics(natsrpc.ClientInterceptor):
    def __init__(self) -> None:
        self.calls: Counter[tuple[str, S]] = Counter()

    async def intercept_unary(
        self, request: Message, details: natsrpc.CallDetails, call_next: UnaryInvoker
    ) -> Message:
        try:
            response = await call_next(request, details)
        except BaseException as error:
            self.calls[details.method.name, status_of(error)] += 1
            raise
        self.calls[details.method.name, S.OK] += 1
        return response

    async def intercept_stream(
        self, details: natsrpc.CallDetails, call_next: StreamInvoker
    ) -> None:
        try:
            await call_next(details)
        except BaseException as error:
            self.calls[details.method.name, status_of(error)] += 1
            raise
        self.calls[details.method.name, S.OK] += 1


class ServerRecorder(natsrpc.ServerInterceptor):
    """Logs entry and exit into a shared list, to show the order of a chain."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    async def intercept_unary(
        self,
        request: Message,
        context: natsrpc.Context,
        method: natsrpc.spec.MethodSpec[Any, Any],
        call_next: UnaryHandler,
    ) -> Message:
        self.log.append(f"{self.name}>")
        try:
            return await call_next(request, context)
        finally:
            self.log.append(f"<{self.name}")


class ClientRecorder(natsrpc.ClientInterceptor):
    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    async def intercept_unary(
        self, request: Message, details: natsrpc.CallDetails, call_next: UnaryInvoker
    ) -> Message:
        self.log.append(f"{self.name}>")
        try:
            return await call_next(request, details)
        finally:
            self.log.append(f"<{self.name}")
