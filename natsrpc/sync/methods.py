"""The methods of a generated sync client: typed callables, like grpcio's multi-callables.

A generated ``GreeterSyncClient`` declares ``say_hello = UnaryMethod(GREETER_SAY_HELLO)``;
on an instance, ``client.say_hello`` is that method bound to the client, so grpcio call
sites keep working: ``stub.SayHello(request, timeout=2)``,
``stub.SayHello.with_call(request)`` and ``stub.SayHello.future(request)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from natsrpc.spec import MethodSpec, RequestT, ResponseT
from natsrpc.sync.calls import StreamCall, UnaryCall

if TYPE_CHECKING:
    from natsrpc.metadata import MetadataLike
    from natsrpc.sync.client import SyncClient

_Method_ = TypeVar("_Method_", bound="_Method[Any, Any]")


class _Method(Generic[RequestT, ResponseT]):
    __slots__ = ("_client", "_spec")

    def __init__(
        self, spec: MethodSpec[RequestT, ResponseT], client: SyncClient | None = None
    ) -> None:
        self._spec = spec
        self._client = client

    def __get__(self: _Method_, instance: SyncClient | None, owner: type | None = None) -> _Method_:
        if instance is None:
            return self
        return type(self)(self._spec, instance)

    @property
    def method(self) -> MethodSpec[RequestT, ResponseT]:
        """The method's generated description: name, path, subject, message types."""
        return self._spec

    def _bound(self) -> SyncClient:
        if self._client is None:
            raise TypeError(
                f"{self._spec.path} is called on a client instance, not on its class: "
                "GreeterSyncClient(connection).say_hello(request)"
            )
        return self._client

    def __repr__(self) -> str:
        kind = type(self).__name__
        bound = "" if self._client is None else f" of {type(self._client).__name__}"
        return f"<natsrpc.sync.{kind} {self._spec.path}{bound}>"


class UnaryMethod(_Method[RequestT, ResponseT]):
    """A unary method: ``method(request)`` returns the response."""

    __slots__ = ()

    def __call__(
        self,
        request: RequestT,
        *,
        timeout: float | None = None,
        metadata: MetadataLike | None = None,
    ) -> ResponseT:
        """Make the call and wait for the response; raises ``RpcError`` if it fails."""
        return self.future(request, timeout=timeout, metadata=metadata).result()

    def with_call(
        self,
        request: RequestT,
        *,
        timeout: float | None = None,
        metadata: MetadataLike | None = None,
    ) -> tuple[ResponseT, UnaryCall[ResponseT]]:
        """The response and the finished call, for its trailing metadata."""
        call = self.future(request, timeout=timeout, metadata=metadata)
        return call.result(), call

    def future(
        self,
        request: RequestT,
        *,
        timeout: float | None = None,
        metadata: MetadataLike | None = None,
    ) -> UnaryCall[ResponseT]:
        """Start the call and return at once; ``result()`` waits for the response."""
        return self._bound()._start_unary(self._spec, request, timeout, metadata)


class ClientStreamMethod(_Method[RequestT, ResponseT]):
    """A client-streaming method: ``method(requests)`` sends them all, returns the response.

    ``requests`` may be any iterable, a generator that blocks included: it is
    read in a thread of its own, no faster than the server takes the requests.
    """

    __slots__ = ()

    def __call__(
        self,
        requests: Iterable[RequestT],
        *,
        timeout: float | None = None,
        metadata: MetadataLike | None = None,
    ) -> ResponseT:
        """Make the call and wait for the response; raises ``RpcError`` if it fails."""
        return self.future(requests, timeout=timeout, metadata=metadata).result()

    def with_call(
        self,
        requests: Iterable[RequestT],
        *,
        timeout: float | None = None,
        metadata: MetadataLike | None = None,
    ) -> tuple[ResponseT, UnaryCall[ResponseT]]:
        """The response and the finished call, for its metadata."""
        call = self.future(requests, timeout=timeout, metadata=metadata)
        return call.result(), call

    def future(
        self,
        requests: Iterable[RequestT],
        *,
        timeout: float | None = None,
        metadata: MetadataLike | None = None,
    ) -> UnaryCall[ResponseT]:
        """Start the call and return at once; ``result()`` waits for the response."""
        return self._bound()._start_unary(self._spec, requests, timeout, metadata)


class ServerStreamMethod(_Method[RequestT, ResponseT]):
    """A server-streaming method: ``method(request)`` returns an iterator of responses."""

    __slots__ = ()

    def __call__(
        self,
        request: RequestT,
        *,
        timeout: float | None = None,
        metadata: MetadataLike | None = None,
    ) -> StreamCall[ResponseT]:
        """Start the call; iterate the result for the responses, ``cancel()`` to stop early."""
        return self._bound()._start_stream(self._spec, request, timeout, metadata)


class BidiStreamMethod(_Method[RequestT, ResponseT]):
    """A bidirectional method: ``method(requests)`` returns an iterator of responses.

    ``requests`` is read in a thread of its own while the responses are
    iterated, so a generator may wait for responses before yielding more.
    """

    __slots__ = ()

    def __call__(
        self,
        requests: Iterable[RequestT],
        *,
        timeout: float | None = None,
        metadata: MetadataLike | None = None,
    ) -> StreamCall[ResponseT]:
        """Start the call; iterate the result for the responses, ``cancel()`` to stop early."""
        return self._bound()._start_stream(self._spec, requests, timeout, metadata)
