"""The plugin as a process: what protoc and a user at a shell see."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from google.protobuf.compiler import plugin_pb2
from plugin_helpers import ROOT, files_by_name, run_protoc, write_protos

from protoc_gen_natsrpc import __version__


def plugin(
    *args: str, stdin: bytes = b"", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "protoc_gen_natsrpc", *args],
        input=stdin,
        capture_output=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def test_version() -> None:
    result = plugin("--version")
    assert result.returncode == 0
    assert result.stdout.decode() == f"protoc-gen-natsrpc {__version__}\n"


def test_unknown_argument_prints_usage() -> None:
    result = plugin("--help-me")
    assert result.returncode == 2
    assert b"usage" in result.stderr


def test_garbage_on_stdin_is_an_error_response() -> None:
    result = plugin(stdin=b"\xff\xff\xff not a request")
    assert result.returncode == 0
    response = plugin_pb2.CodeGeneratorResponse.FromString(result.stdout)
    assert "CodeGeneratorRequest" in response.error


def test_stdin_request_stdout_response() -> None:
    request = plugin_pb2.CodeGeneratorRequest(parameter="imports=relative")
    result = plugin(stdin=request.SerializeToString())
    assert result.returncode == 0, result.stderr
    response = plugin_pb2.CodeGeneratorResponse.FromString(result.stdout)
    assert not response.error
    assert response.supported_features


def test_dump_writes_a_parseable_request(tmp_path: Path) -> None:
    write_protos(
        tmp_path / "protos",
        {"d.proto": 'syntax = "proto3";\nmessage M {}\nservice D { rpc X(M) returns (M); }\n'},
    )
    dump = tmp_path / "request.bin"
    result = run_protoc(
        tmp_path / "protos",
        ["d.proto"],
        tmp_path / "out",
        parameter="imports=relative",
        env={"NATSRPC_DUMP": str(dump)},
    )
    assert result.returncode == 0, result.stderr
    request = plugin_pb2.CodeGeneratorRequest.FromString(dump.read_bytes())
    assert list(request.file_to_generate) == ["d.proto"]
    assert request.parameter == "imports=relative"

    # The dump replays to the same output without protoc, which is what it is for.
    replayed = plugin(stdin=dump.read_bytes())
    response = plugin_pb2.CodeGeneratorResponse.FromString(replayed.stdout)
    assert files_by_name(response)["d_natsrpc.py"] == (tmp_path / "out/d_natsrpc.py").read_text()


def test_unwritable_dump_is_reported(tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "request.bin"
    result = plugin(stdin=b"", env={"NATSRPC_DUMP": str(target)})
    response = plugin_pb2.CodeGeneratorResponse.FromString(result.stdout)
    assert "NATSRPC_DUMP" in response.error
    assert str(target) in response.error


def test_missing_dependency_is_a_one_line_protoc_error(tmp_path: Path) -> None:
    # A plugin whose environment lacks Jinja2, run by a real protoc.
    launcher = tmp_path / "protoc-gen-natsrpc"
    launcher.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "sys.modules['jinja2'] = None  # import jinja2 now raises ImportError\n"
        "from protoc_gen_natsrpc.__main__ import main\n"
        "sys.exit(main())\n"
    )
    launcher.chmod(0o755)
    write_protos(tmp_path / "protos", {"m.proto": 'syntax = "proto3";\nmessage M {}\n'})
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{tmp_path / 'protos'}",
            f"--plugin=protoc-gen-natsrpc={launcher}",
            f"--natsrpc_out={tmp_path}",
            "m.proto",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "--natsrpc_out: protoc-gen-natsrpc cannot run: the Python module 'jinja2' is missing; "
        'reinstall the plugin with its dependencies: pip install --force-reinstall "natsrpc"'
    ]
