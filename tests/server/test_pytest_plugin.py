"""The pytest plugin users get: a real nats-server and a connection, with no setup of theirs."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

USER_TESTS = """
import asyncio

import pytest

import natsrpc


@pytest.mark.asyncio
async def test_round_trip_on_the_fixture_server(nats_client, nats_server):
    assert nats_server.url.startswith("nats://127.0.0.1:")
    inbox = nats_client.new_inbox()
    subscription = await nats_client.subscribe(inbox)
    await nats_client.publish(inbox, b"ping")
    message = await subscription.next_msg(timeout=2)
    assert message.data == b"ping"


@pytest.mark.asyncio
async def test_jetstream_is_on(nats_client):
    info = await nats_client.jetstream().account_info()
    assert info.streams == 0


@pytest.mark.asyncio
async def test_each_test_gets_its_own_connection(nats_client):
    assert nats_client.is_connected
"""


def test_fixtures_serve_a_users_own_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    # A subprocess, so the plugin is found through its entry point as in a user's project.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=3)
