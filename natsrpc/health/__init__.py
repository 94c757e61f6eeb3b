"""Health over NATS, in gRPC's ``grpc.health.v1`` messages.

Every ``natsrpc.Server`` answers Check and Watch for each service it serves and
for itself (service ""): SERVING while started, NOT_SERVING from the moment a
graceful stop begins, NOT_FOUND (Check) or SERVICE_UNKNOWN (Watch) for a
service it does not serve. docs/protocol.md, "Health", gives the subjects;
``client`` asks them, and ``natsrpc health`` is built on it. Importing this
package (``import natsrpc`` does) is what makes servers answer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from natsrpc.server.server import Component, Server, provide_health
from natsrpc.spec import ServiceSpec

logger = logging.getLogger("natsrpc.health")


def _health_for(server: Server, served: Sequence[tuple[ServiceSpec, str]]) -> Component | None:
    # Imported at a server's start, as reflection is: protobuf refuses a second
    # grpc.health.v1 schema, so with grpcio-health-checking loaded only this is lost.
    try:
        from natsrpc.health.service import health_component_for
    except TypeError as error:
        logger.warning("natsrpc answers no health checks in this process: %s", error)
        return None
    return health_component_for(server, served)


provide_health(_health_for)
