"""Call the route guide: ``python client.py [NATS_URL]`` runs each kind of RPC once."""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import AsyncIterator

import nats
import natsrpc
from server import load_features

import route_guide_natsrpc
from route_guide_pb2 import Point, Rectangle, RouteNote


async def get_feature(stub: route_guide_natsrpc.RouteGuideClient) -> None:
    for point in (Point(latitude=407838351, longitude=-746143763), Point(latitude=0, longitude=0)):
        feature = await stub.get_feature(point)
        where = f"{point.latitude}, {point.longitude}"
        print(f"feature at {where}: {feature.name!r}" if feature.name else f"no feature at {where}")


async def list_features(stub: route_guide_natsrpc.RouteGuideClient) -> None:
    rectangle = Rectangle(
        lo=Point(latitude=400000000, longitude=-750000000),
        hi=Point(latitude=420000000, longitude=-730000000),
    )
    print("features between 40, -75 and 42, -73:")
    call = stub.list_features(rectangle)
    async for feature in call:
        print(f"  {feature.name} at {feature.location.latitude}, {feature.location.longitude}")


async def record_route(stub: route_guide_natsrpc.RouteGuideClient) -> None:
    features = load_features()

    async def route() -> AsyncIterator[Point]:
        for _ in range(10):
            point = random.choice(features).location
            print(f"  visiting {point.latitude}, {point.longitude}")
            yield point
            await asyncio.sleep(0.05)

    print("recording a route:")
    summary = await stub.record_route(route())
    print(
        f"route summary: {summary.point_count} points, {summary.feature_count} features, "
        f"{summary.distance} m, {summary.elapsed_time} s"
    )


async def route_chat(stub: route_guide_natsrpc.RouteGuideClient) -> None:
    notes = [
        RouteNote(message="First message", location=Point(latitude=0, longitude=0)),
        RouteNote(message="Second message", location=Point(latitude=0, longitude=1)),
        RouteNote(message="Third message", location=Point(latitude=1, longitude=0)),
        RouteNote(message="Fourth message", location=Point(latitude=0, longitude=0)),
        RouteNote(message="Fifth message", location=Point(latitude=1, longitude=0)),
    ]
    # Write while reading: the call sends the notes in the background.
    call = stub.route_chat(notes)
    async for note in call:
        print(f"got note {note.message!r} at {note.location.latitude}, {note.location.longitude}")

    # Or drive both directions by hand.
    chat = stub.route_chat(metadata={"x-user": "demo"})
    await chat.write(RouteNote(message="hello again", location=Point(latitude=5, longitude=5)))
    await chat.done_writing()
    while (reply := await chat.read()) is not None:
        print(f"got note {reply.message!r}")
    print("chat trailers:", dict(await chat.trailing_metadata()))


async def run(url: str) -> None:
    nc = await nats.connect(url)
    try:
        stub = route_guide_natsrpc.RouteGuideClient(nc, timeout=10.0)
        print("-------------- GetFeature --------------")
        await get_feature(stub)
        print("-------------- ListFeatures --------------")
        await list_features(stub)
        print("-------------- RecordRoute --------------")
        await record_route(stub)
        print("-------------- RouteChat --------------")
        await route_chat(stub)
    except natsrpc.RpcError as error:
        print(f"call failed: {error}")
        raise
    finally:
        await nc.close()


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1] if len(sys.argv) > 1 else "nats://127.0.0.1:4222"))
