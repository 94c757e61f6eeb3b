"""Where a service's reflection is served: its subject group and reflection subject."""

from __future__ import annotations

from natsrpc.contract import group_of
from natsrpc.spec import ServiceSpec

REFLECTION_TOKEN = "$reflection"
"""Last subject token of a service's reflection subject; ``$`` cannot start a proto name."""


def subject_group(spec: ServiceSpec) -> str:
    """The subject group of a service: its method subjects without the last token."""
    if not spec.methods:
        raise ValueError(f"{spec.full_name} has no methods, so no subjects")
    return group_of(spec.methods[0].subject)


def reflection_subject(group: str, prefix: str = "") -> str:
    """Where the reflection of the service with subject group ``group`` is served."""
    return f"{prefix}{group}.{REFLECTION_TOKEN}"
