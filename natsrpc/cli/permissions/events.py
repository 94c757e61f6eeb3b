"""The event roles: publisher, consumer group, provisioning, dead-letter operator.

Each grants the subjects the events runtime really uses (natsrpc/events/), and
JetStream API subjects name the stream and, where it can, the consumer, so that
one consumer group cannot pull or settle another's events. A core NATS event
set gets no JetStream subject at all. No role may delete a stream or a consumer.
"""

from __future__ import annotations

from natsrpc.cli.output import CliError
from natsrpc.cli.permissions.model import Permissions
from natsrpc.cli.permissions.rpc import answer_discovery
from natsrpc.events.abandoned import ADVISORY_QUEUE, MAX_DELIVERIES_ADVISORY
from natsrpc.events.provision import dead_letter_stream, dead_letter_subject
from natsrpc.events.spec import EventServiceSpec
from natsrpc.events.subjects import stream_subjects

JS_API = "$JS.API"


def publisher_role(permissions: Permissions, spec: EventServiceSpec, prefix: str) -> None:
    """Publish the set's events; JetStream's acknowledgements come back to the inbox."""
    permissions.add(publish=stream_subjects(spec, prefix))


def consumer_role(
    permissions: Permissions, spec: EventServiceSpec, groups: tuple[str, ...], prefix: str
) -> None:
    """What handlers of ``groups`` need. With ``provision=True`` that includes creating and
    updating the group's own consumer; its streams it only reads, so they must be in line
    with the declaration already (``provision_role``)."""
    answer_discovery(permissions, spec.name, spec.full_name, prefix)
    if spec.stream is None:
        # Without a group every instance subscribes; with one, only in its queue group.
        queues = [f" {group}" for group in groups] or [""]
        permissions.add(
            subscribe=[
                subject + queue for subject in stream_subjects(spec, prefix) for queue in queues
            ]
        )
        return
    if not groups:
        raise CliError(
            f"{spec.full_name} is stored in stream {spec.stream.name}: "
            "name the consumer group with --consumer"
        )
    stream = spec.stream.name
    for group in groups:
        permissions.add(
            publish=[
                f"{JS_API}.CONSUMER.MSG.NEXT.{stream}.{group}",
                # Ack, Nak, Term and in-progress, for this group's deliveries only.
                f"$JS.ACK.{stream}.{group}.>",
                dead_letter_subject(stream, group),
                f"{JS_API}.STREAM.INFO.{stream}",
                f"{JS_API}.STREAM.INFO.{dead_letter_stream(stream)}",
                f"{JS_API}.CONSUMER.INFO.{stream}.{group}",
                # provision=True creates or updates the group's own consumer. nats-py does it
                # on the first subject; clients naming consumers (nats-server 2.9+) on the
                # others, the last with a filter subject.
                f"{JS_API}.CONSUMER.DURABLE.CREATE.{stream}.{group}",
                f"{JS_API}.CONSUMER.CREATE.{stream}.{group}",
                f"{JS_API}.CONSUMER.CREATE.{stream}.{group}.>",
                # The original of an event every delivery of which went unanswered.
                f"{JS_API}.STREAM.MSG.GET.{stream}",
            ],
            subscribe=[
                MAX_DELIVERIES_ADVISORY.format(stream=stream, consumer=group) + f" {ADVISORY_QUEUE}"
            ],
        )


def provision_role(permissions: Permissions, spec: EventServiceSpec) -> None:
    """What ``ensure_streams`` needs: create or update the stream and its dead-letter stream."""
    stream = _stream_of(spec, "nothing to provision")
    for name in (stream, dead_letter_stream(stream)):
        permissions.add(
            publish=[f"{JS_API}.STREAM.{verb}.{name}" for verb in ("INFO", "CREATE", "UPDATE")]
        )


def dead_letter_role(permissions: Permissions, spec: EventServiceSpec, prefix: str) -> None:
    """``natsrpc dead-letters ls/replay`` and ``DeadLetters``: read, replay, delete."""
    stream = _stream_of(spec, "no dead letters")
    dead = dead_letter_stream(stream)
    permissions.add(
        publish=[
            f"{JS_API}.STREAM.INFO.{stream}",
            f"{JS_API}.STREAM.INFO.{dead}",
            f"{JS_API}.STREAM.MSG.GET.{dead}",
            f"{JS_API}.STREAM.MSG.DELETE.{dead}",
            # A replay is published to the event's own subject.
            *stream_subjects(spec, prefix),
        ]
    )


def _stream_of(spec: EventServiceSpec, consequence: str) -> str:
    if spec.stream is None:
        raise CliError(f"{spec.full_name} travels over core NATS without a stream: {consequence}")
    return spec.stream.name
