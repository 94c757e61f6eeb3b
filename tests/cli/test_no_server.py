"""Every `natsrpc` command that needs NATS ends at once, with one line, when no server is there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_support import TESTS, run_cli

from natsrpc.testing import free_port

COMMANDS = [
    ["ls"],
    ["info", "helloworld.Greeter"],
    ["describe", "helloworld.Greeter"],
    ["call", "helloworld.Greeter/SayHello", "-d", "{}"],
    ["services"],
    ["sub", "some.subject"],
    ["dead-letters", "ls", "SHOP_ORDERS"],
    ["serve", "echo_service:EchoService", "--app-dir", str(TESTS)],
    ["serve", "echo_service:EchoService", "--app-dir", str(TESTS), "--workers", "2"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda args: " ".join(args[:3]))
def test_no_server_is_one_line(args: list[str], generated: Path) -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "NATS_URL": url,
        "PYTHONPATH": os.pathsep.join([str(generated), str(TESTS)]),
        "XDG_CONFIG_HOME": str(generated / "no-config"),
    }
    result = run_cli(env, *args)
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        f"error: could not connect to {url}: connection refused "
        "(is nats-server running? `natsrpc dev` starts one)"
    ]
