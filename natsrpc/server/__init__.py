"""Serving services: the server, handler contexts, server interceptors and the lifecycle."""

from natsrpc.server.context import Context
from natsrpc.server.interceptors import ServerInterceptor
from natsrpc.server.lifecycle import run, serve_until_signal
from natsrpc.server.server import Component, Server, Service
from natsrpc.server.stream import StreamContext

__all__ = [
    "Component",
    "Context",
    "Server",
    "ServerInterceptor",
    "Service",
    "StreamContext",
    "run",
    "serve_until_signal",
]
