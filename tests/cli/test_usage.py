"""Connection options (contexts, prefixes), interactive bidi calls, and the example service."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from cli_support import COMMAND, TESTS, Served, run_cli, start_serving

from natsrpc.testing import NatsServer

GREETER = TESTS.parent / "examples" / "greeter"


def test_nats_context_and_prefix(
    serve: list[Any], cli_env: dict[str, str], server: NatsServer, tmp_path: Path
) -> None:
    serve.append(start_serving(cli_env, "echo_service:EchoService", "--prefix", "prod"))
    config = tmp_path / "config"
    (config / "nats" / "context").mkdir(parents=True)
    (config / "nats" / "context" / "local.json").write_text(json.dumps({"url": server.url}))
    env = {**cli_env, "XDG_CONFIG_HOME": str(config), "NATS_URL": "nats://127.0.0.1:1"}
    call = ("call", "natsrpc_test.Echo/Echo", "-d", '{"text": "ctx"}')

    named = run_cli(env, *call, "--context", "local", "--prefix", "prod")
    assert named.returncode == 0, named.stderr
    assert json.loads(named.stdout)["text"] == "ctx"

    (config / "nats" / "context.txt").write_text("local\n")
    selected = run_cli(env, *call, "--prefix", "prod.")
    assert selected.returncode == 0, selected.stderr

    # Without the prefix nobody serves the subjects.
    unprefixed = run_cli(env, *call)
    assert unprefixed.returncode == 64 + 14
    assert unprefixed.stderr.strip() == "UNAVAILABLE: no service is serving natsrpc_test.Echo.Echo"

    missing = run_cli(env, *call, "--context", "nope")
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: no nats context named 'nope'")


def test_bidi_replies_as_lines_are_typed(serve: list[Any], cli_env: dict[str, str]) -> None:
    serve.append(start_serving(cli_env, "stream_service:StreamerService"))
    process = subprocess.Popen(
        [*COMMAND, "call", "natsrpc_test.Streamer/Chat"],
        env=cli_env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    try:
        for index in (1, 2):
            process.stdin.write(json.dumps({"index": index, "text": f"t{index}"}) + "\n")
            process.stdin.flush()
            # The reply arrives while stdin is still open: the call is interactive.
            assert json.loads(process.stdout.readline()) == {"index": index, "text": f"t{index}"}
        process.stdin.close()
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_greeter_example_without_a_proto(serve: list[Any], cli_env: dict[str, str]) -> None:
    env = {**cli_env, "PYTHONPATH": ""}
    process = subprocess.Popen(
        [*COMMAND, "serve", "server:Greeter", "--workers", "2"],
        cwd=GREETER, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    served = Served(process, [])
    serve.append(served)
    served.wait_for_line(r"worker \d \(pid \d+\): serving helloworld.Greeter")
    served.wait_for_line(r"worker \d \(pid \d+\): serving helloworld.Greeter")

    reply = run_cli(env, "call", "helloworld.Greeter/SayHello", "-d", '{"name": "Ada"}', "-v")
    assert reply.returncode == 0, reply.stderr
    assert reply.stdout == '{"message": "Hello, Ada!"}\n'
    assert reply.stderr == "trailing metadata:\n  greeter-instance: example\n"

    described = run_cli(env, "describe", "helloworld.HelloRequest")
    assert described.stdout == "message HelloRequest {\n  string name = 1;\n}\n"
    listed = json.loads(run_cli(env, "ls", "--json").stdout)
    greeter = next(s for s in listed if s["name"] == "helloworld-Greeter")
    assert greeter["instances"] == 2
