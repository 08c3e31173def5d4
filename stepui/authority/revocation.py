"""Revocation and CRLs (RFC 5280 section 5)."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from stepui.authority.state import AuthorityState
from stepui.errors import BadInput, Conflict, PolicyRefused
from stepui.fsutil import write_atomic
from stepui.pki import crl as crl_mod
from stepui.store import CertificateRecord


class Revocation(AuthorityState):
    """Revoke certificates and publish each CA's CRL."""

    def revoke(
        self, serial: str, reason: str | int = 0, *, actor: str = "cli"
    ) -> CertificateRecord:
        """Revoke, record, and regenerate the CA's CRL when configured to."""
        record = self.certificate(serial)
        code = crl_mod.reason_code(reason)
        if record.ca_id is None:
            raise PolicyRefused(f"certificate {record.serial} was not issued by this CA")
        if code == 8:
            raise BadInput(
                "removeFromCRL is only used in delta CRLs, not as a reason to revoke",
                acme_type="badRevocationReason",
            )
        with self.store.transaction():
            if not self.store.ca.mark_revoked(record.serial, self.clock(), code):
                raise Conflict(
                    f"certificate {record.serial} is already revoked", acme_type="alreadyRevoked"
                )
            self._audit(
                actor,
                "cert.revoke",
                record.serial,
                {"reason": crl_mod.reason_name(code), "ca": record.ca_id},
            )
        self.events.publish("cert.revoked", serial=record.serial, ca=record.ca_id, reason=code)
        if self.config.crl_enabled and self.config.crl_regenerate_on_revoke:
            self.crl(record.ca_id, actor=actor)
        return self.certificate(record.serial)

    def crl(self, key: str | None = None, *, actor: str = "cli") -> x509.CertificateRevocationList:
        """A fresh, numbered CRL for the CA, also written to ``certs/<ca-id>.crl`` (DER)."""
        ca = self.authority(key)
        signer = self.signer(ca.id)
        now = self.clock()
        entries = [
            crl_mod.RevokedEntry(int(r.serial, 16), r.revoked_at or now, r.revocation_reason or 0)
            for r in self.store.ca.revoked(ca.id)
        ]
        number = self.store.ca.next_crl_number(ca.id)
        crl = crl_mod.build_crl(
            signer,
            entries,
            this_update=now,
            next_update=now + self.config.crl_next_update,
            number=number,
        )
        write_atomic(self.crl_path(ca.id), crl.public_bytes(serialization.Encoding.DER))
        self._audit(actor, "crl.generate", ca.id, {"number": number, "entries": len(entries)})
        self.events.publish("crl.generated", ca=ca.id, number=number)
        return crl

    def crl_path(self, ca_id: str) -> Path:
        return self.home / "certs" / f"{ca_id}.crl"

    def current_crl(self, key: str | None = None) -> bytes:
        """The last CRL written, regenerated when missing or past its next update."""
        ca = self.authority(key)
        path = self.crl_path(ca.id)
        if path.exists():
            data = path.read_bytes()
            existing = x509.load_der_x509_crl(data)
            if existing.next_update_utc and existing.next_update_utc > self.clock():
                return data
        return self.crl(ca.id, actor="system").public_bytes(serialization.Encoding.DER)
