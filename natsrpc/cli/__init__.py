"""The ``natsrpc`` command line tool (``pip install "natsrpc[cli]"``); see docs/cli.md."""

from natsrpc.cli.app import cli, main

__all__ = ["cli", "main"]
