"""``natsrpc permissions``: least-privilege NATS permissions for services and event sets.

The model (docs/cli.md explains it):

- Every user connects with its own inbox prefix, ``_INBOX.<user>``, and may
  subscribe only below it: nobody can read another connection's replies, and
  JetStream's answers (publish acknowledgements, API replies, pulled events)
  arrive there too.
- Nobody gets a blanket right to publish into inboxes. Replies and stream frames
  travel on ``allow_responses``: a connection may publish to the reply subject
  of a message it received, as often as the stream needs, for ``max_call`` at most.
- Each role is one function in ``rpc`` or ``events`` that adds exactly the
  subjects its runtime code uses; ``command`` resolves the names and combines them.
"""

from __future__ import annotations

from natsrpc.cli.permissions.model import Permissions, parse_duration

__all__ = ["Permissions", "parse_duration"]
