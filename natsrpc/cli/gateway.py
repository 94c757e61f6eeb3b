"""``natsrpc gateway``: every natsrpc service over the Connect protocol (HTTP) and gRPC.

The gateway's own NATS connection takes the options every command takes; it
reconnects when NATS goes away (calls meanwhile fail UNAVAILABLE), unlike the
one-shot commands. See docs/gateway.md.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import signal
from pathlib import Path
from typing import Any

import click

from natsrpc.cli.connection import ConnectionOptions, connect, connection_options, options_from
from natsrpc.cli.output import CliError, echo_line
from natsrpc.cli.schema import LocalSchema
from natsrpc.client.config import NO_TIMEOUT

_DEFAULTS = {"max_request_bytes": 4 * 1024 * 1024, "max_concurrent_calls": 1024}


def _options(command: Any) -> Any:
    decorators = [
        click.option(
            "--http-port",
            type=int,
            metavar="PORT",
            help="Serve the Connect protocol (HTTP/1.1) here; 0 picks a free port.",
        ),
        click.option(
            "--grpc-port",
            type=int,
            metavar="PORT",
            help="Serve gRPC (HTTP/2) here; 0 picks a free port.",
        ),
        click.option(
            "--host",
            default="127.0.0.1",
            show_default=True,
            help="Address both listeners bind to (0.0.0.0: every interface).",
        ),
        click.option(
            "--tls-cert",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="TLS certificate (PEM) for both listeners.",
        ),
        click.option(
            "--tls-key",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Its private key (PEM).",
        ),
        click.option(
            "--proto",
            "protos",
            multiple=True,
            metavar="FILE",
            help="Expose this .proto file's services instead of reflection's (repeatable).",
        ),
        click.option(
            "-I",
            "--import-path",
            "includes",
            multiple=True,
            metavar="DIR",
            help="Where --proto files and their imports are found (repeatable).",
        ),
        click.option(
            "--protoset",
            "protosets",
            multiple=True,
            metavar="FILE",
            help="Expose the services of this FileDescriptorSet instead of reflection's.",
        ),
        click.option(
            "--allow",
            multiple=True,
            metavar="PATTERN",
            help="Expose only services matching (e.g. shop.*; repeatable).",
        ),
        click.option(
            "--deny",
            multiple=True,
            metavar="PATTERN",
            help="Never expose services matching (repeatable; wins over --allow).",
        ),
        click.option(
            "--cors-origin",
            "cors_origins",
            multiple=True,
            metavar="ORIGIN",
            help="Let pages of this origin call (https://app.example.com, or *; repeatable).",
        ),
        click.option(
            "--forward-header",
            "forward_headers",
            multiple=True,
            metavar="PATTERN",
            help="Request headers passed on as metadata (repeatable) "
            "[default: x-*, traceparent, tracestate, baggage].",
        ),
        click.option(
            "--max-request-bytes",
            type=click.IntRange(min=1),
            default=_DEFAULTS["max_request_bytes"],
            show_default=True,
            help="Largest request accepted.",
        ),
        click.option(
            "--max-concurrent-calls",
            type=click.IntRange(min=1),
            default=_DEFAULTS["max_concurrent_calls"],
            show_default=True,
            help="Calls in flight at once; more are refused with RESOURCE_EXHAUSTED.",
        ),
        click.option(
            "--default-timeout",
            type=click.FloatRange(min=0, min_open=True),
            default=30.0,
            show_default=True,
            help="Seconds a unary call may take when its caller sets no deadline.",
        ),
        click.option(
            "--stream-timeout",
            type=click.FloatRange(min=0, min_open=True),
            help="The same for streaming calls [default: none].",
        ),
        click.option(
            "--refresh-interval",
            type=click.FloatRange(min=0.1),
            default=10.0,
            show_default=True,
            help="Seconds between looks for services that started later.",
        ),
    ]
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


@click.command("gateway")
@connection_options
@_options
def gateway_command(**kwargs: Any) -> None:
    """Serve every natsrpc service to Connect, gRPC and browser clients.

    Services are found by reflection and picked up as they start, unless
    --proto or --protoset names them. The gateway adds no authentication of its
    own: see docs/gateway.md before exposing it beyond a trusted network.
    """
    for module in ("uvicorn", "grpc"):
        if importlib.util.find_spec(module) is None:
            raise CliError('the gateway needs its extra: pip install "natsrpc[gateway]"')
    if kwargs["http_port"] is None and kwargs["grpc_port"] is None:
        raise click.UsageError("give --http-port, --grpc-port or both")
    if (kwargs["tls_cert"] is None) != (kwargs["tls_key"] is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    options = options_from(kwargs)
    logging.basicConfig(level=logging.WARNING, format="natsrpc gateway: %(message)s")
    asyncio.run(_serve(options, kwargs))


async def _serve(options: ConnectionOptions, settings: dict[str, Any]) -> None:
    from natsrpc.gateway import CorsPolicy, Gateway, HeaderPolicy, Limits, ServiceFilter
    from natsrpc.gateway.headers import DEFAULT_FORWARDED

    local = LocalSchema(settings["protos"], settings["includes"], settings["protosets"])
    files = local.files() if local.given else []
    nc = await connect(options, allow_reconnect=True, max_reconnect_attempts=-1)
    gateway = Gateway(
        nc,
        prefix=options.subject_prefix(),
        reflection=not local.given,
        files=files,
        service_filter=ServiceFilter(tuple(settings["allow"]), tuple(settings["deny"])),
        refresh_interval=settings["refresh_interval"],
        limits=Limits(
            max_request_bytes=settings["max_request_bytes"],
            max_concurrent_calls=settings["max_concurrent_calls"],
            default_timeout=settings["default_timeout"],
            stream_timeout=settings["stream_timeout"] or NO_TIMEOUT,
        ),
        cors=CorsPolicy(tuple(settings["cors_origins"])),
        headers=HeaderPolicy(tuple(settings["forward_headers"]) or DEFAULT_FORWARDED),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    tls = {"certificate": settings["tls_cert"], "private_key": settings["tls_key"]}
    host = settings["host"]
    try:
        await gateway.start()
        listening = []
        if settings["grpc_port"] is not None:
            port = await gateway.start_grpc(host=host, port=settings["grpc_port"], **tls)
            listening.append(f"gRPC on {host}:{port}")
        if settings["http_port"] is not None:
            port = await gateway.start_http(host=host, port=settings["http_port"], **tls)
            scheme = "https" if tls["certificate"] else "http"
            listening.append(f"Connect on {scheme}://{host}:{port}")
        services = ", ".join(gateway.directory.services()) or "none yet"
        echo_line(f"natsrpc gateway: {'; '.join(listening)}; services: {services}")
        await stop.wait()
    except (OSError, RuntimeError) as error:  # grpcio reports a port it cannot bind so
        raise CliError(f"cannot listen: {error}") from None
    finally:
        await gateway.stop()
        await nc.close()
