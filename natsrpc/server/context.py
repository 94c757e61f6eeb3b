"""What a handler knows about the call it serves, and how it shapes the reply."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, NoReturn

from google.protobuf.message import Message

from natsrpc.metadata import MetadataLike, MetadataValue, metadata_headers, user_metadata
from natsrpc.spec import MethodSpec
from natsrpc.status import RpcError, StatusCode


class Context:
    """Per-call state handed to every handler as its ``context`` argument."""

    __slots__ = ("_deadline", "_headers", "_metadata", "_response_headers", "method", "subject")

    def __init__(
        self,
        method: MethodSpec[Any, Any],
        subject: str,
        headers: Mapping[str, str] | None,
        deadline: float | None,
    ) -> None:
        self.method = method
        """The method being served."""
        self.subject = subject
        """The NATS subject the request arrived on, prefix included."""
        self._headers = headers
        self._deadline = deadline
        self._metadata: Mapping[str, MetadataValue] | None = None
        self._response_headers: dict[str, str] | None = None

    @property
    def metadata(self) -> Mapping[str, MetadataValue]:
        """The caller's metadata (request headers the protocol does not own)."""
        if self._metadata is None:
            # Built on first use: most handlers never look, and the hot path should not pay.
            self._metadata = MappingProxyType(user_metadata(self._headers))
        return self._metadata

    def time_remaining(self) -> float | None:
        """Seconds until the caller's deadline, or None when the caller sent none."""
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - time.monotonic())

    def set_trailing_metadata(self, metadata: MetadataLike) -> None:
        """Metadata sent with the final reply, on success and on error alike."""
        headers = metadata_headers(metadata)
        if self._response_headers is None:
            self._response_headers = headers
        else:
            self._response_headers.update(headers)

    async def send_initial_metadata(self, metadata: MetadataLike) -> None:
        """Metadata sent ahead of the responses; streaming calls send it at once.

        A unary call has a single reply, so there it travels with the reply,
        merged with the trailing metadata.
        """
        self.set_trailing_metadata(metadata)

    def abort(
        self, code: StatusCode, message: str = "", details: Iterable[Message] = ()
    ) -> NoReturn:
        """End the call now with ``code``; the trailing metadata set so far is sent.

        ``details`` are protobuf messages (or ``Any``s) the caller reads from
        ``error.details``, such as ``google.rpc.BadRequest``.
        """
        if code is StatusCode.OK:
            raise ValueError("abort() needs an error code, not OK")
        raise RpcError(code, message, details=details)
