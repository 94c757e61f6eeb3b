"""What the parser extracts from a request and the renderer needs: no protobuf types past here."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from natsrpc.contract import MethodKind

# What each kind is on the client: the call object it returns, the Client method that
# makes it, and the sync client's callable.
_CLIENT_CALLS = {
    MethodKind.UNARY: ("UnaryCall", "_unary_unary", "UnaryMethod"),
    MethodKind.SERVER_STREAMING: ("ServerStreamCall", "_unary_stream", "ServerStreamMethod"),
    MethodKind.CLIENT_STREAMING: ("ClientStreamCall", "_stream_unary", "ClientStreamMethod"),
    MethodKind.BIDI_STREAMING: ("BidiStreamCall", "_stream_stream", "BidiStreamMethod"),
}


class ImportSection(enum.IntEnum):
    """isort sections in the order ruff writes them."""

    FUTURE = 0
    STANDARD_LIBRARY = 1
    THIRD_PARTY = 2
    FIRST_PARTY = 3
    LOCAL_FOLDER = 4


@dataclass(frozen=True)
class ModuleImport:
    """One module the generated file imports, and the name it is bound to."""

    package: str | None
    """``foo.bar`` or a relative ``..sub`` to write ``from package import name``;
    None for a top-level module written as ``import name``."""
    name: str
    """Module name inside the package, e.g. ``bar_pb2``."""
    alias: str
    """Name the generated code refers to: ``name`` unless that would collide."""
    section: ImportSection


@dataclass(frozen=True)
class Method:
    name: str
    """Proto method name, e.g. ``SayHello``."""
    attribute: str
    """Python member name on both generated classes, e.g. ``say_hello``."""
    constant: str
    """Module-level name of its ``natsrpc.MethodSpec``."""
    kind: MethodKind
    request_type: str
    """Python expression for the request class, e.g. ``greeter_pb2.HelloRequest``."""
    response_type: str
    subject: str
    """NATS subject before any runtime prefix, e.g. ``helloworld.Greeter.SayHello``."""
    timeout: float | None
    """Default client timeout in seconds from ``(natsrpc.method).timeout``."""
    idempotency: str | None
    """``natsrpc.Idempotency`` member name, or None for the default (UNKNOWN)."""
    docstring: str
    description: str
    metadata: tuple[tuple[str, str], ...] = ()
    """ADR-32 endpoint metadata from ``(natsrpc.method).metadata``, sorted by key."""
    grpc_alias: str | None = None
    """The proto name, e.g. ``SayHello``, as a second name on both client classes, so that
    grpcio and grpc.aio call sites keep working; None where it equals or would clash with
    a name."""
    request_message: str = ""
    """Proto full name of the request type, e.g. ``helloworld.HelloRequest``."""
    response_message: str = ""

    # The shape of the generated members, decided here so that templates only place them.

    @property
    def messages(self) -> str:
        """The request parameter's name on both sides: ``request`` or ``requests``."""
        return "requests" if self.kind.client_streams else "request"

    @property
    def server_parameter(self) -> str:
        if self.kind.client_streams:
            return f"requests: AsyncIterator[{self.request_type}]"
        return f"request: {self.request_type}"

    @property
    def server_returns(self) -> str:
        if self.kind.server_streams:
            return f"AsyncIterator[{self.response_type}]"
        return self.response_type

    @property
    def client_parameter(self) -> str:
        if not self.kind.client_streams:
            return f"request: {self.request_type}"
        stream = f"natsrpc.stubs.RequestIterable[{self.request_type}]"
        # A bidi call may be opened first and fed later.
        if self.kind is MethodKind.BIDI_STREAMING:
            return f"requests: {stream} | None = None"
        return f"requests: {stream}"

    @property
    def client_returns(self) -> str:
        call = _CLIENT_CALLS[self.kind][0]
        if self.kind.client_streams:
            return f"natsrpc.stubs.{call}[{self.request_type}, {self.response_type}]"
        return f"natsrpc.stubs.{call}[{self.response_type}]"

    @property
    def client_invoke(self) -> str:
        """The ``natsrpc.stubs.Client`` method that makes the call."""
        return _CLIENT_CALLS[self.kind][1]

    @property
    def sync_method(self) -> str:
        """The ``natsrpc.stubs`` class of the sync client's member."""
        return f"natsrpc.stubs.{_CLIENT_CALLS[self.kind][2]}"


@dataclass(frozen=True)
class Service:
    name: str
    full_name: str
    """Fully qualified proto name without the leading dot, e.g. ``helloworld.Greeter``."""
    class_name: str
    client_class_name: str
    sync_client_class_name: str
    constant: str
    docstring: str
    description: str
    version: str | None
    """From ``(natsrpc.service).version`` or a ``version: X.Y.Z`` comment line;
    None keeps the runtime default."""
    methods: tuple[Method, ...]
    micro_name: str | None = None
    """ADR-32 service name from ``(natsrpc.service).name``; None keeps the default."""
    queue_group: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()
    """ADR-32 service metadata from ``(natsrpc.service).metadata``, sorted by key."""


@dataclass(frozen=True)
class Stream:
    """``natsrpc.events.spec.StreamSpec`` values; None keeps the runtime's default."""

    name: str
    retention: str | None = None
    """``Retention`` member name, e.g. ``WORK_QUEUE``."""
    storage: str | None = None
    replicas: int | None = None
    max_age: float | None = None
    duplicate_window: float | None = None


@dataclass(frozen=True)
class Event:
    name: str
    """Proto method name, e.g. ``Placed``."""
    attribute: str
    """Publisher method name, e.g. ``placed``; the handler is ``on_placed``."""
    constant: str
    """Module-level name of its ``EventSpec``."""
    event_type: str
    """Python expression for the event class, e.g. ``shop_pb2.OrderPlaced``."""
    message: str
    """Proto full name of the event message, e.g. ``shop.OrderPlaced``."""
    subject: str
    """Subject template, e.g. ``shop.orders.{order_id}.placed``."""
    subject_fields: tuple[str, ...]
    """The event fields the subject's ``{field}`` tokens name, in order."""
    id_field: str | None
    docstring: str
    description: str
    metadata: tuple[tuple[str, str], ...] = ()

    @property
    def handler_attribute(self) -> str:
        return "on_" + self.attribute


@dataclass(frozen=True)
class EventSet:
    """A service marked ``(natsrpc.events)``."""

    name: str
    full_name: str
    handlers_class_name: str
    publisher_class_name: str
    constant: str
    docstring: str
    description: str
    version: str | None
    events: tuple[Event, ...]
    stream: Stream | None = None
    """None: core NATS, at most once."""
    micro_name: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class File:
    proto_path: str
    """Path as protoc knows the file, e.g. ``foo/bar.proto``."""
    output_path: str
    """Where the generated module goes, e.g. ``foo/bar_natsrpc.py``."""
    imports: tuple[ModuleImport, ...]
    services: tuple[Service, ...]
    abc_names: tuple[str, ...] = field(default=())
    """Names the signatures need from ``collections.abc``, sorted."""
    event_sets: tuple[EventSet, ...] = ()
