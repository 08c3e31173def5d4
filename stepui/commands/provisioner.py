"""``stepui ca provisioner ...``: the ACME endpoints kept in ``config.json``.

Edits go through the config's own validation (``config_from_dict``), so a bad value is refused
with the same JSON-path message ``stepui config check`` gives, and nothing is saved."""

from __future__ import annotations

import argparse
from typing import Any

from stepui.commands.context import Context
from stepui.commands.output import print_json, print_table
from stepui.commands.policy_args import add_policy_args, merged_policy
from stepui.config import CHALLENGE_TYPES, config_from_dict
from stepui.errors import BadInput, Conflict, NotFound


def register(sub: Any) -> None:
    p = sub.add_parser("provisioner", help="ACME provisioners (/acme/NAME/directory)")
    psub = p.add_subparsers(dest="provisioner_command", metavar="COMMAND", required=True)
    a = psub.add_parser("add", help="add an ACME provisioner")
    a.add_argument("name")
    a.add_argument("--ca", help="issuing CA (default: the init intermediate)")
    a.add_argument("--template", default="tls-server")
    a.add_argument("--default-validity", metavar="DURATION", help="e.g. 24h")
    a.add_argument("--max-validity", metavar="DURATION", help="e.g. 720h")
    a.add_argument(
        "--challenge",
        action="append",
        choices=CHALLENGE_TYPES,
        help="allowed challenge types (repeatable; default: all)",
    )
    a.add_argument("--terms-of-service", metavar="URL")
    a.add_argument("--website", metavar="URL")
    a.add_argument("--require-eab", action="store_true", help="require external account binding")
    a.add_argument(
        "--profile",
        action="append",
        default=[],
        metavar="NAME=TEMPLATE:LIFETIME[:DESCRIPTION]",
        help="an ACME profile clients may ask for, e.g. shortlived=tls-server:6h (repeatable)",
    )
    add_policy_args(a)
    a.set_defaults(handler=cmd_add)
    lst = psub.add_parser("list", help="the configured provisioners")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=cmd_list)
    r = psub.add_parser("remove", help="remove a provisioner")
    r.add_argument("name")
    r.set_defaults(handler=cmd_remove)


def cmd_add(args: argparse.Namespace, ctx: Context) -> int:
    auth = ctx.authority()
    data = auth.config.to_dict()
    if args.name in data["provisioners"]:
        raise Conflict(f"provisioner {args.name!r} already exists; remove it first")
    auth.template(args.template)
    data["provisioners"][args.name] = {
        "ca": auth.authority(args.ca).id if args.ca else None,
        "template": args.template,
        "default_validity": args.default_validity,
        "max_validity": args.max_validity,
        "challenges": args.challenge or list(CHALLENGE_TYPES),
        "policy": merged_policy({}, args).to_dict(),
        "terms_of_service": args.terms_of_service,
        "website": args.website,
        "require_eab": args.require_eab,
        "profiles": dict(_profile(auth, text) for text in args.profile),
    }
    auth.save_config(config_from_dict(data))
    print(f"added provisioner {args.name}: {auth.base_url()}/acme/{args.name}/directory")
    return 0


def _profile(auth: Any, text: str) -> tuple[str, dict[str, str]]:
    """``NAME=TEMPLATE:LIFETIME[:DESCRIPTION]`` as a config.json profile entry."""
    name, _, spec = text.partition("=")
    template, _, rest = spec.partition(":")
    validity, _, description = rest.partition(":")
    if not name or not template or not validity:
        raise BadInput(f"--profile {text!r}: expected NAME=TEMPLATE:LIFETIME[:DESCRIPTION]")
    auth.template(template)
    return name, {
        "template": template,
        "validity": validity,
        "description": description or f"{template}, {validity}",
    }


def cmd_list(args: argparse.Namespace, ctx: Context) -> int:
    auth = ctx.authority()
    provisioners = auth.config.to_dict()["provisioners"]
    if args.json:
        print_json([{"name": name, **body} for name, body in provisioners.items()])
        return 0
    rows = [
        (
            name,
            body["ca"] or "(default)",
            body["template"],
            ",".join(body["challenges"]),
            f"{auth.base_url()}/acme/{name}/directory",
        )
        for name, body in provisioners.items()
    ]
    print_table(("NAME", "CA", "TEMPLATE", "CHALLENGES", "DIRECTORY"), rows)
    return 0


def cmd_remove(args: argparse.Namespace, ctx: Context) -> int:
    auth = ctx.authority()
    provisioners = dict(auth.config.provisioners)
    if provisioners.pop(args.name, None) is None:
        raise NotFound(f"unknown provisioner {args.name!r}")
    auth.save_config(auth.config.with_changes(provisioners=provisioners))
    print(f"removed provisioner {args.name}")
    return 0
