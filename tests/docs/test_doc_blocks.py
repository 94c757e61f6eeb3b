"""Every ```python block of README.md and docs/*.md runs, or is fenced ```python fragment.

The runnable blocks of one document run in order, each as a script in a
temporary directory that holds the greeter's generated stubs
(examples/greeter), against a real nats-server with JetStream: ``NATS_URL``
points at it, and the documents' ``nats://127.0.0.1:4222`` (or localhost) is
replaced by its URL. A block whose first line is ``# NAME.py`` is saved under
that name, so later blocks can import it; a ``test_*.py`` block is run with
pytest, with no pytest configuration in the directory. A block either ends
with status 0, or it serves: it is left running once a new instance answers
``$SRV.PING``, and must stop with status 0 on SIGINT when the document is done.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import natsrpc
from natsrpc.testing import NatsServer

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
STUBS = ROOT / "examples" / "greeter"
FENCE = re.compile(r"^```python(?P<info>[^\n]*)\n(?P<body>.*?)^```$", re.M | re.S)
NAMED = re.compile(r"^# (?P<name>[\w.]+\.py)\n")
DEFAULT_URLS = ("nats://127.0.0.1:4222", "nats://localhost:4222")
BLOCK_TIMEOUT = 60.0


@dataclass(frozen=True)
class Block:
    document: Path
    line: int
    info: str
    body: str

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line}"

    @property
    def file_name(self) -> str:
        named = NAMED.match(self.body)
        return named.group("name") if named else f"block_{self.line}.py"


def python_blocks(document: Path) -> list[Block]:
    text = document.read_text()
    return [
        Block(
            document, text.count("\n", 0, m.start()) + 1, m.group("info").strip(), m.group("body")
        )
        for m in FENCE.finditer(text)
    ]


def runnable(document: Path) -> list[Block]:
    return [block for block in python_blocks(document) if not block.info]


def test_every_python_block_is_runnable_or_a_fragment() -> None:
    unknown = [
        f"{block.where}: ```python {block.info}"
        for document in DOCUMENTS
        for block in python_blocks(document)
        if block.info not in ("", "fragment")
    ]
    assert unknown == [], "open a block with ```python (it runs) or ```python fragment"


async def instances(nc: object) -> int:
    return len(await natsrpc.discovery.ping(nc, timeout=0.5, quiet=0.1))  # type: ignore[arg-type]


async def run_block(
    block: Block,
    directory: Path,
    env: dict[str, str],
    nc: object,
    serving: list[subprocess.Popen[str]],
) -> None:
    command = [sys.executable, block.file_name]
    if block.file_name.startswith("test_"):
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", block.file_name]
    before = await instances(nc)
    process = subprocess.Popen(
        command, cwd=directory, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = asyncio.get_running_loop().time() + BLOCK_TIMEOUT
    while process.poll() is None:
        if await instances(nc) > before:
            serving.append(process)
            return
        if asyncio.get_running_loop().time() > deadline:
            process.kill()
            out, err = process.communicate()
            pytest.fail(f"{block.where} neither ended nor served in {BLOCK_TIMEOUT:g}s\n{out}{err}")
    out, err = process.communicate()
    assert process.returncode == 0, f"{block.where} failed:\n{out}{err}"
    assert "Traceback" not in err, f"{block.where}:\n{err}"


@pytest.mark.parametrize(
    "document",
    [d for d in DOCUMENTS if runnable(d)],
    ids=lambda d: str(d.relative_to(ROOT)),
)
async def test_runnable_blocks_run(document: Path, tmp_path: Path) -> None:
    for stub in ("greeter_pb2.py", "greeter_pb2.pyi", "greeter_natsrpc.py"):
        shutil.copy(STUBS / stub, tmp_path / stub)
    serving: list[subprocess.Popen[str]] = []
    with NatsServer(args=("-js", "-sd", str(tmp_path / "jetstream"))) as server:
        env = {**os.environ, "NATS_URL": server.url}
        env.pop("PYTHONPATH", None)
        nc = await natsrpc.connect(server.url)
        try:
            for block in runnable(document):
                body = block.body
                for url in DEFAULT_URLS:
                    body = body.replace(url, server.url)
                (tmp_path / block.file_name).write_text(body)
                await run_block(block, tmp_path, env, nc, serving)
        finally:
            await nc.close()
            for process in serving:
                process.send_signal(signal.SIGINT)
            for process in serving:
                try:
                    _, err = process.communicate(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    raise
                assert process.returncode == 0, err
                assert "Traceback" not in err, err
