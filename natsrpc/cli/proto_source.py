"""Descriptors written back as .proto source, for ``natsrpc describe``.

Reflection carries descriptors without comments, so the source shows the
declarations alone.
"""

from __future__ import annotations

from google.protobuf.descriptor import (
    Descriptor,
    EnumDescriptor,
    FieldDescriptor,
    MethodDescriptor,
    ServiceDescriptor,
)
from google.protobuf.descriptor_pool import DescriptorPool

from natsrpc.cli.output import CliError

_SCALARS = {
    FieldDescriptor.TYPE_DOUBLE: "double",
    FieldDescriptor.TYPE_FLOAT: "float",
    FieldDescriptor.TYPE_INT64: "int64",
    FieldDescriptor.TYPE_UINT64: "uint64",
    FieldDescriptor.TYPE_INT32: "int32",
    FieldDescriptor.TYPE_FIXED64: "fixed64",
    FieldDescriptor.TYPE_FIXED32: "fixed32",
    FieldDescriptor.TYPE_BOOL: "bool",
    FieldDescriptor.TYPE_STRING: "string",
    FieldDescriptor.TYPE_BYTES: "bytes",
    FieldDescriptor.TYPE_UINT32: "uint32",
    FieldDescriptor.TYPE_SFIXED32: "sfixed32",
    FieldDescriptor.TYPE_SFIXED64: "sfixed64",
    FieldDescriptor.TYPE_SINT32: "sint32",
    FieldDescriptor.TYPE_SINT64: "sint64",
}
INDENT = "  "


def describe(pool: DescriptorPool, symbol: str) -> tuple[str, str]:
    """(kind, source) for a service, method, message or enum named ``symbol``."""
    for kind, find in (
        ("service", pool.FindServiceByName),
        ("message", pool.FindMessageTypeByName),
        ("enum", pool.FindEnumTypeByName),
        ("method", pool.FindMethodByName),
    ):
        try:
            found = find(symbol)
        except KeyError:
            continue
        if isinstance(found, ServiceDescriptor):
            return kind, service_source(found)
        if isinstance(found, Descriptor):
            return kind, message_source(found)
        if isinstance(found, EnumDescriptor):
            return kind, enum_source(found)
        if isinstance(found, MethodDescriptor):
            return kind, method_source(found)
    raise CliError(f"{symbol} is not a service, method, message or enum of the schema")


def service_source(service: ServiceDescriptor) -> str:
    lines = [f"service {service.name} {{"]
    lines += [INDENT + method_source(method) for method in service.methods]
    lines.append("}")
    return "\n".join(lines)


def method_source(method: MethodDescriptor) -> str:
    request = ("stream " if method.client_streaming else "") + _name(method.input_type)
    response = ("stream " if method.server_streaming else "") + _name(method.output_type)
    return f"rpc {method.name}({request}) returns ({response});"


def message_source(message: Descriptor, depth: int = 0) -> str:
    pad = INDENT * depth
    lines = [f"{pad}message {message.name} {{"]
    inner = pad + INDENT
    map_entries = {m.name for m in message.nested_types if m.GetOptions().map_entry}
    for nested in message.nested_types:
        if nested.name not in map_entries:
            lines.append(message_source(nested, depth + 1))
    for enum in message.enum_types:
        lines.append(enum_source(enum, depth + 1))
    written_oneofs: set[str] = set()
    for field in message.fields:
        oneof = field.containing_oneof
        if oneof is not None and not _synthetic(field):
            if oneof.name in written_oneofs:
                continue
            written_oneofs.add(oneof.name)
            lines.append(f"{inner}oneof {oneof.name} {{")
            lines += [f"{inner}{INDENT}{_field(f)}" for f in oneof.fields]
            lines.append(f"{inner}}}")
        else:
            lines.append(inner + _field(field))
    lines.append(f"{pad}}}")
    return "\n".join(lines)


def enum_source(enum: EnumDescriptor, depth: int = 0) -> str:
    pad = INDENT * depth
    lines = [f"{pad}enum {enum.name} {{"]
    lines += [f"{pad}{INDENT}{value.name} = {value.number};" for value in enum.values]
    lines.append(f"{pad}}}")
    return "\n".join(lines)


def _field(field: FieldDescriptor) -> str:
    message = field.message_type
    if message is not None and message.GetOptions().map_entry:
        key, value = message.fields_by_name["key"], message.fields_by_name["value"]
        return f"map<{_type(key)}, {_type(value)}> {field.name} = {field.number};"
    label = ""
    if _is_repeated(field):
        label = "repeated "
    elif _synthetic(field):
        label = "optional "
    return f"{label}{_type(field)} {field.name} = {field.number};"


def _is_repeated(field: FieldDescriptor) -> bool:
    # protobuf 6.31 added is_repeated and later releases dropped label.
    repeated = getattr(field, "is_repeated", None)
    if repeated is None:
        return bool(getattr(field, "label", None) == FieldDescriptor.LABEL_REPEATED)
    return bool(repeated)


def _synthetic(field: FieldDescriptor) -> bool:
    # proto3 `optional` is a one-field oneof that protoc names after the field.
    oneof = field.containing_oneof
    return oneof is not None and len(oneof.fields) == 1 and oneof.name == f"_{field.name}"


def _type(field: FieldDescriptor) -> str:
    if field.message_type is not None:
        return _name(field.message_type)
    if field.enum_type is not None:
        return _name(field.enum_type)
    return _SCALARS[field.type]


def _name(descriptor: Descriptor | EnumDescriptor) -> str:
    return "." + descriptor.full_name
