"""``natsrpc.stubs.require_runtime``: a generated module refuses to import on a runtime it does
not fit, and says which versions are involved."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from plugin_helpers import ROOT, files_by_name, generate_from, run_protoc, write_protos

import natsrpc
from natsrpc import compat
from protoc_gen_natsrpc import __version__ as plugin_version

PROTO = 'syntax = "proto3";\npackage compat;\nmessage M {}\nservice S { rpc X(M) returns (M); }\n'


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("compat")
    write_protos(root / "protos", {"c.proto": PROTO})
    result = run_protoc(root / "protos", ["c.proto"], root / "out")
    assert result.returncode == 0, result.stderr
    return root / "out"


def import_generated(project: Path, module: str, runtime: str | None = None) -> str:
    """Import ``module`` in a fresh interpreter, optionally pretending natsrpc is ``runtime``."""
    patch = f"import natsrpc.compat; natsrpc.compat.__version__ = {runtime!r}; " if runtime else ""
    result = subprocess.run(
        [sys.executable, "-c", f"{patch}import {module}"],
        cwd=project,
        env={"PYTHONPATH": f"{project}:{ROOT}", "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stderr if result.returncode else ""


def test_generated_module_checks_the_runtime(project: Path) -> None:
    code = (project / "c_natsrpc.py").read_text()
    assert f'\nnatsrpc.stubs.require_runtime("{plugin_version}")\n' in code
    assert plugin_version == natsrpc.__version__
    assert import_generated(project, "c_natsrpc") == ""


def _incompatible_runtimes() -> list[str]:
    """Older than the generator, a later minor (incompatible for 0.x), a later major."""
    major, minor, _ = (int(part) for part in plugin_version.split(".")[:3])
    older = f"{major}.{minor - 1}.9" if minor else f"{major - 1}.9.9"
    later_minor = f"{major}.{minor + 1}.0"
    return [older, later_minor, f"{major + 1}.1.0"] if major == 0 else [older, f"{major + 1}.0.0"]


@pytest.mark.parametrize("runtime", _incompatible_runtimes())
def test_older_or_incompatible_runtime_fails_naming_both_versions(
    project: Path, runtime: str
) -> None:
    error = import_generated(project, "c_natsrpc", runtime)
    assert "ImportError" in error
    assert f"protoc-gen-natsrpc {plugin_version}" in error
    assert f"natsrpc {runtime} is installed" in error
    assert "regenerate the stubs or install the matching natsrpc" in error


def test_newer_patch_runtime_is_accepted(project: Path) -> None:
    major, minor, patch = (int(part) for part in plugin_version.split("."))
    assert import_generated(project, "c_natsrpc", f"{major}.{minor}.{patch + 5}") == ""


def test_code_from_a_newer_generator_fails_on_this_runtime(
    tmp_path: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("protoc_gen_natsrpc.render.__version__", "0.9.0")
    write_protos(tmp_path, {"c.proto": PROTO})
    code = files_by_name(generate_from(tmp_path, ["c.proto"]))["c_natsrpc.py"]
    assert '\nnatsrpc.stubs.require_runtime("0.9.0")\n' in code
    (project / "newer_natsrpc.py").write_text(code)
    error = import_generated(project, "newer_natsrpc")
    assert "protoc-gen-natsrpc 0.9.0" in error
    assert f"natsrpc {natsrpc.__version__} is installed" in error


def test_major_series(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compat, "__version__", "2.3.0")
    natsrpc.stubs.require_runtime("2.0.0")
    natsrpc.stubs.require_runtime("2.3.0")
    with pytest.raises(ImportError, match=r"protoc-gen-natsrpc 2\.4\.0 .* natsrpc 2\.3\.0"):
        natsrpc.stubs.require_runtime("2.4.0")
    with pytest.raises(ImportError, match="same major version"):
        natsrpc.stubs.require_runtime("1.0.0")
