"""``stepui cert fetch URL``: download a certificate chain and check it before trusting it.

An ``https://host[:port]`` with no path is a TLS server: the chain it presents is taken from
the handshake. Any other URL is an ACME certificate URL, fetched by POST-as-GET with the account
saved for that server. Either way the chain is verified against ``--ca-bundle`` (default: this
CA's roots plus the system's) for the leaf's name, and the inspection summary is printed; a
chain that does not verify is refused with the reason.
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from stepui.commands.context import Context, read_input
from stepui.errors import BadInput, StepuiError


class UntrustedChain(StepuiError):
    """The fetched chain does not lead to a trusted root (or does not name the host)."""

    exit_code = 8


def register(csub: Any) -> None:
    c = csub.add_parser(
        "fetch", help="download a chain from an ACME certificate URL or a TLS server, verified"
    )
    c.add_argument("url", help="https://host:port (a TLS server) or an ACME certificate URL")
    c.add_argument("--ca-bundle", metavar="FILE", help="roots to verify with")
    c.add_argument("--out", metavar="FILE", help="write the PEM chain here")
    c.set_defaults(handler=cmd_fetch)


def cmd_fetch(args: argparse.Namespace, ctx: Context) -> int:
    from stepui.commands.output import emit
    from stepui.pki.inspect import certificate_short

    parts = urlsplit(args.url)
    if parts.scheme != "https" or not parts.hostname:
        raise BadInput(f"{args.url!r}: give an https:// URL")
    roots = verification_roots(args.ca_bundle, ctx)
    if parts.path in ("", "/") and not parts.query:
        chain = tls_chain(parts.hostname, parts.port or 443)
        name = parts.hostname
    else:
        chain = acme_chain(args.url, ctx, args.ca_bundle)
        name = None
    verify_chain(chain, roots, name, ctx.authority().clock())
    for cert in chain:
        print(certificate_short(cert))
    print(f"chain verified ({len(chain)} certificate{'s' * (len(chain) != 1)})")
    if args.out:
        emit(b"".join(c.public_bytes(Encoding.PEM) for c in chain), args.out)
    return 0


def tls_chain(host: str, port: int) -> list[x509.Certificate]:
    """What the server presents, unverified (verification follows, with a clear reason)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=15) as sock,
            context.wrap_socket(sock, server_hostname=host) as tls,
        ):
            sslobj = getattr(tls, "_sslobj", None)
            presented = getattr(sslobj, "get_unverified_chain", lambda: None)()
            if presented:
                return [x509.load_der_x509_certificate(c.public_bytes(2)) for c in presented]
            leaf = tls.getpeercert(binary_form=True)
    except OSError as exc:
        raise BadInput(f"cannot fetch the chain from {host}:{port}: {exc}") from exc
    if not leaf:
        raise UntrustedChain(f"{host}:{port} presented no certificate")
    return [x509.load_der_x509_certificate(leaf)]


def acme_chain(url: str, ctx: Context, ca_bundle: str | None) -> list[x509.Certificate]:
    """POST-as-GET with the saved account of the server at the same origin. A managed
    certificate's URL is fetched as it was obtained (that server, trusted as it was then), so
    ``ca_bundle`` judges only the chain; any other URL's server is trusted with ``ca_bundle``
    (default: this CA's roots, else the system's)."""
    from stepui.acme_client.accounts import open_client
    from stepui.acme_client.settings import AcmeSettings
    from stepui.pki.inspect import load_certificates

    auth = ctx.authority()
    managed = auth.store.managed.by_certificate_url(url)
    if managed is not None and managed.method.get("kind") == "acme":
        settings = AcmeSettings.from_method(managed.method)
        directory, verify = settings.directory, settings.verify(auth)
    else:
        directory = _saved_directory(auth.home, url)
        verify = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True
        roots = auth.roots_pem()
        if not ca_bundle and roots:
            verify = ssl.create_default_context()
            verify.load_verify_locations(cadata=roots.decode())
    with open_client(auth.home, directory, verify=verify) as client:
        return load_certificates(client.certificate(url))


def _saved_directory(home: Path, url: str) -> str:
    origin = urlsplit(url)._replace(path="", query="", fragment="").geturl()
    for path in sorted((home / "secrets" / "acme").glob("*.json")):
        try:
            directory = json.loads(path.read_text(encoding="utf-8"))["directory"]
        except (OSError, ValueError, KeyError):
            continue
        if urlsplit(directory)._replace(path="", query="", fragment="").geturl() == origin:
            return directory
    raise BadInput(f"no saved ACME account for {origin}; issue from that server first")


def verification_roots(ca_bundle: str | None, ctx: Context) -> list[x509.Certificate]:
    from stepui.pki.inspect import load_certificates

    if ca_bundle:
        return load_certificates(read_input(ca_bundle, "CA bundle"))
    roots: list[x509.Certificate] = []
    pem = ctx.authority().roots_pem()
    if pem:
        roots += load_certificates(pem)
    system = ssl.get_default_verify_paths().cafile
    if system and Path(system).is_file():
        roots += load_certificates(Path(system).read_bytes())
    if not roots:
        raise BadInput("no roots to verify with: give --ca-bundle FILE")
    return roots


def verify_chain(
    chain: list[x509.Certificate], roots: list[x509.Certificate], host: str | None, now: Any
) -> None:
    """RFC 5280 path validation (cryptography's verifier) to one of ``roots`` for ``host``
    (default: the leaf's first DNS or IP name)."""
    import ipaddress

    leaf = chain[0]
    if host is None:
        try:
            names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound as exc:
            raise UntrustedChain("the certificate names no DNS name or IP address") from exc
        dns = names.get_values_for_type(x509.DNSName)
        ips = names.get_values_for_type(x509.IPAddress)
        host = dns[0] if dns else str(ips[0]) if ips else None
        if host is None:
            raise UntrustedChain("the certificate names no DNS name or IP address")
    try:
        subject: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        subject = x509.DNSName(host)
    verifier = PolicyBuilder().store(Store(roots)).time(now).build_server_verifier(subject)
    try:
        verifier.verify(leaf, chain[1:])
    except VerificationError as exc:
        raise UntrustedChain(f"the chain for {host} does not verify: {exc}") from exc
