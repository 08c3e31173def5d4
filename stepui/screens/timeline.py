"""The expiry timeline screen; choosing a bucket filters the certificates table."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget

from stepui.screens.base import WorkbenchScreen
from stepui.widgets.cert_table import TableFilter
from stepui.widgets.timeline import Timeline


class TimelineScreen(WorkbenchScreen):
    MODE = "timeline"
    HELP = """\
# Expiry timeline

When certificates end, on a time axis. Few certificates show as lifetime bars, many as a
histogram of expiries per bucket. `▲` marks now, `═` the renew window.

- `left`/`right` select a bucket, `shift+left`/`shift+right` pan
- `z`/`Z` (or `+`/`-`) zoom between days, weeks, months and years
- `enter` (or a double click) shows the bucket's certificates in the table
"""

    def body(self) -> Iterable[Widget]:
        yield Timeline(self.authority, id="timeline")

    def reload(self) -> None:
        self.query_one(Timeline).reload()

    def on_timeline_bucket_chosen(self, event: Timeline.BucketChosen) -> None:
        self.workbench.show_certificates(
            TableFilter(not_after_from=event.bucket.start, not_after_to=event.bucket.end)
        )
