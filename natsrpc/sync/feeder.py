"""Requests from a synchronous iterable, for a streaming call that runs on the event loop."""

from __future__ import annotations

import asyncio
import enum
import logging
import threading
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any, Generic

from natsrpc.spec import RequestT

logger = logging.getLogger("natsrpc.sync")


class _Entry(enum.Enum):
    REQUEST = "request"
    END = "end"
    FAILED = "failed"


def requests_for_loop(requests: Iterable[RequestT]) -> Iterable[RequestT] | AsyncIterable[RequestT]:
    """``requests`` in a form the async client may iterate on its loop without blocking it.

    A list or tuple is read in place. Any other iterable may block (a generator
    waiting for input, a queue), so it is read in a thread of its own.
    """
    if isinstance(requests, (list, tuple)):
        return requests
    return ThreadFedRequests(requests)


class ThreadFedRequests(Generic[RequestT]):
    """An async iterable over a synchronous one that is read in a daemon thread.

    The thread reads one request only when the call asks for the next, so a
    request iterable is consumed no faster than the server takes the requests,
    and not at all once the call has ended.
    """

    def __init__(self, requests: Iterable[RequestT]) -> None:
        self._requests = requests

    def __aiter__(self) -> AsyncIterator[RequestT]:
        return self._receive()

    async def _receive(self) -> AsyncIterator[RequestT]:
        loop = asyncio.get_running_loop()
        entries: asyncio.Queue[tuple[_Entry, Any]] = asyncio.Queue()
        wanted = threading.Semaphore(0)
        stopped = threading.Event()
        threading.Thread(
            target=self._feed,
            args=(loop, entries, wanted, stopped),
            name="natsrpc-sync-requests",
            daemon=True,
        ).start()
        try:
            while True:
                wanted.release()
                kind, value = await entries.get()
                if kind is _Entry.END:
                    return
                if kind is _Entry.FAILED:
                    raise value
                yield value
        finally:
            stopped.set()
            # Wake the thread if it waits to be asked, so that it can see the call has ended.
            wanted.release()

    def _feed(
        self,
        loop: asyncio.AbstractEventLoop,
        entries: asyncio.Queue[tuple[_Entry, Any]],
        wanted: threading.Semaphore,
        stopped: threading.Event,
    ) -> None:
        def hand_over(kind: _Entry, value: object) -> None:
            try:
                loop.call_soon_threadsafe(entries.put_nowait, (kind, value))
            except RuntimeError:
                # The loop has closed, and the call with it.
                stopped.set()

        try:
            iterator: Iterator[RequestT] = iter(self._requests)
            while True:
                wanted.acquire()
                if stopped.is_set():
                    return
                try:
                    request = next(iterator)
                except StopIteration:
                    hand_over(_Entry.END, None)
                    return
                hand_over(_Entry.REQUEST, request)
        except Exception as exc:
            # The call fails with CANCELLED naming this error, as on the async client.
            hand_over(_Entry.FAILED, exc)
        except BaseException as exc:
            # Anything but an Exception would escape the call's task and stop the loop.
            hand_over(_Entry.FAILED, RuntimeError(f"the request iterator raised {exc!r}"))
            raise
