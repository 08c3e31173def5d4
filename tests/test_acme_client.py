"""The built-in ACME client, end to end: the real ``stepui`` command against the real Pebble
(and stepui's own server), with its own responders on loopback and names resolved by the test
DNS server."""

from __future__ import annotations

import json
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from dns import message as dns_message
from dns import query as dns_query

from stepui.acme_client.errors import AcmeError
from stepui.acme_client.flow import cert_id
from stepui.commands.fetch import verify_chain
from stepui.pki.inspect import load_certificates
from tests.pebble import EAB_HMAC, EAB_KID, Pebble
from tests.support.cli import REPO, ok, refused, stepui
from tests.support.dns_server import DNSServer

NAMES = ("www.test", "api.test", "alpn.test", "dns.test", "nonce.test", "eab.test")


@pytest.fixture(scope="module")
def dns() -> Iterator[DNSServer]:
    with DNSServer(zones=("test.",)) as server:
        for name in NAMES:
            server.add_a(name, "127.0.0.1")
        yield server


def _pebble(tmp: Path, dns: DNSServer, **kwargs: object) -> Iterator[Pebble]:
    pebble = Pebble(tmp, dns.port, **kwargs).start()  # type: ignore[arg-type]
    try:
        yield pebble
    finally:
        pebble.stop()


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory, dns: DNSServer) -> Iterator[Pebble]:
    yield from _pebble(tmp_path_factory.mktemp("pebble"), dns)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def acme_issue(home: Path, pebble: Pebble, name: str, *args: str, **kwargs: object):
    return stepui(
        home,
        "ca",
        "issue",
        name,
        "--acme",
        pebble.url,
        "--ca-bundle",
        str(pebble.ca_bundle),
        "--bind",
        "127.0.0.1",
        "--out",
        str(home.parent / "out"),
        *args,
        **kwargs,  # type: ignore[arg-type]
    )


def chain_of(path: Path) -> list[x509.Certificate]:
    return load_certificates(path.read_bytes())


def assert_issued_by_pebble(pebble: Pebble, path: Path, name: str) -> x509.Certificate:
    chain = chain_of(path)
    roots = load_certificates(pebble.roots_pem())
    verify_chain(chain, roots, name, chain[0].not_valid_before_utc)
    return chain[0]


def test_http01_issues_saves_account_once_and_records_managed(home: Path, pebble: Pebble) -> None:
    ok(
        acme_issue(
            home, pebble, "www", "--san", "DNS:www.test", "--http-port", str(pebble.http_port)
        )
    )
    out = home.parent / "out"
    leaf = assert_issued_by_pebble(pebble, out / "www.crt", "www.test")
    assert stat.S_IMODE((out / "www.key").stat().st_mode) == 0o600
    accounts = list((home / "secrets" / "acme").glob("*.json"))
    assert len(accounts) == 1
    assert stat.S_IMODE(accounts[0].stat().st_mode) == 0o600
    account = json.loads(accounts[0].read_text())
    assert account["directory"] == pebble.url and account["account"]

    ok(
        acme_issue(
            home, pebble, "api", "--san", "DNS:api.test", "--http-port", str(pebble.http_port)
        )
    )
    assert json.loads(accounts[0].read_text()) == account  # the same account, not a new one
    assert_issued_by_pebble(pebble, out / "api.crt", "api.test")

    listed = ok(stepui(home, "cert", "list", "--json"))  # ACME certs are not this CA's
    assert leaf.serial_number not in [int(r["serial"], 16) for r in json.loads(listed or "[]")]


def test_tls_alpn01(home: Path, pebble: Pebble) -> None:
    ok(
        acme_issue(
            home,
            pebble,
            "alpn",
            "--san",
            "DNS:alpn.test",
            "--tls-alpn",
            "--tls-port",
            str(pebble.tls_port),
        )
    )
    assert_issued_by_pebble(pebble, home.parent / "out" / "alpn.crt", "alpn.test")


def test_dns01_with_hook(home: Path, pebble: Pebble, dns: DNSServer) -> None:
    hook = f"{sys.executable} -m tests.support.dns_server --server 127.0.0.1:{dns.port}"
    result = acme_issue(
        home,
        pebble,
        "dns",
        "--san",
        "DNS:dns.test",
        "--dns",
        "--dns-hook",
        hook,
        cwd=REPO,
    )
    ok(result)
    assert_issued_by_pebble(pebble, home.parent / "out" / "dns.crt", "dns.test")
    query = dns_message.make_query("_acme-challenge.dns.test.", "TXT")
    answer = dns_query.udp(query, "127.0.0.1", port=dns.port, timeout=5)
    assert not answer.answer  # the hook's cleanup withdrew the record


def test_failed_validation_is_one_line_with_the_servers_problem(home: Path, pebble: Pebble) -> None:
    result = acme_issue(
        home, pebble, "nowhere", "--san", "DNS:nowhere.test", "--http-port", str(pebble.http_port)
    )
    assert result.returncode == AcmeError.exit_code
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        "stepui: acme: authorization nowhere.test: urn:ietf:params:acme:error:"
    )
    assert not (home.parent / "out" / "nowhere.crt").exists()


def test_bad_nonce_is_retried(tmp_path: Path, dns: DNSServer) -> None:
    (tmp_path / "p").mkdir()
    for pebble in _pebble(tmp_path / "p", dns, env={"PEBBLE_WFE_NONCEREJECT": "40"}):
        home = tmp_path / "home"
        result = acme_issue(
            home, pebble, "nonce", "--san", "DNS:nonce.test", "--http-port", str(pebble.http_port)
        )
        ok(result)
        assert_issued_by_pebble(pebble, tmp_path / "out" / "nonce.crt", "nonce.test")


def test_external_account_binding(tmp_path: Path, dns: DNSServer) -> None:
    (tmp_path / "p").mkdir()
    for pebble in _pebble(tmp_path / "p", dns, eab=True):
        home = tmp_path / "home"
        port = str(pebble.http_port)
        result = acme_issue(home, pebble, "eab", "--san", "DNS:eab.test", "--http-port", port)
        assert result.returncode != 0
        assert "requires External Account Binding" in result.stderr
        assert not list((home / "secrets" / "acme").glob("*.json"))
        ok(
            acme_issue(
                home,
                pebble,
                "eab",
                "--san",
                "DNS:eab.test",
                "--http-port",
                port,
                "--eab-kid",
                EAB_KID,
                "--eab-hmac",
                EAB_HMAC,
            )
        )
        assert_issued_by_pebble(pebble, tmp_path / "out" / "eab.crt", "eab.test")


def test_revoke_through_acme_is_audited(home: Path, pebble: Pebble) -> None:
    ok(
        acme_issue(
            home, pebble, "www", "--san", "DNS:www.test", "--http-port", str(pebble.http_port)
        )
    )
    cert_path = home.parent / "out" / "www.crt"
    serial = format(chain_of(cert_path)[0].serial_number, "x")
    assert pebble.cert_status(serial)["Status"] == "Valid"
    ok(
        stepui(
            home, "ca", "revoke", "--cert", str(cert_path), "--acme", "--reason", "keyCompromise"
        )
    )
    assert pebble.cert_status(serial)["Status"] == "Revoked"
    assert pebble.cert_status(serial)["Reason"] == 1
    from stepui.authority import Authority

    auth = Authority.open(home)
    try:
        entries = [e for e in auth.audit_log(serial) if e.action == "cert.revoke.acme"]
    finally:
        auth.close()
    assert len(entries) == 1 and entries[0].detail["reason"] == "keyCompromise"


def test_renew_over_acme_keeps_the_key_and_replaces_in_place(home: Path, pebble: Pebble) -> None:
    port = str(pebble.http_port)
    ok(acme_issue(home, pebble, "www", "--san", "DNS:www.test", "--http-port", port))
    cert_path = home.parent / "out" / "www.crt"
    before = chain_of(cert_path)[0]
    key_before = (home.parent / "out" / "www.key").read_bytes()

    skipped = ok(stepui(home, "ca", "renew", "www"))
    assert "not due" in skipped
    assert chain_of(cert_path)[0] == before

    marker = home.parent / "reloaded"
    ok(stepui(home, "ca", "renew", "www", "--force", "--exec", f"echo $STEPUI_RENEWED > {marker}"))
    after = assert_issued_by_pebble(pebble, cert_path, "www.test")
    assert after.serial_number != before.serial_number
    public = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert after.public_key().public_bytes(*public) == before.public_key().public_bytes(*public)
    assert (home.parent / "out" / "www.key").read_bytes() == key_before
    assert marker.read_text().strip() == "www"


def test_fetch_from_a_tls_server_and_a_bad_chain(
    home: Path, pebble: Pebble, tmp_path: Path
) -> None:
    # Pebble's own listener presents a chain from the fixture's TLS CA.
    url = f"https://127.0.0.1:{pebble.port}"
    out = tmp_path / "fetched.pem"
    text = ok(
        stepui(home, "cert", "fetch", url, "--ca-bundle", str(pebble.ca_bundle), "--out", str(out))
    )
    assert "chain verified" in text and "localhost" in text
    assert chain_of(out)[0].subject.rfc4514_string() == "CN=localhost"
    wrong = tmp_path / "wrong.pem"
    wrong.write_bytes(pebble.roots_pem())
    result = stepui(home, "cert", "fetch", url, "--ca-bundle", str(wrong))
    assert result.returncode == 8
    assert result.stderr.startswith("stepui: the chain for 127.0.0.1 does not verify")


def test_ari_cert_id_matches_rfc_9773_example() -> None:
    """RFC 9773 §4.1's example: AKI 69:88:5B:... and serial 00:87:65:43:21."""
    from datetime import UTC, datetime, timedelta

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "ari")])
    aki = bytes.fromhex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4")
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0x87654321)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.AuthorityKeyIdentifier(aki, None, None), critical=False)
        .sign(key, hashes.SHA256())
    )
    assert cert_id(cert) == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"


# -- against stepui's own ACME server ------------------------------------------------------
@pytest.fixture
def own_server(tmp_path: Path, dns: DNSServer):
    from stepui.authority import Authority
    from tests.acme_fixtures import RunningServer
    from tests.pebble import free_port

    authority = Authority.open(tmp_path / "home")
    authority.init("Own", passwordless=True)
    authority.save_config(
        authority.config.with_changes(
            acme_http_port=free_port(),
            acme_tls_port=free_port(),
            acme_resolver=f"127.0.0.1:{dns.port}",
        )
    )
    server = RunningServer(authority).start()
    try:
        yield authority, server
    finally:
        server.stop()
        authority.close()


@pytest.mark.parametrize("challenge", ["http-01", "tls-alpn-01"])
def test_issue_and_renew_from_stepuis_own_server(own_server, challenge: str) -> None:
    authority, server = own_server
    home = authority.home
    root = home / "certs" / "root_ca.crt"
    if challenge == "http-01":
        how = ["--http-port", str(authority.config.acme_http_port)]
    else:
        how = ["--tls-alpn", "--tls-port", str(authority.config.acme_tls_port)]
    common = ["--acme", server.directory, "--ca-bundle", str(root), "--bind", "127.0.0.1"]
    out = home.parent / "out"
    ok(
        stepui(
            home, "ca", "issue", "www", "--san", "DNS:www.test", "--out", str(out), *common, *how
        )
    )
    first = chain_of(out / "www.crt")
    verify_chain(
        first, load_certificates(root.read_bytes()), "www.test", first[0].not_valid_before_utc
    )
    assert authority.certificate(format(first[0].serial_number, "x")).status == "valid"

    ok(stepui(home, "ca", "renew", "www", "--force"))
    renewed = chain_of(out / "www.crt")[0]
    assert renewed.serial_number != first[0].serial_number
    assert renewed.public_key() == first[0].public_key()


def own_issue(authority, server, name: str, *args: str, port: int | None = None):
    """``ca issue NAME --acme <stepui's own server>`` over http-01 on loopback."""
    home = authority.home
    return stepui(
        home,
        "ca",
        "issue",
        name,
        "--san",
        f"DNS:{name}.test",
        "--acme",
        server.directory,
        "--ca-bundle",
        str(home / "certs" / "root_ca.crt"),
        "--bind",
        "127.0.0.1",
        "--http-port",
        str(port or authority.config.acme_http_port),
        "--out",
        str(home.parent / "out"),
        *args,
    )


def orders_replacing(home: Path, serial: str) -> int:
    import sqlite3

    connection = sqlite3.connect(home / "stepui.db")
    try:
        query = "SELECT count(*) FROM acme_orders WHERE replaces = ?"
        return connection.execute(query, (serial,)).fetchone()[0]
    finally:
        connection.close()


def test_ari_renewal_waits_for_the_window_then_replaces(own_server) -> None:
    """renewalInfo decides: not due while the window is ahead; once the certificate is revoked
    (the server moves the window to now) it is renewed, and the order names what it replaces."""
    authority, server = own_server
    home = authority.home
    ok(own_issue(authority, server, "www"))
    cert_path = home.parent / "out" / "www.crt"
    first = chain_of(cert_path)[0]
    old = format(first.serial_number, "x")

    text = ok(stepui(home, "ca", "renew", "www"))
    assert text.startswith("www: not due until") and "(ARI window " in text
    assert chain_of(cert_path)[0] == first
    assert orders_replacing(home, old) == 0

    authority.revoke(old, "superseded")
    assert ok(stepui(home, "ca", "renew", "www")) == "renewed www\n"
    renewed = chain_of(cert_path)[0]
    new = format(renewed.serial_number, "x")
    assert new != old
    listed = {r["serial"]: r for r in json.loads(ok(stepui(home, "cert", "list", "--json")))}
    assert listed[new]["replaces"] == old
    assert orders_replacing(home, old) == 1
    assert authority.store.managed.get("www").serial == new


def test_renewal_without_renewal_info_uses_the_configured_window(
    home: Path, pebble: Pebble
) -> None:
    import ssl

    import httpx

    trust = ssl.create_default_context(cafile=str(pebble.ca_bundle))
    directory = httpx.get(pebble.url, verify=trust, timeout=30).json()
    assert "renewalInfo" not in directory  # the premise: this Pebble offers no ARI
    port = str(pebble.http_port)
    ok(acme_issue(home, pebble, "api", "--san", "DNS:api.test", "--http-port", port))
    cert_path = home.parent / "out" / "api.crt"
    first = chain_of(cert_path)[0]

    text = ok(stepui(home, "ca", "renew", "api"))
    assert text.startswith("api: not due until") and "(renew-before " in text
    assert chain_of(cert_path)[0] == first
    assert ok(stepui(home, "ca", "renew", "api", "--renew-before", "36500d")) == "renewed api\n"
    renewed = assert_issued_by_pebble(pebble, cert_path, "api.test")
    assert renewed.serial_number != first.serial_number


def test_fetch_from_the_saved_certificate_url(own_server, tmp_path: Path) -> None:
    authority, server = own_server
    home = authority.home
    issued = ok(own_issue(authority, server, "www"))
    url = authority.store.managed.get("www").certificate_url
    assert url and url.startswith(server.base_url)
    assert f"  url:         {url}\n" in issued
    root = home / "certs" / "root_ca.crt"
    out = tmp_path / "fetched.pem"
    text = ok(stepui(home, "cert", "fetch", url, "--ca-bundle", str(root), "--out", str(out)))
    assert "chain verified (2 certificates)" in text and "Subject: www.test" in text
    assert chain_of(out) == chain_of(home.parent / "out" / "www.crt")

    stranger = tmp_path / "stranger.pem"  # a root that did not sign this chain
    other = stranger_root(tmp_path / "other")
    stranger.write_bytes(other)
    result = stepui(home, "cert", "fetch", url, "--ca-bundle", str(stranger))
    assert result.returncode == 8
    assert refused(result, "the chain for www.test does not verify")


def stranger_root(home: Path) -> bytes:
    from stepui.authority import Authority

    other = Authority.open(home)
    try:
        other.init("Stranger", passwordless=True)
        return other.roots_pem()
    finally:
        other.close()


def test_install_from_the_endpoint(own_server, tmp_path: Path) -> None:
    """``cert install NAME --endpoint URL``: the ACME-issued certificate as that server serves
    it, verified, with the key recorded for it."""
    authority, server = own_server
    home = authority.home
    ok(own_issue(authority, server, "www"))
    root = home / "certs" / "root_ca.crt"
    live = tmp_path / "live"
    install = ("cert", "install", "www", "--result", str(live), "--ca-bundle", str(root))
    text = ok(stepui(home, *install, "--endpoint", server.base_url, cwd=tmp_path))
    assert text.startswith("installed www (serial ")
    issued = chain_of(home.parent / "out" / "www.crt")
    assert chain_of(live / "cert.pem") == issued[:1]
    assert chain_of(live / "fullchain.pem") == issued
    assert chain_of(live / "ca.pem") == [*issued[1:], *load_certificates(root.read_bytes())]
    assert (live / "key.pem").read_bytes() == (home.parent / "out" / "www.key").read_bytes()
    assert stat.S_IMODE((live / "key.pem").stat().st_mode) == 0o600

    elsewhere = stepui(home, *install, "--endpoint", "https://127.0.0.1:1", cwd=tmp_path)
    refused(elsewhere, "not from https://127.0.0.1:1")


def test_a_responder_port_in_use_is_one_clear_line(own_server) -> None:
    import socket

    authority, server = own_server
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = own_issue(authority, server, "www", port=port)
    line = refused(result)
    assert line == f"stepui: cannot listen on 127.0.0.1:{port} for http-01: address already in use"
    assert result.returncode == AcmeError.exit_code
    assert not (authority.home.parent / "out" / "www.crt").exists()
