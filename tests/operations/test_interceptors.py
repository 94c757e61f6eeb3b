"""Client and server interceptors for unary and streaming calls, against a real nats-server."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from google.protobuf.message import Message
from helpers import eventually
from nats.aio.client import Client as NATS

import natsrpc
import natsrpc.spec
from natsrpc.client.interceptors import StreamInvoker, UnaryInvoker
from natsrpc.server.interceptors import StreamHandler, UnaryHandler
from natsrpc.status import status_of

S = natsrpc.StatusCode


# -- the examples the documentation shows ---------------------------------------------


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


# -- unary ------------------------------------------------------------------------------


async def test_no_interceptors_keep_the_plain_paths(nc: NATS, echo: Any, stubs: Any) -> None:
    impl = echo.EchoService()
    server = natsrpc.Server(nc)
    server.add_service(impl)
    # The server serves the bound method itself; the client makes plain calls.
    assert server._endpoints[0].handler == impl.echo
    assert stubs.EchoClient(nc)._config.interceptors == ()
    intercepted = stubs.EchoClient(nc, interceptors=[natsrpc.ClientInterceptor()])
    assert len(intercepted._config.interceptors) == 1


async def test_order_is_first_registered_outermost(
    nc: NATS, echo: Any, stubs: Any, pb: Any
) -> None:
    log: list[str] = []
    server = natsrpc.Server(nc, interceptors=[ServerRecorder("s1", log), ServerRecorder("s2", log)])
    server.add_service(echo.EchoService())
    client = stubs.EchoClient(
        nc, interceptors=[ClientRecorder("c1", log), ClientRecorder("c2", log)]
    )
    async with server:
        await client.echo(pb.EchoRequest(text="x"))
    assert log == ["c1>", "c2>", "s1>", "s2>", "<s2", "<s1", "<c2", "<c1"]


async def test_auth_token_checked_by_server_and_added_by_client(
    nc: NATS, echo: Any, stubs: Any, pb: Any
) -> None:
    impl = echo.EchoService()
    server = natsrpc.Server(nc, interceptors=[ServerAuth("s3cret")])
    server.add_service(impl)
    async with server:
        with pytest.raises(natsrpc.RpcError) as info:
            await stubs.EchoClient(nc).echo(pb.EchoRequest(text="no token"))
        assert info.value.code is S.UNAUTHENTICATED
        assert impl.peak_active == 0  # the handler never ran

        with pytest.raises(natsrpc.RpcError) as info:
            await stubs.EchoClient(nc, interceptors=[ClientAuth("wrong")]).echo(pb.EchoRequest())
        assert info.value.code is S.UNAUTHENTICATED

        client = stubs.EchoClient(nc, interceptors=[ClientAuth("s3cret")])
        reply = await client.echo(pb.EchoRequest(text="hi", echo_metadata=True))
    assert reply.text == "hi"
    assert reply.metadata["authorization"] == "Bearer s3cret"


async def test_metrics_count_calls_and_statuses(nc: NATS, echo: Any, stubs: Any, pb: Any) -> None:
    served, made = ServerMetrics(), ClientMetrics()
    server = natsrpc.Server(nc, interceptors=[served])
    server.add_service(echo.EchoService())
    client = stubs.EchoClient(nc, interceptors=[made])
    async with server:
        await client.echo(pb.EchoRequest())
        await client.peek(pb.EchoRequest())
        with pytest.raises(natsrpc.RpcError):
            await client.echo(pb.EchoRequest(fail_code=int(S.NOT_FOUND)))
        with pytest.raises(natsrpc.RpcError):
            await client.echo(pb.EchoRequest(crash="boom"))
        with pytest.raises(natsrpc.RpcError):
            await client.echo(pb.EchoRequest(sleep_ms=2000), timeout=0.2)
        await eventually(lambda: sum(served.calls.values()) == 5)
    assert served.calls == {
        ("Echo", S.OK): 1,
        ("Peek", S.OK): 1,
        ("Echo", S.NOT_FOUND): 1,
        ("Echo", S.INTERNAL): 1,
        ("Echo", S.DEADLINE_EXCEEDED): 1,
    }
    assert made.calls == served.calls


async def test_interceptors_change_request_response_and_status(
    nc: NATS, echo: Any, stubs: Any, pb: Any
) -> None:
    class Shout(natsrpc.ServerInterceptor):
        async def intercept_unary(
            self,
            request: Any,
            context: natsrpc.Context,
            method: natsrpc.spec.MethodSpec[Any, Any],
            call_next: UnaryHandler,
        ) -> Any:
            request.text = request.text.upper()
            response: Any = await call_next(request, context)
            response.text += "!"
            return response

    class HideNotFound(natsrpc.ClientInterceptor):
        """Turns NOT_FOUND into an empty reply, and tags every request."""

        async def intercept_unary(
            self, request: Any, details: natsrpc.CallDetails, call_next: UnaryInvoker
        ) -> Any:
            request.text = "tag:" + request.text
            try:
                return await call_next(request, details)
            except natsrpc.RpcError as error:
                if error.code is not S.NOT_FOUND:
                    raise
                return pb.EchoReply(text="(none)")

    server = natsrpc.Server(nc, interceptors=[Shout()])
    server.add_service(echo.EchoService())
    client = stubs.EchoClient(nc, interceptors=[HideNotFound()])
    async with server:
        assert (await client.echo(pb.EchoRequest(text="hi"))).text == "TAG:HI!"
        call = client.echo(pb.EchoRequest(fail_code=int(S.NOT_FOUND), trailers={"x-t": "1"}))
        assert (await call).text == "(none)"
        # The failed attempt's trailers are still the call's.
        assert await call.trailing_metadata() == {"x-t": "1"}
        with pytest.raises(natsrpc.RpcError) as info:
            await client.echo(pb.EchoRequest(fail_code=int(S.ABORTED)))
        assert info.value.code is S.ABORTED


async def test_client_interceptor_may_answer_without_a_request(
    nc: NATS, stubs: Any, pb: Any
) -> None:
    class Cache(natsrpc.ClientInterceptor):
        async def intercept_unary(self, request: Any, details: Any, call_next: Any) -> Any:
            return pb.EchoReply(text="cached")

    call = stubs.EchoClient(nc, interceptors=[Cache()]).echo(pb.EchoRequest())
    assert (await call).text == "cached"  # no service is running at all
    assert await call.trailing_metadata() == {}


async def test_client_interceptor_sees_and_changes_the_timeout(
    nc: NATS, echo: Any, stubs: Any, pb: Any
) -> None:
    seen: list[float] = []

    class Shorten(natsrpc.ClientInterceptor):
        async def intercept_unary(
            self, request: Any, details: natsrpc.CallDetails, call_next: UnaryInvoker
        ) -> Any:
            seen.append(details.timeout)
            return await call_next(request, details.replace(timeout=1.0))

    server = natsrpc.Server(nc)
    server.add_service(echo.EchoService())
    async with server:
        reply = await stubs.EchoClient(nc, timeout=30, interceptors=[Shorten()]).echo(
            pb.EchoRequest()
        )
    assert seen == [30]
    assert 0 < reply.time_remaining <= 1.0


async def test_wrong_request_type_fails_before_the_interceptors(nc: NATS, stubs: Any) -> None:
    log: list[str] = []
    client = stubs.EchoClient(nc, interceptors=[ClientRecorder("c", log)])
    with pytest.raises(TypeError):
        await client.echo(object())
    assert log == []


async def test_invalid_metadata_from_an_interceptor_is_refused(
    nc: NATS, echo: Any, stubs: Any, pb: Any
) -> None:
    class Bad(natsrpc.ClientInterceptor):
        async def intercept_unary(
            self, request: Any, details: natsrpc.CallDetails, call_next: UnaryInvoker
        ) -> Any:
            details.metadata["Nats-Service-Error"] = "forged"
            return await call_next(request, details)

    with pytest.raises(ValueError, match="reserved"):
        await stubs.EchoClient(nc, interceptors=[Bad()]).echo(pb.EchoRequest())


# -- streams ----------------------------------------------------------------------------


async def items(spb: Any, count: int) -> AsyncIterator[Any]:
    for index in range(count):
        yield spb.Item(index=index, text=str(index))


async def test_stream_auth_and_metrics_for_every_kind(
    nc: NATS, streamer: Any, sstubs: Any, spb: Any
) -> None:
    served, made = ServerMetrics(), ClientMetrics()
    server = natsrpc.Server(nc, interceptors=[served, ServerAuth("x")])
    server.add_service(streamer)
    client = sstubs.StreamerClient(nc, interceptors=[made, ClientAuth("x")])
    stranger = sstubs.StreamerClient(nc)
    async with server:
        produced = [item.index async for item in client.produce(spb.ProduceRequest(count=3))]
        summary = await client.collect(items(spb, 4))
        chatted = [item.index async for item in client.chat(items(spb, 2))]
        with pytest.raises(natsrpc.RpcError) as info:
            [item async for item in stranger.produce(spb.ProduceRequest(count=3))]
        assert info.value.code is S.UNAUTHENTICATED
        with pytest.raises(natsrpc.RpcError) as info:
            await stranger.collect(items(spb, 1))
        assert info.value.code is S.UNAUTHENTICATED
        with pytest.raises(natsrpc.RpcError) as info:
            [
                item
                async for item in client.produce(
                    spb.ProduceRequest(count=5, fail_after=2, fail_code=int(S.ABORTED))
                )
            ]
        assert info.value.code is S.ABORTED
        await eventually(lambda: sum(made.calls.values()) == 4)
    assert produced == [0, 1, 2]
    assert summary.count == 4
    assert summary.metadata["authorization"] == "Bearer x"
    assert chatted == [0, 1]
    assert streamer.active == 0
    assert served.calls == {
        ("Produce", S.OK): 1,
        ("Collect", S.OK): 1,
        ("Chat", S.OK): 1,
        ("Produce", S.UNAUTHENTICATED): 1,
        ("Collect", S.UNAUTHENTICATED): 1,
        ("Produce", S.ABORTED): 1,
    }
    assert made.calls == {
        ("Produce", S.OK): 1,
        ("Collect", S.OK): 1,
        ("Chat", S.OK): 1,
        ("Produce", S.ABORTED): 1,
    }


async def test_stream_interceptors_wrap_requests_and_responses(
    nc: NATS, streamer: Any, sstubs: Any, spb: Any
) -> None:
    class Rewrite(natsrpc.ServerInterceptor):
        def intercept_stream(
            self,
            requests: AsyncIterator[Any],
            context: natsrpc.Context,
            method: natsrpc.spec.MethodSpec[Any, Any],
            call_next: StreamHandler,
        ) -> AsyncIterator[Any]:
            async def doubled() -> AsyncIterator[Any]:
                async for request in requests:
                    if isinstance(request, spb.Item):
                        request.index *= 2
                    yield request

            async def tagged() -> AsyncIterator[Any]:
                async for response in call_next(doubled(), context):
                    if isinstance(response, spb.Item):
                        response.text = f"<{response.text}>"
                    yield response

            return tagged()

    server = natsrpc.Server(nc, interceptors=[Rewrite()])
    server.add_service(streamer)
    client = sstubs.StreamerClient(nc)
    async with server:
        chatted = [(i.index, i.text) async for i in client.chat(items(spb, 3))]
        summary = await client.collect(items(spb, 3))
        produced = [i.index async for i in client.produce(spb.ProduceRequest(count=2))]
        pong = await client.ping(spb.Item(index=1))
    assert chatted == [(0, "<0>"), (2, "<1>"), (4, "<2>")]
    assert list(summary.indexes) == [0, 2, 4]
    assert produced == [0, 1]  # a ProduceRequest is not an Item: it passes unchanged
    assert pong.text == "pong"  # unary methods are not streams


async def test_client_streaming_needs_exactly_one_response(
    nc: NATS, streamer: Any, sstubs: Any, spb: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class Twice(natsrpc.ServerInterceptor):
        async def intercept_stream(
            self, requests: Any, context: Any, method: Any, call_next: StreamHandler
        ) -> AsyncIterator[Any]:
            async for response in call_next(requests, context):
                yield response
                yield response

    server = natsrpc.Server(nc, interceptors=[Twice()])
    server.add_service(streamer)
    async with server:
        with caplog.at_level(logging.ERROR), pytest.raises(natsrpc.RpcError) as info:
            await sstubs.StreamerClient(nc).collect(items(spb, 1))
    assert info.value.code is S.INTERNAL
    assert "2 responses" in caplog.text


async def test_stream_handler_is_cleaned_up_when_the_caller_leaves(
    nc: NATS, streamer: Any, sstubs: Any, spb: Any
) -> None:
    served = ServerMetrics()
    server = natsrpc.Server(nc, interceptors=[served])
    server.add_service(streamer)
    async with server:
        call = sstubs.StreamerClient(nc).produce(spb.ProduceRequest(count=1000, sleep_ms=5))
        async for _ in call:
            break  # leaving the loop cancels the call
        await eventually(lambda: streamer.cancelled == 1 and streamer.active == 0)
        await eventually(lambda: sum(served.calls.values()) == 1)
    assert served.calls == {("Produce", S.CANCELLED): 1}


async def test_client_stream_interceptor_failing_before_open_sends_nothing(
    nc: NATS, streamer: Any, sstubs: Any, spb: Any
) -> None:
    class Deny(natsrpc.ClientInterceptor):
        async def intercept_stream(self, details: Any, call_next: StreamInvoker) -> None:
            raise natsrpc.RpcError(S.PERMISSION_DENIED, "not from here")

    class Broken(natsrpc.ClientInterceptor):
        async def intercept_stream(self, details: Any, call_next: StreamInvoker) -> None:
            raise KeyError("bug")

    class BadKey(natsrpc.ClientInterceptor):
        async def intercept_stream(self, details: Any, call_next: StreamInvoker) -> None:
            details.metadata["rpc-frame"] = "end"
            await call_next(details)

    server = natsrpc.Server(nc)
    server.add_service(streamer)
    async with server:
        call = sstubs.StreamerClient(nc, interceptors=[Deny()]).chat(items(spb, 1))
        with pytest.raises(natsrpc.RpcError) as info:
            await call.read()
        assert info.value.code is S.PERMISSION_DENIED
        assert call.done()
        with pytest.raises(KeyError):
            await sstubs.StreamerClient(nc, interceptors=[Broken()]).collect(items(spb, 1))
        call = sstubs.StreamerClient(nc, interceptors=[BadKey()]).produce(spb.ProduceRequest())
        with pytest.raises(ValueError, match="reserved"):
            await call.read()
        assert call.done()
    assert streamer.active == 0 and streamer.started_event.is_set() is False


async def test_client_stream_interceptor_sees_cancel_and_metadata(
    nc: NATS, streamer: Any, sstubs: Any, spb: Any
) -> None:
    made = ClientMetrics()

    class Tag(natsrpc.ClientInterceptor):
        async def intercept_stream(
            self, details: natsrpc.CallDetails, call_next: StreamInvoker
        ) -> None:
            details.metadata["x-initial"] = "hello"
            await call_next(details)

    server = natsrpc.Server(nc)
    server.add_service(streamer)
    async with server:
        call = sstubs.StreamerClient(nc, interceptors=[made, Tag()]).chat()
        assert await call.initial_metadata() == {"x-initial": "hello"}
        await call.write(spb.Item(index=1))
        assert (await call.read()).index == 1
        assert call.cancel()
        await eventually(lambda: sum(made.calls.values()) == 1)
    assert made.calls == {("Chat", S.CANCELLED): 1}
