"""`natsrpc call` and `natsrpc describe` as subprocesses: reflection, --proto and --protoset."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import nats
import pytest
from cli_support import COMMAND, PROTOS, run_cli, start_serving

import natsrpc
from natsrpc.testing import NatsServer

STREAM_PROTO = ("--proto", "natsrpc_test/stream.proto", "-I", str(PROTOS))


@pytest.fixture
def services(serve: list[Any], cli_env: dict[str, str]) -> None:
    serve.append(start_serving(cli_env, "stream_service:StreamerService"))
    serve.append(start_serving(cli_env, "echo_service:EchoService"))


def lines(output: str) -> list[Any]:
    return [json.loads(line) for line in output.splitlines()]


@pytest.mark.usefixtures("services")
@pytest.mark.parametrize("schema", [(), STREAM_PROTO], ids=["reflection", "proto"])
def test_every_method_kind(cli_env: dict[str, str], schema: tuple[str, ...]) -> None:
    unary = run_cli(cli_env, "call", "natsrpc_test.Streamer/Ping", *schema, "-d", '{"index": 7}')
    assert (unary.returncode, lines(unary.stdout)) == (0, [{"index": 7, "text": "pong"}])

    produce = run_cli(
        cli_env, "call", "natsrpc_test.Streamer.Produce", *schema, "-d", '{"count": 3}'
    )
    assert produce.returncode == 0, produce.stderr
    assert lines(produce.stdout) == [{}, {"index": 1}, {"index": 2}]

    ndjson = '{"index": 1, "blob": "eHg="}\n\n{"index": 2}\n'
    collect = run_cli(cli_env, "call", "natsrpc_test.Streamer/Collect", *schema, input=ndjson)
    assert collect.returncode == 0, collect.stderr
    assert lines(collect.stdout) == [{"count": 2, "bytes": "2", "indexes": [1, 2]}]

    chat = run_cli(cli_env, "call", "natsrpc_test.Streamer/Chat", *schema, "-d", ndjson)
    assert chat.returncode == 0, chat.stderr
    assert [item["index"] for item in lines(chat.stdout)] == [1, 2]


@pytest.mark.usefixtures("services")
def test_data_from_file_metadata_and_verbose(cli_env: dict[str, str], tmp_path: Path) -> None:
    request = tmp_path / "request.json"
    request.write_text('{"text": "hi", "echo_metadata": true, "trailers": {"x-t": "1"}}')
    result = run_cli(
        cli_env, "call", "natsrpc_test.Echo/Echo", "-d", f"@{request}", "-H", "x-user=ada", "-v"
    )
    assert result.returncode == 0, result.stderr
    [reply] = lines(result.stdout)
    assert reply["text"] == "hi"
    assert reply["metadata"]["x-user"] == "ada"
    assert "trailing metadata:\n  x-t: 1" in result.stderr

    produce = run_cli(
        cli_env, "call", "natsrpc_test.Streamer/Produce", "-v",
        "-d", '{"count": 1, "initial": {"x-i": "2"}, "trailers": {"x-t": "3"}}',
    )  # fmt: skip
    assert produce.returncode == 0, produce.stderr
    assert "initial metadata:\n  x-i: 2" in produce.stderr
    assert "trailing metadata:\n  x-t: 3" in produce.stderr


@pytest.mark.usefixtures("services")
def test_rpc_errors_exit_with_64_plus_code(cli_env: dict[str, str]) -> None:
    failed = run_cli(
        cli_env, "call", "natsrpc_test.Echo/Echo", "-d", '{"fail_code": 5, "fail_message": "nope"}'
    )
    assert (failed.returncode, failed.stderr.strip(), failed.stdout) == (69, "NOT_FOUND: nope", "")

    slow = run_cli(
        cli_env, "call", "natsrpc_test.Echo/Echo", "--timeout", "0.2", "-d", '{"sleep_ms": 2000}'
    )
    assert slow.returncode == 64 + 4
    assert slow.stderr.startswith("DEADLINE_EXCEEDED: ")

    stream_failed = run_cli(
        cli_env, "call", "natsrpc_test.Streamer/Produce",
        "-d", '{"count": 3, "fail_after": 1, "fail_code": 9, "fail_message": "stop"}',
    )  # fmt: skip
    assert stream_failed.returncode == 64 + 9
    assert lines(stream_failed.stdout) == [{}]
    assert stream_failed.stderr.strip() == "FAILED_PRECONDITION: stop"


@pytest.mark.usefixtures("services")
def test_bad_input_is_a_clear_error(cli_env: dict[str, str]) -> None:
    bad_header = run_cli(cli_env, "call", "natsrpc_test.Echo/Echo", "-H", "novalue")
    assert bad_header.returncode == 2
    assert "KEY=VALUE" in bad_header.stderr

    bad_json = run_cli(cli_env, "call", "natsrpc_test.Echo/Echo", "-d", '{"nope": 1}')
    assert bad_json.returncode == 1
    assert bad_json.stderr.startswith("error: the request is not a valid natsrpc_test.EchoRequest")

    unknown = run_cli(cli_env, "call", "natsrpc_test.Echo/Nope")
    assert unknown.returncode == 1
    assert (
        unknown.stderr.strip() == "error: natsrpc_test.Echo has no method Nope (it has: Echo, Peek)"
    )

    nobody = run_cli(cli_env, "call", "nobody.Serves/This")
    assert nobody.returncode == 1
    assert nobody.stderr.strip() == (
        "error: no running service reflects nobody.Serves; "
        "for a server with reflection off, pass --proto or --protoset"
    )

    bad_line = run_cli(
        cli_env, "call", "natsrpc_test.Streamer/Collect", input='{"index": 1}\nnot json\n'
    )
    assert bad_line.returncode == 1
    assert bad_line.stderr.startswith("error: the request is not a valid natsrpc_test.Item")
    assert len(bad_line.stderr.splitlines()) == 1

    not_a_method = run_cli(cli_env, "call", "nodots")
    assert not_a_method.returncode == 2

    for result in (bad_header, bad_json, unknown, nobody, bad_line, not_a_method):
        assert "Traceback" not in result.stderr


def test_protoset_and_missing_server(cli_env: dict[str, str], tmp_path: Path) -> None:
    protoset = tmp_path / "set.pb"
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTOS}", "--include_imports",
         f"--descriptor_set_out={protoset}", "natsrpc_test/echo.proto"],
        check=True, timeout=60,
    )  # fmt: skip
    env = {**cli_env, "NATS_URL": f"nats://127.0.0.1:{NatsServer().port}"}
    result = run_cli(env, "call", "natsrpc_test.Echo/Echo", "--protoset", str(protoset))
    assert result.returncode == 1
    assert result.stderr.startswith("error: could not connect to nats://127.0.0.1:")


@pytest.mark.usefixtures("services")
def test_protoset(cli_env: dict[str, str], tmp_path: Path) -> None:
    protoset = tmp_path / "set.pb"
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTOS}", "--include_imports",
         f"--descriptor_set_out={protoset}", "natsrpc_test/echo.proto"],
        check=True, timeout=60,
    )  # fmt: skip
    result = run_cli(
        cli_env,
        "call",
        "natsrpc_test.Echo/Peek",
        "--protoset",
        str(protoset),
        "-d",
        '{"text": "p"}',
    )
    assert result.returncode == 0, result.stderr
    assert lines(result.stdout)[0]["text"] == "p"


@pytest.mark.usefixtures("services")
def test_describe(cli_env: dict[str, str]) -> None:
    service = run_cli(cli_env, "describe", "natsrpc_test.Streamer")
    assert service.returncode == 0, service.stderr
    assert service.stdout.splitlines()[0] == "service Streamer {"
    assert (
        "  rpc Chat(stream .natsrpc_test.Item) returns (stream .natsrpc_test.Item);"
        in service.stdout.splitlines()
    )
    method = run_cli(cli_env, "describe", "natsrpc_test.Echo/Peek")
    assert method.stdout.strip() == (
        "rpc Peek(.natsrpc_test.EchoRequest) returns (.natsrpc_test.EchoReply);"
    )
    message = run_cli(cli_env, "describe", "natsrpc_test.Summary", "--json")
    document = json.loads(message.stdout)
    assert document["kind"] == "message"
    assert "  repeated uint32 indexes = 3;" in document["source"]
    assert "  map<string, string> metadata = 4;" in document["source"]

    local = run_cli(cli_env, "describe", "natsrpc_test.Summary", *STREAM_PROTO)
    assert local.stdout == json.loads(message.stdout)["source"] + "\n"


async def test_ctrl_c_cancels_the_call_on_the_server(
    generated: Path, server: NatsServer, cli_env: dict[str, str]
) -> None:
    from stream_service import StreamerService

    impl = StreamerService()
    nc = await nats.connect(server.url)
    served = natsrpc.Server(nc)
    served.add_service(impl)
    async with served:
        process = await asyncio.create_subprocess_exec(
            *COMMAND, "call", "natsrpc_test.Streamer/Produce",
            "-d", '{"count": 1000, "sleep_ms": 50}',
            env=cli_env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert process.stdout is not None
        first = await asyncio.wait_for(process.stdout.readline(), 20)
        assert json.loads(first) == {}
        process.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(process.communicate(), 20)
        assert process.returncode == 130
        assert stderr.decode().strip() == "CANCELLED: interrupted"
        await asyncio.wait_for(impl.cancelled_event.wait(), 10)
        assert impl.cancelled == 1
    await nc.close()


@pytest.mark.usefixtures("services")
def test_verbose_shows_error_details_and_binary_metadata(cli_env: dict[str, str]) -> None:
    failed = run_cli(
        cli_env, "call", "natsrpc_test.Echo/Echo", "-v",
        "-d", '{"text": "details", "fail_code": 10, "fail_message": "no", '
        '"trailers": {"x-t-bin": "hi"}}',
    )  # fmt: skip
    assert failed.returncode == 64 + 10
    # The detail's type is the service's own, found through reflection.
    assert failed.stderr.splitlines() == [
        "trailing metadata:",
        "  x-t-bin: aGk=",
        "ABORTED: no",
        "details:",
        '  {"@type": "type.googleapis.com/natsrpc_test.EchoReply", "text": "detail"}',
    ]
    quiet = run_cli(
        cli_env, "call", "natsrpc_test.Echo/Echo",
        "-d", '{"text": "details", "fail_code": 10, "fail_message": "no"}',
    )  # fmt: skip
    assert quiet.stderr.strip() == "ABORTED: no"

    echoed = run_cli(
        cli_env, "call", "natsrpc_test.Echo/Echo", "-v", "-H", "x-in-bin=AP8=",
        "-d", '{"echo_metadata": true, "trailers": {"x-t-bin": "hi"}}',
    )  # fmt: skip
    assert echoed.returncode == 0, echoed.stderr
    assert lines(echoed.stdout)[0]["metadata"] == {"x-in-bin": "AP8="}
    assert "trailing metadata:\n  x-t-bin: aGk=" in echoed.stderr
    bad = run_cli(cli_env, "call", "natsrpc_test.Echo/Echo", "-H", "x-in-bin=%%", "-d", "{}")
    assert (bad.returncode, bad.stderr.strip()) == (
        1,
        "error: -H x-in-bin: a -bin value must be base64",
    )
