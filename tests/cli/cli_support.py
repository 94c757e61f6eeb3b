"""What the `natsrpc` command's tests share besides fixtures: running the CLI and servers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from helpers import eventually_sync

TESTS = Path(__file__).resolve().parent.parent
PROTOS = TESTS / "protos"
COMMAND = [sys.executable, "-m", "natsrpc.cli"]
READY = re.compile(r"(?:worker (\d+) )?\(?pid (\d+)\)?: serving")


def run_cli(
    env: dict[str, str], *args: str, input: str | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args], env=env, input=input, capture_output=True, text=True, timeout=timeout
    )


@dataclass
class Served:
    process: subprocess.Popen[str]
    lines: list[str]
    partial: str = ""
    """What a non-blocking read returned of a line whose end had not been written yet."""

    def worker_pids(self) -> dict[int, int]:
        pids = {}
        for line in self.lines:
            match = READY.search(line)
            if match:
                pids[int(match.group(1) or 0)] = int(match.group(2))
        return pids

    def wait_for_line(self, pattern: str, timeout: float = 20) -> str:
        """Read stdout+stderr until a line matches; fail after ``timeout`` seconds."""
        assert self.process.stdout is not None
        os.set_blocking(self.process.stdout.fileno(), False)
        found: list[str] = []

        def matched() -> bool:
            assert self.process.stdout is not None
            chunk = self.process.stdout.readline()
            if chunk and not chunk.endswith("\n"):
                # Non-blocking, readline returns what has arrived; the rest follows.
                self.partial += chunk
            elif chunk:
                line, self.partial = self.partial + chunk, ""
                self.lines.append(line.rstrip("\n"))
                if re.search(pattern, line):
                    found.append(line)
                    return True
            else:
                assert self.process.poll() is None, f"exited; got {self.lines}"
            return False

        try:
            eventually_sync(matched, within=timeout)
        except AssertionError as error:
            raise AssertionError(f"no line matching {pattern!r}; got {self.lines}") from error
        return found[0]

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        self._read_available()
        return code

    def _read_available(self) -> None:
        # Never blocks: orphaned workers may still hold the pipe open.
        assert self.process.stdout is not None
        os.set_blocking(self.process.stdout.fileno(), False)
        while line := self.process.stdout.readline():
            self.lines.append(line.rstrip("\n"))


def start_serving(env: dict[str, str], *args: str, workers: int = 1) -> Served:
    process = subprocess.Popen(
        [*COMMAND, "serve", *args, "--workers", str(workers), "--app-dir", str(TESTS)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    served = Served(process, [])
    try:
        for _ in range(workers):
            served.wait_for_line(r": serving ")
    except BaseException:
        process.kill()
        process.wait()
        raise
    return served
