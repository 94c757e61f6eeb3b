"""What every contender's handlers do alike, imported by bench/app.py and bench/serve.py."""

from __future__ import annotations

import bench_pb2


def stream_messages(request: bench_pb2.StreamRequest) -> tuple[int, bench_pb2.Payload]:
    """What ``ServerStream`` sends, for every contender: ``count`` messages of ``size`` bytes."""
    return request.count, bench_pb2.Payload(data=b"x" * request.size)
