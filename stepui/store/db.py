"""The SQLite file: connection settings, transactions and migrations.

One connection is shared by the threads of one process (TUI workers, the event loop) behind a
re-entrant lock; separate processes (several server workers) share the file through WAL and a
busy timeout. Every state change runs inside :meth:`Database.transaction`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from stepui.errors import BadInput
from stepui.fsutil import PRIVATE_MODE
from stepui.store.schema import MIGRATIONS

BUSY_TIMEOUT_MS = 10_000


class Database:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        _keep_private(self.path)
        try:
            self.conn = sqlite3.connect(
                str(path),
                isolation_level=None,
                check_same_thread=False,
                timeout=BUSY_TIMEOUT_MS / 1000,
            )
            self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = NORMAL")
            self.conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as exc:
            raise BadInput(f"{path} is not a stepui database: {exc}") from exc
        self.conn.row_factory = sqlite3.Row
        self.utils = sqlite_utils.Database(self.conn)
        self._lock = threading.RLock()
        self._depth = 0
        self.migrate()

    def migrate(self) -> None:
        """Apply pending migrations, each in its own transaction; safe when several processes
        open the same file at once (the version is read under the write lock)."""
        with self._lock:
            while True:
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    version = self.conn.execute("PRAGMA user_version").fetchone()[0]
                    if version > len(MIGRATIONS):
                        raise BadInput(
                            f"{self.path} was written by a newer stepui (schema {version}); "
                            "upgrade stepui"
                        )
                    if version == len(MIGRATIONS):
                        self.conn.execute("COMMIT")
                        return
                    for statement in _statements(MIGRATIONS[version]):
                        self.conn.execute(statement)
                    self.conn.execute(f"PRAGMA user_version = {version + 1}")
                    self.conn.execute("COMMIT")
                except BaseException:
                    self.conn.execute("ROLLBACK")
                    raise

    @property
    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic change; nested calls join the outer transaction."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self.conn
                finally:
                    self._depth -= 1
                return
            self.conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")
            finally:
                self._depth = 0

    def query(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self.conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Any = ()) -> sqlite3.Row | None:
        with self._lock:
            return self.conn.execute(sql, params).fetchone()

    def close(self) -> None:
        with self._lock:
            self.conn.close()


def _keep_private(path: Path) -> None:
    """The file holds secrets (EAB HMAC keys): owner-only, like a private key. SQLite gives
    the -wal and -shm files the database file's mode, so this covers them when they appear."""
    if str(path) == ":memory:":
        return
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, PRIVATE_MODE))
    for part in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if part.exists() and part.stat().st_mode & 0o077:
            part.chmod(PRIVATE_MODE)


def _statements(script: str) -> Iterator[str]:
    """Split a script into complete statements (triggers contain semicolons of their own)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if pending.strip():
                yield pending
            pending = ""
    if pending.strip() and not pending.strip().startswith("--"):
        yield pending
