"""Human and JSON views of a certificate, CSR or CRL (`stepui cert inspect`, the TUI detail screen).

The dict views are the single source: they hold every field, decoded by :mod:`stepui.pki.decode`,
and the text views only lay those values out with ``_render``, so text and JSON never disagree.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import CRLEntryExtensionOID, ExtendedKeyUsageOID, ExtensionOID

from stepui.errors import BadCSR, BadInput
from stepui.pki.decode import (
    EKU_NAMES,
    Json,
    colon_hex,
    decode_extension,
    describe_key,
    extension_value,
    key_info,
    name_text,
    public_key_info,
    rfc3339,
    short_name,
    signature_algorithm,
)

Inspectable = x509.Certificate | x509.CertificateSigningRequest | x509.CertificateRevocationList

# --- loading ------------------------------------------------------------------------------------

_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")
_CERT_LABELS = ("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE")
_LOADERS: dict[str, tuple[str, Callable[[bytes], Inspectable]]] = {
    "CERTIFICATE": ("certificate", x509.load_der_x509_certificate),
    "X509 CERTIFICATE": ("certificate", x509.load_der_x509_certificate),
    # OpenSSL's -trustout form: the certificate's DER followed by trust settings we ignore.
    "TRUSTED CERTIFICATE": (
        "certificate",
        lambda der: x509.load_der_x509_certificate(_first_der_element(der)),
    ),
    "CERTIFICATE REQUEST": ("CSR", x509.load_der_x509_csr),
    "NEW CERTIFICATE REQUEST": ("CSR", x509.load_der_x509_csr),
    "X509 CRL": ("CRL", x509.load_der_x509_crl),
}


def load_any(data: bytes) -> Inspectable:
    """Read what the user points `cert inspect` at, PEM or DER, refusing anything else with a
    reason precise enough to fix the input (a key, a cut-off file, garbage).

    In PEM, the first inspectable block wins, so a key+certificate file shows the certificate."""
    if not data.strip():
        raise BadInput("empty input: expected a PEM or DER certificate, CSR or CRL")
    blocks = _pem_blocks(data)
    if not blocks:
        return _load_der(data)
    for label, der in blocks:
        if label in _LOADERS:
            return _load_block(label, der)
    label = blocks[0][0]
    if "PRIVATE KEY" in label:
        raise BadInput(f"this is a private key ({label}), not a certificate, CSR or CRL")
    if "PUBLIC KEY" in label:
        raise BadInput(f"this is a public key ({label}), not a certificate, CSR or CRL")
    raise BadInput(f"unsupported PEM block {label!r}: expected CERTIFICATE, CSR or X509 CRL")


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """Every certificate of a chain or bundle, in file order (other PEM blocks are skipped)."""
    blocks = _pem_blocks(data)
    if blocks:
        certs = [_load_block(label, der) for label, der in blocks if label in _CERT_LABELS]
    else:
        certs = (
            [obj] if data.strip() and isinstance(obj := _load_der(data), x509.Certificate) else []
        )
    if not certs:
        raise BadInput("no certificate found in the input")
    return certs


def _pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    """(label, DER) of each PEM block; a BEGIN line without its END means the file was cut."""
    blocks = []
    pos = 0
    while match := _BEGIN.search(data, pos):
        label = match.group(1).decode()
        end_line = b"-----END " + match.group(1) + b"-----"
        end = data.find(end_line, match.end())
        if end < 0:
            raise BadInput(f"truncated PEM: the {label} block has no '-----END {label}-----' line")
        lines = data[match.end() : end].splitlines()
        body = b"".join(line.strip() for line in lines if b":" not in line)  # skip RFC 1421 headers
        try:
            blocks.append((label, base64.b64decode(body, validate=True)))
        except binascii.Error:
            raise BadInput(f"the {label} PEM block is not valid base64") from None
        pos = end + len(end_line)
    return blocks


def _load_block(label: str, der: bytes) -> Any:
    what, loader = _LOADERS[label]
    try:
        return _fully_parsed(loader(der))
    except ValueError as exc:
        error = BadCSR if what == "CSR" else BadInput
        raise error(f"the {label} PEM block is not a valid {what}: {exc}") from None


def _load_der(data: bytes) -> Inspectable:
    if all(byte in b"\t\n\r" or 32 <= byte < 127 for byte in data[:512]):
        raise BadInput("no PEM block found: expected a '-----BEGIN CERTIFICATE-----' line or DER")
    if data[0] != 0x30:
        raise BadInput("neither PEM nor DER: binary data that is not an ASN.1 SEQUENCE")
    loaders = (x509.load_der_x509_certificate, x509.load_der_x509_csr, x509.load_der_x509_crl)
    for loader in loaders:
        try:
            return _fully_parsed(loader(data))
        except ValueError:
            continue
    if _is_der_private_key(data):
        raise BadInput("this is a DER private key, not a certificate, CSR or CRL")
    raise BadInput("not a valid DER certificate, CSR or CRL")


def _is_der_private_key(data: bytes) -> bool:
    try:
        serialization.load_der_private_key(data, password=None)
    except TypeError:  # encrypted: it is a private key, we just cannot open it
        return True
    except (ValueError, UnsupportedAlgorithm):
        return False
    return True


def _fully_parsed(obj: Any) -> Any:
    """cryptography parses extensions lazily; touch them now so a malformed one is a load error
    (BadInput) rather than a crash in the middle of rendering."""
    _ = obj.extensions
    if isinstance(obj, x509.CertificateRevocationList):
        for entry in obj:
            _ = entry.extensions
    return obj


def _first_der_element(der: bytes) -> bytes:
    if len(der) < 2:
        return der
    if der[1] < 0x80:
        return der[: 2 + der[1]]
    size = der[1] & 0x7F
    return der[: 2 + size + int.from_bytes(der[2 : 2 + size], "big")]


def key_description(public_key: Any) -> str:
    """The one-phrase key name used in lists and --short: "ECDSA P-256", "RSA 2048", "Ed25519"."""
    return describe_key(public_key_info(public_key))


_FINGERPRINT_HASHES = {
    "sha256": hashes.SHA256,
    "sha1": hashes.SHA1,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def fingerprint(cert: x509.Certificate, algorithm: str = "sha256") -> str:
    """Colon-separated uppercase hex, the form people compare against browsers and `step`."""
    try:
        hash_class = _FINGERPRINT_HASHES[algorithm.lower()]
    except KeyError:
        known = ", ".join(_FINGERPRINT_HASHES)
        raise BadInput(f"unknown fingerprint algorithm {algorithm!r}: use one of {known}") from None
    return cert.fingerprint(hash_class()).hex(":").upper()


# --- dict views ---------------------------------------------------------------------------------


def _certificate_kind(extensions: list[dict[str, Json]], self_issued: bool) -> str:
    constraints = extension_value(extensions, ExtensionOID.BASIC_CONSTRAINTS)
    if constraints and constraints["ca"]:
        return "Root CA Certificate" if self_issued else "Intermediate CA Certificate"
    usages = extension_value(extensions, ExtensionOID.EXTENDED_KEY_USAGE) or []
    tls = {EKU_NAMES[ExtendedKeyUsageOID.SERVER_AUTH], EKU_NAMES[ExtendedKeyUsageOID.CLIENT_AUTH]}
    return "TLS Certificate" if tls & set(usages) else "Certificate"


def certificate_dict(cert: x509.Certificate) -> dict[str, Json]:
    """The whole certificate as plain data: `--json`, the TUI and the text view all read this."""
    extensions = [decode_extension(ext) for ext in cert.extensions]
    return {
        "kind": _certificate_kind(extensions, cert.subject == cert.issuer),
        "version": cert.version.value + 1,
        "serial_number": str(cert.serial_number),  # a string: 128-bit serials overflow JS numbers
        "serial_hex": hex(cert.serial_number),
        "signature_algorithm": signature_algorithm(cert),
        "issuer": name_text(cert.issuer),
        "subject": name_text(cert.subject),
        "sans": extension_value(extensions, ExtensionOID.SUBJECT_ALTERNATIVE_NAME) or [],
        "not_before": rfc3339(cert.not_valid_before_utc),
        "not_after": rfc3339(cert.not_valid_after_utc),
        "public_key": key_info(cert),
        "extensions": extensions,
        "signature": colon_hex(cert.signature),
        "fingerprints": {"sha256": fingerprint(cert), "sha1": fingerprint(cert, "sha1")},
    }


def csr_dict(csr: x509.CertificateSigningRequest) -> dict[str, Json]:
    """A CSR as plain data, including whether its self-signature holds."""
    extensions = [decode_extension(ext) for ext in csr.extensions]
    return {
        "subject": name_text(csr.subject),
        "sans": extension_value(extensions, ExtensionOID.SUBJECT_ALTERNATIVE_NAME) or [],
        "public_key": key_info(csr),
        "signature_algorithm": signature_algorithm(csr),
        "signature_valid": csr.is_signature_valid,
        "extensions": extensions,
        "signature": colon_hex(csr.signature),
    }


def _revoked_dict(entry: x509.RevokedCertificate) -> dict[str, Json]:
    extensions = [decode_extension(ext) for ext in entry.extensions]
    return {
        "serial_number": str(entry.serial_number),
        "serial_hex": hex(entry.serial_number),
        "revocation_date": rfc3339(entry.revocation_date_utc),
        "reason": extension_value(extensions, CRLEntryExtensionOID.CRL_REASON),
        "extensions": extensions,
    }


def crl_dict(crl: x509.CertificateRevocationList) -> dict[str, Json]:
    """A CRL as plain data: its dates, number and every revoked serial with its reason."""
    extensions = [decode_extension(ext) for ext in crl.extensions]
    return {
        "issuer": name_text(crl.issuer),
        "this_update": rfc3339(crl.last_update_utc),
        "next_update": rfc3339(crl.next_update_utc),
        "crl_number": extension_value(extensions, ExtensionOID.CRL_NUMBER),
        "signature_algorithm": signature_algorithm(crl),
        "extensions": extensions,
        "revoked": [_revoked_dict(entry) for entry in crl],
        "signature": colon_hex(crl.signature),
    }


_LONG_HEX = re.compile(r"(?:[0-9a-f]{2}:){20,}[0-9a-f]{2}")


# --- text views ---------------------------------------------------------------------------------

_LABELS = {
    "ca": "CA",
    "key_id": "KeyID",
    "cps": "CPS",
    "crl_issuer": "CRL issuer",
    "sha256": "SHA-256",
    "sha1": "SHA-1",
}


def _scalar(value: Json) -> str:
    return ("TRUE" if value else "FALSE") if isinstance(value, bool) else str(value)


def _render(value: Json, indent: int) -> list[str]:
    """Lay out a decoded value as indented text: the one renderer behind every text view.
    Dict keys become labels, None means "absent" and is skipped, long hex wraps at 16 bytes."""
    pad = " " * indent
    if isinstance(value, list):
        return [line for item in value for line in _render(item, indent)]
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            label = _LABELS.get(key, key.replace("_", " ").capitalize())
            if item is None:
                continue
            if isinstance(item, dict | list) or _LONG_HEX.fullmatch(str(item)):
                lines += [f"{pad}{label}:", *_render(item, indent + 4)]
            else:
                lines.append(f"{pad}{label}: {_scalar(item)}")
        return lines
    if isinstance(value, str) and _LONG_HEX.fullmatch(value):
        return [pad + value[i : i + 48].rstrip(":") for i in range(0, len(value), 48)]
    return [pad + _scalar(value)]


def _extensions_text(title: str, extensions: list[dict[str, Json]], indent: int) -> list[str]:
    if not extensions:
        return []
    lines = [" " * indent + f"{title}:"]
    for ext in extensions:
        critical = " critical" if ext["critical"] else ""
        lines += [
            " " * (indent + 4) + f"{ext['name']}:{critical}",
            *_render(ext["value"], indent + 8),
        ]
    return lines


def certificate_text(cert: x509.Certificate) -> str:
    """Everything in the certificate, decoded, laid out like `step certificate inspect`."""
    d = certificate_dict(cert)
    lines = [
        "Certificate:",
        "    Data:",
        f"        Version: {d['version']} ({hex(d['version'] - 1)})",
        f"        Serial Number: {d['serial_number']} ({d['serial_hex']})",
        f"        Signature Algorithm: {d['signature_algorithm']}",
        f"        Issuer: {d['issuer'] or '(empty)'}",
        "        Validity",
        f"            Not Before: {d['not_before']}",
        f"            Not After : {d['not_after']}",
        f"        Subject: {d['subject'] or '(empty)'}",
        "        Subject Public Key Info:",
        *_render(d["public_key"], 12),
        *_extensions_text("X509v3 extensions", d["extensions"], 8),
        f"    Signature Algorithm: {d['signature_algorithm']}",
        "    Signature:",
        *_render(d["signature"], 8),
        "    Fingerprints:",
        *_render(d["fingerprints"], 8),
    ]
    return "\n".join(lines)


def certificate_short(cert: x509.Certificate) -> str:
    """Four lines for lists and `--short`: what it is, who it names, who signed it, when valid."""
    d = certificate_dict(cert)
    serial = d["serial_number"]
    if len(serial) > 10:
        serial = f"{serial[:4]}...{serial[-4:]}"
    subject = short_name(cert.subject) or ", ".join(d["sans"]) or "(empty)"
    kind = f"X.509v{d['version']} {d['kind']} ({describe_key(d['public_key'])})"
    return "\n".join(
        [
            f"{kind} [Serial: {serial}]",
            f"  Subject: {subject}",
            f"  Issuer: {short_name(cert.issuer) or '(empty)'}",
            f"  Valid from: {d['not_before']} to: {d['not_after']}",
        ]
    )


def csr_text(csr: x509.CertificateSigningRequest) -> str:
    """The CSR decoded, with its requested extensions and whether its signature is valid."""
    d = csr_dict(csr)
    lines = [
        "Certificate Request:",
        "    Data:",
        f"        Subject: {d['subject'] or '(empty)'}",
        "        Subject Public Key Info:",
        *_render(d["public_key"], 12),
        *_extensions_text("Requested Extensions", d["extensions"], 8),
        f"    Signature Algorithm: {d['signature_algorithm']}",
        f"    Signature: {'valid' if d['signature_valid'] else 'INVALID'}",
        *_render(d["signature"], 8),
    ]
    return "\n".join(lines)


def crl_text(crl: x509.CertificateRevocationList) -> str:
    """The CRL decoded: issuer, dates, extensions, then each revoked serial with its reason."""
    d = crl_dict(crl)
    lines = [
        "Certificate Revocation List:",
        f"    Signature Algorithm: {d['signature_algorithm']}",
        f"    Issuer: {d['issuer'] or '(empty)'}",
        f"    This Update: {d['this_update']}",
        f"    Next Update: {d['next_update'] or 'none'}",
        *_extensions_text("CRL extensions", d["extensions"], 4),
        "    Revoked Certificates:" if d["revoked"] else "    No Revoked Certificates.",
    ]
    for entry in d["revoked"]:
        lines += [
            f"        Serial Number: {entry['serial_hex']} ({entry['serial_number']})",
            f"            Revocation Date: {entry['revocation_date']}",
            *_extensions_text("CRL entry extensions", entry["extensions"], 12),
        ]
    lines += ["    Signature:", *_render(d["signature"], 8)]
    return "\n".join(lines)


def _csr_short(csr: x509.CertificateSigningRequest) -> str:
    d = csr_dict(csr)
    signature = "valid" if d["signature_valid"] else "INVALID"
    subject = short_name(csr.subject) or ", ".join(d["sans"]) or "(empty)"
    key = describe_key(d["public_key"])
    return f"PKCS #10 Certificate Request ({key}) [Signature: {signature}]\n  Subject: {subject}"


def _crl_short(crl: x509.CertificateRevocationList) -> str:
    d = crl_dict(crl)
    return "\n".join(
        [
            f"X.509v2 CRL [Number: {d['crl_number']}]",
            f"  Issuer: {short_name(crl.issuer) or '(empty)'}",
            f"  This update: {d['this_update']} next update: {d['next_update'] or 'none'}",
            f"  Revoked: {len(d['revoked'])}",
        ]
    )


_VIEWS: list[
    tuple[type, tuple[Callable[[Any], str], Callable[[Any], str], Callable[[Any], Json]]]
] = [
    (x509.Certificate, (certificate_text, certificate_short, certificate_dict)),
    (x509.CertificateSigningRequest, (csr_text, _csr_short, csr_dict)),
    (x509.CertificateRevocationList, (crl_text, _crl_short, crl_dict)),
]


def summarize(obj: Inspectable, *, fmt: str = "text") -> str:
    """One entry point for every face: the CLI's default/--short/--json map straight onto fmt."""
    formats = ("text", "short", "json")
    if fmt not in formats:
        raise BadInput(f"unknown format {fmt!r}: expected one of {', '.join(formats)}")
    for kind, views in _VIEWS:
        if isinstance(obj, kind):
            text, short, as_dict = views
            if fmt == "json":
                return json.dumps(as_dict(obj), indent=2)
            return text(obj) if fmt == "text" else short(obj)
    raise TypeError(f"cannot summarize a {type(obj).__name__}")
