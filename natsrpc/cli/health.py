"""``natsrpc health [SERVICE]``: whether an instance serves, for probes and scripts."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import click

from natsrpc.cli.connection import connect, connection_options, options_from
from natsrpc.cli.output import CliError, echo_json
from natsrpc.health.client import HealthChecker
from natsrpc.health.v1.health_pb2 import HealthCheckResponse
from natsrpc.status import RpcError, StatusCode

SERVING_EXIT = 0
NOT_SERVING_EXIT = 3
"""Instances answered, and none was SERVING within the timeout (starting, or stopping)."""
NO_ANSWER_EXIT = 4
"""No server answered within the timeout."""
RETRY_EVERY = 0.2
"""Seconds between checks while no instance is SERVING: the next may land on another."""


async def wait_for_serving(checker: HealthChecker, service: str, timeout: float) -> str | None:
    """The status name once one instance is SERVING, the last other one, or None if none answered.

    Raises CliError when no running server serves ``service``.
    """
    deadline = time.monotonic() + timeout
    last: str | None = None
    while True:
        left = deadline - time.monotonic()
        try:
            status = await checker.check(service, timeout=max(left, 0.1))
        except RpcError as error:
            if error.code is StatusCode.NOT_FOUND:
                raise CliError(error.message) from None
            if error.code not in (StatusCode.UNAVAILABLE, StatusCode.DEADLINE_EXCEEDED):
                raise CliError(f"{error.code.name}: {error.message}") from None
        else:
            last = HealthCheckResponse.ServingStatus.Name(status)
            if status == HealthCheckResponse.SERVING:
                return last
        if time.monotonic() + RETRY_EVERY >= deadline:
            return last
        await asyncio.sleep(RETRY_EVERY)


@click.command("health")
@click.argument("service", required=False, default="")
@connection_options
@click.option(
    "--timeout", default=5.0, show_default=True, type=click.FloatRange(min=0.1), metavar="SECONDS",
    help="How long to wait for an instance that is SERVING.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def health_command(service: str, timeout: float, as_json: bool, **kwargs: Any) -> None:
    """Exit 0 once an instance of SERVICE, or any server without SERVICE, is SERVING.

    Asks grpc.health.v1 Check over NATS, again and again until an instance
    answers SERVING or the timeout passes. Exit status: 0 SERVING; 1 no running
    server serves SERVICE, or no connection; 3 instances answered but none was
    SERVING; 4 no server answered. Fit for a Kubernetes exec probe.
    """
    options = options_from(kwargs)

    async def check() -> str | None:
        nc = await connect(options)
        try:
            return await wait_for_serving(
                HealthChecker(nc, options.subject_prefix()), service, timeout
            )
        finally:
            with contextlib.suppress(Exception):
                await nc.close()

    status = asyncio.run(check())
    name = service or "server"
    if as_json:
        echo_json({"service": service, "status": status})
    elif status is not None:
        click.echo(f"{name}: {status}")
    if status is None:
        if not as_json:
            click.echo(f"error: no server answered within {timeout:g} s", err=True)
        raise SystemExit(NO_ANSWER_EXIT)
    raise SystemExit(SERVING_EXIT if status == "SERVING" else NOT_SERVING_EXIT)
