"""``buf curl`` (the Buf CLI, a client no one here wrote) against both front ends."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from gateway_support import Running

PROTOS = Path(__file__).resolve().parent.parent / "protos"
BUF = shutil.which("buf")
pytestmark = pytest.mark.skipif(
    BUF is None, reason="buf is not installed (npm install --global @bufbuild/buf)"
)


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test protos as a FileDescriptorSet: the gateway serves no gRPC reflection."""
    out = tmp_path_factory.mktemp("schema") / "natsrpc_test.binpb"
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTOS}", "--include_imports",
         f"--descriptor_set_out={out}", "natsrpc_test/echo.proto", "natsrpc_test/stream.proto"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return out


async def buf_curl(
    schema: Path, protocol: str, url: str, data: object, *headers: str, timeout: str = "30s"
) -> tuple[int, str, str]:
    assert BUF is not None
    args = [BUF, "curl", "--timeout", timeout, "--schema", str(schema), "--protocol", protocol]
    args += ["-d", json.dumps(data)]
    if protocol == "grpc":
        args.append("--http2-prior-knowledge")
    for header in headers:
        args += ["-H", header]
    process = await asyncio.create_subprocess_exec(
        *args, url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def base(running: Running, protocol: str) -> str:
    return running.http_url if protocol == "connect" else f"http://{running.grpc_target}"


PROTOCOLS = pytest.mark.parametrize("protocol", ["connect", "grpc"])


@PROTOCOLS
async def test_unary(running: Running, schema: Path, protocol: str) -> None:
    code, out, err = await buf_curl(
        schema, protocol, base(running, protocol) + "/natsrpc_test.Echo/Echo",
        {"text": "from buf", "echoMetadata": True}, "X-Tenant: acme",
    )  # fmt: skip
    assert code == 0, err
    reply = json.loads(out)
    assert (reply["text"], reply["metadata"]) == ("from buf", {"x-tenant": "acme"})


@PROTOCOLS
async def test_server_streaming(running: Running, schema: Path, protocol: str) -> None:
    code, out, err = await buf_curl(
        schema, protocol, base(running, protocol) + "/natsrpc_test.Streamer/Produce", {"count": 3}
    )
    assert code == 0, err
    items = [json.loads(part) for part in out.replace("}\n{", "}\x00{").split("\x00")]
    assert [item.get("index", 0) for item in items] == [0, 1, 2]


@PROTOCOLS
async def test_an_error_with_its_message(running: Running, schema: Path, protocol: str) -> None:
    code, _, err = await buf_curl(
        schema, protocol, base(running, protocol) + "/natsrpc_test.Echo/Echo",
        {"failCode": 5, "failMessage": "no such greeting"},
    )  # fmt: skip
    assert code != 0
    error = json.loads(err)
    assert (error["code"], error["message"]) == ("not_found", "no such greeting")


@PROTOCOLS
async def test_a_deadline(running: Running, schema: Path, protocol: str) -> None:
    # buf sends its --timeout as the call's deadline (Connect-Timeout-Ms, grpc-timeout).
    url = base(running, protocol) + "/natsrpc_test.Echo/Echo"
    code, out, err = await buf_curl(schema, protocol, url, {}, timeout="4s")
    assert code == 0, err
    assert 0 < json.loads(out)["timeRemaining"] <= 4.0
    code, _, err = await buf_curl(schema, protocol, url, {"sleepMs": 5000}, timeout="1s")
    assert code != 0
    # The gateway's DEADLINE_EXCEEDED, or buf's own deadline when it fires first.
    assert "deadline_exceeded" in err or "context deadline exceeded" in err, err


async def test_grpc_reflection_needs_no_schema(running: Running) -> None:
    """The gateway answers gRPC server reflection, so buf curl needs no --schema."""
    assert BUF is not None
    base_url = f"http://{running.grpc_target}"
    process = await asyncio.create_subprocess_exec(
        BUF, "curl", "--timeout", "30s", "--protocol", "grpc", "--http2-prior-knowledge",
        "--list-services", base_url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert {"natsrpc_test.Echo", "natsrpc_test.Streamer"} <= set(out.decode().split())
    process = await asyncio.create_subprocess_exec(
        BUF, "curl", "--timeout", "30s", "--protocol", "grpc", "--http2-prior-knowledge",
        "-d", '{"text": "reflected"}', base_url + "/natsrpc_test.Echo/Echo",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert json.loads(out)["text"] == "reflected"


@PROTOCOLS
async def test_error_details_and_binary_metadata(
    running: Running, schema: Path, protocol: str, echo_pb2: ModuleType
) -> None:
    code, _, err = await buf_curl(
        schema, protocol, f"{base(running, protocol)}/natsrpc_test.Echo/Echo",
        {"text": "details", "failCode": 9, "failMessage": "not yet"},
    )  # fmt: skip
    assert code != 0
    error = json.loads(err)
    assert (error["code"], error["message"]) == ("failed_precondition", "not yet")
    [detail] = error["details"]
    assert detail["type"] == "natsrpc_test.EchoReply"
    value = base64.b64decode(detail["value"] + "=" * (-len(detail["value"]) % 4))
    assert echo_pb2.EchoReply.FromString(value).text == "detail"
    # buf curl sends a -bin header as given; the gateway decodes its base64 to bytes.
    code, out, err = await buf_curl(
        schema, protocol, f"{base(running, protocol)}/natsrpc_test.Echo/Echo",
        {"echoMetadata": True}, "x-token-bin: AAH/",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["metadata"] == {"x-token-bin": "AAH/"}
