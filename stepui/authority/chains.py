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


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer`` names and signed ``cert`` (names match, signature verifies)."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def is_self_signed(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject and signed_by(cert, cert)


def basic_constraints(cert: x509.Certificate) -> x509.BasicConstraints | None:
    """The certificate's basicConstraints, None when it has none (then it is no CA)."""
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return None


def _full_paths(
    authority_id: str, variants: Callable[[str], list[Variant]], seen: frozenset[str]
) -> list[list[x509.Certificate]]:
    """Paths up to and including the self-signed root where one is known."""
    if authority_id in seen:
        return []
    seen = seen | {authority_id}
    result: list[list[x509.Certificate]] = []
    for variant in variants(authority_id):
        cert = variant.certificate
        if is_self_signed(cert):
            result.append([cert])
        elif variant.issuer_id is not None:
            result.extend([cert, *tail] for tail in _full_paths(variant.issuer_id, variants, seen))
        else:
            result.append([cert, *variant.extra])
    return result


def _path_length_ok(path: list[x509.Certificate]) -> bool:
    """RFC 5280 6.1.4 (m): a CA certificate may have at most pathLenConstraint CA certificates
    below it in a leaf's chain. ``path`` starts at the issuing CA, so ``path[i]`` has ``i``."""
    for below, cert in enumerate(path):
        limit = basic_constraints(cert)
        if limit is None or not limit.ca:
            return False
        if limit.path_length is not None and below > limit.path_length:
            return False
    return True


def paths(
    authority_id: str, variants: Callable[[str], list[Variant]]
) -> list[list[x509.Certificate]]:
    """Every valid path from ``authority_id`` upwards, the primary path first, self-signed
    roots left out (relying parties hold those). A path that a relying party would refuse
    for its path lengths (e.g. through a cross-certificate with pathLen 0) is not offered."""
    unique: list[list[x509.Certificate]] = []
    for full in _full_paths(authority_id, variants, frozenset()):
        if not _path_length_ok(full):
            continue
        path = [cert for cert in full if not is_self_signed(cert)]
        if path not in unique:
            unique.append(path)
    return unique
