"""The connectrpc Python client (connect-py) for the gateway's tests, installed once per machine.

It goes into a virtual environment of its own in the cache directory
(``$XDG_CACHE_HOME/natsrpc-tests/connectrpc-python``), never into the project's: it
brings a second protobuf runtime (protobuf-py) and pins an opentelemetry-api of its
own. The versions are pinned here; an environment made for other pins is made afresh.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REQUIREMENTS = (
    "connectrpc==0.13.0",
    # Its code generator, and protobuf-py's, whose message classes the stubs use.
    "protoc-gen-connectrpc==0.13.0",
    "protoc-gen-py==0.7.0",
)
CONSTRAINTS = (
    # Everything the three above pull in, so that one install is the next one's too.
    "opentelemetry-api==1.45.2",
    "protobuf-py==0.7.0",
    "protobuf-py-ext==0.7.0",
    "protobuf-py-pure==0.7.0",
    "pyqwest==0.12.0",
    "typing-extensions==4.16.0",
)
PROTOS = Path(__file__).resolve().parent.parent / "protos"
TEST_PROTOS = ("natsrpc_test/echo.proto", "natsrpc_test/stream.proto")
STAMP = ".natsrpc-pins"


def cache_directory() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "natsrpc-tests" / "connectrpc-python"


def _bin(environment: Path) -> Path:
    return environment / ("Scripts" if os.name == "nt" else "bin")


def installed_environment() -> Path:
    """The virtual environment with the pinned packages; skips the test when they
    cannot be installed (no network) or this Python is older than connectrpc needs."""
    if sys.version_info < (3, 11):
        pytest.skip("connectrpc 0.13 needs Python 3.11 or newer")
    environment = cache_directory()
    pins = "\n".join((*REQUIREMENTS, *CONSTRAINTS, sys.version.split()[0])) + "\n"
    stamp = environment / STAMP
    if stamp.is_file() and stamp.read_text() == pins:
        return environment
    # Made afresh: a half-finished or differently pinned environment is no base to build on.
    shutil.rmtree(environment, ignore_errors=True)
    venv.create(environment, with_pip=True)
    constraints = environment / "constraints.txt"
    constraints.write_text("\n".join(CONSTRAINTS) + "\n")
    result = subprocess.run(
        [str(_bin(environment) / "python"), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", "-c", str(constraints), *REQUIREMENTS],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if result.returncode != 0:
        shutil.rmtree(environment, ignore_errors=True)
        pytest.skip(f"pip install of connectrpc failed: {result.stderr.strip()[-300:]}")
    # Written last, so an install that was interrupted is not taken for a finished one.
    stamp.write_text(pins)
    return environment


def project(directory: Path) -> Path:
    """A directory with the test protos generated into ``gen/`` by protoc-gen-py
    (messages) and protoc-gen-connectrpc (typed clients); returns the environment's
    Python, which runs scripts there."""
    environment = installed_environment()
    out = directory / "gen"
    out.mkdir(parents=True)
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTOS}",
         f"--plugin=protoc-gen-py={_bin(environment) / 'protoc-gen-py'}",
         f"--plugin=protoc-gen-connectrpc={_bin(environment) / 'protoc-gen-connectrpc'}",
         f"--py_out={out}", f"--connectrpc_out={out}", *TEST_PROTOS],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return _bin(environment) / "python"
