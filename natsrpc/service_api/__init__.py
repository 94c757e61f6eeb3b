"""The NATS Service API (ADR-32): its documents, answering them, and querying them."""

from natsrpc.contract import NAME_PATTERN, SEMVER_PATTERN
from natsrpc.service_api import discovery
from natsrpc.service_api.documents import (
    EndpointInfo,
    EndpointStats,
    PingResponse,
    ServiceInfo,
    ServiceStats,
)
from natsrpc.service_api.responder import (
    DEFAULT_QUEUE_GROUP,
    Endpoint,
    EndpointCounters,
    MicroService,
)

__all__ = [
    "DEFAULT_QUEUE_GROUP",
    "NAME_PATTERN",
    "SEMVER_PATTERN",
    "Endpoint",
    "EndpointCounters",
    "EndpointInfo",
    "EndpointStats",
    "MicroService",
    "PingResponse",
    "ServiceInfo",
    "ServiceStats",
    "discovery",
]
