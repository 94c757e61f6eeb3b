"""Serving generated service classes on NATS: registration, start and graceful stop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, ClassVar, Protocol

from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription

from natsrpc.protocol.frames import DEFAULT_HEARTBEAT, DEFAULT_WINDOW
from natsrpc.server.call_host import CallHost
from natsrpc.server.cancellation import CancelNotices
from natsrpc.server.endpoint import MethodEndpoint
from natsrpc.server.interceptors import (
    PROCESS_INTERCEPTORS,
    ServerInterceptor,
    intercept_handler,
)
from natsrpc.service_api.responder import DEFAULT_QUEUE_GROUP, Endpoint, MicroService
from natsrpc.service_api.schema import schema_metadata
from natsrpc.spec import ServiceSpec
from natsrpc.transport.connection import drain, flush
from natsrpc.transport.tasks import finish_within
from natsrpc.transport.wire import subscribe

logger = logging.getLogger("natsrpc.server")


class Service:
    """Base of every generated server class; subclass it and override the methods."""

    _natsrpc_service: ClassVar[ServiceSpec]


class Component(Protocol):
    """Something a server runs beside its RPC endpoints, such as event handlers.

    A handler class whose ``_natsrpc_service`` is not a ``ServiceSpec`` makes
    one with ``type(impl)._natsrpc_component(server, impl, **options)``; its
    ``_natsrpc_reflected()``, when it has one, is the ``ServiceSpec`` that
    reflection describes it by.
    """

    @property
    def micro_service(self) -> MicroService | None: ...

    async def start(self) -> None: ...

    async def stop(self, grace_period: float) -> None: ...


ReflectionFactory = Callable[[Sequence[tuple[ServiceSpec, str]]], object | None]
"""Makes the reflection service for (spec, subject prefix) pairs; None when there is none."""

_reflection_factory: ReflectionFactory | None = None


HealthFactory = Callable[["Server", Sequence[tuple[ServiceSpec, str]]], Component | None]
"""Makes the health component of a server for (spec, subject prefix) pairs; None when none."""

_health_factory: HealthFactory | None = None


def provide_health(factory: HealthFactory) -> None:
    """Install the health component every server runs; natsrpc.health does."""
    global _health_factory
    _health_factory = factory


def provide_reflection(factory: ReflectionFactory) -> None:
    """Install what ``Server(reflection=True)`` adds at start(); natsrpc.reflection does.

    The reflection service is generated code built on ``natsrpc.stubs``, a layer
    above this one, so it is handed down instead of imported.
    """
    global _reflection_factory
    _reflection_factory = factory


class Server:
    """Serves one or more services on a connected ``nats.aio.client.Client``.

    Each endpoint runs up to ``max_concurrency`` handlers at once and queues up to
    ``max_pending`` more; a request beyond both fails at once with
    RESOURCE_EXHAUSTED, so memory stays bounded under any load.

    ``interceptors`` wrap every handler of every service, the first outermost
    (see ``natsrpc.ServerInterceptor``).

    ``max_message_bytes`` refuses larger requests (and stream messages) with
    RESOURCE_EXHAUSTED before they are parsed or queued; without it only the NATS
    server's ``max_payload`` limits them.

    ``reflection`` (on by default) answers schema questions about the served
    services on ``<prefix><subject group>.$reflection`` (docs/protocol.md,
    "Reflection"), which ``natsrpc describe`` and ``natsrpc call`` use.

    ``subject_prefix`` (``"prod."``) goes before the subjects of every service
    added, unless ``add_service`` gives one of its own; clients take the same.
    """

    def __init__(
        self,
        nc: NATS,
        *,
        max_concurrency: int = 256,
        max_pending: int = 1024,
        grace_period: float = 30.0,
        stream_window: int = DEFAULT_WINDOW,
        heartbeat: float = DEFAULT_HEARTBEAT,
        interceptors: Sequence[ServerInterceptor] = (),
        max_message_bytes: int | None = None,
        reflection: bool = True,
        subject_prefix: str = "",
    ) -> None:
        if max_message_bytes is not None and max_message_bytes < 0:
            raise ValueError("max_message_bytes must not be negative")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if max_pending < 0:
            raise ValueError("max_pending must not be negative")
        if stream_window < 1:
            raise ValueError("stream_window must be at least 1")
        if not heartbeat > 0:
            raise ValueError("heartbeat must be positive")
        self._host = CallHost(nc, stream_window, heartbeat, max_message_bytes)
        self._interceptors = (*PROCESS_INTERCEPTORS, *interceptors)
        # The default of every add_service: one deployment prefix for a whole server.
        self._subject_prefix = subject_prefix
        self._max_concurrency = max_concurrency
        self._max_pending = max_pending
        self.grace_period = grace_period
        self._endpoints: list[MethodEndpoint] = []
        self._services: list[MicroService] = []
        self._components: list[Component] = []
        self._listening: list[Subscription] = []
        """Subscriptions that outlive the method endpoints' drain: cancel notices, ``$SRV``."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = False
        self._reflection = reflection
        self._reflected: list[tuple[ServiceSpec, str]] = []

    @property
    def nc(self) -> NATS:
        """The connection the server serves on."""
        return self._host.nc

    @property
    def interceptors(self) -> tuple[ServerInterceptor, ...]:
        return self._interceptors

    @property
    def max_concurrency(self) -> int:
        return self._max_concurrency

    @property
    def started(self) -> bool:
        return self._started

    @property
    def services(self) -> tuple[MicroService, ...]:
        """The ADR-32 identities of the services added so far (ids, stats)."""
        return tuple(self._services)

    def add_service(
        self,
        impl: object,
        *,
        subject_prefix: str | None = None,
        queue_group: str | None = None,
        max_concurrency: int | None = None,
        max_pending: int | None = None,
        **options: Any,
    ) -> MicroService | None:
        """Serve ``impl``, an instance of a generated service class, from the next start().

        Event handler classes take their own options (``consumer=...``); see
        docs/events.md.
        """
        if self._started:
            raise RuntimeError("add services before start()")
        if subject_prefix is None and self._subject_prefix:
            subject_prefix = self._subject_prefix
        spec = getattr(type(impl), "_natsrpc_service", None)
        if not isinstance(spec, ServiceSpec):
            make_component = getattr(type(impl), "_natsrpc_component", None)
            if make_component is None:
                raise TypeError(
                    f"{type(impl).__name__} is not a generated natsrpc service class; "
                    "subclass the class protoc-gen-natsrpc wrote for your service"
                )
            # Passed on only when given, so a component refuses what it cannot honour.
            given = {
                "subject_prefix": subject_prefix,
                "queue_group": queue_group,
                "max_concurrency": max_concurrency,
                "max_pending": max_pending,
            }
            options.update({key: value for key, value in given.items() if value is not None})
            component: Component = make_component(self, impl, **options)
            self._components.append(component)
            reflected = getattr(type(impl), "_natsrpc_reflected", None)
            if reflected is not None:
                self._reflected.append((reflected(), subject_prefix or ""))
            if component.micro_service is not None:
                self._services.append(component.micro_service)
            return component.micro_service
        if options:
            raise TypeError(f"unexpected options for an RPC service: {', '.join(options)}")
        prefix = subject_prefix or ""
        group = queue_group or spec.queue_group or DEFAULT_QUEUE_GROUP
        schema = schema_metadata(spec)
        self._reflected.append((spec, prefix))
        endpoints = []
        for method in spec.methods:
            endpoint = Endpoint(
                name=method.name,
                subject=prefix + method.subject,
                queue_group=group,
                metadata={
                    "rpc.method": method.path,
                    "rpc.request_type": method.request_type.DESCRIPTOR.full_name,
                    "rpc.response_type": method.response_type.DESCRIPTOR.full_name,
                    "rpc.kind": method.kind.value,
                    **schema,
                    **method.metadata,
                },
            )
            endpoints.append(endpoint)
            handler = getattr(impl, method.attribute)
            if self._interceptors:
                # Wrapped once here, so serving a call costs nothing extra without them.
                handler = intercept_handler(self._interceptors, method, handler)
            self._endpoints.append(
                MethodEndpoint(
                    method,
                    handler,
                    endpoint,
                    max_concurrency or self._max_concurrency,
                    self._max_pending if max_pending is None else max_pending,
                )
            )
        service = MicroService(
            name=spec.name,
            version=spec.version,
            description=spec.description,
            metadata=spec.metadata,
            endpoints=endpoints,
        )
        self._services.append(service)
        return service

    async def start(self) -> None:
        if self._started:
            raise RuntimeError("server already started")
        if not self._endpoints and not self._components:
            raise RuntimeError("no services added")
        self._add_reflection()
        self._started = True
        nc = self._host.nc
        for ep in self._endpoints:
            ep.subscription = await subscribe(
                nc,
                ep.endpoint.subject,
                ep.dispatcher(self._host, self._tasks),
                queue=ep.endpoint.queue_group,
            )
        self._listening = await CancelNotices(
            self._host.supervisor.cancellation, self._endpoints
        ).subscribe(nc)
        for component in self._components:
            await component.start()
        for service in self._services:
            self._listening.extend(await service.subscribe_discovery(nc))
        # One round trip so that every subscription is live before start() returns.
        await flush(nc)

    def _add_reflection(self) -> None:
        reflected, self._reflected = self._reflected, []
        health = _health_factory(self, reflected) if _health_factory is not None else None
        if health is not None:
            self._components.append(health)
        impl = None
        if self._reflection and _reflection_factory is not None:
            impl = _reflection_factory(reflected)
        if impl is not None:
            self.add_service(impl)
        self._reflected.clear()  # a restart must not add it twice

    async def stop(self, grace_period: float | None = None) -> None:
        """Stop taking requests, finish the ones already taken, then drain.

        Handlers still running after ``grace_period`` seconds are cancelled and
        their callers get CANCELLED.
        """
        if not self._started:
            return
        self._started = False
        host = self._host
        grace = self.grace_period if grace_period is None else grace_period
        # Draining unsubscribes first, so queue-group peers take new requests while
        # everything this instance already received still runs to completion.
        await drain(host.nc, [ep.subscription for ep in self._endpoints if ep.subscription])
        await asyncio.gather(
            self._finish_calls(grace), *(component.stop(grace) for component in self._components)
        )
        for ep in self._endpoints:
            await ep.refuse_backlog(host)
        for sub in self._listening:
            await sub.unsubscribe()
        self._listening.clear()
        host.supervisor.close()
        await flush(host.nc)

    async def _finish_calls(self, grace: float) -> None:
        await finish_within(self._tasks, grace)

    async def __aenter__(self) -> Server:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
