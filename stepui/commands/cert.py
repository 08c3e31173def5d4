"""``stepui cert ...``: the certificate inventory (list, inspect, import)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from stepui.commands import fetch, install
from stepui.commands.context import Context, read_input
from stepui.commands.output import day, print_json, print_table
from stepui.errors import BadInput

_SERIAL = re.compile(r"(0x)?[0-9a-fA-F:]+")


def register(sub: Any) -> None:
    p = sub.add_parser("cert", help="certificates: list, inspect, import")
    csub = p.add_subparsers(dest="cert_command", metavar="COMMAND", required=True)

    c = csub.add_parser("list", help="issued and imported certificates")
    c.add_argument("--expiring", metavar="DURATION", help="valid ones ending within, e.g. 7d")
    c.add_argument("--issuer", metavar="CA")
    c.add_argument("--status", choices=("valid", "expired", "revoked"))
    c.add_argument("--search", metavar="TEXT", help="in serial, subject and SANs")
    c.add_argument("--limit", type=int, metavar="N")
    c.add_argument("--json", action="store_true")
    c.set_defaults(handler=cmd_list)

    c = csub.add_parser("inspect", help="show a certificate, CSR or CRL file, or a stored serial")
    c.add_argument("target", metavar="FILE|SERIAL")
    view = c.add_mutually_exclusive_group()
    view.add_argument("--short", action="store_true")
    view.add_argument("--json", action="store_true")
    c.set_defaults(handler=cmd_inspect)

    c = csub.add_parser("import", help="add certificates issued elsewhere to the inventory")
    c.add_argument("files", nargs="+", metavar="FILE")
    c.set_defaults(handler=cmd_import)

    install.register(csub)

    fetch.register(csub)


def cmd_list(args: argparse.Namespace, ctx: Context) -> int:
    from stepui.pki.timespec import parse_duration

    auth = ctx.authority()
    now = auth.clock()
    records = auth.certificates(
        status=args.status,
        ca_id=auth.authority(args.issuer).id if args.issuer else None,
        expiring_before=now + parse_duration(args.expiring) if args.expiring else None,
        search=args.search,
        limit=args.limit,
    )
    if args.json:
        print_json(
            [
                {
                    "serial": r.serial,
                    "name": r.name,
                    "subject": r.subject,
                    "sans": r.sans,
                    "ca": r.ca_id,
                    "issuer": r.issuer,
                    "status": r.state(now),
                    "not_before": r.not_before,
                    "not_after": r.not_after,
                    "template": r.template,
                    "requester": r.requester,
                    "revoked_at": r.revoked_at,
                    "revocation_reason": r.revocation_reason,
                    "replaces": r.replaces,
                    "source": r.source,
                    "key_type": r.key_type,
                    "fingerprint": r.fingerprint,
                }
                for r in records
            ]
        )
        return 0
    rows = [
        (
            r.serial,
            r.state(now),
            day(r.not_after),
            r.ca_id or "(imported)",
            " ".join(r.sans) or r.subject,
        )
        for r in records
    ]
    if rows:
        print_table(("SERIAL", "STATUS", "NOT AFTER", "CA", "NAMES"), rows)
    else:
        print("no certificates match")
    return 0


def cmd_inspect(args: argparse.Namespace, ctx: Context) -> int:
    """A path that exists (or ``-``) is read as a file; otherwise the argument is a serial."""
    from stepui.pki.inspect import load_any, summarize

    target = args.target
    if target == "-" or Path(target).exists():
        obj = load_any(read_input(target))
    elif _SERIAL.fullmatch(target):
        from cryptography import x509

        record = ctx.authority().certificate(target)
        obj = x509.load_pem_x509_certificate(record.pem.encode())
    else:
        raise BadInput(f"{target}: no such file, and not a serial number")
    print(summarize(obj, fmt="json" if args.json else "short" if args.short else "text"))
    return 0


def cmd_import(args: argparse.Namespace, ctx: Context) -> int:
    """Every file is read and parsed before anything is stored: one bad file imports nothing."""
    from stepui.pki.inspect import load_certificates

    contents = []
    for path in args.files:
        data = read_input(path, "certificate file")
        try:
            load_certificates(data)
        except BadInput as exc:
            raise BadInput(f"{path}: {exc.message}") from exc
        contents.append(data)
    auth = ctx.authority()
    imported = [record for data in contents for record in auth.import_certificates(data)]
    for record in imported:
        print(f"imported {record.serial} {' '.join(record.sans) or record.subject}")
    print(f"{len(imported)} certificate(s) imported")
    return 0
