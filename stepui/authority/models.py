"""What callers hand to the Authority and what it hands back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from stepui.pki.keys import PrivateKey, PublicKey
from stepui.pki.policy import NamePolicy
from stepui.store import CertificateRecord


@dataclass(frozen=True)
class IssueRequest:
    """One certificate to issue. Give a ``csr``, a ``public_key``, or neither (a key of
    ``key_type`` is generated and returned). ``sans`` are text (``DNS:a``) or GeneralNames."""

    subject: str | x509.Name | None = None
    sans: Sequence[str | x509.GeneralName] = ()
    template: str = "tls-server"
    ca: str | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None
    lifetime: timedelta | None = None
    key_type: str = "ec-p256"
    csr: x509.CertificateSigningRequest | None = None
    public_key: PublicKey | None = None
    requester: str = "cli"
    name: str | None = None
    replaces: str | None = None
    policy: NamePolicy | None = None  # an extra policy, e.g. an ACME provisioner's
    max_lifetime: timedelta | None = None  # an extra cap, e.g. a provisioner's
    backdate: timedelta = timedelta(minutes=1)


@dataclass(frozen=True)
class Issued:
    record: CertificateRecord
    certificate: x509.Certificate
    chain: list[x509.Certificate]  # issuing CA first, self-signed root excluded
    key: PrivateKey | None = None
    alternates: list[list[x509.Certificate]] = field(default_factory=list)

    @property
    def serial(self) -> str:
        return self.record.serial

    def pem_chain(self, chain: Sequence[x509.Certificate] | None = None) -> bytes:
        """Leaf first, then the chain: what a TLS server presents."""
        certs = [self.certificate, *(self.chain if chain is None else chain)]
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
