"""stepui.store on a real SQLite file: migrations, transactions, queries and the audit log."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from stepui.errors import BadInput
from stepui.store import (
    AuthorityRecord,
    CertificateQuery,
    CertificateRecord,
    Database,
    Store,
    from_db_time,
    to_db_time,
)
from stepui.store.schema import MIGRATIONS

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def authority(ca_id: str) -> AuthorityRecord:
    return AuthorityRecord(
        id=ca_id,
        name=ca_id.upper(),
        kind="root",
        parent_id=None,
        subject=f"CN={ca_id}",
        serial="1",
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=3650),
        cert_pem="PEM",
        key_file=f"{ca_id}.key",
        key_encrypted=True,
        key_type="ec-p256",
        policy={"allow": {"dns": [".corp.example"]}},
        created_at=NOW,
    )


def cert(serial: str, *, ca: str | None = "ca1", hours: float = 24, **changes) -> CertificateRecord:
    record = CertificateRecord(
        serial=serial,
        ca_id=ca,
        issuer="CN=ca",
        name=None,
        subject=f"CN=host-{serial}",
        sans=(f"DNS:host-{serial}.corp.example",),
        not_before=NOW - timedelta(minutes=1),
        not_after=NOW + timedelta(hours=hours),
        template="tls-server",
        requester="test",
        source="issued",
        status="valid",
        revoked_at=None,
        revocation_reason=None,
        key_type="ec-p256",
        fingerprint=f"fp{serial}",
        pem="PEM",
        replaces=None,
        created_at=NOW,
    )
    return replace(record, **changes)


@pytest.fixture
def store(tmp_path: Path):
    store = Store(tmp_path / "stepui.db")
    store.ca.add_authority(authority("ca1"))
    store.ca.add_authority(authority("ca2"))
    yield store
    store.close()


def rows(store: Store, table: str) -> int:
    return store.db.query_one(f"SELECT count(*) FROM {table}")[0]


def test_migrations_are_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    first = Database(path)
    assert first.schema_version == len(MIGRATIONS)
    first.close()
    second = Database(path)
    assert second.schema_version == len(MIGRATIONS)
    tables = {r[0] for r in second.query("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"authorities", "certificates", "audit", "templates", "authority_chains"} <= tables
    assert second.query_one("PRAGMA journal_mode")[0] == "wal"
    second.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    Database(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(BadInput, match="newer stepui"):
        Database(path)


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite at all, not even close" * 100)
    with pytest.raises(BadInput, match="not a stepui database"):
        Database(path)


def test_authority_round_trip(store: Store) -> None:
    record = store.ca.authority("ca1")
    assert record == authority("ca1")
    assert store.ca.authority("Ca2").id == "ca2"  # by name, case-insensitive
    assert store.ca.authority("nope") is None
    assert [a.id for a in store.ca.authorities()] == ["ca1", "ca2"]
    store.ca.update_authority("ca1", policy={}, not_after=NOW)
    updated = store.ca.authority("ca1")
    assert updated.policy == {} and updated.not_after == NOW


def test_rollback_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.ca.add_certificate(cert("a1"))
        store.ca.audit(NOW, "t", "cert.issue", "a1", {})
        store.ca.add_authority(authority("ca3"))
        raise RuntimeError("boom")
    assert rows(store, "certificates") == 0
    assert rows(store, "audit") == 0
    assert store.ca.authority("ca3") is None
    assert store.ca.certificates(CertificateQuery(now=NOW, search="host-a1")) == []


def test_nested_transactions_join_the_outer_one(store: Store) -> None:
    with store.transaction() as outer:
        with store.transaction() as inner:
            assert inner is outer
            store.ca.add_certificate(cert("b1"))
        assert outer.in_transaction
        store.ca.add_certificate(cert("b2"))
    assert rows(store, "certificates") == 2
    with pytest.raises(sqlite3.IntegrityError), store.transaction():
        store.ca.add_certificate(cert("b3"))
        with store.transaction():
            store.ca.add_certificate(cert("b1"))  # duplicate: the whole outer change goes
    assert rows(store, "certificates") == 2
    assert store.ca.certificate("b3") is None


def test_certificate_round_trip(store: Store) -> None:
    record = cert("c0ffee", sans=("DNS:a.example", "IP:10.0.0.1"), name="web")
    store.ca.add_certificate(record)
    assert store.ca.certificate("C0FFEE") == record
    assert store.ca.certificate_by_fingerprint("FPC0FFEE") == record
    assert store.ca.certificate("missing") is None


@pytest.fixture
def populated(store: Store) -> Store:
    store.ca.add_certificates(
        [
            cert("a1", hours=1),
            cert("a2", hours=48),
            cert("a3", hours=-1),  # expired
            cert("b1", ca="ca2", hours=10, subject="CN=db,O=Acme", sans=("IP:10.1.2.3",)),
            cert("b2", ca="ca2", hours=100),
            cert("i1", ca=None, hours=5, source="imported"),
        ]
    )
    assert store.ca.mark_revoked("a2", NOW, 1)
    return store


def serials(store: Store, **filters) -> list[str]:
    return [r.serial for r in store.ca.certificates(CertificateQuery(now=NOW, **filters))]


def test_status_filters_follow_the_clock(populated: Store) -> None:
    assert serials(populated, status="valid") == ["a1", "i1", "b1", "b2"]
    assert serials(populated, status="expired") == ["a3"]
    assert serials(populated, status="revoked") == ["a2"]
    later = CertificateQuery(now=NOW + timedelta(hours=6), status="expired")
    assert [r.serial for r in populated.ca.certificates(later)] == ["a3", "a1", "i1"]
    with pytest.raises(BadInput, match="unknown status"):
        serials(populated, status="bogus")


def test_record_state(populated: Store) -> None:
    a1 = populated.ca.certificate("a1")
    assert a1.state(NOW) == "valid"
    assert a1.state(NOW + timedelta(hours=1)) == "expired"
    assert populated.ca.certificate("a2").state(NOW) == "revoked"


def test_expiring_ca_and_name_filters(populated: Store) -> None:
    assert serials(populated, expiring_before=NOW + timedelta(hours=12)) == ["a1", "i1", "b1"]
    assert serials(populated, ca_id="ca2") == ["b1", "b2"]
    assert serials(populated, ca_ids=("ca1",), status="valid") == ["a1"]
    assert serials(populated, not_after_from=NOW + timedelta(hours=20)) == ["a2", "b2"]
    populated.ca.add_certificate(cert("n1", name="web"))
    assert serials(populated, name="web") == ["n1"]


def test_search_fts_and_short_like(populated: Store) -> None:
    assert serials(populated, search="Acme") == ["b1"]  # trigram, case-insensitive
    assert serials(populated, search="10.1.2") == ["b1"]
    assert serials(populated, search="host-b2.corp") == ["b2"]
    assert serials(populated, search='"quoted"') == []
    assert serials(populated, search="i1") == ["i1"]  # short: LIKE
    assert serials(populated, search="b") == ["b1", "b2"]
    assert serials(populated, search="zzz") == []


def test_sort_limit_offset(populated: Store) -> None:
    assert serials(populated, sort="serial") == ["a1", "a2", "a3", "b1", "b2", "i1"]
    assert serials(populated, sort="serial", descending=True)[:2] == ["i1", "b2"]
    assert serials(populated, sort="serial", limit=2, offset=2) == ["a3", "b1"]
    assert serials(populated, sort="not_after", limit=1) == ["a3"]
    with pytest.raises(BadInput, match="cannot sort"):
        serials(populated, sort="pem; DROP TABLE certificates")
    assert rows(populated, "certificates") == 6


def test_counts(populated: Store) -> None:
    assert populated.ca.count_certificates(CertificateQuery(now=NOW)) == 6
    assert populated.ca.count_certificates(CertificateQuery(now=NOW, status="valid")) == 4
    counts = populated.ca.counts_by_ca(NOW, "12h")
    assert counts["ca1"] == {"valid": 1, "expiring": 1, "expired": 1, "revoked": 1}
    assert counts["ca2"] == {"valid": 2, "expiring": 1, "expired": 0, "revoked": 0}
    assert counts[None] == {"valid": 1, "expiring": 1, "expired": 0, "revoked": 0}
    pairs = populated.ca.not_after_values(CertificateQuery(now=NOW, ca_id="ca2"))
    assert sorted(p[1] for p in pairs) == [
        to_db_time(NOW + timedelta(hours=10)),
        to_db_time(NOW + timedelta(hours=100)),
    ]


def test_mark_revoked_twice(populated: Store) -> None:
    assert populated.ca.mark_revoked("a1", NOW, 4)
    assert not populated.ca.mark_revoked("a1", NOW + timedelta(hours=1), 1)
    record = populated.ca.certificate("a1")
    assert record.status == "revoked" and record.revocation_reason == 4
    assert record.revoked_at == NOW
    assert sorted(r.serial for r in populated.ca.revoked("ca1")) == ["a1", "a2"]
    assert not populated.ca.mark_revoked("unknown", NOW, 0)
    assert serials(populated, search="host-a1") == ["a1"]  # the search index still finds it


def test_crl_numbers_increase(store: Store) -> None:
    assert [store.ca.next_crl_number("ca1") for _ in range(3)] == [1, 2, 3]
    assert store.ca.next_crl_number("ca2") == 1


def test_chains(store: Store) -> None:
    store.ca.add_chain("ca1", "ca2", "cross", "CERT", "", NOW)
    store.ca.add_chain("ca2", None, "external", "CERT2", "CHAIN", NOW)
    assert [(c.authority_id, c.issuer_id, c.kind) for c in store.ca.chains()] == [
        ("ca1", "ca2", "cross"),
        ("ca2", None, "external"),
    ]
    assert [c.chain_pem for c in store.ca.chains("ca2")] == ["CHAIN"]
    with pytest.raises(sqlite3.IntegrityError):
        store.ca.add_chain("ca1", None, "bogus", "CERT", "", NOW)


def test_templates(store: Store) -> None:
    store.ca.save_template("web", {"name": "web", "v": 1}, NOW)
    store.ca.save_template("web", {"name": "web", "v": 2}, NOW)
    assert store.ca.template("web") == {"name": "web", "v": 2}
    assert store.ca.templates() == [{"name": "web", "v": 2}]
    assert store.ca.remove_template("web")
    assert not store.ca.remove_template("web")
    assert store.ca.template("web") is None


def test_audit_entries(store: Store) -> None:
    store.ca.audit(NOW, "alice", "cert.issue", "a1", {"b": 2, "a": 1})
    store.ca.audit(NOW + timedelta(seconds=1), "bob", "cert.revoke", "a1", {})
    store.ca.audit(NOW, "bob", "ca.create", "ca1", {})
    entries = store.ca.audit_entries("a1")
    assert [(e.actor, e.action) for e in entries] == [
        ("bob", "cert.revoke"),
        ("alice", "cert.issue"),
    ]
    assert entries[1].detail == {"a": 1, "b": 2} and entries[1].at == NOW
    assert len(store.ca.audit_entries()) == 3
    assert len(store.ca.audit_entries(limit=1)) == 1


def test_time_format_round_trip() -> None:
    moment = datetime(2026, 3, 1, 12, 0, 5, 999, tzinfo=UTC)
    assert to_db_time(moment) == "2026-03-01T12:00:05Z"
    assert from_db_time(to_db_time(moment)) == moment.replace(microsecond=0)
