"""``natsrpc generate``: protoc (grpc_tools) with natsrpc's plugin and include paths set."""

from __future__ import annotations

import shutil
import sys
import sysconfig
from importlib import resources
from pathlib import Path

import click

import natsrpc
from natsrpc.cli.output import CliError

PLUGIN = "protoc-gen-natsrpc"


def natsrpc_include() -> Path:
    """The directory that holds the installed ``natsrpc/options.proto``."""
    return Path(natsrpc.__file__).resolve().parent.parent


def plugin_path() -> str:
    """This installation's plugin command, so that an unactivated venv works too."""
    suffix = ".exe" if sys.platform == "win32" else ""
    for directory in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(directory) / f"{PLUGIN}{suffix}"
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(PLUGIN)
    if found is None:
        raise CliError(f"{PLUGIN} not found beside {sys.executable} nor on PATH")
    return found


def protoc_arguments(
    files_and_flags: tuple[str, ...],
    includes: tuple[str, ...],
    out: str,
    python_out: str | None,
    pyi_out: str | None,
    natsrpc_out: str | None,
    natsrpc_opt: str | None,
    well_known_types: str,
) -> list[str]:
    """protoc's command line: the user's include paths first, then natsrpc's and the WKTs'."""
    outputs = {
        "python_out": python_out or out,
        "pyi_out": pyi_out or out,
        "natsrpc_out": natsrpc_out or out,
    }
    for directory in outputs.values():
        Path(directory).mkdir(parents=True, exist_ok=True)
    arguments = ["protoc", *(f"-I{path}" for path in includes or (".",))]
    arguments += [f"-I{natsrpc_include()}", f"-I{well_known_types}"]
    arguments.append(f"--plugin={PLUGIN}={plugin_path()}")
    arguments += [f"--{name}={directory}" for name, directory in outputs.items()]
    if natsrpc_opt:
        arguments.append(f"--natsrpc_opt={natsrpc_opt}")
    return [*arguments, *files_and_flags]


@click.command(
    "generate",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": True},
)
@click.argument("files_and_flags", nargs=-1, type=click.UNPROCESSED, metavar="FILE.proto...")
@click.option(
    "-I",
    "--proto_path",
    "includes",
    multiple=True,
    metavar="DIR",
    help="Where imports are found (repeatable) [default: .]; natsrpc/options.proto and "
    "the well-known types are always found.",
)
@click.option(
    "-o",
    "--out",
    default=".",
    show_default=True,
    metavar="DIR",
    help="Output directory of every generated file.",
)
@click.option("--python_out", metavar="DIR", help="Where _pb2.py goes [default: --out].")
@click.option("--pyi_out", metavar="DIR", help="Where _pb2.pyi goes [default: --out].")
@click.option("--natsrpc_out", metavar="DIR", help="Where _natsrpc.py goes [default: --out].")
@click.option(
    "--natsrpc_opt",
    metavar="KEY=VALUE,...",
    help="Plugin options: imports=relative, asyncapi=true (docs/generated-code.md).",
)
def generate_command(
    files_and_flags: tuple[str, ...],
    includes: tuple[str, ...],
    out: str,
    python_out: str | None,
    pyi_out: str | None,
    natsrpc_out: str | None,
    natsrpc_opt: str | None,
) -> None:
    """Generate _pb2.py, _pb2.pyi and _natsrpc.py for each FILE.proto.

    It runs protoc from grpcio-tools (pip install "natsrpc[cli]") with this
    installation's protoc-gen-natsrpc, and with natsrpc/options.proto and the
    well-known types (google/protobuf/*.proto) on the include path. Other
    protoc flags (--descriptor_set_out=..., --grpc_python_out=...) pass
    through as given.
    """  # fmt: skip
    if not any(argument.endswith(".proto") for argument in files_and_flags):
        raise click.UsageError("name at least one FILE.proto")
    try:
        from grpc_tools import protoc  # type: ignore[import-untyped]
    except ImportError:
        raise CliError('natsrpc generate needs grpcio-tools: pip install "natsrpc[cli]"') from None
    well_known_types = resources.files("grpc_tools") / "_proto"
    arguments = protoc_arguments(
        files_and_flags, includes, out, python_out, pyi_out, natsrpc_out, natsrpc_opt,
        str(well_known_types),
    )  # fmt: skip
    status = protoc.main(arguments)
    if status != 0:
        # protoc has printed its own message about the file and line.
        sys.exit(status)
