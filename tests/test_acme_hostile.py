"""Hostile requests: every JWS rule, bad CSRs, other accounts' objects, replayed nonces, big
bodies, wrong content types, and tls-alpn-01 answers that break RFC 8737. Each must get the
right problem type and leave nothing behind in the database."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from server.jws import load_jwk
from tests.acme_fixtures import AcmeEnv, make_csr
from tests.acme_raw import RawClient, b64, public_jwk
from tests.support.responders import TLSALPN01Responder

ERROR = "urn:ietf:params:acme:error:"


@dataclass
class Target:
    """A registered raw client, a fresh (unregistered) one, and a ready order of the first."""

    raw: RawClient
    fresh: RawClient
    order: dict[str, Any]
    order_url: str

    @property
    def new_account(self) -> str:
        return self.fresh.directory["newAccount"]


def wait_for(raw: RawClient, url: str, wanted: str) -> dict[str, Any]:
    for _ in range(120):
        body = raw.post(url).json()
        if body["status"] == wanted:
            return body
        time.sleep(0.5)
    raise AssertionError(f"{url} never became {wanted}: {body}")


@pytest.fixture
def target(acme_env: AcmeEnv):
    raw = RawClient(acme_env)
    raw.register()
    created = raw.post(
        raw.directory["newOrder"], {"identifiers": [{"type": "dns", "value": "www.test"}]}
    )
    order_url = created.headers["Location"]
    authz = raw.post(created.json()["authorizations"][0]).json()
    challenge = next(c for c in authz["challenges"] if c["type"] == "http-01")
    thumbprint = load_jwk(public_jwk(raw.key)).thumbprint
    acme_env.http01.set_token(challenge["token"], f"{challenge['token']}.{thumbprint}")
    raw.post(challenge["url"], {})
    order = wait_for(raw, order_url, "ready")
    fresh = RawClient(acme_env)
    yield Target(raw, fresh, order, order_url)
    raw.close()
    fresh.close()


def signed(client: RawClient, to: str, payload: bytes = b"{}", **changes: Any) -> dict:
    """A JWS for ``to`` with header ``changes`` (a None value drops that member)."""
    return client.jws(client.protected(to, **changes), payload)


def send(client: RawClient, url: str, body: Any) -> httpx.Response:
    return client.send(url, body if isinstance(body, str | bytes) else json.dumps(body))


def _general(t: Target) -> httpx.Response:
    jws = signed(t.fresh, t.new_account)
    body = {
        "payload": jws["payload"],
        "signatures": [{"protected": jws["protected"], "signature": jws["signature"]}],
    }
    return send(t.fresh, t.new_account, body)


def _unprotected_header(t: Target) -> httpx.Response:
    return send(t.fresh, t.new_account, {**signed(t.fresh, t.new_account), "header": {"kid": "x"}})


def _detached(t: Target) -> httpx.Response:
    jws = signed(t.fresh, t.new_account)
    del jws["payload"]
    return send(t.fresh, t.new_account, jws)


def _padded(t: Target) -> httpx.Response:
    jws = signed(t.fresh, t.new_account)
    jws["signature"] += "=" * (-len(jws["signature"]) % 4 or 4)
    return send(t.fresh, t.new_account, jws)


def _bad_signature(t: Target) -> httpx.Response:
    jws = signed(t.fresh, t.new_account)
    flipped = "A" if jws["signature"][5] != "A" else "B"
    jws["signature"] = jws["signature"][:5] + flipped + jws["signature"][6:]
    return send(t.fresh, t.new_account, jws)


def _duplicate_members(t: Target) -> httpx.Response:
    jws = signed(t.fresh, t.new_account)
    text = json.dumps(jws)[:-1] + f', "payload": "{b64(b"{}")}"}}'
    return send(t.fresh, t.new_account, text)


def _with_key(key: Any, alg: str) -> Callable[[Target], httpx.Response]:
    def case(t: Target) -> httpx.Response:
        client = RawClient(t.fresh.env, key=key, alg=alg)
        try:
            return send(client, t.new_account, signed(client, t.new_account))
        finally:
            client.close()

    return case


def _private_jwk(t: Target) -> httpx.Response:
    key = t.fresh.key
    jwk = {**public_jwk(key), "d": b64(key.private_numbers().private_value.to_bytes(32, "big"))}
    return send(t.fresh, t.new_account, signed(t.fresh, t.new_account, jwk=jwk))


def _replayed_nonce(t: Target) -> httpx.Response:
    body = json.dumps(signed(t.raw, t.raw.kid, b""))
    assert send(t.raw, t.raw.kid, body).status_code == 200
    return send(t.raw, t.raw.kid, body)


def _other_account(t: Target) -> httpx.Response:
    t.fresh.register()
    return t.fresh.post(t.order_url)


def _finalize(csr_der: Any) -> Callable[[Target], httpx.Response]:
    def case(t: Target) -> httpx.Response:
        der = csr_der(t) if callable(csr_der) else csr_der
        field = der if isinstance(der, str) else b64(der)
        return t.raw.post(t.order["finalize"], {"csr": field})

    return case


def _csr_der(*names: str, **kwargs: Any) -> Callable[[Target], bytes]:
    def build(_: Target) -> bytes:
        pem, _key = make_csr(*names, **kwargs)
        return x509.load_pem_x509_csr(pem).public_bytes(serialization.Encoding.DER)

    return build


def _tampered_csr(t: Target) -> bytes:
    der = bytearray(_csr_der("www.test")(t))
    der[-5] ^= 0x01  # inside the signature
    return bytes(der)


def _rsa_1024_csr(_: Target) -> bytes:
    key = rsa.generate_private_key(65537, 1024)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("www.test")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.DER)


def _account_key_csr(t: Target) -> bytes:
    return _csr_der("www.test", key=t.raw.key)(t)


HOSTILE: list[tuple[str, Callable[[Target], httpx.Response], str, int]] = [
    ("general serialization", _general, "malformed", 400),
    ("unprotected header", _unprotected_header, "malformed", 400),
    (
        "b64 false",
        lambda t: send(
            t.fresh, t.new_account, signed(t.fresh, t.new_account, b64=False, crit=["b64"])
        ),
        "malformed",
        400,
    ),
    ("detached payload", _detached, "malformed", 400),
    ("padded base64url", _padded, "malformed", 400),
    ("bad signature", _bad_signature, "malformed", 400),
    ("duplicate JSON members", _duplicate_members, "malformed", 400),
    (
        "jwk and kid",
        lambda t: send(t.fresh, t.new_account, signed(t.fresh, t.new_account, kid=t.raw.kid)),
        "malformed",
        400,
    ),
    (
        "neither jwk nor kid",
        lambda t: send(t.fresh, t.new_account, signed(t.fresh, t.new_account, jwk=None)),
        "malformed",
        400,
    ),
    (
        "url of another resource",
        lambda t: send(t.fresh, t.new_account, signed(t.fresh, t.fresh.directory["newOrder"])),
        "unauthorized",
        403,
    ),
    (
        "no url",
        lambda t: send(t.fresh, t.new_account, signed(t.fresh, t.new_account, url=None)),
        "malformed",
        400,
    ),
    (
        "no nonce",
        lambda t: send(t.fresh, t.new_account, signed(t.fresh, t.new_account, nonce=None)),
        "badNonce",
        400,
    ),
    (
        "unknown nonce",
        lambda t: send(
            t.fresh, t.new_account, signed(t.fresh, t.new_account, nonce="AAAAAAAAAAAAAAAAAAAAAA")
        ),
        "badNonce",
        400,
    ),
    ("replayed nonce", _replayed_nonce, "badNonce", 400),
    (
        "alg none",
        lambda t: send(t.fresh, t.new_account, signed(t.fresh, t.new_account, alg="none")),
        "badSignatureAlgorithm",
        400,
    ),
    (
        "alg HS256",
        lambda t: send(t.fresh, t.new_account, signed(t.fresh, t.new_account, alg="HS256")),
        "badSignatureAlgorithm",
        400,
    ),
    (
        "ES256 with a P-384 key",
        _with_key(ec.generate_private_key(ec.SECP384R1()), "ES256"),
        "badSignatureAlgorithm",
        400,
    ),
    (
        "RS256 with a 1024-bit key",
        _with_key(rsa.generate_private_key(65537, 1024), "RS256"),
        "badPublicKey",
        400,
    ),
    ("private key in jwk", _private_jwk, "badPublicKey", 400),
    (
        "wrong content type",
        lambda t: t.fresh.send(
            t.new_account, json.dumps(signed(t.fresh, t.new_account)), "application/json"
        ),
        "malformed",
        415,
    ),
    (
        "oversized body",
        lambda t: t.fresh.send(t.new_account, b"{" + b" " * 60_000 + b"}"),
        "malformed",
        413,
    ),
    ("body not JSON", lambda t: t.fresh.send(t.new_account, b"not json"), "malformed", 400),
    (
        "payload not JSON",
        lambda t: send(t.fresh, t.new_account, signed(t.fresh, t.new_account, b"[1, 2]")),
        "malformed",
        400,
    ),
    (
        "POST-as-GET to newAccount",
        lambda t: send(t.fresh, t.new_account, signed(t.fresh, t.new_account, b"")),
        "malformed",
        400,
    ),
    (
        "jwk where kid is required",
        lambda t: t.raw.post(t.raw.directory["newOrder"], {"identifiers": []}, use_jwk=True),
        "malformed",
        400,
    ),
    (
        "unknown account kid",
        lambda t: t.raw.post(
            t.raw.directory["newOrder"],
            {"identifiers": [{"type": "dns", "value": "x.test"}]},
            kid=t.raw.kid + "x",
        ),
        "accountDoesNotExist",
        400,
    ),
    ("POST-as-GET with a body", lambda t: t.raw.post(t.order_url, {}), "malformed", 400),
    ("GET on an order", lambda t: t.raw.http.get(t.order_url), "malformed", 405),
    ("another account's order", _other_account, "unauthorized", 403),
    ("CSR not base64url", _finalize("***"), "badCSR", 400),
    ("CSR not DER", _finalize(b"garbage"), "badCSR", 400),
    ("CSR with a broken signature", _finalize(_tampered_csr), "badCSR", 400),
    ("CSR with an extra name", _finalize(_csr_der("www.test", "api.test")), "badCSR", 400),
    ("CSR with a foreign CN", _finalize(_csr_der("www.test", cn="api.test")), "badCSR", 400),
    ("CSR with the account key", _finalize(_account_key_csr), "badCSR", 400),
    ("CSR with a 1024-bit RSA key", _finalize(_rsa_1024_csr), "badCSR", 400),
    (
        "identifiers empty",
        lambda t: t.raw.post(t.raw.directory["newOrder"], {"identifiers": []}),
        "malformed",
        400,
    ),
    (
        "IP not canonical",
        lambda t: t.raw.post(
            t.raw.directory["newOrder"], {"identifiers": [{"type": "ip", "value": "127.000.0.1"}]}
        ),
        "rejectedIdentifier",
        400,
    ),
]


@pytest.mark.parametrize(
    ("case", "kind", "status"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE]
)
def test_hostile_request(acme_env: AcmeEnv, target: Target, case, kind: str, status: int) -> None:
    before = acme_env.rows()
    response = case(target)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == ERROR + kind
    assert problem["detail"]
    assert "Traceback" not in response.text
    assert response.headers.get("Replay-Nonce")
    assert '>;rel="index"' in response.headers["Link"]
    if kind == "badSignatureAlgorithm":
        assert "ES256" in problem["algorithms"]
    after = acme_env.rows()
    if case is _other_account:
        after["acme_accounts"] -= 1  # the intruder's own registration
    assert after == before
    assert target.raw.post(target.order_url).json()["status"] == "ready"


@pytest.mark.parametrize(
    ("responder_options", "certificate_options", "kind"),
    [
        ({}, {"critical": False}, "unauthorized"),
        ({}, {"extra_sans": ("api.test",)}, "unauthorized"),
        ({"max_version": ssl.TLSVersion.TLSv1_1}, {}, "tls"),
        ({"alpn": False}, {}, "tls"),
        ({}, {"digest": b"\0" * 32}, "incorrectResponse"),
    ],
    ids=["non-critical extension", "two SANs", "TLS 1.1", "no ALPN", "wrong digest"],
)
def test_hostile_tls_alpn_answers(
    acme_env: AcmeEnv, responder_options: dict, certificate_options: dict, kind: str
) -> None:
    responder = TLSALPN01Responder(**responder_options).start()
    authority = acme_env.authority
    authority.save_config(authority.config.with_changes(acme_tls_port=responder.port))
    raw = RawClient(acme_env)
    try:
        raw.register()
        created = raw.post(
            raw.directory["newOrder"], {"identifiers": [{"type": "dns", "value": "www.test"}]}
        )
        authz_url = created.json()["authorizations"][0]
        authz = raw.post(authz_url).json()
        challenge = next(c for c in authz["challenges"] if c["type"] == "tls-alpn-01")
        thumbprint = load_jwk(public_jwk(raw.key)).thumbprint
        responder.set_certificate(
            "dns", "www.test", f"{challenge['token']}.{thumbprint}", **certificate_options
        )
        raw.post(challenge["url"], {})
        result = wait_for(raw, authz_url, "invalid")
        failed = next(c for c in result["challenges"] if c["type"] == "tls-alpn-01")
        assert failed["status"] == "invalid"
        assert failed["error"]["type"] == ERROR + kind
        assert raw.post(created.headers["Location"]).json()["status"] == "invalid"
        assert acme_env.authority.count() == 1  # only the server's own TLS certificate
    finally:
        raw.close()
        responder.stop()
