"""Creating the declared streams and consumers, and refusing to silently replace others.

A compatible difference (a new subject, a longer max age, a changed ack wait)
is applied as an update; an incompatible one (another retention or storage, a
consumer with another delivery or ack policy) raises ``ProvisioningError`` and
changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext, api
from nats.js import errors as js_errors

from natsrpc.events.errors import ProvisioningError
from natsrpc.events.spec import EventServiceSpec, StreamSpec
from natsrpc.events.subjects import stream_subjects

logger = logging.getLogger("natsrpc.events")

DEAD_LETTER_SUFFIX = "_DLQ"
# Consumer settings nats-server cannot change on an existing consumer.
_FIXED_CONSUMER_FIELDS = ("ack_policy", "deliver_policy", "opt_start_seq", "replay_policy")


def dead_letter_stream(stream: str) -> str:
    """The name of the stream that keeps ``stream``'s dead letters."""
    return stream + DEAD_LETTER_SUFFIX


def dead_letter_subject(stream: str, consumer: str) -> str:
    """Where ``consumer``'s dead letters from ``stream`` are stored."""
    return f"$DLQ.{stream}.{consumer}"


def _jetstream(js_or_nc: JetStreamContext | NATS) -> JetStreamContext:
    return js_or_nc if isinstance(js_or_nc, JetStreamContext) else js_or_nc.jetstream()


def _spec_of(item: EventServiceSpec | type[Any]) -> EventServiceSpec:
    spec = item if isinstance(item, EventServiceSpec) else getattr(item, "_natsrpc_service", None)
    if not isinstance(spec, EventServiceSpec):
        raise TypeError(f"{item!r} is neither an event set spec nor a generated event class")
    return spec


async def ensure_streams(
    js_or_nc: JetStreamContext | NATS,
    *specs: EventServiceSpec | type[Any],
    subject_prefix: str = "",
) -> None:
    """Create or update the stream (and its dead-letter stream) of each JetStream event set.

    ``specs`` are event set specs or generated event classes (publisher or
    handlers). Event sets without a stream travel over core NATS and need none.
    """
    js = _jetstream(js_or_nc)
    for item in specs:
        spec = _spec_of(item)
        if spec.stream is None:
            continue
        await ensure_stream(js, spec.stream, stream_subjects(spec, subject_prefix))
        await ensure_stream(
            js,
            StreamSpec(
                name=dead_letter_stream(spec.stream.name),
                storage=spec.stream.storage,
                replicas=spec.stream.replicas,
            ),
            [dead_letter_subject(spec.stream.name, "*")],
        )


async def ensure_stream(js: JetStreamContext, stream: StreamSpec, subjects: Sequence[str]) -> None:
    """Create ``stream`` capturing ``subjects``, or bring an existing one in line with it."""
    wanted = _stream_config(stream, subjects)
    try:
        info = await js.stream_info(stream.name)
    except js_errors.NotFoundError:
        info = None
    if info is None:
        try:
            await js.add_stream(wanted)
        except js_errors.APIError as error:
            raise ProvisioningError(f"cannot create stream {stream.name}: {error}") from None
        return
    existing = info.config
    problems = []
    if _value(existing.retention) != stream.retention.value:
        problems.append(
            f"retention is {_value(existing.retention)}, declared {stream.retention.value}"
        )
    if _value(existing.storage) != stream.storage.value:
        problems.append(f"storage is {_value(existing.storage)}, declared {stream.storage.value}")
    if problems:
        raise ProvisioningError(
            f"stream {stream.name} exists with other settings: {'; '.join(problems)}; "
            "natsrpc does not replace an existing stream"
        )
    present = list(existing.subjects or ())
    update: dict[str, Any] = {}
    missing = [s for s in subjects if s not in present]
    if missing:
        update["subjects"] = present + missing
    for name, value in (
        ("num_replicas", stream.replicas),
        ("max_age", stream.max_age),
        ("duplicate_window", stream.duplicate_window),
    ):
        if value is not None and getattr(existing, name) != value:
            update[name] = value
    if not update:
        return
    logger.info("updating stream %s: %s", stream.name, update)
    try:
        await js.update_stream(existing.evolve(**update))
    except js_errors.APIError as error:
        raise ProvisioningError(f"cannot update stream {stream.name} ({update}): {error}") from None


def _stream_config(stream: StreamSpec, subjects: Sequence[str]) -> api.StreamConfig:
    config = api.StreamConfig(
        name=stream.name,
        subjects=list(subjects),
        retention=api.RetentionPolicy(stream.retention.value),
        storage=api.StorageType(stream.storage.value),
        num_replicas=stream.replicas,
        max_age=stream.max_age,
    )
    if stream.duplicate_window is not None:
        config.duplicate_window = stream.duplicate_window
    return config


def _value(setting: Any) -> Any:
    return setting.value if hasattr(setting, "value") else setting


async def ensure_consumer(
    js: JetStreamContext, stream: str, wanted: api.ConsumerConfig
) -> api.ConsumerInfo:
    """Create the durable consumer ``wanted``, or update an existing one compatibly."""
    name = wanted.durable_name
    assert name is not None
    try:
        info: api.ConsumerInfo | None = await js.consumer_info(stream, name)
    except js_errors.NotFoundError:
        info = None
    if info is not None:
        existing = info.config
        problems = [
            f"{field} is {_value(getattr(existing, field))}, declared "
            f"{_value(getattr(wanted, field))}"
            for field in _FIXED_CONSUMER_FIELDS
            if getattr(wanted, field) is not None
            and _value(getattr(existing, field)) != _value(getattr(wanted, field))
        ]
        if existing.deliver_subject:
            problems.append("it is a push consumer, natsrpc consumes with pull requests")
        if problems:
            raise ProvisioningError(
                f"consumer {name} of stream {stream} exists with other settings: "
                f"{'; '.join(problems)}; natsrpc does not replace an existing consumer"
            )
        if _same_consumer(existing, wanted):
            return info
        logger.info("updating consumer %s of stream %s", name, stream)
    try:
        created: api.ConsumerInfo = await js.add_consumer(stream, wanted)
    except js_errors.APIError as error:
        raise ProvisioningError(
            f"cannot create or update consumer {name} of stream {stream}: {error}"
        ) from None
    return created


def _same_consumer(existing: api.ConsumerConfig, wanted: api.ConsumerConfig) -> bool:
    def filters(config: api.ConsumerConfig) -> set[str]:
        return set(config.filter_subjects or ()) | (
            {config.filter_subject} if config.filter_subject else set()
        )

    if filters(existing) != filters(wanted):
        return False
    for name in ("ack_wait", "max_deliver", "max_ack_pending", "backoff", "description"):
        value = getattr(wanted, name)
        if value is not None and getattr(existing, name) != value:
            return False
    return True
