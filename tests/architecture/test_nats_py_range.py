"""The nats-py range pyproject.toml allows is the one CI tests (docs/operations.md §8)."""

from __future__ import annotations

import re
from importlib import metadata

from packaging.requirements import Requirement
from packaging.version import Version
from test_layers import ROOT


def _nats_py() -> Requirement:
    # tomllib is Python 3.11+; the dependency is one quoted line.
    (found,) = re.findall(r'^\s*"(nats-py[^"]*)",', (ROOT / "pyproject.toml").read_text(), re.M)
    return Requirement(found)


def test_the_lower_bound_is_the_release_ci_tests() -> None:
    tested = re.search(r'NATS_PY_MIN = "([^"]+)"', (ROOT / "tasks.py").read_text())
    assert tested is not None
    lower = [s.version for s in _nats_py().specifier if s.operator == ">="]
    assert lower and Version(lower[0]) == Version(tested.group(1))
    assert _nats_py().specifier.contains(tested.group(1))


def test_the_range_has_an_upper_bound_and_holds_the_nats_py_under_test() -> None:
    requirement = _nats_py()
    assert any(s.operator == "<" for s in requirement.specifier)
    assert requirement.specifier.contains(metadata.version("nats-py"))
