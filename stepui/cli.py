"""The ``stepui`` command line: argument parsing only; every command calls the Authority.

Startup cost is the CLI's latency, so this module imports only argparse and the error model at
the top. ``--serve`` is dispatched before any parser is built, the workbench (Textual) is
imported only when ``stepui`` runs without a command, and each handler imports what it needs.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence

from stepui import __version__
from stepui.errors import StepuiError
from stepui.parser import ArgumentParser

COMMANDS = ("ca", "cert", "config")
_GLOBAL_VALUE_OPTIONS = ("--home", "--password-file")


def build_parser() -> argparse.ArgumentParser:
    from stepui.commands import backup, ca, cert, config, eab, issue, provisioner

    parser = ArgumentParser(
        prog="stepui",
        description="A private certificate authority: CA engine, ACME server and workbench. "
        "Without a command, opens the Textual workbench.",
    )
    parser.add_argument("--version", action="version", version=f"stepui {__version__}")
    parser.add_argument(
        "--home",
        metavar="DIR",
        help="data dir (default: $STEPUI_HOME, else the per-user data dir, "
        "e.g. ~/.local/share/stepui)",
    )
    parser.add_argument(
        "--password-file",
        metavar="FILE",
        help="CA key password (else $STEPUI_PASSWORD, else a prompt on a terminal)",
    )
    parser.add_argument(
        "--serve", action="store_true", help="run the ACME server (stepui --serve --help)"
    )
    parser.set_defaults(handler=None)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    ca_parser = commands.add_parser("ca", help="certificate authorities and issuance")
    ca_commands = ca_parser.add_subparsers(dest="ca_command", metavar="COMMAND", required=True)
    ca.register(ca_commands)
    backup.register(ca_commands)
    issue.register(ca_commands)
    provisioner.register(ca_commands)
    eab.register(ca_commands)
    cert.register(commands)
    config.register(commands)
    return parser


def wants_server(argv: Sequence[str]) -> bool:
    """``--serve`` among the global options, i.e. before any command word."""
    skip = False
    for token in argv:
        if skip:
            skip = False
        elif token == "--serve" or token.startswith("--serve="):
            return True
        elif token in _GLOBAL_VALUE_OPTIONS:
            skip = True
        elif token in COMMANDS:
            return False
    return False


def serve(argv: Sequence[str]) -> int:
    """Hand the whole argument list to the ACME server's own command line."""
    try:
        from server.cli import main as server_main
    except ModuleNotFoundError as exc:
        if exc.name not in ("server", "server.cli"):
            raise
        raise StepuiError("the ACME server is not part of this installation") from exc
    return server_main(list(argv))


def workbench(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        from stepui.app import run_app
    except ModuleNotFoundError as exc:
        if exc.name != "stepui.app":
            raise
        parser.print_help()
        return 0
    return run_app(home=args.home, password_file=args.password_file)


def run(argv: Sequence[str]) -> int:
    from stepui.commands.context import Context

    if wants_server(argv):
        return serve(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.handler is None:
        return workbench(args, parser)
    context = Context(args.home, args.password_file)
    try:
        return args.handler(args, context)
    finally:
        context.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Map the one error model to one stderr line and an exit code; never a traceback for bad
    input (set ``STEPUI_DEBUG=1`` to see one for internal errors)."""
    debug = os.environ.get("STEPUI_DEBUG") == "1"
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="stepui: %(levelname)s: %(name)s: %(message)s",
    )
    try:
        return run(list(sys.argv[1:] if argv is None else argv))
    except StepuiError as err:
        _error(err.message)
        return err.exit_code
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:
        if debug:
            traceback.print_exc()
        _error(f"internal error: {type(exc).__name__}: {exc}")
        return 1


def _error(message: str) -> None:
    print("stepui: " + " ".join(message.split()), file=sys.stderr)
