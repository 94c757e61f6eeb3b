"""One scrape for every worker of ``natsrpc serve --workers N``.

Each worker serves its own probes on a free port of 127.0.0.1 and writes the
port to ``<directory>/<index>.port``. The supervisor serves the address the user
gave: ``/metrics`` joins the workers' expositions, each sample labelled
``natsrpc_worker``; ``/readyz`` is 200 only while every worker is ready;
``/healthz`` is the supervisor's own. A worker's counters restart with it, which
Prometheus's ``rate()`` takes in its stride, one series per worker.

This, rather than prometheus-client's multiprocess mode, because that mode
covers only prometheus-client's own metric classes, not the OpenTelemetry SDK's.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from natsrpc.metrics.exposition import Answer, HttpEndpoints, text

WORKER_LABEL = "natsrpc_worker"
FETCH_TIMEOUT = 5.0
"""Seconds a worker may take to answer the supervisor's scrape or probe."""


def write_port(directory: str, index: int, port: int) -> None:
    """Tell the supervisor where worker ``index`` serves its probes."""
    path = Path(directory) / f"{index}.port"
    partial = path.with_suffix(".partial")
    partial.write_text(str(port))
    os.replace(partial, path)


def _fetch(port: int, path: str) -> tuple[int, str]:
    try:
        url = f"http://127.0.0.1:{port}{path}"
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError as error:
        return 0, f"unreachable ({error})"


class _Joined:
    """A collector yielding the families of several expositions, one label apart."""

    def __init__(self, expositions: dict[int, str]) -> None:
        self._expositions = expositions

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for index, exposition in self._expositions.items():
            for family in text_string_to_metric_families(exposition):
                joined = families.get(family.name)
                if joined is None:
                    joined = families[family.name] = Metric(
                        family.name, family.documentation, family.type, family.unit
                    )
                for sample in family.samples:
                    labels = {**sample.labels, WORKER_LABEL: str(index)}
                    joined.samples.append(
                        Sample(sample.name, labels, sample.value, sample.timestamp, sample.exemplar)
                    )
        yield from families.values()


class WorkerProbes:
    """The supervisor's probes, answered from its workers'."""

    def __init__(self, host: str, port: int, directory: str, workers: int) -> None:
        self._directory = Path(directory)
        self._workers = workers
        self._http = HttpEndpoints(
            host,
            port,
            {"/metrics": self._scrape, "/healthz": lambda: text(200, "ok"), "/readyz": self._ready},
        )
        self.port = self._http.port

    def _ports(self) -> dict[int, int | None]:
        found: dict[int, int | None] = {}
        for index in range(1, self._workers + 1):
            try:
                found[index] = int((self._directory / f"{index}.port").read_text())
            except (OSError, ValueError):
                found[index] = None
        return found

    def _scrape(self) -> Answer:
        expositions = {}
        for index, port in self._ports().items():
            if port is not None:
                status, body = _fetch(port, "/metrics")
                if status == 200:
                    expositions[index] = body
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Joined(expositions))
        return 200, CONTENT_TYPE_LATEST, generate_latest(registry)

    def _ready(self) -> Answer:
        for index, port in self._ports().items():
            if port is None:
                return text(503, f"worker {index}: not started")
            status, body = _fetch(port, "/readyz")
            if status != 200:
                return text(503, f"worker {index}: {body.strip()}")
        return text(200, "ready")

    def close(self) -> None:
        self._http.close()
