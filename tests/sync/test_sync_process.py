"""Sync clients and processes: Ctrl-C during a call, os.fork(), and a running event loop."""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from helpers import eventually_sync
from sync_support import WAIT, Served

import natsrpc.sync
from natsrpc.testing import NatsServer

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def script(generated: Path, name: str, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(generated), str(ROOT)]))
    return subprocess.Popen(
        [sys.executable, str(HERE / name), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def read_line(process: subprocess.Popen[str], timeout: float = WAIT) -> str:
    """The next line the process prints, without waiting for ever."""
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout).strip()
    except queue.Empty:
        process.kill()
        raise AssertionError(f"no output within {timeout}s") from None


@pytest.mark.parametrize("kind", ["server_stream", "client_stream"])
def test_ctrl_c_cancels_the_call_and_the_server_sees_it(
    served: Served, generated: Path, nats_server: NatsServer, kind: str
) -> None:
    process = script(generated, "interrupted_client.py", nats_server.url, kind)
    try:
        assert read_line(process) == "calling"
        served.wait_for(served.streamer.started_event)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=WAIT)
    finally:
        process.kill()
    # Either the call was waiting (CANCELLED), or the signal came while it was being
    # started; in both cases the server must see the cancellation.
    assert out.strip() in ("interrupted CANCELLED", "interrupted STARTING"), err
    assert process.returncode == 0, err
    served.wait_for(served.streamer.cancelled_event)
    assert served.streamer.cancelled == 1


def test_ctrl_c_cancels_a_unary_call_and_the_server_sees_it(
    served: Served, generated: Path, nats_server: NatsServer
) -> None:
    process = script(generated, "interrupted_client.py", nats_server.url, "unary")
    try:
        assert read_line(process) == "calling"
        eventually_sync(lambda: served.echo.active == 1, within=WAIT)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=WAIT)
    finally:
        process.kill()
    assert out.strip() in ("interrupted CANCELLED", "interrupted STARTING"), err
    assert process.returncode == 0, err
    # The call's 60 s timeout and its 30 s sleep are far away: only the caller's
    # cancel notice (docs/protocol.md §2.4) can have stopped the handler.
    eventually_sync(lambda: served.echo.cancelled == 1, within=WAIT)
    assert served.echo.active == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_refuses_the_inherited_connection_and_a_new_one_works(
    served: Served, generated: Path, nats_server: NatsServer
) -> None:
    process = script(generated, "forked_client.py", nats_server.url)
    try:
        out, err = process.communicate(timeout=WAIT * 4)
    finally:
        process.kill()
    lines = out.splitlines()
    assert process.returncode == 0, err
    assert lines[0] == "parent before fork: parent"
    assert lines[1].startswith("child refused: this natsrpc.sync connection was opened in process")
    assert "after os.fork()" in lines[1]
    assert "natsrpc.sync.connect()" in lines[1]
    assert lines[2:] == [
        "child own connection: child",
        "child exit: 0",
        "parent after fork: parent again",
    ], err


async def test_calls_from_a_running_event_loop_are_refused(
    served: Served,
    echo_client: Any,
    stream_client: Any,
    echo_pb2: Any,
    stream_pb2: Any,
    nats_server: NatsServer,
) -> None:
    # The error names the classes of the service called, whatever it is.
    echo_advice = r"use the async client \(EchoClient rather than EchoSyncClient\)"
    with pytest.raises(RuntimeError, match=echo_advice):
        echo_client.echo(echo_pb2.EchoRequest())
    # A call started elsewhere cannot be waited for here either.
    pending = await asyncio.to_thread(echo_client.echo.future, echo_pb2.EchoRequest(sleep_ms=100))
    with pytest.raises(RuntimeError, match=echo_advice):
        pending.result()
    with pytest.raises(RuntimeError, match=r"\(StreamerClient rather than StreamerSyncClient\)"):
        stream_client.produce(stream_pb2.ProduceRequest(count=1))
    with pytest.raises(RuntimeError, match="use the async client"):
        natsrpc.sync.connect(nats_server.url)
