"""Misuse of generated code that ``mypy --strict`` must reject (tests/plugin/test_plugin_typing.py).

Every line that must fail ends with ``# E: <mypy error code>``; the test asserts that
mypy reports exactly those lines with exactly those codes, and nothing else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import greeter_natsrpc
import route_guide_natsrpc
from greeter_pb2 import HelloRequest
from nats.aio.client import Client as NATS
from route_guide_pb2 import Feature, Point, Rectangle, RouteNote, RouteSummary

from natsrpc import Context


class WrongReturn(greeter_natsrpc.Greeter):
    async def say_hello(self, request: HelloRequest, context: Context) -> Feature:  # E: override
        return Feature()


class WrongRequest(route_guide_natsrpc.RouteGuide):
    async def get_feature(self, request: Rectangle, context: Context) -> Feature:  # E: override
        return Feature()


class NotAStream(route_guide_natsrpc.RouteGuide):
    async def list_features(self, request: Rectangle, context: Context) -> Feature:  # E: override
        return Feature()

    async def record_route(self, requests: Point, context: Context) -> RouteSummary:  # E: override
        return RouteSummary()


async def notes() -> AsyncIterator[RouteNote]:
    yield RouteNote()


async def misuse(nc: NATS) -> None:
    greeter = greeter_natsrpc.GreeterClient(nc)
    await greeter.say_hello(Point())  # E: arg-type
    feature: Feature = await greeter.say_hello(HelloRequest())  # E: assignment
    print(feature)
    await greeter.say_hello(HelloRequest(), metadata=3)  # E: arg-type
    await greeter.say_hello(HelloRequest(), 5.0)  # E: call-arg

    guide = route_guide_natsrpc.RouteGuideClient(nc)
    await guide.record_route([RouteNote()])  # E: list-item
    await guide.record_route(notes())  # E: arg-type
    await guide.record_route(Point())  # E: arg-type
    await guide.list_features(Rectangle())  # E: misc
    chat = guide.route_chat()
    await chat.write(Point())  # E: arg-type
