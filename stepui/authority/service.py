"""The CA service: the one place where a CA decision is made.

The CLI, the TUI forms and the ACME finalize path all call :class:`Authority`, so a certificate
issued by any of them is the same certificate, checked by the same policy, recorded the same way.
Its parts live in one module each (CA tree, issuance, revocation); this module joins them and
adds opening and queries.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

from stepui.authority.cas import CaManagement, load_bundle_key
from stepui.authority.issuance import Issuance
from stepui.authority.keystore import PasswordProvider
from stepui.authority.revocation import Revocation
from stepui.authority.state import serial_hex
from stepui.config import load_config, resolve_home
from stepui.errors import NotFound
from stepui.events import Clock, Events, utc_now
from stepui.fsutil import SECRET_DIR_MODE, ensure_dir
from stepui.store import CertificateQuery, CertificateRecord, Store

__all__ = ["Authority", "load_bundle_key", "serial_hex"]


class Authority(CaManagement, Issuance, Revocation):
    """Open with :meth:`open`; every mutating method is one transaction and one audit entry."""

    @classmethod
    def open(
        cls,
        home: str | Path | None = None,
        *,
        password: PasswordProvider = lambda: None,
        clock: Clock = utc_now,
        events: Events | None = None,
    ) -> Authority:
        """Create the data dir layout if needed, load ``config.json`` and open the database."""
        path = resolve_home(home)
        ensure_dir(path, 0o755)
        ensure_dir(path / "certs")
        ensure_dir(path / "secrets", SECRET_DIR_MODE)
        config = load_config(path / "config.json")
        store = Store(path / "stepui.db")
        return cls(path, store, config, password=password, clock=clock, events=events)

    def close(self) -> None:
        self.store.close()

    def certificate(self, serial: str) -> CertificateRecord:
        """By hex serial (``0x`` optional, colons allowed) or decimal."""
        text = serial.strip().lower().replace(":", "")
        candidates = []
        if text.startswith("0x"):
            candidates.append(text[2:].lstrip("0"))
        else:
            if re.fullmatch(r"[0-9a-f]+", text):
                candidates.append(text.lstrip("0"))
            if text.isdigit():
                candidates.append(format(int(text), "x"))
        for candidate in candidates:
            record = self.store.ca.certificate(candidate)
            if record is not None:
                return record
        raise NotFound(f"no certificate with serial {serial!r}")

    def query(self, **filters: Any) -> CertificateQuery:
        return CertificateQuery(now=self.clock(), **filters)

    def certificates(self, **filters: Any) -> list[CertificateRecord]:
        return self.store.ca.certificates(self.query(**filters))

    def count(self, **filters: Any) -> int:
        return self.store.ca.count_certificates(self.query(**filters))

    def renew_window(self, record: CertificateRecord, renew_before: str | None = None) -> datetime:
        """When a certificate enters its renewal window (config ``renew_before``)."""
        from stepui.authority.managed import renewal_start

        spec = renew_before or self.config.renew_before
        return renewal_start(record.not_before, record.not_after, spec)

    def audit_log(self, target: str | None = None, limit: int = 200):
        return self.store.ca.audit_entries(target, limit)
