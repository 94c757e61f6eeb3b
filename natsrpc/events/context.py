"""What an event handler knows about the event it handles."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from natsrpc.events.spec import EventSpec
from natsrpc.events.subjects import event_method
from natsrpc.server.context import Context


class EventContext(Context):
    """The ``context`` argument of every event handler.

    It is a ``natsrpc.Context`` too, so server interceptors written for RPC
    (auth, logging, tracing) see an event as a unary call whose request is the
    event; ``metadata`` holds the publisher's metadata.
    """

    __slots__ = (
        "consumer",
        "delivery_count",
        "event",
        "published",
        "stream",
        "stream_sequence",
    )

    def __init__(
        self,
        event: EventSpec[Any],
        subject: str,
        headers: Mapping[str, str] | None,
        *,
        delivery_count: int = 1,
        stream: str | None = None,
        stream_sequence: int | None = None,
        published: datetime | None = None,
        consumer: str | None = None,
    ) -> None:
        super().__init__(event_method(event), subject, headers, None)
        self.event = event
        """The event's static description."""
        self.delivery_count = delivery_count
        """1 on the first attempt; more when the event is redelivered."""
        self.stream = stream
        """The JetStream stream the event is stored in; None over core NATS."""
        self.stream_sequence = stream_sequence
        """The event's sequence in its stream; None over core NATS."""
        self.published = published
        """When the stream stored the event (UTC); None over core NATS."""
        self.consumer = consumer
        """The consumer group handling the event; None for a plain core NATS subscription."""
