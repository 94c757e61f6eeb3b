"""The first-step runner (natsrpc/server/first_step.py): one test per invariant and path.

No NATS here: these drive handler coroutines the way serve_unary does, with
the server's Supervisor, and check what the caller would be told.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from google.protobuf import empty_pb2
from helpers import eventually

from natsrpc.server.cancellation import CANCELLED_BY_CALLER
from natsrpc.server.first_step import begin
from natsrpc.server.outcome import SHUTTING_DOWN, Outcome, Supervisor
from natsrpc.spec import MethodKind, MethodSpec
from natsrpc.status import RpcError, StatusCode

METHOD: MethodSpec[Any, Any] = MethodSpec(
    name="Do",
    path="/test.Svc/Do",
    subject="test.Svc.Do",
    attribute="do",
    kind=MethodKind.UNARY,
    request_type=empty_pb2.Empty,
    response_type=empty_pb2.Empty,
)


class Handler:
    """A handler call that records how far it got."""

    def __init__(self) -> None:
        self.steps = 0
        self.cleaned_up = False
        self.release = asyncio.Event()

    async def immediate(self) -> str:
        self.steps += 1
        return "done"

    async def failing(self, error: BaseException) -> str:
        self.steps += 1
        raise error

    async def waiting(self) -> str:
        self.steps += 1
        try:
            await self.release.wait()
            self.steps += 1
            return "after wait"
        finally:
            self.cleaned_up = True


async def _serve(supervisor: Supervisor, call: Any, **run: Any) -> Outcome[Any]:
    """What serve_unary does with a handler call: its first step, then supervision."""
    started = begin(call)
    if isinstance(started, Outcome):
        return started
    return await supervisor.run(METHOD, started, **run)


async def test_a_call_that_returns_at_its_first_step_is_finished_at_once() -> None:
    handler = Handler()
    started = begin(handler.immediate())
    assert isinstance(started, Outcome)
    assert (started.result, started.error) == ("done", None)
    assert handler.steps == 1


@pytest.mark.parametrize(
    "error, code",
    [
        (RpcError(StatusCode.NOT_FOUND, "no such thing"), StatusCode.NOT_FOUND),
        (ValueError("bug"), StatusCode.INTERNAL),
    ],
)
async def test_a_call_that_raises_at_its_first_step_is_mapped_as_any_failure(
    error: BaseException, code: StatusCode
) -> None:
    handler = Handler()
    started = begin(handler.failing(error))
    assert not isinstance(started, Outcome)
    assert handler.steps == 1
    with pytest.raises(type(error)) as raised:
        await started
    assert raised.value is error
    outcome = await Supervisor().run(METHOD, begin(Handler().failing(error)), None)  # type: ignore[arg-type]
    assert outcome.error is not None and outcome.error.code is code


async def test_a_suspended_call_resumes_where_it_waited() -> None:
    handler = Handler()
    started = begin(handler.waiting())
    assert not isinstance(started, Outcome)
    assert handler.steps == 1
    running = asyncio.ensure_future(Supervisor().run(METHOD, started, None))
    await asyncio.sleep(0)
    assert not running.done()
    handler.release.set()
    outcome = await asyncio.wait_for(running, 10)
    assert (outcome.result, outcome.error) == ("after wait", None)
    assert handler.steps == 2


async def test_a_suspended_call_is_cancelled_by_its_deadline() -> None:
    handler = Handler()
    supervisor = Supervisor()
    outcome = await asyncio.wait_for(
        _serve(supervisor, handler.waiting(), deadline=time.monotonic()), 10
    )
    assert outcome.error is not None
    assert outcome.error.code is StatusCode.DEADLINE_EXCEEDED
    assert handler.cleaned_up and handler.steps == 1
    supervisor.close()


async def test_a_suspended_call_is_cancelled_by_its_callers_notice() -> None:
    handler = Handler()
    supervisor = Supervisor()
    running = asyncio.ensure_future(
        _serve(supervisor, handler.waiting(), deadline=None, call_id="_INBOX.x.1")
    )
    await eventually(lambda: handler.steps == 1)
    assert supervisor.cancellation.cancel("_INBOX.x.1")
    outcome = await asyncio.wait_for(running, 10)
    assert outcome.error is not None
    assert (outcome.error.code, outcome.error.message) == (
        StatusCode.CANCELLED,
        CANCELLED_BY_CALLER,
    )
    assert not outcome.forced_stop
    assert handler.cleaned_up
    # Once the call has ended, its id no longer reaches anything.
    assert not supervisor.cancellation.cancel("_INBOX.x.1")


async def test_a_suspended_call_is_cancelled_by_the_servers_stop() -> None:
    handler = Handler()
    running = asyncio.ensure_future(_serve(Supervisor(), handler.waiting(), deadline=None))
    await eventually(lambda: handler.steps == 1)
    running.cancel()
    outcome = await asyncio.wait_for(running, 10)
    assert outcome.error is not None
    assert (outcome.error.code, outcome.error.message) == (StatusCode.CANCELLED, SHUTTING_DOWN)
    assert outcome.forced_stop
    assert handler.cleaned_up


async def test_a_call_that_catches_a_cancellation_and_waits_again_goes_on() -> None:
    release = asyncio.Event()

    async def stubborn() -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await release.wait()
            return "finished anyway"
        return "unreachable"

    started = begin(stubborn())
    task = asyncio.ensure_future(started)  # type: ignore[arg-type]
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.sleep(0)
    assert not task.done()
    release.set()
    assert await asyncio.wait_for(task, 10) == "finished anyway"


async def test_closing_a_suspended_call_runs_its_finally() -> None:
    handler = Handler()
    started = begin(handler.waiting())
    assert not isinstance(started, Outcome)
    started.close()  # type: ignore[union-attr]
    assert handler.cleaned_up


async def test_anything_but_a_coroutine_is_left_as_it_is() -> None:
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    assert begin(future) is future
