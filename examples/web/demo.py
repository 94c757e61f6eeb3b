"""The greeter in a browser: nats-server, the greeter, and the gateway serving this page.

``python demo.py`` prints the page's URL, checks the calls the page makes, and
keeps serving while you try it (Enter stops it; without a terminal it stops
at once, so ``python3 tasks.py demo`` does not wait).
"""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import nats
import natsrpc
from natsrpc.gateway import Gateway
from natsrpc.testing import NatsServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "greeter"))
from server import Greeter  # the greeter example's own service

PAGE = (Path(__file__).resolve().parent / "index.html").read_bytes()
SERVE_AT_MOST = 600.0
"""Seconds the demo serves the page at most, when someone is there to press Enter."""


def with_page(gateway_app: Any) -> Any:
    """An ASGI app that answers ``GET /`` with the page and everything else with the gateway:
    the page and the gateway share an origin, so no CORS is needed."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/" and scope["method"] == "GET":
            headers = [(b"content-type", b"text/html; charset=utf-8")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": PAGE})
            return
        await gateway_app(scope, receive, send)

    return app


def check(url: str) -> None:
    """Make the page's two calls the way its fetch() does, and print the answers."""
    request = urllib.request.Request(
        f"{url}/helloworld.Greeter/SayHello",
        data=json.dumps({"name": "web"}).encode(),
        headers={"Content-Type": "application/json", "Connect-Protocol-Version": "1"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        print("POST SayHello ->", json.loads(response.read())["message"])
    query = urllib.parse.urlencode(
        {"connect": "v1", "encoding": "json", "message": json.dumps({"name": "web"})}
    )
    with urllib.request.urlopen(
        f"{url}/helloworld.Greeter/SayHelloAgain?{query}", timeout=10
    ) as response:
        print("GET SayHelloAgain ->", json.loads(response.read())["message"])


async def main() -> None:
    import uvicorn

    with NatsServer() as nats_server:
        nc = await nats.connect(nats_server.url)
        server = natsrpc.Server(nc)
        server.add_service(Greeter())
        async with server, Gateway(nc) as gateway:
            config = uvicorn.Config(with_page(gateway.asgi), port=0, log_level="warning")
            http = uvicorn.Server(config)
            serving = asyncio.create_task(http.serve())
            while not http.started:
                await asyncio.sleep(0.05)
            port = http.servers[0].sockets[0].getsockname()[1]
            url = f"http://127.0.0.1:{port}"
            print(f"the greeter page is at {url}/ (served by the gateway, over nats-server)")
            await asyncio.to_thread(check, url)
            if sys.stdin.isatty():
                print("open it in a browser; press Enter to stop")
                waiting = asyncio.create_task(asyncio.to_thread(sys.stdin.readline))
                await asyncio.wait([waiting, serving], timeout=SERVE_AT_MOST)
            http.should_exit = True
            await serving
        await nc.close()


if __name__ == "__main__":
    asyncio.run(main())
