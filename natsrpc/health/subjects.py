"""Where health is asked: one subject group per served service, one per subject prefix."""

from __future__ import annotations

from natsrpc.contract import method_subject

HEALTH_TOKEN = "$health"
"""Last token of a health subject group; ``$`` cannot start a proto name."""


def health_group(group: str) -> str:
    """The health subject group of the service with subject group ``group`` (prefix included)."""
    return f"{group}.{HEALTH_TOKEN}"


def server_group(prefix: str = "") -> str:
    """The health subject group of every server with subject prefix ``prefix`` as a whole."""
    return f"{prefix}{HEALTH_TOKEN}"


def check_subject(group: str) -> str:
    return method_subject(group, "Check")


def watch_subject(group: str) -> str:
    return method_subject(group, "Watch")
