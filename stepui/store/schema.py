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
-- Substring search over subject and SANs ("/" filter in the TUI, --search); serials are
-- searched by prefix on the primary key.
CREATE VIRTUAL TABLE certificates_search USING fts5(
    subject, sans, content='certificates', content_rowid='rowid', tokenize='trigram'
);
CREATE TRIGGER certificates_search_insert AFTER INSERT ON certificates BEGIN
    INSERT INTO certificates_search (rowid, subject, sans)
    VALUES (new.rowid, new.subject, new.sans);
END;
CREATE TRIGGER certificates_search_delete AFTER DELETE ON certificates BEGIN
    INSERT INTO certificates_search (certificates_search, rowid, subject, sans)
    VALUES ('delete', old.rowid, old.subject, old.sans);
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

# The ACME server's state: shared by every server process through this file. Columns for
# External Account Binding (accounts.eab_key_id), ARI (orders.replaces) and profiles
# (orders.profile) exist now so that those features need no table rewrite.
ACME_TABLES = """
CREATE TABLE acme_nonces (
    nonce TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX acme_nonces_created ON acme_nonces (created_at);
CREATE TABLE acme_accounts (
    id TEXT PRIMARY KEY,
    provisioner TEXT NOT NULL,
    thumbprint TEXT NOT NULL,
    jwk TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('valid', 'deactivated', 'revoked')),
    contact TEXT NOT NULL DEFAULT '[]',
    terms_agreed INTEGER NOT NULL DEFAULT 0,
    eab_key_id TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (provisioner, thumbprint)
);
CREATE INDEX acme_accounts_thumbprint ON acme_accounts (thumbprint);
CREATE TABLE acme_orders (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES acme_accounts(id),
    status TEXT NOT NULL
        CHECK (status IN ('pending', 'ready', 'processing', 'valid', 'invalid')),
    identifiers TEXT NOT NULL,
    not_before TEXT,
    not_after TEXT,
    expires TEXT NOT NULL,
    error TEXT,
    certificate TEXT,
    profile TEXT,
    replaces TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX acme_orders_account ON acme_orders (account_id, created_at);
CREATE TABLE acme_authorizations (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES acme_orders(id),
    account_id TEXT NOT NULL REFERENCES acme_accounts(id),
    identifier_type TEXT NOT NULL,
    identifier_value TEXT NOT NULL,
    wildcard INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL
        CHECK (status IN ('pending', 'valid', 'invalid', 'deactivated', 'expired', 'revoked')),
    expires TEXT NOT NULL,
    position INTEGER NOT NULL
);
CREATE INDEX acme_authorizations_order ON acme_authorizations (order_id, position);
CREATE INDEX acme_authorizations_account ON acme_authorizations
    (account_id, identifier_value, status);
CREATE TABLE acme_challenges (
    id TEXT PRIMARY KEY,
    authz_id TEXT NOT NULL REFERENCES acme_authorizations(id),
    type TEXT NOT NULL,
    token TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'valid', 'invalid')),
    validated TEXT,
    error TEXT,
    position INTEGER NOT NULL
);
CREATE INDEX acme_challenges_authz ON acme_challenges (authz_id, position);
"""

# Certificates that `ca renew` keeps fresh: how each was issued (local CA or ACME, as JSON) and
# where its files were last written, so a renewal replaces them in place.
MANAGED_TABLES = """
CREATE TABLE managed_certificates (
    name TEXT PRIMARY KEY,
    method TEXT NOT NULL,
    cert_path TEXT NOT NULL,
    key_path TEXT,
    serial TEXT NOT NULL,
    not_before TEXT NOT NULL,
    not_after TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
"""

# "Expiring" is judged per certificate (renew_before as a share of its own lifetime), so the
# aggregate views read not_before beside status and not_after; this index answers them (and the
# per-CA counts) without touching the table rows. It supersedes (status, not_after).
VALIDITY_INDEX = """
DROP INDEX certificates_status;
CREATE INDEX certificates_validity ON certificates (status, not_after, not_before, ca_id);
"""

# External Account Binding keys (RFC 8555 §7.3.4): the HMAC key must stay readable, since the
# server computes the MAC; ``binding`` keeps the JWS the account was created with. The indexes
# answer RFC 9773's "has this certificate been replaced already?" at newOrder.
EAB_AND_REPLACES = """
CREATE TABLE acme_eab_keys (
    kid TEXT PRIMARY KEY,
    provisioner TEXT NOT NULL,
    reference TEXT,
    hmac_key TEXT NOT NULL,
    created_at TEXT NOT NULL,
    bound_account TEXT REFERENCES acme_accounts(id),
    bound_at TEXT,
    binding TEXT
);
CREATE UNIQUE INDEX acme_eab_keys_reference ON acme_eab_keys (provisioner, reference);
CREATE INDEX acme_orders_replaces ON acme_orders (replaces) WHERE replaces IS NOT NULL;
CREATE INDEX certificates_replaces ON certificates (replaces) WHERE replaces IS NOT NULL;
"""

# Where an ACME-issued managed certificate can be downloaded again (POST-as-GET with the saved
# account): what ``cert fetch`` and ``cert install --endpoint`` take it from.
MANAGED_CERTIFICATE_URL = """
ALTER TABLE managed_certificates ADD COLUMN certificate_url TEXT;
"""

# The audit log is read newest first by id (and by target); an index on its time only cost
# every issuance a write.
DROP_AUDIT_TIME_INDEX = """
DROP INDEX audit_at;
"""

# Indexing each certificate for substring search as it is issued cost a third of the issuance
# time (FTS5 writes a segment per transaction). The hot path now only inserts; searches index
# the rows added since the last search first, in one batch (see CaStore.index_pending).
DEFERRED_SEARCH_INDEX = """
DROP TRIGGER certificates_search_insert;
DROP TRIGGER certificates_search_delete;
CREATE TABLE search_progress (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_upto INTEGER NOT NULL
);
INSERT INTO search_progress (id, indexed_upto)
VALUES (1, (SELECT coalesce(max(rowid), 0) FROM certificates));
CREATE TRIGGER certificates_search_delete AFTER DELETE ON certificates
WHEN old.rowid <= (SELECT indexed_upto FROM search_progress) BEGIN
    INSERT INTO certificates_search (certificates_search, rowid, subject, sans)
    VALUES ('delete', old.rowid, old.subject, old.sans);
END;
"""

MIGRATIONS: list[str] = [
    CA_TABLES,
    ACME_TABLES,
    MANAGED_TABLES,
    VALIDITY_INDEX,
    EAB_AND_REPLACES,
    MANAGED_CERTIFICATE_URL,
    DROP_AUDIT_TIME_INDEX,
    DEFERRED_SEARCH_INDEX,
]
