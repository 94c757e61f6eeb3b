"""Instructions per unary call or per event, counted by callgrind: what a busy machine cannot skew.

    python -m bench.instructions [--variant none|pass|metrics] [--tree DIR]
    python -m bench.instructions --workload js_consume [--tree DIR]

``unary`` (the default) runs natsrpc's client and server on bench/loopback.py
(nats-py's client looped back on itself: no socket, no nats-server) at concurrency
64, under ``valgrind --tool=callgrind``, twice, for a few hundred calls and for ten
times as many; the difference over the extra calls is what one call costs, start-up
left out. ``--variant``: no interceptors (``none``), a pass-through interceptor on
each side (``pass``), or metrics on as ``metrics_port`` turns them on (``metrics``).
``js_consume`` counts a natsrpc JetStream consumer taking and acknowledging events
that a real nats-server (``-js``, outside callgrind) stored beforehand, as
``bench.events`` does, the same two ways. ``--tree`` measures another checkout
(``git archive REV | tar -x -C DIR``) with this venv. Wall-clock rates on a shared
2-core VM move by 30 % between runs; instruction counts repeat to a few parts in a
million for unary calls and to about 0.1 % for events, whose deliveries come in
batches as the server has them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent
FEW, MANY = 640, 6400
CONCURRENCY = 64


async def drive(variant: str, calls: int) -> None:
    """``calls`` unary echo calls at concurrency 64 over the loopback."""
    import natsrpc
    from bench import stubs
    from bench.loopback import loopback

    generated_dir = stubs.generate(Path(tempfile.mkdtemp(prefix="natsrpc-instr-"))).directory
    sys.path.insert(0, str(generated_dir))
    import bench_natsrpc
    import bench_pb2

    if variant == "metrics":
        from natsrpc.metrics import open_probes

        open_probes("127.0.0.1", 0)
    elif variant == "pass":
        from natsrpc.client.interceptors import PROCESS_INTERCEPTORS as CLIENT
        from natsrpc.client.interceptors import ClientInterceptor
        from natsrpc.server.interceptors import PROCESS_INTERCEPTORS as SERVER
        from natsrpc.server.interceptors import ServerInterceptor

        CLIENT.insert(0, ClientInterceptor())
        SERVER.insert(0, ServerInterceptor())

    class Echo(bench_natsrpc.Bench):  # type: ignore[misc]
        async def unary(self, request: Any, context: natsrpc.Context) -> Any:
            return request

    nc, _ = await loopback()
    server = natsrpc.Server(nc, reflection=False)
    server.add_service(Echo())
    await server.start()
    client = bench_natsrpc.BenchClient(nc)
    payload = bench_pb2.Payload(data=b"x" * 100)

    async def worker(count: int) -> None:
        for _ in range(count):
            await client.unary(payload)

    await asyncio.gather(*(worker(calls // CONCURRENCY) for _ in range(CONCURRENCY)))


async def drive_js(url: str, events: int) -> None:
    """Consume and acknowledge ``events`` stored events with a natsrpc consumer group."""
    import nats

    import natsrpc
    from bench import stubs

    generated_dir = stubs.generate(Path(tempfile.mkdtemp(prefix="natsrpc-instr-"))).directory
    sys.path.insert(0, str(generated_dir))
    import bench_events_natsrpc

    handled = 0
    all_handled = asyncio.Event()

    class Handlers(bench_events_natsrpc.Ticks):  # type: ignore[misc]
        async def on_ticked(self, event: Any, context: Any) -> None:
            nonlocal handled
            handled += 1
            if handled == events:
                all_handled.set()

    nc = await nats.connect(url)
    server = natsrpc.Server(nc, reflection=False)
    server.add_service(Handlers(), consumer="bench")
    await server.start()
    await all_handled.wait()
    await server.stop()
    await nc.close()


async def store_events(url: str, events: int) -> None:
    """Create the bench's event stream and store ``events`` events in it."""
    import nats
    from nats.nuid import NUID

    import natsrpc
    from bench import stubs

    generated_dir = stubs.generate(Path(tempfile.mkdtemp(prefix="natsrpc-instr-"))).directory
    sys.path.insert(0, str(generated_dir))
    import bench_events_natsrpc
    import bench_events_pb2

    nc = await nats.connect(url)
    await natsrpc.ensure_streams(nc, bench_events_natsrpc.TicksPublisher)
    js = nc.jetstream()
    data = bench_events_pb2.Tick(data=b"x" * 100).SerializeToString()
    nuid = NUID()
    subject = bench_events_natsrpc.TICKS_TICKED.subject
    for _ in range(events):
        await js.publish(subject, data, headers={"Nats-Msg-Id": nuid.next().decode()})
    await nc.close()


def counted(tree: Path, workload: str, variant: str, calls: int) -> int:
    """Instructions callgrind counts for one run of ``calls`` calls or events."""
    if workload == "unary":
        return _callgrind(tree, ["--drive", variant, str(calls)])
    from natsrpc.testing import NatsServer

    with tempfile.TemporaryDirectory() as store, NatsServer(args=("-js", "-sd", store)) as server:
        asyncio.run(store_events(server.url, calls))
        return _callgrind(tree, ["--drive-js", server.url, str(calls)])


def _callgrind(tree: Path, drive: list[str]) -> int:
    with tempfile.TemporaryDirectory() as out:
        result = subprocess.run(
            [
                "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/cg.out",
                # This file as a script, so that an older tree without it can be measured.
                sys.executable, __file__, *drive,
            ],
            cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)},
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    found = re.search(r"Collected : (\d+)", result.stderr)
    if found is None:
        raise RuntimeError(f"callgrind printed no count:\n{result.stderr[-2000:]}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__)
    parser.add_argument("--workload", choices=("unary", "js_consume"), default="unary")
    parser.add_argument("--variant", choices=("none", "pass", "metrics"), default="none")
    parser.add_argument("--tree", type=Path, default=HERE, help="the checkout to measure")
    parser.add_argument("--drive", nargs=2, metavar=("VARIANT", "CALLS"), help=argparse.SUPPRESS)
    parser.add_argument("--drive-js", nargs=2, metavar=("URL", "EVENTS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.drive:
        asyncio.run(drive(args.drive[0], int(args.drive[1])))
        return 0
    if args.drive_js:
        asyncio.run(drive_js(args.drive_js[0], int(args.drive_js[1])))
        return 0
    few = counted(args.tree, args.workload, args.variant, FEW)
    many = counted(args.tree, args.workload, args.variant, MANY)
    per_item = (many - few) / (MANY - FEW)
    if args.workload == "unary":
        print(f"{args.tree} ({args.variant}): {per_item:,.0f} instructions per unary call")
    else:
        print(f"{args.tree} (js_consume): {per_item:,.0f} instructions per event consumed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
