"""Calling services: the client base, call objects, client interceptors and retries."""

from natsrpc.client.base import Client, Encoding
from natsrpc.client.call import Call
from natsrpc.client.config import DEFAULT_TIMEOUT, NO_TIMEOUT, CallConfig
from natsrpc.client.interceptors import CallDetails, ClientInterceptor
from natsrpc.client.retry import RetryPolicy
from natsrpc.client.stream_calls import BidiStreamCall, ClientStreamCall, ServerStreamCall
from natsrpc.client.unary import UnaryCall

__all__ = [
    "DEFAULT_TIMEOUT",
    "NO_TIMEOUT",
    "BidiStreamCall",
    "Call",
    "CallConfig",
    "CallDetails",
    "Client",
    "ClientInterceptor",
    "ClientStreamCall",
    "Encoding",
    "RetryPolicy",
    "ServerStreamCall",
    "UnaryCall",
]
