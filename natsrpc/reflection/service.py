"""The server side of reflection: answers about the schemas a server serves.

A Server adds one reflection service next to the services it serves. It has one
endpoint per reflected service, on ``<prefix><subject group>.$reflection``, so a
question about a service always reaches an instance that serves it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import ClassVar

from google.protobuf import descriptor_pool
from google.protobuf.descriptor import FieldDescriptor, FileDescriptor

from natsrpc.reflection import subjects
from natsrpc.reflection.v1 import reflection_natsrpc
from natsrpc.reflection.v1.reflection_pb2 import (
    ErrorResponse,
    ExtensionNumberResponse,
    FileDescriptorResponse,
    ListServiceResponse,
    ServerReflectionRequest,
    ServerReflectionResponse,
    ServiceResponse,
)
from natsrpc.server.context import Context
from natsrpc.service_api import schema
from natsrpc.spec import MethodSpec, ServiceSpec
from natsrpc.status import StatusCode

REFLECTION_SPEC = reflection_natsrpc.SERVER_REFLECTION_SERVICE
REFLECTION_METHOD = reflection_natsrpc.SERVER_REFLECTION_SERVER_REFLECTION_INFO


class Reflection(reflection_natsrpc.ServerReflection):
    """Answers reflection requests from the files of a fixed set of services."""

    def __init__(self, specs: Iterable[ServiceSpec]) -> None:
        specs = list(specs)
        self._service_names = sorted({spec.full_name for spec in specs})
        files = schema.closure(schema.service_file(spec) for spec in specs)
        # Only what the served services need is visible: other schemas the process
        # happens to have loaded are not this server's business to publish.
        self._files = {file.name: file for file in files}
        self._pool = descriptor_pool.Default()

    async def server_reflection_info(
        self, request: ServerReflectionRequest, context: Context
    ) -> ServerReflectionResponse:
        """Answers one reflection request."""
        response = ServerReflectionResponse(valid_host=request.host, original_request=request)
        try:
            self._answer(request, response)
        except KeyError as missing:
            response.error_response.CopyFrom(
                ErrorResponse(
                    error_code=StatusCode.NOT_FOUND.value, error_message=str(missing.args[0])
                )
            )
        return response

    def _answer(self, request: ServerReflectionRequest, response: ServerReflectionResponse) -> None:
        kind = request.WhichOneof("message_request")
        if kind == "list_services":
            response.list_services_response.CopyFrom(
                ListServiceResponse(
                    service=[ServiceResponse(name=name) for name in self._service_names]
                )
            )
        elif kind == "file_by_filename":
            self._files_response(response, self._known(request.file_by_filename))
        elif kind == "file_containing_symbol":
            symbol = request.file_containing_symbol
            file = self._file_containing(symbol)
            self._files_response(response, self._known(file.name, symbol))
        elif kind == "file_containing_extension":
            wanted = request.file_containing_extension
            extension = self._extension(wanted.containing_type, wanted.extension_number)
            self._files_response(response, self._known(self._file_of(extension).name))
        elif kind == "all_extension_numbers_of_type":
            name = request.all_extension_numbers_of_type
            numbers = sorted(e.number for e in self._extensions_of(name))
            response.all_extension_numbers_response.CopyFrom(
                ExtensionNumberResponse(base_type_name=name, extension_number=numbers)
            )
        else:
            response.error_response.CopyFrom(
                ErrorResponse(
                    error_code=StatusCode.INVALID_ARGUMENT.value,
                    error_message="the request asks nothing (no message_request field set)",
                )
            )

    def _file_containing(self, symbol: str) -> FileDescriptor:
        try:
            return self._pool.FindFileContainingSymbol(symbol)
        except KeyError:
            pass
        # protobuf's upb backend does not look methods up by symbol.
        try:
            return self._pool.FindMethodByName(symbol).containing_service.file
        except KeyError:
            raise KeyError(f"symbol not found: {symbol}") from None

    def _known(self, filename: str, symbol: str | None = None) -> FileDescriptor:
        file = self._files.get(filename)
        if file is None:
            raise KeyError(
                f"symbol not found: {symbol}" if symbol else f"file not found: {filename}"
            )
        return file

    def _extension(self, containing_type: str, number: int) -> FieldDescriptor:
        for extension in self._extensions_of(containing_type):
            if extension.number == number:
                return extension
        raise KeyError(f"extension {number} of {containing_type} not found")

    def _extensions_of(self, containing_type: str) -> list[FieldDescriptor]:
        try:
            message = self._pool.FindMessageTypeByName(containing_type)
        except KeyError:
            raise KeyError(f"type not found: {containing_type}") from None
        found = self._pool.FindAllExtensions(message)
        return [e for e in found if self._file_of(e).name in self._files]

    def _file_of(self, extension: FieldDescriptor) -> FileDescriptor:
        return self._pool.FindFileContainingSymbol(extension.full_name)

    def _files_response(self, response: ServerReflectionResponse, file: FileDescriptor) -> None:
        # The asked-for file first, as gRPC servers answer, then all its imports:
        # clients that got only direct imports could not build a pool.
        files = [file, *(f for f in schema.closure([file]) if f is not file)]
        response.file_descriptor_response.CopyFrom(
            FileDescriptorResponse(file_descriptor_proto=[f.serialized_pb for f in files])
        )


def reflection_service_for(served: Sequence[tuple[ServiceSpec, str]]) -> Reflection | None:
    """The reflection service for ``served`` (spec, subject prefix) pairs; None if none.

    The result is ready for ``Server.add_service``, without options.

    Its class carries a spec with one endpoint per reflected service, named after
    its ADR-32 name and subscribed on that service's reflection subject (prefix included), so
    add_service needs no subject prefix. Every instance answers in the default
    queue group: the subject alone decides which service's instances answer.
    """
    reflected = [
        (spec, prefix)
        for spec, prefix in served
        if spec.methods and spec.full_name != REFLECTION_SPEC.full_name
    ]
    if not reflected:
        return None
    methods: list[MethodSpec[ServerReflectionRequest, ServerReflectionResponse]] = []
    seen: set[str] = set()
    for spec, prefix in reflected:
        subject = subjects.reflection_subject(subjects.subject_group(spec), prefix)
        if subject in seen:
            continue
        seen.add(subject)
        methods.append(
            dataclasses.replace(
                REFLECTION_METHOD,
                # ADR-32 endpoint names allow no dots; the service's own name has none.
                name=spec.name,
                # add_service prefixes nothing here: the subject already holds it.
                subject=subject,
                metadata={"rpc.reflects": spec.full_name},
            )
        )
    reflection_spec = dataclasses.replace(REFLECTION_SPEC, methods=tuple(methods))

    class ServedReflection(Reflection):
        _natsrpc_service: ClassVar[ServiceSpec] = reflection_spec

    return ServedReflection(spec for spec, _ in reflected)
