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


GATEWAY_STREAMER = """\
# natsrpc permissions for gw: gateway natsrpc_test.stream_natsrpc:Streamer
# Connect as gw with inbox prefix "_INBOX.gw" (natsrpc --inbox-prefix _INBOX.gw; nats-py: inbox_prefix=...).
permissions: {
  publish: {
    allow: [
      "natsrpc_test.Streamer.Produce",
      "natsrpc_test.Streamer.Collect",
      "natsrpc_test.Streamer.Chat",
      "natsrpc_test.Streamer.Ping",
      "natsrpc_test.Streamer.$cancel",
      "natsrpc_test.Streamer.$reflection",
      "$SRV.INFO.grpc-reflection-v1-ServerReflection",
    ]
  }
  subscribe: {
    allow: [
      "_INBOX.gw.>",
    ]
  }
  allow_responses: { max: -1, expires: "1h" }
}
"""  # noqa: E501


def test_gateway_permissions_are_its_calls_and_reflection(cli_env: dict[str, str]) -> None:
    # tests/gateway/test_nats_permissions.py runs a gateway with them.
    printed = run_cli(cli_env, "permissions", "--user", "gw", "--gateway", STREAMER)
    assert (printed.returncode, printed.stdout) == (0, GATEWAY_STREAMER), printed.stderr

    schema = ("--proto", "natsrpc_test/echo.proto", "--proto", "natsrpc_test/stream.proto",
              "-I", str(PROTOS), "--json", "--prefix", "prod")  # fmt: skip
    every = run_cli(cli_env, "permissions", "--user", "gw", "--gateway", "*", *schema)
    named = run_cli(
        cli_env, "permissions", "--user", "gw", *schema,
        "--gateway", "natsrpc_test.Echo", "--gateway", "natsrpc_test.Streamer",
    )  # fmt: skip
    assert every.returncode == 0, every.stderr
    assert json.loads(every.stdout) == json.loads(named.stdout)
    assert sorted(json.loads(every.stdout)["pub"]["allow"]) == [
        "$SRV.INFO.grpc-reflection-v1-ServerReflection",
        "prod.natsrpc_test.Echo.$cancel",
        "prod.natsrpc_test.Echo.$reflection",
        "prod.natsrpc_test.Echo.Echo",
        "prod.natsrpc_test.Echo.Peek",
        *(f"prod.natsrpc_test.Streamer.{token}"
          for token in ("$cancel", "$reflection", "Chat", "Collect", "Ping", "Produce")),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("roles", "message"),
    [
        (("--gateway", "natsrpc_test.*"),
         "error: --gateway natsrpc_test.*: a pattern matches the services of --proto/--protoset; "
         "give them (the permissions cannot follow what reflection finds later)"),
        (("--gateway", "shop.*", "--proto", "natsrpc_test/echo.proto", "-I", str(PROTOS)),
         "error: --gateway shop.*: no RPC service in the schema matches"),
        (("--gateway", "natsrpc_test.No", "--proto", "natsrpc_test/echo.proto", "-I", str(PROTOS)),
         "error: service natsrpc_test.No not found in the schema"),
    ],
)  # fmt: skip
def test_gateway_names_that_match_nothing(
    cli_env: dict[str, str], roles: tuple[str, ...], message: str
) -> None:
    result = run_cli(cli_env, "permissions", "--user", "gw", *roles)
    assert (result.returncode, result.stderr) == (1, message + "\n")
