"""protoc-gen-natsrpc on event declarations: options that apply, and every invalid one
refused with a one-line error naming it."""

from __future__ import annotations

from pathlib import Path

import pytest
from plugin_helpers import (
    OPTIONS_INCLUDE,
    ROOT,
    files_by_name,
    generate_from,
    run_protoc,
    write_protos,
)

# --- what the plugin refuses --------------------------------------------------------------

HEADER = """\
syntax = "proto3";
package shop;
import "google/protobuf/empty.proto";
import "natsrpc/options.proto";
enum Kind { KIND_UNSPECIFIED = 0; BIG = 1; }
message Money { int64 units = 1; }
message OrderPlaced {
  string event_id = 1;
  string order_id = 2;
  repeated string skus = 3;
  Money total = 4;
  map<string, string> tags = 5;
  double weight = 6;
  bool gift = 7;
  Kind kind = 8;
  bytes blob = 9;
  uint64 number = 10;
}
"""


def events_service(options: str, method: str) -> str:
    return f"service OrderEvents {{\n  option (natsrpc.events) = {{ {options} }};\n{method}\n}}\n"


def placed(event_option: str = "", *, rpc: str = "rpc Placed(OrderPlaced)") -> str:
    body = f" {{ option (natsrpc.event) = {{ {event_option} }}; }}" if event_option else ";"
    return f"  {rpc} returns (google.protobuf.Empty){body}"


def test_subject_group_and_service_options_apply_to_event_sets(tmp_path: Path) -> None:
    body = (
        "service OrderEvents {\n"
        "  option (natsrpc.events) = {};\n"
        '  option (natsrpc.service) = { subject_group: "acme.orders" name: "orders" };\n'
        + placed()
        + "\n}\n"
    )
    write_protos(tmp_path, {"shop.proto": HEADER + body})
    response = generate_from(tmp_path, ["shop.proto"], includes=[OPTIONS_INCLUDE])
    assert not response.error, response.error
    code = files_by_name(response)["shop_natsrpc.py"]
    assert 'subject="acme.orders.Placed",' in code
    assert 'micro_name="orders",' in code
    assert "stream=" not in code
    assert "-> None:\n        await self._publish(\n            ORDER_EVENTS_PLACED," in code


def error_for(tmp_path: Path, body: str) -> str:
    write_protos(tmp_path, {"shop.proto": HEADER + body})
    response = generate_from(tmp_path, ["shop.proto"], includes=[OPTIONS_INCLUDE])
    assert not response.file, "nothing may be generated for an invalid declaration"
    return str(response.error)


METHOD = "shop.proto: service OrderEvents, method Placed: "
SERVICE = "shop.proto: service OrderEvents: "

INVALID = {
    "reply-not-empty": (
        events_service("", "  rpc Placed(OrderPlaced) returns (OrderPlaced);"),
        METHOD,
        "an event returns google.protobuf.Empty, not shop.OrderPlaced",
    ),
    "client-streaming": (
        events_service("", placed(rpc="rpc Placed(stream OrderPlaced)")),
        METHOD,
        "an event cannot stream: declare it as rpc Placed(shop.OrderPlaced) returns "
        "(google.protobuf.Empty)",
    ),
    "server-streaming": (
        events_service("", "  rpc Placed(OrderPlaced) returns (stream google.protobuf.Empty);"),
        METHOD,
        "an event cannot stream",
    ),
    "token-repeated": (
        events_service("", placed('subject: "shop.{skus}.placed"')),
        METHOD,
        "(natsrpc.event).subject 'shop.{skus}.placed': {skus} cannot be a subject "
        "token: shop.OrderPlaced field 'skus' is repeated; fields that can be tokens: "
        "event_id, gift, kind, number, order_id",
    ),
    "token-message": (
        events_service("", placed('subject: "shop.{total}"')),
        METHOD,
        "{total} cannot be a subject token: shop.OrderPlaced field 'total' is a message",
    ),
    "token-map": (
        events_service("", placed('subject: "shop.{tags}"')),
        METHOD,
        "{tags} cannot be a subject token: shop.OrderPlaced field 'tags' is a map",
    ),
    "token-double": (
        events_service("", placed('subject: "shop.{weight}"')),
        METHOD,
        "field 'weight' is a double, not a string, integer, bool or enum",
    ),
    "token-bytes": (
        events_service("", placed('subject: "shop.{blob}"')),
        METHOD,
        "field 'blob' is a bytes, not a string, integer, bool or enum",
    ),
    "token-unknown": (
        events_service("", placed('subject: "shop.{customer}"')),
        METHOD,
        "{customer} cannot be a subject token: shop.OrderPlaced has no field 'customer'",
    ),
    "token-partial": (
        events_service("", placed('subject: "shop.order-{order_id}"')),
        METHOD,
        "(natsrpc.event).subject 'shop.order-{order_id}': 'order-{order_id}' is not a "
        "placeholder; a placeholder is a whole token naming a field, such as {order_id}",
    ),
    "wildcard-star": (
        events_service("", placed('subject: "shop.*.placed"')),
        METHOD,
        "(natsrpc.event).subject 'shop.*.placed' is not a valid subject: it contains "
        "the wildcard '*'",
    ),
    "wildcard-gt": (
        events_service("", placed('subject: "shop.>"')),
        METHOD,
        "it contains the wildcard '>'",
    ),
    "empty-token": (
        events_service("", placed('subject: "shop..placed"')),
        METHOD,
        "(natsrpc.event).subject 'shop..placed' has an empty token",
    ),
    "whitespace": (
        events_service("", placed('subject: "shop.order placed"')),
        METHOD,
        "(natsrpc.event).subject 'shop.order placed' is not a valid subject: it "
        "contains whitespace",
    ),
    "id-field-unknown": (
        events_service("", placed('id_field: "uuid"')),
        METHOD,
        "(natsrpc.event).id_field 'uuid': shop.OrderPlaced has no such field",
    ),
    "id-field-bool": (
        events_service("", placed('id_field: "gift"')),
        METHOD,
        "(natsrpc.event).id_field 'gift' must be a single string or integer field of "
        "shop.OrderPlaced, not a bool",
    ),
    "id-field-message": (
        events_service("", placed('id_field: "total"')),
        METHOD,
        "(natsrpc.event).id_field 'total' must be a single string or integer field of "
        "shop.OrderPlaced, not a message",
    ),
    "id-field-repeated": (
        events_service("", placed('id_field: "skus"')),
        METHOD,
        "not a repeated field",
    ),
    "stream-dot": (
        events_service('stream: "SHOP.ORDERS"', placed()),
        SERVICE,
        "(natsrpc.events).stream 'SHOP.ORDERS' is not a valid JetStream stream name: "
        "it contains '.'",
    ),
    "stream-space": (
        events_service('stream: "SHOP ORDERS"', placed()),
        SERVICE,
        "it contains whitespace",
    ),
    "stream-wildcard": (
        events_service('stream: "SHOP_*"', placed()),
        SERVICE,
        "it contains the wildcard '*'",
    ),
    "stream-gt": (
        events_service('stream: "SHOP>"', placed()),
        SERVICE,
        "it contains the wildcard '>'",
    ),
    "stream-empty": (
        events_service('stream: ""', placed()),
        SERVICE,
        "(natsrpc.events).stream is empty; leave it unset for core NATS events",
    ),
    "retention-unknown": (
        events_service('stream: "S" retention: 9', placed()),
        SERVICE,
        "(natsrpc.events).retention 9 is not a known value: use LIMITS, INTEREST or WORK_QUEUE",
    ),
    "storage-unknown": (
        events_service('stream: "S" storage: 7', placed()),
        SERVICE,
        "(natsrpc.events).storage 7 is not a known value: use FILE or MEMORY",
    ),
    "replicas-zero": (
        events_service('stream: "S" replicas: 0', placed()),
        SERVICE,
        "(natsrpc.events).replicas 0 is out of range: JetStream keeps 1 to 5 copies",
    ),
    "replicas-six": (
        events_service('stream: "S" replicas: 6', placed()),
        SERVICE,
        "(natsrpc.events).replicas 6 is out of range",
    ),
    "max-age-zero": (
        events_service('stream: "S" max_age: {}', placed()),
        SERVICE,
        "(natsrpc.events).max_age {seconds: 0 nanos: 0} is not a positive duration",
    ),
    "duplicate-window-negative": (
        events_service('stream: "S" duplicate_window: { seconds: -5 }', placed()),
        SERVICE,
        "(natsrpc.events).duplicate_window {seconds: -5 nanos: 0} is not a positive duration",
    ),
    "settings-without-stream": (
        events_service("retention: WORK_QUEUE", placed()),
        SERVICE,
        "(natsrpc.events).retention needs (natsrpc.events).stream: without a stream "
        "the events travel over core NATS and are not stored",
    ),
    "event-on-rpc-service": (
        "message Reply {}\nservice Orders {\n"
        "  rpc Place(OrderPlaced) returns (Reply) {\n"
        '    option (natsrpc.event) = { subject: "shop.placed" };\n  }\n}\n',
        "shop.proto: service Orders, method Place: ",
        "(natsrpc.event) is set, but the service is "
        "not a set of events: mark the service with option (natsrpc.events), or drop "
        "(natsrpc.event)",
    ),
    "method-option-on-event": (
        events_service(
            "",
            "  rpc Placed(OrderPlaced) returns (google.protobuf.Empty) {\n"
            '    option (natsrpc.method) = { subject: "placed" };\n  }',
        ),
        METHOD,
        "(natsrpc.method) does not apply to an event; use (natsrpc.event) instead",
    ),
    "same-subject": (
        events_service(
            "",
            placed('subject: "shop.{order_id}.placed"')
            + "\n"
            + placed('subject: "shop.{event_id}.placed"', rpc="rpc Again(OrderPlaced)"),
        ),
        "shop.proto: service OrderEvents, method Again: ",
        "(natsrpc.event).subject "
        "'shop.{event_id}.placed' is already used by service OrderEvents, method Placed "
        "('shop.{order_id}.placed'); give each event its own subject",
    ),
    "overlapping-subject": (
        events_service(
            "",
            placed('subject: "shop.{order_id}.placed"')
            + "\n"
            + placed('subject: "shop.big.placed"', rpc="rpc Big(OrderPlaced)"),
        ),
        "shop.proto: service OrderEvents, method Big: ",
        "(natsrpc.event).subject 'shop.big.placed' "
        "overlaps 'shop.{order_id}.placed' of service OrderEvents, method Placed: a subscriber "
        "to one would receive the other",
    ),
    "subject-of-an-rpc-method": (
        "message Reply {}\nservice Orders {\n  rpc Place(OrderPlaced) returns (Reply);\n}\n"
        + events_service("", placed('subject: "shop.Orders.{order_id}"')),
        METHOD,
        "(natsrpc.event).subject 'shop.Orders.{order_id}' overlaps "
        "'shop.Orders.Place' of service Orders, method Place",
    ),
    "queue-group": (
        "service OrderEvents {\n  option (natsrpc.events) = {};\n"
        '  option (natsrpc.service) = { queue_group: "workers" };\n' + placed() + "\n}\n",
        SERVICE,
        "(natsrpc.service).queue_group does not apply to a set of events",
    ),
    "reserved-metadata": (
        events_service("", placed('metadata: { key: "rpc.kind" value: "x" }')),
        METHOD,
        "(natsrpc.event).metadata key 'rpc.kind' is reserved",
    ),
    "version-twice": (
        "// version: 1.0.0\nservice OrderEvents {\n  option (natsrpc.events) = {};\n"
        '  option (natsrpc.service) = { version: "2.0.0" };\n' + placed() + "\n}\n",
        SERVICE,
        "the version is set both by (natsrpc.service).version ('2.0.0') and by a 'version:' "
        "comment line ('1.0.0'); keep one",
    ),
    "no-events": (
        "service OrderEvents {\n  option (natsrpc.events) = {};\n}\n",
        SERVICE,
        "(natsrpc.events) is set, but it declares no events",
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_declaration_is_a_plugin_error(tmp_path: Path, case: str) -> None:
    body, location, fragment = INVALID[case]
    error = error_for(tmp_path, body)
    assert error.startswith(location), error
    assert fragment in error, error
    assert "Traceback" not in error and "internal error" not in error, error


def test_protoc_user_sees_the_error_and_no_traceback(tmp_path: Path) -> None:
    write_protos(
        tmp_path,
        {"shop.proto": HEADER + events_service("", placed('subject: "shop.*"'))},
    )
    result = run_protoc(tmp_path, ["shop.proto"], tmp_path / "out", includes=[OPTIONS_INCLUDE])
    assert result.returncode != 0
    assert "it contains the wildcard '*'" in result.stderr
    assert "Traceback" not in result.stderr


def test_method_named_after_its_message_is_protocs_error(tmp_path: Path) -> None:
    """The pitfall docs/options.md warns about: protoc resolves the type to the method."""
    write_protos(
        tmp_path,
        {"shop.proto": HEADER + events_service("", placed(rpc="rpc OrderPlaced(OrderPlaced)"))},
    )
    result = run_protoc(tmp_path, ["shop.proto"], tmp_path / "out", includes=[OPTIONS_INCLUDE])
    assert result.returncode != 0
    assert '"OrderPlaced" is not a message type.' in result.stderr
    assert '"OrderPlaced" is not a message type' in (ROOT / "docs" / "options.md").read_text()
