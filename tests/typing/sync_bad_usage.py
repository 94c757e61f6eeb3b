"""Misuse of the generated sync clients that ``mypy --strict`` must reject.

Every line that must fail ends with ``# E: <mypy error code>``; tests/plugin/test_plugin_typing.py
asserts that mypy reports exactly those lines with exactly those codes, and nothing else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import greeter_natsrpc
import route_guide_natsrpc
from greeter_pb2 import HelloRequest
from nats.aio.client import Client as NATS
from route_guide_pb2 import Feature, Point, Rectangle, RouteNote

import natsrpc.sync


async def notes() -> AsyncIterator[RouteNote]:
    yield RouteNote()


def misuse(connection: natsrpc.sync.Connection, nc: NATS) -> None:
    greeter_natsrpc.GreeterSyncClient(nc)  # E: arg-type
    greeter_natsrpc.GreeterSyncClient(connection, timeout="2")  # E: arg-type
    greeter = greeter_natsrpc.GreeterSyncClient(connection)
    greeter.say_hello(Point())  # E: arg-type
    feature: Feature = greeter.say_hello(HelloRequest())  # E: assignment
    print(feature)
    greeter.SayHello(HelloRequest(), metadata=3)  # E: arg-type
    greeter.say_hello(HelloRequest(), 5.0)  # E: call-arg
    greeter.say_hello.with_call(HelloRequest(), timeout="soon")  # E: arg-type
    greeter.SayGoodbye(HelloRequest())  # E: attr-defined

    guide = route_guide_natsrpc.RouteGuideSyncClient(connection)
    guide.record_route([RouteNote()])  # E: list-item
    guide.record_route(notes())  # E: arg-type
    guide.RecordRoute(Point())  # E: arg-type
    guide.list_features(Point())  # E: arg-type
    last: RouteNote = next(guide.list_features(Rectangle()))  # E: assignment
    print(last)
    chat = guide.route_chat([RouteNote()])
    chat.write(RouteNote())  # E: attr-defined


async def awaited(connection: natsrpc.sync.Connection) -> None:
    greeter = greeter_natsrpc.GreeterSyncClient(connection)
    await greeter.say_hello(HelloRequest())  # E: misc
