"""Where the CA password comes from: ``--password-file``, else ``STEPUI_PASSWORD``, else a prompt.

The Authority takes a provider callable and calls it only when a key must be decrypted or
encrypted, so commands that never touch a CA key (list, inspect) never prompt. The prompt only
appears when stdin is a terminal: scripts and CI fail with a clear message instead of hanging.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path

from stepui.errors import BadInput

PASSWORD_ENV = "STEPUI_PASSWORD"
PasswordProvider = Callable[[], bytes | None]


def read_password_file(path: str | os.PathLike[str]) -> bytes:
    """The file's first line (a trailing newline is not part of the password)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BadInput(f"cannot read password file {os.fspath(path)}: {exc.strerror}") from exc
    password = data.splitlines()[0] if data.strip() else b""
    if not password:
        raise BadInput(f"password file {os.fspath(path)} is empty")
    return password


def prompt_password(prompt: str = "CA password: ", *, confirm: bool = False) -> bytes | None:
    """Ask on the terminal; an empty answer means "no password". ``confirm`` asks twice."""
    first = getpass.getpass(prompt)
    if first and confirm and getpass.getpass("Repeat the password: ") != first:
        raise BadInput("the two passwords do not match")
    return first.encode() if first else None


def password_provider(
    password_file: str | os.PathLike[str] | None = None, *, confirm: bool = False
) -> PasswordProvider:
    """A lazy provider: the file, the environment or a TTY prompt, in that order."""

    def provide() -> bytes | None:
        if password_file is not None:
            return read_password_file(password_file)
        env = os.environ.get(PASSWORD_ENV)
        if env:
            return env.encode()
        if sys.stdin is not None and sys.stdin.isatty():
            return prompt_password(confirm=confirm)
        return None

    return provide


def no_password() -> None:
    """The provider of an explicitly passwordless dev CA."""
    return None
