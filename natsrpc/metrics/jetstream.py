"""What JetStream knows about each consumer group: read from consumer info, shown as gauges.

``read_stream`` is one reading of a stream and its durable consumers, which
``natsrpc events`` prints; ``JetStreamGauges`` takes one every ``interval``
seconds (``DEFAULT_INTERVAL``) on the event loop and its observable gauges
report the last one, so a scrape never waits on NATS. A stream that is deleted
or cannot be read is no longer reported, with one warning until it is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from nats import errors as nats_errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js import errors as js_errors
from nats.js.api import ConsumerInfo
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

from natsrpc.events.provision import DEAD_LETTER_SUFFIX, dead_letter_stream
from natsrpc.metrics import instruments as names
from natsrpc.metrics.instruments import meter

logger = logging.getLogger("natsrpc.metrics")

DEFAULT_INTERVAL = 15.0
"""Seconds between readings: a Prometheus scrape interval's worth, two small requests per group."""
_SYSTEM_PREFIXES = ("KV_", "OBJ_")


@dataclass(frozen=True)
class GroupReading:
    """One consumer group of one stream, as JetStream reports it."""

    stream: str
    group: str
    stored: int
    """Events in the stream (all subjects, all groups)."""
    pending: int
    """Events the group has not been delivered yet."""
    ack_pending: int
    """Events delivered and not yet acknowledged."""
    redelivered: int
    """Events delivered more than once and not yet acknowledged."""
    dead_letters: int
    """Dead letters of this group stored in ``<stream>_DLQ``."""
    oldest_age: float
    """Seconds since the oldest event the group has not acknowledged was stored; 0 when none."""
    last_delivery: datetime | None

    def as_dict(self) -> dict[str, object]:
        return {
            "stream": self.stream,
            "group": self.group,
            "stored": self.stored,
            "pending": self.pending,
            "ack_pending": self.ack_pending,
            "redelivered": self.redelivered,
            "dead_letters": self.dead_letters,
            "oldest_age": round(self.oldest_age, 3),
            "last_delivery": self.last_delivery.isoformat() if self.last_delivery else None,
        }


async def event_streams(js: JetStreamContext) -> list[str]:
    """Every stream that may hold events: all but dead-letter, key-value and object stores."""
    found = [info.config.name for info in await js.streams_info() if info.config.name]
    present = set(found)
    return sorted(
        name
        for name in found
        if not name.startswith(_SYSTEM_PREFIXES)
        and not (name.endswith(DEAD_LETTER_SUFFIX) and name[: -len(DEAD_LETTER_SUFFIX)] in present)
    )


async def read_stream(js: JetStreamContext, stream: str) -> list[GroupReading]:
    """One reading of every durable consumer of ``stream``; raises NotFoundError when it is gone."""
    info = await js.stream_info(stream)
    consumers = [c for c in await js.consumers_info(stream) if c.config.durable_name]
    letters = await _dead_letter_counts(js, stream)
    return [
        GroupReading(
            stream=stream,
            group=consumer.name,
            stored=info.state.messages,
            pending=consumer.num_pending or 0,
            ack_pending=consumer.num_ack_pending or 0,
            redelivered=consumer.num_redelivered or 0,
            dead_letters=letters.get(consumer.name, 0),
            oldest_age=await _oldest_age(js, consumer),
            last_delivery=consumer.delivered.last_active if consumer.delivered else None,
        )
        for consumer in consumers
    ]


async def _dead_letter_counts(js: JetStreamContext, stream: str) -> dict[str, int]:
    prefix = f"$DLQ.{stream}."
    try:
        info = await js.stream_info(dead_letter_stream(stream), subjects_filter=prefix + ">")
    except js_errors.NotFoundError:
        return {}  # created with the first dead letter
    subjects = info.state.subjects or {}
    return {subject[len(prefix) :]: count for subject, count in subjects.items()}


async def _oldest_age(js: JetStreamContext, consumer: ConsumerInfo) -> float:
    if not (consumer.num_pending or consumer.num_ack_pending):
        return 0.0
    floor = consumer.ack_floor.stream_seq if consumer.ack_floor else 0
    config = consumer.config
    # With several filters the next stored event may be another set's: close enough.
    subject = config.filter_subject or ">"
    try:
        msg = await js.get_msg(consumer.stream_name, seq=floor + 1, subject=subject, next=True)
    except js_errors.NotFoundError:
        return 0.0
    if msg.time is None:
        return 0.0
    return max(0.0, (datetime.now(timezone.utc) - msg.time).total_seconds())


class JetStreamGauges:
    """Observable gauges per stream and consumer group, refreshed every ``interval`` seconds.

    ``streams`` names the streams to read; None reads every stream
    ``event_streams`` finds, at each reading.
    """

    def __init__(
        self,
        nc: NATS,
        meter_provider: MeterProvider | None = None,
        *,
        streams: Sequence[str] | None = None,
        interval: float = DEFAULT_INTERVAL,
    ) -> None:
        if not interval > 0:
            raise ValueError("interval must be positive")
        self._nc = nc
        self._streams = tuple(streams) if streams is not None else None
        self._interval = interval
        self._readings: dict[str, list[GroupReading]] = {}
        self._unreadable: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        m = meter(meter_provider)
        for field, description, unit in (
            ("pending", "Events not yet delivered to the group", "{event}"),
            ("ack_pending", "Events delivered and not yet acknowledged", "{event}"),
            ("redelivered", "Events redelivered and not yet acknowledged", "{event}"),
            ("dead_letters", "Dead letters stored for the group", "{event}"),
            ("oldest_age", "Age of the oldest event the group has not acknowledged", "s"),
        ):
            m.create_observable_gauge(
                f"natsrpc.jetstream.consumer.{field}",
                [self._observe(field)],
                unit=unit,
                description=description,
            )

    def _observe(self, field: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            return [
                Observation(
                    getattr(reading, field),
                    {names.STREAM: reading.stream, names.GROUP: reading.group},
                )
                for readings in list(self._readings.values())
                for reading in readings
            ]

        return callback

    @property
    def readings(self) -> list[GroupReading]:
        return [r for readings in self._readings.values() for r in readings]

    async def refresh(self) -> None:
        """Take one reading now."""
        js = self._nc.jetstream()
        try:
            streams = self._streams or await event_streams(js)
        except (nats_errors.Error, asyncio.TimeoutError) as error:
            self._lost("(stream list)", error)
            return
        for gone in set(self._readings) - set(streams):
            del self._readings[gone]
        for stream in streams:
            try:
                self._readings[stream] = await read_stream(js, stream)
            except (nats_errors.Error, asyncio.TimeoutError) as error:
                self._readings.pop(stream, None)
                self._lost(stream, error)
            else:
                if stream in self._unreadable:
                    self._unreadable.discard(stream)
                    logger.info("JetStream gauges: stream %s is readable again", stream)

    def _lost(self, stream: str, error: BaseException) -> None:
        if stream not in self._unreadable:
            self._unreadable.add(stream)
            logger.warning(
                "JetStream gauges: cannot read %s (%s); not reported until it can be read",
                stream,
                type(error).__name__ if not str(error) else error,
            )

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def cancel(self) -> None:
        """Stop reading, without waiting (``stop`` waits)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            if self._nc.is_connected:
                await self.refresh()
            await asyncio.sleep(self._interval)
