"""natsrpc.connect: a first connection fails fast with one line; reconnects stay nats-py's."""

from __future__ import annotations

import logging
import subprocess
import sys
import time

import pytest
from helpers import eventually

import natsrpc
import natsrpc.sync
from natsrpc.testing import NatsServer, free_port
from natsrpc.transport import dial


def closed_url() -> str:
    return f"nats://127.0.0.1:{free_port()}"


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.exc_info is not None or r.name.split(".")[0] == "nats"]


async def test_no_server_fails_at_once_with_one_line(caplog: pytest.LogCaptureFixture) -> None:
    url = closed_url()
    started = time.monotonic()
    with pytest.raises(natsrpc.ConnectError) as raised:
        await natsrpc.connect(url)
    assert time.monotonic() - started < dial.CONNECT_TIMEOUT
    message = str(raised.value)
    assert message.startswith(f"could not connect to {url}: connection refused")
    assert "\n" not in message
    assert raised.value.servers == url
    assert tracebacks(caplog) == []


async def test_every_server_of_the_list_is_tried_once(nats_server: NatsServer) -> None:
    down = closed_url()
    nc = await natsrpc.connect(f"{down}, {nats_server.url}", dont_randomize=True)
    try:
        assert nc.is_connected
        assert nc.connected_url is not None and nc.connected_url.port == nats_server.port
    finally:
        await nc.close()

    with pytest.raises(natsrpc.ConnectError) as raised:
        await natsrpc.connect([down, closed_url()])
    assert raised.value.servers.startswith(f"{down}, nats://127.0.0.1:")


async def test_the_default_url_is_nats_url(
    nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NATS_URL", nats_server.url)
    nc = await natsrpc.connect()
    try:
        assert nc.connected_url is not None and nc.connected_url.port == nats_server.port
    finally:
        await nc.close()
    monkeypatch.delenv("NATS_URL")
    assert dial.server_list(None) == ["nats://127.0.0.1:4222"]


def test_an_empty_server_list_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one NATS server URL"):
        dial.server_list(" , ")


async def test_reconnecting_logs_one_line_per_failure(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    port = free_port()
    server = NatsServer(port=port).start()
    nc = await natsrpc.connect(server.url, reconnect_time_wait=0.05, max_reconnect_attempts=-1)
    try:
        server.kill()

        def ours() -> list[str]:
            return [r.getMessage() for r in caplog.records if r.name == "natsrpc.connection"]

        await eventually(lambda: any("connection refused" in m for m in ours()))
        assert f"NATS connection lost ({server.url}); reconnecting" in ours()
        assert all("\n" not in m for m in ours())
        assert tracebacks(caplog) == []

        server = NatsServer(port=port).start()
        await eventually(lambda: nc.is_connected)
        await eventually(lambda: any(m.startswith("NATS connection restored") for m in ours()))
    finally:
        await nc.close()
        server.stop()


async def test_an_error_callback_replaces_the_log_line(caplog: pytest.LogCaptureFixture) -> None:
    server = NatsServer().start()
    seen: list[Exception] = []

    async def on_error(error: Exception) -> None:
        seen.append(error)

    nc = await natsrpc.connect(server.url, error_cb=on_error, reconnect_time_wait=0.05)
    try:
        server.kill()
        await eventually(lambda: any(isinstance(e, ConnectionRefusedError) for e in seen))
        assert not [r for r in caplog.records if "connection refused" in r.getMessage()]
    finally:
        await nc.close()


def test_sync_connect_fails_at_once() -> None:
    url = closed_url()
    with pytest.raises(natsrpc.ConnectError, match=f"^could not connect to {url}: "):
        natsrpc.sync.connect(url)


def test_run_exits_non_zero_with_one_line() -> None:
    url = closed_url()
    program = (
        "import natsrpc\n"
        "async def main():\n"
        f"    await natsrpc.connect({url!r})\n"
        "natsrpc.run(main)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: could not connect to {url}: connection refused "
        "(is nats-server running? `natsrpc dev` starts one)"
    ]


def test_run_returns_what_a_client_program_returns(nats_server: NatsServer) -> None:
    calls: list[bool] = []

    async def main() -> None:
        nc = await natsrpc.connect(nats_server.url)
        calls.append(nc.is_connected)
        await nc.close()

    assert natsrpc.run(main) is None
    assert calls == [True]
