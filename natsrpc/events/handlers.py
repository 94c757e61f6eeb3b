"""The base class of every generated event handler class, and how a server serves it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

from nats.aio.client import Client as NATS

from natsrpc.events.consumer import JetStreamConsumer
from natsrpc.events.core import DEFAULT_MAX_PENDING, CoreSubscriber
from natsrpc.events.routing import Consumed, EventHandler, Router
from natsrpc.events.settings import ConsumerSettings
from natsrpc.events.spec import EventServiceSpec, EventSpec
from natsrpc.events.subjects import event_method, reflected_service
from natsrpc.server.interceptors import ServerInterceptor, intercept_handler
from natsrpc.service_api.responder import Endpoint, MicroService
from natsrpc.spec import ServiceSpec


class Host(Protocol):
    """What a component needs from the server that runs it."""

    @property
    def nc(self) -> NATS: ...
    @property
    def interceptors(self) -> Sequence[ServerInterceptor]: ...
    @property
    def max_concurrency(self) -> int: ...


class EventComponent(Protocol):
    micro_service: MicroService | None

    async def start(self) -> None: ...
    async def stop(self, grace_period: float) -> None: ...


class EventHandlers:
    """Base of every generated event handler class; override the ``on_*`` methods to consume.

    Only the events whose handler a subclass overrides are consumed: a consumer
    group subscribes to exactly those subjects.
    """

    _natsrpc_service: ClassVar[EventServiceSpec]

    @classmethod
    def _natsrpc_reflected(cls) -> ServiceSpec:
        """What the server's reflection says about this event set (``natsrpc sub`` reads it)."""
        return reflected_service(generated_class(cls)._natsrpc_service)

    @classmethod
    def _natsrpc_component(
        cls,
        server: Host,
        impl: EventHandlers,
        *,
        consumer: str | None = None,
        subject_prefix: str | None = None,
        max_concurrency: int | None = None,
        max_pending: int | None = None,
        ordered_by: str | None = None,
        ack_wait: float = 30.0,
        max_deliver: int = 5,
        backoff: Sequence[float] | None = None,
        deliver_new: bool = False,
        provision: bool = True,
        pull_expires: float = 5.0,
    ) -> EventComponent:
        """The component ``Server.add_service(impl, **options)`` starts and stops.

        ``consumer`` names the consumer group: instances with the same group
        share the events, every group gets each event. It defaults to the
        handler class's name. ``max_pending`` (core NATS sets only, default
        16384) bounds the events waiting for a handler slot; beyond it events are
        dropped and counted. The other options are ``ConsumerSettings``'s.
        """
        generated = generated_class(type(impl))
        spec = generated._natsrpc_service
        prefix = subject_prefix or ""
        group = consumer or type(impl).__name__
        # Over core NATS without a group every instance gets every event: no queue group.
        endpoint_group = group if spec.stream is not None else (consumer or "")
        if ordered_by is not None:
            _check_ordering_field(spec, impl, ordered_by)
        consumed = [
            _consumed(event, handler, server.interceptors, prefix, endpoint_group, spec)
            for event, handler in overridden_handlers(impl)
        ]
        micro_service = MicroService(
            name=spec.name,
            version=spec.version,
            description=spec.description,
            metadata=spec.metadata,
            endpoints=[c.endpoint for c in consumed],
        )
        router = Router(consumed)
        concurrency = max_concurrency or server.max_concurrency
        if spec.stream is None:
            pending = DEFAULT_MAX_PENDING if max_pending is None else max_pending
            if pending < 0:
                raise ValueError("max_pending must not be negative")
            return CoreSubscriber(server.nc, router, consumer, concurrency, micro_service, pending)
        if max_pending is not None:
            raise TypeError(
                f"{spec.full_name} is stored in a stream: its consumer pulls only what it has "
                "room for, so max_pending does not apply"
            )
        settings = ConsumerSettings(
            group=group,
            subject_prefix=prefix,
            max_concurrency=concurrency,
            ack_wait=ack_wait,
            max_deliver=max_deliver,
            backoff=tuple(backoff) if backoff is not None else ConsumerSettings.backoff,
            ordered_by=ordered_by,
            deliver_new=deliver_new,
            provision=provision,
            pull_expires=pull_expires,
        )
        return JetStreamConsumer(server.nc, spec, router, settings, micro_service)


def generated_class(cls: type[Any]) -> type[Any]:
    """The generated class in ``cls``'s ancestry: the one that declares the event set."""
    for klass in cls.__mro__:
        if isinstance(vars(klass).get("_natsrpc_service"), EventServiceSpec):
            return klass
    raise TypeError(
        f"{cls.__name__} is not a generated natsrpc event handler class; "
        "subclass the class protoc-gen-natsrpc wrote for your event set"
    )


def overridden_handlers(impl: object) -> list[tuple[EventSpec[Any], EventHandler]]:
    """The events ``impl`` handles: those whose ``on_*`` method its class overrides."""
    generated = generated_class(type(impl))
    spec: EventServiceSpec = generated._natsrpc_service
    handlers = [
        (event, getattr(impl, event.handler_attribute))
        for event in spec.events
        if getattr(type(impl), event.handler_attribute, None)
        is not getattr(generated, event.handler_attribute, None)
    ]
    if not handlers:
        names = ", ".join(e.handler_attribute for e in spec.events)
        raise TypeError(f"{type(impl).__name__} overrides no event handler (one of {names})")
    return handlers


def _check_ordering_field(spec: EventServiceSpec, impl: object, field: str) -> None:
    for event, _ in overridden_handlers(impl):
        if field not in event.event_type.DESCRIPTOR.fields_by_name:
            raise ValueError(f"ordered_by={field!r}: {event.event_type.__name__} has no such field")


def _consumed(
    event: EventSpec[Any],
    handler: EventHandler,
    interceptors: Sequence[ServerInterceptor],
    prefix: str,
    group: str,
    spec: EventServiceSpec,
) -> Consumed:
    if interceptors:
        handler = intercept_handler(interceptors, event_method(event), handler)
    subject = prefix + event.filter_subject
    endpoint = Endpoint(
        name=event.name,
        subject=subject,
        queue_group=group,
        metadata={
            "rpc.event": event.path,
            "rpc.event_type": event.event_type.DESCRIPTOR.full_name,
            "rpc.kind": "event",
            **({"rpc.stream": spec.stream.name} if spec.stream is not None else {}),
            **event.metadata,
        },
    )
    return Consumed(event, handler, endpoint, subject)
