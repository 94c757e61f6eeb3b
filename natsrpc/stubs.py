"""What generated modules are built from; application code has no need to import it.

``protoc-gen-natsrpc`` writes ``import natsrpc.stubs`` and refers to these names
only, so that ``__all__`` below is the whole contract between the plugin and the
runtime (tests/plugin/test_plugin_golden.py checks the goldens against it). The
names users also write (``Context``, ``UnaryCall``, ...) are the same objects as
in ``natsrpc`` and ``natsrpc.events``.
"""

from collections.abc import AsyncIterable, Iterable
from typing import TypeVar, Union

from google.protobuf.message import Message

from natsrpc import (
    health,  # noqa: F401 - importing it makes Server answer health checks
    reflection,  # noqa: F401 - importing it makes Server serve reflection
)
from natsrpc.client.base import Client
from natsrpc.client.stream_calls import BidiStreamCall, ClientStreamCall, ServerStreamCall
from natsrpc.client.unary import UnaryCall
from natsrpc.compat import require_runtime
from natsrpc.events.context import EventContext
from natsrpc.events.handlers import EventHandlers
from natsrpc.events.jetstream import PublishAck
from natsrpc.events.publisher import Publisher
from natsrpc.events.spec import EventServiceSpec, EventSpec, Retention, Storage, StreamSpec
from natsrpc.metadata import MetadataLike
from natsrpc.server.context import Context
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

_RequestT = TypeVar("_RequestT", bound=Message)

# Union rather than ``|``: the alias is subscripted at run time too, on Python 3.10.
RequestIterable = Union[Iterable[_RequestT], AsyncIterable[_RequestT]]  # noqa: UP007
"""What a client-streaming or bidi client method accepts: the requests to send, a plain
or an async iterable; named so that its signature stays one line per parameter."""

__all__ = [
    "BidiStreamCall",
    "BidiStreamMethod",
    "Client",
    "ClientStreamCall",
    "ClientStreamMethod",
    "Context",
    "EventContext",
    "EventHandlers",
    "EventServiceSpec",
    "EventSpec",
    "Idempotency",
    "MetadataLike",
    "MethodKind",
    "MethodSpec",
    "PublishAck",
    "Publisher",
    "RequestIterable",
    "Retention",
    "ServerStreamCall",
    "ServerStreamMethod",
    "Service",
    "ServiceSpec",
    "Storage",
    "StreamSpec",
    "SyncClient",
    "UnaryCall",
    "UnaryMethod",
    "require_runtime",
    "unimplemented",
]
