"""Certificate templates: the built-in profiles and the ones added with `stepui template add`."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget
from textual.widgets import DataTable

from stepui.pki.timespec import format_duration
from stepui.screens.base import WorkbenchScreen


class TemplatesScreen(WorkbenchScreen):
    MODE = "templates"
    HELP = """\
# Templates

The profiles certificates are issued with: key usages, extended key usages, allowed SAN types
and lifetimes. Built-in templates cannot be removed; add your own with the CLI.
"""

    def body(self) -> Iterable[Widget]:
        yield DataTable(id="templates-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one(DataTable)
        table.add_columns("Name", "Usage", "SAN types", "Default", "Max", "Description")
        self.reload()
        table.focus()

    def reload(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for t in self.authority.templates():
            table.add_row(
                t.name + ("" if t.builtin else " *"),
                ",".join(t.extended_key_usage) or ("CA" if t.is_ca else "-"),
                ",".join(t.allowed_san_types),
                format_duration(t.default_validity) if t.default_validity else "config",
                format_duration(t.max_validity) if t.max_validity else "config",
                t.description,
            )
