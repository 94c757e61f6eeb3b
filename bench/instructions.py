"""Instructions per unary call, counted by callgrind: a measure a busy machine cannot skew.

    python -m bench.instructions [--variant none|pass|metrics] [--tree DIR]

Runs natsrpc's client and server on bench/loopback.py (nats-py's client looped back
on itself: no socket, no nats-server) at concurrency 64, under
``valgrind --tool=callgrind``, twice, for a few hundred calls and for ten times as
many; the difference over the extra calls is what one call costs, start-up left out.
``--variant``: no interceptors (``none``), a pass-through interceptor on each side
(``pass``), or metrics on as ``metrics_port`` turns them on (``metrics``). ``--tree``
measures another checkout (``git archive REV | tar -x -C DIR``) with this venv.
Wall-clock rates on a shared 2-core VM move by 30 % between runs; instruction counts
repeat to a few parts in a million.
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


def counted(tree: Path, variant: str, calls: int) -> int:
    """Instructions callgrind counts for one run of ``calls`` calls."""
    with tempfile.TemporaryDirectory() as out:
        result = subprocess.run(
            [
                "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/cg.out",
                # This file as a script, so that an older tree without it can be measured.
                sys.executable, __file__, "--drive", variant, str(calls),
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
    parser.add_argument("--variant", choices=("none", "pass", "metrics"), default="none")
    parser.add_argument("--tree", type=Path, default=HERE, help="the checkout to measure")
    parser.add_argument("--drive", nargs=2, metavar=("VARIANT", "CALLS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.drive:
        asyncio.run(drive(args.drive[0], int(args.drive[1])))
        return 0
    few, many = counted(args.tree, args.variant, FEW), counted(args.tree, args.variant, MANY)
    per_call = (many - few) / (MANY - FEW)
    print(f"{args.tree} ({args.variant}): {per_call:,.0f} instructions per unary call")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
