"""Managed certificates: the ones ``ca renew`` keeps fresh, wherever they were issued.

Each is known by NAME with how it was issued (``{"kind": "local", ...}`` for this CA, or
``{"kind": "acme", "directory": ..., "challenge": ...}``) and the paths its files were last
written to. Recording, forgetting and outside revocations go to the audit log like every other
change the Authority makes.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509

from stepui.errors import BadInput, NotFound
from stepui.pki.timespec import parse_duration
from stepui.store import ManagedRecord

if TYPE_CHECKING:
    from stepui.authority.models import Issued
    from stepui.authority.service import Authority


def check_renew_before(spec: str) -> str:
    """``8h``-style durations or ``1%``..``99%`` of the lifetime."""
    if spec.endswith("%"):
        number = spec[:-1]
        if not number.isdigit() or not 0 < int(number) < 100:
            raise BadInput(f"renew-before {spec!r}: a percentage must be between 1% and 99%")
        return spec
    parse_duration(spec)
    return spec


def renewal_start(not_before: datetime, not_after: datetime, spec: str) -> datetime:
    """When a certificate with this validity enters its renewal window."""
    if spec.endswith("%"):
        return not_after - (not_after - not_before) * (int(spec[:-1]) / 100)
    return not_after - parse_duration(spec)


def serial_of(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "x")


class ManagedCertificates:
    def __init__(self, authority: Authority) -> None:
        self.authority = authority
        self.store = authority.store.managed

    def record(
        self,
        name: str,
        method: dict[str, Any],
        cert_path: Path,
        key_path: Path | None,
        cert: x509.Certificate,
        *,
        certificate_url: str | None = None,
        actor: str = "cli",
    ) -> ManagedRecord:
        """Remember (or update) NAME after its certificate was written to ``cert_path``;
        ``certificate_url`` is where an ACME server serves it (to download it again)."""
        record = ManagedRecord(
            name=name,
            method=method,
            cert_path=str(Path(cert_path).resolve()),
            key_path=str(Path(key_path).resolve()) if key_path else None,
            serial=serial_of(cert),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            updated_at=self.authority.clock(),
            certificate_url=certificate_url,
        )
        with self.authority.store.transaction():
            self.store.save(record)
            self.audit(
                actor,
                "managed.record",
                name,
                {"serial": record.serial, "kind": method.get("kind"), "cert": record.cert_path},
            )
        self.authority.events.publish("managed.recorded", name=name, serial=record.serial)
        return record

    def record_issued(
        self, name: str, issued: Issued, out_dir: Path, *, actor: str = "cli"
    ) -> ManagedRecord:
        """A certificate this CA issued to ``out_dir/NAME.crt`` (+ ``.key`` when generated)."""
        key_path = out_dir / f"{name}.key" if issued.key is not None else None
        method = {"kind": "local", "ca": issued.record.ca_id, "template": issued.record.template}
        return self.record(
            name, method, out_dir / f"{name}.crt", key_path, issued.certificate, actor=actor
        )

    def get(self, name: str) -> ManagedRecord:
        record = self.store.get(name)
        if record is None:
            known = ", ".join(r.name for r in self.store.all()) or "none yet"
            raise NotFound(f"no managed certificate named {name!r} (managed: {known})")
        return record

    def all(self) -> list[ManagedRecord]:
        return self.store.all()

    def audit(self, actor: str, action: str, target: str, detail: dict[str, Any]) -> None:
        """An audit entry for something done outside this CA (an ACME revocation)."""
        with self.authority.store.transaction():
            self.authority.store.ca.audit(self.authority.clock(), actor, action, target, detail)
