"""Certificate paths from an authority up to a root, across cross-signatures and external
signatures, so a leaf can be offered with every chain a relying party might trust."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature


@dataclass(frozen=True)
class Variant:
    """One certificate for an authority's key and who signed it."""

    certificate: x509.Certificate
    issuer_id: str | None
    extra: tuple[x509.Certificate, ...] = ()  # outside chain certificates, for external issuers


def is_self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def paths(
    authority_id: str, variants: Callable[[str], list[Variant]], _seen: frozenset[str] = frozenset()
) -> list[list[x509.Certificate]]:
    """Every path from ``authority_id`` upwards, self-signed roots left out (relying parties
    hold those), the primary path first."""
    if authority_id in _seen:
        return []
    seen = _seen | {authority_id}
    result: list[list[x509.Certificate]] = []
    for variant in variants(authority_id):
        cert = variant.certificate
        if is_self_signed(cert):
            result.append([])
        elif variant.issuer_id is not None:
            result.extend([cert, *tail] for tail in paths(variant.issuer_id, variants, seen))
        else:
            result.append([cert, *(c for c in variant.extra if not is_self_signed(c))])
    unique: list[list[x509.Certificate]] = []
    for path in result:
        if path not in unique:
            unique.append(path)
    return unique
