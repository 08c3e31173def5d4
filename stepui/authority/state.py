"""What every part of the Authority shares: the data dir, the store, the config, the clock,
the events, the key store and per-process caches of CA records and keys."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from stepui.authority.keystore import KeyStore, PasswordProvider
from stepui.config import Config, save_config
from stepui.errors import NotFound, PolicyRefused
from stepui.events import Clock, Events, utc_now
from stepui.pki.issue import ExtensionList, Signer
from stepui.pki.policy import NamePolicy
from stepui.pki.templates import Template
from stepui.store import AuthorityRecord, Store

PEM = serialization.Encoding.PEM


def pem_text(cert: x509.Certificate) -> str:
    """The PEM text stored in the database and written to files."""
    return cert.public_bytes(PEM).decode("ascii")


def fingerprint_hex(cert: x509.Certificate) -> str:
    """SHA-256 of the DER: the inventory's key for "this exact certificate"."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def serial_hex(serial: int) -> str:
    return format(serial, "x")


class AuthorityState:
    """The state the CA, issuance and revocation parts share, and the lookups they all use."""

    def __init__(
        self,
        home: Path,
        store: Store,
        config: Config,
        *,
        password: PasswordProvider = lambda: None,
        clock: Clock = utc_now,
        events: Events | None = None,
    ) -> None:
        self.home = home
        self.store = store
        self.config = config
        self.clock = clock
        self.events = events or Events()
        self.keys = KeyStore(home / "secrets", password)
        self._signers: dict[str, Signer] = {}
        self._chains: dict[str, list[list[x509.Certificate]]] = {}
        self._templates: dict[str, Template] = {}
        self._profiles: dict[tuple[str, str, bool], ExtensionList] = {}
        self._constrained: dict[str, list[x509.Certificate]] = {}
        self._policies: dict[str, NamePolicy] = {}
        self._records: dict[str, AuthorityRecord] = {}

    @property
    def config_path(self) -> Path:
        return self.home / "config.json"

    def save_config(self, config: Config) -> None:
        save_config(config, self.config_path)
        self.config = config
        self._templates.clear()
        self._profiles.clear()

    @property
    def initialized(self) -> bool:
        return bool(self.config.default_ca and self.store.ca.authority(self.config.default_ca))

    def authorities(self) -> list[AuthorityRecord]:
        return self.store.ca.authorities()

    def authority(self, key: str | None = None) -> AuthorityRecord:
        """By id or name; ``None`` is the default issuing CA (the intermediate ``ca init`` made)."""
        wanted = key or self.config.default_ca
        if not wanted:
            if self.store.ca.authorities():
                raise NotFound(
                    "no default CA: name one with --ca ('stepui ca list' shows the CAs) "
                    "or set default_ca in config.json"
                )
            raise NotFound("no CA yet: run 'stepui ca init NAME' first")
        record = self._records.get(wanted)
        if record is None:
            record = self.store.ca.authority(wanted)
            if record is None:
                raise NotFound(f"unknown CA {wanted!r}; 'stepui ca list' shows the CAs")
            self._records[wanted] = record
        return record

    def _forget_authorities(self) -> None:
        """Drop cached CA records and chains after any change to the CAs."""
        self._records.clear()
        self._chains.clear()
        self._constrained.clear()
        self._policies.clear()
        self._profiles.clear()

    def root(self, key: str | None = None) -> AuthorityRecord:
        if key is None:
            if not self.config.root_ca:
                raise NotFound("no root CA yet: run 'stepui ca init NAME' first")
            key = self.config.root_ca
        return self.authority(key)

    def ca_certificate(self, key: str | None = None) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.authority(key).cert_pem.encode())

    def signer(self, ca_id: str) -> Signer:
        """The CA's certificate and decrypted key; decrypted once per process."""
        signer = self._signers.get(ca_id)
        if signer is None:
            record = self.authority(ca_id)
            if not record.key_file:
                raise PolicyRefused(f"CA {record.name!r} has no private key here; it cannot sign")
            key = self.keys.load(record.key_file, record.key_encrypted)
            cert = x509.load_pem_x509_certificate(record.cert_pem.encode())
            signer = self._signers[ca_id] = Signer(cert, key)
        return signer

    def _audit(self, actor: str, action: str, target: str, detail: dict[str, Any]) -> None:
        self.store.ca.audit(self.clock(), actor, action, target, detail)
