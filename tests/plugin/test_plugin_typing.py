"""Generated code used from typed code: mypy --strict accepts correct use and rejects misuse.

tests/typing/ok_usage.py must type-check cleanly; every line of tests/typing/bad_usage.py
that ends in ``# E: <code>`` must be reported by mypy with that error code, and no
other line may be.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from plugin_helpers import ROOT, run_protoc

TYPING = ROOT / "tests" / "typing"
EXAMPLES = ROOT / "examples"
_EXPECTED = re.compile(r"#\s*E:\s*([a-z-]+)\s*$")
_REPORTED = re.compile(
    r"^(?P<file>[^:]+):(?P<line>\d+): error: (?P<message>.*)  \[(?P<code>[a-z-]+)\]$"
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example stubs, generated now, beside the usage files."""
    out = tmp_path_factory.mktemp("typing")
    for name in ("greeter", "route_guide"):
        result = run_protoc(EXAMPLES / name, [f"{name}.proto"], out)
        assert result.returncode == 0, result.stderr
    for usage in TYPING.glob("*.py"):
        shutil.copy(usage, out / usage.name)
    (out / "mypy.ini").write_text(
        f"[mypy]\nstrict = True\nmypy_path = {ROOT}\n"
        "[mypy-greeter_pb2,route_guide_pb2,natsrpc.options_pb2]\nignore_errors = True\n"
        "[mypy-natsrpc,natsrpc.*,nats,nats.*]\nfollow_imports = silent\n"
    )
    return out


def mypy(project: Path, *files: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--no-incremental", *files],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("usage", ["ok_usage.py", "sync_ok_usage.py"])
def test_correct_use_type_checks(project: Path, usage: str) -> None:
    result = mypy(project, usage, "greeter_natsrpc.py", "route_guide_natsrpc.py")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("usage", ["bad_usage.py", "sync_bad_usage.py"])
def test_misuse_is_rejected_where_marked(project: Path, usage: str) -> None:
    source = (project / usage).read_text().splitlines()
    expected = {
        (number, match.group(1))
        for number, line in enumerate(source, start=1)
        if (match := _EXPECTED.search(line))
    }
    assert len(expected) >= 10
    result = mypy(project, usage)
    assert result.returncode == 1, result.stdout + result.stderr
    reported = set()
    for line in result.stdout.splitlines():
        match = _REPORTED.match(line)
        if match:
            assert match.group("file") == usage, line
            reported.add((int(match.group("line")), match.group("code")))
    assert reported == expected, result.stdout
