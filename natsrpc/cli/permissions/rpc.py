"""The RPC roles: serving a service, calling one, exposing one through the gateway.

- A server subscribes to its method and reflection subjects only in its queue
  group, so it cannot quietly take a copy of every request.
- A caller publishes to exactly the method subjects of the services it calls,
  and to their cancel subjects (a notice names a call by its unguessable reply
  subject, so it cannot cancel anyone else's).
- A gateway is a caller that asks only what natsrpc.gateway asks: which
  reflection endpoints run, and the schemas of the services it exposes. It
  never asks health or a service's own discovery subjects.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.descriptor import ServiceDescriptor

from natsrpc import options_pb2
from natsrpc.cli import schema
from natsrpc.cli.permissions.model import Permissions
from natsrpc.health import subjects as health_subjects
from natsrpc.protocol.subjects import CANCEL_TOKEN
from natsrpc.reflection import subjects
from natsrpc.service_api import DEFAULT_QUEUE_GROUP
from natsrpc.spec import ServiceSpec

REFLECTION_NAME = "grpc-reflection-v1-ServerReflection"
HEALTH_NAME = "grpc-health-v1-Health"
DISCOVERY_VERBS = ("PING", "INFO", "STATS")


@dataclass(frozen=True)
class ServiceSubjects:
    """What permissions are made of: a service's ADR-32 name, subjects and queue group."""

    full_name: str
    name: str
    group: str
    methods: tuple[str, ...]
    queue_group: str


def from_spec(spec: ServiceSpec) -> ServiceSubjects:
    return ServiceSubjects(
        full_name=spec.full_name,
        name=spec.name,
        group=subjects.subject_group(spec),
        methods=tuple(m.subject for m in spec.methods),
        queue_group=spec.queue_group or DEFAULT_QUEUE_GROUP,
    )


def from_descriptor(service: ServiceDescriptor) -> ServiceSubjects:
    options = schema.natsrpc_options(service, options_pb2.service)
    return ServiceSubjects(
        full_name=service.full_name,
        name=str(getattr(options, "name", "")) or service.full_name.replace(".", "-"),
        group=schema.subject_group(service),
        methods=tuple(schema.method_spec(m).subject for m in service.methods),
        queue_group=str(getattr(options, "queue_group", "")) or DEFAULT_QUEUE_GROUP,
    )


def serve_role(permissions: Permissions, service: ServiceSubjects, prefix: str) -> None:
    queue = service.queue_group
    permissions.add(subscribe=[f"{prefix}{subject} {queue}" for subject in service.methods])
    answer_discovery(permissions, service.name, service.group, prefix)


def answer_discovery(permissions: Permissions, name: str, group: str, prefix: str) -> None:
    """What a ``natsrpc.Server`` needs to answer ``$SRV``, reflection, health and cancel
    notices for a service (or an event set) it serves."""
    permissions.add(
        subscribe=[
            f"{subjects.reflection_subject(group, prefix)} {DEFAULT_QUEUE_GROUP}",
            # Every instance hears a caller's cancel notice: no queue group.
            f"{prefix}{group}.{CANCEL_TOKEN}",
            *discovery(name, listen=True),
            *discovery(REFLECTION_NAME, listen=True),
            # Health: Check and Watch, for the service and for the whole server.
            f"{health_subjects.health_group(prefix + group)}.* {DEFAULT_QUEUE_GROUP}",
            # Health is served as a natsrpc service, which hears cancel notices too.
            f"{health_subjects.health_group(prefix + group)}.{CANCEL_TOKEN}",
            f"{health_subjects.server_group(prefix)}.* {DEFAULT_QUEUE_GROUP}",
            f"{health_subjects.server_group(prefix)}.{CANCEL_TOKEN}",
            *discovery(HEALTH_NAME, listen=True),
        ]
    )


def call_role(permissions: Permissions, service: ServiceSubjects, prefix: str) -> None:
    permissions.add(
        publish=[
            *(prefix + subject for subject in service.methods),
            subjects.reflection_subject(service.group, prefix),
            f"{prefix}{service.group}.{CANCEL_TOKEN}",
            f"{health_subjects.health_group(prefix + service.group)}.*",
            *discovery(service.name, listen=False),
            # Where every reflection subject is listed, for describing a message
            # whose service the caller does not name.
            f"$SRV.INFO.{REFLECTION_NAME}",
            f"$SRV.INFO.{REFLECTION_NAME}.*",
        ]
    )


def gateway_role(permissions: Permissions, service: ServiceSubjects, prefix: str) -> None:
    """What ``natsrpc.gateway`` needs to expose ``service``: its calls of every kind
    (stream frames and replies travel on ``allow_responses``), cancel notices, and
    the reflection its service directory asks."""
    permissions.add(
        publish=[
            *(prefix + subject for subject in service.methods),
            f"{prefix}{service.group}.{CANCEL_TOKEN}",
            subjects.reflection_subject(service.group, prefix),
            # The directory lists every reflection endpoint that runs, then asks those
            # of the exposed services; asking any other one is refused.
            f"$SRV.INFO.{REFLECTION_NAME}",
        ]
    )


def discovery(name: str, listen: bool) -> list[str]:
    found = []
    for verb in DISCOVERY_VERBS:
        # A server answers the bare verb too (`nats micro ls`); a caller asks by name.
        if listen:
            found.append(f"$SRV.{verb}")
        found += [f"$SRV.{verb}.{name}", f"$SRV.{verb}.{name}.*"]
    return found
