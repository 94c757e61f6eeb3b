"""RPC and publishing metrics as a client and a server interceptor.

Each interceptor records into the meter provider it is given, or the global one
(OpenTelemetry's no-op until an SDK provider is set). ``natsrpc.metrics.enable``
installs both for every server, client and publisher of the process; pass them
in ``interceptors=`` instead to instrument a few.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from google.protobuf.message import Message
from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, Observation

from natsrpc.client.interceptors import CallDetails, ClientInterceptor, StreamInvoker, UnaryInvoker
from natsrpc.events.subjects import is_event_method
from natsrpc.metrics import instruments as names
from natsrpc.metrics.aggregate import AggregatedHistogram, CallDurations
from natsrpc.metrics.instruments import EventInstruments, RpcInstruments, meter, method_attributes
from natsrpc.server.context import Context
from natsrpc.server.interceptors import ServerInterceptor, StreamHandler, UnaryHandler
from natsrpc.spec import MethodKind, MethodSpec
from natsrpc.status import StatusCode, status_of

Attributes = dict[str, str]
Calling = Callable[[MethodSpec[Any, Any]], None]
Ended = Callable[[MethodSpec[Any, Any], StatusCode, int], object]
"""A unary call's end: its method, status code and nanoseconds."""


class _Attributes:
    """Attribute dicts built once per method and status, not per call."""

    def __init__(self) -> None:
        self._base: dict[MethodSpec[Any, Any], Attributes] = {}
        self._ended: dict[tuple[MethodSpec[Any, Any], StatusCode], Attributes] = {}

    def base(self, method: MethodSpec[Any, Any]) -> Attributes:
        found = self._base.get(method)
        if found is None:
            found = self._base[method] = method_attributes(method)
        return found

    def ended(self, method: MethodSpec[Any, Any], code: StatusCode) -> Attributes:
        found = self._ended.get((method, code))
        if found is None:
            found = {**self.base(method), names.STATUS: code.name}
            if code is not StatusCode.OK:
                found[names.ERROR_TYPE] = code.name
            self._ended[method, code] = found
        return found


def _queued(unary_calls: bool, duration: object, attributes: _Attributes) -> CallDurations | None:
    # Only natsrpc's own histograms can be read at a scrape after counting the
    # queue; the SDK's are collected without asking natsrpc first.
    if unary_calls or not isinstance(duration, AggregatedHistogram):
        return None
    return CallDurations(duration, attributes.ended)


class ActiveCalls:
    """Calls in progress by method, counted in a dict and read when a scrape asks.

    An up-down counter would cost two SDK measurements per call; this costs two
    dict updates. The hooks' unary calls are counted elsewhere (``include``).
    """

    def __init__(self, meter: Meter, name: str, description: str) -> None:
        self._counts: dict[MethodSpec[Any, Any], int] = {}
        self._sources: list[Callable[[], dict[MethodSpec[Any, Any], int]]] = []
        self._attributes = _Attributes()
        meter.create_observable_up_down_counter(
            name, [self._observe], unit="{call}", description=description
        )

    def include(self, source: Callable[[], dict[MethodSpec[Any, Any], int]]) -> None:
        """Report the calls ``source`` says are in progress, by method, with these."""
        self._sources.append(source)

    def started(self, method: MethodSpec[Any, Any]) -> None:
        self._counts[method] = self._counts.get(method, 0) + 1

    def ended(self, method: MethodSpec[Any, Any]) -> None:
        self._counts[method] -= 1

    def _observe(self, options: CallbackOptions) -> Iterable[Observation]:
        counts = dict(self._counts)
        for source in self._sources:
            for method, count in source().items():
                counts[method] = counts.get(method, 0) + count
        return [
            Observation(count, self._attributes.base(method)) for method, count in counts.items()
        ]


class ClientMetricsInterceptor(ClientInterceptor):
    """Records every call a client makes, and every event a publisher publishes.

    Register it first so that its duration covers the other interceptors
    (retries included), as a caller sees it. ``natsrpc.metrics.enable`` makes
    it with ``unary_calls=False`` and records unary calls through the
    ``natsrpc.telemetry`` hooks ``unary_hooks`` gives instead, which cost a
    call far less than an interceptor does.
    """

    def __init__(
        self, meter_provider: MeterProvider | None = None, *, unary_calls: bool = True
    ) -> None:
        m = meter(meter_provider)
        self.unary_calls = unary_calls
        self._rpc = RpcInstruments(meter_provider, "client")
        self._events = EventInstruments(meter_provider)
        self._active = ActiveCalls(m, "natsrpc.client.active_calls", "Calls made and not ended")
        self._attributes = _Attributes()
        self._queued = _queued(unary_calls, self._rpc.duration, self._attributes)
        if self._queued is not None:
            self._active.include(self._queued.in_progress)
        self._published: dict[tuple[MethodSpec[Any, Any], str], Attributes] = {}
        self._counts: dict[int, list[int]] = {}
        """Messages sent and received by each open stream, by its metadata dict's id."""

    async def intercept_unary(
        self, request: Message, details: CallDetails, call_next: UnaryInvoker
    ) -> Message:
        method = details.method
        if is_event_method(method):
            return await self._publish(request, details, call_next)
        started = self._started(method)
        code = StatusCode.OK
        try:
            return await call_next(request, details)
        except BaseException as error:
            code = status_of(error)
            raise
        finally:
            self._ended(method, code, started)

    def unary_hooks(self) -> tuple[Calling, Ended]:
        """``telemetry.unary_calling`` and ``unary_called`` for this client's metrics.

        Into natsrpc's own histograms, each call is queued and counted in
        batches (``aggregate.CallDurations``); into the SDK's, it is recorded at once.
        """
        if self._queued is not None:
            return self._queued.calling, self._queued.ended
        return self._active.started, self.unary_ended

    def unary_ended(
        self, method: MethodSpec[Any, Any], code: StatusCode, elapsed_ns: int
    ) -> Attributes:
        """A call of ``method`` ended with ``code`` after ``elapsed_ns``, recorded into the
        SDK; the attributes it was recorded with."""
        self._active.ended(method)
        attributes = self._attributes.ended(method, code)
        self._rpc.duration.record(elapsed_ns / 1e9, attributes)
        return attributes

    def _started(self, method: MethodSpec[Any, Any]) -> int:
        self._active.started(method)
        return time.perf_counter_ns()

    def _ended(self, method: MethodSpec[Any, Any], code: StatusCode, started: int) -> Attributes:
        return self.unary_ended(method, code, time.perf_counter_ns() - started)

    async def _publish(
        self, request: Message, details: CallDetails, call_next: UnaryInvoker
    ) -> Message:
        outcome = "ok"
        try:
            return await call_next(request, details)
        except BaseException as error:
            outcome = status_of(error).name
            raise
        finally:
            self._events.sent.add(1, self._publish_attributes(details.method, outcome))

    def _publish_attributes(self, method: MethodSpec[Any, Any], outcome: str) -> Attributes:
        found = self._published.get((method, outcome))
        if found is None:
            found = self._published[method, outcome] = {
                names.MESSAGING: names.MESSAGING_SYSTEM,
                names.EVENT: method.path.lstrip("/"),
                names.DESTINATION_TEMPLATE: method.subject,
                names.OUTCOME: outcome,
            }
        return found

    async def intercept_stream(self, details: CallDetails, call_next: StreamInvoker) -> None:
        method = details.method
        # The message hooks see the details the call was opened with, which share
        # this metadata dict unless an inner interceptor replaced it.
        key = id(details.metadata)
        # A server-streaming call's one request is sent without the message hooks.
        counts = self._counts[key] = [int(method.kind is MethodKind.SERVER_STREAMING), 0]
        started = self._started(method)
        code = StatusCode.OK
        try:
            await call_next(details)
        except BaseException as error:
            code = status_of(error)
            raise
        finally:
            self._counts.pop(key, None)
            ended = self._ended(method, code, started)
            self._rpc.requests.record(counts[0], ended)
            self._rpc.responses.record(counts[1], ended)

    async def intercept_stream_request(self, request: Message, details: CallDetails) -> Message:
        counts = self._counts.get(id(details.metadata))
        if counts is not None:
            counts[0] += 1
        return request

    async def intercept_stream_response(self, response: Message, details: CallDetails) -> Message:
        counts = self._counts.get(id(details.metadata))
        if counts is not None:
            counts[1] += 1
        return response


class ServerMetricsInterceptor(ServerInterceptor):
    """Records every call a server serves, from the handler's start to its end.

    Calls shed at admission never reach interceptors; ``natsrpc.metrics.observe``
    reads them, with calls waiting, from the server's ADR-32 statistics.
    ``natsrpc.metrics.enable`` makes it with ``unary_calls=False``: unary calls
    are then recorded through ``unary_hook`` (``telemetry.unary_served``), and calls
    in progress are read from those statistics too. Event
    handlers pass through unrecorded here: their outcome is known only once the
    event is settled, where ``natsrpc.metrics.enable`` records it.
    """

    def __init__(
        self, meter_provider: MeterProvider | None = None, *, unary_calls: bool = True
    ) -> None:
        self.unary_calls = unary_calls
        self._rpc = RpcInstruments(meter_provider, "server")
        self._active: ActiveCalls | None = None
        if unary_calls:
            self._active = ActiveCalls(
                meter(meter_provider),
                "natsrpc.server.active_calls",
                "Calls whose handler is running",
            )
        self._attributes = _Attributes()
        self._queued = _queued(unary_calls, self._rpc.duration, self._attributes)

    def unary_hook(self) -> Ended:
        """``telemetry.unary_served`` for this server's metrics: into natsrpc's own
        histograms queued and counted in batches, into the SDK's ``served``."""
        if self._queued is not None:
            return self._queued.ended
        return self.served

    def _started(self, method: MethodSpec[Any, Any]) -> int:
        if self._active is not None:
            self._active.started(method)
        return time.perf_counter_ns()

    def _ended(self, method: MethodSpec[Any, Any], code: StatusCode, started: int) -> Attributes:
        if self._active is not None:
            self._active.ended(method)
        return self._record(method, code, time.perf_counter_ns() - started)

    def _record(
        self, method: MethodSpec[Any, Any], code: StatusCode, elapsed_ns: int
    ) -> Attributes:
        attributes = self._attributes.ended(method, code)
        self._rpc.duration.record(elapsed_ns / 1e9, attributes)
        return attributes

    def served(self, method: MethodSpec[Any, Any], code: StatusCode, elapsed_ns: int) -> None:
        """A unary call of ``method`` was served in ``elapsed_ns`` (``telemetry.unary_served``)."""
        self._record(method, code, elapsed_ns)

    async def intercept_unary(
        self,
        request: Message,
        context: Context,
        method: MethodSpec[Any, Any],
        call_next: UnaryHandler,
    ) -> Message:
        if is_event_method(method):
            return await call_next(request, context)
        started = self._started(method)
        code = StatusCode.OK
        try:
            return await call_next(request, context)
        except BaseException as error:
            code = status_of(error, context)
            raise
        finally:
            self._ended(method, code, started)

    async def intercept_stream(
        self,
        requests: AsyncIterator[Message],
        context: Context,
        method: MethodSpec[Any, Any],
        call_next: StreamHandler,
    ) -> AsyncIterator[Message]:
        counts = [0, 0]

        async def counted(source: AsyncIterator[Message]) -> AsyncIterator[Message]:
            async for request in source:
                counts[0] += 1
                yield request

        started = self._started(method)
        code = StatusCode.OK
        try:
            async for response in call_next(counted(requests), context):
                counts[1] += 1
                yield response
        except BaseException as error:
            code = status_of(error, context)
            raise
        finally:
            ended = self._ended(method, code, started)
            self._rpc.requests.record(counts[0], ended)
            self._rpc.responses.record(counts[1], ended)
