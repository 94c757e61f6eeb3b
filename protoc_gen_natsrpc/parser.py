"""Stage 1: read a ``CodeGeneratorRequest`` into the plain model in :mod:`models`."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2

from natsrpc.contract import MethodKind, method_subject, subject_group

from .comments import Comments, one_line, strip_blank_edges
from .errors import GenerationError
from .events import EventSetParser, check_not_event, is_event_set
from .models import File, ImportSection, Method, ModuleImport, Service
from .naming import (
    BASE_CLASS_MEMBERS,
    RESERVED_WORDS,
    NameScope,
    member_name,
    upper_snake_case,
    with_grpc_aliases,
)
from .parameters import ImportStyle, Parameters
from .proto_options import (
    METHOD_OPTION,
    SERVICE_OPTION,
    OptionError,
    check_version,
    read_method_options,
    read_service_options,
)

_VERSION_LINE = re.compile(r"^\s*version:\s*(\S+)\s*$")

# Names the generated module binds itself; import aliases and classes must avoid them.
_MODULE_NAMES = ("annotations", "AsyncIterable", "AsyncIterator", "ClassVar", "Iterable", "natsrpc")

_WELL_KNOWN_PREFIX = "google/protobuf/"

_IDEMPOTENCY = {
    descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS: "NO_SIDE_EFFECTS",
    descriptor_pb2.MethodOptions.IDEMPOTENT: "IDEMPOTENT",
}


def pb2_module_parts(proto_path: str) -> list[str]:
    """Dotted module protoc's Python generator gives a file, split into parts.

    Mirrors protoc: strip ``.proto``, turn ``-`` into ``_`` and ``/`` into ``.``.
    """
    return (_strip_proto(proto_path).replace("-", "_").replace("/", ".") + "_pb2").split(".")


def output_path(proto_path: str) -> str:
    """``foo/bar-baz.proto`` -> ``foo/bar_baz_natsrpc.py``, beside protoc's ``bar_baz_pb2.py``.

    Like protoc, a dot in the file name makes a package: ``my.file.proto`` is
    ``my/file_pb2.py``, so ours is ``my/file_natsrpc.py``.
    """
    return "/".join(pb2_module_parts(proto_path)).removesuffix("_pb2") + "_natsrpc.py"


def _strip_proto(path: str) -> str:
    for suffix in (".protodevel", ".proto"):
        if path.endswith(suffix):
            return path[: -len(suffix)]
    return path


@dataclass(frozen=True)
class _MessageRef:
    proto_path: str
    """File that defines the message."""
    python_name: str
    """Attribute path inside its ``_pb2`` module, e.g. ``Outer.Inner``."""
    descriptor: descriptor_pb2.DescriptorProto


def parse_request(request: plugin_pb2.CodeGeneratorRequest, parameters: Parameters) -> list[File]:
    """Model every file to generate that defines at least one service."""
    files = {f.name: f for f in request.proto_file}
    messages = dict(_index_messages(request.proto_file))
    result = []
    for name in request.file_to_generate:
        proto = files.get(name)
        if proto is None:
            raise GenerationError(f"{name}: protoc sent no descriptor for this file")
        if proto.service:
            result.append(_FileParser(proto, messages, parameters).parse())
    return result


def _index_messages(
    protos: Sequence[descriptor_pb2.FileDescriptorProto],
) -> Iterator[tuple[str, _MessageRef]]:
    """Map ``.pkg.Outer.Inner`` (the form method type names use) to where Python finds it."""

    def walk(
        proto: descriptor_pb2.FileDescriptorProto,
        scope: str,
        python_scope: str,
        messages: Sequence[descriptor_pb2.DescriptorProto],
    ) -> Iterator[tuple[str, _MessageRef]]:
        for message in messages:
            full = f"{scope}.{message.name}"
            python_name = f"{python_scope}{message.name}"
            yield full, _MessageRef(proto.name, python_name, message)
            yield from walk(proto, full, python_name + ".", message.nested_type)

    for proto in protos:
        scope = f".{proto.package}" if proto.package else ""
        yield from walk(proto, scope, "", proto.message_type)


class _FileParser:
    def __init__(
        self,
        proto: descriptor_pb2.FileDescriptorProto,
        messages: dict[str, _MessageRef],
        parameters: Parameters,
    ) -> None:
        self.proto = proto
        self.messages = messages
        self.parameters = parameters
        self.comments = Comments(proto)
        self.module_scope = NameScope(_MODULE_NAMES)
        self.subjects: dict[str, str] = {}
        """Method subjects taken by the services parsed so far, and by what."""

    def parse(self) -> File:
        imports = self._imports()
        aliases = {proto_path: imp.alias for proto_path, imp in imports.items()}

        # Classes and service constants claim names before method constants so that the
        # names users refer to most stay stable when something has to give way.
        events = EventSetParser(self, aliases)
        services = []
        for index, service in enumerate(self.proto.service):
            if events.claim(index, service):
                continue
            class_name = self.module_scope.claim(service.name)
            client_names = (
                self.module_scope.claim(f"{service.name}Client"),
                self.module_scope.claim(f"{service.name}SyncClient"),
            )
            constant = self.module_scope.claim(f"{upper_snake_case(service.name)}_SERVICE")
            services.append((index, service, class_name, client_names, constant))

        parsed = tuple(
            self._service(index, service, class_name, client_names, constant, aliases)
            for index, service, class_name, client_names, constant in services
        )
        # After the RPC services, so that event subjects are checked against theirs.
        event_sets = events.parse()
        abc_names: set[str] = set()
        for service_model in parsed:
            for method in service_model.methods:
                if method.kind.server_streams or method.kind.client_streams:
                    abc_names.add("AsyncIterator")
        return File(
            proto_path=self.proto.name,
            output_path=output_path(self.proto.name),
            imports=tuple(imports.values()),
            services=parsed,
            abc_names=tuple(sorted(abc_names)),
            event_sets=event_sets,
        )

    def _service(
        self,
        index: int,
        service: descriptor_pb2.ServiceDescriptorProto,
        class_name: str,
        client_names: tuple[str, str],
        constant: str,
        aliases: dict[str, str],
    ) -> Service:
        full_name = f"{self.proto.package}.{service.name}" if self.proto.package else service.name
        where = f"{self.proto.name}: service {service.name}"
        try:
            options = read_service_options(service.options)
        except OptionError as error:
            raise GenerationError(f"{where}: {error}") from None
        comment, version = self.service_comment(index, service.name, options.version)
        group = subject_group(full_name, options.subject_group or "")
        # Annotations are resolved in the class body first, so a method must not shadow
        # a module-level or builtin name that the signatures use.
        members = NameScope(BASE_CLASS_MEMBERS | {"natsrpc", "float", *aliases.values()})
        service_prefix = upper_snake_case(service.name)
        methods = []
        subjects: dict[str, str] = {}
        for method_index, method in enumerate(service.method):
            method_where = f"{where}, method {method.name}"
            try:
                method_options = read_method_options(method.options)
                check_not_event(method.options)
            except OptionError as error:
                raise GenerationError(f"{method_where}: {error}") from None
            subject = method_subject(group, method.name, method_options.subject or "")
            clash = subjects.get(subject) or self.subjects.get(subject)
            if clash is not None:
                raise GenerationError(
                    f"{method_where}: subject {subject!r} is already used by {clash}; "
                    f"set {METHOD_OPTION}.subject or {SERVICE_OPTION}.subject_group to tell "
                    "them apart"
                )
            subjects[subject] = f"service {service.name}, method {method.name}"
            method_comment = self.comments.method(index, method_index)
            methods.append(
                Method(
                    name=method.name,
                    attribute=members.claim(member_name(method.name)),
                    constant=self.module_scope.claim(
                        f"{service_prefix}_{upper_snake_case(method.name)}"
                    ),
                    kind=MethodKind.of(method.client_streaming, method.server_streaming),
                    request_type=self.python_type(method.input_type, aliases),
                    response_type=self.python_type(method.output_type, aliases),
                    subject=subject,
                    timeout=method_options.timeout,
                    idempotency=_IDEMPOTENCY.get(method.options.idempotency_level),
                    docstring=method_comment,
                    description=one_line(method_comment),
                    metadata=method_options.metadata,
                    request_message=method.input_type.lstrip("."),
                    response_message=method.output_type.lstrip("."),
                )
            )
        self.subjects.update(subjects)
        description = one_line(comment) if options.description is None else options.description
        client_class_name, sync_client_class_name = client_names
        # What the sync client's body refers to, so that no alias may shadow it there.
        sync_body = {"ClassVar", client_class_name, constant, *(m.constant for m in methods)}
        return Service(
            name=service.name,
            full_name=full_name,
            class_name=class_name,
            client_class_name=client_class_name,
            sync_client_class_name=sync_client_class_name,
            constant=constant,
            docstring=comment,
            description=description,
            version=version,
            methods=(
                with_grpc_aliases(
                    methods,
                    lambda name: name in members or name in sync_body or name in _MODULE_NAMES,
                )
                if self.parameters.grpc_aliases
                else tuple(methods)
            ),
            micro_name=options.name,
            queue_group=options.queue_group,
            metadata=options.metadata,
        )

    def service_comment(
        self, index: int, service: str, option_version: str | None
    ) -> tuple[str, str | None]:
        """A service's docstring and version, from its comment and ``(natsrpc.service)``."""
        comment, version = self._extract_version(service, self.comments.service(index))
        if option_version is None:
            return comment, version
        if version is not None:
            raise GenerationError(
                f"{self.proto.name}: service {service}: the version is set both by "
                f"{SERVICE_OPTION}.version ({option_version!r}) and by a 'version:' comment "
                f"line ({version!r}); keep one"
            )
        return comment, option_version

    def _extract_version(self, service: str, comment: str) -> tuple[str, str | None]:
        """Take an npc-style ``version: X.Y.Z`` line out of a service comment."""
        kept, versions = [], []
        for line in comment.split("\n"):
            match = _VERSION_LINE.match(line)
            if match:
                versions.append(match.group(1))
            else:
                kept.append(line)
        if not versions:
            return comment, None
        where = f"{self.proto.name}: service {service}"
        if len(versions) > 1:
            raise GenerationError(f"{where}: more than one 'version:' line in its comment")
        try:
            check_version(versions[0], "the 'version:' comment line's version")
        except OptionError as error:
            raise GenerationError(f"{where}: {error}") from None
        return strip_blank_edges("\n".join(kept)), versions[0]

    def message(self, type_name: str) -> descriptor_pb2.DescriptorProto:
        return self._message_ref(type_name).descriptor

    def _message_ref(self, type_name: str) -> _MessageRef:
        ref = self.messages.get(type_name)
        if ref is None:
            raise GenerationError(f"{self.proto.name}: unknown message type {type_name}")
        return ref

    def python_type(self, type_name: str, aliases: dict[str, str]) -> str:
        ref = self._message_ref(type_name)
        keyword = next((p for p in ref.python_name.split(".") if p in RESERVED_WORDS), None)
        if keyword is not None:
            raise GenerationError(
                f"{self.proto.name}: message type {type_name.lstrip('.')} cannot be referenced "
                f"from Python because {keyword!r} is a Python keyword"
            )
        return f"{aliases[ref.proto_path]}.{ref.python_name}"

    def _imports(self) -> dict[str, ModuleImport]:
        """One import per file defining a request or response type, keyed by that file."""
        needed: dict[str, list[str]] = {}
        for service in self.proto.service:
            # An event method's Empty response is never written out, so needs no import.
            events = is_event_set(service)
            for method in service.method:
                for type_name in (method.input_type, *(() if events else (method.output_type,))):
                    ref = self.messages.get(type_name)
                    if ref is not None and ref.proto_path not in needed:
                        needed[ref.proto_path] = pb2_module_parts(ref.proto_path)

        # Two modules with the same basename (a/x_pb2, b/x_pb2) are both spelled out
        # in full so that neither name silently means the other.
        basenames: dict[str, int] = {}
        for parts in needed.values():
            basenames[parts[-1]] = basenames.get(parts[-1], 0) + 1

        own_package = pb2_module_parts(self.proto.name)[:-1]
        imports = {}
        for proto_path, parts in needed.items():
            wanted = "_".join(parts) if basenames[parts[-1]] > 1 else parts[-1]
            alias = self.module_scope.claim(wanted)
            imports[proto_path] = self._module_import(proto_path, parts, own_package, alias)
        return imports

    def _module_import(
        self, proto_path: str, parts: list[str], own_package: list[str], alias: str
    ) -> ModuleImport:
        *package, name = parts
        if proto_path.startswith(_WELL_KNOWN_PREFIX):
            # Well-known types ship inside the protobuf package, never beside our output.
            return ModuleImport(".".join(package), name, alias, ImportSection.THIRD_PARTY)
        if self.parameters.imports is ImportStyle.RELATIVE:
            common = 0
            while (
                common < min(len(package), len(own_package))
                and package[common] == own_package[common]
            ):
                common += 1
            dots = "." * (len(own_package) - common + 1)
            relative = dots + ".".join(package[common:])
            return ModuleImport(relative, name, alias, ImportSection.LOCAL_FOLDER)
        return ModuleImport(".".join(package) or None, name, alias, ImportSection.FIRST_PARTY)
