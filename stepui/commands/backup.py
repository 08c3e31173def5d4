"""``stepui ca backup FILE`` and ``stepui ca restore FILE [--force]``: the whole data dir as one
verified archive. Neither needs the CA password: keys travel as encrypted as they are."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from stepui.commands.context import Context


def register(sub: Any) -> None:
    p = sub.add_parser(
        "backup",
        help="write the data dir to a .tar.gz (safe while the server runs)",
        description="A consistent database snapshot, config.json, the CA keys (still encrypted) "
        "and certificate files, with a manifest of SHA-256 checksums. The archive is mode 0600.",
    )
    p.add_argument("file", metavar="FILE", help="e.g. stepui-backup.tar.gz")
    p.set_defaults(handler=cmd_backup)

    p = sub.add_parser(
        "restore",
        help="replace the data dir with a backup (verified before anything changes)",
        description="Checks every checksum, the database's integrity and its schema version, "
        "then swaps the restored dir in. Stop the server first.",
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument("--force", action="store_true", help="replace an existing CA")
    p.set_defaults(handler=cmd_restore)


def cmd_backup(args: argparse.Namespace, ctx: Context) -> int:
    from stepui.backup import backup
    from stepui.config import resolve_home

    manifest = backup(resolve_home(ctx.home), Path(args.file))
    print(f"wrote {args.file}: {len(manifest.files)} files, schema {manifest.schema_version}")
    return 0


def cmd_restore(args: argparse.Namespace, ctx: Context) -> int:
    from stepui.backup import restore
    from stepui.config import resolve_home

    home = resolve_home(ctx.home)
    manifest = restore(Path(args.file), home, force=args.force)
    print(
        f"restored {home} from {args.file} ({len(manifest.files)} files, "
        f"backup made {manifest.created_at} by stepui {manifest.stepui_version})"
    )
    return 0
