"""``asyncapi=true``: the AsyncAPI 3.0 document written beside the generated module.

Checked against the official AsyncAPI 3.0.0 JSON Schema (tests/schemas/, see its
README), and its payload schemas against real messages in the proto3 JSON mapping.
"""

from __future__ import annotations

import copy
import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from google.protobuf import json_format
from plugin_helpers import (
    OPTIONS_INCLUDE,
    PROTOS,
    ROOT,
    files_by_name,
    generate_from,
    run_protoc,
    write_protos,
)

SCHEMA_FILE = ROOT / "tests" / "schemas" / "asyncapi-3.0.0.json"
DOCUMENT = "shop_events.asyncapi.json"


@pytest.fixture(scope="module")
def asyncapi_schema() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA_FILE.read_text())
    assert schema["title"] == "AsyncAPI 3.0.0 schema."
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("asyncapi")
    result = run_protoc(
        PROTOS / "events",
        ["shop_events.proto"],
        out,
        parameter="asyncapi=true",
        includes=[OPTIONS_INCLUDE],
    )
    assert result.returncode == 0, result.stderr
    sys.path.insert(0, str(out))
    try:
        yield out
    finally:
        sys.path.remove(str(out))


@pytest.fixture(scope="module")
def document(project: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((project / DOCUMENT).read_text())
    return loaded


def test_document_is_valid_asyncapi_3(
    document: dict[str, Any], asyncapi_schema: jsonschema.Draft7Validator
) -> None:
    errors = [error.message for error in asyncapi_schema.iter_errors(document)]
    assert errors == []
    assert document["asyncapi"] == "3.0.0"


BREAKAGES = {
    "old-action": lambda doc: doc["operations"]["OrderEvents.Placed"].update(action="publish"),
    "no-version": lambda doc: doc.pop("asyncapi"),
    "bad-location": lambda doc: doc["channels"]["OrderEvents.Placed"]["parameters"][
        "order_id"
    ].update(location="payload.orderId"),
    "unknown-field": lambda doc: doc["channels"]["Orders.PlaceOrder"].update(subject="x"),
    "server-without-protocol": lambda doc: doc["servers"]["nats"].pop("protocol"),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_a_broken_document_fails_the_schema(
    document: dict[str, Any], asyncapi_schema: jsonschema.Draft7Validator, breakage: str
) -> None:
    """The validation above can fail: each of these edits makes the document invalid."""
    broken = copy.deepcopy(document)
    BREAKAGES[breakage](broken)
    with pytest.raises(jsonschema.ValidationError):
        asyncapi_schema.validate(broken)


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    def refs(node: object) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    yield value
                else:
                    yield from refs(value)
        elif isinstance(node, list):
            for item in node:
                yield from refs(item)

    found = list(refs(document))
    assert len(found) > 20
    for ref in found:
        node: Any = document
        for part in ref.removeprefix("#/").split("/"):
            assert part in node, ref
            node = node[part]


def test_events_are_channels_with_parameters(document: dict[str, Any]) -> None:
    placed = document["channels"]["OrderEvents.Placed"]
    assert placed["address"] == "shop.orders.{order_id}.placed"
    assert placed["parameters"] == {
        "order_id": {
            "description": "The event's order_id field.",
            "location": "$message.payload#/orderId",
        }
    }
    viewed = document["channels"]["StorefrontEvents.Viewed"]["parameters"]["channel"]
    assert viewed["enum"] == ["0", "1", "2"]
    assert document["channels"]["OrderEvents.Cancelled"]["address"] == (
        "shop.v1.OrderEvents.Cancelled"
    )
    operation = document["operations"]["OrderEvents.Placed"]
    assert operation["action"] == "send"
    assert "SHOP_ORDERS" in operation["description"]
    message = document["components"]["messages"]["OrderEvents.Placed"]
    assert message["headers"]["required"] == ["Nats-Msg-Id"]
    assert message["payload"] == {"$ref": "#/components/schemas/shop.v1.OrderPlaced"}
    # A core NATS event carries no stream headers.
    assert "headers" not in document["components"]["messages"]["StorefrontEvents.Viewed"]
    assert "at most once" in document["operations"]["StorefrontEvents.Viewed"]["description"]


def test_rpc_methods_are_request_reply_operations(document: dict[str, Any]) -> None:
    operation = document["operations"]["Orders.PlaceOrder"]
    assert operation["action"] == "send"
    assert operation["channel"] == {"$ref": "#/channels/Orders.PlaceOrder"}
    assert operation["reply"]["channel"] == {"$ref": "#/channels/Orders.PlaceOrder.reply"}
    assert operation["bindings"] == {"nats": {"queue": "q", "bindingVersion": "0.1.0"}}
    assert document["channels"]["Orders.PlaceOrder"]["address"] == "shop.v1.Orders.PlaceOrder"
    assert document["channels"]["Orders.PlaceOrder.reply"]["address"] is None
    assert document["servers"]["nats"]["protocol"] == "nats"


def payload_validator(document: dict[str, Any], message: str) -> jsonschema.Draft7Validator:
    """Validates against one component schema, resolving ``$ref``s within the document."""
    root = {**document, "$ref": f"#/components/schemas/{message}"}
    return jsonschema.Draft7Validator(root)


def test_payload_schemas_follow_the_proto3_json_mapping(
    document: dict[str, Any], project: Path
) -> None:
    pb = importlib.import_module("shop_events_pb2")
    event = pb.OrderPlaced(
        event_id="e-1",
        order_id="o-1",
        items=[pb.LineItem(sku="A", quantity=2, price=pb.Money(currency="EUR", units=12))],
        total=pb.Money(currency="EUR", units=2**40, nanos=5),
        channel=pb.WEB,
        attributes={"note": "ring twice"},
        coupon="SPRING",
        card_token="tok",
        category=pb.Category(name="a", children=[pb.Category(name="b")]),
        signature=b"\x00\x01",
        weight_kg=1.5,
        gift=True,
    )
    event.placed_at.FromSeconds(1_700_000_000)
    as_json = json_format.MessageToDict(event)
    assert as_json["total"]["units"] == str(2**40)  # the mapping's 64-bit integers are strings
    validator = payload_validator(document, "shop.v1.OrderPlaced")
    assert list(validator.iter_errors(as_json)) == []

    for wrong in (
        {"orderId": 5},
        {"channel": "PHONE"},
        {"total": {"units": 12}},
        {"placedAt": 1700000000},
        {"items": {"sku": "A"}},
        {"category": {"children": [{"name": 1}]}},
    ):
        assert list(validator.iter_errors(wrong)), wrong


def test_recursive_messages_are_one_named_schema(document: dict[str, Any]) -> None:
    category = document["components"]["schemas"]["shop.v1.Category"]
    assert category["properties"]["children"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/shop.v1.Category"},
    }
    assert category["description"] == "A category tree; it refers to itself."


def test_well_known_types_use_their_json_forms(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    placed = schemas["shop.v1.OrderPlaced"]["properties"]
    assert placed["placedAt"] == {"type": "string", "format": "date-time"}
    assert placed["attributes"] == {"type": "object", "additionalProperties": {"type": "string"}}
    assert placed["signature"] == {"type": "string", "contentEncoding": "base64"}
    assert placed["customerId"] == {"type": "string", "description": "Who placed the order."}
    shipped = schemas["shop.v1.OrderShipped"]["properties"]
    assert shipped["expectedIn"]["pattern"].endswith("s$")
    assert shipped["shipmentId"]["type"] == "string"
    assert not any(name.startswith("google.protobuf.") for name in schemas)


def test_written_only_when_asked_and_beside_the_module(tmp_path: Path) -> None:
    proto = 'syntax = "proto3";\npackage p;\nmessage M {}\nservice S { rpc Call(M) returns (M); }\n'
    write_protos(tmp_path, {"dir/x.proto": proto})
    assert sorted(files_by_name(generate_from(tmp_path, ["dir/x.proto"]))) == ["dir/x_natsrpc.py"]
    for parameter in ("asyncapi=false", "asyncapi=true,asyncapi=false"):
        response = generate_from(tmp_path, ["dir/x.proto"], parameter=parameter)
        assert sorted(files_by_name(response)) == ["dir/x_natsrpc.py"], parameter
    for parameter in ("asyncapi=true", "asyncapi"):
        response = generate_from(tmp_path, ["dir/x.proto"], parameter=parameter)
        assert sorted(files_by_name(response)) == ["dir/x.asyncapi.json", "dir/x_natsrpc.py"]


def test_bad_asyncapi_value_is_a_plugin_error(tmp_path: Path) -> None:
    write_protos(tmp_path, {"x.proto": 'syntax = "proto3";\nmessage M {}\n'})
    response = generate_from(tmp_path, ["x.proto"], parameter="asyncapi=yes")
    assert response.error == "bad value 'yes' for parameter 'asyncapi': expected true or false"
