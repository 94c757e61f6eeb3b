"""The ``natsrpc permissions`` command: names resolved, roles combined, output printed."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any

import click

from natsrpc.cli import event_schema, schema, serve
from natsrpc.cli.output import CliError, echo_json
from natsrpc.cli.permissions import events, rpc
from natsrpc.cli.permissions.model import (
    Permissions,
    jwt_permissions,
    nats_config,
    parse_duration,
)
from natsrpc.events.spec import EventServiceSpec
from natsrpc.spec import ServiceSpec

Target = rpc.ServiceSubjects | EventServiceSpec

_RPC_ROLES = {"serve": "--serve", "call": "--call", "gateway": "--gateway"}
_EVENT_ROLES = {
    "publish": "--publish",
    "consume": "--consume",
    "provision": "--provision",
    "dead_letters": "--dead-letters",
}


_PATTERN_CHARACTERS = "*?["
"""What makes a --gateway name an fnmatch pattern, as the gateway's own --allow takes."""


def _name_token(text: str) -> bool:
    return bool(text) and not any(c in text for c in ".*> \t")


@click.command("permissions")
@click.option(
    "--serve",
    "serve_names",
    multiple=True,
    metavar="SERVICE",
    help="A service this user serves (repeatable).",
)
@click.option(
    "--call",
    "call_names",
    multiple=True,
    metavar="SERVICE",
    help="A service this user calls (repeatable).",
)
@click.option(
    "--gateway",
    "gateway_names",
    multiple=True,
    metavar="SERVICE|PATTERN",
    help="A service this user's natsrpc gateway exposes, or a pattern (shop.*, *) over "
    "the --proto/--protoset services, like the gateway's --allow (repeatable).",
)
@click.option(
    "--publish",
    "publish_names",
    multiple=True,
    metavar="EVENTS",
    help="An event set this user publishes (repeatable).",
)
@click.option(
    "--consume",
    "consume_names",
    multiple=True,
    metavar="EVENTS",
    help="An event set this user handles, in the --consumer groups (repeatable).",
)
@click.option(
    "--consumer",
    "groups",
    multiple=True,
    metavar="GROUP",
    help="The consumer group of --consume (repeatable).",
)
@click.option(
    "--provision",
    "provision_names",
    multiple=True,
    metavar="EVENTS",
    help="Create and update an event set's stream and dead-letter stream (repeatable).",
)
@click.option(
    "--dead-letters",
    "dead_letters_names",
    multiple=True,
    metavar="EVENTS",
    help="List, replay and delete an event set's dead letters (repeatable).",
)
@click.option("--user", required=True, help="The NATS user these permissions are for.")
@click.option("--prefix", default="", help="Deployment subject prefix, e.g. prod.")
@click.option(
    "--max-call",
    default="1h",
    show_default=True,
    metavar="DURATION",
    help="How long a call (a stream) may keep answering.",
)
@click.option(
    "--proto",
    "protos",
    multiple=True,
    metavar="FILE",
    help="Find SERVICE and EVENTS names in this .proto file (repeatable).",
)
@click.option(
    "-I",
    "--import-path",
    "includes",
    multiple=True,
    metavar="DIR",
    help="Where --proto files and their imports are found (repeatable).",
)
@click.option(
    "--protoset",
    "protosets",
    multiple=True,
    metavar="FILE",
    help="Find names in this FileDescriptorSet (repeatable).",
)
@click.option("--app-dir", default=".", show_default=True, metavar="DIR")
@click.option("--json", "as_json", is_flag=True, help="Print the pub/sub/resp of a user JWT.")
def permissions_command(
    user: str,
    prefix: str,
    max_call: str,
    groups: tuple[str, ...],
    protos: tuple[str, ...],
    includes: tuple[str, ...],
    protosets: tuple[str, ...],
    app_dir: str,
    as_json: bool,
    **names: tuple[str, ...],
) -> None:
    """Print least-privilege NATS permissions for services and event sets.

    SERVICE and EVENTS are MODULE:ATTR naming a generated class, or a proto
    service name found in --proto/--protoset; --gateway also takes a pattern
    matching proto service names there. The output is nats-server
    configuration for the user's entry, or with --json the permissions of a
    user JWT.
    """
    roles = {role: names[f"{role}_names"] for role in (*_RPC_ROLES, *_EVENT_ROLES)}
    if not any(roles.values()):
        raise click.UsageError(
            "name at least one role: --serve, --call, --gateway, --publish, --consume, "
            "--provision or --dead-letters"
        )
    if not _name_token(user):
        raise click.BadParameter("must be one subject token", param_hint="--user")
    for group in groups:
        if not _name_token(group):
            raise CliError(f"--consumer {group!r}: a consumer group is one subject token")
    if groups and not roles["consume"]:
        raise CliError(f"--consumer {groups[0]}: no --consume event set for this group")
    max_call_ns = parse_duration(max_call)
    names_found = _Names(schema.LocalSchema(protos, includes, protosets), app_dir)
    deployment = prefix if not prefix or prefix.endswith(".") else prefix + "."

    granted = Permissions()
    granted.add(subscribe=[f"_INBOX.{user}.>"])
    apply: dict[str, Callable[[Any], None]] = {
        "serve": lambda s: rpc.serve_role(granted, s, deployment),
        "call": lambda s: rpc.call_role(granted, s, deployment),
        "gateway": lambda s: rpc.gateway_role(granted, s, deployment),
        "publish": lambda s: events.publisher_role(granted, s, deployment),
        "consume": lambda s: events.consumer_role(granted, s, groups, deployment),
        "provision": lambda s: events.provision_role(granted, s),
        "dead_letters": lambda s: events.dead_letter_role(granted, s, deployment),
    }
    titles = []
    for role, role_names in roles.items():
        for name in role_names:
            if role == "gateway" and _is_pattern(name):
                for service in names_found.matching(name):
                    apply[role](service)
            else:
                apply[role](_checked(role, name, names_found.resolve(name)))
            titles.append(f"{role.replace('_', '-')} {name}")
    if as_json:
        echo_json(jwt_permissions(granted, max_call_ns))
        return
    if groups:
        titles.append(f"consumer {', '.join(groups)}")
    title = f"natsrpc permissions for {user}: {'; '.join(titles)}"
    click.echo(nats_config(granted, user, max_call, title))


def _checked(role: str, name: str, target: Target) -> Target:
    """Refuse an event set in an RPC role, and an RPC service in an event role."""
    if role in _RPC_ROLES and isinstance(target, EventServiceSpec):
        raise CliError(
            f"{_RPC_ROLES[role]} {name}: an event set, not an RPC service; "
            "use --publish, --consume, --provision or --dead-letters"
        )
    if role in _EVENT_ROLES and not isinstance(target, EventServiceSpec):
        raise CliError(
            f"{_EVENT_ROLES[role]} {name}: an RPC service, not an event set; "
            "use --serve, --call or --gateway"
        )
    return target


def _is_pattern(name: str) -> bool:
    return ":" not in name and any(c in _PATTERN_CHARACTERS for c in name)


class _Names:
    """SERVICE and EVENTS names resolved: generated classes, or services of the schema."""

    def __init__(self, local: schema.LocalSchema, app_dir: str) -> None:
        self._app_dir = app_dir
        self._files = local.files() if local.given else None
        self._pool = local.pool() if local.given else None

    def resolve(self, name: str) -> Target:
        if ":" in name:
            spec = getattr(serve.load_target(name, self._app_dir), "_natsrpc_service", None)
            if isinstance(spec, EventServiceSpec):
                return spec
            if isinstance(spec, ServiceSpec):
                return rpc.from_spec(spec)
            raise CliError(f"{name} is not a generated natsrpc class")
        if self._pool is None:
            raise CliError(f"{name}: give MODULE:ATTR, or --proto/--protoset to find it in")
        try:
            service = self._pool.FindServiceByName(name)
        except KeyError:
            raise CliError(f"service {name} not found in the schema") from None
        return event_schema.event_set(service) or rpc.from_descriptor(service)

    def matching(self, pattern: str) -> list[rpc.ServiceSubjects]:
        """Every RPC service of the schema whose proto name matches, as the gateway's
        --allow matches them; event sets are not the gateway's to expose."""
        if self._files is None or self._pool is None:
            raise CliError(
                f"--gateway {pattern}: a pattern matches the services of --proto/--protoset; "
                "give them (the permissions cannot follow what reflection finds later)"
            )
        found = []
        for file in self._files:
            package = f"{file.package}." if file.package else ""
            for proto in file.service:
                if not fnmatch.fnmatchcase(package + proto.name, pattern):
                    continue
                service = self._pool.FindServiceByName(package + proto.name)
                if event_schema.event_set(service) is None:
                    found.append(rpc.from_descriptor(service))
        if not found:
            raise CliError(f"--gateway {pattern}: no RPC service in the schema matches")
        return found
