"""`natsrpc call` at its edges: oversized stream messages, exit statuses, body errors, Ctrl-C."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_support import run_cli, start_serving

MIB = 1 << 20


@pytest.fixture
def services(serve: list[Any], cli_env: dict[str, str]) -> None:
    serve.append(start_serving(cli_env, "stream_service:StreamerService"))
    serve.append(start_serving(cli_env, "echo_service:EchoService"))


def _one_line(stderr: str) -> str:
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "Traceback" not in stderr
    return stderr.strip()


@pytest.mark.usefixtures("services")
@pytest.mark.parametrize("method", ["Collect", "Chat"])
@pytest.mark.parametrize("big_at", [0, 1])
@pytest.mark.parametrize("source", ["file", "stdin"])
def test_oversized_stream_message_exits_72(
    cli_env: dict[str, str], tmp_path: Path, method: str, big_at: int, source: str
) -> None:
    lines = [f'{{"index": {i}}}' for i in range(big_at)] + ['{"text": "' + "a" * (2 * MIB) + '"}']
    body = "\n".join(lines) + "\n"
    if source == "file":
        request = tmp_path / "requests.ndjson"
        request.write_text(body)
        result = run_cli(cli_env, "call", f"natsrpc_test.Streamer/{method}", "-d", f"@{request}")
    else:
        result = run_cli(cli_env, "call", f"natsrpc_test.Streamer/{method}", input=body)
    assert result.returncode == 64 + 8, result.stderr
    assert _one_line(result.stderr).startswith("RESOURCE_EXHAUSTED: request message of ")
