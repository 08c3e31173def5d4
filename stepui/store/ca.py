"""Queries for authorities, certificates, templates and the audit log. The only SQL the CA
core runs; the hot path (adding a certificate) is one prepared INSERT, no introspection."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stepui.errors import BadInput
from stepui.pki.timespec import parse_duration
from stepui.store.db import Database
from stepui.store.records import (
    AuditEntry,
    AuthorityRecord,
    CertificateRecord,
    ChainRecord,
    from_db_time,
    to_db_time,
)

_CERT_COLUMNS = (
    "serial",
    "ca_id",
    "issuer",
    "name",
    "subject",
    "sans",
    "not_before",
    "not_after",
    "template",
    "requester",
    "source",
    "status",
    "revoked_at",
    "revocation_reason",
    "key_type",
    "fingerprint",
    "pem",
    "replaces",
    "created_at",
)
_INSERT_CERT = (
    f"INSERT INTO certificates ({', '.join(_CERT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_CERT_COLUMNS))})"
)
SORT_COLUMNS = (
    "not_after",
    "not_before",
    "serial",
    "subject",
    "ca_id",
    "status",
    "requester",
    "created_at",
    "name",
)


def renewal_due(renew_before: str, now: datetime) -> tuple[str, list[Any]]:
    """SQL that holds once a row is inside its renew window: the rule of
    ``Authority.renew_window`` (a share of the certificate's own lifetime, or a duration before
    its end), so that the table, the counts and the timeline agree with each row's state."""
    if renew_before.endswith("%"):
        start = "unixepoch(not_after) * 100 - (unixepoch(not_after) - unixepoch(not_before)) * ?"
        return f"{start} <= ?", [int(renew_before[:-1]), now.timestamp() * 100]
    return "not_after <= ?", [to_db_time(now + parse_duration(renew_before))]


@dataclass(frozen=True)
class CertificateQuery:
    """Filters for listing certificates; ``now`` turns valid/expired into time comparisons."""

    now: datetime
    status: str | None = None  # valid | expired | revoked
    ca_id: str | None = None
    ca_ids: tuple[str, ...] | None = None
    expiring_before: datetime | None = None
    renew_before: str | None = None  # only those inside their renew window under this rule
    not_after_from: datetime | None = None
    not_after_to: datetime | None = None  # exclusive: a timeline bucket is [from, to)
    search: str | None = None
    name: str | None = None
    sort: str = "not_after"
    descending: bool = False
    limit: int | None = None
    offset: int = 0

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        now = to_db_time(self.now)
        if self.status == "revoked":
            clauses.append("status = 'revoked'")
        elif self.status == "valid":
            clauses.append("status = 'valid' AND not_after > ?")
            params.append(now)
        elif self.status == "expired":
            clauses.append("status = 'valid' AND not_after <= ?")
            params.append(now)
        elif self.status is not None:
            raise BadInput(f"unknown status {self.status!r}: use valid, expired or revoked")
        if self.ca_id is not None:
            clauses.append("ca_id = ?")
            params.append(self.ca_id)
        if self.ca_ids is not None:
            clauses.append(f"ca_id IN ({', '.join('?' * len(self.ca_ids))})")
            params.extend(self.ca_ids)
        if self.expiring_before is not None:
            clauses.append("status = 'valid' AND not_after > ? AND not_after <= ?")
            params += [now, to_db_time(self.expiring_before)]
        if self.renew_before is not None:
            due, due_params = renewal_due(self.renew_before, self.now)
            clauses.append(f"status = 'valid' AND not_after > ? AND {due}")
            params += [now, *due_params]
        if self.not_after_from is not None:
            clauses.append("not_after >= ?")
            params.append(to_db_time(self.not_after_from))
        if self.not_after_to is not None:
            clauses.append("not_after < ?")
            params.append(to_db_time(self.not_after_to))
        if self.name is not None:
            clauses.append("name = ?")
            params.append(self.name)
        if self.search:
            text = self.search.strip().lower()
            serial = text.removeprefix("0x").replace(":", "")
            if len(text) >= 3:
                clauses.append(
                    "(rowid IN (SELECT rowid FROM certificates_search WHERE certificates_search"
                    " MATCH ?) OR (serial >= ? AND serial < ?))"
                )
                params += ['"' + text.replace('"', '""') + '"', serial, serial + "\uffff"]
            else:
                # Escaped: a typed % or _ is looked for, not a wildcard matching every row.
                like = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                clauses.append(
                    "(serial LIKE ? ESCAPE '\\' OR subject LIKE ? ESCAPE '\\'"
                    " OR sans LIKE ? ESCAPE '\\')"
                )
                params += [f"%{like}%"] * 3
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


class CaStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- authorities -------------------------------------------------------------------
    def add_authority(self, record: AuthorityRecord) -> None:
        row = {
            **record.__dict__,
            "not_before": to_db_time(record.not_before),
            "not_after": to_db_time(record.not_after),
            "created_at": to_db_time(record.created_at) if record.created_at else None,
            "key_encrypted": int(record.key_encrypted),
            "policy": json.dumps(record.policy),
        }
        with self.db.transaction():
            self.db.utils["authorities"].insert(row)

    def update_authority(self, authority_id: str, **fields: Any) -> None:
        if "policy" in fields:
            fields["policy"] = json.dumps(fields["policy"])
        for key in ("not_before", "not_after"):
            if key in fields:
                fields[key] = to_db_time(fields[key])
        with self.db.transaction():
            self.db.utils["authorities"].update(authority_id, fields)

    def authority(self, key: str) -> AuthorityRecord | None:
        """By id, or else by exact name (case-insensitive)."""
        row = self.db.query_one("SELECT * FROM authorities WHERE id = ?", (key,))
        if row is None:
            row = self.db.query_one(
                "SELECT * FROM authorities WHERE lower(name) = lower(?)", (key,)
            )
        return AuthorityRecord.from_row(row) if row else None

    def authorities(self) -> list[AuthorityRecord]:
        rows = self.db.query("SELECT * FROM authorities ORDER BY created_at, rowid")
        return [AuthorityRecord.from_row(r) for r in rows]

    def next_crl_number(self, authority_id: str) -> int:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE authorities SET crl_number = crl_number + 1 WHERE id = ?", (authority_id,)
            )
            return conn.execute(
                "SELECT crl_number FROM authorities WHERE id = ?", (authority_id,)
            ).fetchone()[0]

    def add_chain(
        self,
        authority_id: str,
        issuer_id: str | None,
        kind: str,
        cert_pem: str,
        chain_pem: str,
        at: datetime,
    ) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO authority_chains (authority_id, issuer_id, kind, cert_pem, chain_pem,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (authority_id, issuer_id, kind, cert_pem, chain_pem, to_db_time(at)),
            )

    def chains(self, authority_id: str | None = None) -> list[ChainRecord]:
        sql = "SELECT * FROM authority_chains"
        params: tuple[Any, ...] = ()
        if authority_id is not None:
            sql += " WHERE authority_id = ?"
            params = (authority_id,)
        rows = self.db.query(sql + " ORDER BY id", params)
        return [
            ChainRecord(**{**dict(r), "created_at": from_db_time(r["created_at"])}) for r in rows
        ]

    # -- certificates --------------------------------------------------------------------
    def add_certificate(self, record: CertificateRecord) -> None:
        with self.db.transaction() as conn:
            conn.execute(_INSERT_CERT, _cert_row(record))

    def add_certificates(self, records: Iterable[CertificateRecord]) -> None:
        """Bulk insert; the batch is indexed for search at once (cheap per row in bulk)."""
        with self.db.transaction() as conn:
            conn.executemany(_INSERT_CERT, (_cert_row(r) for r in records))
            _index_pending(conn)

    def index_pending(self) -> None:
        """Index for search the certificates added one by one since the last search."""
        pending = self.db.query_one(
            "SELECT max(rowid) > (SELECT indexed_upto FROM search_progress) FROM certificates"
        )[0]
        if pending:
            with self.db.transaction() as conn:
                _index_pending(conn)

    def certificate(self, serial: str) -> CertificateRecord | None:
        row = self.db.query_one("SELECT * FROM certificates WHERE serial = ?", (serial.lower(),))
        return CertificateRecord.from_row(row) if row else None

    def certificate_by_fingerprint(self, fingerprint: str) -> CertificateRecord | None:
        row = self.db.query_one(
            "SELECT * FROM certificates WHERE fingerprint = ?", (fingerprint.lower(),)
        )
        return CertificateRecord.from_row(row) if row else None

    def certificates(self, query: CertificateQuery) -> list[CertificateRecord]:
        if query.search:
            self.index_pending()
        if query.sort not in SORT_COLUMNS:
            raise BadInput(f"cannot sort by {query.sort!r}: use one of {', '.join(SORT_COLUMNS)}")
        where, params = query.where()
        order = f" ORDER BY {query.sort} {'DESC' if query.descending else 'ASC'}, serial"
        limit = ""
        if query.limit is not None:
            limit = " LIMIT ? OFFSET ?"
            params += [query.limit, query.offset]
        rows = self.db.query(f"SELECT * FROM certificates{where}{order}{limit}", params)
        return [CertificateRecord.from_row(r) for r in rows]

    def count_certificates(self, query: CertificateQuery) -> int:
        if query.search:
            self.index_pending()
        where, params = query.where()
        return self.db.query_one(f"SELECT count(*) FROM certificates{where}", params)[0]

    def not_after_values(self, query: CertificateQuery) -> list[tuple[str, str]]:
        """(not_before, not_after) pairs only: what the expiry timeline needs, nothing more."""
        if query.search:
            self.index_pending()
        where, params = query.where()
        return [
            (r[0], r[1])
            for r in self.db.query(f"SELECT not_before, not_after FROM certificates{where}", params)
        ]

    def not_after_histogram(
        self, now: datetime, edges: Sequence[datetime], renew_before: str
    ) -> list[dict[str, int]]:
        """Per time bucket [edges[i], edges[i+1]): how many certificates end there, by state
        (valid, expiring, expired, revoked; valid counts the expiring too, as counts_by_ca does).
        Each count is a range count on the validity index, comparing the ISO text; only the
        renew window needs date arithmetic, and only for valid rows ending after now."""
        if len(edges) < 2:
            return []
        now_text = to_db_time(now)
        due, due_params = renewal_due(renew_before, now)
        count = (
            "(SELECT count(*) FROM certificates WHERE status = '{}'"
            " AND not_after >= b.lo AND not_after < b.hi{})"
        )
        columns = [
            count.format("valid", ""),
            count.format("valid", " AND not_after <= ?"),
            count.format("valid", f" AND not_after > ? AND {due}"),
            count.format("revoked", ""),
        ]
        bounds: list[Any] = []
        for i in range(len(edges) - 1):
            bounds += [i, to_db_time(edges[i]), to_db_time(edges[i + 1])]
        rows = self.db.query(
            f"WITH b(i, lo, hi) AS (VALUES {', '.join(['(?, ?, ?)'] * (len(edges) - 1))})"
            f" SELECT {', '.join(columns)} FROM b ORDER BY b.i",
            [*bounds, now_text, now_text, *due_params],
        )
        return [
            {"valid": ends - expired, "expiring": expiring, "expired": expired, "revoked": revoked}
            for ends, expired, expiring, revoked in rows
        ]

    def mark_revoked(self, serial: str, at: datetime, reason: int) -> bool:
        """True when this call revoked it; False when it was already revoked."""
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = ?"
                " WHERE serial = ? AND status = 'valid'",
                (to_db_time(at), reason, serial),
            )
            return cursor.rowcount == 1

    def revoked(self, ca_id: str) -> list[CertificateRecord]:
        rows = self.db.query(
            "SELECT * FROM certificates WHERE ca_id = ? AND status = 'revoked' ORDER BY revoked_at",
            (ca_id,),
        )
        return [CertificateRecord.from_row(r) for r in rows]

    def counts_by_ca(self, now: datetime, renew_before: str) -> dict[str, dict[str, int]]:
        """Per CA: valid (expiring included), expiring (inside each certificate's own renew
        window, see :func:`renewal_due`), expired and revoked counts."""
        now_text = to_db_time(now)
        due, due_params = renewal_due(renew_before, now)
        rows = self.db.query(
            "SELECT ca_id,"
            " sum(status = 'valid' AND not_after > ?),"
            f" sum(CASE WHEN status = 'valid' AND not_after > ? THEN {due} ELSE 0 END),"
            " sum(status = 'valid' AND not_after <= ?),"
            " sum(status = 'revoked')"
            " FROM certificates INDEXED BY certificates_validity GROUP BY ca_id",
            (now_text, now_text, *due_params, now_text),
        )
        return {
            r[0]: {"valid": r[1], "expiring": r[2], "expired": r[3], "revoked": r[4]} for r in rows
        }

    # -- templates -----------------------------------------------------------------------
    def save_template(self, name: str, body: dict[str, Any], at: datetime) -> None:
        with self.db.transaction():
            self.db.utils["templates"].upsert(
                {"name": name, "body": json.dumps(body), "created_at": to_db_time(at)},
                pk="name",
            )

    def template(self, name: str) -> dict[str, Any] | None:
        row = self.db.query_one("SELECT body FROM templates WHERE name = ?", (name,))
        return json.loads(row[0]) if row else None

    def templates(self) -> list[dict[str, Any]]:
        return [json.loads(r[0]) for r in self.db.query("SELECT body FROM templates ORDER BY name")]

    def remove_template(self, name: str) -> bool:
        with self.db.transaction() as conn:
            return conn.execute("DELETE FROM templates WHERE name = ?", (name,)).rowcount == 1

    # -- audit ---------------------------------------------------------------------------
    def audit(
        self, at: datetime, actor: str, action: str, target: str, detail: dict[str, Any]
    ) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO audit (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                (to_db_time(at), actor, action, target, json.dumps(detail, sort_keys=True)),
            )

    def audit_entries(self, target: str | None = None, limit: int = 200) -> list[AuditEntry]:
        sql, params = "SELECT * FROM audit", []
        if target is not None:
            sql += " WHERE target = ?"
            params.append(target)
        rows = self.db.query(sql + " ORDER BY id DESC LIMIT ?", [*params, limit])
        return [
            AuditEntry(
                id=r["id"],
                at=from_db_time(r["at"]),
                actor=r["actor"],
                action=r["action"],
                target=r["target"],
                detail=json.loads(r["detail"]),
            )
            for r in rows
        ]


def _index_pending(conn: sqlite3.Connection) -> None:
    """Add to the search index every certificate row above the indexed mark, in one batch.
    Rows are never deleted from the inventory, so rowids only grow."""
    conn.execute(
        "INSERT INTO certificates_search (rowid, subject, sans)"
        " SELECT rowid, subject, sans FROM certificates"
        " WHERE rowid > (SELECT indexed_upto FROM search_progress)"
    )
    conn.execute(
        "UPDATE search_progress"
        " SET indexed_upto = (SELECT coalesce(max(rowid), 0) FROM certificates)"
    )


def _cert_row(record: CertificateRecord) -> tuple[Any, ...]:
    return (
        record.serial,
        record.ca_id,
        record.issuer,
        record.name,
        record.subject,
        " ".join(record.sans),
        to_db_time(record.not_before),
        to_db_time(record.not_after),
        record.template,
        record.requester,
        record.source,
        record.status,
        to_db_time(record.revoked_at) if record.revoked_at else None,
        record.revocation_reason,
        record.key_type,
        record.fingerprint,
        record.pem,
        record.replaces,
        to_db_time(record.created_at),
    )
