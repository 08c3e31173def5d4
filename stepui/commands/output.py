"""How commands print: aligned tables, JSON, artefacts to a file or stdout, and batch progress."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from stepui.errors import BadInput
from stepui.fsutil import write_atomic
from stepui.pki.timespec import rfc3339


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, tuple | set):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def day(moment: datetime) -> str:
    """The compact time used in tables."""
    return moment.strftime("%Y-%m-%d %H:%M")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Left-aligned columns, the last one unpadded (it may be long: SANs, subjects)."""
    if not rows:
        return
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers) - 1)]
    for row in [headers, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row, widths, strict=False)]
        print("  ".join([*cells, str(row[-1])]).rstrip())


def emit(data: bytes, out: str | None, *, binary: bool = False) -> None:
    """Write an artefact to ``out`` atomically, or to stdout (refusing raw DER on a terminal)."""
    if out:
        write_atomic(Path(out), data)
        print(f"wrote {out}", file=sys.stderr)
        return
    if binary and sys.stdout.isatty():
        raise BadInput("refusing to write DER to a terminal: use --pem or --out FILE")
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def warn(message: str) -> None:
    print(f"stepui: warning: {message}", file=sys.stderr)


class Progress:
    """A counter on stderr: redrawn in place on a terminal, a line every tenth otherwise."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.step = max(1, total // 10)
        self.done = 0
        self.failed = 0

    def advance(self, ok: bool) -> None:
        self.done += 1
        self.failed += not ok
        if self.tty:
            width = 30
            filled = width * self.done // max(self.total, 1)
            bar = "#" * filled + "." * (width - filled)
            self.stream.write(f"\r[{bar}] {self.done}/{self.total} failed {self.failed}")
            if self.done == self.total:
                self.stream.write("\n")
        elif self.done % self.step == 0 or self.done == self.total:
            self.stream.write(f"{self.done}/{self.total} done, {self.failed} failed\n")
        self.stream.flush()
