"""Challenge responders for tests: the client side of http-01 and tls-alpn-01, on loopback.

Both run in background threads, so the validator under test (async, in the test's event
loop) and synchronous callers (interop tests driving certbot or lego) can use them alike.

- `HTTP01Responder` serves ``/.well-known/acme-challenge/<token>`` from ``set_token`` and,
  when given a ``webroot``, from files under it (what certbot ``--webroot`` and lego
  ``--http.webroot`` write), plus arbitrary canned answers (``set_route``) for hostile tests.
- `TLSALPN01Responder` presents, for ALPN ``acme-tls/1``, the RFC 8737 certificate chosen
  by SNI (the DNS name, or the reverse-DNS name for an IP). Options make it misbehave:
  per certificate ``critical=False``, ``extra_sans``, ``digest``; per server ``alpn=False``
  (never negotiates ALPN) and ``max_version`` (e.g. TLS 1.1, with @SECLEVEL=0 so that
  OpenSSL agrees to speak it).
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import socket
import socketserver
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

import dns.reversename
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier

ACME_IDENTIFIER_OID = ObjectIdentifier("1.3.6.1.5.5.7.1.31")
ACME_TLS_ALPN = "acme-tls/1"
CHALLENGE_PREFIX = "/.well-known/acme-challenge/"


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


# --- http-01 ---------------------------------------------------------------------------


@dataclass
class CannedResponse:
    """What the responder answers on one path: status, headers and body, verbatim."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, responder: HTTP01Responder, address: tuple[str, int]) -> None:
        self.address_family = _family(address[0])
        self.responder = responder
        super().__init__(address, _HTTPHandler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse lookup of the address (no DNS traffic in tests)."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


class _HTTPHandler(BaseHTTPRequestHandler):
    server: _HTTPServer

    def do_GET(self) -> None:
        responder = self.server.responder
        responder.requests.append((self.path, self.headers.get("Host", "")))
        answer = responder.answer(self.path)
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet; ``requests`` records what was asked."""


class HTTP01Responder:
    """An http-01 responder on ``host``:``port`` (a free port when 0).

    With ``https=True`` it speaks TLS with a throwaway self-signed certificate, to be the
    target of a redirect; ``server_names`` then records the SNI of each handshake.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        webroot: Path | None = None,
        *,
        https: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.webroot = webroot
        self.https = https
        self.requests: list[tuple[str, str]] = []
        self.server_names: list[str | None] = []
        self._routes: dict[str, CannedResponse] = {}
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def url(self, path: str = "/", host: str | None = None) -> str:
        """This responder's URL for ``path``, naming it ``host`` (default: its address)."""
        scheme = "https" if self.https else "http"
        return f"{scheme}://{_url_host(host or self.host)}:{self.port}{path}"

    def set_token(self, token: str, key_authorization: str, suffix: str = "") -> None:
        """Answer the challenge ``token`` with the key authorization (plus ``suffix``)."""
        body = (key_authorization + suffix).encode("utf-8")
        self.set_route(CHALLENGE_PREFIX + token, CannedResponse(body=body))

    def remove_token(self, token: str) -> None:
        self._routes.pop(CHALLENGE_PREFIX + token, None)

    def set_route(self, path: str, response: CannedResponse) -> None:
        self._routes[path] = response

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.set_route(path, CannedResponse(status=status, headers={"Location": location}))

    def answer(self, path: str) -> CannedResponse:
        """The canned answer for ``path``, else the webroot file, else 404."""
        if path in self._routes:
            return self._routes[path]
        if self.webroot is not None and path.startswith(CHALLENGE_PREFIX):
            token = path.removeprefix(CHALLENGE_PREFIX)
            candidate = self.webroot / CHALLENGE_PREFIX.strip("/") / token
            if "/" not in token and candidate.is_file():
                return CannedResponse(body=candidate.read_bytes())
        return CannedResponse(status=404, body=b"not found")

    def start(self) -> HTTP01Responder:
        self._server = _HTTPServer(self, (self.host, self.port))
        self.port = self._server.server_address[1]
        if self.https:
            self._server.socket = self._tls_context().wrap_socket(
                self._server.socket, server_side=True
            )
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def _tls_context(self) -> ssl.SSLContext:
        cert_pem, key_pem = self_signed_certificate("https-responder.test")
        with tempfile.TemporaryDirectory(prefix="https-responder-") as directory:
            path = Path(directory) / "server.pem"
            path.write_bytes(key_pem + cert_pem)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(path)
        context.sni_callback = lambda _conn, name, _ctx: self.server_names.append(name)
        return context

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> HTTP01Responder:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


# --- tls-alpn-01 -----------------------------------------------------------------------


def acme_tls_certificate(
    identifier_type: str,
    identifier_value: str,
    key_authorization: str,
    *,
    critical: bool = True,
    extra_sans: tuple[str, ...] = (),
    digest: bytes | None = None,
) -> tuple[bytes, bytes]:
    """A self-signed RFC 8737 validation certificate and its key, both PEM.

    ``digest`` replaces SHA-256(key authorization) in the acmeIdentifier extension;
    ``extra_sans`` are further dNSNames; ``critical=False`` breaks RFC 8737 §3 on purpose.
    """
    if identifier_type == "ip":
        names: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(identifier_value))]
    else:
        names = [x509.DNSName(identifier_value)]
    names += [x509.DNSName(name) for name in extra_sans]
    value = digest if digest is not None else hashlib.sha256(key_authorization.encode()).digest()
    octet_string = bytes([0x04, len(value)]) + value
    acme_identifier = x509.UnrecognizedExtension(ACME_IDENTIFIER_OID, octet_string)
    return _self_signed(names, [(acme_identifier, critical)])


def self_signed_certificate(dns_name: str) -> tuple[bytes, bytes]:
    """A plain self-signed server certificate for ``dns_name`` and its key, both PEM."""
    return _self_signed([x509.DNSName(dns_name)], [])


def _self_signed(
    names: list[x509.GeneralName], extensions: list[tuple[x509.ExtensionType, bool]]
) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stepui test responder")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    certificate = builder.sign(key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def sni_name(identifier_type: str, identifier_value: str) -> str:
    """The SNI a validator sends: the DNS name, or the reverse-DNS name of an IP (RFC 8738)."""
    if identifier_type == "ip":
        return dns.reversename.from_address(identifier_value).to_text(omit_final_dot=True)
    return identifier_value.lower()


class TLSALPN01Responder:
    """A TLS server on ``host``:``port`` answering acme-tls/1 with per-SNI certificates."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        alpn: bool = True,
        max_version: ssl.TLSVersion | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.alpn = alpn
        self.max_version = max_version
        self.server_names: list[str | None] = []
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._directory = tempfile.TemporaryDirectory(prefix="tls-alpn-responder-")
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def set_certificate(
        self,
        identifier_type: str,
        identifier_value: str,
        key_authorization: str,
        *,
        critical: bool = True,
        extra_sans: tuple[str, ...] = (),
        digest: bytes | None = None,
    ) -> None:
        """Present the validation certificate for this identifier (see acme_tls_certificate)."""
        cert_pem, key_pem = acme_tls_certificate(
            identifier_type,
            identifier_value,
            key_authorization,
            critical=critical,
            extra_sans=extra_sans,
            digest=digest,
        )
        name = sni_name(identifier_type, identifier_value)
        path = Path(self._directory.name) / f"{name}.pem"
        path.write_bytes(key_pem + cert_pem)
        context = self._context()
        context.load_cert_chain(path)
        self._contexts[name] = context

    def _context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if self.alpn:
            context.set_alpn_protocols([ACME_TLS_ALPN])
        if self.max_version is not None:
            context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            context.maximum_version = self.max_version
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
        return context

    def _select_certificate(
        self, connection: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext
    ) -> int | None:
        self.server_names.append(server_name)
        context = self._contexts.get((server_name or "").lower())
        if context is None:
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        connection.context = context
        return None

    def start(self) -> TLSALPN01Responder:
        listener = socket.socket(_family(self.host), socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(16)
        listener.settimeout(0.1)
        self._listener, self.port = listener, listener.getsockname()[1]
        self._stopping.clear()
        self._thread = threading.Thread(target=self._serve, name="tls-alpn-responder", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        if self._listener is not None:
            self._listener.close()
        self._thread = self._listener = None

    def close(self) -> None:
        """Stop and delete the certificate files."""
        self.stop()
        self._directory.cleanup()

    def __enter__(self) -> TLSALPN01Responder:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _serve(self) -> None:
        assert self._listener is not None
        base = self._context()
        base.sni_callback = self._select_certificate
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handshake, args=(base, connection), daemon=True).start()

    @staticmethod
    def _handshake(base: ssl.SSLContext, connection: socket.socket) -> None:
        """Handshake, then close: a validator only needs the certificate."""
        connection.settimeout(5)
        try:
            with base.wrap_socket(connection, server_side=True) as tls:
                tls.recv(1)
        except OSError:
            connection.close()
