"""Stage 0 and 3: wire parameters, parser and renderer into one request -> response step."""

from __future__ import annotations

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2

from . import asyncapi
from .errors import GenerationError
from .parameters import ParameterError, parse_parameters
from .parser import parse_request
from .render import render_file

_MINIMUM_EDITION = descriptor_pb2.EDITION_PROTO2
# Only services and methods are read, which no edition so far has changed.
_MAXIMUM_EDITION = descriptor_pb2.EDITION_2023


def generate(request: plugin_pb2.CodeGeneratorRequest) -> plugin_pb2.CodeGeneratorResponse:
    """Never raises: every failure is reported in ``response.error`` for protoc to print."""
    response = plugin_pb2.CodeGeneratorResponse(
        supported_features=(
            plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
            | plugin_pb2.CodeGeneratorResponse.FEATURE_SUPPORTS_EDITIONS
        ),
        minimum_edition=_MINIMUM_EDITION,
        maximum_edition=_MAXIMUM_EDITION,
    )
    try:
        parameters = parse_parameters(request.parameter)
        for file in parse_request(request, parameters):
            response.file.add(name=file.output_path, content=render_file(file))
            if parameters.asyncapi:
                response.file.add(
                    name=asyncapi.output_path(file),
                    content=asyncapi.render_document(file, request.proto_file),
                )
    except (ParameterError, GenerationError) as error:
        del response.file[:]
        response.error = str(error)
    except Exception as error:
        # A bug here must not reach protoc as a traceback it would swallow or garble.
        del response.file[:]
        response.error = (
            f"protoc-gen-natsrpc internal error: {type(error).__name__}: {error} "
            "(set NATSRPC_DUMP=<file> to capture the request for a bug report)"
        )
    return response
