"""The ``(natsrpc.service)`` and ``(natsrpc.method)`` options: shipped, read, checked, served."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2
from nats.aio.client import Client as NATS
from plugin_helpers import (
    OPTIONS_INCLUDE,
    PROTOS,
    ROOT,
    files_by_name,
    generate_from,
    run_protoc,
    write_protos,
)

import natsrpc
from natsrpc import options_pb2

HEADER = """\
syntax = "proto3";
package shop;
import "natsrpc/options.proto";
message Req {}
message Resp {}
"""


def generate_service(tmp_path: Path, body: str, *, name: str = "dir/shop.proto") -> Any:
    write_protos(tmp_path, {name: HEADER + body})
    return generate_from(tmp_path, [name], includes=[OPTIONS_INCLUDE])


def code_for(tmp_path: Path, body: str) -> str:
    response = generate_service(tmp_path, body)
    assert not response.error, response.error
    return str(files_by_name(response)["dir/shop_natsrpc.py"])


# --- the shipped file -------------------------------------------------------------------


def test_options_proto_ships_inside_the_package() -> None:
    assert (OPTIONS_INCLUDE / "natsrpc" / "options.proto").is_file()
    assert options_pb2.DESCRIPTOR.name == "natsrpc/options.proto"
    assert options_pb2.DESCRIPTOR.package == "natsrpc"


def test_checked_in_pb2_matches_options_proto(tmp_path: Path) -> None:
    """natsrpc/options_pb2.py is current: it embeds what protoc makes of options.proto now."""
    out = tmp_path / "options.pb"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{ROOT}",
            f"--descriptor_set_out={out}",
            "natsrpc/options.proto",
        ],
        check=True,
        cwd=ROOT,
    )
    fresh = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[0]
    shipped = descriptor_pb2.FileDescriptorProto.FromString(options_pb2.DESCRIPTOR.serialized_pb)
    # protoc's Python generator leaves out the json_name it would compute anyway.
    messages = list(fresh.message_type)
    while messages:
        message = messages.pop()
        messages.extend(message.nested_type)
        for field in [*message.field, *message.extension]:
            field.ClearField("json_name")
    for extension in fresh.extension:
        extension.ClearField("json_name")
    assert shipped == fresh, "natsrpc/options_pb2.py is stale: regenerate it (see docs/options.md)"


def _version(text: str) -> tuple[int, ...]:
    parts = [int(part) for part in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def test_pb2_gencode_runs_on_the_oldest_supported_protobuf() -> None:
    """protobuf refuses gencode newer than its runtime, so the floor must cover ours."""
    source = (ROOT / "natsrpc" / "options_pb2.py").read_text()
    gencode = re.search(r"^# Protobuf Python Version: ([\d.]+)$", source, re.MULTILINE)
    assert gencode is not None
    floor = re.search(r'"protobuf>=([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    assert floor is not None
    assert _version(gencode.group(1)) <= _version(floor.group(1)), (
        f"options_pb2.py needs protobuf >= {gencode.group(1)} but pyproject.toml allows "
        f">= {floor.group(1)}; regenerate it with the older protoc (see docs/options.md)"
    )


def test_field_numbers_are_the_documented_ones() -> None:
    assert options_pb2.service.number == options_pb2.method.number == 51820
    assert options_pb2.service.containing_type.full_name == "google.protobuf.ServiceOptions"
    assert options_pb2.method.containing_type.full_name == "google.protobuf.MethodOptions"
    doc = (ROOT / "docs" / "options.md").read_text()
    assert "51820" in doc


# --- what the plugin writes -------------------------------------------------------------


def test_every_option_reaches_the_specs(tmp_path: Path) -> None:
    code = code_for(
        tmp_path,
        """
service Cart {
  option (natsrpc.service) = {
    name: "cart_svc" version: "2.0.0-rc.1" description: "  Spaced\\nout  "
    subject_group: "shop.cart.v2" queue_group: "workers.cart"
    metadata: { key: "b" value: "2" } metadata: { key: "a" value: "quote \\" and \\\\" }
  };
  rpc Add(Req) returns (Resp) {
    option (natsrpc.method) = {
      subject: "add-item" timeout: { nanos: 250000000 } metadata: { key: "x" value: "y" }
    };
  }
  rpc Plain(Req) returns (Resp);
}
""",
    )
    assert '    subject="shop.cart.v2.add-item",\n' in code
    assert '    subject="shop.cart.v2.Plain",\n' in code
    assert "    timeout=0.25,\n" in code
    assert '    metadata={\n        "x": "y",\n    },\n' in code
    assert '    micro_name="cart_svc",\n' in code
    assert '    version="2.0.0-rc.1",\n' in code
    assert '    queue_group="workers.cart",\n' in code
    assert '    description="  Spaced\\nout  ",\n' in code
    # Sorted by key, so the output does not depend on the order protoc keeps.
    assert '    metadata={\n        "a": \'quote " and \\\\\',\n        "b": "2",\n    },\n' in code
    # The proto path stays the gRPC identity whatever the subject.
    assert '    path="/shop.Cart/Add",\n' in code
    compile(code, "shop_natsrpc.py", "exec")


def test_no_options_means_no_extra_keywords(tmp_path: Path) -> None:
    code = code_for(tmp_path, "service Cart { rpc Add(Req) returns (Resp); }")
    for keyword in ("timeout=", "metadata=", "micro_name=", "queue_group=", "version="):
        assert keyword not in code


def test_empty_description_option_clears_the_comment(tmp_path: Path) -> None:
    code = code_for(
        tmp_path, '// Commented.\nservice Cart { option (natsrpc.service).description = ""; }'
    )
    assert "description=" not in code
    assert '    """Commented."""\n' in code


def test_version_comment_still_works_beside_other_options(tmp_path: Path) -> None:
    code = code_for(
        tmp_path,
        '// version: 3.1.4\nservice Cart { option (natsrpc.service).name = "cart"; }',
    )
    assert '    version="3.1.4",\n' in code


# --- invalid values ---------------------------------------------------------------------

SERVICE_CASES = {
    "name-with-dot": ('option (natsrpc.service).name = "shop.cart";', "name", "'shop.cart'"),
    "name-empty": ('option (natsrpc.service).name = "";', "name", "''"),
    "name-space": ('option (natsrpc.service).name = "my cart";', "name", "'my cart'"),
    "version": ('option (natsrpc.service).version = "v1";', "version", "'v1'"),
    "version-partial": ('option (natsrpc.service).version = "1.2";', "version", "'1.2'"),
    "group-space": ('option (natsrpc.service).subject_group = "a b";', "subject_group", "'a b'"),
    "group-star": ('option (natsrpc.service).subject_group = "a.*";', "subject_group", "'*'"),
    "group-gt": ('option (natsrpc.service).subject_group = "a.>";', "subject_group", "'>'"),
    "group-empty-token": (
        'option (natsrpc.service).subject_group = "a..b";',
        "subject_group",
        "empty token",
    ),
    "group-trailing-dot": (
        'option (natsrpc.service).subject_group = "a.";',
        "subject_group",
        "empty token",
    ),
    "group-empty": ('option (natsrpc.service).subject_group = "";', "subject_group", "empty"),
    "group-control": (
        'option (natsrpc.service).subject_group = "a\\x01";',
        "subject_group",
        "control character",
    ),
    "queue-space": ('option (natsrpc.service).queue_group = "q 1";', "queue_group", "'q 1'"),
    "queue-tab": ('option (natsrpc.service).queue_group = "q\\t1";', "queue_group", "whitespace"),
    "queue-empty": ('option (natsrpc.service).queue_group = "";', "queue_group", "empty"),
    "metadata-empty-key": (
        'option (natsrpc.service).metadata = { key: "" value: "x" };',
        "metadata",
        "empty key",
    ),
}


@pytest.mark.parametrize("case", sorted(SERVICE_CASES))
def test_invalid_service_option_names_file_service_and_option(tmp_path: Path, case: str) -> None:
    option, field, detail = SERVICE_CASES[case]
    response = generate_service(tmp_path, f"service Cart {{\n  {option}\n}}\n")
    assert response.error.startswith("dir/shop.proto: service Cart: "), response.error
    assert f"(natsrpc.service).{field}" in response.error
    assert detail in response.error
    assert "Traceback" not in response.error
    assert not response.file


METHOD_CASES = {
    "subject-dot": ('option (natsrpc.method).subject = "a.b";', "subject", "single"),
    "subject-space": ('option (natsrpc.method).subject = "a b";', "subject", "whitespace"),
    "subject-star": ('option (natsrpc.method).subject = "*";', "subject", "'*'"),
    "subject-gt": ('option (natsrpc.method).subject = ">";', "subject", "'>'"),
    "subject-empty": ('option (natsrpc.method).subject = "";', "subject", "empty token"),
    "subject-nbsp": ('option (natsrpc.method).subject = "a\\u00a0b";', "subject", "whitespace"),
    "timeout-zero": ("option (natsrpc.method).timeout = {};", "timeout", "positive"),
    "timeout-negative": (
        "option (natsrpc.method).timeout = { seconds: -1 };",
        "timeout",
        "positive",
    ),
    "timeout-nanos": (
        "option (natsrpc.method).timeout = { nanos: 1000000000 };",
        "timeout",
        "positive",
    ),
    "metadata-reserved": (
        'option (natsrpc.method).metadata = { key: "rpc.kind" value: "x" };',
        "metadata",
        "'rpc.kind' is reserved",
    ),
}


@pytest.mark.parametrize("case", sorted(METHOD_CASES))
def test_invalid_method_option_names_file_service_method_and_option(
    tmp_path: Path, case: str
) -> None:
    option, field, detail = METHOD_CASES[case]
    response = generate_service(
        tmp_path, f"service Cart {{\n  rpc Add(Req) returns (Resp) {{ {option} }}\n}}\n"
    )
    assert response.error.startswith("dir/shop.proto: service Cart, method Add: "), response.error
    assert f"(natsrpc.method).{field}" in response.error
    assert detail in response.error
    assert not response.file


def test_version_set_twice_is_an_error(tmp_path: Path) -> None:
    response = generate_service(
        tmp_path, '// version: 1.0.0\nservice Cart { option (natsrpc.service).version = "2.0.0"; }'
    )
    assert "service Cart" in response.error
    assert "'2.0.0'" in response.error and "'1.0.0'" in response.error


def test_colliding_subjects_are_an_error(tmp_path: Path) -> None:
    response = generate_service(
        tmp_path,
        """
service Cart {
  option (natsrpc.service).subject_group = "shop";
  rpc Add(Req) returns (Resp) { option (natsrpc.method).subject = "x"; }
}
service Wishlist {
  option (natsrpc.service).subject_group = "shop";
  rpc Put(Req) returns (Resp) { option (natsrpc.method).subject = "x"; }
}
""",
    )
    assert "service Wishlist, method Put" in response.error
    assert "'shop.x'" in response.error
    assert "service Cart, method Add" in response.error


def test_protoc_user_sees_the_error(tmp_path: Path) -> None:
    write_protos(
        tmp_path / "protos",
        {"s.proto": HEADER + 'service Cart { option (natsrpc.service).version = "x"; }'},
    )
    result = run_protoc(
        tmp_path / "protos", ["s.proto"], tmp_path / "out", includes=[OPTIONS_INCLUDE]
    )
    assert result.returncode != 0
    assert "s.proto: service Cart: (natsrpc.service).version 'x'" in result.stderr


# --- served for real --------------------------------------------------------------------


@pytest.fixture(scope="module")
def billing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    out = tmp_path_factory.mktemp("billing")
    result = run_protoc(PROTOS, ["billing.proto"], out, includes=[OPTIONS_INCLUDE])
    assert result.returncode == 0, result.stderr
    sys.path.insert(0, str(out))
    try:
        import billing_natsrpc

        yield billing_natsrpc
    finally:
        sys.path.remove(str(out))


async def test_options_take_effect_on_the_wire(nc: NATS, billing: Any) -> None:
    import billing_pb2

    class Billing(billing.Billing):  # type: ignore[misc]
        async def charge(self, request: Any, context: natsrpc.Context) -> Any:
            return billing_pb2.ChargeReply(charge_id=f"{context.subject}/{request.customer}")

    server = natsrpc.Server(nc)
    server.add_service(Billing())
    async with server:
        # A plain NATS request on the configured subject reaches the handler.
        raw = await nc.request(
            "acme.billing.charge", billing_pb2.ChargeRequest(customer="ada").SerializeToString()
        )
        assert billing_pb2.ChargeReply.FromString(raw.data).charge_id == "acme.billing.charge/ada"

        client = billing.BillingClient(nc)
        assert billing.BILLING_CHARGE.timeout == 2.5
        reply = await client.charge(billing_pb2.ChargeRequest(customer="bob"))
        assert reply.charge_id == "acme.billing.charge/bob"

        info = json.loads((await nc.request("$SRV.INFO.billing", b"")).data)
        assert info["name"] == "billing"
        assert info["version"] == "1.4.0"
        assert info["description"] == "Charges and refunds"
        assert info["metadata"] == {"on-call": "#payments-oncall", "team": "payments"}
        charge = next(e for e in info["endpoints"] if e["name"] == "Charge")
        assert charge["subject"] == "acme.billing.charge"
        assert charge["queue_group"] == "billing-workers"
        assert charge["metadata"]["audit"] == "full"
        assert charge["metadata"]["rpc.method"] == "/acme.billing.v1.Billing/Charge"
