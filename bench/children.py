"""The processes one measurement starts: bench/serve.py, bench/load.py and ``natsrpc serve``."""

from __future__ import annotations

import contextlib
import json
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent


class ChildError(RuntimeError):
    pass


def cpu_seconds(process: psutil.Process, children: bool = False) -> float:
    """User + system CPU of ``process`` (and, with ``children``, its live child processes)."""
    processes = [process]
    if children:
        with contextlib.suppress(psutil.NoSuchProcess):
            processes += process.children(recursive=True)
    total = 0.0
    for each in processes:
        try:
            times = each.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


class _Process:
    """A child process whose output lines are read by a thread, so it can never block."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], **popen: Any) -> None:
        self.name = name
        # Closed in finish(); a file, not a pipe, so a chatty child cannot block.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            cwd=ROOT,
            text=True,
            bufsize=1,
            **popen,
        )
        self.ps = psutil.Process(self.process.pid)
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def _line(self, waiting_for: str, timeout: float) -> str:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise ChildError(f"{self.name}: no {waiting_for!r} within {timeout:g}s") from None
        if line is None:
            raise ChildError(f"{self.name} exited before {waiting_for!r}:\n{self.stderr_tail()}")
        return line

    def stderr_tail(self, lines: int = 15) -> str:
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace")
        return "\n".join(text.strip().splitlines()[-lines:])

    def _close(self) -> None:
        self._stderr.close()


class Child(_Process):
    """A bench/serve.py or bench/load.py process and its line protocol (bench/common.py)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]) -> None:
        super().__init__(name, [sys.executable, *args], env, stdin=subprocess.PIPE)

    def expect(self, event: str, timeout: float = 60.0) -> Any:
        """Wait for ``event`` and return its JSON data (None when it has none)."""
        line = self._line(event, timeout)
        name, _, data = line.partition(" ")
        if name != event:
            raise ChildError(f"{self.name}: expected {event!r}, got {line[:200]!r}")
        return json.loads(data) if data else None

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.ps)

    def stop(self) -> int:
        """Ask a server to stop (end of its input); its peak RSS in bytes, 0 if unknown."""
        try:
            if self.process.stdin is not None:
                self.process.stdin.close()
            return int(self.expect("rss", timeout=30))
        except (ChildError, OSError):
            return 0
        finally:
            self.finish()

    def finish(self) -> None:
        """Close stdin (the signal to exit) and wait; kill it if it will not go."""
        try:
            if self.process.stdin is not None and not self.process.stdin.closed:
                self.process.stdin.close()
            self.process.wait(timeout=15)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        self._close()


class ServeCommand(_Process):
    """``natsrpc serve MODULE:ATTR --workers N``, started and stopped the way an operator would."""

    def __init__(self, name: str, target: str, url: str, workers: int, env: dict[str, str]) -> None:
        args = [sys.executable, "-m", "natsrpc.cli", "serve", target, "--server", url]
        args += ["--workers", str(workers)]
        super().__init__(name, args, env)
        self.workers = workers

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until every worker has printed its ``serving`` line."""
        ready = 0
        while ready < self.workers:
            if ": serving " in self._line("serving", timeout):
                ready += 1

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.ps, children=True)

    def stop(self) -> int:
        """SIGTERM, as a process manager would; the largest worker RSS seen just before."""
        rss = 0
        try:
            for process in [self.ps, *self.ps.children(recursive=True)]:
                rss = max(rss, process.memory_info().rss)
        except psutil.NoSuchProcess:
            pass
        try:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            for process in self.ps.children(recursive=True):
                process.kill()
            self.process.kill()
            self.process.wait()
        self._close()
        return rss
