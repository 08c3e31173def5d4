"""``stepui ca ...``: create, import, link and inspect certificate authorities."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from stepui.commands import acme
from stepui.commands.context import Context, parse_validity, read_input
from stepui.commands.output import day, emit, print_json, print_table, warn
from stepui.commands.policy_args import add_policy_args, has_rules, merged_policy
from stepui.errors import BadInput
from stepui.passwords import no_password, password_provider, read_password_file
from stepui.pki.keys import DEFAULT_KEY_TYPE, KEY_TYPES

if TYPE_CHECKING:
    from stepui.authority import Authority
    from stepui.store import AuthorityRecord


def add_key_type(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--key-type", choices=KEY_TYPES, default=DEFAULT_KEY_TYPE, help="default: %(default)s"
    )


def register(sub: Any) -> None:
    """Add the CA management commands to the ``ca`` subparsers."""
    p = sub.add_parser("init", help="create a root and an intermediate CA")
    p.add_argument("name", help='"NAME Root CA" and "NAME Intermediate CA" are created')
    for flag in ("country", "province", "locality", "organization", "email"):
        p.add_argument(f"--{flag}")
    add_key_type(p)
    secret = p.add_mutually_exclusive_group()
    secret.add_argument(
        "--password-file", default=argparse.SUPPRESS, help="file holding the CA key password"
    )
    secret.add_argument(
        "--no-password",
        action="store_true",
        help="store the CA keys unencrypted (a local development CA only)",
    )
    p.add_argument("--force", action="store_true", help="create new CAs even if some exist")
    p.set_defaults(handler=cmd_init)

    p = sub.add_parser("new", help="create another root, or an intermediate under a CA")
    p.add_argument("kind", choices=("root", "intermediate"))
    p.add_argument("name")
    p.add_argument("--parent", metavar="CA", help="the signing CA (default: the init root)")
    p.add_argument("--path-len", type=int, metavar="N")
    p.add_argument("--subject", help='full subject, e.g. "CN=Corp CA,O=Corp" (default: CN=NAME)')
    p.add_argument("--not-after", default="10y", help="lifetime (5y) or RFC 3339 end")
    add_key_type(p)
    nc = p.add_argument_group("name constraints (RFC 5280, enforced by relying parties)")
    for flag, metavar in (
        ("permitted-dns", "DOMAIN"),
        ("excluded-dns", "DOMAIN"),
        ("permitted-ip", "CIDR"),
        ("excluded-ip", "CIDR"),
        ("permitted-email", "DOMAIN"),
        ("excluded-email", "DOMAIN"),
    ):
        nc.add_argument(f"--{flag}", action="append", default=[], metavar=metavar)
    add_policy_args(p)
    p.set_defaults(handler=cmd_new)

    p = sub.add_parser("policy", help="show or change a CA's allow/deny name policy")
    p.add_argument("ca")
    p.add_argument("--clear", action="store_true", help="drop the existing rules first")
    add_policy_args(p)
    p.set_defaults(handler=cmd_policy)

    p = sub.add_parser("import", help="import an existing CA (PEM, DER or PKCS#12)")
    p.add_argument("--cert", required=True, metavar="FILE")
    p.add_argument("--key", metavar="FILE", help="its private key, if not inside --cert")
    p.add_argument(
        "--password-file", default=argparse.SUPPRESS, help="password to store the key with"
    )
    p.add_argument(
        "--key-password-file", metavar="FILE", help="password of the imported key or PKCS#12"
    )
    p.add_argument("--name", help="display name (default: the certificate's CN)")
    p.set_defaults(handler=cmd_import)

    p = sub.add_parser("csr", help="a CSR for a CA's key, for an outside CA to sign")
    p.add_argument("ca")
    p.add_argument("--out", metavar="FILE")
    p.set_defaults(handler=cmd_csr)

    p = sub.add_parser("import-signed", help="attach a certificate an outside CA signed")
    p.add_argument("ca")
    p.add_argument("--cert", required=True, metavar="FILE", help="the certificate (+ chain)")
    p.add_argument("--primary", action="store_true", help="make it the CA's main certificate")
    p.set_defaults(handler=cmd_import_signed)

    p = sub.add_parser("cross-sign", help="sign CA's key with another CA")
    p.add_argument("ca")
    p.add_argument("--by", required=True, metavar="OTHER")
    p.add_argument("--out", metavar="FILE")
    p.set_defaults(handler=cmd_cross_sign)

    p = sub.add_parser("root", help="print a root certificate (PEM)")
    p.add_argument("ca", nargs="?", help="default: the root 'ca init' made")
    p.set_defaults(handler=cmd_root)

    p = sub.add_parser("list", help="the CA tree")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser("crl", help="generate a CA's CRL (DER unless --pem)")
    p.add_argument("ca", nargs="?", help="default: the default intermediate")
    p.add_argument("--out", metavar="FILE")
    p.add_argument("--pem", action="store_true")
    p.set_defaults(handler=cmd_crl)

    p = sub.add_parser("revoke", help="revoke a certificate (locally or through ACME)")
    p.add_argument("serial", nargs="?", help="or --cert FILE")
    p.add_argument("--reason", default="unspecified", help="keyCompromise, superseded, ...")
    acme.add_revoke_arguments(p)
    p.set_defaults(handler=acme.cmd_revoke)
    acme.register_endpoint(sub)

    register_templates(sub)


def register_templates(sub: Any) -> None:
    p = sub.add_parser("template", help="certificate templates")
    tsub = p.add_subparsers(dest="template_command", metavar="COMMAND", required=True)
    t = tsub.add_parser("add", help="add a template from a JSON file")
    t.add_argument("file")
    t.set_defaults(handler=cmd_template_add)
    t = tsub.add_parser("list", help="built-in and user templates")
    t.add_argument("--json", action="store_true")
    t.set_defaults(handler=cmd_template_list)
    t = tsub.add_parser("show", help="a template as JSON")
    t.add_argument("name")
    t.set_defaults(handler=cmd_template_show)
    t = tsub.add_parser("remove", help="remove a user template")
    t.add_argument("name")
    t.set_defaults(handler=cmd_template_remove)


def describe(record: AuthorityRecord) -> str:
    return (
        f"{record.name} [{record.kind}, id {record.id}, {record.key_type}, "
        f"{day(record.not_before)} -> {day(record.not_after)}]"
    )


# -- creation ------------------------------------------------------------------------------
def cmd_init(args: argparse.Namespace, ctx: Context) -> int:
    provider = (
        no_password if args.no_password else password_provider(ctx.password_file, confirm=True)
    )
    auth = ctx.authority(provider)
    root, intermediate = auth.init(
        args.name,
        country=args.country,
        province=args.province,
        locality=args.locality,
        organization=args.organization,
        email=args.email,
        key_type=args.key_type,
        passwordless=args.no_password,
        force=args.force,
    )
    print(f"root CA:         {describe(root)}")
    print(f"intermediate CA: {describe(intermediate)}")
    print(f"certificates in {auth.home / 'certs'}: root_ca.crt, intermediate_ca.crt")
    if args.no_password:
        warn(
            f"this is a local dev CA: its private keys are stored UNENCRYPTED in "
            f"{auth.home / 'secrets'}; never use it for anything that matters"
        )
    return 0


def cmd_new(args: argparse.Namespace, ctx: Context) -> int:
    from stepui.pki.policy import name_constraints

    constraints = name_constraints(
        permitted_dns=args.permitted_dns,
        excluded_dns=args.excluded_dns,
        permitted_ip=args.permitted_ip,
        excluded_ip=args.excluded_ip,
        permitted_email=args.permitted_email,
        excluded_email=args.excluded_email,
    )
    policy = merged_policy({}, args) if has_rules(args) else None
    auth = ctx.authority()
    validity = parse_validity(args.not_after)
    if isinstance(validity, datetime):
        validity = validity - auth.clock()
    record = auth.new_authority(
        args.kind,
        args.name,
        parent=args.parent,
        path_len=args.path_len,
        key_type=args.key_type,
        constraints=constraints,
        policy=policy,
        validity=validity,
        subject=args.subject,
    )
    print(f"created {describe(record)}")
    return 0


def cmd_policy(args: argparse.Namespace, ctx: Context) -> int:
    auth = ctx.authority()
    record = auth.authority(args.ca)
    if args.clear or has_rules(args):
        policy = merged_policy({} if args.clear else record.policy, args)
        record = auth.set_policy(record.id, policy)
    print_json(record.policy)
    return 0


def cmd_import(args: argparse.Namespace, ctx: Context) -> int:
    cert_data = read_input(args.cert, "certificate file")
    key_data = read_input(args.key, "key file") if args.key else None
    file_password = read_password_file(args.key_password_file) if args.key_password_file else None
    record = ctx.authority().import_authority(
        cert_data, key_data, file_password=file_password, name=args.name
    )
    print(f"imported {describe(record)}{'' if record.key_file else ' (certificate only)'}")
    return 0


def cmd_csr(args: argparse.Namespace, ctx: Context) -> int:
    emit(ctx.authority().authority_csr(args.ca), args.out)
    return 0


def cmd_import_signed(args: argparse.Namespace, ctx: Context) -> int:
    data = read_input(args.cert, "certificate file")
    record = ctx.authority().import_signed(args.ca, data, primary=args.primary)
    print(f"attached to {describe(record)}")
    return 0


def cmd_cross_sign(args: argparse.Namespace, ctx: Context) -> int:
    from cryptography.hazmat.primitives.serialization import Encoding

    cert = ctx.authority().cross_sign(args.ca, args.by)
    emit(cert.public_bytes(Encoding.PEM), args.out)
    return 0


# -- views ---------------------------------------------------------------------------------
def cmd_root(args: argparse.Namespace, ctx: Context) -> int:
    record = ctx.authority().root(args.ca)
    if record.kind != "root":
        raise BadInput(f"{record.name!r} is an intermediate CA, not a root")
    print(record.cert_pem, end="")
    return 0


def ca_tree(auth: Authority) -> list[dict[str, Any]]:
    """Roots with their children; a cross-signed CA also appears, without its subtree, under
    every CA that cross-signed it (``via`` says how it hangs there)."""
    records = {r.id: r for r in auth.authorities()}
    children: dict[str | None, list[tuple[str, str]]] = {}
    for record in records.values():
        children.setdefault(record.parent_id, []).append((record.id, "signed"))
    for chain in auth.store.ca.chains():
        if chain.issuer_id is not None and chain.issuer_id != records[chain.authority_id].parent_id:
            children.setdefault(chain.issuer_id, []).append((chain.authority_id, chain.kind))

    def node(ca_id: str, via: str) -> dict[str, Any]:
        r = records[ca_id]
        below = children.get(ca_id, []) if via == "signed" else []
        return {
            "id": r.id,
            "name": r.name,
            "kind": r.kind,
            "via": via,
            "default": ca_id in (auth.config.default_ca, auth.config.root_ca),
            "subject": r.subject,
            "serial": r.serial,
            "key_type": r.key_type,
            "has_key": r.key_file is not None,
            "status": r.status,
            "not_before": r.not_before,
            "not_after": r.not_after,
            "children": [node(child, how) for child, how in below],
        }

    return [node(ca_id, via) for ca_id, via in children.get(None, [])]


def _print_tree(nodes: list[dict[str, Any]], prefix: str = "", top: bool = True) -> None:
    for index, item in enumerate(nodes):
        last = index == len(nodes) - 1
        branch = "" if top else ("└── " if last else "├── ")
        notes = [item["kind"], item["key_type"]]
        if item["via"] != "signed":
            notes.insert(0, f"{item['via']}-signed")
        if item["default"]:
            notes.append("default")
        if not item["has_key"]:
            notes.append("no key")
        print(
            f"{prefix}{branch}{item['name']} ({', '.join(notes)}) id={item['id']} "
            f"{day(item['not_before'])} -> {day(item['not_after'])}"
        )
        extension = "" if top else ("    " if last else "│   ")
        _print_tree(item["children"], prefix + extension, top=False)


def cmd_list(args: argparse.Namespace, ctx: Context) -> int:
    tree = ca_tree(ctx.authority())
    if args.json:
        print_json(tree)
    elif not tree:
        print("no CA yet: run 'stepui ca init NAME'")
    else:
        _print_tree(tree)
    return 0


def cmd_crl(args: argparse.Namespace, ctx: Context) -> int:
    from pathlib import Path

    from cryptography.hazmat.primitives.serialization import Encoding

    if args.out and Path(args.out).is_dir():  # refuse before a CRL number is spent and audited
        raise BadInput(f"{args.out} is a directory; give a file name")
    crl = ctx.authority().crl(args.ca)
    emit(
        crl.public_bytes(Encoding.PEM if args.pem else Encoding.DER), args.out, binary=not args.pem
    )
    return 0


def cmd_revoke(args: argparse.Namespace, ctx: Context) -> int:
    from stepui.pki.crl import reason_name

    record = ctx.authority().revoke(args.serial, args.reason)
    print(f"revoked {record.serial} ({reason_name(record.revocation_reason or 0)})")
    return 0


# -- templates -----------------------------------------------------------------------------
def cmd_template_add(args: argparse.Namespace, ctx: Context) -> int:
    try:
        body = json.loads(read_input(args.file, "template file"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(f"{args.file}: not valid JSON: {exc}") from exc
    template = ctx.authority().add_template(body)
    print(f"added template {template.name}")
    return 0


def cmd_template_list(args: argparse.Namespace, ctx: Context) -> int:
    templates = ctx.authority().templates()
    if args.json:
        print_json([{**t.to_dict(), "builtin": t.builtin} for t in templates])
    else:
        rows = [(t.name, "built-in" if t.builtin else "user", t.description) for t in templates]
        print_table(("NAME", "SOURCE", "DESCRIPTION"), rows)
    return 0


def cmd_template_show(args: argparse.Namespace, ctx: Context) -> int:
    print_json(ctx.authority().template(args.name).to_dict())
    return 0


def cmd_template_remove(args: argparse.Namespace, ctx: Context) -> int:
    ctx.authority().remove_template(args.name)
    print(f"removed template {args.name}")
    return 0
