"""Workbench figures with 100,000 certificates: time to first paint, to apply a `/` filter,
and to open the timeline. Prints numbers; never run as a test.

    python bench/tui.py [--count 100000]

Targets: first paint < 1 s, filters < 50 ms, timeline < 200 ms."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from stepui.app import PasswordBox, StepuiApp
from stepui.authority.models import IssueRequest
from stepui.authority.service import Authority
from stepui.widgets.cert_table import CertificateTable, TableFilter
from stepui.widgets.timeline import Timeline


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
        started = time.perf_counter()
        await pilot.press("3")
        await pilot.pause()
        app.screen.query_one(Timeline).render()
        timeline = time.perf_counter() - started
    authority.close()
    print(f"first paint:         {first_paint * 1000:8.1f} ms   (target < 1000 ms)")
    print(f"filter 'host4242':   {filtered * 1000:8.1f} ms   (target < 50 ms, {matches} rows)")
    print(
        f"filter expiring:     {expiring * 1000:8.1f} ms   (target < 50 ms, {expiring_rows} rows"
        " inside their own renew window)"
    )
    print(f"open timeline:       {timeline * 1000:8.1f} ms   (target < 200 ms)")


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
