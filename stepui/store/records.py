"""Rows as typed records, and the one time format the database uses."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def to_db_time(moment: datetime) -> str:
    """UTC, second precision, lexically sortable (formatted by hand: this is on the hot path)."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z"
    )


def from_db_time(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass(frozen=True)
class AuthorityRecord:
    id: str
    name: str
    kind: str
    parent_id: str | None
    subject: str
    serial: str
    not_before: datetime
    not_after: datetime
    cert_pem: str
    key_file: str | None
    key_encrypted: bool
    key_type: str
    status: str = "active"
    policy: dict[str, Any] = field(default_factory=dict)
    crl_number: int = 0
    created_at: datetime | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> AuthorityRecord:
        data = dict(row)
        data["not_before"] = from_db_time(data["not_before"])
        data["not_after"] = from_db_time(data["not_after"])
        data["created_at"] = from_db_time(data["created_at"])
        data["key_encrypted"] = bool(data["key_encrypted"])
        data["policy"] = json.loads(data["policy"] or "{}")
        return cls(**data)


@dataclass(frozen=True)
class ChainRecord:
    """Another certificate for an authority's key (cross-signed, or signed outside)."""

    id: int
    authority_id: str
    issuer_id: str | None
    kind: str
    cert_pem: str
    chain_pem: str
    created_at: datetime


@dataclass(frozen=True)
class CertificateRecord:
    serial: str
    ca_id: str | None
    issuer: str
    name: str | None
    subject: str
    sans: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    template: str | None
    requester: str
    source: str
    status: str
    revoked_at: datetime | None
    revocation_reason: int | None
    key_type: str
    fingerprint: str
    pem: str
    replaces: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> CertificateRecord:
        data = dict(row)
        data["sans"] = tuple(data["sans"].split()) if data["sans"] else ()
        for key in ("not_before", "not_after", "created_at", "revoked_at"):
            if data[key]:
                data[key] = from_db_time(data[key])
        return cls(**data)

    def state(self, now: datetime) -> str:
        """valid, expired or revoked: expiry is derived from the clock, never stored."""
        if self.status == "revoked":
            return "revoked"
        return "expired" if self.not_after <= now else "valid"


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
