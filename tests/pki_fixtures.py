"""Small CAs built straight from stepui.pki, for the pki unit tests (no Authority, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from stepui.pki.issue import Extras, Signer, build_certificate, new_serial
from stepui.pki.keys import PrivateKey, generate_key
from stepui.pki.names import parse_sans, parse_subject
from stepui.pki.templates import BUILTIN_TEMPLATES

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NO_EXTRAS = Extras()


def make_ca(
    cn: str, signer: Signer | None = None, key_type: str = "ec-p256", extras: Extras = NO_EXTRAS
) -> Signer:
    """A root (self-signed, when ``signer`` is None) or an intermediate under ``signer``."""
    key = generate_key(key_type)
    cert = build_certificate(
        subject=parse_subject(f"CN={cn}"),
        public_key=key.public_key(),
        template=BUILTIN_TEMPLATES["intermediate" if signer else "root"],
        not_before=NOW - timedelta(minutes=1),
        not_after=NOW + timedelta(days=365),
        serial=new_serial(),
        signer=signer,
        self_key=key,
        extras=extras,
    )
    return Signer(cert, key)


def make_leaf(
    signer: Signer,
    sans: list[str],
    template: str = "tls-server",
    key: PrivateKey | None = None,
    subject: str = "",
    extras: Extras = NO_EXTRAS,
) -> tuple[x509.Certificate, PrivateKey]:
    key = key or generate_key()
    cert = build_certificate(
        subject=parse_subject(subject) if subject else x509.Name([]),
        public_key=key.public_key(),
        template=BUILTIN_TEMPLATES[template],
        not_before=NOW - timedelta(minutes=1),
        not_after=NOW + timedelta(days=1),
        serial=new_serial(),
        sans=parse_sans(sans),
        signer=signer,
        extras=extras,
    )
    return cert, key


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
