"""Helpers shared by the event runtime tests."""

from __future__ import annotations

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg


class AckLog:
    """Every acknowledgement a consumer sends for a stream, as (body, stream sequence)."""

    def __init__(self) -> None:
        self.answers: list[tuple[bytes, int]] = []

    async def listen(self, nc: NATS, stream: str, consumer: str) -> None:
        async def record(msg: Msg) -> None:
            # $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ts>.<pending>
            self.answers.append((msg.data, int(msg.subject.split(".")[5])))

        await nc.subscribe(f"$JS.ACK.{stream}.{consumer}.>", cb=record)
        await nc.flush()

    def bodies(self, kind: bytes | None = None) -> list[bytes]:
        """The answers, without in-progress signals (or only those starting with ``kind``)."""
        return [
            body
            for body, _ in self.answers
            if (kind is None and body != b"+WPI") or (kind is not None and body.startswith(kind))
        ]
