"""What generated modules are built from; application code has no need to import it.

``protoc-gen-natsrpc`` writes ``import natsrpc.stubs`` and refers to these names,
so the user-facing ``natsrpc`` namespace stays free of them.
"""

from natsrpc import reflection  # noqa: F401 - importing it makes Server serve reflection
from natsrpc.client.base import Client
from natsrpc.compat import require_runtime
from natsrpc.events.spec import EventServiceSpec, EventSpec, Retention, Storage, StreamSpec
from natsrpc.server.server import Service
from natsrpc.spec import Idempotency, MethodKind, MethodSpec, ServiceSpec
from natsrpc.status import unimplemented
from natsrpc.sync.client import SyncClient
from natsrpc.sync.methods import (
    BidiStreamMethod,
    ClientStreamMethod,
    ServerStreamMethod,
    UnaryMethod,
)

__all__ = [
    "BidiStreamMethod",
    "Client",
    "ClientStreamMethod",
    "EventServiceSpec",
    "EventSpec",
    "Idempotency",
    "MethodKind",
    "MethodSpec",
    "Retention",
    "ServerStreamMethod",
    "Service",
    "ServiceSpec",
    "Storage",
    "StreamSpec",
    "SyncClient",
    "UnaryMethod",
    "require_runtime",
    "unimplemented",
]
