"""Events settled, and what a server's ADR-32 statistics count that no interceptor sees.

Settling is recorded through ``natsrpc.telemetry.settled``: each JetStream
event's outcome (acked, retried, dead-lettered, rejected, undecodable), the
time from taking it in hand to settling it, and how many deliveries it took.
Each core NATS event's handling (handled, failed, undecodable) and its duration
come through ``natsrpc.telemetry.handled``.
Calls shed at admission, calls waiting for a handler slot, calls in progress and
core NATS events dropped are read, when a scrape asks, from the counters the
server keeps for ``$SRV.STATS`` anyway, so serving pays nothing for them.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterable, Iterator
from typing import Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from natsrpc.events.dead_letters import Reason
from natsrpc.metrics import instruments as names
from natsrpc.metrics.instruments import RPC_SYSTEM, EventInstruments
from natsrpc.server.server import Server

_TERM = b"+TERM"
_TERMINAL = {Reason.REJECTED: "rejected", Reason.UNDECODABLE: "undecodable"}


def outcome_of(answer: bytes) -> str:
    """The outcome an answer to JetStream stands for."""
    if answer.startswith(b"+ACK"):
        return "acked"
    if answer.startswith(b"-NAK"):
        return "retried"
    if answer.startswith(_TERM):
        reason = answer[len(_TERM) :].strip().decode(errors="replace")
        return _TERMINAL.get(reason, "dead_lettered")
    return "other"


class SettlementRecorder:
    """``natsrpc.telemetry.settled`` while metrics are enabled."""

    def __init__(self, instruments: EventInstruments) -> None:
        self._instruments = instruments
        self._attributes: dict[tuple[str, str, str, str], dict[str, str]] = {}

    def __call__(self, stream: str, group: str, delivery: Any, answer: bytes) -> None:
        consumed = delivery.consumed
        if consumed is None:
            return  # not this group's event (a replay for another group): acked unseen
        outcome = outcome_of(answer)
        event = consumed.event.path.lstrip("/")
        key = (stream, group, event, outcome)
        attributes = self._attributes.get(key)
        if attributes is None:
            attributes = self._attributes[key] = {
                names.MESSAGING: names.MESSAGING_SYSTEM,
                names.STREAM: stream,
                names.GROUP: group,
                names.EVENT: event,
                names.OUTCOME: outcome,
            }
        self._instruments.process.record(time.monotonic() - delivery.taken_at, attributes)
        if outcome != "retried":
            deliveries = delivery.msg.metadata.num_delivered
            self._instruments.deliveries.record(deliveries, attributes)


class CoreHandlingRecorder:
    """``natsrpc.telemetry.handled`` while metrics are enabled: core NATS events handled."""

    def __init__(self, instruments: EventInstruments) -> None:
        self._instruments = instruments
        self._attributes: dict[tuple[str, str, str], dict[str, str]] = {}

    def __call__(self, event: str, group: str, nanoseconds: int, outcome: str) -> None:
        key = (event, group, outcome)
        attributes = self._attributes.get(key)
        if attributes is None:
            attributes = self._attributes[key] = {
                names.MESSAGING: names.MESSAGING_SYSTEM,
                names.GROUP: group,
                names.EVENT: event.lstrip("/"),
                names.OUTCOME: outcome,
            }
        self._instruments.process.record(nanoseconds / 1e9, attributes)


class ServerStatistics:
    """Observable instruments over the ADR-32 counters of every server observed.

    ``natsrpc.server.active_calls`` comes from here while metrics are enabled for
    the process; a ``ServerMetricsInterceptor`` passed to a server on its own
    counts its calls itself.
    """

    def __init__(self, meter: Meter) -> None:
        self._servers: weakref.WeakSet[Server] = weakref.WeakSet()
        meter.create_observable_counter(
            "natsrpc.server.shed_calls",
            [self._shed],
            unit="{call}",
            description="Calls refused with RESOURCE_EXHAUSTED at admission (endpoint full)",
        )
        meter.create_observable_up_down_counter(
            "natsrpc.server.pending_calls",
            [self._pending],
            unit="{call}",
            description="Calls admitted and waiting for a handler slot",
        )
        meter.create_observable_up_down_counter(
            "natsrpc.server.active_calls",
            [self._in_flight],
            unit="{call}",
            description="Calls being served",
        )
        meter.create_observable_counter(
            "natsrpc.event.dropped",
            [self._dropped],
            unit="{event}",
            description="Core NATS events dropped: more arrived than the handlers could take",
        )

    def add(self, server: Server) -> None:
        self._servers.add(server)

    def _endpoints(self, events: bool) -> Iterator[tuple[dict[str, str], Any]]:
        for server in list(self._servers):
            for service in server.services:
                for endpoint in service.endpoints:
                    metadata = endpoint.metadata or {}
                    is_event = metadata.get("rpc.kind") == "event"
                    if is_event != events:
                        continue
                    if events:
                        if "rpc.stream" in metadata:
                            continue  # stored events are never dropped
                        attributes = {
                            names.MESSAGING: names.MESSAGING_SYSTEM,
                            names.EVENT: metadata.get("rpc.event", "").lstrip("/"),
                            names.GROUP: endpoint.queue_group or "",
                        }
                    else:
                        method = metadata.get("rpc.method", "").lstrip("/")
                        attributes = {
                            names.SYSTEM: RPC_SYSTEM,
                            names.METHOD: method,
                            names.SERVICE: method.rpartition("/")[0],
                            names.KIND: metadata.get("rpc.kind", ""),
                        }
                    yield attributes, endpoint.stats

    def _shed(self, options: CallbackOptions) -> Iterable[Observation]:
        return _summed((a, s.shed) for a, s in self._endpoints(events=False))

    def _pending(self, options: CallbackOptions) -> Iterable[Observation]:
        return _summed((a, s.pending) for a, s in self._endpoints(events=False))

    def _in_flight(self, options: CallbackOptions) -> Iterable[Observation]:
        return _summed((a, s.in_flight) for a, s in self._endpoints(events=False))

    def _dropped(self, options: CallbackOptions) -> Iterable[Observation]:
        return _summed((a, s.shed) for a, s in self._endpoints(events=True))


def _summed(values: Iterable[tuple[dict[str, str], int]]) -> list[Observation]:
    # Two servers of one process may serve the same method: one series, their sum.
    totals: dict[tuple[tuple[str, str], ...], int] = {}
    for attributes, value in values:
        key = tuple(sorted(attributes.items()))
        totals[key] = totals.get(key, 0) + value
    return [Observation(value, dict(key)) for key, value in totals.items()]
