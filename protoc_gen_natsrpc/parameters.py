"""Plugin parameters, passed by protoc as ``--natsrpc_opt=key=value,key=value``.

"Parameters" throughout the plugin; "options" are the ``(natsrpc.*)`` proto options
(:mod:`.proto_options`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ParameterError(ValueError):
    """A parameter protoc passed is unknown or has an unsupported value."""


class ImportStyle(enum.Enum):
    ABSOLUTE = "absolute"
    RELATIVE = "relative"


@dataclass(frozen=True)
class Parameters:
    imports: ImportStyle = ImportStyle.ABSOLUTE
    asyncapi: bool = False
    """Also write ``<file>.asyncapi.json`` beside each generated module."""
    grpc_aliases: bool = True
    """The proto name as a second name of each client method (``SayHello = say_hello``).

    On by default: grpcio and grpc.aio call sites keep working unchanged, which is
    what docs/migrating-from-grpc.md promises; ``grpc_aliases=false`` drops them for
    projects that never used grpcio, whose completion lists they would double."""


_BOOLEANS = {"true": True, "false": False}
_KNOWN = "imports, asyncapi, grpc_aliases"


def parse_parameters(parameter: str) -> Parameters:
    """Parse protoc's comma-separated ``key=value`` parameter string."""
    imports = ImportStyle.ABSOLUTE
    flags = {"asyncapi": False, "grpc_aliases": True}
    for item in parameter.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if key == "imports":
            if not sep:
                raise ParameterError("parameter 'imports' needs a value: absolute or relative")
            try:
                imports = ImportStyle(value)
            except ValueError:
                raise ParameterError(
                    f"bad value {value!r} for parameter 'imports': expected absolute or relative"
                ) from None
        elif key in flags:
            # A bare flag reads as switching it on, like a command-line flag.
            if sep and value not in _BOOLEANS:
                raise ParameterError(
                    f"bad value {value!r} for parameter {key!r}: expected true or false"
                )
            flags[key] = _BOOLEANS[value] if sep else True
        else:
            raise ParameterError(f"unknown parameter {key!r} (known parameters: {_KNOWN})")
    return Parameters(
        imports=imports, asyncapi=flags["asyncapi"], grpc_aliases=flags["grpc_aliases"]
    )
