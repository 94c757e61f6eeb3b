"""natsrpc over secured NATS: TLS, NKEYs and JWT credentials."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import ssl
import time
from pathlib import Path
from typing import Any

import nats
import pytest
from security_support import open_connection, round_trip

import natsrpc
from natsrpc.testing import NatsServer, TlsFiles, make_tls_files

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
    tls_server: NatsServer, tls_files: TlsFiles, echo_service: Any, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    url = f"tls://127.0.0.1:{tls_server.port}"
    server_nc = await open_connection(url, tls=_tls_context(tls_files))
    client_nc = await open_connection(url, tls=_tls_context(tls_files))
    try:
        await round_trip(server_nc, client_nc, echo_service, echo_natsrpc, echo_pb2)
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
        nc = await open_connection(f"nats://127.0.0.1:{tls_server.port}", tls=tls)
        # A server may only reject the client certificate after the handshake.
        await nc.flush(timeout=5)


# --- NKEYs and JWT credentials -------------------------------------------------------


def _nkeys() -> Any:
    return pytest.importorskip("nkeys", reason="NKEY and .creds tests need the nkeys package")


def _keypair(prefix_name: str) -> Any:
    nkeys = _nkeys()
    prefix = getattr(nkeys, f"PREFIX_BYTE_{prefix_name}")
    return nkeys.from_seed(bytearray(nkeys.encode_seed(os.urandom(32), prefix)))


async def test_nkey_authentication(echo_service: Any, echo_natsrpc: Any, echo_pb2: Any) -> None:
    user = _keypair("USER")
    stranger = _keypair("USER")
    config = f'authorization {{ users: [{{nkey: "{user.public_key.decode()}"}}] }}\n'
    with NatsServer(config=config) as server:
        seed = user.seed.decode()
        server_nc = await open_connection(server.url, nkeys_seed_str=seed)
        client_nc = await open_connection(server.url, nkeys_seed_str=seed)
        try:
            await round_trip(server_nc, client_nc, echo_service, echo_natsrpc, echo_pb2)
        finally:
            await server_nc.close()
            await client_nc.close()
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await open_connection(server.url, nkeys_seed_str=stranger.seed.decode())


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
    tmp_path: Path, echo_service: Any, echo_natsrpc: Any, echo_pb2: Any
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
        server_nc = await open_connection(server.url, user_credentials=str(service_creds))
        client_nc = await open_connection(server.url, user_credentials=str(client_creds))
        try:
            await round_trip(server_nc, client_nc, echo_service, echo_natsrpc, echo_pb2)
            # The JWT's permissions are enforced like configured ones.
            with pytest.raises(natsrpc.RpcError) as info:
                await echo_natsrpc.EchoClient(client_nc, timeout=10).peek(echo_pb2.EchoRequest())
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
            await open_connection(server.url, user_credentials=str(stranger))
