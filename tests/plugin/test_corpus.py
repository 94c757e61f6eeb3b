"""The breadth corpus (tests/protos/corpus): generated, imported, type-checked and served.

Every proto shape in the corpus goes through grpc_tools' protoc and the plugin as a
user would run them; the output must import from an unrelated working directory,
pass ``mypy --strict`` and ruff, and answer one call per method on a real nats-server.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from nats.aio.client import Client as NATS
from plugin_helpers import PROTOS, ROOT, ruff, run_protoc

import natsrpc
import natsrpc.spec

CORPUS = PROTOS / "corpus"
CORPUS_PROTOS = sorted(str(p.relative_to(PROTOS)) for p in CORPUS.rglob("*.proto"))

# Files whose _pb2 modules import no other local _pb2, so that the whole output can
# live inside a package: protoc's own python_out always writes absolute imports.
SELF_CONTAINED = [
    "corpus/ed/editions.proto",
    "corpus/modern/comments.proto",
    "corpus/modern/names.proto",
    "corpus/my.dotted-file.proto",
    "corpus/nopkg.proto",
]


def module_names(out: Path, suffix: str) -> list[str]:
    return sorted(
        ".".join(path.relative_to(out).with_suffix("").parts) for path in out.rglob(f"*{suffix}.py")
    )


@pytest.fixture(scope="module")
def corpus_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    result = run_protoc(PROTOS, CORPUS_PROTOS, out)
    assert result.returncode == 0, result.stderr
    return out


def test_every_file_with_a_service_is_generated(corpus_out: Path) -> None:
    assert module_names(corpus_out, "_natsrpc") == [
        "corpus.deep.a.b.c.deep_natsrpc",
        "corpus.ed.editions_natsrpc",
        "corpus.legacy.legacy_natsrpc",
        "corpus.modern.comments_natsrpc",
        "corpus.modern.names_natsrpc",
        "corpus.modern.services_natsrpc",
        # protoc turns the dot in my.dotted-file.proto into a package: we follow.
        "corpus.my.dotted_file_natsrpc",
        "corpus.nopkg_natsrpc",
    ]
    assert (corpus_out / "corpus/my/dotted_file_pb2.py").exists()


def test_output_imports_from_another_working_directory(corpus_out: Path, tmp_path: Path) -> None:
    modules = module_names(corpus_out, "_natsrpc")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import importlib, sys\n"
            "for name in sys.argv[1:]:\n"
            "    module = importlib.import_module(name)\n"
            "    assert module.__file__.startswith(sys.path[1]), module.__file__\n"
            "print(len(sys.argv) - 1)\n",
            *modules,
        ],
        cwd=tmp_path,
        env={"PYTHONPATH": f"{corpus_out}:{ROOT}", "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(len(modules))


def test_relative_imports_inside_a_package(tmp_path: Path) -> None:
    out = tmp_path / "project"
    result = run_protoc(PROTOS, SELF_CONTAINED, out / "pkg", parameter="imports=relative")
    assert result.returncode == 0, result.stderr
    for directory in [out / "pkg", *(p for p in (out / "pkg").rglob("*") if p.is_dir())]:
        (directory / "__init__.py").touch()
    modules = [f"pkg.{name}" for name in module_names(out / "pkg", "_natsrpc")]
    assert len(modules) == len(SELF_CONTAINED)
    assert "from . import names_pb2\n" in (out / "pkg/corpus/modern/names_natsrpc.py").read_text()
    result = subprocess.run(
        [sys.executable, "-c", f"import {', '.join(modules)}"],
        cwd=tmp_path,
        env={"PYTHONPATH": f"{out}:{ROOT}", "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # The same tree with absolute imports does not import as a package, which is
    # what the relative mode is for.
    absolute = tmp_path / "absolute"
    assert run_protoc(PROTOS, SELF_CONTAINED, absolute / "pkg").returncode == 0
    (absolute / "pkg/__init__.py").touch()
    result = subprocess.run(
        [sys.executable, "-c", "import pkg.corpus.nopkg_natsrpc"],
        cwd=tmp_path,
        env={"PYTHONPATH": f"{absolute}:{ROOT}", "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert "No module named 'corpus'" in result.stderr


def test_output_passes_mypy_strict(corpus_out: Path) -> None:
    config = corpus_out / "mypy.ini"
    pb2 = module_names(corpus_out, "_pb2")
    config.write_text(
        f"[mypy]\nstrict = True\nmypy_path = {ROOT}\nexplicit_package_bases = True\n"
        # protoc's own .pyi output is not ours to hold to --strict.
        f"[mypy-{','.join([*pb2, 'natsrpc.options_pb2'])}]\nignore_errors = True\n"
        "[mypy-natsrpc,natsrpc.*,nats,nats.*]\nfollow_imports = silent\n"
    )
    outputs = [str(p.relative_to(corpus_out)) for p in corpus_out.rglob("*_natsrpc.py")]
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(config), "--no-incremental", *outputs],
        cwd=corpus_out,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_output_passes_ruff(corpus_out: Path) -> None:
    outputs = [str(p.relative_to(corpus_out)) for p in corpus_out.rglob("*_natsrpc.py")]
    checked = ruff("check", *outputs, cwd=corpus_out)
    assert checked.returncode == 0, checked.stdout
    formatted = ruff("format", "--check", "--diff", *outputs, cwd=corpus_out)
    assert formatted.returncode == 0, formatted.stdout


# --- served for real --------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus_modules(corpus_out: Path) -> Iterator[list[ModuleType]]:
    sys.path.insert(0, str(corpus_out))
    try:
        yield [importlib.import_module(n) for n in module_names(corpus_out, "_natsrpc")]
    finally:
        sys.path.remove(str(corpus_out))


def generated_classes(modules: list[ModuleType], base: type) -> dict[natsrpc.spec.ServiceSpec, Any]:
    found = {}
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, base) and value is not base:
                found[value._natsrpc_service] = value
    return found


def handler(method: natsrpc.spec.MethodSpec[Any, Any], calls: list[str]) -> Any:
    """A generic implementation: empty responses, one per request for bidi."""
    response = method.response_type
    if method.kind is natsrpc.spec.MethodKind.UNARY:

        async def unary(self: Any, request: Any, context: natsrpc.Context) -> Any:
            assert isinstance(request, method.request_type)
            calls.append(method.path)
            return response()

        return unary
    if method.kind is natsrpc.spec.MethodKind.SERVER_STREAMING:

        async def server_stream(self: Any, request: Any, context: Any) -> AsyncIterator[Any]:
            calls.append(method.path)
            yield response()
            yield response()

        return server_stream
    if method.kind is natsrpc.spec.MethodKind.CLIENT_STREAMING:

        async def client_stream(self: Any, requests: AsyncIterator[Any], context: Any) -> Any:
            received = [request async for request in requests]
            calls.append(f"{method.path} x{len(received)}")
            return response()

        return client_stream

    async def bidi(self: Any, requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
        calls.append(method.path)
        async for _ in requests:
            yield response()

    return bidi


async def call(client: Any, method: natsrpc.spec.MethodSpec[Any, Any]) -> int:
    """Call ``method`` through the generated client; how many responses came back."""
    stub = getattr(client, method.attribute)
    request = method.request_type()
    if method.kind is natsrpc.spec.MethodKind.UNARY:
        reply = await stub(request)
        assert isinstance(reply, method.response_type)
        return 1
    if method.kind is natsrpc.spec.MethodKind.CLIENT_STREAMING:
        reply = await stub([request, request, request])
        assert isinstance(reply, method.response_type)
        return 1
    stream = (
        stub(request)
        if method.kind is natsrpc.spec.MethodKind.SERVER_STREAMING
        else stub([request, request])
    )
    replies = [reply async for reply in stream]
    assert all(isinstance(reply, method.response_type) for reply in replies)
    return len(replies)


async def test_every_method_answers_through_its_client(
    nc: NATS, corpus_modules: list[ModuleType]
) -> None:
    services = generated_classes(corpus_modules, natsrpc.stubs.Service)
    clients = generated_classes(corpus_modules, natsrpc.stubs.Client)
    assert services.keys() == clients.keys()
    assert len(services) == 13
    calls: list[str] = []
    server = natsrpc.Server(nc)
    for spec, generated in services.items():
        members = {m.attribute: handler(m, calls) for m in spec.methods}
        implementation = type(f"Impl{generated.__name__}", (generated,), members)
        server.add_service(implementation())
    expected = []
    async with server:
        for spec, client_class in clients.items():
            client = client_class(nc, timeout=10)
            for method in spec.methods:
                count = await call(client, method)
                assert count == {"server_streaming": 2, "bidi_streaming": 2}.get(
                    method.kind.value, 1
                ), method.path
                suffix = " x3" if method.kind is natsrpc.spec.MethodKind.CLIENT_STREAMING else ""
                expected.append(method.path + suffix)
    assert calls == expected
    assert len(calls) == sum(len(spec.methods) for spec in services)
