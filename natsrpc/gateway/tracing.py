"""The caller's trace context made current around the gateway's natsrpc call.

The gateway forwards ``traceparent``/``tracestate`` as metadata, so a service's
tracing interceptor continues the caller's trace by itself. A tracing client
interceptor on the gateway (``natsrpc.otel.ClientTracingInterceptor``) would
instead start a new trace, and send its own context on: registered before it,
``CallerTraceContext`` makes the gateway's span the caller's child, and the
trace runs caller → gateway → service. Needs the ``otel`` extra.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from google.protobuf.message import Message

from natsrpc.client.interceptors import (
    CallDetails,
    ClientInterceptor,
    StreamInvoker,
    UnaryInvoker,
)
from natsrpc.metadata import MetadataValue


class CallerTraceContext(ClientInterceptor):
    """Runs each call in the trace context its metadata carries; first among the interceptors."""

    async def intercept_unary(
        self, request: Message, details: CallDetails, call_next: UnaryInvoker
    ) -> Message:
        with _attached(details.metadata):
            return await call_next(request, details)

    async def intercept_stream(self, details: CallDetails, call_next: StreamInvoker) -> None:
        with _attached(details.metadata):
            await call_next(details)


@contextlib.contextmanager
def _attached(metadata: Mapping[str, MetadataValue]) -> Iterator[None]:
    from opentelemetry import context, propagate

    # Trace context is text; binary metadata is no carrier for it.
    carrier = {k: v for k, v in metadata.items() if isinstance(v, str)}
    token = context.attach(propagate.extract(carrier))
    try:
        yield
    finally:
        context.detach(token)
