"""``natsrpc call``: one RPC of any kind, JSON in and JSON out."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import threading
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message import Message

from natsrpc.cli import schema
from natsrpc.cli.connection import ConnectionOptions, connect
from natsrpc.cli.output import CliError, RpcFailure, detail_lines, echo_line, shown_value
from natsrpc.client.base import Client
from natsrpc.metadata import BINARY_SUFFIX, MetadataValue, decode_binary
from natsrpc.spec import MethodKind, MethodSpec
from natsrpc.status import RpcError

INTERRUPTED_EXIT = 130
"""Ctrl-C: the shell's convention for a process ended by SIGINT."""


class Interrupted(CliError):
    exit_code = INTERRUPTED_EXIT

    def show(self, file: Any = None) -> None:
        # The call was cancelled on purpose; say so in the gRPC vocabulary.
        print("CANCELLED: interrupted", file=sys.stderr)


async def run_call(
    options: ConnectionOptions,
    method_name: str,
    data: str | None,
    headers: Mapping[str, str],
    timeout: float | None,
    verbose: bool,
    local: schema.LocalSchema,
) -> None:
    schema.split_method(method_name)  # a bad name fails before connecting
    nc = await connect(options)
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, task.cancel)
    pool: DescriptorPool | None = None
    try:
        pool, spec = await schema.load_method(nc, method_name, local, options.subject_prefix())
        client = Client(nc, subject_prefix=options.subject_prefix())
        await _invoke(client, spec, pool, data, _metadata(headers), timeout, verbose)
    except asyncio.CancelledError:
        raise Interrupted("interrupted") from None
    except RpcError as error:
        raise RpcFailure(error, detail_lines(error, pool) if verbose else ()) from None
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        with contextlib.suppress(Exception):
            # Delivers what is still buffered, a cancel frame included.
            await nc.flush(timeout=2)
        with contextlib.suppress(Exception):
            await nc.close()


async def _invoke(
    client: Client,
    spec: MethodSpec[Any, Any],
    pool: DescriptorPool,
    data: str | None,
    headers: dict[str, MetadataValue],
    timeout: float | None,
    verbose: bool,
) -> None:
    kind = spec.kind
    printer = _Printer(pool, verbose)
    if kind is MethodKind.UNARY:
        request = parse_request(spec, pool, request_text(data))
        call = client._unary_unary(spec, request, timeout, headers)
        try:
            printer.message(await call)
        finally:
            await printer.trailers(call)
        return
    requests = _Requests(spec, pool, data)
    stream: Any
    if kind is MethodKind.SERVER_STREAMING:
        request = parse_request(spec, pool, request_text(data))
        stream = client._unary_stream(spec, request, timeout, headers)
    elif kind is MethodKind.CLIENT_STREAMING:
        stream = client._stream_unary(spec, requests.messages(), timeout, headers)
    else:
        stream = client._stream_stream(spec, requests.messages(), timeout, headers)
    try:
        if verbose:
            printer.initial(await stream.initial_metadata())
        if kind is MethodKind.CLIENT_STREAMING:
            printer.message(await stream)
        else:
            while (response := await stream.read()) is not None:
                printer.message(response)
    except asyncio.CancelledError:
        stream.cancel()
        raise
    except RpcError:
        if requests.error is not None:
            # A bad request line cancelled the call: that line is the story.
            raise requests.error from None
        raise
    finally:
        await printer.trailers(stream)


class _Printer:
    def __init__(self, pool: DescriptorPool, verbose: bool) -> None:
        self._pool = pool
        self._verbose = verbose

    def message(self, message: Message) -> None:
        document = json_format.MessageToDict(message, descriptor_pool=self._pool)
        echo_line(json.dumps(document, ensure_ascii=False))

    def initial(self, metadata: Mapping[str, MetadataValue]) -> None:
        self._metadata("initial metadata", metadata)

    async def trailers(self, call: Any) -> None:
        if not self._verbose or not call.done():
            return  # an interrupted call has no trailers to show
        self._metadata("trailing metadata", await call.trailing_metadata())

    def _metadata(self, title: str, metadata: Mapping[str, MetadataValue]) -> None:
        lines = [f"{title}:", *(f"  {k}: {shown_value(v)}" for k, v in sorted(metadata.items()))]
        print("\n".join(lines), file=sys.stderr, flush=True)


def _metadata(headers: Mapping[str, str]) -> dict[str, MetadataValue]:
    """-H values as metadata: a ``-bin`` key's value is given in base64, as it travels."""
    metadata: dict[str, MetadataValue] = {}
    for key, value in headers.items():
        if not key.lower().endswith(BINARY_SUFFIX):
            metadata[key] = value
            continue
        decoded = decode_binary(value)
        if decoded is None:
            raise CliError(f"-H {key}: a -bin value must be base64")
        metadata[key] = decoded
    return metadata


def request_text(data: str | None) -> str:
    """One request's JSON: the -d text, a file's contents, or stdin's."""
    if data is None:
        return "{}"
    if data == "@-":
        return sys.stdin.read()
    if data.startswith("@"):
        return _read_file(data[1:])
    return data


def _read_file(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror}") from None


_JSON_KINDS = {str: "a string", list: "an array", bool: "true or false", type(None): "null"}


def parse_request(spec: MethodSpec[Any, Any], pool: DescriptorPool, text: str) -> Message:
    message: Message = spec.request_type()
    invalid = f"the request is not a valid {message.DESCRIPTOR.full_name}"
    try:
        document = json.loads(text.strip() or "{}", object_pairs_hook=_unique_keys)
    except _DuplicateField as duplicate:
        raise CliError(f"{invalid}: field {duplicate} is given twice") from None
    except ValueError as error:
        raise CliError(f"{invalid}: not JSON ({error})") from None
    if not isinstance(document, dict):
        kind = _JSON_KINDS.get(type(document), "a number")
        raise CliError(f"{invalid}: a request is a JSON object ({{...}}), not {kind}")
    try:
        json_format.ParseDict(document, message, descriptor_pool=pool)
    except (json_format.ParseError, TypeError, ValueError) as error:
        raise CliError(f"{invalid}: {_one_line(str(error))}") from None
    return message


class _DuplicateField(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # As protobuf's own JSON parser does: a field given twice is a mistake, not "the last wins".
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise _DuplicateField(json.dumps(key))
        document[key] = value
    return document


def _one_line(problem: str) -> str:
    """protobuf's parse error without the list of every field it appends on a second line."""
    problem = problem.split("\n Available Fields", 1)[0]
    return " ".join(problem.split())


class _Requests:
    """Newline-delimited JSON requests, read as they come (stdin: as they are typed).

    A line that is not a valid request ends the call; ``error`` keeps the reason.
    """

    def __init__(self, spec: MethodSpec[Any, Any], pool: DescriptorPool, data: str | None) -> None:
        self._spec = spec
        self._pool = pool
        self._data = data
        self.error: CliError | None = None

    async def messages(self) -> AsyncIterator[Message]:
        data = self._data
        if data is None or data == "@-":
            lines: AsyncIterator[str] = _stdin_lines()
        else:
            text = _read_file(data[1:]) if data.startswith("@") else data
            lines = _iterate(text.splitlines())
        async for line in lines:
            if not line.strip():
                continue
            try:
                message = parse_request(self._spec, self._pool, line)
            except CliError as error:
                self.error = error
                raise
            yield message


async def _iterate(lines: list[str]) -> AsyncIterator[str]:
    for line in lines:
        yield line


async def _stdin_lines() -> AsyncIterator[str]:
    # A daemon thread reads stdin, so a blocked read never keeps the process alive
    # after the call ends or is interrupted; it works for terminals, pipes and files.
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line)
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=read, daemon=True, name="natsrpc-stdin").start()
    while (line := await queue.get()) is not None:
        yield line
