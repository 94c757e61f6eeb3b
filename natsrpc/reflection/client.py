"""The client side of reflection: fetch a running service's schema and build a pool from it.

::

    files = await ReflectionClient(nc).files_containing("helloworld.Greeter")
    pool = build_pool(files)
    method = pool.FindMethodByName("helloworld.Greeter.SayHello")

A question about a service goes to that service's reflection subject, so one of
its own instances answers. A question about a message names no service: it
goes to every reflection endpoint discovery finds until one knows the symbol.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from google.protobuf import descriptor_pb2, descriptor_pool
from nats.aio.client import Client as NATS

from natsrpc.reflection import subjects
from natsrpc.reflection.v1 import reflection_natsrpc
from natsrpc.reflection.v1.reflection_pb2 import ServerReflectionRequest, ServerReflectionResponse
from natsrpc.service_api import discovery
from natsrpc.status import RpcError, StatusCode

DEFAULT_TIMEOUT = 5.0
_METHOD = reflection_natsrpc.SERVER_REFLECTION_SERVER_REFLECTION_INFO
_SERVICE = reflection_natsrpc.SERVER_REFLECTION_SERVICE


class ReflectionClient:
    """Asks the reflection endpoints of running natsrpc servers.

    ``prefix`` is the deployment's subject prefix (with its trailing dot), as
    given to the servers.
    """

    def __init__(self, nc: NATS, *, prefix: str = "", timeout: float = DEFAULT_TIMEOUT) -> None:
        self._nc = nc
        self._prefix = prefix
        self._client = reflection_natsrpc.ServerReflectionClient(nc, timeout=timeout)
        self._discovered: dict[str, str] | None = None

    async def ask(self, subject: str, request: ServerReflectionRequest) -> ServerReflectionResponse:
        """Send one request to the reflection endpoint on ``subject`` (prefix included)."""
        method = dataclasses.replace(_METHOD, subject=subject)
        return await self._client._unary_unary(method, request, None, None)

    async def endpoints(self) -> dict[str, str]:
        """Every reflected service found by discovery, mapped to its reflection subject."""
        if self._discovered is None:
            found: dict[str, str] = {}
            for instance in await discovery.info(self._nc, _SERVICE.name):
                for endpoint in instance.endpoints:
                    reflects = endpoint.metadata.get("rpc.reflects")
                    if reflects and endpoint.subject.startswith(self._prefix):
                        found.setdefault(reflects, endpoint.subject)
            self._discovered = found
        return self._discovered

    async def list_services(self) -> list[str]:
        """Every service some running server reflects, sorted."""
        return sorted(await self.endpoints())

    async def files_containing(self, symbol: str) -> list[descriptor_pb2.FileDescriptorProto]:
        """The file that defines ``symbol`` and every file it imports.

        ``symbol`` is a service, a method (``pkg.Service.Method``), a message, an
        enum or any other fully qualified proto name.
        """
        request = ServerReflectionRequest(file_containing_symbol=symbol)
        # Cheap guesses first: the symbol as a service, then as a method of one. A
        # guess nobody serves costs one round trip (NATS answers "no responders");
        # only then does discovery gather every reflection endpoint.
        guesses = [
            subjects.reflection_subject(name, self._prefix)
            for name in dict.fromkeys((symbol, symbol.rpartition(".")[0]))
            if name
        ]
        tried: set[str] = set()
        denied: list[str] = []
        for batch in (guesses, None):
            candidates = batch if batch is not None else list((await self.endpoints()).values())
            for subject in candidates:
                if subject in tried:
                    continue
                tried.add(subject)
                # A denied guess says nothing (no such service may exist); a denied
                # discovered endpoint is worth naming.
                files = await self._files_from(subject, request, denied if batch is None else [])
                if files is not None:
                    return files
        message = f"no running service reflects {symbol}"
        if denied:
            message += f" (this user may not ask {', '.join(denied)})"
        raise RpcError(StatusCode.NOT_FOUND, message)

    async def _files_from(
        self, subject: str, request: ServerReflectionRequest, denied: list[str]
    ) -> list[descriptor_pb2.FileDescriptorProto] | None:
        try:
            response = await self.ask(subject, request)
        except RpcError as error:
            if error.code is StatusCode.UNAVAILABLE:
                return None  # nobody serves this subject
            if error.code is StatusCode.PERMISSION_DENIED:
                # A caller may ask only the services it calls: a guessed subject
                # (a message's own name) is not one, but a discovered one may be.
                denied.append(subject)
                return None
            raise
        if response.WhichOneof("message_response") != "file_descriptor_response":
            return None
        return [
            descriptor_pb2.FileDescriptorProto.FromString(blob)
            for blob in response.file_descriptor_response.file_descriptor_proto
        ]


def build_pool(
    files: Iterable[descriptor_pb2.FileDescriptorProto],
) -> descriptor_pool.DescriptorPool:
    """A new descriptor pool holding ``files``, added imports first.

    Raises ValueError naming any imported file the set lacks.
    """
    by_name = {file.name: file for file in files}
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(name: str, importer: str) -> None:
        if name in added:
            return
        file = by_name.get(name)
        if file is None:
            raise ValueError(f"{importer} imports {name}, which the schema does not include")
        added.add(name)
        for dependency in file.dependency:
            add(dependency, name)
        pool.Add(file)

    for name in by_name:
        add(name, name)
    return pool
