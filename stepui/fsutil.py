"""Atomic file writes with the right modes: a crash or a failed step never leaves half a file,
and a private key is never readable by anyone else, not even for an instant."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from stepui.errors import BadInput, StepuiError

PRIVATE_MODE = 0o600
PUBLIC_MODE = 0o644
SECRET_DIR_MODE = 0o700


def ensure_dir(path: Path, mode: int = 0o755) -> Path:
    if path.exists() and not path.is_dir():
        raise BadInput(f"{path} is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True, mode=mode)
    except OSError as exc:
        raise StepuiError(f"cannot create directory {path}: {exc.strerror}") from exc
    if mode == SECRET_DIR_MODE:
        path.chmod(mode)
    return path


def stage(path: Path, data: bytes, mode: int) -> Path:
    """Write ``data`` to a temporary file beside ``path``; :func:`commit` moves it in place."""
    if path.is_dir():
        raise BadInput(f"{path} is a directory; give a file name")
    ensure_dir(path.parent)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise StepuiError(f"cannot write {path}: {exc.strerror}") from exc
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
    """Move a staged file in place; if that fails, the staged copy is removed, not left behind."""
    try:
        os.replace(staged, path)
    except OSError as exc:
        staged.unlink(missing_ok=True)
        raise StepuiError(f"cannot write {path}: {exc.strerror}") from exc


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
