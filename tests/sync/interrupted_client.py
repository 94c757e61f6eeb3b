"""A sync client that Ctrl-C interrupts in the middle of a call (tests/sync/test_sync_process.py).

``python interrupted_client.py URL KIND`` makes one call of KIND (``server_stream``,
``client_stream`` or ``unary``), printing ``calling`` just before it is sent; on
KeyboardInterrupt it prints ``interrupted <status code of the call>`` and exits.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

from natsrpc_test import echo_natsrpc, echo_pb2, stream_natsrpc, stream_pb2

import natsrpc.sync


def main() -> None:
    url, kind = sys.argv[1], sys.argv[2]
    with natsrpc.sync.connect(url) as connection:
        streamer = stream_natsrpc.StreamerSyncClient(connection, timeout=60)
        # "calling" goes out before the call does; the test waits for the server to
        # see the call before it interrupts, by which time this thread waits for it.
        print("calling", flush=True)
        if kind == "server_stream":
            # Slow items: the interrupt finds the thread waiting in next().
            call = streamer.produce(
                stream_pb2.ProduceRequest(count=1000, sleep_ms=1000, tag="interrupted")
            )
            try:
                for _ in call:
                    pass
            except KeyboardInterrupt:
                print(f"interrupted {call.code().name if call.done() else 'RUNNING'}", flush=True)
            return
        never = threading.Event()

        def requests() -> Iterator[stream_pb2.Item]:
            yield stream_pb2.Item(index=0)
            never.wait(60)

        try:
            if kind == "client_stream":
                future = streamer.collect.future(requests(), metadata={"x-tag": "interrupted"})
            else:
                echo = echo_natsrpc.EchoSyncClient(connection, timeout=60)
                future = echo.echo.future(echo_pb2.EchoRequest(sleep_ms=30_000))
        except KeyboardInterrupt:
            # The signal came while the call was being handed to the loop: the call
            # object never reached us, and its start cancelled it on the loop.
            print("interrupted STARTING", flush=True)
            return
        try:
            future.result()
        except KeyboardInterrupt:
            # Abandoned by the interrupt, the call has ended: code() does not wait.
            print(f"interrupted {future.code().name if future.done() else 'RUNNING'}", flush=True)


if __name__ == "__main__":
    main()
