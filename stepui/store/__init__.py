"""Persistence behind one package, so a PostgreSQL backend can replace it later."""

from __future__ import annotations

from pathlib import Path

from stepui.store.acme import AcmeStore
from stepui.store.ca import CaStore, CertificateQuery
from stepui.store.db import Database
from stepui.store.eab import EabKey, EabStore
from stepui.store.managed import ManagedRecord, ManagedStore
from stepui.store.records import (
    AuditEntry,
    AuthorityRecord,
    CertificateRecord,
    ChainRecord,
    from_db_time,
    to_db_time,
)

__all__ = [
    "AuditEntry",
    "AuthorityRecord",
    "CaStore",
    "CertificateQuery",
    "CertificateRecord",
    "ChainRecord",
    "Database",
    "EabKey",
    "EabStore",
    "ManagedRecord",
    "ManagedStore",
    "Store",
    "from_db_time",
    "to_db_time",
]


class Store:
    """The database file and the query groups over it."""

    def __init__(self, path: Path | str) -> None:
        self.db = Database(path)
        self.ca = CaStore(self.db)
        self.acme = AcmeStore(self.db)
        self.eab = EabStore(self.db)
        self.managed = ManagedStore(self.db)

    def transaction(self):
        return self.db.transaction()

    def close(self) -> None:
        self.db.close()
