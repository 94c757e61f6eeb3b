"""natsrpc: gRPC-style RPC over NATS, with clients and services generated from .proto files."""

from natsrpc._version import __version__
from natsrpc.client import Client, UnaryCall
from natsrpc.compat import require_runtime
from natsrpc.context import Context
from natsrpc.server import Server, Service
from natsrpc.service_api import MicroService
from natsrpc.spec import Idempotency, MethodKind, MethodSpec, ServiceSpec
from natsrpc.status import RpcError, StatusCode, unimplemented
from natsrpc.wire import MetadataLike

__all__ = [
    "Client",
    "Context",
    "Idempotency",
    "MetadataLike",
    "MethodKind",
    "MethodSpec",
    "MicroService",
    "RpcError",
    "Server",
    "Service",
    "ServiceSpec",
    "StatusCode",
    "UnaryCall",
    "__version__",
    "require_runtime",
    "unimplemented",
]
