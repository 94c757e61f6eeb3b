"""A service's schema as ADR-32 metadata: its proto files, every import, and a fingerprint.

Everything is read from the generated ``_pb2`` modules, which register their
files in protobuf's default descriptor pool when a generated natsrpc module
imports them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from google.protobuf import descriptor_pool
from google.protobuf.descriptor import FileDescriptor

from natsrpc.spec import ServiceSpec

FINGERPRINT_KEY = "rpc.schema"
"""Endpoint metadata key whose value identifies the service's schema (its file set)."""
FINGERPRINT_HEX_DIGITS = 32
"""128 bits of SHA-256: plenty to tell schemas apart, short enough to read."""


def service_file(spec: ServiceSpec) -> FileDescriptor:
    """The proto file that declares ``spec``'s service.

    A method's message types may come from imported files (google.protobuf.Empty),
    so the service itself is looked up, by name, where its ``_pb2`` registered it.
    """
    pool = descriptor_pool.Default()
    try:
        return pool.FindServiceByName(spec.full_name).file
    except KeyError:
        if not spec.methods:
            raise
        # A service built by hand from messages alone: its messages' file is the best we know.
        file: FileDescriptor = spec.methods[0].request_type.DESCRIPTOR.file
        return file


def closure(files: Iterable[FileDescriptor]) -> list[FileDescriptor]:
    """``files`` and everything they import, directly or not, each once.

    Imports come before the files that import them, so a descriptor pool can be
    built by adding the list in order.
    """
    ordered: list[FileDescriptor] = []
    seen: set[str] = set()

    def visit(file: FileDescriptor) -> None:
        if file.name in seen:
            return
        seen.add(file.name)
        for dependency in file.dependencies:
            visit(dependency)
        ordered.append(file)

    for file in files:
        visit(file)
    return ordered


def fingerprint(spec: ServiceSpec) -> str:
    """A short hash of the service's whole file set; equal hashes mean equal schemas.

    Tools cache descriptors under it: a reflection answer for a fingerprint they
    have seen before needs no new request.
    """
    serialized = sorted(file.serialized_pb for file in closure([service_file(spec)]))
    digest = hashlib.sha256()
    for blob in serialized:
        # Length-prefixed, so that no two different sets hash the same bytes.
        digest.update(len(blob).to_bytes(8, "big"))
        digest.update(blob)
    return digest.hexdigest()[:FINGERPRINT_HEX_DIGITS]


def schema_metadata(spec: ServiceSpec) -> dict[str, str]:
    """``{"rpc.schema": fingerprint}`` for endpoint metadata; empty if the schema is unknown."""
    try:
        return {FINGERPRINT_KEY: fingerprint(spec)}
    except (KeyError, IndexError):
        # A spec built by hand for a service no _pb2 module registered.
        return {}
