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
    """Numbers switch screens (the app binds 1-6); the current one is highlighted.

    " 1 CAs │ 2 Certificates │ 3 Timeline │ …": the digit is the key, the bar separates the
    screens so that a digit never reads as part of the previous name; 70 columns in all."""

    DEFAULT_CSS = """
    NavBar { height: 1; background: $panel; link-style: none; link-style-hover: bold; }
    """

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        for index, (key, mode, label) in enumerate(SCREENS):
            if index:
                text.append("│", style="dim")
            start = len(text)
            active = mode == self.current
            text.append(" ", style="reverse" if active else "")
            text.append(f"{key} ", style="bold reverse" if active else "bold #f0a030")
            text.append(f"{label} ", style="bold reverse" if active else "")
            text.apply_meta({"@click": f"app.switch_mode('{mode}')"}, start, len(text))
        return text
