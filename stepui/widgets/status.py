"""Certificate states as the workbench shows them: one place for the words and the colours."""

from __future__ import annotations

from datetime import datetime

from stepui.authority.service import Authority
from stepui.pki.timespec import parse_duration
from stepui.store import CertificateRecord

STATES = ("valid", "expiring", "expired", "revoked")
STATE_STYLES = {
    "valid": "green",
    "expiring": "yellow",
    "expired": "red",
    "revoked": "magenta",
}


def state_of(authority: Authority, record: CertificateRecord, now: datetime) -> str:
    """valid, expiring (inside its own renew window), expired or revoked."""
    state = record.state(now)
    if state == "valid" and authority.renew_window(record) <= now:
        return "expiring"
    return state


def renew_horizon(authority: Authority, now: datetime) -> datetime:
    """One point in time for aggregate views (tree counts, timeline, "expiring" filter): a
    duration window as configured, a percentage window applied to the default leaf lifetime."""
    spec = authority.config.renew_before
    if spec.endswith("%"):
        return now + authority.config.leaf_default_validity * (int(spec[:-1]) / 100)
    return now + parse_duration(spec)
