"""``natsrpc permissions``: least-privilege NATS permissions for serving or calling services.

The model (docs/cli.md explains it):

- Every user connects with its own inbox prefix, ``_INBOX.<user>``, and may
  subscribe only below it: nobody can read another connection's replies.
- Nobody gets a blanket right to publish into inboxes. Replies and stream frames
  travel on ``allow_responses``: a connection may publish to the reply subject
  of a message it received (a request, a stream's open or accept frame), as
  often as the stream needs, for ``max_call`` at most.
- A server subscribes to its method and reflection subjects only in its queue
  group, so it cannot quietly take a copy of every request either.
- A caller publishes to exactly the method subjects of the services it calls,
  and to their cancel subjects (a notice names a call by its unguessable reply
  subject, so it cannot cancel anyone else's).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.descriptor_pool import DescriptorPool

from natsrpc import options_pb2
from natsrpc.cli import schema
from natsrpc.cli.output import CliError
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


@dataclass
class Permissions:
    publish: list[str] = field(default_factory=list)
    subscribe: list[str] = field(default_factory=list)

    def add(self, publish: Iterable[str] = (), subscribe: Iterable[str] = ()) -> None:
        """Add the subjects not granted yet, keeping the order they were first given in."""
        for granted, wanted in ((self.publish, publish), (self.subscribe, subscribe)):
            granted += [s for s in dict.fromkeys(wanted) if s not in granted]


def from_spec(spec: ServiceSpec) -> ServiceSubjects:
    return ServiceSubjects(
        full_name=spec.full_name,
        name=spec.name,
        group=subjects.subject_group(spec),
        methods=tuple(m.subject for m in spec.methods),
        queue_group=spec.queue_group or DEFAULT_QUEUE_GROUP,
    )


def from_pool(pool: DescriptorPool, full_name: str) -> ServiceSubjects:
    try:
        service = pool.FindServiceByName(full_name)
    except KeyError:
        raise CliError(f"service {full_name} not found in the schema") from None
    options = schema.natsrpc_options(service, options_pb2.service)
    return ServiceSubjects(
        full_name=full_name,
        name=str(getattr(options, "name", "")) or full_name.replace(".", "-"),
        group=schema.subject_group(service),
        methods=tuple(schema.method_spec(m).subject for m in service.methods),
        queue_group=str(getattr(options, "queue_group", "")) or DEFAULT_QUEUE_GROUP,
    )


def build(
    serve: list[ServiceSubjects], call: list[ServiceSubjects], user: str, prefix: str
) -> Permissions:
    permissions = Permissions()
    permissions.add(subscribe=[f"_INBOX.{user}.>"])
    for service in serve:
        queue = service.queue_group
        permissions.add(
            subscribe=[
                *(f"{prefix}{subject} {queue}" for subject in service.methods),
                f"{subjects.reflection_subject(service.group, prefix)} {DEFAULT_QUEUE_GROUP}",
                # Every instance hears a caller's cancel notice: no queue group.
                _cancel_subject(service, prefix),
                *_discovery(service.name, listen=True),
                *_discovery(REFLECTION_NAME, listen=True),
                # Health: Check and Watch, for the service and for the whole server.
                f"{_health(service, prefix)}.* {DEFAULT_QUEUE_GROUP}",
                f"{health_subjects.server_group(prefix)}.* {DEFAULT_QUEUE_GROUP}",
                *_discovery(HEALTH_NAME, listen=True),
            ]
        )
    for service in call:
        permissions.add(
            publish=[
                *(prefix + subject for subject in service.methods),
                subjects.reflection_subject(service.group, prefix),
                _cancel_subject(service, prefix),
                f"{_health(service, prefix)}.*",
                *_discovery(service.name, listen=False),
                # Where every reflection subject is listed, for describing a message
                # whose service the caller does not name.
                f"$SRV.INFO.{REFLECTION_NAME}",
                f"$SRV.INFO.{REFLECTION_NAME}.*",
            ]
        )
    return permissions


def _health(service: ServiceSubjects, prefix: str) -> str:
    return health_subjects.health_group(prefix + service.group)


def _cancel_subject(service: ServiceSubjects, prefix: str) -> str:
    return f"{prefix}{service.group}.{CANCEL_TOKEN}"


def _discovery(name: str, listen: bool) -> list[str]:
    found = []
    for verb in DISCOVERY_VERBS:
        # A server answers the bare verb too (`nats micro ls`); a caller asks by name.
        if listen:
            found.append(f"$SRV.{verb}")
        found += [f"$SRV.{verb}.{name}", f"$SRV.{verb}.{name}.*"]
    return found


def nats_config(permissions: Permissions, user: str, max_call: str, title: str) -> str:
    def allow(items: list[str]) -> list[str]:
        # Quoted: `$` starts a variable in unquoted nats-server configuration values.
        return ["    allow: [", *(f"      {json.dumps(item)}," for item in items), "    ]"]

    return "\n".join(
        [
            f"# {title}",
            f'# Connect as {user} with inbox prefix "_INBOX.{user}" '
            f"(natsrpc --inbox-prefix _INBOX.{user}; nats-py: inbox_prefix=...).",
            "permissions: {",
            "  publish: {",
            *allow(permissions.publish),
            "  }",
            "  subscribe: {",
            *allow(permissions.subscribe),
            "  }",
            f'  allow_responses: {{ max: -1, expires: "{max_call}" }}',
            "}",
        ]
    )


def jwt_permissions(permissions: Permissions, max_call_ns: int) -> dict[str, Any]:
    """The ``pub``/``sub``/``resp`` object of a NATS user JWT."""
    return {
        "pub": {"allow": permissions.publish},
        "sub": {"allow": permissions.subscribe},
        "resp": {"max": -1, "ttl": max_call_ns},
    }


def parse_duration(text: str) -> int:
    """Nanoseconds in ``90s``, ``15m``, ``2h``."""
    units = {"ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit):
            number = text[: -len(unit)]
            if number.isdigit() and int(number) > 0:
                return int(number) * units[unit]
    raise CliError(f"{text!r} is not a duration like 90s, 15m or 2h")
