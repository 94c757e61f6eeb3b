"""`natsrpc bench` as a subprocess against real services: counts, errors by code, streams."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import nats
import pytest
from cli_support import COMMAND, run_cli, start_serving
from helpers import eventually

import natsrpc
from natsrpc.testing import NatsServer

ECHO = "natsrpc_test.Echo/Echo"


@pytest.fixture
def services(serve: list[Any], cli_env: dict[str, str]) -> None:
    serve.append(start_serving(cli_env, "stream_service:StreamerService"))
    serve.append(start_serving(cli_env, "echo_service:EchoService"))


def bench(env: dict[str, str], *args: str) -> dict[str, Any]:
    result = run_cli(env, "bench", *args, "--json", timeout=60)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def assert_consistent(report: dict[str, Any]) -> None:
    """Every measured call is in the histogram or the error counts, once."""
    assert report["ok"] + sum(report["errors"].values()) == report["calls"]
    assert sum(b["count"] for b in report["histogram"]) == report["ok"]
    latency = report["latency_us"]
    if report["ok"]:
        values = [latency[k] for k in ("min", "p50", "p90", "p99", "p99.9", "max")]
        assert values == sorted(values)
        assert latency["min"] > 0


@pytest.mark.usefixtures("services")
def test_open_loop_sends_the_rate_times_the_duration(cli_env: dict[str, str]) -> None:
    report = bench(
        cli_env, ECHO, "-d", '{"text": "hi"}', "--rate", "100", "--duration", "2s",
        "--warmup", "0.5",
    )  # fmt: skip
    assert (report["mode"], report["kind"], report["rate"]) == ("open", "unary", 100.0)
    # Calls are due by the clock: 100/s for 2 s is 200 calls, however the service fares.
    assert 198 <= report["calls"] <= 202
    assert report["errors"] == {}
    assert report["generator"]["lag_us"] is not None
    assert_consistent(report)


@pytest.mark.usefixtures("services")
def test_open_loop_over_two_processes_sends_each_call_once(cli_env: dict[str, str]) -> None:
    report = bench(cli_env, ECHO, "--rate", "100", "--calls", "120", "--warmup", "0.2",
                   "--processes", "2")  # fmt: skip
    assert (report["calls"], report["ok"], report["processes"]) == (120, 120, 2)
    assert len(report["generator"]["busy"]) == 2
    assert_consistent(report)


@pytest.mark.usefixtures("services")
def test_errors_are_counted_by_status_code(cli_env: dict[str, str]) -> None:
    report = bench(
        cli_env, ECHO, "-d", '{"fail_code": 5, "fail_message": "nope"}', "--calls", "40",
        "-c", "4", "--warmup", "0",
    )  # fmt: skip
    assert report["mode"] == "closed"
    assert (report["calls"], report["ok"], report["errors"]) == (40, 0, {"NOT_FOUND": 40})
    assert report["histogram"] == []
    assert_consistent(report)


@pytest.mark.usefixtures("services")
def test_server_stream_counts_messages(cli_env: dict[str, str]) -> None:
    report = bench(cli_env, "natsrpc_test.Streamer/Produce", "-d", '{"count": 3}',
                   "--calls", "20", "-c", "2", "--warmup", "0")  # fmt: skip
    assert (report["kind"], report["calls"], report["ok"]) == ("server_streaming", 20, 20)
    assert report["messages"] == 60
    assert_consistent(report)


@pytest.mark.usefixtures("services")
def test_bidi_round_trips_open_and_closed_loop(cli_env: dict[str, str]) -> None:
    ndjson = '{"index": 1}\n{"index": 2, "text": "b"}\n'
    chat = "natsrpc_test.Streamer/Chat"
    opened = bench(cli_env, chat, "-d", ndjson, "--rate", "50", "--calls", "60", "-c", "2",
                   "--warmup", "0.2")  # fmt: skip
    assert (opened["kind"], opened["calls"], opened["ok"]) == ("bidi_streaming", 60, 60)
    assert_consistent(opened)
    closed = bench(cli_env, chat, "-d", ndjson, "--calls", "50", "-c", "3", "--warmup", "0")
    assert (closed["mode"], closed["calls"], closed["ok"]) == ("closed", 50, 50)
    assert_consistent(closed)


@pytest.mark.usefixtures("services")
def test_bidi_streams_that_fail_are_counted_and_opened_again(cli_env: dict[str, str]) -> None:
    failing = '{"index": 1, "fail_code": 5, "fail_message": "nope"}'
    chat = "natsrpc_test.Streamer/Chat"
    closed = bench(cli_env, chat, "-d", failing, "--calls", "12", "-c", "2", "--warmup", "0")
    assert (closed["calls"], closed["ok"], closed["errors"]) == (12, 0, {"NOT_FOUND": 12})
    opened = bench(cli_env, chat, "-d", failing, "--rate", "40", "--calls", "12", "--warmup", "0")
    # Each message fails its stream; the next one goes out on a new stream.
    assert (opened["calls"], opened["ok"], opened["errors"]) == (12, 0, {"NOT_FOUND": 12})
    assert_consistent(opened)


@pytest.mark.usefixtures("services")
def test_client_stream_sends_every_line(cli_env: dict[str, str]) -> None:
    report = bench(cli_env, "natsrpc_test.Streamer/Collect", "-d", '{"index": 1}\n{"index": 2}',
                   "--calls", "10", "--warmup", "0")  # fmt: skip
    assert (report["calls"], report["ok"], report["messages"]) == (10, 10, 20)


@pytest.mark.usefixtures("services")
def test_table_shows_percentiles_histogram_and_errors(cli_env: dict[str, str]) -> None:
    result = run_cli(cli_env, "bench", ECHO, "-d", '{"fail_code": 14}', "--calls", "5",
                     "--warmup", "0", timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "5 (0 ok, 5 failed)" in result.stdout
    assert "errors by code\n  UNAVAILABLE  5" in result.stdout
    ok = run_cli(cli_env, "bench", ECHO, "--rate", "50", "--calls", "25", "--warmup", "0",
                 timeout=60)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    for part in ("p50", "p99.9", "max", "send lag", "latency histogram (ok calls, up to)"):
        assert part in ok.stdout


@pytest.mark.usefixtures("services")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((ECHO, "--rate", "0"), "error: --rate 0: give calls per second, a number above zero"),
        ((ECHO, "--rate", "fast"), "error: --rate fast: give calls per second"),
        ((ECHO, "--warmup", "soon"), "error: 'soon' is not a duration like 90s"),
        (("natsrpc_test.Echo/Nope",), "error: natsrpc_test.Echo has no method Nope"),
        (("natsrpc_test.Nobody/Echo",), "error: no running service reflects natsrpc_test.Nobody"),
        (("natsrpc_test.Echo/Nope", "--processes", "2"), "error: natsrpc_test.Echo has no"),
        ((ECHO, "--rate", "10", "-c", "2"), "error: --rate and --concurrency exclude each"),
        ((ECHO, "-d", "{nope"), "error: the request is not a valid natsrpc_test.EchoRequest"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(
    cli_env: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    result = run_cli(cli_env, "bench", *args, "--calls", "1", timeout=60)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


@pytest.mark.parametrize("processes", ["1", "2"])
async def test_ctrl_c_ends_the_window_and_reports_what_it_measured(
    generated: Path, server: NatsServer, cli_env: dict[str, str], processes: str
) -> None:
    from echo_service import EchoService

    served_calls = 0

    class Counting(EchoService):
        async def echo(self, request: Any, context: natsrpc.Context) -> Any:
            nonlocal served_calls
            served_calls += 1
            return await super().echo(request, context)

    nc = await nats.connect(server.url)
    service = natsrpc.Server(nc)
    service.add_service(Counting())
    async with service:
        process = await asyncio.create_subprocess_exec(
            *COMMAND, "bench", ECHO, "--rate", "50", "--duration", "1h", "--warmup", "0",
            "--processes", processes, "--json",
            env=cli_env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        # With no warm-up, calls reaching the service mean the measured window has begun.
        await eventually(lambda: served_calls >= 5, within=60)
        process.send_signal(signal.SIGINT)
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    await nc.close()
    assert process.returncode == 0, stderr
    report = json.loads(stdout)
    assert report["interrupted"] is True
    assert 1 <= report["calls"] <= served_calls
    assert_consistent(report)
