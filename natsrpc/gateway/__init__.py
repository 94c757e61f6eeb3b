"""The natsrpc gateway: every natsrpc service over the Connect protocol and gRPC (docs/gateway.md).

Needs the ``gateway`` extra (``pip install "natsrpc[gateway]"``): uvicorn for
HTTP, grpcio for gRPC.
"""

from natsrpc.gateway.calls import Limits
from natsrpc.gateway.cors import CorsPolicy
from natsrpc.gateway.directory import ServiceDirectory, ServiceFilter
from natsrpc.gateway.gateway import Gateway
from natsrpc.gateway.headers import DEFAULT_FORWARDED, HeaderPolicy
from natsrpc.gateway.routes import RawMessage, Route

__all__ = [
    "DEFAULT_FORWARDED",
    "CorsPolicy",
    "Gateway",
    "HeaderPolicy",
    "Limits",
    "RawMessage",
    "Route",
    "ServiceDirectory",
    "ServiceFilter",
]
