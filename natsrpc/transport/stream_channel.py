"""The state machine both ends of a stream share (docs/protocol.md §9).

A ``Channel`` numbers and checks message frames, keeps at most its window of
received messages, grants credit as the application consumes them, lets a
writer send only with credit, and fails the call when the peer goes quiet. The
client and the server each subclass it with what differs: who opens, who
answers, who ends the call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Mapping

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from natsrpc import codec
from natsrpc.protocol import frames
from natsrpc.status import RpcError, StatusCode
from natsrpc.transport.header_blocks import header_block, header_template
from natsrpc.transport.wire import publish, queue_publish

logger = logging.getLogger("natsrpc.streams")

# The header blocks of the frames sent most, built once.
_MSG_BLOCK = header_template({frames.FRAME: frames.MSG}, frames.SEQ, "%d")
_GRANT_BLOCK = header_template({frames.FRAME: frames.GRANT}, frames.CREDIT, "%d")
_HEARTBEAT_BLOCK = header_template({frames.FRAME: frames.HB}, frames.HEARTBEAT)
CANCEL_BLOCK = header_block({frames.FRAME: frames.CANCEL})


class Channel:
    """One side of a stream: sequence numbers, windows, credit and liveness."""

    def __init__(self, nc: NATS, window: int, heartbeat: float) -> None:
        self.nc = nc
        self.window = window
        self.heartbeat = heartbeat
        self.max_message_bytes: int | None = None
        """Larger incoming messages end the call with RESOURCE_EXHAUSTED unparsed."""
        self.json = False
        self.inbox = ""
        self.peer: str | None = None
        self.peer_heartbeat: float | None = None
        self.subscription: Subscription | None = None
        # Receiving.
        self.buffer: deque[bytes] = deque()
        self.received = 0
        self.ungranted = 0
        self.peer_ended = False
        # Sending.
        self.sent = 0
        self.credit = 0
        self.ended = False
        # Liveness: monotonic times of the last frame each way; 0 means not yet.
        self.last_heard = 0.0
        self.last_sent = time.monotonic()
        self.error: RpcError | None = None
        """A local failure: raised at once, ahead of anything still buffered."""
        self.end_error: RpcError | None = None
        """The status the peer ended with: raised once everything before it is read."""
        self.changed = asyncio.Event()
        self.heartbeat_task: asyncio.Task[None] | None = None

    # -- receiving --------------------------------------------------------

    def _on_data(self, frame: str, msg: Msg) -> bool:
        """Handle the frames both directions share; False if ``frame`` is not one of them."""
        headers = msg.headers or {}
        if frame == frames.MSG:
            seq = headers.get(frames.SEQ)
            if self.peer_ended or seq != str(self.received + 1):
                self._data_loss(f"message frame {seq} arrived after frame {self.received}")
                return True
            if len(self.buffer) >= self.window:
                self._protocol_error("the peer sent message frames beyond its credit")
                return True
            if self.max_message_bytes is not None and len(msg.data) > self.max_message_bytes:
                self._fail(
                    RpcError(
                        StatusCode.RESOURCE_EXHAUSTED,
                        f"message of {len(msg.data)} bytes exceeds the limit "
                        f"of {self.max_message_bytes} bytes",
                    )
                )
                return True
            self.received += 1
            self.buffer.append(msg.data)
        elif frame == frames.END:
            seq = headers.get(frames.SEQ, "0")
            if self.peer_ended or seq != str(self.received):
                self._data_loss(f"end frame says {seq} messages, {self.received} arrived")
                return True
            self.peer_ended = True
            self._on_peer_end(headers, msg.data)
        elif frame == frames.GRANT:
            self.credit += frames.positive_int(headers.get(frames.CREDIT), 0)
        elif frame != frames.HB:
            return False
        self.changed.set()
        return True

    def _on_peer_end(self, headers: Mapping[str, str], payload: bytes) -> None:
        pass

    def _data_loss(self, detail: str) -> None:
        self._fail(RpcError(StatusCode.DATA_LOSS, f"stream sequence broken: {detail}"))

    def _protocol_error(self, detail: str) -> None:
        self._fail(RpcError(StatusCode.INTERNAL, detail))

    def _fail(self, error: RpcError) -> None:
        raise NotImplementedError

    async def _next_payload(self) -> bytes | None:
        """The next received message, or None once the peer has ended cleanly."""
        while True:
            if self.error is not None:
                raise self.error
            if self.buffer:
                payload = self.buffer.popleft()
                self._consumed()
                return payload
            if self.peer_ended:
                if self.end_error is not None:
                    raise self.end_error
                return None
            self.changed.clear()
            await self.changed.wait()

    def _consumed(self) -> None:
        # Credit goes back in batches of half a window: one frame per message
        # would double the traffic, a whole window would stall the sender.
        self.ungranted += 1
        if self.ungranted >= max(1, self.window // 2) and not self.peer_ended and self.peer:
            grant = self.ungranted
            self.ungranted = 0
            self._post(_GRANT_BLOCK % grant)

    # -- sending ----------------------------------------------------------

    def _post(self, headers: bytes) -> None:
        """Send a control frame without waiting; order against message frames does not matter."""
        if self.peer is None:
            return
        self.last_sent = time.monotonic()
        try:
            queue_publish(self.nc, self.peer, b"", "", headers)
        except Exception as exc:
            # The peer's liveness check or deadline ends the call; nothing to do here.
            logger.debug("could not send a stream frame to %s: %s", self.peer, exc)

    async def _publish_quietly(self, subject: str, payload: bytes, headers: bytes) -> None:
        try:
            await publish(self.nc, subject, payload, "", headers)
        except Exception as exc:
            # The peer's liveness check or deadline ends the call; nothing to do here.
            logger.debug("could not send a stream frame to %s: %s", subject, exc)

    async def _wait_credit(self) -> None:
        while self.credit <= 0 or self.peer is None:
            if self.error is not None:
                raise self.error
            self._check_writable()
            self.changed.clear()
            await self.changed.wait()
        if self.error is not None:
            raise self.error
        self._check_writable()

    def _check_writable(self) -> None:
        pass

    async def _send_message(self, payload: bytes) -> None:
        codec.check_size(len(payload), self.nc.max_payload, "message")
        if self.credit <= 0 or self.peer is None or self.error is not None:
            await self._wait_credit()
        else:
            # What _wait_credit() checks when there is credit, without its coroutine.
            self._check_writable()
        assert self.peer is not None
        self.credit -= 1
        self.sent += 1
        self.last_sent = time.monotonic()
        await publish(self.nc, self.peer, payload, "", _MSG_BLOCK % self.sent)

    # -- liveness ---------------------------------------------------------

    def _start_heartbeat(self) -> None:
        self.heartbeat_task = asyncio.get_running_loop().create_task(self._heartbeat_loop())

    async def _heartbeat_loop(self) -> None:
        # Checking twice per interval keeps any silence we cause under 1.5
        # intervals, well inside the peer's limit of frames.MISSED_HEARTBEATS.
        while self.error is None:
            await asyncio.sleep(self.heartbeat / 2)
            now = time.monotonic()
            if self.peer is not None and now - self.last_sent >= self.heartbeat:
                self._post(_HEARTBEAT_BLOCK % frames.heartbeat_header(self.heartbeat).encode())
            if (
                self.last_heard
                and self.peer_heartbeat is not None
                and now - self.last_heard > frames.MISSED_HEARTBEATS * self.peer_heartbeat
            ):
                self._fail(
                    RpcError(
                        StatusCode.UNAVAILABLE,
                        f"the peer sent nothing for {now - self.last_heard:.1f}s",
                    )
                )
                return

    def _stop_timers(self) -> None:
        task = self.heartbeat_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        self.heartbeat_task = None

    async def _unsubscribe(self) -> None:
        sub, self.subscription = self.subscription, None
        if sub is not None:
            try:
                await sub.unsubscribe()
            except Exception as exc:
                logger.debug("could not unsubscribe %s: %s", self.inbox, exc)
