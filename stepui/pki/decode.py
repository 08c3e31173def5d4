"""X.509 parts as plain, JSON-able values: names, general names, keys, signature algorithms and
every extension.

Each extension type is decoded exactly once, by the ``_DECODERS`` table, so the text and the JSON
views of :mod:`stepui.pki.inspect` (and anything else that lists SANs or key usages) agree, and
teaching a new extension to all of them is one table row.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    NameOID,
    ObjectIdentifier,
    SignatureAlgorithmOID,
    SubjectInformationAccessOID,
)

Json = Any  # str | int | bool | None | list[Json] | dict[str, Json]


# --- small formatters ---------------------------------------------------------------------------

_ATTRIBUTE_NAMES = {
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.POSTAL_CODE: "postalCode",
}


def colon_hex(data: bytes | None) -> str | None:
    """Lowercase colon hex as openssl prints bytes; None (absent) stays None."""
    return None if data is None else data.hex(":")


def rfc3339(moment: datetime | None) -> str | None:
    """UTC instants as 2026-12-03T16:00:00Z, the form step and ACME use."""
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def name_text(name: x509.Name) -> str:
    """CN first whichever order the DER holds (stepui's own subjects are stored as typed)."""
    rdns = list(name.rdns)
    if rdns and any(attribute.oid == NameOID.COMMON_NAME for attribute in rdns[-1]):
        rdns.reverse()
    return ",".join(rdn.rfc4514_string(_ATTRIBUTE_NAMES) for rdn in rdns)


def short_name(name: x509.Name) -> str:
    """The CN alone, for one-line summaries; the whole name when there is no CN."""
    common_names = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(common_names[0].value) if common_names else name_text(name)


def _asn1_string(der: bytes) -> str:
    """Text of a short UTF8/Printable/IA5 string (a UPN otherName is one), hex otherwise."""
    codecs = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii"}
    if len(der) >= 2 and der[0] in codecs and der[1] == len(der) - 2:
        try:
            return der[2:].decode(codecs[der[0]])
        except UnicodeDecodeError:
            pass
    return der.hex(":")


_GENERAL_NAME_PREFIXES = {
    x509.DNSName: "DNS",
    x509.IPAddress: "IP Address",
    x509.RFC822Name: "email",
    x509.UniformResourceIdentifier: "URI",
    x509.DirectoryName: "DirName",
    x509.RegisteredID: "Registered ID",
    x509.OtherName: "othername",
}


def _general_name(name: x509.GeneralName) -> str:
    if isinstance(name, x509.DirectoryName):
        value = name_text(name.value)
    elif isinstance(name, x509.RegisteredID):
        value = name.value.dotted_string
    elif isinstance(name, x509.OtherName):
        value = f"{name.type_id.dotted_string}:{_asn1_string(name.value)}"
    else:
        value = str(name.value)  # IP networks (name constraints) render as 10.0.0.0/8
    return f"{_GENERAL_NAME_PREFIXES[type(name)]}:{value}"


def _general_names(names: Any) -> list[str] | None:
    return None if names is None else [_general_name(name) for name in names]


# --- extensions: one decoder per type, shared by the text and the dict views ---------------------

_KEY_USAGES = [
    ("digital_signature", "Digital Signature"),
    ("content_commitment", "Content Commitment"),
    ("key_encipherment", "Key Encipherment"),
    ("data_encipherment", "Data Encipherment"),
    ("key_agreement", "Key Agreement"),
    ("key_cert_sign", "Certificate Sign"),
    ("crl_sign", "CRL Sign"),
]
EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "Server Authentication",
    ExtendedKeyUsageOID.CLIENT_AUTH: "Client Authentication",
    ExtendedKeyUsageOID.CODE_SIGNING: "Code Signing",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "E-mail Protection",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSP Signing",
    ExtendedKeyUsageOID.TIME_STAMPING: "Time Stamping",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "Any Extended Key Usage",
}
_ACCESS_METHODS = {
    AuthorityInformationAccessOID.OCSP: "OCSP",
    AuthorityInformationAccessOID.CA_ISSUERS: "CA Issuers",
    SubjectInformationAccessOID.CA_REPOSITORY: "CA Repository",
}
_REASONS = {
    x509.ReasonFlags.unspecified: "Unspecified",
    x509.ReasonFlags.key_compromise: "Key Compromise",
    x509.ReasonFlags.ca_compromise: "CA Compromise",
    x509.ReasonFlags.affiliation_changed: "Affiliation Changed",
    x509.ReasonFlags.superseded: "Superseded",
    x509.ReasonFlags.cessation_of_operation: "Cessation Of Operation",
    x509.ReasonFlags.certificate_hold: "Certificate Hold",
    x509.ReasonFlags.privilege_withdrawn: "Privilege Withdrawn",
    x509.ReasonFlags.aa_compromise: "AA Compromise",
    x509.ReasonFlags.remove_from_crl: "Remove From CRL",
}
_ACME_IDENTIFIER = ObjectIdentifier("1.3.6.1.5.5.7.1.31")


def _key_usage(usage: x509.KeyUsage) -> list[str]:
    names = [label for attr, label in _KEY_USAGES if getattr(usage, attr)]
    if usage.key_agreement:  # encipher_only/decipher_only raise unless key_agreement is set
        names += [
            label
            for label in ("Encipher Only", "Decipher Only")
            if getattr(usage, label.lower().replace(" ", "_"))
        ]
    return names


def _distribution_points(points: Any) -> list[dict[str, Json]]:
    return [
        {
            "full_name": _general_names(point.full_name),
            "relative_name": (
                point.relative_name.rfc4514_string(_ATTRIBUTE_NAMES)
                if point.relative_name
                else None
            ),
            "reasons": sorted(_REASONS[reason] for reason in point.reasons or ()) or None,
            "crl_issuer": _general_names(point.crl_issuer),
        }
        for point in points
    ]


def _policies(policies: x509.CertificatePolicies) -> list[dict[str, Json]]:
    decoded = []
    for policy in policies:
        qualifiers = policy.policy_qualifiers or []
        notices = [q.explicit_text or "" for q in qualifiers if isinstance(q, x509.UserNotice)]
        decoded.append(
            {
                "policy": policy.policy_identifier.dotted_string,
                "cps": [q for q in qualifiers if isinstance(q, str)] or None,
                "user_notice": notices or None,
            }
        )
    return decoded


_DECODERS: dict[type, tuple[str, Callable[[Any], Json]]] = {
    x509.BasicConstraints: (
        "Basic Constraints",
        lambda v: {"ca": v.ca, "path_length": v.path_length},
    ),
    x509.KeyUsage: ("Key Usage", _key_usage),
    x509.ExtendedKeyUsage: (
        "Extended Key Usage",
        lambda v: [EKU_NAMES.get(oid, oid.dotted_string) for oid in v],
    ),
    x509.SubjectKeyIdentifier: ("Subject Key Identifier", lambda v: colon_hex(v.digest)),
    x509.AuthorityKeyIdentifier: (
        "Authority Key Identifier",
        lambda v: {
            "key_id": colon_hex(v.key_identifier),
            "issuer": _general_names(v.authority_cert_issuer),
            "serial_number": (
                None
                if v.authority_cert_serial_number is None
                else hex(v.authority_cert_serial_number)
            ),
        },
    ),
    x509.SubjectAlternativeName: ("Subject Alternative Name", _general_names),
    x509.IssuerAlternativeName: ("Issuer Alternative Name", _general_names),
    x509.CertificateIssuer: ("Certificate Issuer", _general_names),
    x509.NameConstraints: (
        "Name Constraints",
        lambda v: {
            "permitted": _general_names(v.permitted_subtrees),
            "excluded": _general_names(v.excluded_subtrees),
        },
    ),
    x509.CRLDistributionPoints: ("CRL Distribution Points", _distribution_points),
    x509.FreshestCRL: ("Freshest CRL", _distribution_points),
    x509.AuthorityInformationAccess: (
        "Authority Information Access",
        lambda v: [
            f"{_ACCESS_METHODS.get(d.access_method, d.access_method.dotted_string)} - "
            f"{_general_name(d.access_location)}"
            for d in v
        ],
    ),
    x509.CertificatePolicies: ("Certificate Policies", _policies),
    x509.PolicyConstraints: (
        "Policy Constraints",
        lambda v: {
            "require_explicit_policy": v.require_explicit_policy,
            "inhibit_policy_mapping": v.inhibit_policy_mapping,
        },
    ),
    x509.InhibitAnyPolicy: ("Inhibit Any Policy", lambda v: {"skip_certs": v.skip_certs}),
    x509.TLSFeature: ("TLS Feature", lambda v: [f"{f.name} ({f.value})" for f in v]),
    x509.OCSPNoCheck: ("OCSP No Check", lambda v: "present"),
    x509.PrecertPoison: ("Precertificate Poison", lambda v: "present"),
    x509.PrecertificateSignedCertificateTimestamps: (
        "Precertificate SCTs",
        lambda v: {"count": len(v)},
    ),
    x509.SignedCertificateTimestamps: ("SCTs", lambda v: {"count": len(v)}),
    x509.CRLNumber: ("CRL Number", lambda v: v.crl_number),
    x509.DeltaCRLIndicator: ("Delta CRL Indicator", lambda v: v.crl_number),
    x509.CRLReason: ("CRL Reason", lambda v: _REASONS[v.reason]),
    x509.InvalidityDate: ("Invalidity Date", lambda v: rfc3339(v.invalidity_date_utc)),
    x509.IssuingDistributionPoint: (
        "Issuing Distribution Point",
        lambda v: {
            "full_name": _general_names(v.full_name),
            "only_contains_user_certs": v.only_contains_user_certs,
            "only_contains_ca_certs": v.only_contains_ca_certs,
            "indirect_crl": v.indirect_crl,
        },
    ),
}


def decode_extension(ext: x509.Extension[Any]) -> dict[str, Json]:
    """{name, oid, critical, value}; an unknown extension keeps its OID and the hex of its value."""
    value = ext.value
    if type(value) in _DECODERS:
        name, decode = _DECODERS[type(value)]
        decoded = decode(value)
    elif isinstance(value, x509.UnrecognizedExtension):
        name = "ACME Identifier" if ext.oid == _ACME_IDENTIFIER else ext.oid.dotted_string
        decoded = colon_hex(value.value)
    else:  # a type cryptography knows and the table does not: still show its bytes
        name, decoded = type(value).__name__, colon_hex(value.public_bytes())
    return {"name": name, "oid": ext.oid.dotted_string, "critical": ext.critical, "value": decoded}


def extension_value(extensions: list[dict[str, Json]], oid: ObjectIdentifier) -> Json:
    """The decoded value of one extension in a decoded list, None when it is absent."""
    return next((e["value"] for e in extensions if e["oid"] == oid.dotted_string), None)


# --- keys, signatures, fingerprints -------------------------------------------------------------

_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_SIGNATURE_NAMES = {
    SignatureAlgorithmOID.RSA_WITH_SHA1: "SHA1-RSA",
    SignatureAlgorithmOID.RSA_WITH_SHA256: "SHA256-RSA",
    SignatureAlgorithmOID.RSA_WITH_SHA384: "SHA384-RSA",
    SignatureAlgorithmOID.RSA_WITH_SHA512: "SHA512-RSA",
    SignatureAlgorithmOID.ECDSA_WITH_SHA1: "ECDSA-SHA1",
    SignatureAlgorithmOID.ECDSA_WITH_SHA256: "ECDSA-SHA256",
    SignatureAlgorithmOID.ECDSA_WITH_SHA384: "ECDSA-SHA384",
    SignatureAlgorithmOID.ECDSA_WITH_SHA512: "ECDSA-SHA512",
    SignatureAlgorithmOID.ED25519: "Ed25519",
    SignatureAlgorithmOID.ED448: "Ed448",
}


def public_key_info(key: Any) -> dict[str, Json]:
    """Algorithm, size or curve, and the key material as hex (modulus and exponent for RSA)."""
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    if isinstance(key, ec.EllipticCurvePublicKey):
        point = key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        curve = _CURVES.get(key.curve.name, key.curve.name)
        return {
            "algorithm": "ECDSA",
            "size": key.curve.key_size,
            "curve": curve,
            "public_key": colon_hex(point),
        }
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        modulus = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
        return {
            "algorithm": "RSA",
            "size": key.key_size,
            "modulus": colon_hex(modulus),
            "exponent": numbers.e,
        }
    if isinstance(key, ed25519.Ed25519PublicKey):
        return {"algorithm": "Ed25519", "public_key": colon_hex(key.public_bytes(*raw))}
    if isinstance(key, ed448.Ed448PublicKey):
        return {"algorithm": "Ed448", "public_key": colon_hex(key.public_bytes(*raw))}
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "algorithm": type(key).__name__.removesuffix("PublicKey"),
        "size": getattr(key, "key_size", None),
        "public_key": colon_hex(spki),
    }


def key_info(obj: x509.Certificate | x509.CertificateSigningRequest) -> dict[str, Json]:
    """public_key_info of a certificate or CSR, tolerating key types cryptography cannot load."""
    try:
        return public_key_info(obj.public_key())
    except (ValueError, UnsupportedAlgorithm):  # e.g. GOST: show what it is, not a traceback
        return {"algorithm": obj.public_key_algorithm_oid.dotted_string}


def describe_key(info: dict[str, Json]) -> str:
    """ "ECDSA P-256", "RSA 2048", "Ed25519" from a public_key_info dict."""
    detail = info.get("curve") or info.get("size")
    return f"{info['algorithm']} {detail}" if detail else str(info["algorithm"])


def signature_algorithm(
    obj: x509.Certificate | x509.CertificateSigningRequest | x509.CertificateRevocationList,
) -> str:
    """Go/step-style names ("ECDSA-SHA256", "SHA256-RSA"), the dotted OID for anything exotic."""
    oid = obj.signature_algorithm_oid
    if oid == SignatureAlgorithmOID.RSASSA_PSS and obj.signature_hash_algorithm:
        return f"{obj.signature_hash_algorithm.name.upper()}-RSAPSS"
    return _SIGNATURE_NAMES.get(oid, oid.dotted_string)
