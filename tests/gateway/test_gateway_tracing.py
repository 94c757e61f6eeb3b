"""The caller's trace continues through the gateway: caller → gateway span → service span."""

from __future__ import annotations

from types import ModuleType

import httpx
import pytest
from nats.aio.client import Client as NATS

import natsrpc
from natsrpc.gateway import Gateway

otel_sdk = pytest.importorskip("opentelemetry.sdk.trace", reason="needs opentelemetry-sdk")

from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind  # noqa: E402

from natsrpc.gateway.tracing import CallerTraceContext  # noqa: E402
from natsrpc.otel import ClientTracingInterceptor, ServerTracingInterceptor  # noqa: E402

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"


async def test_the_gateway_span_is_the_callers_child_and_the_services_parent(
    nc: NATS, echo_service: ModuleType
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    server = natsrpc.Server(nc, interceptors=[ServerTracingInterceptor(provider)])
    server.add_service(echo_service.EchoService())
    gateway = Gateway(nc, interceptors=[CallerTraceContext(), ClientTracingInterceptor(provider)])
    async with server, gateway:
        port = await gateway.start_http()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            response = await client.post(
                "/natsrpc_test.Echo/Echo",
                json={"text": "traced"},
                headers={"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"},
            )
    assert response.status_code == 200
    spans = {span.kind: span for span in exporter.get_finished_spans()}
    gateway_span, service_span = spans[SpanKind.CLIENT], spans[SpanKind.SERVER]
    assert f"{gateway_span.context.trace_id:032x}" == TRACE_ID
    assert gateway_span.parent is not None
    assert f"{gateway_span.parent.span_id:016x}" == CALLER_SPAN
    assert service_span.context.trace_id == gateway_span.context.trace_id
    assert service_span.parent is not None
    assert service_span.parent.span_id == gateway_span.context.span_id
