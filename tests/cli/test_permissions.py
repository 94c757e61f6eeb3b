"""`natsrpc permissions` output configures a real nats-server; allowed and denied operations."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import nats
import pytest
from cli_support import PROTOS, run_cli, start_serving
from helpers import eventually

from natsrpc.testing import NatsServer

ECHO = "natsrpc_test.echo_natsrpc:Echo"
STREAMER = "natsrpc_test.stream_natsrpc:Streamer"


def user_entry(env: dict[str, str], user: str, *roles: str) -> str:
    result = run_cli(env, "permissions", "--user", user, *roles)
    assert result.returncode == 0, result.stderr
    return f"{{ user: {user}, password: pw, {result.stdout} }}"


def test_permissions_are_exactly_sufficient(
    cli_env: dict[str, str], serve: list[Any], generated: Path
) -> None:
    users = [
        user_entry(cli_env, "srv", "--serve", ECHO, "--serve", STREAMER),
        user_entry(cli_env, "alice", "--call", ECHO, "--call", STREAMER),
        user_entry(cli_env, "eve", "--call", ECHO),
    ]
    config = "authorization { users = [\n" + ",\n".join(users) + "\n] }\n"
    with NatsServer(config=config) as secured:
        env = {**cli_env, "NATS_URL": secured.url}

        def as_user(user: str) -> tuple[str, ...]:
            return ("--user", user, "--password", "pw", "--inbox-prefix", f"_INBOX.{user}")

        serve.append(start_serving(env, "echo_service:EchoService", *as_user("srv")))
        serve.append(start_serving(env, "stream_service:StreamerService", *as_user("srv")))

        alice = as_user("alice")
        for method, data in (
            ("natsrpc_test.Echo/Echo", '{"text": "a"}'),
            ("natsrpc_test.Streamer/Ping", "{}"),
            ("natsrpc_test.Streamer/Produce", '{"count": 2}'),
            ("natsrpc_test.Streamer/Collect", '{"index": 1}\n{"index": 2}'),
            ("natsrpc_test.Streamer/Chat", '{"index": 1}\n{"index": 2}'),
        ):
            result = run_cli(env, "call", method, *alice, "-d", data)
            assert result.returncode == 0, (method, result.stderr)
        # A service, a method and messages: the last three have no reflection subject of
        # their own that alice may ask, so the CLI falls back to their service's.
        for symbol, shown in (
            ("natsrpc_test.Echo", "service Echo"),
            ("natsrpc_test.Echo/Echo", "rpc Echo"),
            ("natsrpc_test.EchoRequest", "message EchoRequest"),
            ("natsrpc_test.Item", "message Item"),
        ):
            described = run_cli(env, "describe", symbol, *alice)
            assert described.returncode == 0, (symbol, described.stderr)
            assert shown in described.stdout, (symbol, described.stdout)
        info = run_cli(env, "info", "natsrpc_test.Echo", *alice, "--json")
        assert info.returncode == 0 and json.loads(info.stdout)
        health = run_cli(env, "health", "natsrpc_test.Echo", *alice)
        assert (health.returncode, health.stdout) == (0, "natsrpc_test.Echo: SERVING\n")

        # Eve may call Echo, nothing else.
        eve = as_user("eve")
        assert run_cli(env, "call", "natsrpc_test.Echo/Echo", *eve, "-d", "{}").returncode == 0
        denied = run_cli(
            env, "call", "natsrpc_test.Streamer/Ping", *eve, "--timeout", "1",
            "--proto", "natsrpc_test/stream.proto", "-I", str(PROTOS),
        )  # fmt: skip
        assert denied.returncode == 64 + 7, denied.stderr
        assert denied.stderr.startswith("PERMISSION_DENIED: ")

        # Eve may not ask the Streamer's reflection: not found, and why.
        hidden = run_cli(env, "describe", "natsrpc_test.Item", *eve)
        assert hidden.returncode == 1, hidden.stderr
        assert "(this user may not ask natsrpc_test.Streamer.$reflection)" in hidden.stderr

        violations = asyncio.run(_eve_snoops(secured.url))
        assert 'subscription to "natsrpc_test.echo.echo"' in violations
        assert 'subscription to "_inbox.alice.>"' in violations
        assert 'publish to "_inbox.alice.x"' in violations


async def _eve_snoops(url: str) -> str:
    errors: list[str] = []

    async def on_error(error: Exception) -> None:
        errors.append(str(error).lower())

    nc = await nats.connect(
        url, user="eve", password="pw", inbox_prefix="_INBOX.eve", error_cb=on_error
    )
    await nc.subscribe("natsrpc_test.Echo.Echo")  # stealing requests
    await nc.subscribe("_INBOX.alice.>")  # reading another client's replies
    await nc.publish("_INBOX.alice.x", b"forged")  # injecting a reply
    await eventually(lambda: len(errors) >= 3, what="three permission violations")
    await nc.close()
    return "\n".join(errors)


def test_json_for_jwt_tooling_and_usage(cli_env: dict[str, str]) -> None:
    result = run_cli(
        cli_env, "permissions", "--user", "bob", "--call", ECHO, "--json", "--prefix", "prod"
    )
    document = json.loads(result.stdout)
    assert document["sub"]["allow"] == ["_INBOX.bob.>"]
    assert "prod.natsrpc_test.Echo.Echo" in document["pub"]["allow"]
    assert "prod.natsrpc_test.Echo.$reflection" in document["pub"]["allow"]
    assert document["resp"] == {"max": -1, "ttl": 3_600_000_000_000}

    usage = run_cli(cli_env, "permissions", "--user", "bob")
    assert usage.returncode == 2
    bad_user = run_cli(cli_env, "permissions", "--user", "a.b", "--call", ECHO)
    assert bad_user.returncode == 2


@pytest.mark.parametrize("source", ["proto"])
def test_permissions_from_a_proto(cli_env: dict[str, str], source: str) -> None:
    from_proto = run_cli(
        cli_env, "permissions", "--user", "u", "--serve", "natsrpc_test.Echo", "--json",
        "--proto", "natsrpc_test/echo.proto", "-I", str(PROTOS),
    )  # fmt: skip
    from_class = run_cli(cli_env, "permissions", "--user", "u", "--serve", ECHO, "--json")
    assert from_proto.returncode == 0, from_proto.stderr
    assert json.loads(from_proto.stdout) == json.loads(from_class.stdout)
