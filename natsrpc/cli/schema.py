"""Where the CLI gets schemas: reflection, a .proto compiled on the fly, or a protoset.

Whatever the source, the result is a descriptor pool; methods found in it become
``MethodSpec`` objects with message classes built at run time, so calls go
through natsrpc's own client code like any generated client's.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from google.protobuf import descriptor_pb2, message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.descriptor_pool import DescriptorPool
from nats.aio.client import Client as NATS

import natsrpc
from natsrpc import contract, options_pb2
from natsrpc.cli.output import CliError
from natsrpc.reflection.client import ReflectionClient, build_pool
from natsrpc.spec import MethodKind, MethodSpec
from natsrpc.status import RpcError, StatusCode


@dataclass(frozen=True)
class LocalSchema:
    """``--proto FILE -I DIR`` or ``--protoset FILE``: schemas read from disk, no reflection."""

    protos: tuple[str, ...] = ()
    includes: tuple[str, ...] = ()
    protosets: tuple[str, ...] = ()

    @property
    def given(self) -> bool:
        return bool(self.protos or self.protosets)

    def pool(self) -> DescriptorPool:
        try:
            return build_pool(self.files())
        except (ValueError, TypeError) as error:
            raise CliError(f"the schema files do not form a complete set: {error}") from None

    def files(self) -> list[descriptor_pb2.FileDescriptorProto]:
        """Every file given or compiled, imports included, each once."""
        files: list[descriptor_pb2.FileDescriptorProto] = []
        for path in self.protosets:
            files.extend(_read_protoset(Path(path)))
        if self.protos:
            files.extend(_compile(self.protos, self.includes))
        return list({file.name: file for file in files}.values())


def _read_protoset(path: Path) -> list[descriptor_pb2.FileDescriptorProto]:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CliError(f"cannot read protoset {path}: {error.strerror}") from None
    try:
        return list(descriptor_pb2.FileDescriptorSet.FromString(data).file)
    except Exception:
        raise CliError(
            f"{path} is not a FileDescriptorSet (make one with protoc "
            "--descriptor_set_out=FILE --include_imports)"
        ) from None


def _compile(protos: tuple[str, ...], includes: tuple[str, ...]) -> list[Any]:
    if importlib.util.find_spec("grpc_tools") is None:
        raise CliError(
            "--proto needs grpcio-tools to compile .proto files: pip install grpcio-tools "
            "(or pass --protoset FILE made with protoc --descriptor_set_out --include_imports)"
        )
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    # natsrpc/options.proto, for services that use natsrpc's options.
    natsrpc_root = Path(natsrpc.__file__).resolve().parent.parent
    include_dirs = [*includes] or [str(Path(protos[0]).parent or ".")]
    with tempfile.TemporaryDirectory(prefix="natsrpc-cli-") as tmp:
        out = Path(tmp) / "set.pb"
        command = [
            sys.executable, "-m", "grpc_tools.protoc",
            *(f"-I{d}" for d in include_dirs), f"-I{well_known}", f"-I{natsrpc_root}",
            "--include_imports", f"--descriptor_set_out={out}", *protos,
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            # protoc's logging library announces itself before the real messages.
            messages = [
                line
                for line in result.stderr.splitlines()
                if not line.startswith(("WARNING: All log", "W0000"))
            ]
            raise CliError(f"could not compile {' '.join(protos)}:\n" + "\n".join(messages))
        return list(descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file)


async def remote_pool(nc: NATS, symbol: str, prefix: str) -> DescriptorPool:
    """The schema of ``symbol`` from a running service's reflection."""
    # A schema that cannot be found is the caller's mistake (a misspelt name, nothing
    # running), not a status of the call it was going to make: exit status 1.
    try:
        files = await ReflectionClient(nc, prefix=prefix).files_containing(symbol)
    except RpcError as error:
        if error.code is StatusCode.NOT_FOUND:
            hint = "; for a server with reflection off, pass --proto or --protoset"
            raise CliError(error.message + hint) from None
        raise CliError(
            f"cannot read the schema of {symbol} by reflection: {error.code.name}: {error.message}"
        ) from None
    try:
        return build_pool(files)
    except (ValueError, TypeError) as error:
        raise CliError(f"the reflection answer for {symbol} is incomplete: {error}") from None


async def load_method(
    nc: NATS, method_name: str, local: LocalSchema, prefix: str
) -> tuple[DescriptorPool, MethodSpec[Any, Any]]:
    """``pkg.Service/Method`` found in the local schema files, or else by reflection."""
    service_name, method_short = split_method(method_name)
    pool = local.pool() if local.given else await remote_pool(nc, service_name, prefix)
    return pool, method_spec(find_method(pool, service_name, method_short))


def split_method(name: str) -> tuple[str, str]:
    """``pkg.Service/Method`` or ``pkg.Service.Method`` -> (``pkg.Service``, ``Method``)."""
    name = name.lstrip("/")
    service, slash, method = name.partition("/")
    if not slash:
        service, _, method = name.rpartition(".")
    if not service or not method:
        raise click.BadParameter(
            f"{name!r} is not a method name: write pkg.Service/Method", param_hint="METHOD"
        )
    return service, method


def find_method(pool: DescriptorPool, service_name: str, method_name: str) -> MethodDescriptor:
    try:
        service = pool.FindServiceByName(service_name)
    except KeyError:
        raise CliError(f"service {service_name} not found in the schema") from None
    method = service.methods_by_name.get(method_name)
    if method is None:
        known = ", ".join(m.name for m in service.methods) or "none"
        raise CliError(f"{service_name} has no method {method_name} (it has: {known})")
    return method


def subject_group(service: ServiceDescriptor) -> str:
    """The service's subject group, honouring ``(natsrpc.service).subject_group``."""
    options = natsrpc_options(service, options_pb2.service)
    return contract.subject_group(service.full_name, str(getattr(options, "subject_group", "")))


def method_spec(method: MethodDescriptor) -> MethodSpec[Any, Any]:
    """A MethodSpec with message classes made at run time from the pool's descriptors."""
    options = natsrpc_options(method, options_pb2.method)
    service = method.containing_service
    subject = contract.method_subject(
        subject_group(service), method.name, str(getattr(options, "subject", ""))
    )
    return MethodSpec(
        name=method.name,
        path=f"/{service.full_name}/{method.name}",
        subject=subject,
        attribute=method.name,
        kind=MethodKind.of(method.client_streaming, method.server_streaming),
        request_type=message_factory.GetMessageClass(method.input_type),
        response_type=message_factory.GetMessageClass(method.output_type),
    )


def natsrpc_options(descriptor: Any, extension: Any) -> Any:
    """natsrpc's option message on a service or method descriptor, or None when unset."""
    options = descriptor.GetOptions()
    return options.Extensions[extension] if options.HasExtension(extension) else None
