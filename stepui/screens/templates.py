"""Certificate templates: the built-in profiles and the ones added with `stepui template add`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from stepui.pki.timespec import format_duration
from stepui.screens.base import TableScreen
from stepui.widgets.fit_table import FitColumn


class TemplatesScreen(TableScreen):
    MODE = "templates"
    COLUMNS = (
        FitColumn("Name", 12),
        FitColumn("Usage", 11),
        FitColumn("SAN types", 9),
        FitColumn("Default", 7),
        FitColumn("Max", 6),
        FitColumn("Description", 12),
    )
    HELP = """\
# Templates

The profiles certificates are issued with: key usages, extended key usages, allowed SAN types
and lifetimes. Built-in templates cannot be removed; add your own with the CLI.
"""

    def rows(self) -> Iterable[tuple[Sequence[str], str]]:
        for t in self.authority.templates():
            cells = (
                t.name + ("" if t.builtin else " *"),
                ",".join(t.extended_key_usage) or ("CA" if t.is_ca else "-"),
                ",".join(t.allowed_san_types),
                format_duration(t.default_validity) if t.default_validity else "config",
                format_duration(t.max_validity) if t.max_validity else "config",
                t.description,
            )
            yield cells, t.name
