"""How a consumer group consumes a JetStream event set."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConsumerSettings:
    """How one consumer group consumes; every field has a safe default."""

    group: str
    subject_prefix: str = ""
    max_concurrency: int = 256
    ack_wait: float = 30.0
    """Seconds the server waits for an answer before it redelivers; in-progress signals
    keep a longer handler's event from redelivery."""
    max_deliver: int = 5
    """Attempts before an event is dead-lettered."""
    backoff: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0)
    """Nak delays in seconds by delivery count (the last repeats); a handler's
    ``Retry(delay=...)`` overrides them."""
    ordered_by: str | None = None
    """Event field whose equal values are handled one at a time, in stream order."""
    deliver_new: bool = False
    """A new group starts with events published after it is created, not the stored ones."""
    provision: bool = True
    """Create or update the stream and the consumer at start."""
    pull_expires: float = 5.0
    """Seconds a pull request waits on the server for events."""

    def __post_init__(self) -> None:
        if not self.group or any(c in self.group for c in ".*> \t"):
            raise ValueError(f"consumer group {self.group!r} must be a non-empty NATS name token")
        if self.max_concurrency < 1 or self.max_deliver < 1:
            raise ValueError("max_concurrency and max_deliver must be at least 1")
        if self.ack_wait <= 0 or self.pull_expires <= 0 or not self.backoff:
            raise ValueError("ack_wait and pull_expires must be positive, backoff non-empty")

    def nak_delay(self, delivery_count: int) -> float:
        return self.backoff[min(delivery_count, len(self.backoff)) - 1]
