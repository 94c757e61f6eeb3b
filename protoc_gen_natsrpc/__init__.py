"""protoc plugin that writes natsrpc client and server classes beside protoc's ``_pb2`` modules."""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    # Read on first use, so that starting the plugin imports nothing that could fail
    # before it can answer protoc with a readable error.
    if name == "__version__":
        from natsrpc._version import __version__

        return __version__
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
