"""Certificate download (RFC 8555 §7.4.2) and revocation (§7.6)."""

from __future__ import annotations

import re

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from server.context import Call, Reply
from server.jws import b64url_decode
from server.problems import Problem
from stepui.errors import BadInput, NotFound
from stepui.pki.keys import same_key
from stepui.store import CertificateRecord

PEM_CHAIN = "application/pem-certificate-chain"
REVOCATION_REASONS = frozenset(range(11)) - {7}
SERIAL = re.compile(r"[0-9a-fA-F]{1,64}", re.ASCII)


def _record(call: Call, serial: str) -> CertificateRecord:
    """By the hex serial this server's URLs carry; anything else names no certificate."""
    if SERIAL.fullmatch(serial):
        try:
            return call.authority.certificate(serial)
        except NotFound:
            pass
    raise Problem("malformed", f"no certificate {serial}", status=404)


def certificate(call: Call, serial: str, index: int = 0) -> Reply:
    call.verified.require_post_as_get()
    record = _record(call, serial)
    if record.requester != f"acme:{call.account.id}" or record.ca_id is None:
        raise Problem("unauthorized", "this certificate was ordered by another account")
    chains = call.authority.chains(record.ca_id)
    if not 0 <= index < len(chains):
        raise Problem("malformed", f"certificate {serial} has no chain {index}", status=404)
    body = record.pem.encode() + b"".join(
        c.public_bytes(serialization.Encoding.PEM) for c in chains[index]
    )
    links = [
        f'<{call.urls.certificate(record.serial, i)}>;rel="alternate"'
        for i in range(len(chains))
        if i != index
    ]
    return Reply(200, body, links=links, content_type=PEM_CHAIN)


def revoke(call: Call) -> Reply:
    payload = call.verified.json()
    der = b64url_decode(payload.get("certificate"), "certificate")
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        raise Problem("malformed", "certificate is not a DER X.509 certificate") from None
    reason = payload.get("reason", 0)
    if isinstance(reason, bool) or not isinstance(reason, int) or reason not in REVOCATION_REASONS:
        raise Problem("badRevocationReason", f"reason {reason!r} is not one of 0-6, 8-10")
    record = _record(call, format(cert.serial_number, "x"))
    if record.ca_id is None or record.pem.encode() != cert.public_bytes(serialization.Encoding.PEM):
        raise Problem("malformed", "this certificate was not issued by this CA", status=404)
    if call.verified.jwk_signed:
        if not same_key(call.verified.key.key, cert.public_key()):
            raise Problem("unauthorized", "the request is not signed by the certificate's key")
        actor = "acme:certificate-key"
    else:
        account = call.account
        actor = f"acme:{account.id}"
        if record.requester != actor:
            _check_authorized(call, record)
    try:
        call.authority.revoke(record.serial, reason, actor=actor)
    except BadInput as exc:
        raise Problem("badRevocationReason", exc.message) from None
    call.acme.events.publish("acme.certificate.revoked", serial=record.serial, reason=reason)
    return Reply(200, None)


def _check_authorized(call: Call, record: CertificateRecord) -> None:
    """An account that did not order the certificate needs valid authorizations for all of
    its names (a wildcard is covered by an authorization for its base name)."""
    values = sorted({san.split(":", 1)[1].removeprefix("*.") for san in record.sans})
    held = call.store.authorized_values(call.account.id, values, call.now)
    if set(values) - held:
        raise Problem(
            "unauthorized",
            "the account neither ordered this certificate nor holds "
            "authorizations for all of its identifiers",
        )
