"""OCSP (RFC 6960): parse a request, build a signed response, make a delegated responder
certificate. Pure functions over ``cryptography``'s ``x509.ocsp``; the Authority decides the
status of a certificate, this module only encodes that decision."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from stepui.errors import BadInput
from stepui.pki.crl import reason_flag
from stepui.pki.issue import Signer, authority_key_identifier, new_serial
from stepui.pki.keys import PrivateKey, signature_hash

GOOD, REVOKED, UNKNOWN = "good", "revoked", "unknown"
_STATUS = {
    GOOD: ocsp.OCSPCertStatus.GOOD,
    REVOKED: ocsp.OCSPCertStatus.REVOKED,
    UNKNOWN: ocsp.OCSPCertStatus.UNKNOWN,
}


@dataclass(frozen=True)
class CertId:
    """What a request asks about: the issuer by name and key hash, and a serial number."""

    algorithm: hashes.HashAlgorithm
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    serial: int
    nonce: bytes | None


@dataclass(frozen=True)
class Status:
    """The Authority's answer for one serial."""

    status: str  # good | revoked | unknown
    revoked_at: datetime | None = None
    reason: int = 0


def parse_request(data: bytes) -> CertId:
    """A DER OCSPRequest with one certificate; anything else is :class:`BadInput`."""
    try:
        request = ocsp.load_der_ocsp_request(data)
        algorithm = request.hash_algorithm
        nonce = None
        for extension in request.extensions:
            if isinstance(extension.value, x509.OCSPNonce):
                nonce = extension.value.nonce
    except (ValueError, x509.UnsupportedGeneralNameType) as exc:
        raise BadInput(f"malformed OCSP request: {exc}") from exc
    return CertId(
        algorithm, request.issuer_name_hash, request.issuer_key_hash, request.serial_number, nonce
    )


def subject_public_key_bits(cert: x509.Certificate) -> bytes:
    """The BIT STRING contents of the certificate's SubjectPublicKeyInfo (what the issuer key
    hash of RFC 6960 4.1.1 covers)."""
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _, body = _der_value(spki, 0)
    algorithm_end, _ = _der_value(spki, body)
    _, bits = _der_value(spki, algorithm_end)
    return spki[bits + 1 :]  # first content byte: unused bits, always 0 for keys


def _der_value(data: bytes, offset: int) -> tuple[int, int]:
    """(end of the element at ``offset``, start of its contents)."""
    length = data[offset + 1]
    start = offset + 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    return start + length, start


def issuer_hashes(issuer: x509.Certificate, algorithm: hashes.HashAlgorithm) -> tuple[bytes, bytes]:
    """(issuerNameHash, issuerKeyHash) of ``issuer`` under ``algorithm``."""

    def digest(data: bytes) -> bytes:
        h = hashes.Hash(algorithm)
        h.update(data)
        return h.finalize()

    return digest(issuer.subject.public_bytes()), digest(subject_public_key_bits(issuer))


def build_response(
    cert_id: CertId,
    status: Status,
    *,
    issuer: x509.Certificate,
    responder: Signer,
    this_update: datetime,
    next_update: datetime,
) -> bytes:
    """A signed, successful BasicOCSPResponse (DER). ``responder`` is the issuing CA itself or a
    delegated responder it certified; a delegated certificate is included in the response."""
    builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
        issuer_name_hash=cert_id.issuer_name_hash,
        issuer_key_hash=cert_id.issuer_key_hash,
        serial_number=cert_id.serial,
        algorithm=cert_id.algorithm,
        cert_status=_STATUS[status.status],
        this_update=this_update,
        next_update=next_update,
        revocation_time=status.revoked_at if status.status == REVOKED else None,
        revocation_reason=(
            reason_flag(status.reason) if status.status == REVOKED and status.reason else None
        ),
    )
    builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, responder.certificate)
    if responder.certificate != issuer:
        builder = builder.certificates([responder.certificate])
    if cert_id.nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(cert_id.nonce), critical=False)
    response = builder.sign(responder.key, signature_hash(responder.key))
    return response.public_bytes(serialization.Encoding.DER)


def error_response(status: ocsp.OCSPResponseStatus) -> bytes:
    """An unsigned error response: malformedRequest, unauthorized, internalError, tryLater."""
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(
        serialization.Encoding.DER
    )


def build_responder_certificate(
    ca: Signer, key: PrivateKey, *, not_before: datetime, lifetime: timedelta
) -> x509.Certificate:
    """A delegated responder (RFC 6960 4.2.2.2): EKU OCSPSigning and id-pkix-ocsp-nocheck, so
    clients do not ask about the responder itself; short-lived, never past the CA's own end."""
    not_after = min(not_before + lifetime, ca.certificate.not_valid_after_utc)
    common_name = ca.certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    label = str(common_name[0].value) if common_name else "CA"
    public_key = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, f"{label} OCSP Responder")])
        )
        .issuer_name(ca.certificate.subject)
        .public_key(public_key)
        .serial_number(new_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(False, None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        .add_extension(x509.OCSPNoCheck(), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(authority_key_identifier(ca.certificate), critical=False)
    )
    return builder.sign(ca.key, signature_hash(ca.key))
