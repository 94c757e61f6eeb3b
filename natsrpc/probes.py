"""Handing ``natsrpc.run(..., metrics_port=...)`` the probes of ``natsrpc.metrics``.

``natsrpc`` imports this module; ``natsrpc.metrics`` (the ``otel`` extra) is
imported only when a metrics port is asked for.
"""

from __future__ import annotations

from natsrpc.server.lifecycle import Probes, provide_probes


def open_probes(host: str, port: int) -> Probes:
    """``natsrpc.metrics.open_probes``, or a one-line error when the extra is missing."""
    try:
        from natsrpc.metrics.exposition import open_probes as open_metrics_probes
    except ImportError as error:
        raise RuntimeError(
            f"metrics need the otel extra (pip install 'natsrpc[otel]'): {error}"
        ) from None
    return open_metrics_probes(host, port)


provide_probes(open_probes)
