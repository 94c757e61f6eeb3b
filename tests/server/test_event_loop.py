"""natsrpc.run's event loop: uvloop's when installed (the speed extra), asyncio's otherwise."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from natsrpc.server import lifecycle


def test_uvloop_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    uvloop = pytest.importorskip("uvloop")
    monkeypatch.delenv(lifecycle.EVENT_LOOP_ENV, raising=False)
    loop = lifecycle.new_event_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def test_asyncio_when_uvloop_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # makes `import uvloop` fail
    loop = lifecycle.new_event_loop()
    try:
        assert isinstance(loop, asyncio.AbstractEventLoop)
        assert "uvloop" not in type(loop).__module__
    finally:
        loop.close()


def test_asyncio_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(lifecycle.EVENT_LOOP_ENV, "asyncio")
    loop = lifecycle.new_event_loop()
    try:
        assert "uvloop" not in type(loop).__module__
    finally:
        loop.close()


def test_run_in_new_loop_returns_the_result() -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert lifecycle.run_in_new_loop(answer()) == 42


async def test_async_tests_run_on_the_loop_ci_asks_for() -> None:
    # NATSRPC_TEST_LOOP (tests/conftest.py) picks it; a uvloop run must not quietly use asyncio's.
    uvloop_loop = "uvloop" in type(asyncio.get_running_loop()).__module__
    assert uvloop_loop is (os.environ.get("NATSRPC_TEST_LOOP", "asyncio") == "uvloop")
