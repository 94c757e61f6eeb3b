"""OpenTelemetry tracing for natsrpc calls, as a client and a server interceptor.

Needs the ``otel`` extra (``pip install "natsrpc[otel]"``, which brings
``opentelemetry-api``); ``import natsrpc`` alone never imports OpenTelemetry.

Spans follow OpenTelemetry's semantic conventions for RPC: one CLIENT span per
call made and one SERVER span per call served, named ``package.Service/Method``,
with the attributes ``rpc.system`` (``natsrpc``: the calls are not gRPC on the
wire), ``rpc.service``, ``rpc.method`` and ``rpc.natsrpc.status_code`` (the
numeric status, as ``rpc.grpc.status_code`` is for gRPC). The trace context
travels as W3C ``traceparent``/``tracestate`` headers (by default, whatever
propagator is configured globally), which natsrpc carries as metadata, so a
handler that calls other services continues the caller's trace.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractContextManager
from typing import Any, cast

from google.protobuf.message import Message
from opentelemetry import propagate, trace
from opentelemetry.context import Context as OtelContext
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.trace import Span, SpanKind, Status, Tracer, TracerProvider
from opentelemetry.trace import StatusCode as SpanStatus

from natsrpc._version import __version__
from natsrpc.client.interceptors import CallDetails, ClientInterceptor, StreamInvoker, UnaryInvoker
from natsrpc.metadata import MetadataValue
from natsrpc.server.context import Context
from natsrpc.server.interceptors import ServerInterceptor, StreamHandler, UnaryHandler
from natsrpc.spec import MethodSpec
from natsrpc.status import RpcError, StatusCode, status_of

RPC_SYSTEM = "natsrpc"
STATUS_CODE = "rpc.natsrpc.status_code"

# The statuses that mean the server failed, as the conventions list them for
# gRPC; the others (a bad argument, a missing permission) are the caller's
# doing and leave a server span's status unset.
_SERVER_ERRORS = frozenset(
    {
        StatusCode.UNKNOWN,
        StatusCode.DEADLINE_EXCEEDED,
        StatusCode.UNIMPLEMENTED,
        StatusCode.INTERNAL,
        StatusCode.UNAVAILABLE,
        StatusCode.DATA_LOSS,
    }
)


def _span_name(method: MethodSpec[Any, Any]) -> str:
    return method.path.lstrip("/")


def _attributes(method: MethodSpec[Any, Any]) -> dict[str, str]:
    service, _, name = method.path.lstrip("/").rpartition("/")
    return {"rpc.system": RPC_SYSTEM, "rpc.service": service, "rpc.method": name}


def _tracer(provider: TracerProvider | None) -> Tracer:
    return trace.get_tracer("natsrpc", __version__, provider)


def _finish(span: Span, error: BaseException | None, code: StatusCode, server: bool) -> None:
    """Record how the call ended on ``span``."""
    span.set_attribute(STATUS_CODE, int(code))
    if code is StatusCode.OK or (server and code not in _SERVER_ERRORS):
        return
    if isinstance(error, RpcError):
        description = f"{code.name}: {error.message}" if error.message else code.name
    else:
        description = code.name
        if isinstance(error, Exception):
            # A handler's own bug: the exception is worth keeping on the span.
            span.record_exception(error)
    span.set_status(Status(SpanStatus.ERROR, description))


class ClientTracingInterceptor(ClientInterceptor):
    """A CLIENT span around every call; sends the trace context along as metadata.

    Register it first among a client's interceptors so its span covers the
    others (retries included).
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        propagator: TextMapPropagator | None = None,
    ) -> None:
        self._tracer = _tracer(tracer_provider)
        self._propagator = propagator

    def _start(self, details: CallDetails) -> AbstractContextManager[Span]:
        return self._tracer.start_as_current_span(
            _span_name(details.method),
            kind=SpanKind.CLIENT,
            attributes=_attributes(details.method),
            record_exception=False,
            set_status_on_exception=False,
        )

    def _inject(self, details: CallDetails) -> None:
        # Looked up per call, so a propagator configured after this client works.
        propagator = self._propagator or propagate.get_global_textmap()
        propagator.inject(details.metadata)

    async def intercept_unary(
        self, request: Message, details: CallDetails, call_next: UnaryInvoker
    ) -> Message:
        with self._start(details) as span:
            self._inject(details)
            try:
                response = await call_next(request, details)
            except BaseException as error:
                _finish(span, error, status_of(error), server=False)
                raise
            _finish(span, None, StatusCode.OK, server=False)
            return response

    async def intercept_stream(self, details: CallDetails, call_next: StreamInvoker) -> None:
        with self._start(details) as span:
            self._inject(details)
            try:
                await call_next(details)
            except BaseException as error:
                _finish(span, error, status_of(error), server=False)
                raise
            _finish(span, None, StatusCode.OK, server=False)


class ServerTracingInterceptor(ServerInterceptor):
    """A SERVER span around every call served, a child of the caller's span.

    The span is the current span while the handler runs, so calls the handler
    makes through a client with ``ClientTracingInterceptor`` are its children.
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        propagator: TextMapPropagator | None = None,
    ) -> None:
        self._tracer = _tracer(tracer_provider)
        self._propagator = propagator

    def _parent(self, metadata: Mapping[str, MetadataValue]) -> OtelContext:
        propagator = self._propagator or propagate.get_global_textmap()
        # Trace context headers are plain keys, so the values it reads are strings.
        return propagator.extract(cast(Mapping[str, str], metadata))

    async def intercept_unary(
        self,
        request: Message,
        context: Context,
        method: MethodSpec[Any, Any],
        call_next: UnaryHandler,
    ) -> Message:
        with self._tracer.start_as_current_span(
            _span_name(method),
            context=self._parent(context.metadata),
            kind=SpanKind.SERVER,
            attributes=_attributes(method),
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                response = await call_next(request, context)
            except BaseException as error:
                _finish(span, error, status_of(error, context), server=True)
                raise
            _finish(span, None, StatusCode.OK, server=True)
            return response

    async def intercept_stream(
        self,
        requests: AsyncIterator[Message],
        context: Context,
        method: MethodSpec[Any, Any],
        call_next: StreamHandler,
    ) -> AsyncIterator[Message]:
        span = self._tracer.start_span(
            _span_name(method),
            context=self._parent(context.metadata),
            kind=SpanKind.SERVER,
            attributes=_attributes(method),
            record_exception=False,
            set_status_on_exception=False,
        )
        responses = call_next(requests, context)
        try:
            while True:
                # Current only while the handler runs, never across a yield: the
                # code consuming this generator must not run inside the span.
                with trace.use_span(
                    span, end_on_exit=False, record_exception=False, set_status_on_exception=False
                ):
                    try:
                        response = await anext(responses)
                    except StopAsyncIteration:
                        break
                yield response
        except BaseException as error:
            _finish(span, error, status_of(error, context), server=True)
            raise
        else:
            _finish(span, None, StatusCode.OK, server=True)
        finally:
            span.end()
