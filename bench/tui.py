"""Workbench figures with 100,000 certificates: time to first paint, to apply a `/` filter,
and to open the timeline. Prints numbers; never run as a test.

    python bench/tui.py [--count 100000]

What each figure measures (headless app, 120x40, in this process):

- first paint: from building the App to the end of ``run_test``'s start-up and one
  ``pilot.pause()`` (the certificates screen composed, its first page read and rendered).
- filters: ``update_filter``/``set_filter`` on the table plus reading the 40 rows a screen
  shows (count query and first page), timed directly.
- open timeline: the app is first left until it is idle (an operator does not press a key
  within milliseconds of the first paint; the workbench builds the timeline screen in that
  idle time). Then the key ``3`` is handed to the app the way the terminal driver hands it
  over (``driver.send_message``), and the clock stops at the frame by which the terminal
  shows the whole timeline screen: the plot's legend and the footer's timeline keys (a
  wrapper on ``App._display``, where the real driver writes to the terminal; later partial
  frames count, as the footer may come in its own). It includes the key dispatch, the mode
  switch, the footer, the layout, the histogram query (its cache is dropped before the key,
  as any data change does) and the render; it excludes ``Pilot.press``'s idle waits (three
  sleeps of 20 ms granularity that measure the test harness, not the app). Median of five
  opens, switching back to the certificates in between; the first open is printed too.

Targets: first paint < 1 s, filters < 50 ms, timeline < 200 ms."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from textual import events

from stepui.app import PasswordBox, StepuiApp
from stepui.authority.models import IssueRequest
from stepui.authority.service import Authority
from stepui.screens.timeline import TimelineScreen
from stepui.widgets.cert_table import CertificateTable, TableFilter
from stepui.widgets.timeline import Timeline

MARKS = ("▲ now", "Zoom in")  # the timeline's legend, its footer keys


def seed(home: Path, count: int) -> None:
    """One real certificate, then ``count`` rows copied from it with their own serials, names
    and lifetimes through the store's bulk insert (signing 100,000 would only time crypto)."""
    authority = Authority.open(home, password=PasswordBox())
    authority.init("Bench", passwordless=True)
    template = authority.issue(IssueRequest(subject="CN=seed.bench")).record
    now = authority.clock()
    batch = []
    for number in range(count):
        name = f"host{number}.bench{number % 97}.internal"
        not_after = now + timedelta(hours=(number * 7919) % (24 * 400) - 24 * 30)
        batch.append(
            replace(
                template,
                serial=f"{number + 1:032x}",
                subject=f"CN={name}",
                sans=(f"DNS:{name}",),
                not_before=not_after - timedelta(days=90),
                not_after=not_after,
                status="revoked" if number % 50 == 0 else "valid",
                fingerprint=f"{number:064x}",
            )
        )
        if len(batch) == 10_000:
            authority.store.ca.add_certificates(batch)
            batch = []
    authority.store.ca.add_certificates(batch)
    authority.close()


async def open_timeline(app: StepuiApp, pilot: Any) -> float:
    """One open of the timeline, as the module docstring describes; returns seconds."""
    await pilot.press("2")
    app.data_version += 1  # what any data change does: every screen reloads, caches go
    await pilot.pause(0.3)
    painted = asyncio.Event()
    display = app._display
    frames: list[float] = []
    drawn: list[str] = []

    def spy(screen: Any, renderable: Any) -> None:
        display(screen, renderable)
        if renderable is not None and isinstance(screen, TimelineScreen):
            frames.append(time.perf_counter())
            drawn.append(renderable.render_segments(app.console))
            if all(any(mark in frame for frame in drawn) for mark in MARKS):
                painted.set()

    app._display = spy  # type: ignore[method-assign]
    try:
        started = time.perf_counter()
        app._driver.send_message(events.Key("3", "3"))  # type: ignore[union-attr]
        await painted.wait()
        return frames[-1] - started
    finally:
        del app._display  # back to the class's method


async def measure(home: Path) -> None:
    authority = Authority.open(home, password=PasswordBox())
    started = time.perf_counter()
    app = StepuiApp(authority)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        first_paint = time.perf_counter() - started
        table = app.screen.query_one(CertificateTable)
        started = time.perf_counter()
        table.update_filter(search="host4242")
        for index in range(40):
            table.record_at(index)
        filtered = time.perf_counter() - started
        matches = table.total
        started = time.perf_counter()
        table.set_filter(TableFilter(state="expiring"))
        for index in range(40):
            table.record_at(index)
        expiring = time.perf_counter() - started
        expiring_rows = table.total
        table.set_filter(TableFilter())
        opens = [await open_timeline(app, pilot) for _ in range(5)]
        assert app.screen.query_one(Timeline).buckets()
    authority.close()
    print(f"first paint:         {first_paint * 1000:8.1f} ms   (target < 1000 ms)")
    print(f"filter 'host4242':   {filtered * 1000:8.1f} ms   (target < 50 ms, {matches} rows)")
    print(
        f"filter expiring:     {expiring * 1000:8.1f} ms   (target < 50 ms, {expiring_rows} rows"
        " inside their own renew window)"
    )
    print(
        f"open timeline:       {statistics.median(opens) * 1000:8.1f} ms   (target < 200 ms;"
        f" first {opens[0] * 1000:.0f}, max {max(opens) * 1000:.0f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        started = time.perf_counter()
        seed(home, args.count)
        print(f"seeded {args.count:,} certificates in {time.perf_counter() - started:.1f} s")
        asyncio.run(measure(home))


if __name__ == "__main__":
    main()
