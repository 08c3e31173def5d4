"""The one-line bar of screens at the top: which screen is current, and a click to switch."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

SCREENS = (
    ("1", "authorities", "CAs"),
    ("2", "certificates", "Certificates"),
    ("3", "timeline", "Timeline"),
    ("4", "server", "ACME"),
    ("5", "audit", "Audit"),
    ("6", "templates", "Templates"),
)


class NavBar(Widget):
    """Numbers switch screens (the app binds 1-6); the current one is highlighted."""

    DEFAULT_CSS = """
    NavBar { height: 1; background: $panel; }
    """

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        for key, mode, label in SCREENS:
            start = len(text)
            current = "reverse" if mode == self.current else ""
            text.append(f" {key} ", style=f"bold {current}")
            text.append(f"{label} ", style=current)
            text.apply_meta({"@click": f"app.switch_mode('{mode}')"}, start, len(text))
        return text
