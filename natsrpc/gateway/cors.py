"""CORS for the Connect front end: which origins may call, and the preflight answer.

A preflight from an allowed origin is answered with every method Connect uses
(GET and POST) and the request headers it asked for; a real response names the
headers it carries in ``Access-Control-Expose-Headers``, so a browser client
can read metadata, trailers and Connect's own headers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

Headers = list[tuple[bytes, bytes]]

_SAFELISTED = frozenset(
    {"cache-control", "content-language", "content-length", "content-type", "expires"}
)
_SAFELISTED |= {"last-modified", "pragma"}


@dataclass(frozen=True)
class CorsPolicy:
    """``allowed_origins``: exact origins (``https://app.example.com``) or ``*`` for any.

    Empty (the default) answers no cross-origin request: browsers then refuse to
    let another origin's page read the gateway's answers.
    """

    allowed_origins: tuple[str, ...] = ()
    max_age: int = 7200
    """Seconds a browser may keep a preflight's answer."""

    def allows(self, origin: str) -> bool:
        return "*" in self.allowed_origins or origin in self.allowed_origins

    def preflight(self, origin: str, requested_headers: str) -> Headers:
        """The headers of a 204 answer to an allowed origin's preflight."""
        headers = self._origin_headers(origin)
        headers.append((b"access-control-allow-methods", b"GET, POST"))
        if requested_headers:
            headers.append((b"access-control-allow-headers", requested_headers.encode("latin-1")))
        headers.append((b"access-control-max-age", str(self.max_age).encode()))
        return headers

    def response(self, origin: str, response_headers: Iterable[tuple[bytes, bytes]]) -> Headers:
        """CORS headers for a real response to ``origin``, exposing ``response_headers``."""
        headers = self._origin_headers(origin)
        exposed = sorted({name.decode("latin-1") for name, _ in response_headers} - _SAFELISTED)
        if exposed:
            headers.append((b"access-control-expose-headers", ", ".join(exposed).encode()))
        return headers

    def _origin_headers(self, origin: str) -> Headers:
        return [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]
