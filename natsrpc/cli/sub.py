"""``natsrpc sub``: tail events, decoded to JSON, from core NATS or a JetStream stream.

History is read with an ephemeral ordered consumer: it acknowledges nothing,
and JetStream removes it when the command ends, so real consumer groups never
notice it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from nats import errors as nats_errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import api
from nats.js import errors as js_errors

from natsrpc.cli import event_schema, schema
from natsrpc.cli.connection import ConnectionOptions, connect
from natsrpc.cli.event_schema import KnownEvent
from natsrpc.cli.output import CliError, RpcFailure, echo_line
from natsrpc.cli.permissions import parse_duration
from natsrpc.events.spec import EventServiceSpec
from natsrpc.reflection.client import ReflectionClient
from natsrpc.status import RpcError, StatusCode

JETSTREAM_TIMEOUT = 5.0
_WILDCARDS = frozenset("*>")


@dataclass(frozen=True)
class History:
    """Where a JetStream tail starts: new events only, ``since`` a time, or the ``last`` N."""

    since: datetime | None = None
    last: int | None = None

    @property
    def wanted(self) -> bool:
        return self.since is not None or self.last is not None


def parse_since(text: str) -> datetime:
    """``90s``/``15m``/``2h`` ago, or an ISO 8601 timestamp (UTC when it names no zone)."""
    if text[-1:].isalpha() and text[:1].isdigit() and "T" not in text and "-" not in text:
        return datetime.now(timezone.utc) - timedelta(microseconds=parse_duration(text) // 1000)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise CliError(
            f"--since {text!r} is neither a duration (90s, 15m, 2h) nor an ISO 8601 time"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Target:
    """What to subscribe to, and the events its subjects can carry (for decoding)."""

    subjects: tuple[str, ...]
    known: tuple[KnownEvent, ...]
    stream: str | None
    """The stream the schema says the events are stored in."""
    schema_known: bool
    ask_jetstream: bool
    """A raw subject: whether a stream stores it is JetStream's to say."""


async def resolve(nc: NATS, target: str, local: schema.LocalSchema, prefix: str) -> Target:
    """EVENT (``pkg.Set``, ``pkg.Set/Event``, ``pkg.Set.Event``) or SUBJECT, with its schema."""
    is_subject = bool(_WILDCARDS & set(target))
    sets = await _event_sets(nc, target, local, prefix, is_subject)
    everything = event_schema.known_events(sets or [], prefix)
    selected = [] if is_subject else event_schema.select(everything, target)
    if selected:
        streams = {k.event_set.stream.name for k in selected if k.event_set.stream is not None}
        subjects = tuple(dict.fromkeys(k.filter_subject for k in selected))
        return Target(subjects, tuple(selected), next(iter(streams), None), True, False)
    if "/" in target:
        raise CliError(f"{target}: no such event in the schema")
    if not is_subject and any(c.isspace() for c in target):
        raise CliError(f"{target!r} is neither an event name nor a subject")
    known = tuple(k for k in everything if event_schema.overlaps(k.filter_subject, target))
    return Target((target,), known, None, sets is not None, True)


async def _event_sets(
    nc: NATS, target: str, local: schema.LocalSchema, prefix: str, is_subject: bool
) -> list[EventServiceSpec] | None:
    """The event sets of the schema, or None when there is no schema to decode with."""
    if local.given:
        return event_schema.event_sets(local.files())
    if is_subject:
        return None
    symbol = target.lstrip("/").partition("/")[0]
    try:
        files = await ReflectionClient(nc, prefix=prefix).files_containing(symbol)
    except RpcError as error:
        if error.code is not StatusCode.NOT_FOUND:
            raise RpcFailure(error) from None
        if "/" in target:
            raise CliError(
                f"no running service reflects {symbol}: pass --proto or --protoset"
            ) from None
        note(
            f"no running service reflects {target}: tailing it as a subject, undecoded "
            "(pass --proto or --protoset to tail an event set)"
        )
        return None
    return event_schema.event_sets(files)


class Printer:
    """Prints each message, stops after ``count`` of them."""

    def __init__(self, target: Target, as_json: bool, count: int | None) -> None:
        self._target = target
        self._as_json = as_json
        self._remaining = count
        self.done = asyncio.Event()
        self._warned = False

    def __call__(
        self,
        subject: str,
        data: bytes,
        headers: dict[str, str],
        sequence: int | None,
        time: datetime,
    ) -> None:
        if self.done.is_set():
            return
        known = event_schema.event_for(self._target.known, subject)
        decoded = event_schema.decode(known, data, headers)
        if decoded.problem is not None:
            self._note(subject, sequence, decoded.problem)
        stamp = time.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
        body = decoded.event if decoded.problem is None else {"data_base64": decoded.data}
        if self._as_json:
            document = {
                "subject": subject,
                "sequence": sequence,
                "time": stamp,
                "headers": headers,
                "event_name": known.name if known is not None else None,
                "type": decoded.type,
                **({"event": body} if decoded.problem is None else body),
            }
            echo_line(event_schema.as_json(document))
        else:
            echo_line(f"{subject}  {'-' if sequence is None else sequence}  {stamp}")
            echo_line(event_schema.as_json(body))
        if self._remaining is not None:
            self._remaining -= 1
            if self._remaining <= 0:
                self.done.set()

    def _note(self, subject: str, sequence: int | None, problem: str) -> None:
        if not self._target.schema_known:
            if not self._warned:
                self._warned = True
                note(
                    "no schema for these subjects: payloads print as base64 "
                    "(pass --proto or --protoset to decode them)"
                )
            return
        where = subject if sequence is None else f"{subject} (seq {sequence})"
        note(f"cannot decode {where}: {problem}; printed as base64")


def note(text: str) -> None:
    print(f"natsrpc sub: {text}", file=sys.stderr, flush=True)


async def run_sub(
    options: ConnectionOptions,
    target_name: str,
    local: schema.LocalSchema,
    history: History,
    count: int | None,
    as_json: bool,
) -> None:
    nc = await connect(options)
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    # Ending the tail is the normal way to stop it: a signal cancels and the exit is 0.
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        target = await resolve(nc, target_name, local, options.subject_prefix())
        printer = Printer(target, as_json, count)
        stream = await _stream_of(nc, target)
        if stream is None:
            if history.wanted:
                raise CliError(
                    f"{target_name} is not stored in a JetStream stream: "
                    "--since and --last need one"
                )
            await _tail_core(nc, target, printer)
        else:
            await _tail_stream(nc, target, stream, history, printer)
        await printer.done.wait()
    except asyncio.CancelledError:
        pass
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        with contextlib.suppress(Exception):
            await nc.close()


async def _stream_of(nc: NATS, target: Target) -> str | None:
    if not target.ask_jetstream:
        return target.stream
    try:
        return await nc.jetstream(timeout=JETSTREAM_TIMEOUT).find_stream_name_by_subject(
            target.subjects[0]
        )
    except (js_errors.NotFoundError, js_errors.ServiceUnavailableError):
        return None  # no stream stores it, or a server without JetStream: core NATS it is
    except (js_errors.APIError, nats_errors.TimeoutError) as error:
        subject = target.subjects[0]
        raise CliError(f"cannot ask JetStream which stream stores {subject}: {error}") from None


async def _tail_core(nc: NATS, target: Target, printer: Printer) -> None:
    async def deliver(msg: Msg) -> None:
        printer(msg.subject, msg.data, dict(msg.headers or {}), None, datetime.now(timezone.utc))

    for subject in target.subjects:
        await nc.subscribe(subject, cb=deliver)
    await nc.flush()
    note(f"listening on {', '.join(target.subjects)} (core NATS)")


async def _tail_stream(
    nc: NATS, target: Target, stream: str, history: History, printer: Printer
) -> None:
    js = nc.jetstream(timeout=JETSTREAM_TIMEOUT)
    config = api.ConsumerConfig(
        filter_subjects=list(target.subjects) if len(target.subjects) > 1 else None
    )
    if history.since is not None:
        policy = api.DeliverPolicy.BY_START_TIME
        config.opt_start_time = history.since
        what = f"since {history.since.isoformat()}"
    elif history.last is not None:
        # JetStream has no "last N" policy: read from the start, print the final N.
        policy = api.DeliverPolicy.ALL
        what = f"the last {history.last}, then new events"
    else:
        policy = api.DeliverPolicy.NEW
        what = "new events"
    last = history.last

    async def deliver(msg: Msg) -> None:
        metadata = msg.metadata
        if last is not None and metadata.num_pending >= last:
            # Older than the last N; once caught up num_pending stays 0.
            return
        headers = dict(msg.headers or {})
        printer(msg.subject, msg.data, headers, metadata.sequence.stream, metadata.timestamp)

    try:
        await js.subscribe(
            target.subjects[0],
            stream=stream,
            cb=deliver,
            ordered_consumer=True,
            deliver_policy=policy,
            config=config,
        )
    except js_errors.NotFoundError:
        raise CliError(f"stream {stream} not found") from None
    except (js_errors.ServiceUnavailableError, nats_errors.TimeoutError):
        raise CliError(f"JetStream does not answer, so stream {stream} cannot be read") from None
    except js_errors.APIError as error:
        raise CliError(f"JetStream refused the consumer on {stream}: {error.description}") from None
    await nc.flush()
    note(f"listening on {', '.join(target.subjects)} (stream {stream}, {what})")
