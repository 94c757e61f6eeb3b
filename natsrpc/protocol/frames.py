"""Stream frames (docs/protocol.md §9): their header names, types and defaults."""

from __future__ import annotations

FRAME = "Rpc-Frame"
SEQ = "Rpc-Seq"
WINDOW = "Rpc-Window"
CREDIT = "Rpc-Credit"
HEARTBEAT = "Rpc-Heartbeat-Ms"

OPEN = "open"
ACCEPT = "accept"
MSG = "msg"
END = "end"
GRANT = "credit"
CANCEL = "cancel"
HB = "hb"

DEFAULT_WINDOW = 16
"""Message frames a receiver buffers at most; the sender needs credit for more."""
DEFAULT_HEARTBEAT = 1.0
"""Seconds of silence after which a side sends a heartbeat frame."""
MISSED_HEARTBEATS = 3
"""Heartbeat intervals of silence after which a peer counts as gone."""


def positive_int(value: str | None, default: int) -> int:
    """A positive whole number from a header, or ``default`` when absent or malformed."""
    try:
        number = int(value) if value is not None else default
    except ValueError:
        return default
    return number if number > 0 else default


def heartbeat_header(seconds: float) -> str:
    return str(max(1, round(seconds * 1000)))


def heartbeat_seconds(value: str | None) -> float | None:
    """The peer's heartbeat interval from its header; None if it sent none."""
    return positive_int(value, 0) / 1000.0 or None
