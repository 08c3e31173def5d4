"""In-process pieces of the CLI that a subprocess cannot reach: the password sources and the
batch progress display on a terminal."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from stepui.commands.output import Progress
from stepui.errors import BadInput
from stepui.passwords import password_provider, read_password_file


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_redraws_in_place_on_a_terminal() -> None:
    stream = Terminal()
    progress = Progress(4, stream)
    for ok in (True, False, True, True):
        progress.advance(ok)
    text = stream.getvalue()
    assert text.count("\r") == 4 and text.endswith("4/4 failed 1\n")
    assert "\n" not in text[:-1]


def test_progress_prints_periodic_lines_otherwise() -> None:
    stream = io.StringIO()
    progress = Progress(20, stream)
    for _ in range(20):
        progress.advance(True)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10 and lines[-1] == "20/20 done, 0 failed"


def test_password_file_wins_over_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEPUI_PASSWORD", "from-env")
    secret = tmp_path / "pw"
    secret.write_bytes(b"from-file\r\nsecond line\n")
    assert password_provider(secret)() == b"from-file"
    assert password_provider(None)() == b"from-env"


def test_no_password_source_and_no_terminal_gives_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STEPUI_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert password_provider(None)() is None


def test_empty_or_missing_password_file_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(BadInput, match="empty"):
        read_password_file(tmp_path / "empty")
    with pytest.raises(BadInput, match="cannot read"):
        read_password_file(tmp_path / "absent")
