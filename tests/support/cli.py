"""Run the real ``stepui`` command in a subprocess, and look at what it left behind."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse"
TIMEOUT = 120


def stepui(
    home: Path,
    *args: str,
    password: str | None = PASSWORD,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    python_flags: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """``python -m stepui --home HOME ARGS`` with STEPUI_PASSWORD (unless None), stdin closed so
    nothing can prompt."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("STEPUI_")}
    environment["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p
    )
    if password is not None:
        environment["STEPUI_PASSWORD"] = password
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, *python_flags, "-m", "stepui", "--home", str(home), *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        cwd=cwd or home.parent,
        env=environment,
        timeout=TIMEOUT,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    return result.stdout


def refused(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """A refusal: non-zero exit, exactly one stderr line ``stepui[ COMMAND...]: ...`` naming
    the problem."""
    assert result.returncode != 0, result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert re.match(r"stepui( [a-z-]+)*: ", lines[0]), lines[0]
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    for word in words:
        assert word.lower() in lines[0].lower(), lines[0]
    return lines[0]


def rows(home: Path, table: str) -> int:
    connection = sqlite3.connect(home / "stepui.db")
    try:
        return connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        connection.close()


def openssl(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["openssl", *args], capture_output=True, text=True, cwd=cwd, timeout=TIMEOUT
    )
    assert result.returncode == 0, f"openssl {' '.join(args)}: {result.stderr}"
    return result


def files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def on_terminal(home: Path, *args: str, answers: list[tuple[bytes, bytes]]) -> tuple[int, str]:
    """Run stepui with a pseudo-terminal as its controlling tty, typing each answer once its
    prompt appears (in order); returns (exit code, everything the terminal showed)."""
    import pty
    import select
    import time

    environment = {k: v for k, v in os.environ.items() if not k.startswith("STEPUI_")}
    environment["PYTHONPATH"] = str(REPO)
    pid, fd = pty.fork()
    if pid == 0:  # the child becomes stepui
        argv = [sys.executable, "-m", "stepui", "--home", str(home), *args]
        os.execve(sys.executable, argv, environment)
    shown, queue, position = b"", list(answers), 0
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if select.select([fd], [], [], 1)[0]:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal: it has exited
                break
            if not chunk:
                break
            shown += chunk
        if queue and (index := shown.find(queue[0][0], position)) >= 0:
            position = index + len(queue[0][0])
            os.write(fd, queue.pop(0)[1])
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


@dataclass(frozen=True)
class Setup:
    """An initialised data dir and a folder of input files made for one test module."""

    home: Path
    inputs: Path


def home_state(home: Path) -> tuple[object, ...]:
    """What a refused command must leave unchanged in a data dir."""
    return (
        rows(home, "certificates"),
        rows(home, "authorities"),
        rows(home, "audit"),
        files(home / "secrets"),
        files(home / "certs"),
        (home / "config.json").read_text(),
    )
