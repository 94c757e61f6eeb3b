"""Running protoc-gen-natsrpc the way protoc does, for the tests/plugin/test_plugin_*.py modules."""

from __future__ import annotations

import functools
import os
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2

import natsrpc
from protoc_gen_natsrpc.plugin import generate

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
PROTOS = ROOT / "tests" / "protos"
OPTIONS_INCLUDE = Path(natsrpc.__file__).resolve().parent.parent
"""The include path that makes ``import "natsrpc/options.proto";`` work, as docs/options.md
tells users to compute it."""
UPDATE_GOLDEN = os.environ.get("NATSRPC_UPDATE_GOLDEN", "") not in ("", "0")

# What pyproject.toml selects; ruff runs isolated (see ruff()) so it is repeated here.
RUFF_CONFIG = (
    "--isolated",
    "--config",
    "line-length=100",
    "--config",
    'target-version="py310"',
    "--config",
    'lint.select=["E", "F", "W", "I", "B", "UP", "SIM", "RUF"]',
)


# Removed at interpreter exit, when the TemporaryDirectory objects are finalized.
_keep_alive: list[tempfile.TemporaryDirectory[str]] = []


@functools.cache
def launcher() -> Path:
    """An executable protoc can run as the plugin: this interpreter, this checkout."""
    directory = tempfile.TemporaryDirectory(prefix="natsrpc-plugin-")
    _keep_alive.append(directory)
    path = Path(directory.name) / "protoc-gen-natsrpc"
    path.write_text(
        "#!/bin/sh\n"
        f'PYTHONPATH="{ROOT}${{PYTHONPATH:+:$PYTHONPATH}}" '
        f'exec "{sys.executable}" -m protoc_gen_natsrpc "$@"\n'
    )
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def run_protoc(
    proto_root: Path,
    protos: Iterable[str],
    out: Path,
    *,
    parameter: str = "",
    python_out: bool = True,
    env: dict[str, str] | None = None,
    includes: Sequence[Path] = (),
) -> subprocess.CompletedProcess[str]:
    """``python -m grpc_tools.protoc ... --natsrpc_out=out``; does not raise on failure."""
    out.mkdir(parents=True, exist_ok=True)
    target = f"{parameter}:{out}" if parameter else str(out)
    command = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{proto_root}",
        *(f"-I{include}" for include in includes),
        f"--plugin=protoc-gen-natsrpc={launcher()}",
        f"--natsrpc_out={target}",
    ]
    if python_out:
        command += [f"--python_out={out}", f"--pyi_out={out}"]
    command += list(protos)
    return subprocess.run(
        command,
        cwd=proto_root,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )


def build_request(
    proto_root: Path,
    protos: Sequence[str],
    *,
    parameter: str = "",
    includes: Sequence[Path] = (),
) -> plugin_pb2.CodeGeneratorRequest:
    """The request protoc would send for ``protos``, built from a descriptor set."""
    descriptor_set = proto_root / ".request.pb"
    try:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "grpc_tools.protoc",
                f"-I{proto_root}",
                *(f"-I{include}" for include in includes),
                "--include_imports",
                "--include_source_info",
                f"--descriptor_set_out={descriptor_set}",
                *protos,
            ],
            cwd=proto_root,
            check=True,
            capture_output=True,
        )
        files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    finally:
        descriptor_set.unlink(missing_ok=True)
    request = plugin_pb2.CodeGeneratorRequest(parameter=parameter)
    request.file_to_generate.extend(protos)
    request.proto_file.extend(files.file)
    return request


def generate_from(
    proto_root: Path,
    protos: Sequence[str],
    *,
    parameter: str = "",
    includes: Sequence[Path] = (),
) -> plugin_pb2.CodeGeneratorResponse:
    """Run the plugin in-process on real protoc descriptors."""
    return generate(build_request(proto_root, protos, parameter=parameter, includes=includes))


def write_protos(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def ruff(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ruff as in a user's project rooted at ``cwd``.

    Isolated from this repository's configuration on purpose: here ``natsrpc`` is a
    first-party package, while in a user's project it is third-party, which changes
    how isort orders the generated imports.
    """
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, *RUFF_CONFIG, "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def files_by_name(response: plugin_pb2.CodeGeneratorResponse) -> dict[str, str]:
    return {file.name: file.content for file in response.file}
