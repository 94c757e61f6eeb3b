"""Header blocks built and parsed by nats-py's rules, remembering the ones natsrpc repeats.

``header_block`` serialises headers as nats-py's publish() would, for blocks
built once and reused. nats-py's own parser runs a generator per header name
and a coroutine per block; natsrpc's blocks are few and repetitive (a deadline
header, a stream frame's fixed lines plus its sequence number), so
``parse_plain`` parses each distinct one once; ``transport.natspy.inbound``
uses it for blocks without a status line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from nats import errors as nats_errors

HEADER_LINE = b"NATS/1.0\r\n"
_HEADER_KEY = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""The header names nats-py's publish() accepts (an RFC 7230 token)."""
_BAD_HEADER: type[Exception] = getattr(nats_errors, "BadHeaderError", nats_errors.Error)
"""What nats-py raises for a header name it refuses (nats-py before 2.16 refuses none)."""
_SLOT = "\x00"
"""Stands for a template's value while the block is built: no header value holds it."""
_VALUE_NEWLINES = str.maketrans({"\r": " ", "\n": " "})
_WHITESPACE = re.compile(r"\s")
_PARSED_BLOCKS_KEPT = 256
_parsed_blocks: dict[bytes, dict[str, str]] = {}
"""Header blocks (whole, from ``NATS/1.0``, or all but their last line) parsed lately."""


def header_block(headers: Mapping[str, str]) -> bytes:
    """Headers serialised as nats-py's publish() would: trimmed, keys checked, no line breaks."""
    parts = [HEADER_LINE]
    for name, value in headers.items():
        key = name.strip()
        if not key:
            continue
        if not _HEADER_KEY.fullmatch(key):
            raise _BAD_HEADER(key)
        parts.append(f"{key}: {value.strip().translate(_VALUE_NEWLINES)}\r\n".encode())
    parts.append(b"\r\n")
    return b"".join(parts)


def header_template(fixed: Mapping[str, str], last: str, placeholder: str = "%s") -> bytes:
    """A block of ``fixed`` and then ``last``, whose value each message fills in: ``block % value``.

    For the blocks natsrpc sends most (a stream frame's sequence number, a
    deadline, a message id): built once by ``header_block``'s rules, they cost
    each message a format instead of a dict and its serialisation.
    ``placeholder`` is the ``%`` conversion the value takes (``%d`` for an int).
    """
    block = header_block({**fixed, last: _SLOT})
    return block.replace(b"%", b"%%").replace(_SLOT.encode(), placeholder.encode())


def parse_block(block: bytes) -> dict[str, str]:
    """The headers of a block ``header_block`` built.

    For the public path (``transport.natspy.paths``), which hands nats-py a dict.
    """
    lines = block.decode().split("\r\n")[1:]
    return dict(line.split(": ", 1) for line in lines if line)


def parse_plain(headers: bytes) -> dict[str, str]:
    """A header block without a status line, parsed by nats-py's rules into a new dict.

    Most blocks repeat one seen lately (a deadline header), or differ from one
    only in their last line (a stream frame's sequence number): those lines are
    parsed once and their result copied.
    """
    known = _parsed_blocks.get(headers)
    if known is not None:
        return dict(known)
    body = headers[10:]
    if body.endswith(b"\r\n\r\n"):
        head, _, last = body[:-4].rpartition(b"\r\n")
        if head:
            first = _parsed_blocks.get(head)
            if first is None:
                first = _remember(head, _parse_lines(head))
            found = dict(first)
            _parse_line(last, found)
            return found
        # One line (a JetStream message's own Nats-Msg-Id, a deadline): no split.
        found = {}
        _parse_line(last, found)
        return dict(_remember(headers, found))
    return dict(_remember(headers, _parse_lines(body)))


def _remember(block: bytes, parsed: dict[str, str]) -> dict[str, str]:
    if len(_parsed_blocks) >= _PARSED_BLOCKS_KEPT:
        _parsed_blocks.clear()
    _parsed_blocks[block] = parsed
    return parsed


def _parse_lines(lines: bytes) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in lines.split(b"\r\n"):
        _parse_line(line, found)
    return found


def _parse_line(line: bytes, found: dict[str, str]) -> None:
    # nats-py's rules: split at the first colon, trim, skip names that are not
    # ASCII or contain whitespace, decode values leniently.
    name, colon, value = line.partition(b":")
    if not colon:
        return
    try:
        key = name.strip().decode("ascii")
    except UnicodeDecodeError:
        return
    if _WHITESPACE.search(key):
        return
    found[key] = value.strip().decode("utf-8", "replace")
