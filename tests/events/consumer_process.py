"""A consumer process for the crash and shutdown tests.

    python consumer_process.py <nats url> <group> <handler seconds> <ack wait>

Serves ``event_sets.ORDERS`` under ``natsrpc.run`` (SIGTERM stops it gracefully).
Each handled event is reported on the core subject ``test.done`` as
``<event id> <delivery count>`` just before the handler returns.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import event_sets
import nats

import natsrpc
from natsrpc.events import EventContext


def main() -> None:
    url, group, seconds, ack_wait = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])

    async def build() -> natsrpc.Server:
        nc = await nats.connect(url, reconnect_time_wait=0.2, max_reconnect_attempts=-1)

        class Recorder(event_sets.ORDERS.Handlers):  # type: ignore[name-defined,misc]
            async def on_placed(self, event: Any, context: EventContext) -> None:
                await asyncio.sleep(seconds)
                await nc.publish("test.done", f"{event.event_id} {context.delivery_count}".encode())

        server = natsrpc.Server(nc, grace_period=10)
        server.add_service(Recorder(), consumer=group, ack_wait=ack_wait, max_concurrency=4)
        return server

    natsrpc.run(build, ready=lambda: print("ready", flush=True))


if __name__ == "__main__":
    main()
