"""Probes an outside tester would send: odd identifiers, JSON and JWS edge cases (deep nesting,
lone surrogates, non-string key members), out-of-range times, bad cursors and serials, broken
CertIDs, and HTTP framing. Each probe must get the right status and problem type (never a 500)
and leave nothing behind; the table complements tests/test_acme_hostile.py.

One server serves the whole module (every probe is a refusal that changes nothing, which each
row checks), so the file stays fast.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import Encoding

from server.jws import load_jwk
from stepui.authority.service import Authority
from stepui.config import Provisioner
from tests.acme_fixtures import AcmeEnv, MovableClock, RunningServer, make_csr
from tests.acme_raw import RawClient, b64, public_jwk
from tests.support.dns_server import DNSServer
from tests.support.responders import HTTP01Responder, TLSALPN01Responder

ERROR = "urn:ietf:params:acme:error:"
OTHER = "other"  # a second provisioner, for cross-directory probes


@dataclass
class Probe:
    """A registered client with a ready order, a fresh (unregistered) client, and an account
    of the second provisioner."""

    env: AcmeEnv
    raw: RawClient
    fresh: RawClient
    other_kid: str
    order: dict[str, Any]
    order_url: str

    @property
    def new_account(self) -> str:
        return self.fresh.directory["newAccount"]

    @property
    def new_order(self) -> str:
        return self.raw.directory["newOrder"]


@pytest.fixture(scope="module")
def probe_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AcmeEnv]:
    """The ``acme_env`` setup, once per module, with a second provisioner."""
    home: Path = tmp_path_factory.mktemp("probes") / "home"
    authority = Authority.open(home, clock=MovableClock())
    authority.init("Test", passwordless=True)
    dns = DNSServer(zones=("test.",)).start()
    http01 = HTTP01Responder().start()
    tls_alpn = TLSALPN01Responder().start()
    dns.add_a("www.test", "127.0.0.1")
    config = authority.config
    authority.save_config(
        config.with_changes(
            acme_http_port=http01.port,
            acme_tls_port=tls_alpn.port,
            acme_resolver=f"127.0.0.1:{dns.port}",
            provisioners={**config.provisioners, OTHER: Provisioner(OTHER)},
        )
    )
    server = RunningServer(authority).start()
    root = home / "certs" / "root_ca.crt"
    env = AcmeEnv(authority, server, dns, http01, tls_alpn, root, authority.clock)
    try:
        yield env
    finally:
        server.stop()
        tls_alpn.stop()
        http01.stop()
        dns.stop()
        authority.close()


def ready_order(env: AcmeEnv, raw: RawClient, name: str = "www.test") -> tuple[dict, str]:
    """A new order for ``name``, validated with http-01 and polled until ready."""
    created = raw.post(raw.directory["newOrder"], {"identifiers": [{"type": "dns", "value": name}]})
    order_url = created.headers["Location"]
    authz = raw.post(created.json()["authorizations"][0]).json()
    challenge = next(c for c in authz["challenges"] if c["type"] == "http-01")
    thumbprint = load_jwk(public_jwk(raw.key)).thumbprint
    env.http01.set_token(challenge["token"], f"{challenge['token']}.{thumbprint}")
    raw.post(challenge["url"], {})
    for _ in range(120):
        body = raw.post(order_url).json()
        if body["status"] == "ready":
            return body, order_url
        time.sleep(0.5)
    raise AssertionError(f"{order_url} never became ready: {body}")


@pytest.fixture(scope="module")
def probe(probe_env: AcmeEnv) -> Iterator[Probe]:
    raw = RawClient(probe_env)
    raw.register()
    order, order_url = ready_order(probe_env, raw)
    other = RawClient(probe_env)
    other.directory = other.http.get(
        probe_env.server.directory.replace("/acme/acme/", f"/acme/{OTHER}/")
    ).json()
    other_kid = other.register()
    other.close()
    fresh = RawClient(probe_env)
    yield Probe(probe_env, raw, fresh, other_kid, order, order_url)
    raw.close()
    fresh.close()


# -- helpers ---------------------------------------------------------------------------------
Case = Callable[[Probe], httpx.Response]


def signed(client: RawClient, to: str, payload: bytes = b"{}", **changes: Any) -> str:
    return json.dumps(client.jws(client.protected(to, **changes), payload))


def to_new_account(payload: bytes = b"{}", **changes: Any) -> Case:
    """A newAccount request from the fresh client, header ``changes`` applied."""
    return lambda p: p.fresh.send(p.new_account, signed(p.fresh, p.new_account, payload, **changes))


def new_account_with(payload: dict[str, Any]) -> Case:
    """newAccount with ``payload`` from a new key (a wrongly created account stays apart)."""

    def case(p: Probe) -> httpx.Response:
        stranger = RawClient(p.env)
        try:
            return stranger.post(p.new_account, payload)
        finally:
            stranger.close()

    return case


def ordering(*identifiers: Any, **fields: Any) -> Case:
    """newOrder for ``identifiers`` (a str is a dns value; a dict is sent as it is)."""
    items = [i if not isinstance(i, str) else {"type": "dns", "value": i} for i in identifiers]
    return lambda p: p.raw.post(p.new_order, {"identifiers": items, **fields})


def order_with(payload: dict[str, Any]) -> Case:
    return lambda p: p.raw.post(p.new_order, payload)


def ip(value: str) -> dict[str, str]:
    return {"type": "ip", "value": value}


def _csr_der(*names: str, cn: str | None = None) -> bytes:
    pem, _key = make_csr(*names, cn=cn)
    return x509.load_pem_x509_csr(pem).public_bytes(serialization.Encoding.DER)


def finalizing(csr: Callable[[], Any]) -> Case:
    return lambda p: p.raw.post(p.order["finalize"], {"csr": csr()})


def renewal_info(cert_id: str) -> Case:
    return lambda p: p.raw.http.get(f"{p.raw.directory['renewalInfo']}/{cert_id}")


def as_get(path: Callable[[Probe], str]) -> Case:
    """POST-as-GET, signed for the exact URL (query included)."""
    return lambda p: p.raw.post(path(p))


def revoking(payload: Callable[[Probe], dict[str, Any]]) -> Case:
    return lambda p: p.raw.post(p.raw.directory["revokeCert"], payload(p))


def _jwk_with(**members: Any) -> Case:
    def case(p: Probe) -> httpx.Response:
        jwk = {**public_jwk(p.fresh.key), **members}
        return p.fresh.send(p.new_account, signed(p.fresh, p.new_account, jwk=jwk))

    return case


def _eab(protected: dict[str, Any]) -> Case:
    def case(p: Probe) -> httpx.Response:
        binding = {
            "protected": b64(json.dumps({"url": p.new_account, **protected}).encode()),
            "payload": b64(json.dumps(public_jwk(p.fresh.key)).encode()),
            "signature": b64(b"\0" * 32),
        }
        return p.fresh.post(p.new_account, {"externalAccountBinding": binding})

    return case


def _key_change(payload: bytes | None = None, **header: Any) -> Case:
    """keyChange whose inner JWS (signed by a new key) has header ``changes`` or ``payload``."""

    def case(p: Probe) -> httpx.Response:
        url = p.raw.directory["keyChange"]
        new = RawClient(p.env)
        try:
            protected = {"alg": new.alg, "jwk": public_jwk(new.key), "url": url, **header}
            body = {"account": p.raw.kid, "oldKey": public_jwk(p.raw.key)}
            inner = new.jws(protected, payload or json.dumps(body).encode())
        finally:
            new.close()
        return p.raw.post(url, inner)

    return case


def _garbage_certificate(_: Probe) -> dict[str, Any]:
    return {"certificate": b64(b"\x30\x03\x02\x01\x01")}


def _reason(reason: Any) -> Callable[[Probe], dict[str, Any]]:
    def payload(p: Probe) -> dict[str, Any]:
        root = x509.load_pem_x509_certificate(p.env.root.read_bytes())
        return {"certificate": b64(root.public_bytes(serialization.Encoding.DER)), "reason": reason}

    return payload


LONG = ".".join(["a" * 63] * 4) + ".test"  # 260 characters
SURROGATE = "\ud800"  # json.dumps escapes it; the server decodes a lone surrogate

PROBES: list[tuple[str, Case, int, str]] = [
    # -- JSON and JWS ----------------------------------------------------------------------
    ("deeply nested body", lambda p: p.fresh.send(p.new_account, "[" * 20_000), 400, "malformed"),
    ("deeply nested payload", to_new_account(b"[" * 20_000), 400, "malformed"),
    ("NaN in payload", to_new_account(b'{"contact": NaN}'), 400, "malformed"),
    ("nonce a lone surrogate", to_new_account(nonce=SURROGATE), 400, "malformed"),
    ("nonce not base64url", to_new_account(nonce="n0nce!*"), 400, "badNonce"),
    # UTF-8 bytes of a surrogate: Python's json decodes bytes with surrogatepass
    (
        "payload with raw surrogate bytes",
        to_new_account(b'{"x": "\xed\xa0\x80"}'),
        400,
        "malformed",
    ),
    ("nonce not a string", to_new_account(nonce=12345), 400, "badNonce"),
    (
        "kid with a lone surrogate",
        lambda p: p.raw.post(p.order_url, kid=p.raw.kid + SURROGATE),
        400,
        "malformed",
    ),
    (
        "kid of another provisioner's account",
        lambda p: p.raw.post(p.order_url, kid=p.other_kid),
        400,
        "accountDoesNotExist",
    ),
    (
        "kid not a URL of ours",
        lambda p: p.raw.post(p.order_url, kid="https://ca.example/acme/acme/account/1"),
        400,
        "accountDoesNotExist",
    ),
    (
        "url with a trailing slash",
        lambda p: p.raw.send(p.order_url, signed(p.raw, p.order_url + "/", b"")),
        403,
        "unauthorized",
    ),
    (
        "url with another port",
        lambda p: p.raw.send(
            p.order_url, signed(p.raw, p.order_url.replace("127.0.0.1:", "127.0.0.1:1"), b"")
        ),
        403,
        "unauthorized",
    ),
    (
        "url with another scheme",
        lambda p: p.raw.send(
            p.order_url, signed(p.raw, p.order_url.replace("https:", "http:"), b"")
        ),
        403,
        "unauthorized",
    ),
    ("url not a string", to_new_account(url=["x"]), 400, "malformed"),
    ("alg a list", to_new_account(alg=["ES256"]), 400, "badSignatureAlgorithm"),
    (
        "alg HS256 with an oct jwk",
        to_new_account(alg="HS256", jwk={"kty": "oct", "k": "AA"}),
        400,
        "badSignatureAlgorithm",
    ),
    ("oct jwk", _jwk_with(kty="oct", k="AAAA"), 400, "badPublicKey"),
    ("EC jwk with x a number", _jwk_with(x=12345), 400, "badPublicKey"),
    ("EC jwk with y a list", _jwk_with(y=["AA"]), 400, "badPublicKey"),
    ("EC jwk point not on the curve", _jwk_with(x="A" * 43, y="A" * 43), 400, "badPublicKey"),
    ("EC jwk of an unknown curve", _jwk_with(crv="P-192"), 400, "badPublicKey"),
    ("jwk a string", to_new_account(jwk="key"), 400, "malformed"),
    (
        "keyChange inner jwk x a number",
        _key_change(jwk={"kty": "EC", "crv": "P-256", "x": 1, "y": 2}),
        400,
        "badPublicKey",
    ),
    ("keyChange inner alg a list", _key_change(alg=["ES256"]), 400, "badSignatureAlgorithm"),
    ("keyChange inner payload nested", _key_change(b"[" * 20_000), 400, "malformed"),
    ("keyChange inner with a nonce", _key_change(nonce="AAAA"), 400, "malformed"),
    (
        "keyChange inner url another",
        _key_change(url="https://127.0.0.1/key-change"),
        400,
        "malformed",
    ),
    # -- newAccount ------------------------------------------------------------------------
    (
        "onlyReturnExisting a string",
        new_account_with({"onlyReturnExisting": "true"}),
        400,
        "malformed",
    ),
    (
        "termsOfServiceAgreed a string",
        new_account_with({"termsOfServiceAgreed": "yes"}),
        400,
        "malformed",
    ),
    ("contact a string", new_account_with({"contact": "mailto:a@b.test"}), 400, "malformed"),
    ("contact not mailto", new_account_with({"contact": ["tel:+1555"]}), 400, "unsupportedContact"),
    (
        "contact two addresses",
        new_account_with({"contact": ["mailto:a@b.test,c@d.test"]}),
        400,
        "invalidContact",
    ),
    (
        "contact with a newline",
        new_account_with({"contact": ["mailto:a@b\n.test"]}),
        400,
        "invalidContact",
    ),
    ("EAB alg a list", _eab({"alg": ["HS256"], "kid": "k"}), 400, "badSignatureAlgorithm"),
    ("EAB kid a lone surrogate", _eab({"alg": "HS256", "kid": SURROGATE}), 400, "malformed"),
    # -- newOrder identifiers --------------------------------------------------------------
    ("label with a newline", ordering("a\n.test"), 400, "rejectedIdentifier"),
    ("U-label", ordering("bücher.test"), 400, "rejectedIdentifier"),
    ("U-label IDNA 2003 maps to another name", ordering("faß.test"), 400, "rejectedIdentifier"),
    ("A-label invalid punycode", ordering("xn--a.test"), 400, "rejectedIdentifier"),
    ("label of 64 characters", ordering("a" * 64 + ".test"), 400, "rejectedIdentifier"),
    ("name over 253 characters", ordering(LONG), 400, "rejectedIdentifier"),
    ("bare wildcard", ordering("*"), 400, "rejectedIdentifier"),
    ("double wildcard", ordering("*.*.x.test"), 400, "rejectedIdentifier"),
    ("partial wildcard", ordering("a*.test"), 400, "rejectedIdentifier"),
    ("wildcard of an IP", ordering("*.127.0.0.1"), 400, "rejectedIdentifier"),
    ("IP as dns", ordering("127.0.0.1"), 400, "rejectedIdentifier"),
    ("short IPv4 as dns", ordering("127.1"), 400, "rejectedIdentifier"),
    ("octal IPv4", ordering(ip("0127.0.0.1")), 400, "rejectedIdentifier"),
    ("short IPv4", ordering(ip("127.1")), 400, "rejectedIdentifier"),
    ("IPv6 in upper case", ordering(ip("2001:DB8::1")), 400, "rejectedIdentifier"),
    ("IPv6 not RFC 5952", ordering(ip("2001:db8:0:0::1")), 400, "rejectedIdentifier"),
    ("IPv6 in brackets", ordering(ip("[::1]")), 400, "rejectedIdentifier"),
    ("IPv4-mapped IPv6", ordering(ip("::ffff:127.0.0.1")), 400, "rejectedIdentifier"),
    (
        "IPv4-mapped IPv6 as Python 3.11 writes it",
        ordering(ip("::ffff:7f00:1")),
        400,
        "rejectedIdentifier",
    ),
    ("IPv6 with a zone", ordering(ip("fe80::1%eth0")), 400, "rejectedIdentifier"),
    ("dns name as ip", ordering(ip("www.test")), 400, "rejectedIdentifier"),
    (
        "unknown identifier type",
        ordering({"type": "email", "value": "a@b.test"}),
        400,
        "unsupportedIdentifier",
    ),
    ("identifier value a number", ordering({"type": "dns", "value": 1}), 400, "malformed"),
    ("identifier a string", ordering("www.test", {"x": 1}), 400, "malformed"),
    (
        "identifiers an object",
        order_with({"identifiers": {"type": "dns", "value": "www.test"}}),
        400,
        "malformed",
    ),
    ("no identifiers", order_with({}), 400, "malformed"),
    ("101 identifiers", ordering(*[f"n{i}.test" for i in range(101)]), 400, "rejectedIdentifier"),
    ("two refusals", ordering("a*.test", {"type": "email", "value": "a@b.test"}), 400, "compound"),
    # -- newOrder fields -------------------------------------------------------------------
    (
        "notBefore out of range",
        ordering("www.test", notBefore="0001-01-01T00:00:00+01:00"),
        400,
        "malformed",
    ),
    (
        "notAfter out of range",
        ordering("www.test", notAfter="9999-12-31T23:00:00-05:00"),
        400,
        "malformed",
    ),
    (
        "notBefore without an offset",
        ordering("www.test", notBefore="2030-01-01T00:00:00"),
        400,
        "malformed",
    ),
    ("notBefore a number", ordering("www.test", notBefore=1_700_000_000), 400, "malformed"),
    ("notBefore in 2000", ordering("www.test", notBefore="2000-01-01T00:00:00Z"), 400, "malformed"),
    (
        "notAfter in the past",
        ordering("www.test", notAfter="2001-01-01T00:00:00Z"),
        400,
        "malformed",
    ),
    ("profile a number", ordering("www.test", profile=1), 400, "invalidProfile"),
    ("profile unknown", ordering("www.test", profile="shortlived"), 400, "invalidProfile"),
    ("replaces garbage", ordering("www.test", replaces="garbage"), 400, "malformed"),
    ("replaces padded", ordering("www.test", replaces="AAAA.AQ=="), 400, "malformed"),
    ("replaces a number", ordering("www.test", replaces=5), 400, "malformed"),
    ("replaces unknown", ordering("www.test", replaces="AAAA.AQ"), 400, "malformed"),
    # -- finalize --------------------------------------------------------------------------
    (
        "CSR padded base64url",
        finalizing(lambda: b64(_csr_der("www.test")) + "=" * 4),
        400,
        "badCSR",
    ),
    (
        "CSR standard base64",
        finalizing(lambda: b64(_csr_der("www.test")).replace("-", "+").replace("_", "/")),
        400,
        "badCSR",
    ),
    ("CSR a number", finalizing(lambda: 5), 400, "badCSR"),
    ("CSR empty", finalizing(lambda: ""), 400, "badCSR"),
    (
        "CSR with an IP for a dns identifier",
        finalizing(lambda: b64(_csr_der("127.0.0.1"))),
        400,
        "badCSR",
    ),
    ("CSR with no names", finalizing(lambda: b64(_csr_der())), 400, "badCSR"),
    (
        "CSR with the name only as CN",
        finalizing(lambda: b64(_csr_der(cn="www.test"))),
        400,
        "badCSR",
    ),
    # -- account orders, certificates, renewalInfo, revocation -----------------------------
    (
        "orders cursor a superscript digit",
        as_get(lambda p: p.raw.kid + "/orders?cursor=%C2%B2"),
        400,
        "malformed",
    ),
    (
        "orders cursor too large",
        as_get(lambda p: p.raw.kid + "/orders?cursor=" + "9" * 30),
        400,
        "malformed",
    ),
    ("orders cursor negative", as_get(lambda p: p.raw.kid + "/orders?cursor=-1"), 400, "malformed"),
    (
        "certificate serial a superscript digit",
        as_get(lambda p: p.raw.directory["newOrder"].replace("new-order", "certificate/%C2%B2")),
        404,
        "malformed",
    ),
    (
        "certificate serial of 5000 digits",
        as_get(
            lambda p: p.raw.directory["newOrder"].replace("new-order", "certificate/" + "1" * 5000)
        ),
        404,
        "malformed",
    ),
    ("renewalInfo without a dot", renewal_info("AAAA"), 400, "malformed"),
    ("renewalInfo padded", renewal_info("AAA=.AQ"), 400, "malformed"),
    ("renewalInfo serial with a needless zero", renewal_info("AAAA.AAE"), 400, "malformed"),
    ("renewalInfo negative serial", renewal_info("AAAA.gA"), 400, "malformed"),
    ("renewalInfo two dots", renewal_info("AAAA.AQ.AQ"), 400, "malformed"),
    ("renewalInfo unknown AKI", renewal_info("AAAA.AQ"), 404, "malformed"),
    ("revoke reason 7", revoking(_reason(7)), 400, "badRevocationReason"),
    ("revoke reason a string", revoking(_reason("1")), 400, "badRevocationReason"),
    ("revoke reason huge", revoking(_reason(10**400)), 400, "badRevocationReason"),
    ("revoke reason a float", revoking(_reason(1.0)), 400, "badRevocationReason"),
    ("revoke reason true", revoking(_reason(True)), 400, "badRevocationReason"),
    ("revoke garbage certificate", revoking(_garbage_certificate), 400, "malformed"),
    (
        "revoke certificate padded",
        revoking(lambda p: {"certificate": "AAAA===="}),
        400,
        "malformed",
    ),
    ("revoke the root", revoking(_reason(0)), 404, "malformed"),
    # -- HTTP framing ----------------------------------------------------------------------
    ("empty body", lambda p: p.fresh.send(p.new_account, b""), 400, "malformed"),
    (
        "chunked body over the limit",
        lambda p: p.fresh.http.post(
            p.new_account,
            content=iter([b"{" + b" " * 40_000, b" " * 40_000 + b"}"]),
            headers={"Content-Type": "application/jose+json"},
        ),
        413,
        "malformed",
    ),
    (
        "double slash in the path",
        lambda p: p.raw.post(p.order_url.replace("/order/", "//order/")),
        404,
        "malformed",
    ),
    ("HEAD on an order", lambda p: p.raw.http.head(p.order_url), 405, ""),
    ("GET on newAccount", lambda p: p.raw.http.get(p.new_account), 405, "malformed"),
    ("PUT on newOrder", lambda p: p.raw.http.put(p.new_order, content=b"{}"), 405, "malformed"),
]


@pytest.mark.parametrize(
    ("case", "status", "kind"), [p[1:] for p in PROBES], ids=[p[0] for p in PROBES]
)
def test_probe(probe_env: AcmeEnv, probe: Probe, case: Case, status: int, kind: str) -> None:
    before = probe_env.rows()
    response = case(probe)
    assert response.status_code == status, response.text
    assert response.headers.get("Replay-Nonce")
    assert '>;rel="index"' in response.headers["Link"]
    if kind:  # a HEAD answer has no body to read
        assert response.headers["Content-Type"] == "application/problem+json"
        problem = response.json()
        assert problem["type"] == ERROR + kind, problem
        assert problem["status"] == status
        assert problem["detail"]
    assert probe_env.rows() == before
    assert probe.raw.post(probe.order_url).json()["status"] == "ready"


def test_refusals_on_an_issued_certificate_change_nothing(probe_env: AcmeEnv, probe: Probe) -> None:
    raw = probe.raw
    order, order_url = ready_order(probe_env, raw)
    pem, _key = make_csr("www.test")
    der = x509.load_pem_x509_csr(pem).public_bytes(serialization.Encoding.DER)
    done = raw.post(order["finalize"], {"csr": b64(der)})
    assert done.status_code == 200, done.text
    certificate_url = done.json()["certificate"]
    chain = raw.post(certificate_url)
    assert chain.status_code == 200
    leaf = x509.load_pem_x509_certificates(chain.content)[0]
    serial = format(leaf.serial_number, "x")
    before = probe_env.rows()

    again = raw.post(order["finalize"], {"csr": b64(der)})
    assert (again.status_code, again.json()["type"]) == (403, ERROR + "orderNotReady")
    upper = raw.post(certificate_url.replace(serial, serial.upper()))
    assert upper.status_code == 200 and upper.content == chain.content
    revoke = raw.directory["revokeCert"]
    for reason in (7, "1", -1, 11, None):
        refused = raw.post(
            revoke, {"certificate": b64(leaf.public_bytes(Encoding.DER)), "reason": reason}
        )
        assert refused.status_code == 400, refused.text
        assert refused.json()["type"] == ERROR + "badRevocationReason"
    stranger = RawClient(probe_env)
    try:
        stranger.register()
        theirs = stranger.post(revoke, {"certificate": b64(leaf.public_bytes(Encoding.DER))})
        download = stranger.post(certificate_url)
    finally:
        stranger.close()
    assert (theirs.status_code, theirs.json()["type"]) == (403, ERROR + "unauthorized")
    assert (download.status_code, download.json()["type"]) == (403, ERROR + "unauthorized")

    before["acme_accounts"] += 1  # the stranger's own registration
    assert probe_env.rows() == before
    assert probe_env.authority.certificate(serial).status == "valid"
    assert raw.post(order_url).json()["status"] == "valid"


def test_early_refusals_keep_the_connection_usable(probe: Probe) -> None:
    """A POST refused before its body is read (no route, wrong media type) must
    not break the kept-alive connection under the next request (it did, about once in a
    hundred, until the server read every body first)."""
    raw = probe.raw
    body = signed(raw, probe.order_url, b"")
    refused = [
        (probe.order_url.replace("/order/", "//order/"), "application/jose+json", 404),
        (probe.order_url, "application/json", 415),
    ]
    for _ in range(200):
        for url, content_type, status in refused:
            assert raw.send(url, body, content_type).status_code == status
            assert raw.http.get(raw.directory["newNonce"]).status_code == 204
