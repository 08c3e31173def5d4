"""External Account Binding keys (RFC 8555 §7.3.4): the MAC keys a CA operator hands out so
that only holders of one may create ACME accounts on a provisioner.

The HMAC key is kept as issued (base64url): it cannot be hashed, because the server computes
the MAC over each binding with it. Binding a key to an account happens in
:meth:`stepui.store.acme.AcmeStore.create_account`, in the transaction that creates the account.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stepui.errors import Conflict
from stepui.store.db import Database
from stepui.store.records import from_db_time, to_db_time


@dataclass(frozen=True)
class EabKey:
    kid: str
    provisioner: str
    reference: str | None
    hmac_key: str = ""  # base64url; a secret: never logged, never rendered by `list`
    created_at: datetime | None = None
    bound_account: str | None = None
    bound_at: datetime | None = None
    binding: dict[str, Any] | None = None  # the JWS the account was created with

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> EabKey:
        return cls(
            kid=row["kid"],
            provisioner=row["provisioner"],
            reference=row["reference"],
            hmac_key=row["hmac_key"],
            created_at=from_db_time(row["created_at"]),
            bound_account=row["bound_account"],
            bound_at=from_db_time(row["bound_at"]) if row["bound_at"] else None,
            binding=json.loads(row["binding"]) if row["binding"] else None,
        )

    def __repr__(self) -> str:  # keeps the secret out of tracebacks and logs
        return f"EabKey(kid={self.kid!r}, provisioner={self.provisioner!r})"


class EabStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(
        self, kid: str, provisioner: str, reference: str | None, hmac_key: str, now: datetime
    ) -> EabKey:
        with self.db.transaction() as conn:
            try:
                conn.execute(
                    "INSERT INTO acme_eab_keys (kid, provisioner, reference, hmac_key, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (kid, provisioner, reference, hmac_key, to_db_time(now)),
                )
            except sqlite3.IntegrityError:
                raise Conflict(
                    f"provisioner {provisioner!r} already has an EAB key named {reference!r}"
                ) from None
        key = self.key(kid)
        assert key is not None
        return key

    def key(self, kid: str) -> EabKey | None:
        row = self.db.query_one("SELECT * FROM acme_eab_keys WHERE kid = ?", (kid,))
        return EabKey.from_row(row) if row else None

    def keys(self, provisioner: str | None = None) -> list[EabKey]:
        if provisioner is None:
            rows = self.db.query("SELECT * FROM acme_eab_keys ORDER BY created_at, rowid")
        else:
            rows = self.db.query(
                "SELECT * FROM acme_eab_keys WHERE provisioner = ? ORDER BY created_at, rowid",
                (provisioner,),
            )
        return [EabKey.from_row(r) for r in rows]

    def remove(self, kid: str) -> bool:
        """Forget a key; an account it already bound stays (the binding was checked then)."""
        with self.db.transaction() as conn:
            return conn.execute("DELETE FROM acme_eab_keys WHERE kid = ?", (kid,)).rowcount == 1


def bind(
    conn: sqlite3.Connection, kid: str, account_id: str, binding: dict[str, Any], now: datetime
) -> None:
    """Mark ``kid`` as used by ``account_id`` inside the caller's transaction; a key binds one
    account only, so a key already bound (or removed meanwhile) raises :class:`Conflict`."""
    cursor = conn.execute(
        "UPDATE acme_eab_keys SET bound_account = ?, bound_at = ?, binding = ? "
        "WHERE kid = ? AND bound_account IS NULL",
        (account_id, to_db_time(now), json.dumps(binding), kid),
    )
    if cursor.rowcount != 1:
        raise Conflict(f"EAB key {kid} is already bound to an account", acme_type="unauthorized")
