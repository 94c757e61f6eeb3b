"""``protoc-gen-natsrpc``: protoc sends a CodeGeneratorRequest on stdin, we answer on stdout."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from google.protobuf.compiler import plugin_pb2
from google.protobuf.message import DecodeError

_USAGE = "usage: protoc-gen-natsrpc [--version]  (run by protoc as --natsrpc_out=DIR)"


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args == ["--version"]:
        from natsrpc._version import __version__

        print(f"protoc-gen-natsrpc {__version__}")
        return 0
    if args:
        print(_USAGE, file=sys.stderr)
        return 2
    sys.stdout.buffer.write(run(sys.stdin.buffer.read()).SerializeToString())
    sys.stdout.buffer.flush()
    return 0


def run(data: bytes) -> plugin_pb2.CodeGeneratorResponse:
    """Decode a serialized request and generate; problems come back as ``response.error``."""
    # Imported late, so that a broken or partial installation is reported to protoc as
    # one readable line instead of a traceback.
    try:
        from .plugin import generate
    except ImportError as error:
        # protoc shows a plugin's error text to the user; a traceback would be noise.
        if isinstance(error, ModuleNotFoundError):
            problem = f"the Python module {error.name or str(error)!r} is missing"
        else:
            problem = " ".join(str(error).split())
        return plugin_pb2.CodeGeneratorResponse(
            error=f"protoc-gen-natsrpc cannot run: {problem}; "
            'reinstall the plugin with its dependencies: pip install --force-reinstall "natsrpc"'
        )

    dump = os.environ.get("NATSRPC_DUMP")
    if dump:
        try:
            with open(dump, "wb") as out:
                out.write(data)
        except OSError as error:
            return plugin_pb2.CodeGeneratorResponse(
                error=f"NATSRPC_DUMP: cannot write the request to {dump}: {error}"
            )
    request = plugin_pb2.CodeGeneratorRequest()
    try:
        request.ParseFromString(data)
    except DecodeError as error:
        return plugin_pb2.CodeGeneratorResponse(
            error=f"stdin is not a CodeGeneratorRequest (is this being run by protoc?): {error}"
        )
    return generate(request)


if __name__ == "__main__":
    sys.exit(main())
