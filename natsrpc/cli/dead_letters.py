"""``natsrpc dead-letters``: list the events a consumer group gave up on, and replay them."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import click
from nats.aio.client import Client as NATS
from nats.js import errors as js_errors

from natsrpc.cli import event_schema, schema
from natsrpc.cli.connection import ConnectionOptions, connect
from natsrpc.cli.event_schema import KnownEvent
from natsrpc.cli.output import CliError, detail_document, echo_json, table
from natsrpc.events.dead_letters import DeadLetter, DeadLetters


def _known(local: schema.LocalSchema, prefix: str) -> list[KnownEvent]:
    if not local.given:
        return []
    return event_schema.known_events(event_schema.event_sets(local.files()), prefix)


def _document(letter: DeadLetter, known: Sequence[KnownEvent]) -> dict[str, Any]:
    document: dict[str, Any] = {
        "sequence": letter.sequence,
        "subject": letter.subject,
        "stream": letter.stream,
        "stream_sequence": letter.stream_sequence,
        "consumer": letter.consumer,
        "deliveries": letter.deliveries,
        "code": letter.code.name,
        "message": letter.message,
        "reason": letter.reason,
        "time": letter.time.isoformat() if letter.time is not None else None,
        "headers": dict(letter.headers),
    }
    if letter.details:
        document["details"] = [detail_document(detail, None) for detail in letter.details]
    decoded = event_schema.decode(
        event_schema.event_for(known, letter.subject), letter.data, letter.headers
    )
    if decoded.problem is None:
        document["event"] = decoded.event
    else:
        document["data_base64"] = decoded.data
    return document


async def list_letters(
    options: ConnectionOptions,
    stream: str,
    consumer: str | None,
    local: schema.LocalSchema,
    as_json: bool,
) -> None:
    known = _known(local, options.subject_prefix())
    nc = await connect(options)
    try:
        letters = await (await _dead_letters(nc, stream)).list(consumer)
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
    if as_json:
        echo_json([_document(letter, known) for letter in letters])
        return
    if not letters:
        click.echo(f"no dead letters in {stream}")
        return
    rows = [
        (
            letter.sequence,
            letter.subject,
            letter.stream_sequence,
            letter.consumer,
            letter.deliveries,
            letter.reason,
            letter.code.name,
            letter.time.isoformat(timespec="seconds") if letter.time is not None else None,
            letter.message,
        )
        for letter in letters
    ]
    headers = ("SEQ", "SUBJECT", "STREAM SEQ", "CONSUMER", "DELIVERIES", "REASON", "CODE", "TIME",
               "MESSAGE")  # fmt: skip
    click.echo(table(headers, rows))


async def replay(
    options: ConnectionOptions,
    stream: str,
    sequences: Sequence[int],
    consumer: str | None,
    as_json: bool,
) -> None:
    nc = await connect(options)
    replayed: list[dict[str, Any]] = []
    try:
        dead = await _dead_letters(nc, stream)
        letters = await dead.list(consumer)
        if sequences:
            by_sequence = {letter.sequence: letter for letter in letters}
            missing = [str(s) for s in sequences if s not in by_sequence]
            if missing:
                raise CliError(
                    f"no dead letter {', '.join(missing)} in {dead.dead_letter_stream}"
                    + (f" for consumer {consumer}" if consumer else "")
                )
            letters = [by_sequence[s] for s in dict.fromkeys(sequences)]
        for letter in letters:
            ack = await dead.replay(letter)
            replayed.append(
                {
                    "sequence": letter.sequence,
                    "subject": letter.subject,
                    "consumer": letter.consumer,
                    "stream": ack.stream,
                    "stream_sequence": ack.sequence,
                }
            )
            if not as_json:
                click.echo(
                    f"replayed {letter.sequence}: {letter.subject} for {letter.consumer} "
                    f"(now {ack.stream} seq {ack.sequence})"
                )
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
    if as_json:
        echo_json(replayed)
    elif not replayed:
        click.echo(f"no dead letters in {stream}")


async def _dead_letters(nc: NATS, stream: str) -> DeadLetters:
    if not stream or any(c in stream for c in " .*>/\\"):
        raise CliError(f"{stream!r} is not a stream name")
    try:
        await nc.jetstream().stream_info(stream)
    except js_errors.NotFoundError:
        raise CliError(f"stream {stream} not found") from None
    except js_errors.ServiceUnavailableError:
        raise CliError("the NATS server has no JetStream, so no dead letters") from None
    return DeadLetters(nc, stream)
