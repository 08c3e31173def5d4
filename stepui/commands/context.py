"""What every command handler receives: the parsed global options and a lazily opened Authority,
plus the few input helpers that turn a missing file into a one-line refusal."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from stepui.errors import BadInput
from stepui.passwords import PasswordProvider, password_provider

if TYPE_CHECKING:
    from stepui.authority import Authority


class Context:
    """Opens the Authority on first use, so ``--help`` and file-only commands stay cheap."""

    def __init__(self, home: str | None, password_file: str | None) -> None:
        self.home = home
        self.password_file = password_file
        self._authority: Authority | None = None

    def authority(self, password: PasswordProvider | None = None) -> Authority:
        if self._authority is None:
            from stepui.authority import Authority

            provider = password or password_provider(self.password_file)
            self._authority = Authority.open(self.home, password=provider)
        return self._authority

    def close(self) -> None:
        if self._authority is not None:
            self._authority.close()
            self._authority = None


def read_input(path: str, what: str = "file") -> bytes:
    """Bytes of ``path`` (``-`` is stdin); a missing or unreadable file is bad input."""
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise BadInput(f"cannot read {what} {path}: {exc.strerror}") from exc


def check_file_stem(name: str) -> str:
    """A certificate name becomes ``DIR/NAME.crt``: refuse anything that would leave DIR."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise BadInput(f"name {name!r} must be a plain file name such as api (no '/')")
    return name


def parse_validity(text: str, flag: str = "--not-after") -> timedelta | datetime:
    """A lifetime (``24h``, ``5y``) or an absolute RFC 3339 end. A lifetime stays a lifetime so
    the Authority counts it from the real start and reports it as typed."""
    from stepui.pki.timespec import parse_duration, parse_time

    try:
        return parse_duration(text)
    except BadInput:
        pass
    try:
        return parse_time(text)
    except BadInput:
        raise BadInput(
            f"{flag} {text!r} is neither a lifetime such as 24h, 90d or 1y nor an RFC 3339 time "
            "such as 2030-01-31T12:00:00Z"
        ) from None
