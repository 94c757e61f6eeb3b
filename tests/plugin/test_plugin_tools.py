"""The plugin under every protoc driver: protoc itself, grpc_tools and buf.

All three must hand the plugin the same descriptors and so get byte-identical output.
protoc and buf are separate installs; their tests skip, saying how to install, when
the tool is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from plugin_helpers import OPTIONS_INCLUDE, PROTOS, ROOT, run_protoc

CORPUS_PROTOS = sorted(str(p.relative_to(PROTOS)) for p in (PROTOS / "corpus").rglob("*.proto"))
PROTOS_WITH_OPTIONS = [*CORPUS_PROTOS, "billing.proto"]
BUF_CONFIG = ROOT / "tests" / "buf"
PLUGIN_DIR = Path(sys.executable).parent
"""Where pip put the ``protoc-gen-natsrpc`` console script."""


def outputs(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): p.read_text() for p in sorted(out.rglob("*_natsrpc.py"))}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The output through ``python -m grpc_tools.protoc``."""
    out = tmp_path_factory.mktemp("grpc_tools")
    result = run_protoc(
        PROTOS, PROTOS_WITH_OPTIONS, out, python_out=False, includes=[OPTIONS_INCLUDE]
    )
    assert result.returncode == 0, result.stderr
    generated = outputs(out)
    assert len(generated) == 9
    return generated


def _protoc_major(version_output: str) -> int:
    """``libprotoc 3.21.12`` is release 21, ``libprotoc 27.1`` is release 27."""
    match = re.search(r"(\d+)\.(\d+)", version_output)
    assert match is not None, version_output
    major, minor = int(match.group(1)), int(match.group(2))
    return minor if major == 3 else major


def test_protoc_binary(tmp_path: Path, reference: dict[str, str]) -> None:
    protoc = shutil.which("protoc")
    if protoc is None:
        pytest.skip("no protoc on PATH; install it with `apt-get install -y protobuf-compiler`")
    version = subprocess.run([protoc, "--version"], capture_output=True, text=True, check=True)
    protos = PROTOS_WITH_OPTIONS
    if _protoc_major(version.stdout) < 27:
        # Editions are stable from protoc 27; older ones reject the file themselves.
        protos = [p for p in protos if not p.startswith("corpus/ed/")]
    out = tmp_path / "out"
    out.mkdir()
    result = subprocess.run(
        [
            protoc,
            f"-I{PROTOS}",
            f"-I{OPTIONS_INCLUDE}",
            f"--plugin=protoc-gen-natsrpc={PLUGIN_DIR / 'protoc-gen-natsrpc'}",
            f"--natsrpc_out={out}",
            *protos,
        ],
        cwd=PROTOS,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    expected = {k: v for k, v in reference.items() if not k.startswith("corpus/ed/")}
    if len(protos) == len(PROTOS_WITH_OPTIONS):
        expected = reference
    assert outputs(out) == expected


def _buf() -> str | None:
    return os.environ.get("NATSRPC_BUF") or shutil.which("buf")


def test_buf_generate(tmp_path: Path, reference: dict[str, str]) -> None:
    buf = _buf()
    if buf is None:
        pytest.skip(
            "no buf on PATH (or NATSRPC_BUF); install it with `npm install --global @bufbuild/buf`"
        )
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    for name in ("buf.yaml", "buf.gen.yaml"):
        shutil.copy(BUF_CONFIG / name, workspace / name)
    (workspace / "protos").mkdir()
    shutil.copytree(PROTOS / "corpus", workspace / "protos" / "corpus")
    shutil.copy(PROTOS / "billing.proto", workspace / "protos" / "billing.proto")
    (workspace / "vendor" / "natsrpc").mkdir(parents=True)
    shutil.copy(OPTIONS_INCLUDE / "natsrpc" / "options.proto", workspace / "vendor" / "natsrpc")
    result = subprocess.run(
        [buf, "generate"],
        cwd=workspace,
        env={**os.environ, "PATH": f"{PLUGIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert outputs(workspace / "gen") == reference
    # Nothing for the vendored options file: it has no services.
    assert not (workspace / "gen" / "natsrpc").exists()
