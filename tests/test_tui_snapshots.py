"""Pictures of every main screen at 80x24 and 120x40 (frozen clock, fixed key material).
Update with ``--snapshot-update`` and look at the SVGs in snapshots/ before committing."""

from __future__ import annotations

import pytest

from tests.tui_fixtures import build_app

SIZES = [(80, 24), (120, 40)]
SCREENS = {
    "certificates": [],
    "authorities": ["1"],
    "timeline": ["3"],
    "timeline_months": ["3", "Z"],
    "server": ["4"],
    "audit": ["5"],
    "templates": ["6"],
    "detail": ["enter"],
    "help": ["question_mark"],
}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen(snap_compare, tmp_path, screen, size):
    app = build_app(tmp_path)
    assert snap_compare(app, press=SCREENS[screen], terminal_size=size)
