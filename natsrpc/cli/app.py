"""The ``natsrpc`` command: discover, describe, call and serve natsrpc services."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

import click

from natsrpc._version import __version__
from natsrpc.cli import call as call_module
from natsrpc.cli import dead_letters, discover, load, proto_source, schema, serve, sub
from natsrpc.cli import events as events_cli
from natsrpc.cli import health as health_cli
from natsrpc.cli.connection import (
    ConnectionOptions,
    connect,
    connection_options,
    connection_options_before_subcommand,
    options_from,
)
from natsrpc.cli.output import RpcFailure, echo_json
from natsrpc.cli.permissions.command import permissions_command
from natsrpc.reflection.client import ReflectionClient
from natsrpc.status import RpcError

DISCOVERY_WAIT = 2.0


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    try:
        asyncio.run(coroutine)
    except KeyboardInterrupt:
        # Ctrl-C before a command handles it itself (while connecting, say): 130 too.
        raise call_module.Interrupted("interrupted") from None


def _schema_options(command: Any) -> Any:
    for decorator in reversed(
        [
            click.option(
                "--proto", "protos", multiple=True, metavar="FILE",
                help="Read the schema from this .proto file instead of reflection (repeatable).",
            ),
            click.option(
                "-I", "--import-path", "includes", multiple=True, metavar="DIR",
                help="Where --proto files and their imports are found (repeatable).",
            ),
            click.option(
                "--protoset", "protosets", multiple=True, metavar="FILE",
                help="Read the schema from a FileDescriptorSet (protoc --descriptor_set_out "
                "--include_imports) instead of reflection.",
            ),
        ]
    ):  # fmt: skip
        command = decorator(command)
    return command


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="natsrpc")
@connection_options_before_subcommand
def cli() -> None:
    """Discover, describe, call and serve natsrpc services on NATS.

    Schemas come from the running services (reflection), so no .proto file is
    needed; services that turned reflection off can be called with --proto or
    --protoset.
    """


@cli.command("ls")
@connection_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.option("--wait", default=DISCOVERY_WAIT, show_default=True, help="Seconds to wait at most.")
def ls_command(as_json: bool, wait: float, **kwargs: Any) -> None:
    """List running services: name, version, instances, methods, description."""
    _run(discover.list_services(options_from(kwargs), as_json, wait))


@cli.command("info")
@click.argument("service")
@connection_options
@click.option("--instance", "instance_id", metavar="ID", help="Only this instance.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.option("--wait", default=DISCOVERY_WAIT, show_default=True, help="Seconds to wait at most.")
def info_command(
    service: str, instance_id: str | None, as_json: bool, wait: float, **kwargs: Any
) -> None:
    """Show every instance of SERVICE with its endpoints and their statistics.

    SERVICE is the ADR-32 name (helloworld-Greeter) or the proto name
    (helloworld.Greeter).
    """
    _run(discover.show_info(options_from(kwargs), service, instance_id, as_json, wait))


@cli.command("describe")
@click.argument("symbol")
@connection_options
@_schema_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def describe_command(
    symbol: str,
    protos: tuple[str, ...],
    includes: tuple[str, ...],
    protosets: tuple[str, ...],
    as_json: bool,
    **kwargs: Any,
) -> None:
    """Show a service, method, message or enum as proto source.

    SYMBOL is fully qualified: helloworld.Greeter, helloworld.Greeter.SayHello
    (or helloworld.Greeter/SayHello), helloworld.HelloRequest.
    """
    options = options_from(kwargs)
    local = schema.LocalSchema(protos, includes, protosets)
    symbol = symbol.lstrip("/").replace("/", ".")

    async def describe() -> None:
        if local.given:
            pool = local.pool()
        else:
            nc = await connect(options)
            try:
                pool = await schema.remote_pool(nc, symbol, options.subject_prefix())
            except RpcError as error:
                raise RpcFailure(error) from None
            finally:
                with contextlib.suppress(Exception):
                    await nc.close()
        kind, source = proto_source.describe(pool, symbol)
        if as_json:
            echo_json({"symbol": symbol, "kind": kind, "source": source})
        else:
            click.echo(source)

    _run(describe())


@cli.command("call")
@click.argument("method")
@connection_options
@_schema_options
@click.option(
    "-d", "--data", metavar="JSON|@FILE|@-",
    help="The request as JSON, @FILE, or @- for stdin. Streaming requests are one JSON "
    "object per line; without -d they are read from stdin as they are typed.",
)  # fmt: skip
@click.option(
    "-H", "--header", "headers", multiple=True, metavar="KEY=VALUE",
    help="Call metadata (repeatable).",
)  # fmt: skip
@click.option(
    "--timeout", type=float, metavar="SECONDS",
    help="Deadline in seconds [default: 10 for unary calls, none for streams].",
)  # fmt: skip
@click.option("-v", "--verbose", is_flag=True, help="Show initial and trailing metadata.")
def call_command(
    method: str,
    protos: tuple[str, ...],
    includes: tuple[str, ...],
    protosets: tuple[str, ...],
    data: str | None,
    headers: tuple[str, ...],
    timeout: float | None,
    verbose: bool,
    **kwargs: Any,
) -> None:
    """Call METHOD (pkg.Service/Method or pkg.Service.Method) with JSON.

    Responses are printed as proto3 JSON, one per line. An RPC error prints
    CODE: message on stderr and exits with 64 + the gRPC code; Ctrl-C cancels
    the call (exit 130).
    """
    if timeout is not None and not timeout > 0:
        raise click.BadParameter("must be positive", param_hint="--timeout")
    metadata = {}
    for header in headers:
        key, equals, value = header.partition("=")
        if not equals or not key:
            raise click.BadParameter(f"{header!r} is not KEY=VALUE", param_hint="-H")
        metadata[key.strip()] = value.strip()
    local = schema.LocalSchema(protos, includes, protosets)
    _run(
        call_module.run_call(options_from(kwargs), method, data, metadata, timeout, verbose, local)
    )


@cli.command("services")
@connection_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def services_command(as_json: bool, **kwargs: Any) -> None:
    """List the proto services that running servers reflect."""
    options = options_from(kwargs)

    async def list_reflected() -> None:
        nc = await connect(options)
        try:
            names = await ReflectionClient(nc, prefix=options.subject_prefix()).list_services()
        finally:
            with contextlib.suppress(Exception):
                await nc.close()
        if as_json:
            echo_json(names)
        else:
            click.echo("\n".join(names) if names else "no reflected services found")

    _run(list_reflected())


@cli.command("serve")
@click.argument("target", metavar="MODULE:ATTR")
@connection_options
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(min=1),
    help="Worker processes, each with its own connection, all in the same queue groups.",
)  # fmt: skip
@click.option(
    "--app-dir", default=".", show_default=True, metavar="DIR",
    help="Directory put first on sys.path before MODULE is imported.",
)  # fmt: skip
@serve.metrics_options
def serve_command(target: str, workers: int, app_dir: str, **kwargs: Any) -> None:
    """Serve MODULE:ATTR until SIGINT or SIGTERM, then stop without losing a call.

    ATTR is a generated service subclass, a service instance, or a factory (sync
    or async, no arguments) returning one service or a list of them. With
    --workers N the services run in N supervised processes: one that dies is
    restarted, and a signal stops them all gracefully.
    """
    serve.command(target, app_dir, workers, kwargs)


@cli.command("sub")
@click.argument("target", metavar="EVENT|SUBJECT")
@connection_options
@_schema_options
@click.option(
    "--since", metavar="DURATION|TIMESTAMP",
    help="Stored events from this long ago (90s, 15m, 2h) or this ISO 8601 time on.",
)  # fmt: skip
@click.option(
    "--last", type=click.IntRange(min=1), metavar="N",
    help="The last N stored events, then new ones.",
)  # fmt: skip
@click.option(
    "--count", type=click.IntRange(min=1), metavar="N", help="Stop after N events."
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="One JSON object per event, for scripts.")
def sub_command(
    target: str,
    protos: tuple[str, ...],
    includes: tuple[str, ...],
    protosets: tuple[str, ...],
    since: str | None,
    last: int | None,
    count: int | None,
    as_json: bool,
    **kwargs: Any,
) -> None:
    """Tail events, decoded to JSON, until Ctrl-C (exit 0) or --count.

    EVENT is an event (shop.OrderEvents/Placed or .Placed) or a whole event set
    (shop.OrderEvents); SUBJECT is a NATS subject, wildcards allowed. Stored
    events are read with an ephemeral ordered consumer, which acknowledges
    nothing: new ones, or history with --since or --last. Payloads that do not
    decode print as base64, with a note on stderr.
    """
    if since is not None and last is not None:
        raise click.UsageError("--since and --last exclude each other")
    history = sub.History(sub.parse_since(since) if since is not None else None, last)
    local = schema.LocalSchema(protos, includes, protosets)
    _run(sub.run_sub(options_from(kwargs), target, local, history, count, as_json))


@cli.group("dead-letters")
def dead_letters_group() -> None:
    """List and replay the events a stream's consumer groups gave up on."""


@dead_letters_group.command("ls")
@click.argument("stream")
@connection_options
@_schema_options
@click.option("--consumer", metavar="GROUP", help="Only this consumer group's dead letters.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON, with each decoded event.")
def dead_letters_ls(
    stream: str,
    protos: tuple[str, ...],
    includes: tuple[str, ...],
    protosets: tuple[str, ...],
    consumer: str | None,
    as_json: bool,
    **kwargs: Any,
) -> None:
    """List the dead letters of STREAM (the stream the events are stored in), oldest first."""
    local = schema.LocalSchema(protos, includes, protosets)
    _run(dead_letters.list_letters(options_from(kwargs), stream, consumer, local, as_json))


@dead_letters_group.command("replay")
@click.argument("stream")
@click.argument("sequences", nargs=-1, type=click.IntRange(min=1), metavar="[SEQ]...")
@connection_options
@click.option("--all", "replay_all", is_flag=True, help="Replay every dead letter.")
@click.option("--consumer", metavar="GROUP", help="Only this consumer group's dead letters.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def dead_letters_replay(
    stream: str,
    sequences: tuple[int, ...],
    replay_all: bool,
    consumer: str | None,
    as_json: bool,
    **kwargs: Any,
) -> None:
    """Publish dead letters of STREAM again to their subjects, for their consumer group only.

    Name them by SEQ (from `dead-letters ls`) or give --all. Each replayed
    dead letter is deleted once its event is stored again.
    """
    if bool(sequences) == replay_all:
        raise click.UsageError("name the dead letters to replay by SEQ, or give --all")
    options = options_from(kwargs)
    try:
        _run(dead_letters.replay(options, stream, sequences, consumer, as_json))
    except RpcError as error:
        raise RpcFailure(error) from None


def main() -> None:
    cli(prog_name="natsrpc")


cli.add_command(health_cli.health_command)
cli.add_command(events_cli.events_command)


__all__ = ["ConnectionOptions", "cli", "main"]


cli.add_command(permissions_command)
cli.add_command(_schema_options(load.bench_command))
