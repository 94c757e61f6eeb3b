"""Client and server interceptors for unary calls, against a real nats-server."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import eventually
from interceptor_support import (
    ClientAuth,
    ClientMetrics,
    ClientRecorder,
    S,
    ServerAuth,
    ServerMetrics,
    ServerRecorder,
)
from nats.aio.client import Client as NATS

import natsrpc
import natsrpc.spec
from natsrpc.client.interceptors import UnaryInvoker
from natsrpc.server.interceptors import UnaryHandler

# -- unary ------------------------------------------------------------------------------


async def test_no_interceptors_keep_the_plain_paths(
    nc: NATS, echo_service: Any, echo_natsrpc: Any
) -> None:
    impl = echo_service.EchoService()
    server = natsrpc.Server(nc)
    server.add_service(impl)
    # The server serves the bound method itself; the client makes plain calls.
    assert server._endpoints[0].handler == impl.echo
    assert echo_natsrpc.EchoClient(nc)._config.interceptors == ()
    intercepted = echo_natsrpc.EchoClient(nc, interceptors=[natsrpc.ClientInterceptor()])
    assert len(intercepted._config.interceptors) == 1


async def test_order_is_first_registered_outermost(
    nc: NATS, echo_service: Any, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    log: list[str] = []
    server = natsrpc.Server(nc, interceptors=[ServerRecorder("s1", log), ServerRecorder("s2", log)])
    server.add_service(echo_service.EchoService())
    client = echo_natsrpc.EchoClient(
        nc, interceptors=[ClientRecorder("c1", log), ClientRecorder("c2", log)]
    )
    async with server:
        await client.echo(echo_pb2.EchoRequest(text="x"))
    assert log == ["c1>", "c2>", "s1>", "s2>", "<s2", "<s1", "<c2", "<c1"]


async def test_auth_token_checked_by_server_and_added_by_client(
    nc: NATS, echo_service: Any, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    impl = echo_service.EchoService()
    server = natsrpc.Server(nc, interceptors=[ServerAuth("s3cret")])
    server.add_service(impl)
    async with server:
        with pytest.raises(natsrpc.RpcError) as info:
            await echo_natsrpc.EchoClient(nc).echo(echo_pb2.EchoRequest(text="no token"))
        assert info.value.code is S.UNAUTHENTICATED
        assert impl.peak_active == 0  # the handler never ran

        with pytest.raises(natsrpc.RpcError) as info:
            await echo_natsrpc.EchoClient(nc, interceptors=[ClientAuth("wrong")]).echo(
                echo_pb2.EchoRequest()
            )
        assert info.value.code is S.UNAUTHENTICATED

        client = echo_natsrpc.EchoClient(nc, interceptors=[ClientAuth("s3cret")])
        reply = await client.echo(echo_pb2.EchoRequest(text="hi", echo_metadata=True))
    assert reply.text == "hi"
    assert reply.metadata["authorization"] == "Bearer s3cret"


async def test_metrics_count_calls_and_statuses(
    nc: NATS, echo_service: Any, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    served, made = ServerMetrics(), ClientMetrics()
    server = natsrpc.Server(nc, interceptors=[served])
    server.add_service(echo_service.EchoService())
    client = echo_natsrpc.EchoClient(nc, interceptors=[made])
    async with server:
        await client.echo(echo_pb2.EchoRequest())
        await client.peek(echo_pb2.EchoRequest())
        with pytest.raises(natsrpc.RpcError):
            await client.echo(echo_pb2.EchoRequest(fail_code=int(S.NOT_FOUND)))
        with pytest.raises(natsrpc.RpcError):
            await client.echo(echo_pb2.EchoRequest(crash="boom"))
        with pytest.raises(natsrpc.RpcError):
            await client.echo(echo_pb2.EchoRequest(sleep_ms=2000), timeout=0.2)
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
    nc: NATS, echo_service: Any, echo_natsrpc: Any, echo_pb2: Any
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
                return echo_pb2.EchoReply(text="(none)")

    server = natsrpc.Server(nc, interceptors=[Shout()])
    server.add_service(echo_service.EchoService())
    client = echo_natsrpc.EchoClient(nc, interceptors=[HideNotFound()])
    async with server:
        assert (await client.echo(echo_pb2.EchoRequest(text="hi"))).text == "TAG:HI!"
        call = client.echo(echo_pb2.EchoRequest(fail_code=int(S.NOT_FOUND), trailers={"x-t": "1"}))
        assert (await call).text == "(none)"
        # The failed attempt's trailers are still the call's.
        assert await call.trailing_metadata() == {"x-t": "1"}
        with pytest.raises(natsrpc.RpcError) as info:
            await client.echo(echo_pb2.EchoRequest(fail_code=int(S.ABORTED)))
        assert info.value.code is S.ABORTED


async def test_client_interceptor_may_answer_without_a_request(
    nc: NATS, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    class Cache(natsrpc.ClientInterceptor):
        async def intercept_unary(self, request: Any, details: Any, call_next: Any) -> Any:
            return echo_pb2.EchoReply(text="cached")

    call = echo_natsrpc.EchoClient(nc, interceptors=[Cache()]).echo(echo_pb2.EchoRequest())
    assert (await call).text == "cached"  # no service is running at all
    assert await call.trailing_metadata() == {}


async def test_client_interceptor_sees_and_changes_the_timeout(
    nc: NATS, echo_service: Any, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    seen: list[float] = []

    class Shorten(natsrpc.ClientInterceptor):
        async def intercept_unary(
            self, request: Any, details: natsrpc.CallDetails, call_next: UnaryInvoker
        ) -> Any:
            seen.append(details.timeout)
            return await call_next(request, details.replace(timeout=1.0))

    server = natsrpc.Server(nc)
    server.add_service(echo_service.EchoService())
    async with server:
        reply = await echo_natsrpc.EchoClient(nc, timeout=30, interceptors=[Shorten()]).echo(
            echo_pb2.EchoRequest()
        )
    assert seen == [30]
    assert 0 < reply.time_remaining <= 1.0


async def test_wrong_request_type_fails_before_the_interceptors(
    nc: NATS, echo_natsrpc: Any
) -> None:
    log: list[str] = []
    client = echo_natsrpc.EchoClient(nc, interceptors=[ClientRecorder("c", log)])
    with pytest.raises(TypeError):
        await client.echo(object())
    assert log == []


async def test_invalid_metadata_from_an_interceptor_is_refused(
    nc: NATS, echo_service: Any, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    class Bad(natsrpc.ClientInterceptor):
        async def intercept_unary(
            self, request: Any, details: natsrpc.CallDetails, call_next: UnaryInvoker
        ) -> Any:
            details.metadata["Nats-Service-Error"] = "forged"
            return await call_next(request, details)

    with pytest.raises(ValueError, match="reserved"):
        await echo_natsrpc.EchoClient(nc, interceptors=[Bad()]).echo(echo_pb2.EchoRequest())
