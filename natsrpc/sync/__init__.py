"""Calling natsrpc services from synchronous code: threads, web views, scripts, notebooks.

``connect()`` opens a NATS connection whose event loop runs in a background
thread; the generated ``<Service>SyncClient`` classes take it and block the
calling thread for each call, never past the call's deadline::

    import natsrpc.sync

    with natsrpc.sync.connect("nats://127.0.0.1:4222") as connection:
        greeter = greeter_natsrpc.GreeterSyncClient(connection, timeout=2.0)
        reply = greeter.say_hello(HelloRequest(name="Ada"))
        reply, call = greeter.SayHello.with_call(HelloRequest(name="Ada"))
        print(call.trailing_metadata())

Calls from any number of threads share one connection and run concurrently.
Each process needs its own connection: open it after ``os.fork()``.
"""

from natsrpc.sync.calls import StreamCall, UnaryCall
from natsrpc.sync.client import SyncClient
from natsrpc.sync.connection import Connection, connect
from natsrpc.sync.methods import (
    BidiStreamMethod,
    ClientStreamMethod,
    ServerStreamMethod,
    UnaryMethod,
)

__all__ = [
    "BidiStreamMethod",
    "ClientStreamMethod",
    "Connection",
    "ServerStreamMethod",
    "StreamCall",
    "SyncClient",
    "UnaryCall",
    "UnaryMethod",
    "connect",
]
