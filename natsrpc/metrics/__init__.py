"""natsrpc's metrics, through the OpenTelemetry metrics API (the ``otel`` extra).

``pip install "natsrpc[otel]"`` brings the API, the SDK and the Prometheus
exporter; ``import natsrpc`` alone never imports any of them. Nothing is
recorded without a meter provider: the API's global default is a no-op.

- ``enable(provider)`` instruments every server, client and publisher made
  afterwards (the ``ClientMetricsInterceptor`` and ``ServerMetricsInterceptor``
  can also be passed to a few by hand);
- ``JetStreamGauges`` reports each consumer group's backlog from consumer info;
- ``open_probes`` serves ``/metrics``, ``/healthz`` and ``/readyz`` for
  Prometheus and Kubernetes, which ``natsrpc.run(build, metrics_port=...)`` and
  ``natsrpc serve --metrics-port`` do for you.

docs/operations.md lists every instrument.
"""

from natsrpc.metrics.exposition import Probes, ProbesError, open_probes
from natsrpc.metrics.jetstream import DEFAULT_INTERVAL, GroupReading, JetStreamGauges
from natsrpc.metrics.process import Metrics, enable, enabled
from natsrpc.metrics.rpc import ClientMetricsInterceptor, ServerMetricsInterceptor

__all__ = [
    "DEFAULT_INTERVAL",
    "ClientMetricsInterceptor",
    "GroupReading",
    "JetStreamGauges",
    "Metrics",
    "Probes",
    "ProbesError",
    "ServerMetricsInterceptor",
    "enable",
    "enabled",
    "open_probes",
]
