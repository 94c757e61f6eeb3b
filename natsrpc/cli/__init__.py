"""The ``natsrpc`` command line tool (``pip install "natsrpc[cli]"``); see docs/cli.md."""

from natsrpc.cli.app import cli, main
from natsrpc.cli.gateway import gateway_command

# Registered here rather than in app.py, which is at the 400-line limit; importing
# any natsrpc.cli module runs this first, so every way in sees the command.
cli.add_command(gateway_command)

__all__ = ["cli", "main"]
