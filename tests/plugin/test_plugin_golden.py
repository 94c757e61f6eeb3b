"""The plugin's output, compared byte for byte with checked-in files.

The examples' own generated stubs are the goldens for greeter and route_guide
(``tasks.py check`` keeps them regenerated); tests/golden/ holds the rest. Run
with NATSRPC_UPDATE_GOLDEN=1 to rewrite them after an intended change.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from plugin_helpers import GOLDEN, OPTIONS_INCLUDE, PROTOS, ROOT, UPDATE_GOLDEN, ruff, run_protoc

EXAMPLES = ROOT / "examples"


@dataclass(frozen=True)
class Case:
    proto_root: Path
    protos: tuple[str, ...]
    """Everything protoc compiles; the first file is the one with a golden output."""
    golden: Path
    includes: tuple[Path, ...] = ()

    @property
    def output(self) -> str:
        return self.golden.name


CASES = {
    "greeter": Case(
        EXAMPLES / "greeter", ("greeter.proto",), EXAMPLES / "greeter" / "greeter_natsrpc.py"
    ),
    "route_guide": Case(
        EXAMPLES / "route_guide",
        ("route_guide.proto",),
        EXAMPLES / "route_guide" / "route_guide_natsrpc.py",
    ),
    "tricky": Case(
        PROTOS,
        ("tricky.proto", "tricky_deps/common.proto", "tricky_deps/v2/common.proto"),
        GOLDEN / "tricky_natsrpc.py",
    ),
    "options": Case(PROTOS, ("billing.proto",), GOLDEN / "billing_natsrpc.py", (OPTIONS_INCLUDE,)),
}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every case compiled, with protoc's _pb2 modules, into one project directory."""
    out = tmp_path_factory.mktemp("project")
    for case in CASES.values():
        result = run_protoc(case.proto_root, case.protos, out, includes=case.includes)
        assert result.returncode == 0, result.stderr
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_output_matches_golden(generated: Path, name: str) -> None:
    case = CASES[name]
    actual = (generated / case.output).read_text(encoding="utf-8")
    golden = case.golden
    if UPDATE_GOLDEN:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(actual, encoding="utf-8")
    assert golden.exists(), f"{golden} is missing; run with NATSRPC_UPDATE_GOLDEN=1"
    assert actual == golden.read_text(encoding="utf-8")


def test_documented_listings_are_the_greeter_and_shop_goldens() -> None:
    doc = (ROOT / "docs" / "generated-code.md").read_text(encoding="utf-8")
    listings = re.findall(r"```python(?: fragment)?\n(.*?)```", doc, re.DOTALL)
    assert listings == [
        CASES["greeter"].golden.read_text(encoding="utf-8"),
        (EXAMPLES / "shop" / "shop_natsrpc.py").read_text(encoding="utf-8"),
    ]


def _names_used_from_stubs(source: str) -> set[str]:
    return set(re.findall(r"\bnatsrpc\.stubs\.(\w+)", source))


def test_generated_code_names_only_natsrpc_stubs() -> None:
    """The goldens reach the runtime through ``natsrpc.stubs`` and its ``__all__`` alone."""
    import natsrpc.stubs

    goldens = [case.golden for case in CASES.values()]
    goldens += [GOLDEN / "shop_events_natsrpc.py", EXAMPLES / "shop" / "shop_natsrpc.py"]
    used: set[str] = set()
    for golden in goldens:
        source = golden.read_text(encoding="utf-8")
        # Outside string literals: a proto package may be called natsrpc too.
        other = set(re.findall(r"(?<![\w/.\"])natsrpc\.(?!stubs\b)\w+", source))
        assert other == set(), f"{golden.name} names {sorted(other)} outside natsrpc.stubs"
        imports = set(re.findall(r"^(?:import|from) (natsrpc\S*)", source, re.MULTILINE))
        assert imports == {"natsrpc.stubs"}, golden.name
        used |= _names_used_from_stubs(source)
    assert used <= set(natsrpc.stubs.__all__), sorted(used - set(natsrpc.stubs.__all__))
    assert {"Context", "MetadataLike", "UnaryCall", "Publisher", "EventHandlers"} <= used


@pytest.fixture(scope="module")
def golden_project(generated: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The golden files beside the _pb2 modules they import, as in a user's project."""
    project = tmp_path_factory.mktemp("golden_project")
    shutil.copytree(generated, project, dirs_exist_ok=True)
    for case in CASES.values():
        shutil.copy(case.golden, project / case.output)
    return project


def test_golden_is_ruff_formatted(golden_project: Path) -> None:
    outputs = [case.output for case in CASES.values()]
    result = ruff("format", "--check", "--diff", *outputs, cwd=golden_project)
    assert result.returncode == 0, result.stdout + result.stderr


def test_golden_passes_ruff_check(golden_project: Path) -> None:
    outputs = [case.output for case in CASES.values()]
    result = ruff("check", *outputs, cwd=golden_project)
    assert result.returncode == 0, result.stdout + result.stderr


def test_golden_passes_mypy_strict(golden_project: Path) -> None:
    """Checked against the real runtime, so a rename on either side shows up here."""
    pb2_modules = sorted(
        str(path.relative_to(golden_project).with_suffix("")).replace("/", ".")
        for path in golden_project.rglob("*_pb2.pyi")
    )
    config = golden_project / "mypy.ini"
    # The runtime is found in this checkout (mypy cannot see through editable installs);
    # it and protoc's own .pyi files are checked elsewhere, or not ours to hold to --strict.
    config.write_text(
        f"[mypy]\nstrict = True\nmypy_path = {ROOT}\n"
        f"[mypy-{','.join([*pb2_modules, 'natsrpc.options_pb2'])}]\nignore_errors = True\n"
        "[mypy-natsrpc,natsrpc.*,nats,nats.*]\nfollow_imports = silent\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(config),
            "--no-incremental",
            *(case.output for case in CASES.values()),
        ],
        cwd=golden_project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_golden_imports_at_runtime(golden_project: Path) -> None:
    """Executing a generated module builds its specs with the real runtime's classes."""
    code = "; ".join(f"import {case.output.removesuffix('.py')}" for case in CASES.values())
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=golden_project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
