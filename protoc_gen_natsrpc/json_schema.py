"""JSON Schemas of proto messages as the proto3 JSON mapping writes them, for the AsyncAPI writer.

The mapping (protobuf.dev/programming-guides/json) is followed where it decides the
JSON type: 64-bit integers and bytes are strings, enums are their value names,
maps are objects, and well-known types have their special forms (a Timestamp is
an RFC 3339 string). Every message is one named schema referred to by ``$ref``,
so recursive messages need no special care.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf import descriptor_pb2

_Type = descriptor_pb2.FieldDescriptorProto
JsonObject = dict[str, Any]

_INT32 = {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}
_UINT32 = {"type": "integer", "minimum": 0, "maximum": 2**32 - 1}
_INT64 = {"type": "string", "pattern": "^-?[0-9]+$", "description": "64-bit integer"}
_UINT64 = {"type": "string", "pattern": "^[0-9]+$", "description": "unsigned 64-bit integer"}
_FLOAT = {"oneOf": [{"type": "number"}, {"enum": ["NaN", "Infinity", "-Infinity"]}]}
_BYTES = {"type": "string", "contentEncoding": "base64"}

_SCALARS: dict[int, JsonObject] = {
    _Type.TYPE_DOUBLE: _FLOAT,
    _Type.TYPE_FLOAT: _FLOAT,
    _Type.TYPE_INT64: _INT64,
    _Type.TYPE_SINT64: _INT64,
    _Type.TYPE_SFIXED64: _INT64,
    _Type.TYPE_UINT64: _UINT64,
    _Type.TYPE_FIXED64: _UINT64,
    _Type.TYPE_INT32: _INT32,
    _Type.TYPE_SINT32: _INT32,
    _Type.TYPE_SFIXED32: _INT32,
    _Type.TYPE_UINT32: _UINT32,
    _Type.TYPE_FIXED32: _UINT32,
    _Type.TYPE_BOOL: {"type": "boolean"},
    _Type.TYPE_STRING: {"type": "string"},
    _Type.TYPE_BYTES: _BYTES,
}

_WELL_KNOWN: dict[str, JsonObject] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$"},
    "google.protobuf.FieldMask": {"type": "string"},
    "google.protobuf.Empty": {"type": "object", "maxProperties": 0},
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "required": ["@type"],
    },
    "google.protobuf.DoubleValue": _FLOAT,
    "google.protobuf.FloatValue": _FLOAT,
    "google.protobuf.Int64Value": _INT64,
    "google.protobuf.UInt64Value": _UINT64,
    "google.protobuf.Int32Value": _INT32,
    "google.protobuf.UInt32Value": _UINT32,
    "google.protobuf.BoolValue": {"type": "boolean"},
    "google.protobuf.StringValue": {"type": "string"},
    "google.protobuf.BytesValue": _BYTES,
}

# SourceCodeInfo paths: FileDescriptorProto.message_type, DescriptorProto.field / nested_type.
_FILE_MESSAGE = 4
_MESSAGE_FIELD, _MESSAGE_NESTED = 2, 3


class SchemaBuilder:
    """Collects the schemas of the messages asked for, and of every message they use."""

    def __init__(self, files: Iterable[descriptor_pb2.FileDescriptorProto], prefix: str) -> None:
        """``prefix`` is where the schemas end up, e.g. ``#/components/schemas/``."""
        self._prefix = prefix
        self._messages: dict[str, descriptor_pb2.DescriptorProto] = {}
        self._enums: dict[str, descriptor_pb2.EnumDescriptorProto] = {}
        self._comments: dict[tuple[str, str], str] = {}
        """(message, field or "") -> its leading comment on one line."""
        for file in files:
            self._index(file)
        self.schemas: dict[str, JsonObject] = {}
        """Full message name -> its schema, for every message referred to so far."""

    def ref(self, full_name: str) -> JsonObject:
        """A ``$ref`` to the message's schema (``full_name`` without the leading dot)."""
        if full_name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[full_name])
        if full_name not in self.schemas:
            self.schemas[full_name] = {}  # placed first, so a recursive use stops here
            self.schemas[full_name] = self._message(full_name)
        return {"$ref": self._prefix + full_name}

    def json_name(self, message: str, field: str) -> str:
        """The name the JSON mapping gives ``field`` of ``message`` (lowerCamelCase)."""
        return _json_name(self._field_of(message, field))

    def token_values(self, message: str, field: str) -> list[str] | None:
        """Every subject token a bool or enum field can become; None when unbounded.

        natsrpc writes an enum's number and a bool as ``true``/``false`` in a subject.
        """
        found = self._field_of(message, field)
        if found.type == _Type.TYPE_BOOL:
            return ["true", "false"]
        if found.type == _Type.TYPE_ENUM:
            enum = self._enums[found.type_name.lstrip(".")]
            return [str(value.number) for value in enum.value]
        return None

    def _field_of(self, message: str, field: str) -> descriptor_pb2.FieldDescriptorProto:
        descriptor = self._messages[message]
        return next(f for f in descriptor.field if f.name == field)

    def comment(self, full_name: str) -> str:
        return self._comments.get((full_name, ""), "")

    def _message(self, full_name: str) -> JsonObject:
        message = self._messages[full_name]
        maps = {
            f"{full_name}.{nested.name}": nested
            for nested in message.nested_type
            if nested.options.map_entry
        }
        properties: JsonObject = {}
        for field in message.field:
            field_schema = self._field(field, maps)
            description = self._comments.get((full_name, field.name))
            if description:
                field_schema = {**field_schema, "description": description}
            properties[_json_name(field)] = field_schema
        schema: JsonObject = {"type": "object", "title": message.name, "properties": properties}
        if (full_name, "") in self._comments:
            schema["description"] = self._comments[full_name, ""]
        return schema

    def _field(
        self,
        field: descriptor_pb2.FieldDescriptorProto,
        maps: dict[str, descriptor_pb2.DescriptorProto],
    ) -> JsonObject:
        entry = maps.get(field.type_name.lstrip("."))
        if entry is not None:
            # JSON object keys are strings whatever the key type, so only the value is typed.
            value = entry.field[1]
            return {"type": "object", "additionalProperties": self._single(value)}
        single = self._single(field)
        if field.label == _Type.LABEL_REPEATED:
            return {"type": "array", "items": single}
        return single

    def _single(self, field: descriptor_pb2.FieldDescriptorProto) -> JsonObject:
        if field.type in (_Type.TYPE_MESSAGE, _Type.TYPE_GROUP):
            return self.ref(field.type_name.lstrip("."))
        if field.type == _Type.TYPE_ENUM:
            enum = self._enums[field.type_name.lstrip(".")]
            return {"type": "string", "enum": [value.name for value in enum.value]}
        return dict(_SCALARS[field.type])

    def _index(self, file: descriptor_pb2.FileDescriptorProto) -> None:
        comments = {
            tuple(location.path): " ".join(location.leading_comments.split())
            for location in file.source_code_info.location
            if location.leading_comments.strip()
        }
        scope = file.package

        def name(parent: str, child: str) -> str:
            return f"{parent}.{child}" if parent else child

        def walk(
            parent: str, messages: Iterable[descriptor_pb2.DescriptorProto], path: tuple[int, ...]
        ) -> None:
            for index, message in enumerate(messages):
                full = name(parent, message.name)
                here = (*path, index)
                self._messages[full] = message
                self._note((full, ""), comments.get(here))
                for number, field in enumerate(message.field):
                    self._note((full, field.name), comments.get((*here, _MESSAGE_FIELD, number)))
                for enum in message.enum_type:
                    self._enums[name(full, enum.name)] = enum
                walk(full, message.nested_type, (*here, _MESSAGE_NESTED))

        walk(scope, file.message_type, (_FILE_MESSAGE,))
        for enum in file.enum_type:
            self._enums[name(scope, enum.name)] = enum

    def _note(self, key: tuple[str, str], comment: str | None) -> None:
        if comment:
            self._comments[key] = comment


def _json_name(field: descriptor_pb2.FieldDescriptorProto) -> str:
    """protoc sets ``json_name`` for plugins; a descriptor set may lack it, so derive it alike."""
    if field.json_name:
        return field.json_name
    parts = field.name.split("_")
    return parts[0] + "".join(part[:1].upper() + part[1:] for part in parts[1:])
