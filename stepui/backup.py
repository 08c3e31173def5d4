"""Backup and restore of a whole data dir: one ``.tar.gz`` holding a consistent database snapshot,
the config, the CA keys (as encrypted as they are on disk) and the certificate files, described
by ``manifest.json`` with a SHA-256 per member.

A backup can run while the server writes: SQLite's online backup API copies a consistent
snapshot. A restore is staged beside the target and swapped in with renames only after every
check passed, so a failed restore leaves the old data exactly as it was.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from stepui import __version__
from stepui.config import load_config
from stepui.errors import BadInput, Conflict, NotFound
from stepui.events import Clock, utc_now
from stepui.fsutil import PRIVATE_MODE, SECRET_DIR_MODE, ensure_dir
from stepui.pki.timespec import rfc3339
from stepui.store.schema import MIGRATIONS

log = logging.getLogger(__name__)

FORMAT = "stepui-backup"
FORMAT_VERSION = 1
DATABASE = "stepui.db"
MANIFEST = "manifest.json"
# SQLite's own companions of the database file: the snapshot replaces them.
_DATABASE_FILES = {DATABASE, f"{DATABASE}-wal", f"{DATABASE}-shm", f"{DATABASE}-journal"}
# A key file may appear just after the row naming it is committed (files follow the
# transaction); the file copy is retried until every key the snapshot names is present.
_KEY_ATTEMPTS = 20


@dataclass(frozen=True)
class Member:
    sha256: str
    size: int
    mode: int


@dataclass(frozen=True)
class Manifest:
    stepui_version: str
    schema_version: int
    created_at: str
    files: dict[str, Member]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "stepui_version": self.stepui_version,
            "schema_version": self.schema_version,
            "created_at": self.created_at,
            "files": {
                name: {"sha256": m.sha256, "size": m.size, "mode": oct(m.mode)}
                for name, m in sorted(self.files.items())
            },
        }

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        try:
            raw = json.loads(data)
            if raw.get("format") != FORMAT:
                raise BadInput("not a stepui backup (manifest format)")
            if raw.get("format_version") != FORMAT_VERSION:
                raise BadInput(f"backup format version {raw.get('format_version')} is unknown")
            files = {
                name: Member(str(m["sha256"]), int(m["size"]), int(str(m["mode"]), 8))
                for name, m in raw["files"].items()
            }
            return cls(
                str(raw["stepui_version"]),
                int(raw["schema_version"]),
                str(raw["created_at"]),
                files,
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BadInput(f"the backup manifest is damaged: {exc}") from exc


# -- backup ------------------------------------------------------------------------------------
def backup(home: Path, archive: Path, *, clock: Clock = utc_now) -> Manifest:
    """Write ``archive`` (mode 0600, atomically) from the data dir ``home``."""
    database = home / DATABASE
    if not database.is_file():
        raise NotFound(f"no stepui data in {home} (no {DATABASE})")
    if archive.is_dir():
        raise BadInput(f"{archive} is a directory; give the archive's file name")
    ensure_dir(archive.parent)
    with tempfile.TemporaryDirectory(prefix=".stepui-backup-", dir=archive.parent) as scratch:
        snapshot = Path(scratch) / DATABASE
        schema, key_files = _snapshot(database, snapshot)
        files = _collect_files(home, key_files)
        members: dict[str, Member] = {DATABASE: _member_of_file(snapshot, PRIVATE_MODE)}
        for name, (data, mode) in files.items():
            members[name] = Member(hashlib.sha256(data).hexdigest(), len(data), mode)
        manifest = Manifest(__version__, schema, rfc3339(clock()), members)
        staged = Path(scratch) / "archive.tar.gz"
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
        with os.fdopen(fd, "wb") as handle, tarfile.open(fileobj=handle, mode="w:gz") as tar:
            manifest_bytes = json.dumps(manifest.to_dict(), indent=2).encode() + b"\n"
            _add_bytes(tar, MANIFEST, manifest_bytes, 0o644)
            with snapshot.open("rb") as source:
                tar.addfile(_tar_info(DATABASE, members[DATABASE].size, PRIVATE_MODE), source)
            for name, (data, mode) in sorted(files.items()):
                _add_bytes(tar, name, data, mode)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(staged, archive)
    log.info("backup of %s written to %s (%d members)", home, archive, len(members))
    return manifest


def _snapshot(database: Path, target: Path) -> tuple[int, set[str]]:
    """A consistent copy through the online backup API, turned into a single-file database.
    Returns its schema version and the key files its CA rows name."""
    source = sqlite3.connect(str(database), timeout=30)
    try:
        source.execute("PRAGMA busy_timeout = 30000")
        copy = sqlite3.connect(str(target))
        try:
            source.backup(copy)
            copy.execute("PRAGMA journal_mode = DELETE")
            schema = copy.execute("PRAGMA user_version").fetchone()[0]
            keys: set[str] = set()
            if schema:
                rows = copy.execute("SELECT key_file FROM authorities WHERE key_file IS NOT NULL")
                keys = {f"secrets/{r[0]}" for r in rows}
        finally:
            copy.close()
    finally:
        source.close()
    target.chmod(PRIVATE_MODE)
    return schema, keys


def _collect_files(home: Path, key_files: set[str]) -> dict[str, tuple[bytes, int]]:
    """Every regular file of the data dir except the live database and temporary files,
    read once (what is hashed is what is archived)."""
    for _ in range(_KEY_ATTEMPTS):
        files: dict[str, tuple[bytes, int]] = {}
        for path in sorted(home.rglob("*")):
            relative = path.relative_to(home).as_posix()
            if path.is_symlink() or not path.is_file() or relative in _DATABASE_FILES:
                continue
            if path.name.startswith(".") and path.name.endswith(".tmp"):
                continue
            files[relative] = (path.read_bytes(), path.stat().st_mode & 0o777)
        if key_files <= files.keys():
            return files
        time.sleep(0.05)
    missing = ", ".join(sorted(key_files - files.keys()))
    raise NotFound(f"the database names key files that are not in {home}: {missing}")


def _member_of_file(path: Path, mode: int) -> Member:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return Member(digest.hexdigest(), path.stat().st_size, mode)


def _tar_info(name: str, size: int, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, mode, int(time.time())
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    tar.addfile(_tar_info(name, len(data), mode), io.BytesIO(data))


# -- restore -----------------------------------------------------------------------------------
def restore(archive: Path, home: Path, *, force: bool = False) -> Manifest:
    """Verify ``archive`` completely, then make it the data dir ``home``. Without ``force`` an
    existing CA is never replaced; with it the old dir is removed only after the swap."""
    if home.exists() and not home.is_dir():
        raise BadInput(f"{home} is not a directory")
    if home.is_dir() and not (home / DATABASE).exists() and any(home.iterdir()):
        raise Conflict(f"{home} holds files but no stepui data; restore into a new directory")
    if not force and has_authority(home):
        raise Conflict(f"{home} already holds a CA; use --force to replace it with the backup")
    home = home.absolute()
    home.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{home.name}.restore-", dir=home.parent))
    try:
        manifest = _extract(archive, staging)
        _check_database(staging / DATABASE, manifest)
        load_config(staging / "config.json")
        staging.chmod(0o755)
        _swap(staging, home)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("restored %s from %s", home, archive)
    return manifest


def has_authority(home: Path) -> bool:
    database = home / DATABASE
    if not database.is_file():
        return False
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        return connection.execute("SELECT count(*) FROM authorities").fetchone()[0] > 0
    except sqlite3.DatabaseError:
        return True  # unreadable data is still data: do not replace it silently
    finally:
        connection.close()


def _safe_name(name: str) -> str:
    """Refuse absolute paths, ``..`` and anything that is not a plain relative path."""
    path = PurePosixPath(name)
    if (
        not name
        or path.is_absolute()
        or "\\" in name
        or "\0" in name
        or any(part in ("..", "") for part in name.split("/"))
    ):
        raise BadInput(f"the backup contains an unsafe path {name!r}")
    return path.as_posix()


def _open(archive: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(archive, mode="r:gz")
    except (OSError, tarfile.TarError) as exc:
        raise BadInput(f"cannot read backup {archive}: {exc}") from exc


def _extract(archive: Path, target: Path) -> Manifest:
    with _open(archive) as tar:
        try:
            members = tar.getmembers()
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise BadInput(f"the backup {archive} is damaged: {exc}") from exc
        seen: dict[str, tarfile.TarInfo] = {}
        for info in members:
            name = _safe_name(info.name)
            if not info.isfile():
                raise BadInput(f"the backup member {name!r} is not a regular file")
            if name in seen:
                raise BadInput(f"the backup holds {name!r} twice")
            seen[name] = info
        if MANIFEST not in seen:
            raise BadInput("the backup has no manifest.json")
        manifest = Manifest.from_bytes(_read(tar, seen[MANIFEST]))
        expected = set(manifest.files) | {MANIFEST}
        if set(seen) != expected:
            extra = sorted(set(seen) ^ expected)
            raise BadInput(f"the backup does not match its manifest: {', '.join(extra)}")
        if DATABASE not in manifest.files:
            raise BadInput(f"the backup has no {DATABASE}")
        for name, member in manifest.files.items():
            _safe_name(name)
            data = _read(tar, seen[name])
            if len(data) != member.size or hashlib.sha256(data).hexdigest() != member.sha256:
                raise BadInput(f"checksum mismatch for {name}: the backup is damaged")
            path = target / name
            for parent in reversed(path.relative_to(target).parents[:-1]):
                mode = SECRET_DIR_MODE if parent.parts[0] == "secrets" else 0o755
                ensure_dir(target / parent, mode)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, member.mode & 0o777)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
    return manifest


def _read(tar: tarfile.TarFile, info: tarfile.TarInfo) -> bytes:
    try:
        handle = tar.extractfile(info)
        if handle is None:
            raise BadInput(f"the backup member {info.name!r} is not a regular file")
        return handle.read()
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise BadInput(f"the backup {info.name} cannot be read: {exc}") from exc


def _check_database(path: Path, manifest: Manifest) -> None:
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            result = connection.execute("PRAGMA integrity_check").fetchall()
            version = connection.execute("PRAGMA user_version").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise BadInput(f"the database in the backup is damaged: {exc}") from exc
    if [tuple(r) for r in result] != [("ok",)]:
        raise BadInput(f"the database in the backup fails its integrity check: {result[0][0]}")
    if version != manifest.schema_version:
        raise BadInput("the database schema differs from the manifest's")
    if version > len(MIGRATIONS):
        raise BadInput(
            f"the backup was written by a newer stepui (schema {version}, this one knows "
            f"{len(MIGRATIONS)}); upgrade stepui first"
        )


def _swap(staging: Path, home: Path) -> None:
    """Two renames on one file system; the old dir is deleted only when the new one is in."""
    if not home.exists():
        os.rename(staging, home)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{home.name}.old-", dir=home.parent))
    aside.rmdir()
    os.rename(home, aside)
    try:
        os.rename(staging, home)
    except BaseException:
        os.rename(aside, home)
        raise
    shutil.rmtree(aside, ignore_errors=True)
