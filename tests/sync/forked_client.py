"""A sync client across ``os.fork()`` (tests/sync/test_sync_process.py).

``python forked_client.py URL`` calls with a connection, forks, and reports what
each process could do: the child must be refused the parent's connection and
succeed with one of its own; the parent's connection must still work.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from natsrpc_test import echo_natsrpc, echo_pb2

import natsrpc.sync


def child(url: str, inherited: echo_natsrpc.EchoSyncClient) -> None:
    try:
        inherited.echo(echo_pb2.EchoRequest(text="child"))
        print("child: the inherited connection was used", flush=True)
    except RuntimeError as error:
        print(f"child refused: {error}", flush=True)
    with natsrpc.sync.connect(url) as own:
        reply = echo_natsrpc.EchoSyncClient(own).echo(echo_pb2.EchoRequest(text="child"))
        print(f"child own connection: {reply.text}", flush=True)


def main() -> None:
    url = sys.argv[1]
    connection = natsrpc.sync.connect(url)
    client = echo_natsrpc.EchoSyncClient(connection, timeout=10)
    print(f"parent before fork: {client.echo(echo_pb2.EchoRequest(text='parent')).text}")
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            child(url, client)
            # Closing the inherited connection in the child leaves the parent's alone.
            connection.close()
            status = 0
        finally:
            os._exit(status)
    deadline = time.monotonic() + 30
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if not done:
        os.kill(pid, signal.SIGKILL)
    print(f"child exit: {os.waitstatus_to_exitcode(status) if done else 'timed out'}")
    reply = client.echo(echo_pb2.EchoRequest(text="parent again"))
    print(f"parent after fork: {reply.text}", flush=True)
    connection.close()


if __name__ == "__main__":
    main()
