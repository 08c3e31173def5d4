"""The OCSP responder's decisions: which CA a request is for, what status a serial has, and which
key signs the answer (the CA's own, or a short-lived delegated responder it certified).

The server's ``/ocsp`` route and any other face call :meth:`OcspResponder.respond` with the DER
request and send back the DER it returns; every failure is an OCSP error status, never an
exception, because an OCSP client understands nothing else.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.x509 import ocsp as x509_ocsp

from stepui.errors import BadInput, StepuiError
from stepui.pki import ocsp
from stepui.pki.issue import Signer
from stepui.pki.keys import generate_key

if TYPE_CHECKING:
    from stepui.authority.service import Authority
    from stepui.store import AuthorityRecord

log = logging.getLogger(__name__)

# A delegated responder certificate lives this long (at least; see _responder_lifetime) and is
# replaced once half of it has passed, so a response never outlives the certificate signing it.
RESPONDER_LIFETIME = timedelta(days=1)


class OcspResponder:
    """One per process: caches the issuer hashes and the delegated responder certificates."""

    def __init__(self, authority: Authority) -> None:
        self.authority = authority
        self._hashes: dict[tuple[str, str], tuple[bytes, bytes]] = {}
        self._delegates: dict[str, Signer] = {}

    def respond(self, request: bytes) -> bytes:
        """DER OCSPRequest in, DER OCSPResponse out (RFC 6960)."""
        try:
            cert_id = ocsp.parse_request(request)
        except BadInput as exc:
            log.info("OCSP: %s", exc.message)
            return ocsp.error_response(x509_ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        ca = self.issuer(cert_id)
        if ca is None:
            log.info(
                "OCSP: request for serial %x from an issuer this CA does not know", cert_id.serial
            )
            return ocsp.error_response(x509_ocsp.OCSPResponseStatus.UNAUTHORIZED)
        try:
            responder = self.responder(ca.id)
            now = self.authority.clock().replace(microsecond=0)
            next_update = min(
                now + self.authority.config.ocsp_validity,
                responder.certificate.not_valid_after_utc,
            )
            return ocsp.build_response(
                cert_id,
                self.status(ca, cert_id.serial),
                issuer=x509.load_pem_x509_certificate(ca.cert_pem.encode()),
                responder=responder,
                this_update=now,
                next_update=next_update,
            )
        except StepuiError as exc:
            log.error("OCSP: cannot answer for CA %s: %s", ca.id, exc.message)
            return ocsp.error_response(x509_ocsp.OCSPResponseStatus.INTERNAL_ERROR)

    def issuer(self, cert_id: ocsp.CertId) -> AuthorityRecord | None:
        """The CA (with a key here) whose name and key hashes the request names."""
        wanted = (cert_id.issuer_name_hash, cert_id.issuer_key_hash)
        for record in self.authority.authorities():
            if not record.key_file:
                continue
            cache_key = (record.cert_pem, cert_id.algorithm.name)
            hashes = self._hashes.get(cache_key)
            if hashes is None:
                cert = x509.load_pem_x509_certificate(record.cert_pem.encode())
                hashes = self._hashes[cache_key] = ocsp.issuer_hashes(cert, cert_id.algorithm)
            if hashes == wanted:
                return record
        return None

    def status(self, ca: AuthorityRecord, serial: int) -> ocsp.Status:
        """good, revoked (time and reason) or unknown, from the inventory; a sub-CA that this
        CA signed is good."""
        text = format(serial, "x")
        record = self.authority.store.ca.certificate(text)
        if record is not None and record.ca_id == ca.id:
            if record.status == "revoked":
                return ocsp.Status(ocsp.REVOKED, record.revoked_at, record.revocation_reason or 0)
            return ocsp.Status(ocsp.GOOD)
        if any(a.parent_id == ca.id and a.serial == text for a in self.authority.authorities()):
            return ocsp.Status(ocsp.GOOD)
        return ocsp.Status(ocsp.UNKNOWN)

    def responder(self, ca_id: str) -> Signer:
        """The CA itself, or (``ocsp.delegated``) its current delegated responder."""
        ca = self.authority.signer(ca_id)
        if not self.authority.config.ocsp_delegated:
            return ca
        now = self.authority.clock()
        current = self._delegates.get(ca_id)
        if current is not None:
            cert = current.certificate
            half = (cert.not_valid_after_utc - cert.not_valid_before_utc) / 2
            if now < cert.not_valid_after_utc - half:
                return current
        record = self.authority.authority(ca_id)
        key = generate_key(record.key_type)
        cert = ocsp.build_responder_certificate(
            ca, key, not_before=now - timedelta(minutes=1), lifetime=self._responder_lifetime()
        )
        self.authority.store.ca.audit(
            now,
            "system",
            "ocsp.responder",
            ca_id,
            {"serial": format(cert.serial_number, "x"), "not_after": str(cert.not_valid_after_utc)},
        )
        self.authority.events.publish("ocsp.responder", ca=ca_id, serial=cert.serial_number)
        signer = self._delegates[ca_id] = Signer(cert, key)
        return signer

    def _responder_lifetime(self) -> timedelta:
        return max(RESPONDER_LIFETIME, 4 * self.authority.config.ocsp_validity)
