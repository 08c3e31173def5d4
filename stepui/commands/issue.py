"""``stepui ca issue`` (one certificate, or a CSV / JSON-lines batch) and ``stepui ca renew``.

Local issuance only; the ACME flavour (``--acme URL``) will be one more mode chosen in
:func:`cmd_issue` with its own argument group, beside ``--batch``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stepui.commands import acme, renew
from stepui.commands.ca import add_key_type
from stepui.commands.context import Context, check_file_stem, parse_validity, read_input
from stepui.commands.output import Progress, day
from stepui.errors import BadInput, StepuiError

if TYPE_CHECKING:
    from stepui.authority import Issued, IssueRequest

BATCH_FIELDS = ("name", "subject", "sans", "template", "validity")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "issue",
        help="issue a certificate (or a batch) from a local CA",
        description="Writes DIR/NAME.crt (leaf then chain) and DIR/NAME.key (0600, not with "
        "--csr). Without --subject, --san or --csr the subject is CN=NAME; without --san the "
        "CN becomes the only SAN.",
    )
    p.add_argument("name", nargs="?", help="file name stem of the outputs")
    p.add_argument("--subject", help='e.g. "CN=api.myorg.local,O=MyOrg"')
    p.add_argument(
        "--san", action="append", default=[], help="DNS:name, IP:addr, email:addr, URI:uri"
    )
    p.add_argument("--template", default="tls-server", help="default: %(default)s")
    p.add_argument("--not-after", metavar="WHEN", help="lifetime (24h, 30d) or RFC 3339 end")
    p.add_argument("--not-before", metavar="RFC3339")
    add_key_type(p)
    p.add_argument("--csr", metavar="FILE", help="sign this CSR (no key is generated)")
    p.add_argument("--ca", help="issuing CA (default: the init intermediate)")
    p.add_argument("--out", default=".", metavar="DIR", help="default: current directory")
    p.add_argument(
        "--batch",
        metavar="FILE",
        help="CSV (name,subject,sans,template,validity) or JSON lines, one cert per row",
    )
    acme.add_issue_arguments(p)
    p.set_defaults(handler=cmd_issue)

    p = sub.add_parser(
        "renew", help="renew managed certificates (NAME…, --all) or one certificate by serial"
    )
    p.add_argument("targets", nargs="*", metavar="NAME|SERIAL")
    p.add_argument("--rekey", action="store_true", help="generate a new key")
    p.add_argument("--key-type", help="key type with --rekey (default: the old one)")
    p.add_argument("--out", default=".", metavar="DIR", help="default: current directory")
    renew.add_arguments(p)
    p.set_defaults(handler=renew.cmd_renew)


def cmd_issue(args: argparse.Namespace, ctx: Context) -> int:
    if args.acme is not None:
        return acme.cmd_issue_acme(args, ctx)
    if args.batch:
        single_only = ("subject", "san", "csr", "not_before", "not_after")
        given = ["--" + f.replace("_", "-") for f in single_only if getattr(args, f)]
        if args.name or given:
            raise BadInput(f"--batch takes its names from the file; drop NAME {' '.join(given)}")
        return issue_batch(ctx, args.batch, Path(args.out), args.ca)
    if not args.name:
        raise BadInput("give NAME (the output file name) or --batch FILE")
    from stepui.authority import IssueRequest
    from stepui.authority.managed import ManagedCertificates
    from stepui.pki.issue import load_csr
    from stepui.pki.timespec import parse_time

    name = check_file_stem(args.name)
    csr = load_csr(read_input(args.csr, "CSR file")) if args.csr else None
    subject = args.subject
    if subject is None and csr is None and not args.san:
        subject = "CN=" + name.replace(",", "\\,")
    auth = ctx.authority()
    not_before = parse_time(args.not_before) if args.not_before else None
    request = IssueRequest(
        subject=subject,
        sans=args.san,
        template=args.template,
        ca=args.ca,
        not_before=not_before,
        **_validity(args.not_after, "--not-after"),
        key_type=args.key_type,
        csr=csr,
        name=name,
    )
    issued = auth.issue(request, out_dir=Path(args.out))
    ManagedCertificates(auth).record_issued(name, issued, Path(args.out))
    report(issued, Path(args.out), name)
    return 0


def _validity(text: str | None, flag: str) -> dict[str, Any]:
    """IssueRequest keywords for ``--not-after`` / a batch row's ``validity``."""
    if not text:
        return {}
    value = parse_validity(text, flag)
    return {"lifetime": value} if isinstance(value, timedelta) else {"not_after": value}


def report(issued: Issued, out_dir: Path, name: str) -> None:
    record = issued.record
    print(f"issued {record.serial} for {', '.join(record.sans) or record.subject}")
    print(f"  valid {day(record.not_before)} -> {day(record.not_after)} UTC")
    print(f"  certificate: {out_dir / (name + '.crt')}")
    if issued.key is not None:
        print(f"  key:         {out_dir / (name + '.key')}")


def cmd_renew(args: argparse.Namespace, ctx: Context) -> int:
    auth = ctx.authority()
    issued = auth.renew(
        args.serial, rekey=args.rekey, key_type=args.key_type, out_dir=Path(args.out)
    )
    report(issued, Path(args.out), issued.record.name or issued.serial)
    return 0


# -- batch ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    line: int
    fields: dict[str, Any]


def read_batch(data: bytes) -> list[Row]:
    """Rows of a CSV file with a header, or of JSON lines (chosen by the first character)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInput("the batch file is not UTF-8 text") from exc
    if not text.strip():
        raise BadInput("the batch file is empty")
    return list(_json_rows(text) if text.lstrip().startswith("{") else _csv_rows(text))


def _json_rows(text: str) -> Iterator[Row]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            fields = json.loads(line)
        except json.JSONDecodeError as exc:
            fields = {"error": f"not valid JSON: {exc.msg}"}
        if not isinstance(fields, dict):
            fields = {"error": "not a JSON object"}
        yield Row(number, fields)


def _csv_rows(text: str) -> Iterator[Row]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or ()]
    unknown = [h for h in header if h not in BATCH_FIELDS]
    if "name" not in header or unknown:
        raise BadInput(
            f"the CSV header must name columns among {','.join(BATCH_FIELDS)}, including name"
            + (f" (unknown: {', '.join(unknown)})" if unknown else "")
        )
    reader.fieldnames = header
    for fields in reader:
        if any(v for v in fields.values() if isinstance(v, str) and v.strip()):
            extra = fields.pop(None, None)
            if extra:
                fields["error"] = "more cells than header columns"
            yield Row(reader.line_num, {k: v for k, v in fields.items() if v})


def _request(row: Row, ca: str | None) -> IssueRequest:
    from stepui.authority import IssueRequest

    fields = row.fields
    if "error" in fields:
        raise BadInput(fields["error"])
    unknown = sorted(set(fields) - set(BATCH_FIELDS))
    if unknown:
        raise BadInput(f"unknown field(s) {', '.join(unknown)}")
    name = fields.get("name")
    if not isinstance(name, str):
        raise BadInput("no name")
    sans = fields.get("sans") or []
    if isinstance(sans, str):
        sans = [s for s in re.split(r"[;\s]+", sans) if s]
    if not isinstance(sans, list) or not all(isinstance(s, str) for s in sans):
        raise BadInput("sans must be a list of strings or a ';'-separated string")
    subject = fields.get("subject")
    if not subject and not sans:
        subject = "CN=" + name.replace(",", "\\,")
    return IssueRequest(
        subject=subject,
        sans=sans,
        template=fields.get("template") or "tls-server",
        ca=ca,
        **_validity(fields.get("validity"), "validity"),
        name=check_file_stem(name),
    )


def issue_batch(ctx: Context, path: str, out_dir: Path, ca: str | None) -> int:
    """One transaction per certificate; a bad row is reported and the others still issue.
    Each certificate becomes a managed one, as with ``ca issue NAME``, so ``ca renew`` keeps it."""
    from stepui.authority.managed import ManagedCertificates

    rows = read_batch(read_input(path, "batch file"))
    auth = ctx.authority()
    managed = ManagedCertificates(auth)
    progress = Progress(len(rows))
    failures: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for row in rows:
        try:
            request = _request(row, ca)
            if request.name in seen:
                raise BadInput(f"name {request.name!r} already used on line {seen[request.name]}")
            issued = auth.issue(request, out_dir=out_dir)
            managed.record_issued(request.name, issued, out_dir)
            seen[request.name] = row.line
            progress.advance(ok=True)
        except StepuiError as exc:
            failures.append((row.line, exc.message))
            progress.advance(ok=False)
    print(f"issued {len(rows) - len(failures)}, failed {len(failures)}", file=sys.stderr)
    for line, reason in failures:
        print(f"  line {line}: {reason}", file=sys.stderr)
    return 1 if failures else 0
