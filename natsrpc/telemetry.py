"""What the event runtime reports to metrics, through hooks that stay None until set.

``natsrpc.metrics.enable()`` sets them; until then nothing is recorded and
each hook costs one None check. Unary RPCs, the runtime's hottest path, are
recorded through hooks rather than interceptors: an interceptor costs its
call a chain of coroutines, a hook a function call. This module imports nothing, so the runtime can
call it without the ``otel`` extra installed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

settled: Callable[[str, str, Any, bytes], None] | None = None
"""Called as ``settled(stream, group, delivery, answer)`` each time a JetStream
consumer settles an event in hand (``events.delivery.Settler``): ``delivery`` is
the ``Delivery`` and ``answer`` the body sent back (``+ACK``, ``-NAK ...``,
``+TERM <reason>``)."""

handled: Callable[[str, str, int, str], None] | None = None
"""Called as ``handled(event, group, nanoseconds, outcome)`` each time a core NATS
event's handling ends (``events.core``): ``event`` is the event's path, ``group`` its
consumer group (``""`` for fan-out), and ``outcome`` ``handled``, ``failed`` (the
handler raised) or ``undecodable``."""

unary_calling: Callable[[Any], object] | None = None
"""Called as ``unary_calling(method)`` when a client's unary call starts (``client.unary``),
outside every interceptor."""
unary_called: Callable[[Any, Any, int], object] | None = None
"""Called as ``unary_called(method, code, nanoseconds)`` when that call ends, with its
``StatusCode`` and how long it took; set whenever ``unary_calling`` is."""
unary_served: Callable[[Any, Any, int], object] | None = None
"""Called as ``unary_served(method, code, nanoseconds)`` each time a server has served a
unary call (``server.unary``): decoding, the handler and encoding, by its ``StatusCode``."""
