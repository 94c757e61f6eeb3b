"""Generate the benchmark's stubs from bench/bench.proto into a directory.

protoc (from grpc_tools) writes ``bench_pb2.py`` and ``bench_pb2_grpc.py``;
``protoc-gen-natsrpc`` writes ``bench_natsrpc.py``, exactly as a user's build would.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PROTO = Path(__file__).resolve().parent / "bench.proto"
EVENTS_PROTO = PROTO.parent / "bench_events.proto"
ROOT = PROTO.parent.parent
"""Holds natsrpc/options.proto, which the events proto imports."""


@dataclass(frozen=True)
class Stubs:
    directory: Path


def generate(out: Path) -> Stubs:
    out.mkdir(parents=True, exist_ok=True)
    plugin = Path(sys.executable).parent / "protoc-gen-natsrpc"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{PROTO.parent}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            f"--plugin=protoc-gen-natsrpc={plugin}",
            f"--natsrpc_out={out}",
            PROTO.name,
        ],
        cwd=PROTO.parent,
        check=True,
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{PROTO.parent}",
            f"-I{ROOT}",
            f"-I{_protobuf_include()}",
            f"--python_out={out}",
            f"--plugin=protoc-gen-natsrpc={plugin}",
            f"--natsrpc_out={out}",
            EVENTS_PROTO.name,
        ],
        cwd=PROTO.parent,
        check=True,
    )
    return Stubs(out)


def _protobuf_include() -> Path:
    import grpc_tools

    return Path(grpc_tools.__file__).parent / "_proto"
