"""Certificate states as the workbench shows them: one place for the words and the colours.

The tree, the table, the timeline, the detail and every legend read :data:`STATE_STYLES`, so a
state has one colour everywhere. The colours are given as hex (not ANSI names, which terminal
themes remap differently in Rich text and in Textual markup); terminals without true colour get
the nearest of their palette.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from rich.text import Text

from stepui.authority.service import Authority
from stepui.store import CertificateRecord

STATES = ("valid", "expiring", "expired", "revoked")
STATE_STYLES = {
    "valid": "#4ebf71",
    "expiring": "#f0a030",
    "expired": "#e05252",
    "revoked": "#c678dd",
}


def state_of(authority: Authority, record: CertificateRecord, now: datetime) -> str:
    """valid, expiring (inside its own renew window), expired or revoked: the same rule as the
    store's ``renew_before`` filter and counts, so every view agrees."""
    state = record.state(now)
    if state == "valid" and authority.renew_window(record) <= now:
        return "expiring"
    return state


def renew_rule(authority: Authority) -> str:
    """The renew window in words: "last 33% of each lifetime" or "last 8h"."""
    spec = authority.config.renew_before
    return f"last {spec} of each lifetime" if spec.endswith("%") else f"last {spec}"


def legend(states: Iterable[str] = STATES, mark: str = "■") -> Text:
    """ "■ valid ■ expiring …" in the states' own colours. (Every run starts with a visible
    character: SVG snapshot renderers drop a run's leading blank.)"""
    text = Text(no_wrap=True, overflow="ellipsis")
    for state in states:
        text.append(f"{mark} {state} ", style=STATE_STYLES[state])
    text.rstrip()
    return text
