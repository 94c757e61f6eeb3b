"""``python -m natsrpc.cli``: the same as the ``natsrpc`` command."""

from natsrpc.cli.app import main

main()
