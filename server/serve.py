"""Serving the ACME app with Hypercorn: the one coroutine ``--serve`` and the TUI both run.

HTTPS by default, with a server certificate that the CA's own default intermediate issues for
``server.dns_names``. Leaf certificates are short-lived (24 h by default), so a task renews it
before it expires and reloads the same ``SSLContext``: new handshakes get the new certificate,
open connections and the process carry on.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config, Sockets
from hypercorn.logging import Logger

from server.app import create_app
from stepui.authority.models import IssueRequest
from stepui.authority.service import Authority
from stepui.config import parse_address
from stepui.fsutil import PRIVATE_MODE, write_atomic
from stepui.pki.keys import generate_key, load_private_key, private_key_pem, same_key
from stepui.pki.names import parse_san, sans_of

log = logging.getLogger("stepui.server")

RENEW_AT = 2 / 3  # of the lifetime, as certbot and step do
CHECK_INTERVAL = 60.0  # seconds between checks of the server certificate
STOP_DEADLINE = 5.0  # seconds from the shutdown trigger to a forced stop


def directory_url(authority: Authority, provisioner: str = "acme", base: str | None = None) -> str:
    return f"{(base or authority.base_url()).rstrip('/')}/acme/{provisioner}/directory"


@dataclass(frozen=True)
class ServerCertificate:
    """Where the server's own certificate lives, and when it should be renewed."""

    cert_path: Path
    key_path: Path

    @classmethod
    def of(cls, authority: Authority) -> ServerCertificate:
        return cls(
            authority.home / "certs" / "server.crt", authority.home / "secrets" / "server.key"
        )

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise check-and-renew across server processes sharing the data dir, so several
        workers renew once and never read one's key with another's certificate."""
        with open(self.key_path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def current(self) -> x509.Certificate | None:
        try:
            return x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        except (OSError, ValueError):
            return None

    def renew_at(self, cert: x509.Certificate) -> datetime:
        lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
        return cert.not_valid_before_utc + lifetime * RENEW_AT

    def usable(self, authority: Authority, cert: x509.Certificate | None) -> bool:
        """Still fresh, for the configured names, and matching the key on disk."""
        if cert is None or not self.key_path.exists():
            return False
        wanted = {parse_san(name) for name in authority.config.server_names}
        if set(sans_of(cert)) != wanted or self.renew_at(cert) <= authority.clock():
            return False
        try:
            key = load_private_key(self.key_path.read_bytes(), None)
        except Exception:
            return False
        return same_key(key, cert.public_key())

    def ensure(self, authority: Authority, *, force: bool = False) -> x509.Certificate:
        """Issue (through the Authority, like any certificate) unless the current one serves."""
        with self._locked():
            cert = self.current()
            if not force and self.usable(authority, cert):
                assert cert is not None
                return cert
            return self._issue(authority)

    def _issue(self, authority: Authority) -> x509.Certificate:
        key = generate_key("ec-p256")
        issued = authority.issue(
            IssueRequest(
                sans=list(authority.config.server_names),
                template="tls-server",
                public_key=key.public_key(),
                requester="server",
                name="stepui-server",
            )
        )
        write_atomic(self.key_path, private_key_pem(key, None), PRIVATE_MODE)
        write_atomic(self.cert_path, issued.pem_chain())
        log.info(
            "server certificate %s issued for %s",
            issued.serial,
            ", ".join(authority.config.server_names),
        )
        return issued.certificate

    def load_into(self, context: ssl.SSLContext) -> x509.Certificate | None:
        """Load the files (under the lock: never a half-renewed pair); return what was loaded."""
        with self._locked():
            context.load_cert_chain(self.cert_path, self.key_path)
            return self.current()


def tls_context(files: ServerCertificate) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION
    context.set_alpn_protocols(["h2", "http/1.1"])
    files.load_into(context)
    return context


async def keep_renewed(
    authority: Authority, files: ServerCertificate, context: ssl.SSLContext
) -> None:
    """Check every ``CHECK_INTERVAL`` and renew at two thirds of the certificate's life.

    Polling (rather than one long sleep) follows the injected clock and survives suspend.
    Every worker process runs this: the first to find the certificate due renews it (under
    the file lock), the others find the new one on disk and load it."""
    loaded = files.current()
    while True:
        await asyncio.sleep(CHECK_INTERVAL)
        current = files.current()
        if current == loaded and files.usable(authority, current):
            continue
        try:
            files.ensure(authority)
            loaded = files.load_into(context)
        except Exception:
            log.exception("server certificate renewal failed; retrying")


ACCESS_LOG_FORMAT = '%(h)s "%(r)s" %(s)s %(b)s %(D)sus'


class _AccessLogger(Logger):
    """Hypercorn's logger, building only the atoms ``ACCESS_LOG_FORMAT`` uses: its own builds a
    dict of every request header, response header and environment variable per request."""

    def atoms(self, request: Any, response: Any, request_time: float) -> dict[str, Any]:
        client = request.get("client")
        headers = response.get("headers", ()) if response else ()
        length = next((v.decode() for k, v in headers if k.lower() == b"content-length"), "-")
        return {
            "h": f"{client[0]}:{client[1]}" if client else "-",
            "r": f"{request.get('method', 'GET')} {request['path']} {request.get('http_version')}",
            "s": response["status"] if response else "-",
            "b": length,
            "D": int(request_time * 1_000_000),
        }


class _Config(Config):
    """Hypercorn's Config with our own SSLContext and sockets bound before serving, so a port
    in use fails at once and ``ready`` learns the real port (``:0`` picks a free one)."""

    def __init__(self, context: ssl.SSLContext | None, sockets: Sockets, ready: Callable[[], None]):
        super().__init__()
        self.logger_class = _AccessLogger
        self._context = context
        self._sockets = sockets
        self._ready = ready

    @property
    def ssl_enabled(self) -> bool:
        return self._context is not None

    def create_ssl_context(self) -> ssl.SSLContext | None:
        return self._context

    def create_sockets(self) -> Sockets:
        self._ready()
        return self._sockets


def bind(address: str) -> socket.socket:
    """Bind and listen; ``HOST:0`` asks the OS for a free port (tests, ad-hoc runs)."""
    if address.endswith(":0"):
        host, port = address[:-2].strip("[]"), 0
    else:
        host, port = parse_address(address, where="--address")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(1024)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def listening_url(sock: socket.socket, *, insecure_http: bool = False) -> str:
    scheme = "http" if insecure_http else "https"
    host, port = sock.getsockname()[:2]
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


async def _serve_with_deadline(
    app: object, config: Config, shutdown_trigger: Callable[[], Awaitable[None]]
) -> None:
    """Hypercorn, stopped within ``STOP_DEADLINE`` of the trigger: a client that keeps an idle
    TLS connection and never answers close_notify would otherwise hold the stop for asyncio's
    30-second SSL shutdown timeout."""
    stopping = asyncio.Event()

    async def trigger() -> None:
        await shutdown_trigger()
        stopping.set()

    server = asyncio.ensure_future(hypercorn_serve(app, config, shutdown_trigger=trigger))
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({server, stop}, return_when=asyncio.FIRST_COMPLETED)
        if not server.done():
            await asyncio.wait({server}, timeout=STOP_DEADLINE)
    finally:
        stop.cancel()
        forced = not server.done()
        if forced:
            server.cancel()
        await asyncio.gather(server, stop, return_exceptions=True)
    if forced:
        # Hypercorn cancelled inside its own shutdown ends with whatever that left (with 0.18
        # an InvalidStateError): the stop that was asked for, not a failure.
        log.warning("connections still open %.0fs after the stop were dropped", STOP_DEADLINE)
    elif not server.cancelled() and server.exception() is not None:
        raise server.exception()


async def serve(
    authority: Authority,
    *,
    address: str | None = None,
    insecure_http: bool = False,
    shutdown_trigger: Callable[[], Awaitable[None]],
    logger: logging.Logger | None = None,
    ready: Callable[[str], None] | None = None,
    sock: socket.socket | None = None,
) -> None:
    """Serve until ``shutdown_trigger`` returns; ``ready(base_url)`` once listening.

    ``sock`` is a socket already listening (bound by a parent that forks worker processes);
    without it the configured address (or ``address``) is bound here."""
    logger = logger or log
    context = None
    files = ServerCertificate.of(authority)
    if not insecure_http:
        files.ensure(authority)
        context = tls_context(files)
    elif not authority.config.external_url:
        logger.warning(
            "--insecure-http without server.external_url: certificates name https://%s for "
            "their CRL, which this plain-HTTP server does not answer; set server.external_url "
            "to the TLS proxy's URL",
            authority.config.server_address,
        )
    sock = sock or bind(address or authority.config.server_address)
    base_url = listening_url(sock, insecure_http=insecure_http)
    sockets = Sockets([sock], [], []) if context else Sockets([], [sock], [])

    def announce() -> None:
        logger.info("ACME directory: %s", directory_url(authority, base=base_url))
        if ready is not None:
            ready(base_url)

    config = _Config(context, sockets, announce)
    config.accesslog = logger
    config.errorlog = logger
    config.access_log_format = ACCESS_LOG_FORMAT
    renewer = None
    if context is not None:
        renewer = asyncio.get_running_loop().create_task(keep_renewed(authority, files, context))
    try:
        await _serve_with_deadline(create_app(authority), config, shutdown_trigger)
    finally:
        if renewer is not None:
            renewer.cancel()
            await asyncio.gather(renewer, return_exceptions=True)
        sock.close()
