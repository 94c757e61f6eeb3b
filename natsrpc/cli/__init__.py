"""The ``natsrpc`` command line tool; see docs/cli.md."""

from natsrpc.cli import dev, generate
from natsrpc.cli.app import cli, main
from natsrpc.cli.gateway import gateway_command

# Registered here rather than in app.py, which is at the 400-line limit; importing
# any natsrpc.cli module runs this first, so every way in sees the command.
cli.add_command(gateway_command)

# Commands in modules of their own register here: app.py is at the 400-line limit.
cli.add_command(dev.dev_command)
cli.add_command(generate.generate_command)

__all__ = ["cli", "main"]
