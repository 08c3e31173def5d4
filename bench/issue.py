"""Issuance throughput through the Authority, persisted, and the latency of `stepui ca issue`.

Prints figures; asserts nothing. Run: python bench/issue.py [--count N]
Targets (issue #2): >= 3,000 persisted issuances/s on one core; `stepui ca issue` < 0.4 s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stepui.authority import Authority, IssueRequest
from stepui.pki.keys import generate_key


def issuance_rate(home: Path, count: int) -> tuple[float, float]:
    authority = Authority.open(home)
    authority.init("Bench", passwordless=True)
    keys = [generate_key("ec-p256").public_key() for _ in range(count)]
    authority.issue(IssueRequest(subject="CN=warm.bench.test", public_key=keys[0]))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for index, key in enumerate(keys):
        authority.issue(
            IssueRequest(
                subject=f"CN=host{index}.bench.test",
                sans=[f"DNS:host{index}.bench.test"],
                public_key=key,
            )
        )
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    stored = authority.count()
    authority.close()
    if stored != count + 1:
        raise SystemExit(f"expected {count + 1} stored certificates, found {stored}")
    return count / wall, count / cpu


def cli_latency(home: Path, runs: int) -> list[float]:
    env = {**os.environ, "STEPUI_HOME": str(home)}
    times = []
    with tempfile.TemporaryDirectory() as out:
        for index in range(runs):
            start = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "stepui",
                    "ca",
                    "issue",
                    f"cli{index}",
                    "--subject",
                    f"CN=cli{index}.bench.test",
                    "--out",
                    out,
                ],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--cli-runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        wall_rate, cpu_rate = issuance_rate(home, args.count)
        print(f"persisted issuances: {args.count} in one process (EC P-256 CA and leaf keys)")
        print(f"  {wall_rate:,.0f} certificates/s wall clock, {cpu_rate:,.0f} per CPU-second")
        latencies = sorted(cli_latency(home, args.cli_runs))
        median = latencies[len(latencies) // 2]
        print(
            f"`stepui ca issue` process: median {median * 1000:.0f} ms, "
            f"min {latencies[0] * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms "
            f"over {len(latencies)} runs"
        )


if __name__ == "__main__":
    main()
