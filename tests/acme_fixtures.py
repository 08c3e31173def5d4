"""Fixtures for the ACME server tests: a CA in tmp_path, the real server (``server.serve``) on a
free loopback port in a thread, the test DNS server and challenge responders, and certbot's
``acme`` client trusting only the CA's root.

Identifiers under ``.test`` resolve through the test DNS server to 127.0.0.1, where the
responders listen; the server is configured to validate on the responders' ports.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import josepy
import pytest
from acme import client, messages
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from server.serve import directory_url, serve
from stepui.authority.service import Authority
from tests.support.dns_server import DNSServer
from tests.support.responders import HTTP01Responder, TLSALPN01Responder

START_TIMEOUT = 60.0
NAMES = ("www.test", "api.test", "example.test", "a.example.test", "b.example.test")


class MovableClock:
    """Real time plus an offset that tests move forward (expiry without sleeping)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


class RunningServer:
    """``server.serve.serve`` in its own thread and event loop, as ``stepui --serve`` runs it."""

    def __init__(self, authority: Authority, *, insecure_http: bool = False) -> None:
        self.authority = authority
        self.insecure_http = insecure_http
        self.base_url = ""
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="acme-server", daemon=True)

    @property
    def directory(self) -> str:
        return directory_url(self.authority, base=self.base_url)

    def _on_ready(self, base_url: str) -> None:
        self.base_url = base_url
        self._ready.set()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # surfaced by start()
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        await serve(
            self.authority,
            address="127.0.0.1:0",
            insecure_http=self.insecure_http,
            shutdown_trigger=self._stop.wait,
            ready=self._on_ready,
        )

    def start(self) -> RunningServer:
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT) or self._error is not None:
            raise RuntimeError(f"the ACME server did not start: {self._error!r}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(START_TIMEOUT)


@dataclass
class AcmeEnv:
    """Everything a test needs to drive the server."""

    authority: Authority
    server: RunningServer
    dns: DNSServer
    http01: HTTP01Responder
    tls_alpn: TLSALPN01Responder
    root: Path
    clock: MovableClock
    clients: list[client.ClientNetwork] = field(default_factory=list)

    def client(
        self, key: josepy.JWK | None = None, alg: josepy.JWASignature = josepy.ES256
    ) -> client.ClientV2:
        key = key or josepy.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
        net = client.ClientNetwork(key, alg=alg, verify_ssl=str(self.root), user_agent="tests")
        # No idle keep-alive connections: serve() would wait out its stop deadline for them
        # at every teardown.
        net.session.headers["Connection"] = "close"
        self.clients.append(net)
        return client.ClientV2(client.ClientV2.get_directory(self.server.directory, net), net)

    def http(self) -> httpx.Client:
        """A plain HTTPS client trusting only the CA's root, for what the acme lib hides."""
        context = ssl.create_default_context(cafile=str(self.root))
        return httpx.Client(base_url=self.server.base_url, verify=context, timeout=30)

    def rows(self) -> dict[str, int]:
        """Row counts of everything a request could persist (nonces aside)."""
        tables = (
            "acme_accounts",
            "acme_orders",
            "acme_authorizations",
            "acme_challenges",
            "certificates",
        )
        db = self.authority.store.db
        return {t: db.query_one(f"SELECT count(*) FROM {t}")[0] for t in tables}

    def register(self, acme: client.ClientV2 | None = None) -> client.ClientV2:
        acme = acme or self.client()
        acme.new_account(messages.NewRegistration.from_data(terms_of_service_agreed=True))
        return acme


@pytest.fixture
def acme_authority(tmp_path: Path) -> Iterator[Authority]:
    authority = Authority.open(tmp_path / "home", clock=MovableClock())
    authority.init("Test", passwordless=True)
    yield authority
    authority.close()


@pytest.fixture
def acme_env(acme_authority: Authority) -> Iterator[AcmeEnv]:
    dns = DNSServer(zones=("test.",)).start()
    http01 = HTTP01Responder().start()
    tls_alpn = TLSALPN01Responder().start()
    for name in NAMES:
        dns.add_a(name, "127.0.0.1")
    acme_authority.save_config(
        acme_authority.config.with_changes(
            acme_http_port=http01.port,
            acme_tls_port=tls_alpn.port,
            acme_resolver=f"127.0.0.1:{dns.port}",
        )
    )
    server = RunningServer(acme_authority).start()
    root = acme_authority.home / "certs" / "root_ca.crt"
    env = AcmeEnv(acme_authority, server, dns, http01, tls_alpn, root, acme_authority.clock)
    try:
        yield env
    finally:
        for net in env.clients:
            net.session.close()
        server.stop()
        tls_alpn.stop()
        http01.stop()
        dns.stop()


def make_csr(
    *names: str, key: ec.EllipticCurvePrivateKey | None = None, cn: str | None = None
) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
    """A PEM CSR for DNS names and IP addresses (given as text), and its key."""
    import ipaddress

    key = key or ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, cn)] if cn else [])
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM), key
