"""Schema reflection over NATS, in gRPC's ``grpc.reflection.v1`` messages.

Servers answer with the files of the services they serve (``service``); tools
ask with ``client``. docs/protocol.md, "Reflection", specifies the subjects
and the answers. Importing this package (``import natsrpc`` does) is what makes
``natsrpc.Server`` serve reflection.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from natsrpc.server.server import provide_reflection
from natsrpc.spec import ServiceSpec

logger = logging.getLogger("natsrpc.reflection")


def _reflection_for(served: Sequence[tuple[ServiceSpec, str]]) -> object | None:
    # Imported at a server's start, not with natsrpc: protobuf refuses a second
    # grpc.reflection.v1 schema, so in a process that also loaded grpcio-reflection's
    # only natsrpc's reflection is lost, not the import of natsrpc.
    try:
        from natsrpc.reflection.service import reflection_service_for
    except TypeError as error:
        logger.warning("natsrpc serves no reflection in this process: %s", error)
        return None
    return reflection_service_for(served)


provide_reflection(_reflection_for)
