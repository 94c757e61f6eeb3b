"""What recording metrics costs per call: ``python -m bench.hotpath --only metrics``.

The interceptor variants drive one unary call's coroutine by hand against a
``call_next`` that returns at once (no event loop, no network), so what is
timed is the interceptor's own Python per call: an interceptor that only
passes the call on (the frame every interceptor costs), and the metrics
interceptors recording into the OpenTelemetry SDK's provider with the
Prometheus reader (the path any user's provider takes) and into natsrpc's own
provider (what ``open_probes`` and ``metrics_port`` build). The end-to-end
variant is ``unary c64, client + server`` of bench/hotpath.py with
``open_probes`` on, to set beside the one without.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import natsrpc
from bench.loopback import loopback

CALLS = 100_000
"""Calls per interceptor run: ~1 s at the SDK's cost."""
E2E_CALLS = 19_200
E2E_CONCURRENCY = 64

Timed = Callable[[], Coroutine[Any, Any, tuple[float, int]]]


def _drive(make: Callable[[], Coroutine[Any, Any, Any]], calls: int) -> float:
    """Seconds for ``calls`` coroutines from ``make`` run to their end without a loop."""
    started = time.perf_counter()
    for _ in range(calls):
        coroutine = make()
        try:
            coroutine.send(None)
        except StopIteration:
            pass
        else:  # pragma: no cover - call_next never suspends here
            raise RuntimeError("the call suspended")
    return time.perf_counter() - started


@contextmanager
def _provider(kind: str) -> Iterator[Any]:
    """A meter provider: None, the SDK's with a Prometheus reader, or natsrpc's own."""
    if kind == "none":
        yield None
    elif kind == "sdk":
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from opentelemetry.sdk.metrics import MeterProvider
        from prometheus_client import CollectorRegistry

        provider = MeterProvider(
            metric_readers=[PrometheusMetricReader(registry=CollectorRegistry())]
        )
        try:
            yield provider
        finally:
            provider.shutdown()
    else:
        from natsrpc.metrics import open_probes

        probes = open_probes("127.0.0.1", 0)
        try:
            yield probes.meter_provider
        finally:
            probes.close()


def metrics_variants(pb2: Any, generated: Any) -> dict[str, Timed]:
    from natsrpc.client.interceptors import CallDetails
    from natsrpc.metrics import ClientMetricsInterceptor, ServerMetricsInterceptor

    method = generated.BENCH_UNARY
    request = pb2.Payload(data=b"x" * 100)
    details = CallDetails(method, {}, 10.0)

    async def server_next(request: Any, context: Any) -> Any:
        return request

    async def client_next(request: Any, details: Any) -> Any:
        return request

    # Per side: its plain interceptor class, its metrics one, one unary call through a
    # given interceptor, and the call without one. Partials, so that every variant's
    # loop pays the same C-level call to start its coroutine.
    sides: dict[str, tuple[type, type, Callable[[Any], Any], Any]] = {
        "server": (
            natsrpc.ServerInterceptor,
            ServerMetricsInterceptor,
            lambda i: partial(i.intercept_unary, request, None, method, server_next),
            partial(server_next, request, None),
        ),
        "client": (
            natsrpc.ClientInterceptor,
            ClientMetricsInterceptor,
            lambda i: partial(i.intercept_unary, request, details, client_next),
            partial(client_next, request, details),
        ),
    }

    def variant(side: str, kind: str) -> Timed:
        plain, metered, through, bare = sides[side]

        async def run() -> tuple[float, int]:
            if kind == "off":
                return _drive(bare, CALLS), CALLS
            with _provider("none" if kind == "frame" else kind) as provider:
                interceptor = plain() if kind == "frame" else metered(provider)
                return _drive(through(interceptor), CALLS), CALLS

        return run

    async def sdk_record() -> tuple[float, int]:
        with _provider("sdk") as provider:
            histogram = provider.get_meter("bench").create_histogram("bench.duration", unit="s")
            attributes = {"rpc.method": method.path, "rpc.response.status_code": "OK"}
            started = time.perf_counter()
            for _ in range(CALLS):
                histogram.record(0.0002, attributes)
            return time.perf_counter() - started, CALLS

    async def end_to_end() -> tuple[float, int]:
        import asyncio

        from natsrpc.metrics import open_probes

        probes = open_probes("127.0.0.1", 0)
        try:
            nc, _ = await loopback()
            served = natsrpc.Server(nc, reflection=False)
            served.add_service(_echo(generated)())
            await served.start()
            stub = generated.BenchClient(nc)

            async def worker(n: int) -> None:
                for _ in range(n):
                    await stub.unary(request)

            started = time.perf_counter()
            per_worker = E2E_CALLS // E2E_CONCURRENCY
            await asyncio.gather(*(worker(per_worker) for _ in range(E2E_CONCURRENCY)))
            return time.perf_counter() - started, E2E_CALLS
        finally:
            probes.close()

    return {
        "metrics: Histogram.record alone, OpenTelemetry SDK + Prometheus reader": sdk_record,
        "metrics: server unary, no interceptor (call_next alone)": variant("server", "off"),
        "metrics: server unary, a pass-through interceptor": variant("server", "frame"),
        "metrics: server unary, metrics interceptor, SDK provider": variant("server", "sdk"),
        "metrics: server unary, metrics interceptor, natsrpc's provider": variant(
            "server", "natsrpc"
        ),
        "metrics: client unary, no interceptor (call_next alone)": variant("client", "off"),
        "metrics: client unary, a pass-through interceptor": variant("client", "frame"),
        "metrics: client unary, metrics interceptor, SDK provider": variant("client", "sdk"),
        "metrics: client unary, metrics interceptor, natsrpc's provider": variant(
            "client", "natsrpc"
        ),
        "unary c64, client + server: natsrpc, metrics on (open_probes)": end_to_end,
    }


def _echo(generated: Any) -> type:
    class Impl(generated.Bench):  # type: ignore[misc]
        async def unary(self, request: Any, context: natsrpc.Context) -> Any:
            return request

    return Impl


def main(argv: list[str] | None = None) -> int:
    """One interceptor variant once, for instruction counts that a busy machine cannot skew.

    ``valgrind --tool=callgrind python -m bench.hotpath_metrics server natsrpc 20000``;
    the difference from the same run with 0 calls is the calls' own instructions.
    """
    import argparse
    import asyncio
    import sys
    import tempfile
    from pathlib import Path

    from bench import stubs

    parser = argparse.ArgumentParser(prog="python -m bench.hotpath_metrics")
    parser.add_argument("side", choices=("server", "client"))
    parser.add_argument("kind", choices=("off", "frame", "sdk", "natsrpc"))
    parser.add_argument("calls", type=int)
    args = parser.parse_args(argv)
    global CALLS
    CALLS = args.calls
    with tempfile.TemporaryDirectory(prefix="natsrpc-hotpath-") as tmp:
        sys.path.insert(0, str(stubs.generate(Path(tmp)).directory))
        import bench_natsrpc
        import bench_pb2

        side = "server unary" if args.side == "server" else "client unary"
        for title, run in metrics_variants(bench_pb2, bench_natsrpc).items():
            if side in title and _KINDS[args.kind] in title:
                seconds, calls = asyncio.run(run())
                print(f"{title}: {seconds * 1e6 / max(1, calls):.2f} µs per call")
    return 0


_KINDS = {
    "off": "no interceptor",
    "frame": "pass-through",
    "sdk": "SDK provider",
    "natsrpc": "natsrpc's provider",
}

if __name__ == "__main__":
    raise SystemExit(main())
