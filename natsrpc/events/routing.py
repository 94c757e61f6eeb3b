"""The handlers one component serves, and which of them a subject belongs to."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from natsrpc.events.spec import EventSpec
from natsrpc.service_api.responder import Endpoint

EventHandler = Callable[[Any, Any], Awaitable[Any]]


@dataclass(frozen=True)
class Consumed:
    """One event a component consumes: its handler (interceptors included) and statistics."""

    event: EventSpec[Any]
    handler: EventHandler
    endpoint: Endpoint
    filter_subject: str
    """The subscription subject, prefix included, every ``{field}`` as ``*``."""


class Router:
    """Finds the consumed event a delivered subject belongs to."""

    def __init__(self, consumed: Sequence[Consumed]) -> None:
        self.consumed = tuple(consumed)
        self._patterns = [(c.filter_subject.split("."), c) for c in self.consumed]

    def route(self, subject: str) -> Consumed | None:
        if len(self.consumed) == 1:
            return self.consumed[0]
        tokens = subject.split(".")
        for pattern, consumed in self._patterns:
            if len(pattern) == len(tokens) and all(
                p in ("*", t) for p, t in zip(pattern, tokens, strict=True)
            ):
                return consumed
        return None

    @property
    def filter_subjects(self) -> list[str]:
        subjects: list[str] = []
        for consumed in self.consumed:
            if consumed.filter_subject not in subjects:
                subjects.append(consumed.filter_subject)
        return subjects
