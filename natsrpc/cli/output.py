"""What the CLI prints: aligned tables for people, JSON for scripts, one-line errors."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Sequence
from typing import Any

import click
from google.protobuf import json_format
from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.descriptor_pool import DescriptorPool

from natsrpc.status import RpcError

RPC_ERROR_EXIT_BASE = 64
"""An RPC error exits with 64 + its gRPC code, as grpcurl does."""
FAILURE_EXIT = 1
"""Anything else that went wrong (no connection, unknown symbol, a bad schema file)."""


class CliError(click.ClickException):
    """A failure the user can act on: printed as one line, exit status 1."""

    exit_code = FAILURE_EXIT

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class RpcFailure(click.ClickException):
    """An RPC that ended with a status: ``CODE: message`` and exit status 64 + code."""

    def __init__(self, error: RpcError, more: Sequence[str] = ()) -> None:
        super().__init__(error.message)
        self.error = error
        self.more = more
        """Lines shown under the status line (``natsrpc call -v``: the error's details)."""
        # click exits with the instance's exit_code.
        self.exit_code = RPC_ERROR_EXIT_BASE + error.code.value  # type: ignore[misc]

    def show(self, file: Any = None) -> None:
        click.echo(f"{self.error.code.name}: {self.error.message}", err=True)
        for line in self.more:
            click.echo(line, err=True)


def detail_lines(error: RpcError, pool: DescriptorPool | None) -> list[str]:
    """Each of ``error``'s details as one line of protobuf JSON, under a ``details:`` line."""
    if not error.details:
        return []
    lines = (json.dumps(detail_document(d, pool), ensure_ascii=False) for d in error.details)
    return ["details:", *("  " + line for line in lines)]


def detail_document(detail: AnyMessage, pool: DescriptorPool | None) -> dict[str, Any]:
    """An error detail as protobuf JSON.

    Its type is looked up in ``pool`` (the service's schema), then among the messages
    this process knows (the ``google.rpc`` ones); a detail of a type neither knows
    shows its type URL and its bytes in base64.
    """
    # Registers google.rpc's detail messages (BadRequest, ErrorInfo, ...) in the default pool.
    from google.rpc import error_details_pb2  # noqa: F401

    for candidate in (pool, None):
        try:
            return json_format.MessageToDict(detail, descriptor_pool=candidate)
        except (TypeError, KeyError):
            continue
    return {"@type": detail.type_url, "value": shown_value(detail.value)}


def shown_value(value: str | bytes) -> str:
    """A metadata value as the CLI prints it: bytes (``-bin`` keys) in base64."""
    return base64.b64encode(value).decode("ascii") if isinstance(value, bytes) else value


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell, two spaces apart; the last one is not padded."""
    cells = [[str(h) for h in headers], *([_cell(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [cell.ljust(width) for cell, width in zip(row[:-1], widths[:-1], strict=True)]
        lines.append("  ".join([*padded, row[-1]]).rstrip())
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    # One line per row, whatever a description holds.
    return " ".join(str(value).split())


def echo_json(document: Any) -> None:
    """Indented, key-sorted JSON on stdout."""
    click.echo(json.dumps(document, indent=2, sort_keys=True))


def echo_line(text: str) -> None:
    """One line on stdout, flushed at once (replies of a stream appear as they arrive)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def duration(nanoseconds: int) -> str:
    """A latency for people: 512µs, 3.4ms, 1.20s."""
    if nanoseconds < 1_000_000:
        return f"{nanoseconds / 1000:.0f}µs"
    if nanoseconds < 1_000_000_000:
        return f"{nanoseconds / 1_000_000:.1f}ms"
    return f"{nanoseconds / 1_000_000_000:.2f}s"
