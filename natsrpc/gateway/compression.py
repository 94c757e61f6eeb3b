"""Compressed Connect requests: gzip undone within the request size limit, identity as is.

Connect clients may compress what they send (connectrpc's Python client gzips
by default). Responses go uncompressed, which every client accepts.
"""

from __future__ import annotations

import zlib

from natsrpc.status import RpcError, StatusCode

ACCEPTED = "gzip, identity"
"""What the gateway takes, for Connect's Accept-Encoding answer to anything else."""
_IDENTITY = (None, "", "identity")


def decompress(data: bytes, name: str | None, limit: int) -> bytes:
    """``data`` as sent with encoding ``name``, uncompressed; at most ``limit`` bytes.

    The limit bounds the output, not the input, so a small body that inflates
    past it (a compression bomb) is refused before it is ever held whole.
    """
    if name in _IDENTITY:
        return data
    assert name is not None
    if name.strip().lower() != "gzip":
        raise RpcError(
            StatusCode.UNIMPLEMENTED,
            f"compression {name!r} is not supported; the gateway takes {ACCEPTED}",
        )
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        plain = inflater.decompress(data, limit + 1)
    except zlib.error:
        raise RpcError(StatusCode.INVALID_ARGUMENT, "the request is not valid gzip") from None
    if len(plain) > limit:
        raise RpcError(
            StatusCode.RESOURCE_EXHAUSTED,
            f"the request inflates past the gateway's limit of {limit} bytes",
        )
    if not inflater.eof or inflater.unused_data:
        raise RpcError(StatusCode.INVALID_ARGUMENT, "the request is not valid gzip")
    return plain
