"""Typed use of generated code that ``mypy --strict`` must accept.

tests/plugin/test_plugin_typing.py runs the check.

Checked beside stubs freshly generated from examples/greeter and examples/route_guide.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import greeter_natsrpc
import route_guide_natsrpc
from google.protobuf.any_pb2 import Any as AnyMessage
from greeter_pb2 import HelloReply, HelloRequest
from nats.aio.client import Client as NATS
from route_guide_pb2 import Feature, Point, Rectangle, RouteNote, RouteSummary

# typing.assert_type is 3.11+; the project supports 3.10.
from typing_extensions import assert_type

import natsrpc


class Greeter(greeter_natsrpc.Greeter):
    async def say_hello(self, request: HelloRequest, context: natsrpc.Context) -> HelloReply:
        if not request.name:
            context.abort(natsrpc.StatusCode.INVALID_ARGUMENT, "name is required")
        return HelloReply(message=f"Hello, {request.name}!")


class RouteGuide(route_guide_natsrpc.RouteGuide):
    async def get_feature(self, request: Point, context: natsrpc.Context) -> Feature:
        return Feature(name="here", location=request)

    async def list_features(
        self, request: Rectangle, context: natsrpc.Context
    ) -> AsyncIterator[Feature]:
        yield Feature(location=request.lo)

    async def record_route(
        self, requests: AsyncIterator[Point], context: natsrpc.Context
    ) -> RouteSummary:
        count = 0
        async for _ in requests:
            count += 1
        return RouteSummary(point_count=count)

    async def route_chat(
        self, requests: AsyncIterator[RouteNote], context: natsrpc.Context
    ) -> AsyncIterator[RouteNote]:
        async for note in requests:
            yield note


async def points() -> AsyncIterator[Point]:
    yield Point(latitude=1, longitude=2)


async def use(nc: NATS) -> None:
    server = natsrpc.Server(nc)
    server.add_service(Greeter())
    server.add_service(RouteGuide())

    greeter = greeter_natsrpc.GreeterClient(nc, timeout=2.0)
    assert_type(await greeter.say_hello(HelloRequest(name="Ada")), HelloReply)
    assert_type(await greeter.SayHello(HelloRequest(name="Ada")), HelloReply)  # grpc.aio's name
    call = greeter.say_hello_again(HelloRequest(), timeout=1, metadata={"x-id": "1"})
    assert_type(call, natsrpc.UnaryCall[HelloReply])
    assert_type(await call, HelloReply)
    assert_type(await call.trailing_metadata(), Mapping[str, str | bytes])
    assert_type(await call.code(), natsrpc.StatusCode)
    assert_type(await call.details(), str)
    assert_type(call.cancel(), bool)
    assert_type(call.time_remaining(), float | None)
    try:
        await greeter.say_hello(HelloRequest(), metadata={"x-trace-bin": b"\x00"})
    except natsrpc.RpcError as error:
        assert_type(error.detail(HelloReply), HelloReply | None)
        assert_type(error.details[0], AnyMessage)
        assert_type(error.details(), str)  # grpc.aio's name for the message
        assert_type(error.metadata, Mapping[str, str | bytes])

    guide = route_guide_natsrpc.RouteGuideClient(nc)
    assert_type(await guide.get_feature(Point()), Feature)
    stream = guide.list_features(Rectangle())
    assert_type(stream, natsrpc.ServerStreamCall[Feature])
    features = [feature async for feature in stream]
    assert_type(features, list[Feature])
    assert_type(await guide.record_route([Point(), Point()]), RouteSummary)
    recording = guide.record_route([Point()])
    assert_type(recording, natsrpc.ClientStreamCall[Point, RouteSummary])
    assert_type(recording.cancel(), bool)
    assert_type(await guide.record_route(points()), RouteSummary)
    chat = guide.route_chat()
    assert_type(chat, natsrpc.BidiStreamCall[RouteNote, RouteNote])
    await chat.write(RouteNote(message="hi"))
    await chat.done_writing()
    async for note in guide.route_chat([RouteNote()]):
        assert_type(note, RouteNote)
