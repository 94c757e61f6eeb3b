"""``natsrpc ls`` and ``natsrpc info``: what runs, from the ADR-32 discovery answers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import click
from nats.aio.client import Client as NATS

from natsrpc.cli.connection import ConnectionOptions, connect
from natsrpc.cli.output import CliError, duration, echo_json, table
from natsrpc.contract import group_of
from natsrpc.health.client import HealthChecker
from natsrpc.health.v1.health_pb2 import HealthCheckResponse
from natsrpc.service_api import discovery
from natsrpc.service_api.discovery import ServiceInfo, ServiceStats
from natsrpc.status import RpcError

HEALTH_TIMEOUT = 1.0
"""Seconds ``ls`` waits for each service's health answer."""


def proto_name(instance: ServiceInfo) -> str:
    """The proto service behind an ADR-32 instance, from its endpoints' ``rpc.method``."""
    for endpoint in instance.endpoints:
        method = endpoint.metadata.get("rpc.method", "")
        if method.count("/") == 2:
            return method.split("/")[1]
    return ""


async def list_services(options: ConnectionOptions, as_json: bool, timeout: float) -> None:
    nc = await connect(options)
    prefix = options.subject_prefix()
    grouped: dict[str, list[ServiceInfo]] = {}
    try:
        for instance in await discovery.info(nc, timeout=timeout):
            if prefix and not all(e.subject.startswith(prefix) for e in instance.endpoints):
                continue  # another deployment's instance
            grouped.setdefault(instance.name, []).append(instance)
        health = await health_of(nc, {name: group[0] for name, group in grouped.items()})
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
    services: list[dict[str, Any]] = []
    for name in sorted(grouped):
        group = grouped[name]
        first = group[0]
        services.append(
            {
                "name": name,
                "proto": proto_name(first),
                "versions": sorted({i.version for i in group}),
                "instances": len(group),
                "methods": [e.name for e in first.endpoints],
                "health": health.get(name),
                "description": first.description,
            }
        )
    if as_json:
        echo_json(services)
        return
    if not services:
        click.echo("no services found")
        return
    rows = [
        (
            s["name"],
            ", ".join(s["versions"]),
            s["instances"],
            ", ".join(s["methods"]),
            s["health"],
            s["description"],
        )
        for s in services
    ]
    columns = ("NAME", "VERSION", "INSTANCES", "METHODS", "HEALTH", "DESCRIPTION")
    click.echo(table(columns, rows))


async def health_of(nc: NATS, services: dict[str, ServiceInfo]) -> dict[str, str]:
    """What one instance of each RPC service says of its health (grpc.health.v1 Check)."""
    checker = HealthChecker(nc)

    async def one(instance: ServiceInfo) -> str | None:
        proto = proto_name(instance)
        if not proto or not instance.endpoints:
            return None
        group = group_of(instance.endpoints[0].subject)
        try:
            status = await checker.check_group(group, proto, timeout=HEALTH_TIMEOUT)
        except RpcError:
            return None  # no health here: reflection, health itself, an older natsrpc
        return HealthCheckResponse.ServingStatus.Name(status)

    names = list(services)
    found = await asyncio.gather(*(one(services[name]) for name in names))
    return {name: status for name, status in zip(names, found, strict=True) if status}


async def find_instances(
    nc: NATS, service: str, instance_id: str | None, timeout: float
) -> list[ServiceInfo]:
    """Instances of SERVICE: an ADR-32 name, or a proto name (dots never occur in the former)."""
    if "." not in service:
        return await discovery.info(nc, service, id=instance_id, timeout=timeout)
    # The usual ADR-32 name first; a name set by an option needs a look at everything.
    dashed = await discovery.info(nc, service.replace(".", "-"), id=instance_id, timeout=timeout)
    if dashed:
        return dashed
    everything = await discovery.info(nc, timeout=timeout)
    return [
        i
        for i in everything
        if proto_name(i) == service and (instance_id is None or i.id == instance_id)
    ]


async def show_info(
    options: ConnectionOptions, service: str, instance_id: str | None, as_json: bool, timeout: float
) -> None:
    nc = await connect(options)
    try:
        infos = await find_instances(nc, service, instance_id, timeout)
        stats: list[ServiceStats] = []
        if infos:
            name = infos[0].name
            stats = await discovery.stats(nc, name, id=instance_id, timeout=timeout)
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
    if not infos:
        which = f"instance {instance_id}" if instance_id else "instance"
        raise CliError(f"no running {which} of service {service} answered")
    by_id = {s.id: s for s in stats}
    documents = [_instance_document(info, by_id.get(info.id)) for info in infos]
    documents.sort(key=lambda d: d["id"])
    if as_json:
        echo_json(documents)
        return
    blocks = [_instance_text(d) for d in documents]
    click.echo("\n\n".join(blocks))


def _instance_document(info: ServiceInfo, stats: ServiceStats | None) -> dict[str, Any]:
    endpoints = []
    for endpoint in info.endpoints:
        entry: dict[str, Any] = {
            "name": endpoint.name,
            "subject": endpoint.subject,
            "queue_group": endpoint.queue_group,
            "kind": endpoint.metadata.get("rpc.kind", ""),
            "metadata": dict(endpoint.metadata),
        }
        if stats is not None:
            with contextlib.suppress(KeyError):
                counters = stats.endpoint(endpoint.name)
                entry.update(
                    requests=counters.num_requests,
                    errors=counters.num_errors,
                    average_processing_time_ns=counters.average_processing_time_ns,
                    in_flight=counters.in_flight,
                    pending=counters.pending,
                    shed=counters.shed,
                    last_error=counters.last_error,
                )
        endpoints.append(entry)
    return {
        "name": info.name,
        "id": info.id,
        "version": info.version,
        "description": info.description,
        "proto": proto_name(info),
        "started": stats.started.isoformat() if stats and stats.started else None,
        "metadata": dict(info.metadata),
        "endpoints": endpoints,
    }


def _instance_text(document: dict[str, Any]) -> str:
    header = [
        f"{document['name']} {document['version']}  instance {document['id']}",
    ]
    if document["description"]:
        header.append(f"  {' '.join(document['description'].split())}")
    if document["started"]:
        header.append(f"  started {document['started']}")
    columns: Sequence[str] = (
        "ENDPOINT", "SUBJECT", "QUEUE", "KIND", "REQUESTS", "ERRORS", "AVG", "IN FLIGHT",
        "PENDING", "SHED",
    )  # fmt: skip
    rows = [
        (
            e["name"],
            e["subject"],
            e["queue_group"],
            e["kind"] or None,
            e.get("requests"),
            e.get("errors"),
            duration(e["average_processing_time_ns"]) if "requests" in e else None,
            e.get("in_flight"),
            e.get("pending"),
            e.get("shed"),
        )
        for e in document["endpoints"]
    ]
    return "\n".join(header) + "\n\n" + table(columns, rows)
