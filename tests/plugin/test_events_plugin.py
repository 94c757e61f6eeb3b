"""protoc-gen-natsrpc on services marked (natsrpc.events): the golden output, its typing and
its specs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from plugin_helpers import (
    GOLDEN,
    OPTIONS_INCLUDE,
    PROTOS,
    ROOT,
    UPDATE_GOLDEN,
    ruff,
    run_protoc,
)

from natsrpc import options_pb2

EVENTS_PROTOS = PROTOS / "events"
OUTPUT = "shop_events_natsrpc.py"
GOLDEN_FILE = GOLDEN / OUTPUT


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """shop_events.proto compiled with protoc's _pb2 modules, as in a user's project."""
    out = tmp_path_factory.mktemp("events_project")
    result = run_protoc(EVENTS_PROTOS, ["shop_events.proto"], out, includes=[OPTIONS_INCLUDE])
    assert result.returncode == 0, result.stderr
    (out / "mypy.ini").write_text(
        f"[mypy]\nstrict = True\nmypy_path = {ROOT}\n"
        "[mypy-shop_events_pb2,natsrpc.options_pb2]\nignore_errors = True\n"
        # The runtime is checked on its own; here only the generated code is held to --strict.
        "[mypy-natsrpc,natsrpc.*,nats,nats.*]\nfollow_imports = silent\nignore_errors = True\n"
    )
    return out


def mypy(project: Path, *files: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--no-incremental", *files],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )


# --- the generated module -----------------------------------------------------------------


def test_output_matches_golden(project: Path) -> None:
    actual = (project / OUTPUT).read_text(encoding="utf-8")
    if UPDATE_GOLDEN:
        GOLDEN_FILE.write_text(actual, encoding="utf-8")
    assert GOLDEN_FILE.exists(), f"{GOLDEN_FILE} is missing; run with NATSRPC_UPDATE_GOLDEN=1"
    assert actual == GOLDEN_FILE.read_text(encoding="utf-8")


def test_output_is_ruff_formatted_and_clean(project: Path) -> None:
    formatted = ruff("format", "--check", "--diff", OUTPUT, cwd=project)
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr
    checked = ruff("check", OUTPUT, cwd=project)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_output_passes_mypy_strict(project: Path) -> None:
    result = mypy(project, OUTPUT)
    assert result.returncode == 0, result.stdout + result.stderr


USAGE = """\
from __future__ import annotations

from nats.aio.client import Client as NATS

from natsrpc.events import EventContext, PublishAck

import shop_events_natsrpc as gen
import shop_events_pb2 as pb


class Points(gen.OrderEvents):
    async def on_placed(self, event: pb.OrderPlaced, context: EventContext) -> None:
        print(event.order_id, context.subject)


async def publish(nc: NATS) -> None:
    orders = gen.OrderEventsPublisher(nc)
    ack: PublishAck = await orders.placed(pb.OrderPlaced(order_id="1"))
    print(ack.sequence)
    await orders.placed(pb.OrderShipped())  # E: arg-type
    hints = gen.StorefrontEventsPublisher(nc)
    nothing: PublishAck = await hints.viewed(pb.ProductViewed())  # E: func-returns-value
    await orders.placed(pb.OrderPlaced(), timeout="soon")  # E: arg-type
"""


def test_publishers_and_handlers_are_typed(project: Path) -> None:
    """Correct use type-checks; a wrong event, a core-NATS ack or a bad keyword does not."""
    (project / "usage.py").write_text(USAGE)
    result = mypy(project, "usage.py")
    expected = {number for number, line in enumerate(USAGE.splitlines(), start=1) if "# E:" in line}
    reported = {
        int(line.split(":")[1])
        for line in result.stdout.splitlines()
        if line.startswith("usage.py:") and ": error:" in line
    }
    assert reported == expected, result.stdout


def test_generated_specs_describe_the_declarations(project: Path) -> None:
    """Importing the module builds the specs the runtime reads, with every declared setting."""
    code = """
import shop_events_natsrpc as gen
from natsrpc.events.spec import Retention, Storage
spec = gen.ORDER_EVENTS_SERVICE
assert spec.stream.name == "SHOP_ORDERS", spec.stream
assert spec.stream.retention is Retention.INTEREST and spec.stream.storage is Storage.FILE
assert (spec.stream.replicas, spec.stream.max_age) == (1, 604800.0)
assert spec.stream.duplicate_window == 120.0
assert [e.attribute for e in spec.events] == ["placed", "shipped", "cancelled"]
placed, shipped, cancelled = spec.events
assert placed.subject_fields == ("order_id",) and placed.id_field == "event_id"
assert shipped.filter_subject == "shop.orders.*.shipped.*"
assert cancelled.subject == "shop.v1.OrderEvents.Cancelled" and cancelled.id_field is None
assert gen.STOREFRONT_EVENTS_SERVICE.stream is None
assert gen.OrderEvents._natsrpc_service is spec is gen.OrderEventsPublisher._natsrpc_service
assert gen.OrderEvents.on_placed.__doc__ == "An order was placed and paid for."
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=project, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and result.stdout == "ok\n", result.stderr


# --- the options themselves ---------------------------------------------------------------


def test_events_options_are_their_own_extensions() -> None:
    assert options_pb2.events.number == options_pb2.event.number == 51821
    assert options_pb2.events.containing_type.full_name == "google.protobuf.ServiceOptions"
    assert options_pb2.event.containing_type.full_name == "google.protobuf.MethodOptions"
    assert "51821" in (ROOT / "docs" / "options.md").read_text()
