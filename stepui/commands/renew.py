"""``stepui ca renew [NAME…|--all]``: renew managed certificates inside their window, in place.

Exit 0 when nothing needed renewing or all renewals worked; 1 with a summary on stderr when any
failed. ``--daemon`` repeats every ``--interval`` (with jitter, so a fleet does not renew in
step) and logs each decision; cron or a systemd timer calling ``--all`` does the same job.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import threading

from stepui.commands.context import Context
from stepui.errors import BadInput

JITTER = 0.1  # up to ±10 % of the interval

log = logging.getLogger("stepui.renewal")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Managed-certificate options of ``ca renew`` (NAME… instead of a serial)."""
    p.add_argument("--all", action="store_true", help="every managed certificate")
    p.add_argument(
        "--renew-before",
        metavar="WHEN",
        help="window: a duration (8h) or a share of the lifetime (33%%); default: config",
    )
    p.add_argument("--force", action="store_true", help="renew even if not due")
    p.add_argument(
        "--exec", metavar="CMD", help="run after any renewal, e.g. systemctl reload nginx"
    )
    p.add_argument("--daemon", action="store_true", help="keep running, checking every --interval")
    p.add_argument("--interval", default="1h", metavar="DURATION", help="default: %(default)s")


def cmd_renew(args: argparse.Namespace, ctx: Context) -> int:
    """Managed certificates by NAME (or --all); a lone serial that is not a managed name keeps
    the plain form: one new certificate from this CA written to --out."""
    from stepui.authority.managed import ManagedCertificates, check_renew_before
    from stepui.commands.issue import cmd_renew as renew_serial
    from stepui.pki.timespec import parse_duration

    names = list(args.targets)
    managed_only = args.all or args.daemon or args.exec or args.renew_before or args.force
    if (
        len(names) == 1
        and not managed_only
        and ManagedCertificates(ctx.authority()).store.get(names[0]) is None
    ):
        return renew_serial(argparse.Namespace(**vars(args), serial=names[0]), ctx)
    if args.all and names:
        raise BadInput("give NAMEs or --all, not both")
    if not args.all and not names:
        raise BadInput("give the managed certificates to renew (NAME…) or --all")
    if args.renew_before:
        check_renew_before(args.renew_before)
    if args.daemon:
        logging.getLogger("stepui").setLevel(logging.INFO)
        interval = parse_duration(args.interval).total_seconds()
        return daemon(args, ctx, names or None, interval, threading.Event())
    return renew_once(args, ctx, names or None)


def renew_once(args: argparse.Namespace, ctx: Context, names: list[str] | None) -> int:
    from stepui.renewal import Renewer, run_hook

    renewer = Renewer(
        ctx.authority(),
        renew_before=args.renew_before,
        force=args.force,
        rekey=args.rekey,
    )
    outcome = renewer.run(names)
    for name in outcome.renewed:
        print(f"renewed {name}")
    for decision in outcome.skipped:
        print(f"{decision.name}: {decision.reason}")
    status = 0
    if outcome.renewed and args.exec:
        code = run_hook(args.exec, outcome.renewed)
        if code != 0:
            print(f"stepui: --exec exited {code}", file=sys.stderr)
            status = 1
    if outcome.failed:
        print(
            f"stepui: {len(outcome.failed)} renewal(s) failed, {len(outcome.renewed)} renewed",
            file=sys.stderr,
        )
        for name, why in outcome.failed:
            print(f"  {name}: {' '.join(why.split())}", file=sys.stderr)
        status = 1
    return status


def daemon(
    args: argparse.Namespace,
    ctx: Context,
    names: list[str] | None,
    interval: float,
    stop: threading.Event,
    *,
    runs: int | None = None,
) -> int:
    """Check, then sleep interval ± jitter, until ``stop`` is set (or ``runs`` checks)."""
    status = 0
    done = 0
    while not stop.is_set():
        status = renew_once(args, ctx, names)
        done += 1
        if runs is not None and done >= runs:
            break
        pause = interval * (1 + random.uniform(-JITTER, JITTER))
        log.info("next check in %.0f s", pause)
        stop.wait(pause)
    return status
