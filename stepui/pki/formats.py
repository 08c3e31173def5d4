"""Read certificates and keys as people have them: PEM bundles, DER, or PKCS#12 archives."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

from stepui.errors import BadInput, WrongPassword
from stepui.pki.inspect import load_certificates
from stepui.pki.keys import PrivateKey, load_private_key

_PEM_KEY = re.compile(rb"-----BEGIN ([A-Z ]*PRIVATE KEY)-----.*?-----END \1-----", re.S)


@dataclass(frozen=True)
class Bundle:
    certificates: list[x509.Certificate]
    key: PrivateKey | None


def _looks_like_pkcs12(data: bytes) -> bool:
    # A PFX is a DER SEQUENCE whose first element is the INTEGER version 3.
    return data[:1] == b"\x30" and b"\x02\x01\x03" in data[:8]


def load_bundle(data: bytes, password: bytes | None = None) -> Bundle:
    """Certificates (first one is the subject) and, when the data carries one, the private key."""
    if not data.strip():
        raise BadInput("the certificate file is empty")
    if _looks_like_pkcs12(data):
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(data, password)
        except ValueError as exc:
            if password is None:
                raise WrongPassword("the PKCS#12 file is encrypted: give its password") from exc
            raise WrongPassword("wrong password for the PKCS#12 file") from exc
        if cert is None:
            raise BadInput("the PKCS#12 file holds no certificate")
        return Bundle([cert, *extra], key)  # type: ignore[list-item]
    certificates = load_certificates(data)
    block = _PEM_KEY.search(data)
    key = load_private_key(block.group(0), password) if block else None
    return Bundle(certificates, key)
