"""Reflection answers, and the CLI on a service whose natsrpc options move its subjects."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest
from cli_support import COMMAND, PROTOS, run_cli
from google.protobuf import descriptor_pb2
from plugin_helpers import OPTIONS_INCLUDE, run_protoc

import natsrpc
from natsrpc.reflection.client import ReflectionClient
from natsrpc.reflection.v1.reflection_pb2 import ExtensionRequest, ServerReflectionRequest
from natsrpc.testing import NatsServer


@pytest.fixture(scope="module")
def billing(tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("billing")
    result = run_protoc(PROTOS, ["billing.proto"], out, includes=[OPTIONS_INCLUDE])
    assert result.returncode == 0, result.stderr
    sys.path.insert(0, str(out))
    try:
        import billing_natsrpc

        return billing_natsrpc
    finally:
        sys.path.remove(str(out))


@pytest.fixture
async def billing_server(billing: Any, server: NatsServer) -> AsyncIterator[nats.NATS]:
    nc = await nats.connect(server.url)
    served = natsrpc.Server(nc)
    served.add_service(billing.Billing())
    async with served:
        yield nc
    await nc.close()


async def ask(nc: Any, request: ServerReflectionRequest) -> Any:
    return await ReflectionClient(nc).ask("acme.billing.$reflection", request)


async def test_every_kind_of_question(billing_server: Any) -> None:
    nc = billing_server
    listed = await ask(nc, ServerReflectionRequest(list_services="*", host="h"))
    assert [s.name for s in listed.list_services_response.service] == ["acme.billing.v1.Billing"]
    assert listed.valid_host == "h"
    assert listed.original_request.list_services == "*"

    by_name = await ask(nc, ServerReflectionRequest(file_by_filename="billing.proto"))
    names = [
        descriptor_pb2.FileDescriptorProto.FromString(blob).name
        for blob in by_name.file_descriptor_response.file_descriptor_proto
    ]
    assert names[0] == "billing.proto"
    assert sorted(names[1:]) == [
        "google/protobuf/descriptor.proto",
        "google/protobuf/duration.proto",
        "google/protobuf/empty.proto",
        "natsrpc/options.proto",
    ]

    numbers = await ask(
        nc, ServerReflectionRequest(all_extension_numbers_of_type="google.protobuf.ServiceOptions")
    )
    assert 51820 in numbers.all_extension_numbers_response.extension_number

    extension = await ask(
        nc,
        ServerReflectionRequest(
            file_containing_extension=ExtensionRequest(
                containing_type="google.protobuf.ServiceOptions", extension_number=51820
            )
        ),
    )
    first = extension.file_descriptor_response.file_descriptor_proto[0]
    assert first.startswith(b"\n\x15natsrpc/options.proto")

    missing = await ask(nc, ServerReflectionRequest(file_containing_symbol="no.Such"))
    assert missing.error_response.error_code == 5
    assert missing.error_response.error_message == "symbol not found: no.Such"
    unknown_file = await ask(nc, ServerReflectionRequest(file_by_filename="secret.proto"))
    assert unknown_file.error_response.error_code == 5
    empty = await ask(nc, ServerReflectionRequest())
    assert empty.error_response.error_code == 3


async def test_the_cli_follows_subject_options(
    billing_server: Any, cli_env: dict[str, str]
) -> None:
    # acme.billing.v1.Billing serves on acme.billing.*: reflection is found through
    # discovery, the method subject through the schema's options.
    process = await asyncio.create_subprocess_exec(
        *COMMAND, "call", "acme.billing.v1.Billing/Charge", "-d", "{}",
        env=cli_env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 64 + 12
    assert stderr.decode().startswith("UNIMPLEMENTED: ")

    info = await asyncio.create_subprocess_exec(
        *COMMAND, "info", "acme.billing.v1.Billing", "--json",
        env=cli_env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, _ = await asyncio.wait_for(info.communicate(), 30)
    [instance] = json.loads(stdout)
    assert instance["name"] == "billing"
    assert {e["subject"] for e in instance["endpoints"]} >= {"acme.billing.charge"}


def test_permissions_follow_subject_options(billing: Any, cli_env: dict[str, str]) -> None:
    env = {**cli_env, "PYTHONPATH": str(Path(billing.__file__).parent)}
    from_proto = run_cli(
        env, "permissions", "--user", "u", "--serve", "acme.billing.v1.Billing", "--json",
        "--proto", "billing.proto", "-I", str(PROTOS),
    )  # fmt: skip
    from_class = run_cli(
        env, "permissions", "--user", "u", "--serve", "billing_natsrpc:Billing", "--json"
    )
    assert from_proto.returncode == 0, from_proto.stderr
    document = json.loads(from_proto.stdout)
    assert document == json.loads(from_class.stdout)
    assert "acme.billing.charge billing-workers" in document["sub"]["allow"]
    assert "acme.billing.$reflection q" in document["sub"]["allow"]
    assert "$SRV.INFO.billing.*" in document["sub"]["allow"]


def test_a_clashing_reflection_schema_only_turns_reflection_off() -> None:
    # grpcio-reflection registers the same grpc.reflection.v1 names from another file.
    script = """
from google.protobuf import descriptor_pb2, descriptor_pool
clash = descriptor_pb2.FileDescriptorProto(
    name="grpc/reflection/v1/reflection.proto", package="grpc.reflection.v1", syntax="proto3"
)
clash.message_type.add(name="ServerReflectionRequest")
descriptor_pool.Default().Add(clash)
import natsrpc.reflection
print(natsrpc.reflection._reflection_for([]))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout) == (0, "None\n")
    assert "natsrpc serves no reflection in this process: " in result.stderr
