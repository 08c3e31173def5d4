"""One order, from names to a verified chain: newOrder, authorizations, challenges, finalize,
download. Also the RFC 9773 certificate identifier used for renewalInfo and ``replaces``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from stepui.acme_client.errors import AcmeError
from stepui.acme_client.protocol import AcmeClient, Resource, b64, thumbprint
from stepui.acme_client.solvers import Challenge, Solver
from stepui.errors import StepuiError
from stepui.pki.inspect import load_certificates
from stepui.pki.keys import PrivateKey, same_key, signature_hash
from stepui.pki.names import parse_san, render_san, san_type
from stepui.pki.timespec import parse_time

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Obtained:
    chain_pem: bytes  # leaf first
    certificate: x509.Certificate
    order_url: str
    certificate_url: str


def identifiers(sans: list[str]) -> list[dict[str, str]]:
    """``DNS:a`` / ``IP:1.2.3.4`` (or bare names) as ACME identifiers (RFC 8555, RFC 8738)."""
    result: list[dict[str, str]] = []
    for text in sans:
        name = parse_san(text)
        kind = san_type(name)
        if kind not in ("dns", "ip"):
            raise AcmeError(f"acme: ACME certifies DNS names and IP addresses, not {text!r}")
        value = render_san(name).split(":", 1)[1]
        entry = {"type": kind, "value": value}
        if entry not in result:
            result.append(entry)
    if not result:
        raise AcmeError("acme: give at least one --san DNS:name or IP:address")
    return result


def build_leaf_csr(key: PrivateKey, sans: list[str]) -> bytes:
    """A DER CSR naming exactly the order's identifiers (CN = the first DNS name, if short)."""
    names = [parse_san(text) for text in sans]
    builder = x509.CertificateSigningRequestBuilder()
    dns = [n.value for n in names if isinstance(n, x509.DNSName)]
    if dns and len(dns[0]) <= 64:
        builder = builder.subject_name(
            x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, dns[0])])
        )
    builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(key, signature_hash(key)).public_bytes(serialization.Encoding.DER)


def obtain(
    client: AcmeClient,
    sans: list[str],
    solver: Solver,
    key: PrivateKey,
    *,
    profile: str | None = None,
    replaces: str | None = None,
) -> Obtained:
    """Run one order to the end; challenges are withdrawn and responders stopped whatever
    happens. A refusal anywhere is an :class:`AcmeError` carrying the server's words."""
    wanted = identifiers(sans)
    order = client.new_order(wanted, profile=profile, replaces=replaces)
    log.info("acme: order %s is %s", order.url, order.status)
    solver.open()
    presented: list[Challenge] = []
    try:
        pending = []
        for authz_url in order.body.get("authorizations") or ():
            authz = client.fetch(authz_url, "authorization")
            if authz.status == "valid":
                continue
            if authz.status != "pending":
                raise _failed(authz, "authorization")
            challenge, url = _choose(client, authz, solver.challenge_type)
            solver.present(challenge)
            presented.append(challenge)
            pending.append((authz_url, url))
        for _, url in pending:
            client.respond(url)
        for authz_url, _ in pending:
            authz = client.poll(authz_url, done=("valid", "invalid"), context="authorization")
            if authz.status != "valid":
                raise _failed(authz, "authorization")
    finally:
        for challenge in presented:
            solver.cleanup(challenge)
        solver.close()
    order = client.poll(order.url, done=("ready", "valid", "invalid"), context="order")
    if order.status == "invalid":
        raise _failed(order, "order")
    if order.status == "ready":
        order = client.finalize(order, build_leaf_csr(key, sans))
        if order.status != "valid":
            order = client.poll(order.url, done=("valid", "invalid"), context="order")
        if order.status != "valid":
            raise _failed(order, "order")
    cert_url = order.body.get("certificate")
    if not isinstance(cert_url, str):
        raise AcmeError("acme: the valid order has no certificate URL")
    chain = client.certificate(cert_url)
    leaf = load_certificates(chain)[0]
    if not same_key(key, leaf.public_key()):
        raise AcmeError("acme: the server returned a certificate for another key")
    return Obtained(chain, leaf, order.url, cert_url)


def _choose(client: AcmeClient, authz: Resource, kind: str) -> tuple[Challenge, str]:
    identifier = authz.body.get("identifier") or {}
    value = str(identifier.get("value", ""))
    for challenge in authz.body.get("challenges") or ():
        if challenge.get("type") == kind:
            token = str(challenge["token"])
            key_authorization = f"{token}.{thumbprint(client.jwk)}"
            return (
                Challenge(str(identifier.get("type", "dns")), value, token, key_authorization),
                str(challenge["url"]),
            )
    offered = ", ".join(c.get("type", "?") for c in authz.body.get("challenges") or ()) or "none"
    raise AcmeError(f"acme: the server offers no {kind} challenge for {value} (offered: {offered})")


def _failed(resource: Resource, what: str) -> AcmeError:
    """The most specific problem: the resource's own error, else a failed challenge's."""
    problem = resource.body.get("error")
    if not isinstance(problem, dict):
        for challenge in resource.body.get("challenges") or ():
            if isinstance(challenge.get("error"), dict):
                problem = challenge["error"]
                break
    identifier = (resource.body.get("identifier") or {}).get("value")
    context = f"{what} {identifier}" if identifier else what
    if isinstance(problem, dict):
        return AcmeError.from_problem(problem, context=context)
    return AcmeError(f"acme: {context} is {resource.status!r} ({resource.url})")


def cert_id(cert: x509.Certificate) -> str:
    """RFC 9773 §4.1: base64url(AKI keyIdentifier) "." base64url(DER serial content bytes)."""
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound as exc:
        raise AcmeError("acme: the certificate has no authority key identifier") from exc
    if aki.key_identifier is None:
        raise AcmeError("acme: the certificate's authority key identifier has no key id")
    serial = cert.serial_number
    serial_bytes = serial.to_bytes(serial.bit_length() // 8 + 1, "big")
    return f"{b64(aki.key_identifier)}.{b64(serial_bytes)}"


@dataclass(frozen=True)
class SuggestedWindow:
    start: datetime
    end: datetime
    explanation: str | None = None


def suggested_window(client: AcmeClient, cert: x509.Certificate) -> SuggestedWindow | None:
    """The issuer's renewal window for ``cert``, or None when it offers no renewalInfo."""
    info = client.renewal_info(cert_id(cert))
    if info is None:
        return None
    window = info.body.get("suggestedWindow") or {}
    try:
        start, end = parse_time(window["start"]), parse_time(window["end"])
    except (KeyError, TypeError, StepuiError) as exc:
        raise AcmeError(
            f"acme: renewalInfo answered without a usable suggestedWindow ({exc})"
        ) from exc
    if end <= start:
        raise AcmeError("acme: renewalInfo's suggestedWindow ends before it starts")
    return SuggestedWindow(start, end, info.body.get("explanationURL"))
