"""Plugin parameters, passed by protoc as ``--natsrpc_opt=key=value,key=value``."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class OptionsError(ValueError):
    """A parameter protoc passed is unknown or has an unsupported value."""


class ImportStyle(enum.Enum):
    ABSOLUTE = "absolute"
    RELATIVE = "relative"


@dataclass(frozen=True)
class Options:
    imports: ImportStyle = ImportStyle.ABSOLUTE
    asyncapi: bool = False
    """Also write ``<file>.asyncapi.json`` beside each generated module."""


_BOOLEANS = {"true": True, "false": False}


def parse_parameter(parameter: str) -> Options:
    """Parse protoc's comma-separated ``key=value`` parameter string."""
    imports = ImportStyle.ABSOLUTE
    asyncapi = False
    for item in parameter.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if key == "imports":
            if not sep:
                raise OptionsError("parameter 'imports' needs a value: absolute or relative")
            try:
                imports = ImportStyle(value)
            except ValueError:
                raise OptionsError(
                    f"bad value {value!r} for parameter 'imports': expected absolute or relative"
                ) from None
        elif key == "asyncapi":
            # A bare "asyncapi" reads as switching it on, like a command-line flag.
            if sep and value not in _BOOLEANS:
                raise OptionsError(
                    f"bad value {value!r} for parameter 'asyncapi': expected true or false"
                )
            asyncapi = _BOOLEANS[value] if sep else True
        else:
            raise OptionsError(f"unknown parameter {key!r} (known parameters: imports, asyncapi)")
    return Options(imports=imports, asyncapi=asyncapi)
