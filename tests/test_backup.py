"""Backup and restore: a round trip taken while certificates are being issued, and restores
that refuse (existing CA, damaged or hostile archives) without touching the old data."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import tarfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509

from stepui.authority import Authority, IssueRequest
from stepui.backup import DATABASE, MANIFEST, backup, restore
from stepui.errors import BadInput, Conflict

from .support.cli import stepui

PASSWORD = b"backup test password"
WAIT = 120


def open_ca(home: Path) -> Authority:
    return Authority.open(home, password=lambda: PASSWORD)


@pytest.fixture
def source(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "source"
    authority = open_ca(home)
    authority.init("Backup", organization="Test")
    authority.issue(IssueRequest(sans=["DNS:first.test"], name="first"))
    authority.close()
    yield home


def file_bytes(home: Path) -> dict[str, bytes]:
    return {
        p.relative_to(home).as_posix(): p.read_bytes()
        for p in home.rglob("*")
        if p.is_file() and not p.name.startswith(DATABASE)
    }


def test_round_trip_while_issuing(source: Path, tmp_path: Path) -> None:
    stop, issued_enough = threading.Event(), threading.Event()
    errors: list[BaseException] = []
    issued: list[str] = []

    def writer() -> None:
        authority = open_ca(source)
        try:
            while not stop.is_set():
                serial = authority.issue(IssueRequest(sans=[f"DNS:load{len(issued)}.test"])).serial
                issued.append(serial)
                if len(issued) >= 20:
                    issued_enough.set()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            issued_enough.set()
        finally:
            authority.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert issued_enough.wait(WAIT)
        before = len(issued)
        archive = tmp_path / "backup.tar.gz"
        manifest = backup(source, archive)
        after = len(issued)
    finally:
        stop.set()
        thread.join(WAIT)
    assert not errors, errors
    assert archive.stat().st_mode & 0o777 == 0o600
    assert manifest.files["secrets/backup-root-ca.key"].mode == 0o600

    target = tmp_path / "elsewhere" / "restored"
    restore(archive, target)
    original, restored = open_ca(source), open_ca(target)
    try:
        old = {r.serial: r for r in original.certificates()}
        new = {r.serial: r for r in restored.certificates()}
        assert before + 1 <= len(new) <= after + 1
        assert set(new) <= set(old)
        assert all(new[s] == old[s] for s in new)
        # every restored certificate came with its audit entry: one transaction, one snapshot
        audited = {e.target for e in restored.audit_log(limit=10_000) if e.action == "cert.issue"}
        assert audited == set(new)
        assert [a.id for a in restored.authorities()] == [a.id for a in original.authorities()]

        originals, copies = file_bytes(source), file_bytes(target)
        for name in ("secrets/backup-root-ca.key", "secrets/backup-intermediate-ca.key"):
            assert copies[name] == originals[name]
            assert b"ENCRYPTED" in copies[name]
            assert (target / name).stat().st_mode & 0o777 == 0o600
        assert (target / "secrets").stat().st_mode & 0o777 == 0o700
        assert copies["config.json"] == originals["config.json"]

        fresh = restored.issue(IssueRequest(sans=["DNS:after-restore.test"]))
        fresh.certificate.verify_directly_issued_by(original.ca_certificate())
    finally:
        original.close()
        restored.close()


def test_existing_ca_needs_force_and_is_left_alone(source: Path, tmp_path: Path) -> None:
    archive = tmp_path / "backup.tar.gz"
    backup(source, archive)
    target = tmp_path / "other"
    other = open_ca(target)
    other.init("Other")
    other.close()
    before = file_bytes(target)

    with pytest.raises(Conflict, match="--force"):
        restore(archive, target)
    assert file_bytes(target) == before

    restore(archive, target, force=True)
    assert file_bytes(target) == file_bytes(source)
    restored = open_ca(target)
    assert {a.name for a in restored.authorities()} == {
        "Backup Root CA",
        "Backup Intermediate CA",
    }
    restored.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.tar.gz", "other", "source"]


def rewrite(
    archive: Path,
    out: Path,
    change: Callable[[dict[str, bytes]], dict[str, bytes]],
    *,
    fix_manifest: bool = True,
    extra: Callable[[tarfile.TarFile], None] | None = None,
) -> Path:
    """A copy of ``archive`` with members changed; the manifest's checksums recomputed unless
    ``fix_manifest`` is false (a damaged archive)."""
    with tarfile.open(archive) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    manifest = json.loads(members.pop(MANIFEST))
    members = change(members)
    if fix_manifest:
        manifest["files"] = {
            name: {
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
                "mode": manifest["files"].get(name, {}).get("mode", "0o644"),
            }
            for name, data in members.items()
        }
    with tarfile.open(out, "w:gz") as tar:
        for name, data in {MANIFEST: json.dumps(manifest).encode(), **members}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if extra:
            extra(tar)
    return out


@pytest.fixture
def archive(source: Path, tmp_path: Path) -> Path:
    path = tmp_path / "good.tar.gz"
    backup(source, path)
    return path


@pytest.fixture
def existing(tmp_path: Path) -> Path:
    """A data dir that a failed restore must leave exactly as it is."""
    home = tmp_path / "existing"
    authority = open_ca(home)
    authority.init("Existing")
    authority.close()
    return home


def assert_refused(archive: Path, home: Path, match: str) -> None:
    before = file_bytes(home)
    with pytest.raises(BadInput, match=match):
        restore(archive, home, force=True)
    assert file_bytes(home) == before
    leftovers = [p.name for p in home.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_damaged_member_is_refused(archive: Path, existing: Path, tmp_path: Path) -> None:
    def flip(members: dict[str, bytes]) -> dict[str, bytes]:
        key = members["secrets/backup-intermediate-ca.key"]
        members["secrets/backup-intermediate-ca.key"] = key.replace(b"A", b"B", 1)
        return members

    damaged = rewrite(archive, tmp_path / "damaged.tar.gz", flip, fix_manifest=False)
    assert_refused(damaged, existing, "checksum mismatch")


def test_truncated_archive_is_refused(archive: Path, existing: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[:-200])
    assert_refused(truncated, existing, "backup")


def test_member_missing_from_manifest_is_refused(
    archive: Path, existing: Path, tmp_path: Path
) -> None:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo("certs/smuggled.crt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))

    smuggled = rewrite(archive, tmp_path / "extra.tar.gz", lambda m: m, extra=add)
    assert_refused(smuggled, existing, "does not match its manifest")


@pytest.mark.parametrize("name", ["../escaped.txt", "/tmp/absolute.txt", "certs/../../up.txt"])
def test_path_traversal_is_refused(
    archive: Path, existing: Path, tmp_path: Path, name: str
) -> None:
    hostile = rewrite(archive, tmp_path / "hostile.tar.gz", lambda m: {**m, name: b"owned"})
    assert_refused(hostile, existing, "unsafe path")
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "up.txt").exists()


def test_symlink_member_is_refused(archive: Path, existing: Path, tmp_path: Path) -> None:
    def link(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo("certs/link.crt")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)

    hostile = rewrite(archive, tmp_path / "link.tar.gz", lambda m: m, extra=link)
    assert_refused(hostile, existing, "not a regular file")


def database_changed(archive: Path, out: Path, change: Callable[[Path], None]) -> Path:
    def edit(members: dict[str, bytes]) -> dict[str, bytes]:
        scratch = out.with_suffix(".db")
        scratch.write_bytes(members[DATABASE])
        change(scratch)
        members[DATABASE] = scratch.read_bytes()
        return members

    return rewrite(archive, out, edit)


def test_newer_schema_is_refused(archive: Path, existing: Path, tmp_path: Path) -> None:
    def bump(path: Path) -> None:
        connection = sqlite3.connect(path)
        connection.execute("PRAGMA user_version = 99")
        connection.close()

    newer = database_changed(archive, tmp_path / "newer.tar.gz", bump)
    assert_refused(newer, existing, "schema")


def test_corrupt_database_fails_integrity_check(
    archive: Path, existing: Path, tmp_path: Path
) -> None:
    def corrupt(path: Path) -> None:
        data = bytearray(path.read_bytes())
        page = 4096
        # Overwrite every b-tree page header after the schema page: whatever pages the
        # current schema uses, integrity_check sees invalid page types.
        for offset in range(page, len(data), page):
            data[offset : offset + 8] = b"\xff" * 8
        path.write_bytes(bytes(data))

    broken = database_changed(archive, tmp_path / "broken.tar.gz", corrupt)
    assert_refused(broken, existing, "database in the backup")


def test_cli_backup_and_restore(tmp_path: Path) -> None:
    home, target = tmp_path / "home", tmp_path / "target"
    assert stepui(home, "ca", "init", "Cli").returncode == 0
    made = stepui(home, "ca", "issue", "web", "--out", str(tmp_path), "--san", "DNS:web.test")
    assert made.returncode == 0, made.stderr
    archive = tmp_path / "cli.tar.gz"
    saved = stepui(home, "ca", "backup", str(archive), password=None)
    assert saved.returncode == 0, saved.stderr
    assert "wrote" in saved.stdout
    restored = stepui(target, "ca", "restore", str(archive), password=None)
    assert restored.returncode == 0, restored.stderr
    again = stepui(target, "ca", "restore", str(archive), password=None)
    assert again.returncode == 5
    assert again.stderr.startswith("stepui: ") and "--force" in again.stderr
    forced = stepui(target, "ca", "restore", str(archive), "--force", password=None)
    assert forced.returncode == 0, forced.stderr
    listed = stepui(target, "cert", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [c["name"] for c in json.loads(listed.stdout)] == ["web"]
    leaf = x509.load_pem_x509_certificate((tmp_path / "web.crt").read_bytes())
    assert json.loads(listed.stdout)[0]["serial"] == format(leaf.serial_number, "x")
