"""gRPC server reflection on the gateway's gRPC port, so that grpcurl and ``buf curl``
need no .proto file: answered from the proto files of the services the gateway exposes.

Only the exposed services are listed, and only their files (with their imports)
are given out, so an allow- or deny-list hides a service's schema too.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from grpc import aio

from natsrpc.gateway.directory import ServiceDirectory
from natsrpc.reflection.v1.reflection_pb2 import (
    ServerReflectionRequest,
    ServerReflectionResponse,
    ServiceResponse,
)
from natsrpc.status import StatusCode

REFLECTION_SERVICE = "grpc.reflection.v1.ServerReflection"
# v1alpha has the same messages; older grpcurl releases ask for it first.
REFLECTION_PATHS = frozenset(
    f"/{package}.ServerReflection/ServerReflectionInfo"
    for package in ("grpc.reflection.v1", "grpc.reflection.v1alpha")
)


def reflection_handler(directory: ServiceDirectory) -> Any:
    """The bidi handler of ``ServerReflectionInfo``: one answer per question."""

    async def handle(
        requests: AsyncIterable[bytes], context: aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[bytes]:
        async for data in requests:
            try:
                request = ServerReflectionRequest.FromString(data)
            except DecodeError:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "not a reflection request")
            yield answer(directory, request).SerializeToString()

    return grpc.stream_stream_rpc_method_handler(handle)


def answer(
    directory: ServiceDirectory, request: ServerReflectionRequest
) -> ServerReflectionResponse:
    response = ServerReflectionResponse(valid_host=request.host, original_request=request)
    kind = request.WhichOneof("message_request")
    schema = directory.schema
    if kind == "list_services":
        names = [*directory.services(), REFLECTION_SERVICE]
        response.list_services_response.service.extend(ServiceResponse(name=n) for n in names)
    elif kind in ("file_containing_symbol", "file_by_filename"):
        asked = getattr(request, kind)
        name = schema.file_of(asked) if kind == "file_containing_symbol" else asked
        files = schema.with_imports(name) if name else []
        if files:
            response.file_descriptor_response.file_descriptor_proto.extend(
                file.SerializeToString() for file in files
            )
        else:
            response.error_response.error_code = StatusCode.NOT_FOUND
            response.error_response.error_message = f"{asked} is not in an exposed service's schema"
    elif kind == "all_extension_numbers_of_type":
        # Exposed schemas declare no extensions the gateway would know of.
        response.all_extension_numbers_response.base_type_name = (
            request.all_extension_numbers_of_type
        )
    else:
        response.error_response.error_code = StatusCode.UNIMPLEMENTED
        response.error_response.error_message = f"{kind or 'an empty request'} is not supported"
    return response
