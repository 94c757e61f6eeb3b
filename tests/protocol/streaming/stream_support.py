"""What the streaming test modules share besides their fixtures (conftest.py)."""

from __future__ import annotations

from pathlib import Path

HEARTBEAT = 0.2
"""Short heartbeats so that liveness tests finish quickly."""
TESTS = Path(__file__).resolve().parents[2]
