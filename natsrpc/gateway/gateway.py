"""The gateway as a library: the Connect ASGI application and the gRPC server on one connection.

::

    gateway = Gateway(nc, cors=CorsPolicy(("https://app.example.com",)))
    async with gateway:                      # discovery starts
        grpc_port = await gateway.start_grpc(port=50051)
        await gateway.serve_http(port=8080)  # or mount gateway.asgi in Starlette/FastAPI
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from google.protobuf import descriptor_pb2
from nats.aio.client import Client as NATS

from natsrpc.client.interceptors import ClientInterceptor
from natsrpc.gateway.calls import Caller, Limits
from natsrpc.gateway.connect_app import ConnectApp
from natsrpc.gateway.cors import CorsPolicy
from natsrpc.gateway.directory import DEFAULT_REFRESH_INTERVAL, ServiceDirectory, ServiceFilter
from natsrpc.gateway.grpc_server import GatewayHandler, start_grpc_server
from natsrpc.gateway.headers import HeaderPolicy
from natsrpc.spec import ServiceSpec

GRPC_STOP_GRACE = 5
"""Seconds calls in flight on the gRPC port may take to finish once the gateway stops."""


class Gateway:
    """Every natsrpc service the directory finds, over Connect (``asgi``) and gRPC.

    ``reflection`` finds services by asking running servers (and keeps asking,
    every ``refresh_interval`` seconds); ``files`` (FileDescriptorProtos, e.g. from
    a protoset) and ``services`` (generated modules' ``ServiceSpec``) name them
    without it. ``service_filter`` narrows them down by proto service name.
    ``interceptors`` are natsrpc client interceptors around every call made.
    """

    def __init__(
        self,
        nc: NATS,
        *,
        prefix: str = "",
        reflection: bool = True,
        files: Iterable[descriptor_pb2.FileDescriptorProto] = (),
        services: Iterable[ServiceSpec] = (),
        service_filter: ServiceFilter | None = None,
        refresh_interval: float = DEFAULT_REFRESH_INTERVAL,
        limits: Limits | None = None,
        cors: CorsPolicy | None = None,
        headers: HeaderPolicy | None = None,
        interceptors: Sequence[ClientInterceptor] = (),
    ) -> None:
        headers = headers or HeaderPolicy()
        self.directory = ServiceDirectory(
            nc,
            prefix=prefix,
            reflection=reflection,
            files=files,
            services=services,
            service_filter=service_filter or ServiceFilter(),
            refresh_interval=refresh_interval,
        )
        self.caller = Caller(
            nc, prefix=prefix, limits=limits or Limits(), interceptors=interceptors
        )
        self._headers = headers
        self.asgi = ConnectApp(
            self.directory,
            self.caller,
            cors=cors or CorsPolicy(),
            headers=headers,
            startup=self.start,
            shutdown=self.stop,
        )
        """The Connect protocol as an ASGI application (its lifespan starts and stops discovery)."""
        self._grpc: Any = None
        self._http: list[Any] = []

    async def start(self) -> None:
        """Discover the services, and keep discovering them until ``stop``."""
        await self.directory.start()

    async def start_grpc(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        certificate: Path | None = None,
        private_key: Path | None = None,
        interceptors: Sequence[Any] = (),
    ) -> int:
        """Serve gRPC on ``host:port`` (0: any free port) until ``stop``; returns the port.

        ``interceptors`` are grpcio ``aio.ServerInterceptor``s, which see each call
        before the gateway does (an authentication check, docs/gateway.md).
        """
        handler = GatewayHandler(self.directory, self.caller, self._headers)
        self._grpc, bound = await start_grpc_server(
            handler,
            host=host,
            port=port,
            max_message_bytes=self.caller.limits.max_request_bytes,
            certificate=certificate,
            private_key=private_key,
            interceptors=interceptors,
        )
        return bound

    async def start_http(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        certificate: Path | None = None,
        private_key: Path | None = None,
    ) -> int:
        """Serve the Connect protocol with uvicorn (HTTP/1.1) until ``stop``; returns the port."""
        import uvicorn  # the gateway extra's; only this method needs it

        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP named, or asyncio leaves Nagle on for the accepted connections (it
        # sets TCP_NODELAY only on sockets that say they are TCP): 40 ms per response.
        listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        config = uvicorn.Config(
            self.asgi,
            lifespan="off",
            log_level="warning",
            ssl_certfile=str(certificate) if certificate else None,
            ssl_keyfile=str(private_key) if private_key else None,
            timeout_graceful_shutdown=GRPC_STOP_GRACE,
        )
        server = _quiet_server(config)
        task = asyncio.get_running_loop().create_task(server.serve(sockets=[listener]))
        self._http.append((server, task, listener))
        while not server.started:
            if task.done():
                task.result()  # the reason it could not start
                raise RuntimeError("the HTTP server stopped before it started")
            await asyncio.sleep(0.01)
        return int(listener.getsockname()[1])

    async def serve_http(self, **options: Any) -> None:
        """``start_http`` and wait until the HTTP server stops."""
        await self.start_http(**options)
        await asyncio.gather(*(task for _, task, _ in self._http))

    async def stop(self) -> None:
        """Stop both listeners (calls in flight get ``GRPC_STOP_GRACE`` seconds) and discovery."""
        servers, self._http = self._http, []
        for server, _, _ in servers:
            server.should_exit = True
        for _, task, listener in servers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
            listener.close()
        grpc_server, self._grpc = self._grpc, None
        if grpc_server is not None:
            await grpc_server.stop(GRPC_STOP_GRACE)
        await self.directory.stop()

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()


def _quiet_server(config: Any) -> Any:
    import uvicorn

    class QuietServer(uvicorn.Server):
        """uvicorn without its signal handlers: whoever runs the gateway decides about signals."""

        @contextlib.contextmanager
        def capture_signals(self) -> Any:
            yield

    return QuietServer(config)
