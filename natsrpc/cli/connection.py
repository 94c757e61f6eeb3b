"""Connection options as the nats CLI spells them, nats CLI contexts, and connecting."""

from __future__ import annotations

import functools
import json
import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, TypeVar, cast

import click
from nats.aio.client import Client as NATS

from natsrpc.cli.output import CliError
from natsrpc.transport import dial

DEFAULT_URL = dial.DEFAULT_URL
CONNECT_TIMEOUT = dial.CONNECT_TIMEOUT

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ConnectionOptions:
    """Everything needed to open a NATS connection, plus the deployment's subject prefix."""

    server: str | None = None
    creds: str | None = None
    nkey: str | None = None
    user: str | None = None
    password: str | None = None
    tlscert: str | None = None
    tlskey: str | None = None
    tlsca: str | None = None
    context: str | None = None
    prefix: str = ""
    inbox_prefix: str | None = None

    def resolved(self) -> ConnectionOptions:
        """These options over the named (or selected) nats CLI context, over the defaults."""
        saved = load_context(self.context)
        merged = replace(
            self,
            **{
                f.name: saved[f.name]
                for f in fields(self)
                if getattr(self, f.name) in (None, "") and saved.get(f.name)
            },
        )
        server = merged.server or os.environ.get("NATS_URL") or DEFAULT_URL
        return replace(merged, server=server)

    def subject_prefix(self) -> str:
        """The prefix with its trailing dot, as natsrpc's subject_prefix expects."""
        prefix = self.prefix
        return prefix if not prefix or prefix.endswith(".") else prefix + "."


# The nats CLI's context file keys, mapped onto our option names (ADR-21).
_CONTEXT_KEYS = {
    "url": "server",
    "creds": "creds",
    "nkey": "nkey",
    "user": "user",
    "password": "password",
    "cert": "tlscert",
    "key": "tlskey",
    "ca": "tlsca",
    "inbox_prefix": "inbox_prefix",
}


def context_directory() -> Path:
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "nats"


def load_context(name: str | None) -> dict[str, str]:
    """The saved nats CLI context ``name``, or the selected one when None (empty if none)."""
    directory = context_directory()
    if name is None:
        selected = directory / "context.txt"
        if not selected.is_file():
            return {}
        name = selected.read_text().strip()
        if not name:
            return {}
    path = directory / "context" / f"{name}.json"
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise CliError(f"no nats context named {name!r} (looked for {path})") from None
    except ValueError as error:
        raise CliError(f"nats context {path} is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise CliError(f"nats context {path} is not a JSON object")
    return {
        ours: str(document[theirs])
        for theirs, ours in _CONTEXT_KEYS.items()
        if document.get(theirs) not in (None, "")
    }


def connection_options(command: F) -> F:
    """The shared connection options of every command that talks to NATS."""
    decorators = [
        click.option(
            "-s", "--server", metavar="URL", help="NATS server URLs [default: $NATS_URL, else "
            f"{DEFAULT_URL}]"
        ),
        click.option("--creds", metavar="FILE", help="User credentials file (JWT + seed)."),
        click.option("--nkey", metavar="FILE", help="User NKEY seed file."),
        click.option("--user", metavar="NAME", help="User name or token."),
        click.option("--password", metavar="SECRET", help="Password."),
        click.option("--tlscert", metavar="FILE", help="TLS client certificate."),
        click.option("--tlskey", metavar="FILE", help="TLS client private key."),
        click.option("--tlsca", metavar="FILE", help="TLS certificate authority chain."),
        click.option(
            "--context", "context_name", metavar="NAME",
            help="nats CLI context to read (~/.config/nats/context/NAME.json).",
        ),
        click.option(
            "--prefix", default="", metavar="PREFIX",
            help="Deployment subject prefix the services were started with, e.g. prod.",
        ),
        click.option(
            "--inbox-prefix", metavar="PREFIX",
            help="Inbox prefix for replies, e.g. _INBOX.alice (see `natsrpc permissions`).",
        ),
    ]  # fmt: skip
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


_OPTION_NAMES = {
    "server": "server",
    "creds": "creds",
    "nkey": "nkey",
    "user": "user",
    "password": "password",
    "tlscert": "tlscert",
    "tlskey": "tlskey",
    "tlsca": "tlsca",
    "context_name": "context",
    "prefix": "prefix",
    "inbox_prefix": "inbox_prefix",
}
"""Each connection option's parameter name, and its ``ConnectionOptions`` field."""
_GIVEN_BEFORE = "natsrpc.connection_options"
"""Where the command group keeps the options given before the subcommand (``ctx.meta``)."""


def connection_options_before_subcommand(group: F) -> F:
    """The connection options on the command group too: ``natsrpc -s URL call ...``
    works, as with the nats CLI. An option given after the subcommand wins."""

    @functools.wraps(group)
    def callback(*args: Any, **kwargs: Any) -> Any:
        given = {name: kwargs.pop(name) for name in _OPTION_NAMES}
        click.get_current_context().meta[_GIVEN_BEFORE] = given
        return group(*args, **kwargs)

    return connection_options(cast(F, callback))


def options_from(kwargs: dict[str, Any]) -> ConnectionOptions:
    """Pop the shared connection options out of a command's keyword arguments."""
    context = click.get_current_context(silent=True)
    before: dict[str, Any] = context.meta.get(_GIVEN_BEFORE, {}) if context is not None else {}
    values = {}
    for name, field_name in _OPTION_NAMES.items():
        value = kwargs.pop(name)
        values[field_name] = value if value not in (None, "") else before.get(name, value)
    return ConnectionOptions(**values).resolved()


def connect_kwargs(options: ConnectionOptions) -> dict[str, Any]:
    """Keyword arguments for ``nats.connect`` (also handed to serve's worker processes)."""
    assert options.server is not None, "resolve the options first"
    kwargs: dict[str, Any] = {
        "servers": [s.strip() for s in options.server.split(",") if s.strip()],
        "connect_timeout": CONNECT_TIMEOUT,
        "allow_reconnect": False,
        "max_reconnect_attempts": 0,
    }
    if options.creds:
        kwargs["user_credentials"] = options.creds
    if options.nkey:
        kwargs["nkeys_seed"] = options.nkey
    if options.user and options.password is None:
        kwargs["token"] = options.user
    elif options.user:
        kwargs["user"] = options.user
        kwargs["password"] = options.password
    if options.inbox_prefix:
        kwargs["inbox_prefix"] = options.inbox_prefix
    return kwargs


def tls_context(options: ConnectionOptions) -> ssl.SSLContext | None:
    if not (options.tlsca or options.tlscert):
        return None
    context = ssl.create_default_context(cafile=options.tlsca)
    if options.tlscert:
        context.load_cert_chain(options.tlscert, options.tlskey)
    return context


async def _ignore(error: Exception) -> None:
    pass


async def connect(options: ConnectionOptions, **overrides: Any) -> NATS:
    """Connect, or fail with one clear line (never a traceback, never a retry loop)."""
    kwargs = {**connect_kwargs(options), **overrides}
    if not kwargs["allow_reconnect"]:
        # A one-shot command reports its own failures (PERMISSION_DENIED, ...) as one line.
        kwargs.setdefault("error_cb", _ignore)
    try:
        tls = tls_context(options)
    except (OSError, ssl.SSLError) as error:
        raise CliError(f"cannot load the TLS files: {error}") from None
    if tls is not None:
        kwargs["tls"] = tls
    try:
        return await dial.connect(kwargs.pop("servers"), **kwargs)
    except dial.ConnectError as error:
        raise CliError(str(error)) from None
