"""Typed use of the generated sync clients that ``mypy --strict`` must accept.

Checked by tests/plugin/test_plugin_typing.py beside stubs freshly generated from
examples/greeter and examples/route_guide. The call sites are grpcio's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import greeter_natsrpc
import route_guide_natsrpc
from greeter_pb2 import HelloReply, HelloRequest
from route_guide_pb2 import Feature, Point, Rectangle, RouteNote, RouteSummary

# typing.assert_type is 3.11+; the project supports 3.10.
from typing_extensions import assert_type

import natsrpc
import natsrpc.sync


def points() -> Iterator[Point]:
    yield Point(latitude=1, longitude=2)


def use(url: str) -> None:
    with natsrpc.sync.connect(url, name="typed") as connection:
        assert_type(connection, natsrpc.sync.Connection)
        greeter = greeter_natsrpc.GreeterSyncClient(
            connection, timeout=2.0, retry=natsrpc.RetryPolicy(), encoding="json"
        )
        assert_type(greeter.say_hello(HelloRequest(name="Ada")), HelloReply)
        assert_type(greeter.SayHello(HelloRequest(), timeout=1, metadata=[("k", "v")]), HelloReply)
        assert_type(greeter.say_hello, natsrpc.sync.UnaryMethod[HelloRequest, HelloReply])

        reply, call = greeter.SayHelloAgain.with_call(HelloRequest(), metadata={"x-id": "1"})
        assert_type(reply, HelloReply)
        assert_type(call, natsrpc.sync.UnaryCall[HelloReply])
        assert_type(call.trailing_metadata(), Mapping[str, str | bytes])
        assert_type(call.initial_metadata(), Mapping[str, str | bytes])
        assert_type(call.code(), natsrpc.StatusCode)
        assert_type(call.details(), str)
        assert_type(call.time_remaining(), float | None)

        future = greeter.say_hello.future(HelloRequest())
        assert_type(future.result(timeout=1), HelloReply)
        assert_type(future.exception(), natsrpc.RpcError | None)
        future.add_done_callback(lambda call: print(call.code()))

        try:
            greeter.say_hello(HelloRequest())
        except natsrpc.RpcError as error:
            assert_type(error.code(), natsrpc.StatusCode)
            assert_type(error.details(), str)

        guide = route_guide_natsrpc.RouteGuideSyncClient(connection, stream_timeout=30)
        assert_type(guide.get_feature(Point()), Feature)
        features = guide.ListFeatures(Rectangle(), timeout=5)
        assert_type(features, natsrpc.sync.StreamCall[Feature])
        for feature in features:
            assert_type(feature, Feature)
        assert_type(features.cancel(), bool)
        with guide.list_features(Rectangle()) as more:
            assert_type(next(more), Feature)

        assert_type(guide.RecordRoute(points()), RouteSummary)
        assert_type(guide.record_route([Point(), Point()]), RouteSummary)
        summary, route = guide.record_route.with_call(point for point in [Point()])
        assert_type(summary, RouteSummary)
        assert_type(route, natsrpc.sync.UnaryCall[RouteSummary])

        chat = guide.route_chat(iter([RouteNote(message="hi")]))
        assert_type(chat, natsrpc.sync.StreamCall[RouteNote])
        assert_type(chat.initial_metadata(), Mapping[str, str | bytes])
        assert_type(list(chat), list[RouteNote])
        assert_type(chat.code(), natsrpc.StatusCode)
