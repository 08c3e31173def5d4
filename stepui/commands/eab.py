"""``stepui ca eab ...``: External Account Binding keys for provisioners that require them
(``ca provisioner add NAME --require-eab``)."""

from __future__ import annotations

import argparse
from typing import Any

from stepui.commands.context import Context
from stepui.commands.output import day, print_json, print_table


def register(sub: Any) -> None:
    p = sub.add_parser("eab", help="External Account Binding keys for ACME provisioners")
    esub = p.add_subparsers(dest="eab_command", metavar="COMMAND", required=True)
    a = esub.add_parser("add", help="a new key ID and HMAC key for a provisioner")
    a.add_argument("provisioner")
    a.add_argument("--reference", metavar="NAME", help="who or what the key is for")
    a.add_argument("--json", action="store_true", help='{"kid": ..., "hmac_key": ...}')
    a.set_defaults(handler=cmd_add)
    lst = esub.add_parser("list", help="keys and the accounts they bound (HMAC keys not shown)")
    lst.add_argument("provisioner", nargs="?")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=cmd_list)
    r = esub.add_parser("remove", help="remove a key (by key ID or reference)")
    r.add_argument("key")
    r.add_argument("--provisioner", help="where to look the reference up")
    r.set_defaults(handler=cmd_remove)


def cmd_add(args: argparse.Namespace, ctx: Context) -> int:
    from stepui.authority.eab import add_key

    key = add_key(ctx.authority(), args.provisioner, args.reference)
    if args.json:
        print_json({"kid": key.kid, "hmac_key": key.hmac_key})
        return 0
    print(f"key ID:   {key.kid}")
    print(f"HMAC key: {key.hmac_key}")
    return 0


def cmd_list(args: argparse.Namespace, ctx: Context) -> int:
    from stepui.authority.eab import keys

    found = keys(ctx.authority(), args.provisioner)
    if args.json:
        print_json(
            [
                {
                    "kid": k.kid,
                    "provisioner": k.provisioner,
                    "reference": k.reference,
                    "created_at": k.created_at,
                    "account": k.bound_account,
                    "bound_at": k.bound_at,
                }
                for k in found
            ]
        )
        return 0
    if not found:
        print("no EAB keys")
        return 0
    rows = [
        (
            k.kid,
            k.provisioner,
            k.reference or "",
            day(k.created_at) if k.created_at else "",
            k.bound_account or "(unused)",
        )
        for k in found
    ]
    print_table(("KEY ID", "PROVISIONER", "REFERENCE", "CREATED", "ACCOUNT"), rows)
    return 0


def cmd_remove(args: argparse.Namespace, ctx: Context) -> int:
    from stepui.authority.eab import remove_key

    key = remove_key(ctx.authority(), args.key, args.provisioner)
    print(f"removed EAB key {key.kid} ({key.provisioner})")
    return 0
