"""Compressed Connect requests: gzip taken in every form Connect allows, the size limit
applied to what it inflates to, anything else refused with Connect's code."""

from __future__ import annotations

import base64
import gzip
import json
from types import ModuleType

import httpx
import pytest
from gateway_support import Running, envelope, envelopes

from natsrpc.gateway import Limits

ECHO = "/natsrpc_test.Echo/Echo"
PRODUCE = "/natsrpc_test.Streamer/Produce"
LIMIT = 1024


@pytest.fixture
def limits() -> Limits:
    return Limits(max_request_bytes=LIMIT, max_concurrent_calls=8, default_timeout=5.0)


@pytest.fixture
async def http(running: Running) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=running.http_url, timeout=10.0) as client:
        yield client  # type: ignore[misc]


async def error_of(response: httpx.Response) -> tuple[int, str, str]:
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    return response.status_code, body["code"], body["message"]


async def test_a_gzipped_unary_request_is_answered(
    http: httpx.AsyncClient, echo_pb2: ModuleType
) -> None:
    request = echo_pb2.EchoRequest(text="squeezed " * 50)
    response = await http.post(
        ECHO,
        content=gzip.compress(request.SerializeToString()),
        headers={"content-type": "application/proto", "content-encoding": "gzip"},
    )
    assert response.status_code == 200
    assert echo_pb2.EchoReply.FromString(response.content).text == "squeezed " * 50


async def test_a_gzipped_get_query_is_answered(http: httpx.AsyncClient) -> None:
    message = base64.urlsafe_b64encode(gzip.compress(b'{"text": "peek"}')).decode()
    response = await http.get(
        "/natsrpc_test.Echo/Peek",
        params={"encoding": "json", "base64": "1", "compression": "gzip", "message": message},
    )
    assert response.status_code == 200
    assert response.json()["text"] == "peek"


async def test_a_compressed_stream_request_is_answered(
    http: httpx.AsyncClient, stream_pb2: ModuleType
) -> None:
    request = stream_pb2.ProduceRequest(count=3).SerializeToString()
    response = await http.post(
        PRODUCE,
        content=envelope(gzip.compress(request), flags=1),
        headers={"content-type": "application/connect+proto", "connect-content-encoding": "gzip"},
    )
    frames = envelopes(response.content)
    items = [stream_pb2.Item.FromString(payload).index for flags, payload in frames[:-1]]
    assert items == [0, 1, 2]
    assert frames[-1] == (2, b"{}")


@pytest.mark.parametrize(
    ("content", "encoding", "expected"),
    [
        (b"not gzip at all", "gzip",
         (400, "invalid_argument", "the request is not valid gzip")),
        # Cut short: the stream never ends.
        (gzip.compress(b'{"text": "cut"}')[:-8], "gzip",
         (400, "invalid_argument", "the request is not valid gzip")),
        # Small on the wire, far past the limit once inflated.
        (gzip.compress(json.dumps({"text": "a" * 50 * LIMIT}).encode()), "gzip",
         (429, "resource_exhausted",
          f"the request inflates past the gateway's limit of {LIMIT} bytes")),
        (b"{}", "br", (501, "unimplemented",
                       "compression 'br' is not supported; the gateway takes gzip, identity")),
    ],
)  # fmt: skip
async def test_bad_compression_gets_a_connect_error(
    http: httpx.AsyncClient, content: bytes, encoding: str, expected: tuple[int, str, str]
) -> None:
    response = await http.post(
        ECHO,
        content=content,
        headers={"content-type": "application/json", "content-encoding": encoding},
    )
    assert await error_of(response) == expected


async def test_a_stream_message_flagged_compressed_needs_its_encoding(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post(
        PRODUCE,
        content=envelope(gzip.compress(b""), flags=1),
        headers={"content-type": "application/connect+proto"},
    )
    [(flags, payload)] = envelopes(response.content)
    assert flags == 2
    assert json.loads(payload)["error"] == {
        "code": "invalid_argument",
        "message": "the message is flagged compressed and Connect-Content-Encoding names none",
    }
