"""natsrpc over secured NATS: TLS, passwords, NKEYs, JWT credentials and permissions."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import shutil
import ssl
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS

import natsrpc
from natsrpc import discovery
from natsrpc.testing import NatsServer, TlsFiles, make_tls_files

# Waits that only guard against hangs: generous, the machine may be busy.
PATIENCE = 30.0


class Errors:
    """Records what a connection's error callback was told; pass ``errors.callback``."""

    def __init__(self) -> None:
        self.seen: list[Exception] = []

        async def callback(error: Exception) -> None:
            self.seen.append(error)

        self.callback = callback

    def texts(self) -> list[str]:
        return [str(e) for e in self.seen]


async def _connect(url: str, **options: Any) -> NATS:
    return await nats.connect(url, allow_reconnect=False, connect_timeout=5, **options)


async def _round_trip(server_nc: NATS, client_nc: NATS, echo: Any, stubs: Any, pb: Any) -> None:
    server = natsrpc.Server(server_nc)
    server.add_service(echo.EchoService("secure"))
    async with server:
        reply = await stubs.EchoClient(client_nc, timeout=10).echo(pb.EchoRequest(text="hi"))
    assert (reply.text, reply.server) == ("hi", "secure")


# --- TLS ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make test certificates")
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_server(tls_files: TlsFiles) -> Any:
    config = f"""
tls {{
  cert_file: "{tls_files.server_cert}"
  key_file: "{tls_files.server_key}"
  ca_file: "{tls_files.ca_cert}"
  verify: true
  timeout: 5
}}
"""
    with NatsServer(config=config) as server:
        yield server


def _tls_context(
    files: TlsFiles, *, client_cert: bool = True, trust: bool = True
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(files.ca_cert) if trust else None)
    if client_cert:
        context.load_cert_chain(str(files.client_cert), str(files.client_key))
    return context


async def test_calls_over_mutual_tls(
    tls_server: NatsServer, tls_files: TlsFiles, echo: Any, stubs: Any, pb: Any
) -> None:
    url = f"tls://127.0.0.1:{tls_server.port}"
    server_nc = await _connect(url, tls=_tls_context(tls_files))
    client_nc = await _connect(url, tls=_tls_context(tls_files))
    try:
        await _round_trip(server_nc, client_nc, echo, stubs, pb)
    finally:
        await server_nc.close()
        await client_nc.close()


# TLS 1.3 reports a missing client certificate after the handshake: the client sees the
# server's alert (SSLError) or, when it writes or reads first, the socket the server
# closed (BrokenPipeError, ConnectionResetError: both ConnectionError).
_MISSING_CERTIFICATE = (ssl.SSLError, ConnectionError)


@pytest.mark.parametrize(
    ("options", "refusal", "reason"),
    [
        # nats-py upgrades to TLS when the server requires it, with the system's trust store.
        pytest.param(
            {}, ssl.SSLCertVerificationError, "certificate verify failed", id="plain-text"
        ),
        pytest.param(
            {"client_cert": False},
            _MISSING_CERTIFICATE,
            "certificate required|Broken pipe|Connection reset|Connection lost",
            id="no-client-certificate",
        ),
        pytest.param(
            {"trust": False},
            ssl.SSLCertVerificationError,
            "certificate verify failed",
            id="untrusted-server-certificate",
        ),
    ],
)
async def test_tls_server_refuses_what_is_not_tls_with_a_trusted_client(
    tls_server: NatsServer,
    tls_files: TlsFiles,
    options: dict[str, bool],
    refusal: type[BaseException] | tuple[type[BaseException], ...],
    reason: str,
) -> None:
    # The negative cases: the TLS set-up above really is enforced.
    tls = _tls_context(tls_files, **options) if options else None
    with pytest.raises(refusal, match=reason):
        nc = await _connect(f"nats://127.0.0.1:{tls_server.port}", tls=tls)
        # A server may only reject the client certificate after the handshake.
        await nc.flush(timeout=5)


# --- users, passwords and permissions -------------------------------------------------

PERMISSIONS_CONFIG = """
authorization {
  users: [
    # A natsrpc service: takes requests for its methods and discovery, may only reply.
    {user: svc, password: svc-secret, permissions: {
      subscribe: ["natsrpc_test.Echo.*", "$SRV.>"]
      publish: {deny: ">"}
      allow_responses: true
    }}
    # The same, but it may not reply to anyone.
    {user: mute, password: mute-secret, permissions: {
      subscribe: ["natsrpc_test.Echo.*", "$SRV.>"]
      publish: {deny: ">"}
    }}
    # A client of the Echo method (not Peek), with discovery, getting replies on its inbox.
    {user: cli, password: cli-secret, permissions: {
      publish: ["natsrpc_test.Echo.Echo", "$SRV.>"]
      subscribe: ["_INBOX.>"]
    }}
    # A client that forgot the inbox.
    {user: deaf, password: deaf-secret, permissions: {
      publish: ["natsrpc_test.Echo.>"]
      subscribe: {deny: ">"}
    }}
  ]
}
"""


@pytest.fixture(scope="module")
def secured() -> Any:
    with NatsServer(config=PERMISSIONS_CONFIG) as server:
        yield server


Connect = Callable[..., Any]


@pytest.fixture
async def connect_as(secured: NatsServer) -> AsyncIterator[Connect]:
    opened: list[NATS] = []

    async def connect(user: str, password: str | None = None, **options: Any) -> NATS:
        nc = await _connect(
            secured.url, user=user, password=password or f"{user}-secret", **options
        )
        opened.append(nc)
        return nc

    yield connect
    for nc in opened:
        await nc.close()


@pytest.fixture
async def svc(connect_as: Connect, echo: Any) -> AsyncIterator[natsrpc.Server]:
    server = natsrpc.Server(await connect_as("svc"))
    server.add_service(echo.EchoService("svc"))
    async with server:
        yield server


async def test_user_and_password(
    svc: natsrpc.Server, connect_as: Connect, stubs: Any, pb: Any
) -> None:
    client = stubs.EchoClient(await connect_as("cli"), timeout=10)
    assert (await client.echo(pb.EchoRequest(text="ok"))).text == "ok"


async def test_wrong_password_is_refused(connect_as: Connect) -> None:
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await connect_as("cli", "not-the-password")


async def test_denied_method_fails_at_once_with_permission_denied(
    svc: natsrpc.Server, connect_as: Connect, stubs: Any, pb: Any
) -> None:
    errors = Errors()
    client = stubs.EchoClient(await connect_as("cli", error_cb=errors.callback), timeout=10)
    started = time.monotonic()
    with pytest.raises(natsrpc.RpcError) as info:
        await client.peek(pb.EchoRequest(text="no"))
    elapsed = time.monotonic() - started
    assert info.value.code is natsrpc.StatusCode.PERMISSION_DENIED
    assert "natsrpc_test.Echo.Peek" in info.value.message
    # Well before the 10 s timeout: the server's error, not the deadline.
    assert elapsed < 5
    # The application's own error callback still hears about the violation.
    assert any("permissions violation" in t for t in errors.texts())
    # The connection goes on working for what is allowed, concurrently with denials.
    results = await asyncio.gather(
        *(client.echo(pb.EchoRequest(text=str(i))) for i in range(5)),
        *(client.peek(pb.EchoRequest()) for _ in range(5)),
        return_exceptions=True,
    )
    assert [r.text for r in results[:5]] == [str(i) for i in range(5)]
    assert all(
        isinstance(r, natsrpc.RpcError) and r.code is natsrpc.StatusCode.PERMISSION_DENIED
        for r in results[5:]
    )


async def test_denied_with_a_subject_prefix(connect_as: Connect, stubs: Any, pb: Any) -> None:
    client = stubs.EchoClient(await connect_as("cli"), subject_prefix="other.", timeout=10)
    with pytest.raises(natsrpc.RpcError) as info:
        await client.echo(pb.EchoRequest())
    assert info.value.code is natsrpc.StatusCode.PERMISSION_DENIED
    assert "other.natsrpc_test.Echo.Echo" in info.value.message


async def test_client_without_inbox_permission_is_denied_at_once(
    svc: natsrpc.Server, connect_as: Connect, stubs: Any, pb: Any
) -> None:
    client = stubs.EchoClient(await connect_as("deaf"), timeout=10)
    for _ in range(2):
        # The first call meets the refused subscription; later ones fail before sending.
        started = time.monotonic()
        with pytest.raises(natsrpc.RpcError) as info:
            await client.echo(pb.EchoRequest())
        assert info.value.code is natsrpc.StatusCode.PERMISSION_DENIED
        assert "_INBOX" in info.value.message
        assert time.monotonic() - started < 5


async def test_service_that_may_not_reply_leaves_callers_to_time_out(
    connect_as: Connect, echo: Any, stubs: Any, pb: Any
) -> None:
    """Why a service user needs allow_responses (or publish on _INBOX.>)."""
    errors = Errors()
    server = natsrpc.Server(await connect_as("mute", error_cb=errors.callback))
    server.add_service(echo.EchoService("mute"))
    client = stubs.EchoClient(await connect_as("cli"), timeout=1)
    async with server:
        with pytest.raises(natsrpc.RpcError) as info:
            await client.echo(pb.EchoRequest())
    assert info.value.code is natsrpc.StatusCode.DEADLINE_EXCEEDED
    assert any('permissions violation for publish to "_inbox.' in t for t in errors.texts())


async def test_discovery_with_permissions(svc: natsrpc.Server, connect_as: Connect) -> None:
    found = await discovery.ping(await connect_as("cli"), "natsrpc_test-Echo", expected=1)
    assert [p.id for p in found] == [svc.services[0].id]


async def test_error_callback_chain_survives_many_connections(
    svc: natsrpc.Server, connect_as: Connect, stubs: Any, pb: Any
) -> None:
    # Each connection is watched on its own; a denial on one fails nothing on another.
    first = stubs.EchoClient(await connect_as("cli"), timeout=10)
    second = stubs.EchoClient(await connect_as("cli"), timeout=10)
    slow = asyncio.ensure_future(second.echo(pb.EchoRequest(text="slow", sleep_ms=300)))
    with pytest.raises(natsrpc.RpcError):
        await first.peek(pb.EchoRequest())
    assert (await slow).text == "slow"


# --- NKEYs and JWT credentials -------------------------------------------------------


def _nkeys() -> Any:
    return pytest.importorskip("nkeys", reason="NKEY and .creds tests need the nkeys package")


def _keypair(prefix_name: str) -> Any:
    nkeys = _nkeys()
    prefix = getattr(nkeys, f"PREFIX_BYTE_{prefix_name}")
    return nkeys.from_seed(bytearray(nkeys.encode_seed(os.urandom(32), prefix)))


async def test_nkey_authentication(echo: Any, stubs: Any, pb: Any) -> None:
    user = _keypair("USER")
    stranger = _keypair("USER")
    config = f'authorization {{ users: [{{nkey: "{user.public_key.decode()}"}}] }}\n'
    with NatsServer(config=config) as server:
        seed = user.seed.decode()
        server_nc = await _connect(server.url, nkeys_seed_str=seed)
        client_nc = await _connect(server.url, nkeys_seed_str=seed)
        try:
            await _round_trip(server_nc, client_nc, echo, stubs, pb)
        finally:
            await server_nc.close()
            await client_nc.close()
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await _connect(server.url, nkeys_seed_str=stranger.seed.decode())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _jwt(issuer: Any, subject: str, name: str, nats_claims: dict[str, Any]) -> str:
    """A NATS JWT (v2) as nsc writes it, signed by ``issuer``'s NKEY."""
    claims: dict[str, Any] = {
        "jti": "",
        "iat": int(time.time()),
        "iss": issuer.public_key.decode(),
        "name": name,
        "sub": subject,
        "nats": {**nats_claims, "version": 2},
    }
    digest = hashlib.sha512(json.dumps(claims, sort_keys=True).encode()).digest()
    claims["jti"] = base64.b32encode(digest[:32]).decode().rstrip("=")
    header = _b64(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
    body = _b64(json.dumps(claims).encode())
    signature = _b64(issuer.sign(f"{header}.{body}".encode()))
    return f"{header}.{body}.{signature}"


def _creds(jwt: str, seed: str) -> str:
    return (
        "-----BEGIN NATS USER JWT-----\n"
        f"{jwt}\n"
        "------END NATS USER JWT------\n\n"
        "************************* IMPORTANT *************************\n"
        "NKEY Seed printed below can be used to sign and prove identity.\n\n"
        "-----BEGIN USER NKEY SEED-----\n"
        f"{seed}\n"
        "------END USER NKEY SEED------\n"
    )


NO_LIMITS = {"subs": -1, "data": -1, "payload": -1}


async def test_creds_file_with_operator_and_account_jwts(
    tmp_path: Path, echo: Any, stubs: Any, pb: Any
) -> None:
    operator, account = _keypair("OPERATOR"), _keypair("ACCOUNT")
    operator_pub, account_pub = operator.public_key.decode(), account.public_key.decode()
    operator_jwt = _jwt(operator, operator_pub, "test-operator", {"type": "operator"})
    account_limits = {**NO_LIMITS, "imports": -1, "exports": -1, "wildcards": True, "conn": -1,
                      "leaf": -1}  # fmt: skip
    account_jwt = _jwt(
        operator, account_pub, "test-account", {"type": "account", "limits": account_limits}
    )

    def user_creds(name: str, permissions: dict[str, Any]) -> Path:
        user = _keypair("USER")
        jwt = _jwt(
            account,
            user.public_key.decode(),
            name,
            {"type": "user", **NO_LIMITS, **permissions},
        )
        path = tmp_path / f"{name}.creds"
        path.write_text(_creds(jwt, user.seed.decode()))
        path.chmod(0o600)
        return path

    service_creds = user_creds(
        "svc",
        {
            "sub": {"allow": ["natsrpc_test.Echo.*", "$SRV.>"]},
            "pub": {"deny": [">"]},
            "resp": {"max": 1, "ttl": 0},
        },
    )
    client_creds = user_creds(
        "cli", {"pub": {"allow": ["natsrpc_test.Echo.Echo"]}, "sub": {"allow": ["_INBOX.>"]}}
    )
    config = (
        f"operator: {operator_jwt}\n"
        "resolver: MEMORY\n"
        f"resolver_preload: {{ {account_pub}: {account_jwt} }}\n"
    )
    with NatsServer(config=config) as server:
        server_nc = await _connect(server.url, user_credentials=str(service_creds))
        client_nc = await _connect(server.url, user_credentials=str(client_creds))
        try:
            await _round_trip(server_nc, client_nc, echo, stubs, pb)
            # The JWT's permissions are enforced like configured ones.
            with pytest.raises(natsrpc.RpcError) as info:
                await stubs.EchoClient(client_nc, timeout=10).peek(pb.EchoRequest())
            assert info.value.code is natsrpc.StatusCode.PERMISSION_DENIED
        finally:
            await server_nc.close()
            await client_nc.close()
        # A user signed by some other account is refused.
        stranger = tmp_path / "stranger.creds"
        rogue = _keypair("ACCOUNT")
        user = _keypair("USER")
        jwt = _jwt(rogue, user.public_key.decode(), "rogue", {"type": "user", **NO_LIMITS})
        stranger.write_text(_creds(jwt, user.seed.decode()))
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await _connect(server.url, user_credentials=str(stranger))
