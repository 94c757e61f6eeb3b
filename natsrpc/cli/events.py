"""``natsrpc events``: the fate of stored events, per stream and consumer group.

Every stream that may hold events (``natsrpc.metrics.jetstream.event_streams``:
all but dead-letter, key-value and object stores), or those named with
``--stream``, with each durable consumer group's backlog as JetStream reports
it. ``--check`` compares them with thresholds, for cron jobs, probes and CI.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import click
from nats.aio.client import Client as NATS
from nats.js import errors as js_errors

from natsrpc.cli.connection import connect, connection_options, options_from
from natsrpc.cli.output import CliError, echo_json, table

OVER_EXIT = 3
"""``--check``: some consumer group is over a threshold."""
COLUMNS = (
    "STREAM", "GROUP", "STORED", "PENDING", "ACK PENDING", "REDELIVERED", "DEAD LETTERS",
    "OLDEST", "LAST DELIVERY",
)  # fmt: skip


async def readings(nc: NATS, streams: Sequence[str]) -> list[Any]:
    """One reading of every consumer group of ``streams`` (every event stream if empty)."""
    from natsrpc.metrics.jetstream import event_streams, read_stream

    js = nc.jetstream()
    names = list(streams) or await event_streams(js)
    found = []
    for name in names:
        try:
            found.extend(await read_stream(js, name) or [_no_group(name)])
        except js_errors.NotFoundError:
            raise CliError(f"no stream named {name}") from None
    return found


def _no_group(stream: str) -> Any:
    from natsrpc.metrics.jetstream import GroupReading

    return GroupReading(stream, "", 0, 0, 0, 0, 0, 0.0, None)


def seconds(value: float) -> str:
    """An age for people: 0s, 42s, 12m, 3.5h, 2.0d."""
    if value < 60:
        return f"{value:.0f}s"
    if value < 3600:
        return f"{value / 60:.0f}m"
    if value < 86400:
        return f"{value / 3600:.1f}h"
    return f"{value / 86400:.1f}d"


def _ago(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return seconds((datetime.now(timezone.utc) - moment).total_seconds()) + " ago"


def render(found: Sequence[Any]) -> str:
    if not found:
        return "no event streams found"
    rows = [
        (
            r.stream,
            r.group or None,
            r.stored,
            r.pending,
            r.ack_pending,
            r.redelivered,
            r.dead_letters,
            seconds(r.oldest_age),
            _ago(r.last_delivery),
        )
        for r in found
    ]
    return table(COLUMNS, rows)


def over(
    found: Sequence[Any],
    max_pending: int | None,
    max_age: float | None,
    max_dead_letters: int | None,
) -> list[str]:
    """What is over its threshold, one line each."""
    problems = []
    for r in found:
        if not r.group:
            continue
        name = f"{r.stream}/{r.group}"
        if max_pending is not None and r.pending > max_pending:
            problems.append(f"{name}: {r.pending} pending > --max-pending {max_pending}")
        if max_age is not None and r.oldest_age > max_age:
            age = f"{r.oldest_age:.0f}"
            problems.append(f"{name}: oldest event {age} s old > --max-age {max_age:g}")
        if max_dead_letters is not None and r.dead_letters > max_dead_letters:
            problems.append(
                f"{name}: {r.dead_letters} dead letters > --max-dead-letters {max_dead_letters}"
            )
    return problems


@click.command("events")
@connection_options
@click.option(
    "--stream", "streams", multiple=True, metavar="STREAM",
    help="Only this stream (repeatable); default: all but dead-letter, KV and object stores.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.option("--watch", is_flag=True, help="Refresh in place until Ctrl-C.")
@click.option(
    "--interval", default=2.0, show_default=True, type=click.FloatRange(min=0.1),
    metavar="SECONDS", help="Seconds between --watch refreshes.",
)  # fmt: skip
@click.option("--check", is_flag=True, help="Exit 3 when a group is over a threshold below.")
@click.option("--max-pending", type=click.IntRange(min=0), metavar="N")
@click.option("--max-age", type=click.FloatRange(min=0), metavar="SECONDS")
@click.option("--max-dead-letters", type=click.IntRange(min=0), metavar="N")
def events_command(
    streams: tuple[str, ...],
    as_json: bool,
    watch: bool,
    interval: float,
    check: bool,
    max_pending: int | None,
    max_age: float | None,
    max_dead_letters: int | None,
    **kwargs: Any,
) -> None:
    """List each event stream's consumer groups: stored, pending, ack pending,
    redelivered, dead letters, the age of the oldest unacknowledged event and
    the last delivery.

    With --check, exit 0 when every group is within --max-pending,
    --max-age and --max-dead-letters, and 3 otherwise, naming each group
    over a threshold on stderr.
    """
    thresholds = (max_pending, max_age, max_dead_letters)
    if check and all(t is None for t in thresholds):
        raise click.UsageError("--check needs --max-pending, --max-age or --max-dead-letters")
    if not check and any(t is not None for t in thresholds):
        raise click.UsageError("--max-pending, --max-age and --max-dead-letters go with --check")
    if watch and (check or as_json):
        raise click.UsageError("--watch shows the table; it does not go with --check or --json")
    options = options_from(kwargs)

    async def run() -> list[str]:
        nc = await connect(options)
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        # Ending --watch is the normal way to stop it: a signal cancels and the exit is 0.
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            while True:
                found = await readings(nc, streams)
                if as_json:
                    echo_json([r.as_dict() for r in found])
                elif watch:
                    click.echo("\x1b[H\x1b[2J" + render(found), nl=True)
                else:
                    click.echo(render(found))
                if not watch:
                    return over(found, *thresholds) if check else []
                await asyncio.sleep(interval)
        except asyncio.CancelledError:
            return []
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            with contextlib.suppress(Exception):
                await nc.close()

    problems = asyncio.run(run())
    for problem in problems:
        click.echo(f"over: {problem}", err=True)
    if problems:
        raise SystemExit(OVER_EXIT)
