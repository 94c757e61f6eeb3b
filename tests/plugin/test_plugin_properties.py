"""Property-based: any valid descriptor set yields code that compiles, or a clear error.

Hypothesis builds CodeGeneratorRequests directly (no protoc) from hostile names
(keywords, builtins, names that clash once snake_cased, underscores, digits), every
method kind, arbitrary Unicode comments and random natsrpc options, and feeds them to
the plugin's in-process entry point.
"""

from __future__ import annotations

import ast
import keyword

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from natsrpc import options_pb2
from protoc_gen_natsrpc.plugin import generate

HOSTILE = [
    *keyword.kwlist,
    *keyword.softkwlist,
    "str",
    "float",
    "list",
    "type",
    "print",
    "self",
    "natsrpc",
    "annotations",
    "ClassVar",
    "AsyncIterator",
    "AsyncIterable",
    "Iterable",
    "Service",
    "Client",
    "GetURL",
    "get_url",
    "GetUrl",
    "get_URL",
    "HTTPServer",
    "http_server",
    "HttpServer",
    "_",
    "__",
    "__init__",
    "_unary_unary",
    "_stream_stream",
    "_nc",
    "A1",
    "a_1",
    "V2Api",
    "v2_api",
    "x_pb2",
]
FRAGMENTS = ['"""', '"', "'", "\\", "\\n", "\n", "\t", "\x00", "\u2028", "é", "日本", "🚀", "  "]

identifiers = st.one_of(
    st.sampled_from(HOSTILE),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,24}", fullmatch=True),
)
packages = st.one_of(
    st.just(""),
    st.lists(st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True), min_size=1, max_size=4).map(
        ".".join
    ),
)
comments = st.one_of(
    st.just(""),
    st.text(max_size=300),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=20)), max_size=20).map("".join),
)


def mostly(valid: list[str]) -> st.SearchStrategy[str]:
    """Usually one of ``valid``, sometimes a hostile value or arbitrary text."""
    hostile = ["", "a b", "*", ">", "a..b", ".a", "x\ty", "v1", "1.2"]
    return st.one_of(
        st.sampled_from(valid), st.sampled_from(valid), st.sampled_from(hostile), st.text()
    )


SERVICE_OPTIONS = {
    "name": mostly(["billing", "a-b_C9"]),
    "version": mostly(["1.2.3", "0.0.1-rc.1+build.5"]),
    "subject_group": mostly(["acme", "acme.billing.v1", "é.ü"]),
    "queue_group": mostly(["workers", "q.1"]),
    "description": st.text(),
}


@st.composite
def requests(draw: st.DrawFn) -> plugin_pb2.CodeGeneratorRequest:
    package = draw(packages)
    file = descriptor_pb2.FileDescriptorProto(
        name=draw(st.sampled_from(["a.proto", "dir/b-c.proto", "x/my.dotted-file.proto"])),
        package=package,
        syntax=draw(st.sampled_from(["proto2", "proto3", "editions"])),
    )
    if file.syntax == "editions":
        file.edition = descriptor_pb2.EDITION_2023
    # Messages and services share one namespace in a proto package.
    names = draw(st.lists(identifiers, min_size=2, max_size=8, unique=True))
    split = draw(st.integers(min_value=1, max_value=len(names) - 1))
    messages, services = names[:split], names[split:]
    for message in messages:
        file.message_type.add(name=message)
    scope = f".{package}" if package else ""
    locations = file.source_code_info.location
    for service_index, service_name in enumerate(services):
        service = file.service.add(name=service_name)
        comment = draw(comments)
        if comment:
            locations.add(path=[6, service_index], leading_comments=comment)
        if draw(st.integers(0, 3)) == 0:
            ext = service.options.Extensions[options_pb2.service]
            for field, values in SERVICE_OPTIONS.items():
                if draw(st.booleans()):
                    setattr(ext, field, draw(values))
            for key in draw(st.lists(st.text(max_size=5), max_size=3)):
                ext.metadata[key] = draw(st.text(max_size=10))
        method_names = draw(st.lists(identifiers, max_size=6, unique=True))
        for method_index, method_name in enumerate(method_names):
            method = service.method.add(
                name=method_name,
                input_type=f"{scope}.{draw(st.sampled_from(messages))}",
                output_type=f"{scope}.{draw(st.sampled_from(messages))}",
                client_streaming=draw(st.booleans()),
                server_streaming=draw(st.booleans()),
            )
            comment = draw(comments)
            if comment:
                locations.add(path=[6, service_index, 2, method_index], leading_comments=comment)
            if draw(st.integers(0, 4)) == 0:
                ext = method.options.Extensions[options_pb2.method]
                if draw(st.booleans()):
                    ext.subject = draw(mostly(["add", "Add-2", "ü"]))
                if draw(st.booleans()):
                    ext.timeout.seconds = draw(st.integers(-1, 10))
                    ext.timeout.nanos = draw(st.integers(0, 999_999_999))
                for key in draw(st.lists(st.sampled_from(["a", "rpc.x", "", "ü"]), max_size=2)):
                    ext.metadata[key] = draw(st.text(max_size=10))
    request = plugin_pb2.CodeGeneratorRequest(
        file_to_generate=[file.name], parameter=draw(st.sampled_from(["", "imports=relative"]))
    )
    request.proto_file.append(file)
    return request


def _keywords(call: ast.Call) -> dict[str, object]:
    return {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg in ("name", "subject")}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_valid_descriptors_give_compiling_code_or_a_clear_error(
    request: plugin_pb2.CodeGeneratorRequest,
) -> None:
    response = generate(request)
    proto = request.proto_file[0]
    if response.error:
        assert "internal error" not in response.error, response.error
        assert response.error.startswith(f"{proto.name}: "), response.error
        assert not response.file
        return
    assert len(response.file) == (1 if proto.service else 0)
    code = response.file[0].content
    tree = ast.parse(compile(code, response.file[0].name, "exec", ast.PyCF_ONLY_AST))
    compile(tree, response.file[0].name, "exec")
    assert generate(request) == response, "output must not depend on anything but the input"

    # Each method is written with its proto name and, unless an option moved it, its subject.
    specs = [
        _keywords(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Call)
        and ast.unparse(node.value.func) == "natsrpc.stubs.MethodSpec"
    ]
    expected = [method.name for service in proto.service for method in service.method]
    assert [spec["name"] for spec in specs] == expected
    for spec, (service, method) in zip(
        specs,
        [(s, m) for s in proto.service for m in s.method],
        strict=True,
    ):
        if not service.options.HasExtension(
            options_pb2.service
        ) and not method.options.HasExtension(options_pb2.method):
            full = f"{proto.package}.{service.name}" if proto.package else service.name
            assert spec["subject"] == f"{full}.{method.name}"
    classes = [node.name for node in tree.body if isinstance(node, ast.ClassDef)]
    # A server, a client and a sync client class per service.
    assert len(classes) == 3 * len(proto.service)
    assert len(set(classes)) == len(classes)
