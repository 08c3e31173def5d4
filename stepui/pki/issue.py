"""Build and sign certificates and CSRs. Pure functions: the caller decides names, lifetimes and
serials (the Authority), this module only turns those decisions into RFC 5280 structures."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import AuthorityInformationAccessOID

from stepui.errors import BadCSR
from stepui.pki.keys import PrivateKey, PublicKey, signature_hash
from stepui.pki.templates import Template


@dataclass(frozen=True)
class Signer:
    """The certificate and key of the CA that signs."""

    certificate: x509.Certificate
    key: PrivateKey


@dataclass(frozen=True)
class Extras:
    """Per-issuance additions on top of a template (URLs, constraints)."""

    path_len: int | None = None
    name_constraints: x509.NameConstraints | None = None
    crl_urls: Sequence[str] = ()
    ocsp_urls: Sequence[str] = ()
    ca_issuers_urls: Sequence[str] = ()


def new_serial() -> int:
    """128 random bits (more than the 64 the CA/B Forum asks for), never zero."""
    return secrets.randbits(128) or 1


def _key_usage(template: Template, public_key: PublicKey) -> x509.KeyUsage:
    usages = set(template.key_usage)
    if not isinstance(public_key, rsa.RSAPublicKey):
        usages.discard("key_encipherment")
    return x509.KeyUsage(
        digital_signature="digital_signature" in usages,
        content_commitment="content_commitment" in usages,
        key_encipherment="key_encipherment" in usages,
        data_encipherment="data_encipherment" in usages,
        key_agreement="key_agreement" in usages,
        key_cert_sign="key_cert_sign" in usages,
        crl_sign="crl_sign" in usages,
        encipher_only=False,
        decipher_only=False,
    )


ExtensionList = tuple[tuple[x509.ExtensionType, bool], ...]


def profile_extensions(
    template: Template,
    public_key: PublicKey,
    signer: Signer | None,
    extras: Extras = Extras(),
) -> ExtensionList:
    """The extensions every certificate of one profile shares (all but SKI and SAN).

    Depends only on the template, the key's algorithm, the signer and the extras, so callers
    issuing many certificates compute it once per profile.
    """
    extensions: list[tuple[x509.ExtensionType, bool]] = [(_key_usage(template, public_key), True)]
    if template.is_ca:
        path_len = extras.path_len if extras.path_len is not None else template.path_len
        extensions.append((x509.BasicConstraints(True, path_len), True))
    else:
        extensions.append((x509.BasicConstraints(False, None), True))
    if signer:
        extensions.append((authority_key_identifier(signer.certificate), False))
    if template.extended_key_usage:
        extensions.append((x509.ExtendedKeyUsage(template.eku_oids()), False))
    if extras.name_constraints is not None:
        extensions.append((extras.name_constraints, True))
    crl_urls = dict.fromkeys([*template.crl_urls, *extras.crl_urls])
    if crl_urls:
        points = [
            x509.DistributionPoint([x509.UniformResourceIdentifier(u)], None, None, None)
            for u in crl_urls
        ]
        extensions.append((x509.CRLDistributionPoints(points), False))
    access = [
        x509.AccessDescription(
            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(u)
        )
        for u in dict.fromkeys([*template.ocsp_urls, *extras.ocsp_urls])
    ] + [
        x509.AccessDescription(
            AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(u)
        )
        for u in dict.fromkeys([*template.ca_issuers_urls, *extras.ca_issuers_urls])
    ]
    if access:
        extensions.append((x509.AuthorityInformationAccess(access), False))
    if template.policies:
        policies = [
            x509.PolicyInformation(x509.ObjectIdentifier(p), None) for p in template.policies
        ]
        extensions.append((x509.CertificatePolicies(policies), False))
    return tuple(extensions)


def build_certificate(
    *,
    subject: x509.Name,
    public_key: PublicKey,
    template: Template,
    not_before: datetime,
    not_after: datetime,
    serial: int,
    sans: Sequence[x509.GeneralName] = (),
    signer: Signer | None = None,
    self_key: PrivateKey | None = None,
    extras: Extras = Extras(),
    profile: ExtensionList | None = None,
) -> x509.Certificate:
    """Sign a certificate with ``signer``, or self-sign with ``self_key`` when there is none.
    ``profile`` is :func:`profile_extensions` computed ahead for the same arguments."""
    if signer is None and self_key is None:
        raise ValueError("a certificate needs a signer or a self-signing key")
    issuer_name = signer.certificate.subject if signer else subject
    signing_key = signer.key if signer else self_key
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(ski, critical=False)
    )
    if signer is None:
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
        builder = builder.add_extension(aki, critical=False)
    for extension, critical in profile or profile_extensions(template, public_key, signer, extras):
        builder = builder.add_extension(extension, critical=critical)
    if sans:
        # RFC 5280 4.2.1.6: critical when the subject is empty.
        builder = builder.add_extension(
            x509.SubjectAlternativeName(list(sans)), critical=len(subject) == 0
        )
    return builder.sign(signing_key, signature_hash(signing_key))


def authority_key_identifier(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    """Point at the issuer's own SKI, whatever method computed it, so chains link."""
    try:
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key())
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def build_csr(subject: x509.Name, key: PrivateKey, sans: Sequence[x509.GeneralName] = ()) -> bytes:
    """A PEM CSR; used to have an outside CA sign one of our intermediates."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    builder = builder.add_extension(x509.BasicConstraints(True, 0), critical=True)
    csr = builder.sign(key, signature_hash(key))
    return csr.public_bytes(serialization.Encoding.PEM)


def load_csr(data: bytes) -> x509.CertificateSigningRequest:
    """Parse a PEM or DER CSR and check its self-signature."""
    if not data.strip():
        raise BadCSR("the CSR is empty")
    try:
        if b"-----BEGIN" in data:
            csr = x509.load_pem_x509_csr(data)
        else:
            csr = x509.load_der_x509_csr(data)
    except ValueError as exc:
        raise BadCSR(f"the CSR cannot be parsed: {exc}") from exc
    try:
        csr.public_key()
        valid = csr.is_signature_valid
    except (ValueError, x509.UnsupportedGeneralNameType) as exc:
        raise BadCSR(f"the CSR cannot be parsed: {exc}") from exc
    except Exception as exc:  # unsupported key or signature algorithms surface as several types
        raise BadCSR(f"the CSR uses an unsupported key or signature algorithm: {exc}") from exc
    if not valid:
        raise BadCSR("the CSR signature does not verify")
    return csr
