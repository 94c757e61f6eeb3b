"""protoc plugin that writes natsrpc client and server classes beside protoc's ``_pb2`` modules."""

__version__ = "0.1.0"
"""Version printed in generated headers and required from the runtime; shared with ``natsrpc``."""
