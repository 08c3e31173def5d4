"""`?`/F1: the focused screen's own help text and the keys it binds right now."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Markdown


def keys_table(screen: Screen) -> str:
    """The bindings active on that screen (focused widget first), as a Markdown table."""
    rows = []
    seen = set()
    for active in screen.active_bindings.values():
        binding = active.binding
        if binding.action in seen or not binding.description:
            continue
        seen.add(binding.action)
        rows.append(f"| `{screen.app.get_key_display(binding)}` | {binding.description} |")
    return "| Key | Action |\n|---|---|\n" + "\n".join(rows)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,f1,question_mark", "dismiss", "Close", id="help.close")]

    def __init__(self, screen: Screen) -> None:
        super().__init__()
        self.target = screen

    def compose(self) -> ComposeResult:
        text = getattr(self.target, "HELP", "") or "# Help"
        with Vertical(id="help"), VerticalScroll():
            yield Markdown(text + "\n\n" + keys_table(self.target))
