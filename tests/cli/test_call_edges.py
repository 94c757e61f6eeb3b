"""`natsrpc call` at its edges: oversized stream messages, exit statuses, body errors, Ctrl-C."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import pytest
from cli_support import COMMAND, run_cli, start_serving

from natsrpc.testing import NatsServer

MIB = 1 << 20


@pytest.fixture
def services(serve: list[Any], cli_env: dict[str, str]) -> None:
    serve.append(start_serving(cli_env, "stream_service:StreamerService"))
    serve.append(start_serving(cli_env, "echo_service:EchoService"))


def _one_line(stderr: str) -> str:
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "Traceback" not in stderr
    return stderr.strip()


@pytest.mark.usefixtures("services")
@pytest.mark.parametrize("method", ["Collect", "Chat"])
@pytest.mark.parametrize("big_at", [0, 1])
@pytest.mark.parametrize("source", ["file", "stdin"])
def test_oversized_stream_message_exits_72(
    cli_env: dict[str, str], tmp_path: Path, method: str, big_at: int, source: str
) -> None:
    lines = [f'{{"index": {i}}}' for i in range(big_at)] + ['{"text": "' + "a" * (2 * MIB) + '"}']
    body = "\n".join(lines) + "\n"
    if source == "file":
        request = tmp_path / "requests.ndjson"
        request.write_text(body)
        result = run_cli(cli_env, "call", f"natsrpc_test.Streamer/{method}", "-d", f"@{request}")
    else:
        result = run_cli(cli_env, "call", f"natsrpc_test.Streamer/{method}", input=body)
    assert result.returncode == 64 + 8, result.stderr
    assert _one_line(result.stderr).startswith("RESOURCE_EXHAUSTED: request message of ")


@pytest.mark.usefixtures("services")
def test_usage_errors_exit_1(cli_env: dict[str, str]) -> None:
    unknown_service = run_cli(cli_env, "call", "pkg.NoSuchService/Foo")
    assert unknown_service.returncode == 1
    assert _one_line(unknown_service.stderr).startswith(
        "error: no running service reflects pkg.NoSuchService; "
    )
    unknown_method = run_cli(cli_env, "call", "natsrpc_test.Echo/Nope")
    assert unknown_method.returncode == 1
    assert "has no method Nope" in _one_line(unknown_method.stderr)
    unknown_symbol = run_cli(cli_env, "describe", "pkg.Nothing")
    assert unknown_symbol.returncode == 1
    assert _one_line(unknown_symbol.stderr).startswith("error: no running service reflects")
    # A status a service answered still exits 64 + code.
    answered = run_cli(cli_env, "call", "natsrpc_test.Echo/Echo", "-d", '{"fail_code": 5}')
    assert answered.returncode == 64 + 5


def test_nothing_serving_exits_1(cli_env: dict[str, str]) -> None:
    with NatsServer() as empty:
        result = run_cli({**cli_env, "NATS_URL": empty.url}, "call", "natsrpc_test.Echo/Echo")
    assert result.returncode == 1
    assert _one_line(result.stderr).startswith("error: no running service reflects")


@pytest.mark.usefixtures("services")
@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('{"nope": 1}', 'has no field named "nope"'),
        ('{"sleep_ms": "soon"}', "sleep_ms field"),
        ('{"trailers": 5}', "trailers field"),
        ('{"echo_metadata": "yes"}', "echo_metadata field"),
        ('"text"', "a request is a JSON object ({...}), not a string"),
        ("null", "a request is a JSON object ({...}), not null"),
        ("[1]", "a request is a JSON object ({...}), not an array"),
        ("7", "a request is a JSON object ({...}), not a number"),
        ('{"text": ', "not JSON (Expecting value"),
        ('{"text": "a", "text": "b"}', 'field "text" is given twice'),
        ('{"trailers": {"k": "1", "k": "2"}}', 'field "k" is given twice'),
    ],
)
def test_body_errors_are_one_line_naming_the_field(
    cli_env: dict[str, str], body: str, problem: str
) -> None:
    for method, given in (("Echo/Echo", ("-d", body)), ("Streamer/Collect", ("-d", body))):
        result = run_cli(cli_env, "call", f"natsrpc_test.{method}", *given)
        assert result.returncode == 1, result.stderr
        line = _one_line(result.stderr)
        assert line.startswith("error: the request is not a valid natsrpc_test."), line
        if method.startswith("Echo"):
            assert problem in line, line


@pytest.mark.usefixtures("services")
def test_connection_options_before_or_after_the_subcommand(cli_env: dict[str, str]) -> None:
    url = cli_env["NATS_URL"]
    dead = f"nats://127.0.0.1:{NatsServer().port}"
    env = {**cli_env, "NATS_URL": dead}
    body = ("-d", '{"text": "hi"}')
    before = run_cli(env, "-s", url, "call", "natsrpc_test.Echo/Echo", *body)
    assert before.returncode == 0, before.stderr
    after = run_cli(env, "call", "natsrpc_test.Echo/Echo", "-s", url, *body)
    assert after.returncode == 0, after.stderr
    # After the subcommand wins.
    both = run_cli(env, "--server", dead, "call", "natsrpc_test.Echo/Echo", "--server", url, *body)
    assert both.returncode == 0, both.stderr
    listed = run_cli(env, "--server", url, "ls", "--json")
    assert listed.returncode == 0, listed.stderr
    refused = run_cli(cli_env, "-s", dead, "call", "natsrpc_test.Echo/Echo", *body)
    assert refused.returncode == 1
    assert _one_line(refused.stderr).startswith(f"error: could not connect to {dead}")


@pytest.mark.usefixtures("services")
def test_info_wording(cli_env: dict[str, str]) -> None:
    missing = run_cli(cli_env, "info", "nobody", "--wait", "0.5")
    assert (missing.returncode, missing.stderr.strip()) == (
        1,
        "error: no running instance of service nobody answered",
    )
    one = run_cli(cli_env, "info", "natsrpc_test-Echo", "--instance", "X1", "--wait", "0.5")
    assert (one.returncode, one.stderr.strip()) == (
        1,
        "error: no running instance X1 of service natsrpc_test-Echo answered",
    )


@pytest.mark.parametrize("command", [("call", "natsrpc_test.Echo/Echo"), ("ls",)])
async def test_ctrl_c_while_connecting_exits_130(
    cli_env: dict[str, str], command: tuple[str, ...]
) -> None:
    # A server that accepts the connection and never says hello: the CLI stays connecting.
    accepted = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        await reader.read()
        writer.close()

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    env = {**cli_env, "NATS_URL": f"nats://127.0.0.1:{port}"}
    async with listener:
        process = await asyncio.create_subprocess_exec(
            *COMMAND, *command, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        await asyncio.wait_for(accepted.wait(), 20)
        process.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 130, stderr
    assert stderr.decode().strip() == "CANCELLED: interrupted"
