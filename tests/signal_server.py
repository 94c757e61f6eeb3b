"""An Echo server process that stops gracefully on SIGINT or SIGTERM via natsrpc.run.

``python tests/signal_server.py URL NAME [GRACE_SECONDS [METRICS_PORT]]`` prints
``ready`` once it serves, and ``stopped SIGTERM handled=N cancelled=M`` after its graceful stop.
"""

from __future__ import annotations

import sys

import nats
from echo_service import EchoService

import natsrpc


def main() -> None:
    url, name = sys.argv[1], sys.argv[2]
    grace = float(sys.argv[3]) if len(sys.argv) > 3 else None
    metrics_port = int(sys.argv[4]) if len(sys.argv) > 4 else None
    impl = EchoService(name)
    server_box: list[natsrpc.Server] = []

    async def build() -> natsrpc.Server:
        nc = await nats.connect(url)
        server = natsrpc.Server(nc)
        server.add_service(impl)
        server_box.append(server)
        return server

    caught = natsrpc.run(
        build,
        grace_period=grace,
        ready=lambda: print("ready", flush=True),
        metrics_port=metrics_port,
    )
    handled = server_box[0].services[0].endpoints[0].stats.num_requests
    print(f"stopped {caught.name} handled={handled} cancelled={impl.cancelled}", flush=True)


if __name__ == "__main__":
    main()
