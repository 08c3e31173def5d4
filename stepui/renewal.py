"""``ca renew``: decide which managed certificates are due and renew them in place.

A certificate is due when the clock enters its window: the issuer's ARI suggestedWindow when it
offers renewalInfo (a random moment inside it, as RFC 9773 §4.2 asks), else ``renew_before``
(``8h`` or a percentage of the lifetime, default from config.json). Renewal goes through the
path that issued it (this CA, or ACME with the saved settings), keeps the key unless asked to
rekey, and replaces the files atomically where they were last written.
"""

from __future__ import annotations

import logging
import os
import random
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography import x509

from stepui.acme_client.settings import AcmeSettings
from stepui.authority import Authority
from stepui.authority.managed import ManagedCertificates, renewal_start, serial_of
from stepui.errors import BadInput, StepuiError
from stepui.fsutil import PRIVATE_MODE, PUBLIC_MODE, StagedFiles
from stepui.pki.inspect import load_certificates
from stepui.pki.keys import PrivateKey, generate_key, load_private_key, private_key_pem
from stepui.store import ManagedRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    name: str
    due: bool
    at: datetime
    reason: str


def decide(
    name: str,
    cert: x509.Certificate,
    now: datetime,
    renew_before: str,
    *,
    window: tuple[datetime, datetime] | None = None,
    force: bool = False,
    rng: Callable[[], float] = random.random,
) -> Decision:
    """Due or not, when, and why (the why is what the daemon logs)."""
    if force:
        return Decision(name, True, now, "forced")
    if window is not None:
        start, end = window
        at = start + (end - start) * rng()
        source = f"ARI window {start:%Y-%m-%d %H:%M}..{end:%Y-%m-%d %H:%M}Z"
    else:
        at = renewal_start(cert.not_valid_before_utc, cert.not_valid_after_utc, renew_before)
        source = f"renew-before {renew_before}"
    if now >= cert.not_valid_after_utc:
        return Decision(name, True, at, "expired")
    if now >= at:
        return Decision(name, True, at, f"inside its window ({source})")
    return Decision(name, False, at, f"not due until {at:%Y-%m-%d %H:%M}Z ({source})")


def install(
    cert_path: Path, chain_pem: bytes, key_path: Path | None, key: PrivateKey | None
) -> None:
    """Replace the certificate (and the key when it changed) together: temp files, then rename."""
    with StagedFiles() as files:
        files.add(cert_path, chain_pem, PUBLIC_MODE)
        if key is not None and key_path is not None:
            files.add(key_path, private_key_pem(key, None), PRIVATE_MODE)


@dataclass
class Outcome:
    renewed: list[str] = field(default_factory=list)
    skipped: list[Decision] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


class Renewer:
    def __init__(
        self,
        authority: Authority,
        *,
        renew_before: str | None = None,
        force: bool = False,
        rekey: bool = False,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.authority = authority
        self.managed = ManagedCertificates(authority)
        self.renew_before = renew_before or authority.config.renew_before
        self.force, self.rekey, self.rng = force, rekey, rng

    def records(self, names: list[str] | None) -> list[ManagedRecord]:
        if names:
            return [self.managed.get(name) for name in names]
        return self.managed.all()

    def run(self, names: list[str] | None = None) -> Outcome:
        """Every asked-for certificate is looked at; one failure never stops the others."""
        outcome = Outcome()
        for record in self.records(names):
            try:
                cert = current_certificate(record)
                decision = self.decision(record, cert)
                log.info("%s: %s", record.name, decision.reason)
                if not decision.due:
                    outcome.skipped.append(decision)
                    continue
                self.renew(record, cert)
                outcome.renewed.append(record.name)
            except StepuiError as exc:
                log.warning("%s: renewal failed: %s", record.name, exc.message)
                outcome.failed.append((record.name, exc.message))
            except OSError as exc:
                log.warning("%s: renewal failed: %s", record.name, exc)
                outcome.failed.append((record.name, str(exc)))
        return outcome

    def decision(self, record: ManagedRecord, cert: x509.Certificate) -> Decision:
        window = None
        if record.method.get("kind") == "acme" and not self.force:
            try:
                suggested = AcmeSettings.from_method(record.method).window(self.authority, cert)
            except StepuiError as exc:
                log.warning("%s: no renewalInfo (%s); using renew-before", record.name, exc.message)
                suggested = None
            if suggested is not None:
                window = (suggested.start, suggested.end)
        return decide(
            record.name,
            cert,
            self.authority.clock(),
            self.renew_before,
            window=window,
            force=self.force,
            rng=self.rng,
        )

    def renew(self, record: ManagedRecord, cert: x509.Certificate) -> None:
        kind = record.method.get("kind")
        cert_path = Path(record.cert_path)
        key_path = Path(record.key_path) if record.key_path else None
        certificate_url = None
        if kind == "local":
            issued = self.authority.renew(serial_of(cert), rekey=self.rekey, actor="renew")
            chain_pem, new_cert, key = issued.pem_chain(), issued.certificate, issued.key
        elif kind == "acme":
            settings = AcmeSettings.from_method(record.method)
            key = generate_key(settings.key_type) if self.rekey else None
            current_key = key or _load_key(key_path)
            obtained = settings.obtain(self.authority, current_key, replacing=cert)
            chain_pem, new_cert = obtained.chain_pem, obtained.certificate
            certificate_url = obtained.certificate_url
        else:
            raise BadInput(f"{record.name}: unknown issuance method {kind!r}")
        install(cert_path, chain_pem, key_path, key)
        self.managed.record(
            record.name,
            record.method,
            cert_path,
            key_path,
            new_cert,
            certificate_url=certificate_url,
            actor="renew",
        )
        log.info("%s: renewed, new serial %x", record.name, new_cert.serial_number)


def current_certificate(record: ManagedRecord) -> x509.Certificate:
    """The certificate at its path (the truth on disk), else an error naming the path."""
    try:
        return load_certificates(Path(record.cert_path).read_bytes())[0]
    except OSError as exc:
        raise BadInput(f"cannot read {record.cert_path}: {exc.strerror}") from exc


def _load_key(path: Path | None) -> PrivateKey:
    if path is None:
        raise BadInput("no key file is recorded; renew with --rekey")
    try:
        return load_private_key(path.read_bytes(), None)
    except OSError as exc:
        raise BadInput(f"cannot read the key {path}: {exc.strerror}") from exc


def run_hook(command: str, renewed: list[str]) -> int:
    """``--exec``: a shell command run once after renewals (e.g. ``systemctl reload nginx``);
    ``STEPUI_RENEWED`` names what was renewed."""
    env = {**os.environ, "STEPUI_RENEWED": " ".join(renewed)}
    log.info("running --exec: %s", command)
    result = subprocess.run(command, shell=True, env=env, check=False)
    return result.returncode
