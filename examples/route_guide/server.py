"""The route guide service: ``python server.py [NATS_URL]`` serves until Ctrl-C.

All four kinds of RPC: GetFeature (unary), ListFeatures (server streaming),
RecordRoute (client streaming) and RouteChat (bidirectional streaming).
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import natsrpc

import route_guide_natsrpc
from route_guide_pb2 import Feature, Point, Rectangle, RouteNote, RouteSummary

DB = Path(__file__).with_name("route_guide_db.json")


def load_features(path: Path = DB) -> list[Feature]:
    return [
        Feature(
            name=entry["name"],
            location=Point(
                latitude=entry["location"]["latitude"], longitude=entry["location"]["longitude"]
            ),
        )
        for entry in json.loads(path.read_text())
    ]


def distance(start: Point, end: Point) -> float:
    """Metres between two points, by the haversine formula."""
    coord_factor = 10_000_000.0
    lat1, lat2 = (
        math.radians(start.latitude / coord_factor),
        math.radians(end.latitude / coord_factor),
    )
    dlat = lat2 - lat1
    dlon = math.radians((end.longitude - start.longitude) / coord_factor)
    a = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 6_371_000 * 2 * math.atan2(math.sqrt(a), math.sqrt(1 - a))


def _key(point: Point) -> tuple[int, int]:
    return point.latitude, point.longitude


class RouteGuide(route_guide_natsrpc.RouteGuide):
    def __init__(self, features: list[Feature]) -> None:
        self.features = features
        self.notes: defaultdict[tuple[int, int], list[RouteNote]] = defaultdict(list)

    def _feature_at(self, point: Point) -> Feature | None:
        for feature in self.features:
            if feature.location == point:
                return feature
        return None

    async def get_feature(self, request: Point, context: natsrpc.Context) -> Feature:
        return self._feature_at(request) or Feature(location=request)

    async def list_features(
        self, request: Rectangle, context: natsrpc.Context
    ) -> AsyncIterator[Feature]:
        left, right = sorted((request.lo.longitude, request.hi.longitude))
        bottom, top = sorted((request.lo.latitude, request.hi.latitude))
        for feature in self.features:
            if not feature.name:
                continue
            location = feature.location
            if left <= location.longitude <= right and bottom <= location.latitude <= top:
                # The caller's reading speed paces this loop: each yield waits for credit.
                yield feature

    async def record_route(
        self, requests: AsyncIterator[Point], context: natsrpc.Context
    ) -> RouteSummary:
        point_count = feature_count = 0
        metres = 0.0
        previous: Point | None = None
        started = time.monotonic()
        async for point in requests:
            point_count += 1
            feature = self._feature_at(point)
            if feature is not None and feature.name:
                feature_count += 1
            if previous is not None:
                metres += distance(previous, point)
            previous = point
        return RouteSummary(
            point_count=point_count,
            feature_count=feature_count,
            distance=int(metres),
            elapsed_time=int(time.monotonic() - started),
        )

    async def route_chat(
        self, requests: AsyncIterator[RouteNote], context: natsrpc.Context
    ) -> AsyncIterator[RouteNote]:
        async for note in requests:
            earlier = list(self.notes[_key(note.location)])
            self.notes[_key(note.location)].append(note)
            for previous in earlier:
                yield previous


def main(url: str) -> None:
    """Serve until Ctrl-C or SIGTERM, then stop without dropping a call."""

    async def build() -> natsrpc.Server:
        nc = await nats.connect(url)
        server = natsrpc.Server(nc)
        server.add_service(RouteGuide(load_features()))
        return server

    natsrpc.run(
        build, ready=lambda: print(f"serving routeguide.RouteGuide on {url}; Ctrl-C to stop")
    )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "nats://127.0.0.1:4222")
