"""`natsrpc ls`, `info`, `serve --workers` and reflection completeness, against real processes."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import nats
import pytest
from cli_support import COMMAND, PROTOS, run_cli, start_serving
from google.protobuf import descriptor_pb2
from helpers import eventually, eventually_sync
from plugin_helpers import run_protoc

import natsrpc
from natsrpc.reflection.client import ReflectionClient
from natsrpc.testing import NatsServer


def test_ls_and_info(serve: list[Any], cli_env: dict[str, str]) -> None:
    serve.append(start_serving(cli_env, "echo_service:EchoService", workers=2))
    assert run_cli(cli_env, "call", "natsrpc_test.Echo/Echo", "-d", "{}").returncode == 0

    listed = run_cli(cli_env, "ls")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["NAME", "VERSION", "INSTANCES", "METHODS", "HEALTH", "DESCRIPTION"]
    echo_row = next(row for row in rows if row.startswith("natsrpc_test-Echo "))
    assert echo_row.split()[:6] == ["natsrpc_test-Echo", "0.0.0", "2", "Echo,", "Peek", "SERVING"]
    assert echo_row.index("SERVING") == header.index("HEALTH")
    # Columns line up: every cell starts where its header does.
    assert echo_row.index("0.0.0") == header.index("VERSION")

    documents = json.loads(run_cli(cli_env, "ls", "--json").stdout)
    echo = next(d for d in documents if d["name"] == "natsrpc_test-Echo")
    assert (echo["proto"], echo["instances"], echo["methods"], echo["health"]) == (
        "natsrpc_test.Echo",
        2,
        ["Echo", "Peek"],
        "SERVING",
    )

    info = json.loads(run_cli(cli_env, "info", "natsrpc_test.Echo", "--json").stdout)
    assert len(info) == 2
    endpoints = {e["name"]: e for instance in info for e in instance["endpoints"]}
    assert endpoints["Echo"]["subject"] == "natsrpc_test.Echo.Echo"
    assert endpoints["Echo"]["kind"] == "unary"
    assert len(endpoints["Echo"]["metadata"]["rpc.schema"]) == 32
    assert sum(e["requests"] for i in info for e in i["endpoints"] if e["name"] == "Echo") == 1

    one = run_cli(cli_env, "info", "natsrpc_test-Echo", "--instance", info[0]["id"])
    assert one.returncode == 0
    assert one.stdout.count("instance ") == 1
    assert "ENDPOINT  SUBJECT" in one.stdout

    reflected = run_cli(cli_env, "services", "--json")
    assert "natsrpc_test.Echo" in json.loads(reflected.stdout)

    missing = run_cli(cli_env, "info", "nobody", "--wait", "0.5")
    assert (missing.returncode, missing.stderr.strip()) == (
        1,
        "error: no running instance of service nobody answered",
    )


async def test_reflection_answers_include_every_import(
    generated: Path, server: NatsServer, tmp_path: Path
) -> None:
    protos = ["tricky.proto", "tricky_deps/common.proto", "tricky_deps/v2/common.proto"]
    assert run_protoc(PROTOS, protos, tmp_path).returncode == 0
    sys.path.insert(0, str(tmp_path))
    try:
        import tricky_natsrpc
    finally:
        sys.path.remove(str(tmp_path))
    nc = await nats.connect(server.url)
    served = natsrpc.Server(nc)
    served.add_service(tricky_natsrpc.Tricky())
    async with served:
        files = await ReflectionClient(nc).files_containing("Tricky")
        by_message = await ReflectionClient(nc).files_containing("tricky.deps.v2.Shared")
    await nc.close()
    # What protoc itself says the file needs, imports of imports included.
    protoset = tmp_path / "set.pb"
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTOS}", "--include_imports",
         f"--descriptor_set_out={protoset}", "tricky.proto"],
        check=True, timeout=60,
    )  # fmt: skip
    expected = descriptor_pb2.FileDescriptorSet.FromString(protoset.read_bytes())
    names = [f.name for f in files]
    assert names[0] == "tricky.proto"
    assert sorted(names) == sorted(f.name for f in expected.file)
    assert "google/protobuf/empty.proto" in names
    assert len(set(names)) == len(names)
    assert [f.name for f in by_message] == ["tricky_deps/v2/common.proto"]


async def test_reflection_off(generated: Path, server: NatsServer) -> None:
    from echo_service import EchoService

    nc = await nats.connect(server.url)
    served = natsrpc.Server(nc, reflection=False)
    served.add_service(EchoService())
    async with served:
        with pytest.raises(natsrpc.RpcError) as caught:
            await ReflectionClient(nc).files_containing("natsrpc_test.Echo")
    await nc.close()
    assert caught.value.code is natsrpc.StatusCode.NOT_FOUND


async def _load(url: str, stop: asyncio.Event, phase: list[str], outcomes: list[Any]) -> None:
    """Eight callers in a loop; each outcome is recorded with the phase its call began in."""
    from natsrpc_test import echo_natsrpc, echo_pb2

    nc = await nats.connect(url)
    client = echo_natsrpc.EchoClient(nc, timeout=5)

    async def caller() -> None:
        while not stop.is_set():
            began = phase[0]
            try:
                await client.echo(echo_pb2.EchoRequest(text="x", sleep_ms=30))
                outcomes.append((began, "ok"))
            except natsrpc.RpcError as error:
                outcomes.append((began, error.code.name))

    await asyncio.gather(*(caller() for _ in range(8)))
    await nc.close()


async def test_workers_restart_and_stop_without_losing_calls(
    serve: list[Any], cli_env: dict[str, str], server: NatsServer
) -> None:
    served = start_serving(cli_env, "echo_service:EchoService", workers=2)
    serve.append(served)
    pids = served.worker_pids()
    assert sorted(pids) == [1, 2]

    stop = asyncio.Event()
    phase = ["kill"]
    outcomes: list[Any] = []
    load = asyncio.create_task(_load(server.url, stop, phase, outcomes))
    # Kill a worker once calls are being answered.
    await eventually(lambda: ("kill", "ok") in outcomes, within=20, what="calls answered")
    os.kill(pids[1], signal.SIGKILL)
    line = await asyncio.to_thread(served.wait_for_line, r"worker 1 \(pid \d+\) exited")
    assert "signal SIGKILL; restarting" in line
    await asyncio.to_thread(served.wait_for_line, r"worker 1 \(pid \d+\): serving")
    assert served.worker_pids()[1] != pids[1]

    # Only what the killed worker was running may fail; now stop the rest under load.
    phase[0] = "stop"
    # Callers whose requests died with the killed worker wait out their 5 s timeout;
    # stop only once calls of this phase are flowing, or none may have begun in it.
    await eventually(lambda: any(began == "stop" for began, _ in outcomes), within=20)
    code = await asyncio.to_thread(served.stop, signal.SIGTERM)
    stop.set()
    await asyncio.wait_for(load, 30)
    assert code == 0, served.lines
    during_stop = [outcome for began, outcome in outcomes if began == "stop"]
    assert "ok" in during_stop
    # Calls that reached a worker all finished; later ones found nobody (UNAVAILABLE).
    assert set(during_stop) <= {"ok", "UNAVAILABLE"}, during_stop


def _running(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie has stopped; nobody reaped it yet


def test_workers_stop_when_the_supervisor_is_killed(
    serve: list[Any], cli_env: dict[str, str]
) -> None:
    served = start_serving(cli_env, "echo_service:EchoService", workers=2)
    serve.append(served)
    workers = served.worker_pids().values()
    served.stop(signal.SIGKILL)
    eventually_sync(
        lambda: not any(_running(pid) for pid in workers), within=30, what="the workers stop"
    )


def test_serve_rejects_a_bad_target(cli_env: dict[str, str]) -> None:
    result = run_cli(cli_env, "serve", "echo_service:Nope", "--workers", "2")
    assert (result.returncode, result.stderr.strip()) == (
        1,
        "error: echo_service has no attribute Nope",
    )
    usage = run_cli(cli_env, "serve", "no-colon")
    assert usage.returncode == 1
    assert "is not MODULE:ATTR" in usage.stderr


@pytest.mark.skipif(
    shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)"
)
def test_table_layout_in_a_real_terminal(serve: list[Any], cli_env: dict[str, str]) -> None:
    serve.append(start_serving(cli_env, "stream_service:StreamerService"))
    session = f"natsrpc-cli-{os.getpid()}"
    env_args = [f"{k}={cli_env[k]}" for k in ("NATS_URL", "PYTHONPATH", "XDG_CONFIG_HOME")]
    command = " ".join(["env", *env_args, *COMMAND, "ls", ";", "sleep", "30"])
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "250", "-y", "20", command],
        check=True, timeout=10,
    )  # fmt: skip
    try:
        screens: list[str] = []

        def listed() -> bool:
            screens.append(subprocess.run(
                ["tmux", "capture-pane", "-p", "-t", session],
                capture_output=True, text=True, check=True, timeout=10,
            ).stdout)  # fmt: skip
            return "natsrpc_test-Streamer" in screens[-1]

        eventually_sync(listed, within=20, what="the ls table")
        screen = screens[-1]
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], timeout=10, check=False)
    rows = [line for line in screen.splitlines() if line.strip()]
    header = next(line for line in rows if line.startswith("NAME"))
    row = next(line for line in rows if line.startswith("natsrpc_test-Streamer"))
    for column in ("VERSION", "INSTANCES", "METHODS", "DESCRIPTION"):
        assert row[header.index(column) - 1] == " " and row[header.index(column)] != " "
