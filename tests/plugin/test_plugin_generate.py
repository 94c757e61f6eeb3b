"""The plugin run in-process on descriptors protoc built: options, errors, names, imports."""

from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2
from plugin_helpers import (
    build_request,
    files_by_name,
    generate_from,
    ruff,
    run_protoc,
    write_protos,
)

import natsrpc
import natsrpc.spec
from protoc_gen_natsrpc.naming import BASE_CLASS_MEMBERS, snake_case
from protoc_gen_natsrpc.plugin import generate

SIMPLE = """\
syntax = "proto3";
package demo;
message Req {}
message Resp {}
"""


def service_proto(body: str, *, header: str = SIMPLE) -> str:
    return header + body


def test_supported_features_and_editions() -> None:
    response = generate(plugin_pb2.CodeGeneratorRequest())
    assert not response.error
    assert response.supported_features & plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
    assert response.supported_features & plugin_pb2.CodeGeneratorResponse.FEATURE_SUPPORTS_EDITIONS
    assert response.minimum_edition <= descriptor_pb2.EDITION_PROTO2
    assert response.maximum_edition >= descriptor_pb2.EDITION_2023


@pytest.mark.parametrize(
    ("parameter", "named"),
    [
        ("colour=blue", "'colour'"),
        ("imports=absolute,verbose", "'verbose'"),
        ("imports=sideways", "'sideways'"),
        ("imports", "'imports'"),
        ("grpc_aliases=sometimes", "'sometimes'"),
    ],
)
def test_bad_parameter_is_reported(parameter: str, named: str) -> None:
    response = generate(plugin_pb2.CodeGeneratorRequest(parameter=parameter))
    assert named in response.error
    assert "Traceback" not in response.error
    assert not response.file


@pytest.mark.parametrize(("parameter", "aliased"), [("", True), ("grpc_aliases=false", False)])
def test_grpc_aliases_are_a_parameter(tmp_path: Path, parameter: str, aliased: bool) -> None:
    proto = 'syntax = "proto3";\npackage a;\nmessage M {}\nservice S { rpc DoIt(M) returns (M); }\n'
    protos = write_protos(tmp_path, {"a.proto": proto})
    response = generate_from(protos, ["a.proto"], parameter=parameter)
    assert not response.error, response.error
    code = files_by_name(response)["a_natsrpc.py"]
    assert ("    DoIt = do_it\n" in code) is aliased
    assert "def do_it(" in code


def test_bad_parameter_reaches_the_protoc_user(tmp_path: Path) -> None:
    write_protos(tmp_path, {"a.proto": service_proto("service A { rpc X(Req) returns (Resp); }")})
    result = run_protoc(tmp_path, ["a.proto"], tmp_path / "out", parameter="imports=nope")
    assert result.returncode != 0
    assert "'nope'" in result.stderr
    assert "Traceback" not in result.stderr


def test_files_without_services_produce_nothing(tmp_path: Path) -> None:
    write_protos(tmp_path, {"messages.proto": SIMPLE})
    response = generate_from(tmp_path, ["messages.proto"])
    assert not response.error
    assert not response.file


def test_every_file_to_generate_is_processed(tmp_path: Path) -> None:
    write_protos(
        tmp_path,
        {
            "one.proto": service_proto("service One { rpc X(Req) returns (Resp); }"),
            "sub/two-dashed.proto": service_proto(
                "service Two { rpc X(Req) returns (Resp); }",
                header='syntax = "proto3";\npackage demo.two;\nmessage Req {}\nmessage Resp {}\n',
            ),
            "sub/plain.proto": SIMPLE.replace("demo", "demo.plain"),
        },
    )
    response = generate_from(tmp_path, ["one.proto", "sub/two-dashed.proto", "sub/plain.proto"])
    assert not response.error
    assert sorted(files_by_name(response)) == ["one_natsrpc.py", "sub/two_dashed_natsrpc.py"]


def test_output_sits_beside_protocs_pb2(tmp_path: Path) -> None:
    write_protos(
        tmp_path, {"foo/bar-baz.proto": service_proto("service S { rpc X(Req) returns (Resp); }")}
    )
    result = run_protoc(tmp_path, ["foo/bar-baz.proto"], tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out/foo/bar_baz_pb2.py").exists()
    generated = (tmp_path / "out/foo/bar_baz_natsrpc.py").read_text()
    assert "import foo.bar_baz_pb2 as bar_baz_pb2\n" in generated
    assert "from foo/bar-baz.proto. DO NOT EDIT." in generated


@pytest.mark.parametrize(
    ("proto", "snake"),
    [
        ("SayHello", "say_hello"),
        ("GetURL", "get_url"),
        ("HTTPServer2Go", "http_server2_go"),
        ("get_url", "get_url"),
        ("V2Api", "v2_api"),
        ("A", "a"),
    ],
)
def test_snake_case(proto: str, snake: str) -> None:
    assert snake_case(proto) == snake


def test_clashing_and_keyword_names(tmp_path: Path) -> None:
    write_protos(
        tmp_path,
        {
            "n.proto": service_proto(
                """
service class {
  rpc GetURL(Req) returns (Resp);
  rpc get_url(Req) returns (Resp);
  rpc GetUrl(Req) returns (Resp);
  rpc import(Req) returns (Resp);
  rpc __Hidden(Req) returns (Resp);
  rpc _stream_stream(Req) returns (Resp);
  rpc Natsrpc(Req) returns (Resp);
  rpc Float(Req) returns (Resp);
  rpc N_pb2(Req) returns (Resp);
}
service class_ {}
"""
            )
        },
    )
    response = generate_from(tmp_path, ["n.proto"])
    assert not response.error, response.error
    code = files_by_name(response)["n_natsrpc.py"]
    attributes = ["get_url", "get_url_", "get_url__", "import_", "_hidden", "_stream_stream_"]
    # Names the signatures use would be shadowed inside the class body.
    attributes += ["natsrpc_", "float_", "n_pb2_"]
    for attribute in attributes:
        assert f'    attribute="{attribute}",\n' in code
    for constant in ("CLASS_GET_URL", "CLASS_GET_URL_", "CLASS_GET_URL__", "CLASS_IMPORT"):
        assert f"\n{constant} = natsrpc.stubs.MethodSpec(" in code
    assert "\nclass class_(natsrpc.stubs.Service):" in code
    # The second service's own name was taken by the first one's class.
    assert "\nclass class__(natsrpc.stubs.Service):" in code
    assert "\nCLASS_SERVICE = natsrpc.stubs.ServiceSpec(" in code
    assert "\nCLASS__SERVICE = natsrpc.stubs.ServiceSpec(" in code
    compile(code, "n_natsrpc.py", "exec")


def test_version_line_becomes_the_service_version(tmp_path: Path) -> None:
    write_protos(
        tmp_path,
        {"v.proto": service_proto("// Does things.\n//\n// version: 2.0.1-rc.1\nservice V {}\n")},
    )
    code = files_by_name(generate_from(tmp_path, ["v.proto"]))["v_natsrpc.py"]
    assert '    version="2.0.1-rc.1",\n' in code
    assert '    """Does things."""\n' in code
    assert "version:" not in code


@pytest.mark.parametrize("version", ["1.2", "01.2.3", "v1.2.3", "1.2.3-", "latest"])
def test_invalid_version_names_file_service_and_value(tmp_path: Path, version: str) -> None:
    write_protos(
        tmp_path, {"dir/v.proto": service_proto(f"// version: {version}\nservice Versioned {{}}\n")}
    )
    response = generate_from(tmp_path, ["dir/v.proto"])
    assert "dir/v.proto" in response.error
    assert "Versioned" in response.error
    assert repr(version) in response.error
    assert not response.file


def test_no_comment_means_no_docstring_and_no_description(tmp_path: Path) -> None:
    write_protos(tmp_path, {"q.proto": service_proto("service Q { rpc X(Req) returns (Resp); }")})
    code = files_by_name(generate_from(tmp_path, ["q.proto"]))["q_natsrpc.py"]
    assert '"""' not in code.split("\n\n\nclass", 1)[1]
    assert "description=" not in code
    compile(code, "q_natsrpc.py", "exec")


RELATIVE = {
    "pkg/a/svc.proto": """\
syntax = "proto3";
package pkg.a;
import "google/protobuf/empty.proto";
import "pkg/a/local.proto";
import "pkg/b/far.proto";
import "other/far.proto";
service Svc {
  rpc One(Local) returns (pkg.b.Far);
  rpc Two(google.protobuf.Empty) returns (other.Far);
}
""",
    "pkg/a/local.proto": 'syntax = "proto3";\npackage pkg.a;\nmessage Local {}\n',
    "pkg/b/far.proto": 'syntax = "proto3";\npackage pkg.b;\nmessage Far {}\n',
    "other/far.proto": 'syntax = "proto3";\npackage other;\nmessage Far {}\n',
}


def test_relative_imports(tmp_path: Path) -> None:
    protos = write_protos(tmp_path / "protos", RELATIVE)
    response = generate_from(protos, ["pkg/a/svc.proto"], parameter="imports=relative")
    assert not response.error, response.error
    code = files_by_name(response)["pkg/a/svc_natsrpc.py"]
    assert (
        "import google.protobuf.empty_pb2 as empty_pb2\n"
        "import natsrpc.stubs\n"
        "\n"
        "from ...other import far_pb2 as other_far_pb2\n"
        "from ..b import far_pb2 as pkg_b_far_pb2\n"
        "from . import local_pb2\n"
    ) in code
    assert "request_type=local_pb2.Local," in code
    assert "response_type=pkg_b_far_pb2.Far," in code
    assert "response_type=other_far_pb2.Far," in code


def test_absolute_imports_with_colliding_basenames(tmp_path: Path) -> None:
    protos = write_protos(tmp_path / "protos", RELATIVE)
    response = generate_from(protos, ["pkg/a/svc.proto"])
    code = files_by_name(response)["pkg/a/svc_natsrpc.py"]
    assert (
        "import google.protobuf.empty_pb2 as empty_pb2\n"
        "import natsrpc.stubs\n"
        "\n"
        "import other.far_pb2 as other_far_pb2\n"
        "import pkg.a.local_pb2 as local_pb2\n"
        "import pkg.b.far_pb2 as pkg_b_far_pb2\n"
    ) in code


@pytest.mark.parametrize("parameter", ["", "imports=relative"])
def test_imports_pass_ruff_in_a_user_project(tmp_path: Path, parameter: str) -> None:
    protos = write_protos(tmp_path / "protos", RELATIVE)
    out = tmp_path / "project"
    result = run_protoc(protos, sorted(RELATIVE), out, parameter=parameter, python_out=True)
    assert result.returncode == 0, result.stderr
    for package in ("pkg", "pkg/a", "pkg/b", "other"):
        (out / package / "__init__.py").touch()
    checked = ruff("check", "pkg/a/svc_natsrpc.py", cwd=out)
    assert checked.returncode == 0, checked.stdout
    formatted = ruff("format", "--check", "--diff", "pkg/a/svc_natsrpc.py", cwd=out)
    assert formatted.returncode == 0, formatted.stdout


def test_unexpected_exception_becomes_a_plugin_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr("protoc_gen_natsrpc.plugin.parse_request", explode)
    response = generate(plugin_pb2.CodeGeneratorRequest())
    assert "internal error" in response.error
    assert "KeyError" in response.error
    assert "boom" in response.error


def test_request_round_trips_through_build_request(tmp_path: Path) -> None:
    write_protos(tmp_path, {"r.proto": service_proto("service R {}")})
    request = build_request(tmp_path, ["r.proto"])
    assert [f.name for f in request.proto_file] == ["r.proto"]


def _private_members(cls: type) -> set[str]:
    """Underscore names a class or its bases define or assign on ``self``."""
    names: set[str] = set()
    for klass in cls.__mro__[:-1]:
        names.update(n for n in vars(klass) if n.startswith("_") and not n.endswith("__"))
        tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "self"
                and node.attr.startswith("_")
            ):
                names.add(node.attr)
    return names


@pytest.mark.parametrize(
    "base", [natsrpc.stubs.Client, natsrpc.stubs.Service, natsrpc.stubs.SyncClient]
)
def test_generated_members_cannot_shadow_runtime_internals(base: type) -> None:
    missing = _private_members(base) - BASE_CLASS_MEMBERS
    assert not missing, f"add {sorted(missing)} to protoc_gen_natsrpc.naming.BASE_CLASS_MEMBERS"
