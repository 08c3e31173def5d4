"""Atomic file writes with the right modes: a crash or a failed step never leaves half a file,
and a private key is never readable by anyone else, not even for an instant."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

PRIVATE_MODE = 0o600
PUBLIC_MODE = 0o644
SECRET_DIR_MODE = 0o700


def ensure_dir(path: Path, mode: int = 0o755) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    if mode == SECRET_DIR_MODE:
        path.chmod(mode)
    return path


def stage(path: Path, data: bytes, mode: int) -> Path:
    """Write ``data`` to a temporary file beside ``path``; :func:`commit` moves it in place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def commit(staged: Path, path: Path) -> None:
    os.replace(staged, path)


def discard(*staged: Path) -> None:
    for item in staged:
        item.unlink(missing_ok=True)


def write_atomic(path: Path, data: bytes, mode: int = PUBLIC_MODE) -> None:
    commit(stage(path, data, mode), path)


class StagedFiles:
    """A set of files that appear together or not at all (leaf + key + chain). As a context
    manager: they appear when the block finishes, and none of them if it raises."""

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []

    def __enter__(self) -> StagedFiles:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()

    def add(self, path: Path, data: bytes, mode: int = PUBLIC_MODE) -> None:
        try:
            self._pending.append((stage(path, data, mode), path))
        except BaseException:
            self.discard()
            raise

    def commit(self) -> list[Path]:
        for staged, path in self._pending:
            commit(staged, path)
        written = [path for _, path in self._pending]
        self._pending = []
        return written

    def discard(self) -> None:
        discard(*(staged for staged, _ in self._pending))
        self._pending = []
