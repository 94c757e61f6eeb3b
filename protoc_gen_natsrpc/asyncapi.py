"""The AsyncAPI 3.0 document of a file's events and RPC methods (plugin option ``asyncapi=true``).

It describes what the generated publishers and clients send: a ``send``
operation per event on the event's subject, whose ``{field}`` tokens are
channel parameters taken from the payload, and a ``send`` operation with a
``reply`` per unary RPC method. Payload schemas are the proto3 JSON mapping of
the messages (:mod:`.json_schema`); on the wire natsrpc sends protobuf unless
a client chose JSON. Streaming methods use natsrpc's own framing
(docs/protocol.md), which AsyncAPI cannot express, so they are left out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from google.protobuf import descriptor_pb2

from natsrpc.contract import MethodKind

from .json_schema import JsonObject, SchemaBuilder
from .models import Event, EventSet, File, Method, Service

ASYNCAPI_VERSION = "3.0.0"
_NATS_BINDING_VERSION = "0.1.0"
_PROTOBUF = "application/protobuf"
_DEFAULT_QUEUE_GROUP = "q"
_MSG_ID = "Nats-Msg-Id"


def output_path(file: File) -> str:
    """``foo/bar_natsrpc.py`` -> ``foo/bar.asyncapi.json``, beside the generated module."""
    return file.output_path.removesuffix("_natsrpc.py") + ".asyncapi.json"


def render_document(file: File, protos: Sequence[descriptor_pb2.FileDescriptorProto]) -> str:
    """The document as JSON, keys in a stable order so that output depends on input only."""
    return json.dumps(document(file, protos), indent=2, ensure_ascii=False) + "\n"


def document(file: File, protos: Sequence[descriptor_pb2.FileDescriptorProto]) -> JsonObject:
    writer = _Writer(SchemaBuilder(protos, "#/components/schemas/"))
    for event_set in file.event_sets:
        for event in event_set.events:
            writer.event(event_set, event)
    for service in file.services:
        for method in service.methods:
            if method.kind is MethodKind.UNARY:
                writer.method(service, method)
    declared = [event_set.version for event_set in file.event_sets]
    declared += [service.version for service in file.services]
    versions = [version for version in declared if version is not None]
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": file.proto_path,
            "version": versions[0] if versions else "0.0.0",
            "description": (
                f"Events and RPC methods declared in {file.proto_path}, as natsrpc's "
                "generated publishers and clients send them. Subjects are shown without "
                "the runtime's subject prefix, if one is configured. Payload schemas follow "
                "the proto3 JSON mapping; the wire format is protobuf unless a client "
                "chose JSON. Streaming RPC methods are not described."
            ),
        },
        "defaultContentType": _PROTOBUF,
        "servers": {
            "nats": {
                "host": "localhost:4222",
                "protocol": "nats",
                "description": "Any NATS server; JetStream must be enabled for stored events.",
                # The NATS binding defines no server fields; its name marks the protocol.
                "bindings": {"nats": {}},
            }
        },
        "channels": writer.channels,
        "operations": writer.operations,
        "components": {"messages": writer.messages, "schemas": writer.schemas.schemas},
    }


class _Writer:
    def __init__(self, schemas: SchemaBuilder) -> None:
        self.schemas = schemas
        self.channels: JsonObject = {}
        self.operations: JsonObject = {}
        self.messages: JsonObject = {}

    def event(self, event_set: EventSet, event: Event) -> None:
        key = f"{event_set.name}.{event.name}"
        self.messages[key] = {
            "name": event.message.rsplit(".", 1)[-1],
            "title": key,
            **_text(event.description),
            **({"headers": _event_headers(event)} if event_set.stream else {}),
            "payload": self.schemas.ref(event.message),
        }
        parameters = {name: self._parameter(event, name) for name in event.subject_fields}
        self.channels[key] = {
            "address": event.subject,
            "title": key,
            **_text(event.description),
            **({"parameters": parameters} if parameters else {}),
            "messages": {"event": {"$ref": f"#/components/messages/{key}"}},
        }
        self.operations[key] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{key}"},
            "title": f"Publish {key}",
            "description": _delivery(event_set, event),
            "messages": [{"$ref": f"#/channels/{key}/messages/event"}],
        }

    def _parameter(self, event: Event, field: str) -> JsonObject:
        values = self.schemas.token_values(event.message, field)
        description = f"The event's {field} field."
        if values:
            description += " A subject holds an enum as its number and a bool as true or false."
        return {
            "description": description,
            **({"enum": values} if values else {}),
            "location": f"$message.payload#/{self.schemas.json_name(event.message, field)}",
        }

    def method(self, service: Service, method: Method) -> None:
        key = f"{service.name}.{method.name}"
        request = self._rpc_message(method.request_message)
        reply = self._rpc_message(method.response_message)
        self.channels[key] = {
            "address": method.subject,
            "title": key,
            **_text(method.description),
            "messages": {"request": {"$ref": request}},
        }
        self.channels[f"{key}.reply"] = {
            # The reply goes to the request's NATS reply subject, an inbox known at run time.
            "address": None,
            "title": f"{key} reply",
            "messages": {"reply": {"$ref": reply}},
        }
        self.operations[key] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{key}"},
            "title": f"Call {key}",
            **_text(method.description),
            "bindings": {
                "nats": {
                    "queue": service.queue_group or _DEFAULT_QUEUE_GROUP,
                    "bindingVersion": _NATS_BINDING_VERSION,
                }
            },
            "messages": [{"$ref": f"#/channels/{key}/messages/request"}],
            "reply": {
                "channel": {"$ref": f"#/channels/{key}.reply"},
                "messages": [{"$ref": f"#/channels/{key}.reply/messages/reply"}],
            },
        }

    def _rpc_message(self, full_name: str) -> str:
        if full_name not in self.messages:
            self.messages[full_name] = {
                "name": full_name.rsplit(".", 1)[-1],
                "title": full_name,
                **_text(self.schemas.comment(full_name)),
                "payload": self.schemas.ref(full_name),
            }
        return f"#/components/messages/{full_name}"


def _text(description: str) -> JsonObject:
    return {"description": description} if description else {}


def _event_headers(event: Event) -> JsonObject:
    source = f"the event's {event.id_field} field" if event.id_field else "a fresh id"
    return {
        "type": "object",
        "properties": {
            _MSG_ID: {
                "type": "string",
                "description": (
                    f"{source}; the stream stores a repeated id once within its duplicate window"
                ),
            }
        },
        "required": [_MSG_ID],
    }


def _delivery(event_set: EventSet, event: Event) -> str:
    stream = event_set.stream
    if stream is None:
        return "Core NATS: delivered at most once, to the subscribers connected at the time."
    retention = (stream.retention or "LIMITS").lower().replace("_", "-")
    text = f"Stored in the JetStream stream {stream.name} ({retention} retention): at least once."
    if event.id_field:
        text += f" The {event.id_field} field identifies the event, so a repeat is stored once."
    return text
