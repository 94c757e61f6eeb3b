"""A real browser: headless Chromium runs a page that calls the gateway with
@connectrpc/connect-web from another origin, so CORS (and its preflight) is exercised."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import html
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from helpers import Served
from nats.aio.client import Client as NATS
from node_tools import project

from natsrpc.gateway import CorsPolicy, Gateway

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed (apt-get install chromium)"
)
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip

HOLD_AT_MOST = 60.0
"""Seconds the page's load is held for its calls, at most (a bound against hanging)."""

PAGE_SCRIPT = """\
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { Echo } from "./gen/natsrpc_test/echo_pb.js";
import { Streamer } from "./gen/natsrpc_test/stream_pb.js";

const out = document.getElementById("result");
const transport = createConnectTransport({
  baseUrl: new URLSearchParams(location.search).get("gateway"),
});
try {
  const reply = await createClient(Echo, transport).echo(
    { text: "from chromium", echoMetadata: true, trailers: { "x-done": "yes" } },
    { headers: { "x-tenant": "web" }, onTrailer: (t) => { window.trailer = t.get("x-done"); } },
  );
  const indexes = [];
  for await (const item of createClient(Streamer, transport).produce({ count: 3 })) {
    indexes.push(item.index);
  }
  out.textContent = JSON.stringify({
    text: reply.text, metadata: reply.metadata, indexes, trailer: window.trailer,
  });
} catch (error) {
  out.textContent = JSON.stringify({ error: String(error) });
}
// The page's load event waits for the image below, which the page server holds
// until this release: so --dump-dom dumps once the calls have finished.
await fetch("/release", { method: "POST" });
"""
PAGE = (
    '<!doctype html><pre id="result">pending</pre><img src="/hold" alt="">'
    '<script type="module" src="page.js"></script>'
)


@pytest.fixture(scope="module")
def page_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The page and its script, bundled by esbuild (connect-web and the generated code)."""
    directory = project(tmp_path_factory.mktemp("browser") / "web", target="js")
    (directory / "source.js").write_text(PAGE_SCRIPT)
    (directory / "index.html").write_text(PAGE)
    esbuild = directory / "node_modules" / ".bin" / "esbuild"
    subprocess.run(
        [str(esbuild), "source.js", "--bundle", "--format=esm", "--outfile=page.js"],
        cwd=directory, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return directory


@contextlib.contextmanager
def page_server(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on an origin of its own; yields that origin."""
    released = threading.Event()
    handler = functools.partial(_PageHandler, released, directory=str(directory))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


class _PageHandler(SimpleHTTPRequestHandler):
    """The page's files, and the /hold image that /release lets through."""

    def __init__(self, released: threading.Event, *args: Any, **kwargs: Any) -> None:
        self.released = released
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        if self.path == "/hold":
            self.released.wait(HOLD_AT_MOST)
            self._empty()
        else:
            super().do_GET()

    def do_POST(self) -> None:
        self.released.set()
        self._empty()

    def _empty(self) -> None:
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


async def page_result(url: str, profile: Path) -> dict[str, object]:
    """What the page wrote into #result, read from Chromium's --dump-dom."""
    assert CHROMIUM is not None
    process = await asyncio.create_subprocess_exec(
        CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
        "--dump-dom", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 90)
    match = re.search(r'<pre id="result">(.*?)</pre>', out.decode(), re.S)
    assert match, out.decode()[-2000:]
    text = html.unescape(match.group(1))
    assert text != "pending", err.decode()[-2000:]
    return json.loads(text)  # type: ignore[no-any-return]


async def test_a_page_from_another_origin_calls_unary_and_streaming(
    nc: NATS, served: Served, page_directory: Path, tmp_path: Path
) -> None:
    with page_server(page_directory) as origin:
        gateway = Gateway(nc, cors=CorsPolicy((origin,)))
        async with gateway:
            gateway_url = f"http://127.0.0.1:{await gateway.start_http()}"
            result = await page_result(f"{origin}/index.html?gateway={gateway_url}", tmp_path / "a")
    assert result == {
        "text": "from chromium",
        "metadata": {"x-tenant": "web"},
        "indexes": [0, 1, 2],
        "trailer": "yes",
    }


async def test_an_origin_not_allowed_is_refused_by_the_browser(
    nc: NATS, served: Served, page_directory: Path, tmp_path: Path
) -> None:
    with page_server(page_directory) as origin:
        gateway = Gateway(nc, cors=CorsPolicy(("https://somewhere.else",)))
        async with gateway:
            gateway_url = f"http://127.0.0.1:{await gateway.start_http()}"
            result = await page_result(f"{origin}/index.html?gateway={gateway_url}", tmp_path / "b")
    # The preflight is refused, so the browser never sends the call.
    assert "Failed to fetch" in str(result["error"])
