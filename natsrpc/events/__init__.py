"""Typed events over NATS: publishers, handlers, JetStream delivery, dead letters.

Generated modules subclass ``Publisher`` and ``EventHandlers``; docs/events.md
describes the delivery guarantees.
"""

from natsrpc.events.context import EventContext
from natsrpc.events.dead_letters import DeadLetter, DeadLetters, Reason
from natsrpc.events.errors import ProvisioningError, Reject, Retry
from natsrpc.events.handlers import EventHandlers
from natsrpc.events.jetstream import PublishAck
from natsrpc.events.provision import ensure_streams
from natsrpc.events.publisher import Publisher
from natsrpc.events.spec import EventServiceSpec, EventSpec, Retention, Storage, StreamSpec

__all__ = [
    "DeadLetter",
    "DeadLetters",
    "EventContext",
    "EventHandlers",
    "EventServiceSpec",
    "EventSpec",
    "ProvisioningError",
    "PublishAck",
    "Publisher",
    "Reason",
    "Reject",
    "Retention",
    "Retry",
    "Storage",
    "StreamSpec",
    "ensure_streams",
]
