"""Certificate revocation lists (RFC 5280 section 5)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from stepui.errors import BadInput
from stepui.pki.issue import Signer, authority_key_identifier
from stepui.pki.keys import signature_hash

# RFC 5280 5.3.1 reason codes; 7 is unused.
REASONS: dict[str, int] = {
    "unspecified": 0,
    "keyCompromise": 1,
    "cACompromise": 2,
    "affiliationChanged": 3,
    "superseded": 4,
    "cessationOfOperation": 5,
    "certificateHold": 6,
    "removeFromCRL": 8,
    "privilegeWithdrawn": 9,
    "aACompromise": 10,
}
_FLAGS = {
    code: x509.ReasonFlags[_name]
    for _name, code in (
        ("unspecified", 0),
        ("key_compromise", 1),
        ("ca_compromise", 2),
        ("affiliation_changed", 3),
        ("superseded", 4),
        ("cessation_of_operation", 5),
        ("certificate_hold", 6),
        ("remove_from_crl", 8),
        ("privilege_withdrawn", 9),
        ("aa_compromise", 10),
    )
}


def reason_code(reason: str | int) -> int:
    """Accept a code or a name in any case (``keyCompromise``, ``key-compromise``)."""
    if isinstance(reason, int) or str(reason).isdigit():
        code = int(reason)
        if code not in _FLAGS:
            raise BadInput(
                f"revocation reason code {code} is not one of 0-10 except 7",
                acme_type="badRevocationReason",
            )
        return code
    wanted = str(reason).replace("-", "").replace("_", "").lower()
    for name, code in REASONS.items():
        if name.lower() == wanted:
            return code
    raise BadInput(
        f"unknown revocation reason {reason!r}: use one of {', '.join(REASONS)}",
        acme_type="badRevocationReason",
    )


def reason_name(code: int) -> str:
    return next(name for name, value in REASONS.items() if value == code)


def reason_flag(code: int) -> x509.ReasonFlags:
    """The ``cryptography`` flag for a reason code (CRL entries and OCSP responses)."""
    return _FLAGS[code]


@dataclass(frozen=True)
class RevokedEntry:
    serial: int
    revoked_at: datetime
    reason: int


def build_crl(
    signer: Signer,
    revoked: Iterable[RevokedEntry],
    *,
    this_update: datetime,
    next_update: datetime,
    number: int,
) -> x509.CertificateRevocationList:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(signer.certificate.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(authority_key_identifier(signer.certificate), critical=False)
    )
    for entry in revoked:
        item = (
            x509.RevokedCertificateBuilder()
            .serial_number(entry.serial)
            .revocation_date(entry.revoked_at)
        )
        if entry.reason:
            item = item.add_extension(x509.CRLReason(_FLAGS[entry.reason]), critical=False)
        builder = builder.add_revoked_certificate(item.build())
    return builder.sign(signer.key, signature_hash(signer.key))
