"""The schema as an ordered list of migrations; ``PRAGMA user_version`` records how many ran.

Append new migrations, never edit an applied one: existing data dirs upgrade in place.
"""

from __future__ import annotations

CA_TABLES = """
CREATE TABLE authorities (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('root', 'intermediate')),
    parent_id TEXT REFERENCES authorities(id),
    subject TEXT NOT NULL,
    serial TEXT NOT NULL,
    not_before TEXT NOT NULL,
    not_after TEXT NOT NULL,
    cert_pem TEXT NOT NULL,
    key_file TEXT,
    key_encrypted INTEGER NOT NULL DEFAULT 1,
    key_type TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active',
    policy TEXT NOT NULL DEFAULT '{}',
    crl_number INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
-- Other certificates for an authority's key: cross-signatures and externally signed copies.
CREATE TABLE authority_chains (
    id INTEGER PRIMARY KEY,
    authority_id TEXT NOT NULL REFERENCES authorities(id),
    issuer_id TEXT REFERENCES authorities(id),
    kind TEXT NOT NULL CHECK (kind IN ('cross', 'external')),
    cert_pem TEXT NOT NULL,
    chain_pem TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE TABLE certificates (
    serial TEXT PRIMARY KEY,
    ca_id TEXT REFERENCES authorities(id),
    issuer TEXT NOT NULL,
    name TEXT,
    subject TEXT NOT NULL,
    sans TEXT NOT NULL,
    not_before TEXT NOT NULL,
    not_after TEXT NOT NULL,
    template TEXT,
    requester TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT 'issued',
    status TEXT NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'revoked')),
    revoked_at TEXT,
    revocation_reason INTEGER,
    key_type TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    pem TEXT NOT NULL,
    replaces TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX certificates_not_after ON certificates (not_after);
CREATE INDEX certificates_ca_not_after ON certificates (ca_id, not_after);
CREATE INDEX certificates_status ON certificates (status, not_after);
CREATE INDEX certificates_name ON certificates (name);
CREATE INDEX certificates_fingerprint ON certificates (fingerprint);
-- Substring search over serial, subject and SANs ("/" filter in the TUI, --san queries).
CREATE VIRTUAL TABLE certificates_search USING fts5(
    serial, subject, sans, content='certificates', content_rowid='rowid', tokenize='trigram'
);
CREATE TRIGGER certificates_search_insert AFTER INSERT ON certificates BEGIN
    INSERT INTO certificates_search (rowid, serial, subject, sans)
    VALUES (new.rowid, new.serial, new.subject, new.sans);
END;
CREATE TRIGGER certificates_search_delete AFTER DELETE ON certificates BEGIN
    INSERT INTO certificates_search (certificates_search, rowid, serial, subject, sans)
    VALUES ('delete', old.rowid, old.serial, old.subject, old.sans);
END;
CREATE TABLE templates (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_target ON audit (target, id);
CREATE INDEX audit_at ON audit (at);
"""

MIGRATIONS: list[str] = [CA_TABLES]
