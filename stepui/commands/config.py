"""``stepui config show | check``: the effective ``config.json`` and its validation."""

from __future__ import annotations

import argparse
from typing import Any

from stepui.commands.context import Context
from stepui.commands.output import print_json
from stepui.config import Config, load_config, resolve_home
from stepui.errors import BadInput, NotFound


def register(sub: Any) -> None:
    p = sub.add_parser("config", help="show or check config.json")
    csub = p.add_subparsers(dest="config_command", metavar="COMMAND", required=True)
    csub.add_parser("show", help="the effective configuration as JSON").set_defaults(
        handler=cmd_show
    )
    csub.add_parser("check", help="validate config.json and the CAs it names").set_defaults(
        handler=cmd_check
    )


def _load(ctx: Context) -> tuple[Config, Any]:
    home = resolve_home(ctx.home)
    return load_config(home / "config.json"), home


def cmd_show(args: argparse.Namespace, ctx: Context) -> int:
    config, _ = _load(ctx)
    print_json(config.to_dict())
    return 0


def cmd_check(args: argparse.Namespace, ctx: Context) -> int:
    """Parse and validate; when the database exists, also resolve the CAs and templates named."""
    config, home = _load(ctx)
    if (home / "stepui.db").exists():
        auth = ctx.authority()
        references = [("$.default_ca", config.default_ca), ("$.root_ca", config.root_ca)]
        references += [(f"$.provisioners.{n}.ca", p.ca) for n, p in config.provisioners.items()]
        for path, ca in references:
            if ca and auth.store.ca.authority(ca) is None:
                raise BadInput(f"{home / 'config.json'}: {path}: unknown CA {ca!r}")
        for name, provisioner in config.provisioners.items():
            try:
                auth.template(provisioner.template)
            except NotFound as exc:
                where = f"$.provisioners.{name}.template"
                raise BadInput(f"{home / 'config.json'}: {where}: {exc.message}") from exc
    print(f"OK: {home / 'config.json'}")
    return 0
