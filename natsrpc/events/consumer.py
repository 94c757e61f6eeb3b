"""Consuming a JetStream event set: one durable pull consumer per consumer group.

Pull requests ask for no more events than there are free handler slots, so
at most ``max_concurrency`` events are in hand. An event is acknowledged only
after its handler returned; a failure is a Nak with a growing delay; the last
failed attempt, a ``Reject`` and an undecodable event go to the dead-letter
stream before the original is terminated. Handlers that run long send
in-progress signals, so the server does not redeliver them elsewhere.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from google.protobuf.any_pb2 import Any as AnyMessage
from nats import errors as nats_errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import api

from natsrpc import codec
from natsrpc.events import dead_letters
from natsrpc.events.abandoned import AbandonedWatch
from natsrpc.events.context import EventContext
from natsrpc.events.delivery import EventInHand, Settler
from natsrpc.events.errors import Reject, Retry
from natsrpc.events.provision import ensure_consumer, ensure_streams
from natsrpc.events.routing import Router
from natsrpc.events.settings import ConsumerSettings
from natsrpc.events.spec import EventServiceSpec
from natsrpc.events.subjects import token_value
from natsrpc.protocol.headers import CONTENT_TYPE
from natsrpc.service_api.responder import MicroService
from natsrpc.status import RpcError, StatusCode
from natsrpc.transport.connection import drain, flush
from natsrpc.transport.tasks import finish_within

logger = logging.getLogger("natsrpc.events")

_TICK = 0.25
"""Seconds between checks of the pull requests and of long-running handlers."""


class _Pull:
    __slots__ = ("expires_at", "remaining")

    def __init__(self, batch: int, expires_at: float) -> None:
        self.remaining = batch
        self.expires_at = expires_at


class JetStreamConsumer:
    """The server component that serves one ``EventHandlers`` instance from JetStream."""

    def __init__(
        self,
        nc: NATS,
        spec: EventServiceSpec,
        router: Router,
        settings: ConsumerSettings,
        micro_service: MicroService | None,
    ) -> None:
        assert spec.stream is not None
        self._nc = nc
        self._spec = spec
        self._stream = spec.stream.name
        self._router = router
        self.settings = settings
        self.micro_service = micro_service
        self._settler = Settler(nc, settings.ack_wait, self._stream, settings.group)
        self._abandoned = AbandonedWatch(nc, self._stream, settings.group)
        self._next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{self._stream}.{settings.group}"
        self._inbox = ""
        self._subscription: Subscription | None = None
        self._pulls: dict[str, _Pull] = {}
        self._tokens = itertools.count()
        self._tasks: set[asyncio.Task[None]] = set()
        self._keys: dict[str, list[EventInHand]] = {}
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._paused_until = 0.0
        self._reconnects = 0
        self._stopping = False
        self._grace_over = False
        self._repair = False

    def consumer_config(self) -> api.ConsumerConfig:
        s = self.settings
        subjects = self._router.filter_subjects
        return api.ConsumerConfig(
            durable_name=s.group,
            ack_policy=api.AckPolicy.EXPLICIT,
            deliver_policy=api.DeliverPolicy.NEW if s.deliver_new else api.DeliverPolicy.ALL,
            ack_wait=s.ack_wait,
            max_deliver=s.max_deliver,
            filter_subject=subjects[0] if len(subjects) == 1 else None,
            filter_subjects=subjects if len(subjects) > 1 else None,
        )

    async def start(self) -> None:
        if self.settings.provision:
            await self._provision()
        self._inbox = self._nc.new_inbox() + "."
        self._subscription = await self._nc.subscribe(self._inbox + "*", cb=self._on_message)
        await self._settler.start()
        await self._abandoned.start()
        await flush(self._nc)
        self._reconnects = self._nc.stats.get("reconnects", 0)
        self._loop = asyncio.get_running_loop().create_task(self._run())

    def _end_grace(self) -> None:
        self._grace_over = True

    async def stop(self, grace_period: float) -> None:
        """Stop pulling, finish what is in hand within the grace period, Nak the rest."""
        if self._stopping:
            return
        self._stopping = True
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
        if self._subscription is not None and not self._nc.is_closed:
            # Events the server delivered before it saw the UNSUB are still taken in hand.
            await drain(self._nc, [self._subscription])
        # Finishing handlers start the next event of their key: waited for too.
        await finish_within(self._tasks, grace_period, self._end_grace)
        for waiting in self._keys.values():
            for delivery in waiting:
                await self._settler.nak(delivery, 0.0)
        self._keys.clear()
        await self._settler.stop()
        await self._abandoned.stop()
        if not self._nc.is_closed:
            await flush(self._nc)

    async def _provision(self) -> None:
        js = self._nc.jetstream()
        await ensure_streams(js, self._spec, subject_prefix=self.settings.subject_prefix)
        await ensure_consumer(js, self._stream, self.consumer_config())

    # -- pulling ------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            try:
                await self._pull_if_room()
                self._wake.clear()
                # Not asyncio.wait_for: before Python 3.12 it returns a wake-up that
                # coincides with stop()'s cancellation and drops the cancellation.
                tick = loop.call_later(_TICK, self._wake.set)
                try:
                    await self._wake.wait()
                finally:
                    tick.cancel()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The loop must outlive any failure: log, pause, go on.
                logger.exception(
                    "consumer %s of %s: pull failed", self.settings.group, self._stream
                )
                await asyncio.sleep(1.0)

    async def _pull_if_room(self) -> None:
        now = time.monotonic()
        reconnects = self._nc.stats.get("reconnects", 0)
        if reconnects != self._reconnects:
            # Pull requests do not survive a reconnect (the server may have restarted).
            self._reconnects = reconnects
            self._pulls.clear()
        for token in [t for t, p in self._pulls.items() if p.expires_at < now]:
            del self._pulls[token]
        if now < self._paused_until or not self._nc.is_connected:
            return
        if self._repair:
            # The consumer (or its stream) went away, e.g. deleted by an operator, or
            # JetStream is not back yet after a restart.
            self._paused_until = now + 1.0
            try:
                await self._provision()
            except (RpcError, nats_errors.Error) as error:
                logger.warning(
                    "consumer %s of %s: cannot provision yet (%r); retrying",
                    self.settings.group,
                    self._stream,
                    error,
                )
                return
            self._repair = False
        outstanding = sum(p.remaining for p in self._pulls.values())
        room = self.settings.max_concurrency - self._settler.in_hand - outstanding
        if room < max(1, self.settings.max_concurrency // 4):
            return
        token = str(next(self._tokens))
        expires = self.settings.pull_expires
        self._pulls[token] = _Pull(room, now + expires + 1.0)
        request = {"batch": room, "expires": int(expires * 1e9)}
        await self._nc.publish(
            self._next_subject, json.dumps(request).encode(), reply=self._inbox + token
        )

    async def _on_message(self, msg: Msg) -> None:
        headers = msg.headers
        if not msg.reply and headers and "Status" in headers:
            # Status messages arrive on the pull request's own reply subject.
            token = msg.subject[len(self._inbox) :]
            self._on_status(token, headers["Status"], headers.get("Description", ""))
            return
        if not msg.reply or not msg.reply.startswith("$JS.ACK."):
            logger.warning("consumer %s: ignored a message that is not an event", self._inbox)
            return
        # Events arrive with their own subject; the server fills pull requests in order.
        for token, pull in self._pulls.items():
            pull.remaining -= 1
            if pull.remaining <= 0:
                del self._pulls[token]
            break
        self._take(msg)

    def _on_status(self, token: str, status: str, description: str) -> None:
        if status == "100":
            return
        self._pulls.pop(token, None)
        if status not in ("404", "408"):
            # 409 (consumer deleted, leadership change), 503 (JetStream unavailable).
            logger.warning(
                "consumer %s of %s: pull answered %s %s",
                self.settings.group,
                self._stream,
                status,
                description,
            )
            self._paused_until = time.monotonic() + 1.0
            self._repair = self.settings.provision and (
                status == "503" or "deleted" in description.lower()
            )
        self._wake.set()

    # -- handling -----------------------------------------------------------

    def _take(self, msg: Msg) -> None:
        delivery = self._settler.take(msg)
        headers = msg.headers or {}
        replay_for = headers.get(dead_letters.REPLAY_FOR)
        consumed = self._router.route(msg.subject)
        if (replay_for is not None and replay_for != self.settings.group) or consumed is None:
            # A replay meant for another group, or a subject this group does not handle.
            self._spawn(self._settler.ack(delivery))
            return
        delivery.consumed = consumed
        try:
            json_payload = codec.is_json(headers.get(CONTENT_TYPE))
            delivery.event = codec.decode(consumed.event.event_type, msg.data, json_payload)
        except RpcError as error:
            self._spawn(
                self._fail(delivery, error.code, error.message, dead_letters.Reason.UNDECODABLE)
            )
            return
        if self.settings.ordered_by is not None:
            key = token_value(delivery.event, self.settings.ordered_by)
            delivery.key = key
            waiting = self._keys.get(key)
            if waiting is not None:
                waiting.append(delivery)
                return
            self._keys[key] = []
        self._spawn(self._handle(delivery))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, delivery: EventInHand) -> None:
        consumed = delivery.consumed
        assert consumed is not None
        meta = delivery.msg.metadata
        context = EventContext(
            consumed.event,
            delivery.msg.subject,
            delivery.msg.headers,
            delivery_count=meta.num_delivered,
            stream=meta.stream,
            stream_sequence=meta.sequence.stream,
            published=meta.timestamp,
            consumer=self.settings.group,
        )
        stats = consumed.endpoint.stats
        stats.in_flight += 1
        started = time.perf_counter_ns()
        error: str | None = None
        try:
            await consumed.handler(delivery.event, context)
        except asyncio.CancelledError:
            error = "cancelled: the consumer stopped"
            # Grace period over: the event goes back at once, to another instance.
            await self._settler.nak(delivery, 0.0)
            raise
        except Reject as exc:
            error = exc.message
            await self._fail(
                delivery, exc.code, exc.message, dead_letters.Reason.REJECTED, details=exc.details
            )
        except Retry as exc:
            error = exc.message
            await self._fail(delivery, StatusCode.UNAVAILABLE, exc.message, None, exc.delay)
        except RpcError as exc:
            error = str(exc)
            await self._fail(delivery, exc.code, exc.message, None, details=exc.details)
        except Exception as exc:
            logger.exception("event handler for %s failed", consumed.event.path)
            error = f"{type(exc).__name__}: {exc}"
            await self._fail(delivery, StatusCode.INTERNAL, error, None)
        else:
            await self._settler.ack(delivery)
        finally:
            stats.in_flight -= 1
            stats.record(error, time.perf_counter_ns() - started)
            self._next_of_key(delivery)
            self._wake.set()

    def _next_of_key(self, delivery: EventInHand) -> None:
        if delivery.key is None:
            return
        waiting = self._keys.get(delivery.key)
        if not waiting:
            self._keys.pop(delivery.key, None)
        elif not self._grace_over:
            # Left waiting after the grace period: stop() naks them.
            self._spawn(self._handle(waiting.pop(0)))

    async def _fail(
        self,
        delivery: EventInHand,
        code: StatusCode,
        message: str,
        terminal_reason: str | None,
        delay: float | None = None,
        details: Sequence[AnyMessage] = (),
    ) -> None:
        """Nak for a later attempt, or dead-letter the event when no attempt is left."""
        deliveries = delivery.msg.metadata.num_delivered
        if terminal_reason is None and deliveries < self.settings.max_deliver:
            await self._settler.nak(
                delivery, self.settings.nak_delay(deliveries) if delay is None else delay
            )
            return
        reason = terminal_reason or dead_letters.Reason.MAX_DELIVERIES
        try:
            await self._settler.dead_letter(delivery, code, message, reason, details)
        except Exception:
            # Keep the event: without a dead letter it must not be terminated.
            logger.exception(
                "could not dead-letter %s; it stays in its stream", delivery.msg.subject
            )
            await self._settler.nak(delivery, self.settings.nak_delay(deliveries))
            self._wake.set()
            return
        self._wake.set()
