"""`natsrpc serve --metrics-port`: one process, and one scrape covering every worker."""

from __future__ import annotations

import os
import signal
import socket
from typing import Any

import nats
from cli_support import run_cli, start_serving
from helpers import eventually
from scrape import get, samples, value

from natsrpc.testing import NatsServer, free_port

CALLS = "rpc_server_call_duration_seconds_count"


async def _call(url: str, times: int) -> None:
    from natsrpc_test import echo_natsrpc, echo_pb2

    nc = await nats.connect(url)
    try:
        client = echo_natsrpc.EchoClient(nc)
        for index in range(times):
            await client.echo(echo_pb2.EchoRequest(text=str(index)))
    finally:
        await nc.close()


async def test_one_scrape_covers_every_worker(
    serve: list[Any], cli_env: dict[str, str], server: NatsServer
) -> None:
    port = free_port()
    served = start_serving(
        cli_env, "echo_service:EchoService", "--metrics-port", str(port), workers=2
    )
    serve.append(served)
    base = f"http://127.0.0.1:{port}"

    async def ready() -> bool:
        return (await get(base + "/readyz"))[0] == 200

    await eventually(ready)
    await _call(server.url, 12)
    status, text = await get(base + "/metrics")
    assert status == 200
    workers = {dict(labels).get("natsrpc_worker") for (name, labels) in samples(text)}
    assert workers == {"1", "2"}
    assert value(text, CALLS, rpc_method="natsrpc_test.Echo/Echo") == 12
    assert await get(base + "/healthz") == (200, "ok\n")

    os.kill(served.worker_pids()[2], signal.SIGKILL)

    async def restarted() -> bool:
        return len(served.worker_pids()) == 3 or (await get(base + "/readyz"))[0] == 503

    # A dead worker makes the whole process unready until its restart serves.
    await eventually(restarted)
    served.wait_for_line(r"worker 2 \(pid \d+\): serving")
    await eventually(ready)


async def test_serve_metrics_in_one_process(
    serve: list[Any], cli_env: dict[str, str], server: NatsServer
) -> None:
    port = free_port()
    serve.append(start_serving(cli_env, "echo_service:EchoService", "--metrics-port", str(port)))
    base = f"http://127.0.0.1:{port}"
    assert await get(base + "/readyz") == (200, "ready\n")
    await _call(server.url, 3)
    status, text = await get(base + "/metrics")
    assert status == 200
    assert value(text, CALLS, rpc_method="natsrpc_test.Echo/Echo") == 3
    assert "natsrpc_worker" not in text


def test_a_metrics_port_in_use_is_a_one_line_error(cli_env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(cli_env, "serve", "echo_service:EchoService", "--metrics-port", str(port))
    assert (result.returncode, result.stderr) == (
        1,
        f"error: cannot serve metrics on 127.0.0.1:{port}: the port is in use\n",
    )
