"""The client's own challenge responders: an http-01 web server and a tls-alpn-01 TLS server.

Both run in a background thread for the length of one order and answer only for the tokens and
identifiers of that order: anything else is a 404 (http-01) or a refused handshake (tls-alpn-01).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import socket
import socketserver
import ssl
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier

from stepui.acme_client.errors import AcmeError

log = logging.getLogger(__name__)

CHALLENGE_PATH = "/.well-known/acme-challenge/"
ACME_TLS_ALPN = "acme-tls/1"
ACME_IDENTIFIER_OID = ObjectIdentifier("1.3.6.1.5.5.7.1.31")


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _bind_error(kind: str, host: str, port: int, exc: OSError) -> AcmeError:
    """One line for the person: where, for what, and the system's reason (port in use, or
    below 1024 without the right to bind it)."""
    where = f"[{host}]:{port}" if ":" in host else f"{host or '*'}:{port}"
    reason = str(exc.strerror or exc)
    return AcmeError(f"cannot listen on {where} for {kind}: {reason[:1].lower()}{reason[1:]}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    tokens: dict[str, bytes]

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup of the listening address."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        token = (
            self.path.removeprefix(CHALLENGE_PATH) if self.path.startswith(CHALLENGE_PATH) else ""
        )
        body = self.server.tokens.get(token)
        log.info(
            "http-01: GET %s from %s -> %s", self.path, self.client_address[0], 200 if body else 404
        )
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, format: str, *args: object) -> None:
        """Logged in do_GET through ``logging`` instead of stderr."""


class Http01Responder:
    """Serves ``/.well-known/acme-challenge/<token>`` on ``host:port`` (all interfaces when
    host is empty)."""

    def __init__(self, port: int = 80, host: str = "") -> None:
        self.host, self.port = host, port
        self.tokens: dict[str, bytes] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def add(self, token: str, key_authorization: str) -> None:
        self.tokens[token] = key_authorization.encode("ascii")

    def remove(self, token: str) -> None:
        self.tokens.pop(token, None)

    def start(self) -> None:
        server_class = type("_Server", (_Server,), {"address_family": _family(self.host)})
        try:
            server = server_class((self.host, self.port), _Handler)
        except OSError as exc:
            raise _bind_error("http-01", self.host, self.port, exc) from exc
        server.tokens = self.tokens
        self._server, self.port = server, server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
        self._server = self._thread = None


def validation_certificate(
    identifier_type: str, identifier_value: str, key_authorization: str
) -> tuple[bytes, bytes]:
    """RFC 8737 §3: a self-signed certificate whose only SAN is the identifier and whose
    critical acmeIdentifier extension holds SHA-256(key authorization); PEM cert and key."""
    key = ec.generate_private_key(ec.SECP256R1())
    if identifier_type == "ip":
        san: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(identifier_value))
    else:
        san = x509.DNSName(identifier_value)
    digest = hashlib.sha256(key_authorization.encode("ascii")).digest()
    octet_string = bytes([0x04, len(digest)]) + digest
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ACME tls-alpn-01")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName([san]), critical=False)
        .add_extension(x509.UnrecognizedExtension(ACME_IDENTIFIER_OID, octet_string), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def sni_name(identifier_type: str, identifier_value: str) -> str:
    """The SNI a validator sends: the name, or the reverse-DNS name of an IP (RFC 8738 §6)."""
    if identifier_type == "ip":
        return ipaddress.ip_address(identifier_value).reverse_pointer
    return identifier_value.lower()


class TlsAlpn01Responder:
    """A TLS server offering only ``acme-tls/1``, choosing the validation certificate by SNI."""

    def __init__(self, port: int = 443, host: str = "") -> None:
        self.host, self.port = host, port
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def add(self, identifier_type: str, identifier_value: str, key_authorization: str) -> None:
        cert_pem, key_pem = validation_certificate(
            identifier_type, identifier_value, key_authorization
        )
        context = self._context()
        with tempfile.TemporaryDirectory(prefix="stepui-alpn-") as directory:
            path = Path(directory) / "cert.pem"
            path.touch(0o600)
            path.write_bytes(key_pem + cert_pem)
            context.load_cert_chain(path)
        self._contexts[sni_name(identifier_type, identifier_value)] = context

    def remove(self, identifier_type: str, identifier_value: str) -> None:
        self._contexts.pop(sni_name(identifier_type, identifier_value), None)

    @staticmethod
    def _context() -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols([ACME_TLS_ALPN])
        return context

    def _select(self, connection: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> int | None:
        context = self._contexts.get((name or "").lower())
        log.info("tls-alpn-01: handshake for %r -> %s", name, "ok" if context else "unknown")
        if context is None:
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        connection.context = context
        return None

    def start(self) -> None:
        listener = socket.socket(_family(self.host), socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self.host, self.port))
        except OSError as exc:
            listener.close()
            raise _bind_error("tls-alpn-01", self.host, self.port, exc) from exc
        listener.listen(16)
        listener.settimeout(0.1)
        self._listener, self.port = listener, listener.getsockname()[1]
        self._stopping.clear()
        self._thread = threading.Thread(target=self._serve, name="tls-alpn-01", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        if self._listener is not None:
            self._listener.close()
        self._thread = self._listener = None

    def _serve(self) -> None:
        assert self._listener is not None
        base = self._context()
        base.sni_callback = self._select
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=_handshake, args=(base, connection), daemon=True).start()


def _handshake(base: ssl.SSLContext, connection: socket.socket) -> None:
    """Handshake and close: the validator only looks at the certificate."""
    connection.settimeout(10)
    try:
        with base.wrap_socket(connection, server_side=True) as tls:
            tls.recv(1)
    except OSError:
        connection.close()
