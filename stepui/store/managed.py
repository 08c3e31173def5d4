"""Queries for managed certificates: what ``ca renew`` renews, how, and where it writes."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stepui.store.db import Database
from stepui.store.records import from_db_time, to_db_time


@dataclass(frozen=True)
class ManagedRecord:
    name: str
    method: dict[str, Any]  # {"kind": "local", ...} or {"kind": "acme", "directory": ..., ...}
    cert_path: str
    key_path: str | None
    serial: str
    not_before: datetime
    not_after: datetime
    updated_at: datetime
    certificate_url: str | None = None  # ACME: the order's certificate URL

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ManagedRecord:
        return cls(
            name=row["name"],
            method=json.loads(row["method"]),
            cert_path=row["cert_path"],
            key_path=row["key_path"],
            serial=row["serial"],
            not_before=from_db_time(row["not_before"]),
            not_after=from_db_time(row["not_after"]),
            updated_at=from_db_time(row["updated_at"]),
            certificate_url=row["certificate_url"],
        )


class ManagedStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, record: ManagedRecord) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO managed_certificates (name, method, cert_path, key_path, serial, "
                "not_before, not_after, updated_at, certificate_url) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET method = excluded.method, "
                "cert_path = excluded.cert_path, key_path = excluded.key_path, "
                "serial = excluded.serial, not_before = excluded.not_before, "
                "not_after = excluded.not_after, updated_at = excluded.updated_at, "
                "certificate_url = excluded.certificate_url",
                (
                    record.name,
                    json.dumps(record.method, sort_keys=True),
                    record.cert_path,
                    record.key_path,
                    record.serial,
                    to_db_time(record.not_before),
                    to_db_time(record.not_after),
                    to_db_time(record.updated_at),
                    record.certificate_url,
                ),
            )

    def get(self, name: str) -> ManagedRecord | None:
        row = self.db.query_one("SELECT * FROM managed_certificates WHERE name = ?", (name,))
        return ManagedRecord.from_row(row) if row else None

    def by_certificate_url(self, url: str) -> ManagedRecord | None:
        row = self.db.query_one(
            "SELECT * FROM managed_certificates WHERE certificate_url = ?", (url,)
        )
        return ManagedRecord.from_row(row) if row else None

    def all(self) -> list[ManagedRecord]:
        rows = self.db.query("SELECT * FROM managed_certificates ORDER BY not_after, name")
        return [ManagedRecord.from_row(row) for row in rows]
