"""Subjects a service answers on besides its methods (docs/protocol.md §1, §2.4)."""

from __future__ import annotations

from natsrpc.contract import group_of

CANCEL_TOKEN = "$cancel"
"""Last token of a service's cancel subject; ``$`` cannot start a proto name, so no method
subject collides with it."""


def cancel_subject(method_subject: str) -> str:
    """Where callers announce that they gave up on a unary call to ``method_subject``.

    Every instance of the service listens there (not in a queue group): the caller
    does not know which instance took its request.
    """
    return f"{group_of(method_subject)}.{CANCEL_TOKEN}"
