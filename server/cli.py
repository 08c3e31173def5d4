"""``stepui --serve``: run the ACME server in the foreground until SIGINT, SIGTERM or SIGHUP.

Log lines go to stderr (text, or JSON lines with ``--log-format json``): Hypercorn's access and
error logs plus one line per ACME event. A refusal to start (no CA, a port in use, a wrong
password) is one line and a non-zero exit. Flags override config.json for this run only.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import logging
import socket
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from stepui.errors import BadInput, StepuiError
from stepui.events import Event
from stepui.parser import ArgumentParser

log = logging.getLogger("stepui.server")
MAX_WORKERS = 64

# ACME events worth a log line (requests are in the access log already).
_EVENT_LINES = {
    "acme.account.created": "account {account} created",
    "acme.account.deactivated": "account {account} deactivated",
    "acme.order.created": "order {order} for {identifiers} by account {account}",
    "acme.challenge.validated": "{type} validated for {identifier}",
    "acme.challenge.failed": "{type} failed for {identifier}: {detail}",
    "acme.certificate.issued": "certificate {serial} issued to account {account}",
    "acme.certificate.revoked": "certificate {serial} revoked (reason {reason})",
}


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="stepui --serve",
        description="Run the ACME server (RFC 8555) of the CA in --home.",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--address", help="HOST:PORT to listen on (config server.address)")
    parser.add_argument("--home", help="data directory (default: STEPUI_HOME or per-user)")
    parser.add_argument("--password-file", help="file whose first line is the CA password")
    parser.add_argument(
        "--insecure-http",
        action="store_true",
        help="serve plain HTTP (only behind a TLS-terminating proxy)",
    )
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    parser.add_argument("--acme-http-port", type=int, help="port http-01 validation connects to")
    parser.add_argument("--acme-tls-port", type=int, help="port tls-alpn-01 validation uses")
    parser.add_argument("--resolver", help="DNS server HOST:PORT for validation")
    parser.add_argument("--validation-timeout", help="per-validation timeout, e.g. 10s")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes sharing the port and the database (default 1)",
    )
    return parser


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "event", {}))
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def _setup_logging(log_format: str, workers: int) -> logging.Logger:
    """Text or JSON lines on stderr; with several workers, text lines name the process."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        process = " [%(process)d]" if workers > 1 else ""
        handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s{process} %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    return log


def _log_event(event: Event) -> None:
    template = _EVENT_LINES.get(event.kind)
    if template is None:
        return
    data = {k: ", ".join(v) if isinstance(v, list) else v for k, v in event.data.items()}
    level = logging.WARNING if event.kind.endswith(".failed") else logging.INFO
    log.log(level, template.format_map(data), extra={"event": {"event": event.kind, **data}})


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    from stepui.config import parse_address
    from stepui.pki.timespec import parse_duration

    changes: dict[str, Any] = {}
    for flag, key in (("acme_http_port", "acme_http_port"), ("acme_tls_port", "acme_tls_port")):
        value = getattr(args, flag)
        if value is not None:
            if not 1 <= value <= 65535:
                raise BadInput(f"--{flag.replace('_', '-')}: {value} is not a port (1-65535)")
            changes[key] = value
    if args.resolver:
        parse_address(args.resolver, where="--resolver")
        changes["acme_resolver"] = args.resolver
    if args.validation_timeout:
        changes["validation_timeout"] = parse_duration(args.validation_timeout)
    if args.address:
        parse_address(args.address, where="--address")
        changes["server_address"] = args.address  # also where issued certificates point
    if not 1 <= args.workers <= MAX_WORKERS:
        raise BadInput(f"--workers: {args.workers} is not between 1 and {MAX_WORKERS}")
    return changes


async def _run(
    authority: Any,
    args: argparse.Namespace,
    logger: logging.Logger,
    sock: socket.socket | None = None,
) -> None:
    from server import workers
    from server.serve import serve

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in workers.STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    if workers.stop_requested:
        stop.set()
    await serve(
        authority,
        address=args.address,
        insecure_http=args.insecure_http,
        shutdown_trigger=stop.wait,
        logger=logger,
        sock=sock,
    )


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run the server on uvloop where it is installed: the same asyncio API with a faster loop
    (about 1.5x the flows/s of the standard loop in bench/acme_load.py); else on asyncio's own."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def _serve_workers(authority: Any, args: argparse.Namespace, logger: logging.Logger) -> int:
    """Bind once, make sure of the server certificate once, then fork the workers; each opens
    its own connection to the database (the parent's is closed before forking)."""
    from server.serve import ServerCertificate, bind
    from server.workers import supervise
    from stepui.store import Store

    if not args.insecure_http:
        ServerCertificate.of(authority).ensure(authority)
    sock = bind(args.address or authority.config.server_address)
    db_path = authority.store.db.path
    authority.close()

    def worker(index: int) -> int:
        authority.store = Store(db_path)
        try:
            run_loop(_run(authority, args, logger, sock))
        finally:
            authority.store.close()
        return 0

    logger.info("starting %d workers", args.workers)
    try:
        return supervise(args.workers, worker)
    finally:
        sock.close()


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    logger = _setup_logging(args.log_format, args.workers)
    from stepui.authority.service import Authority
    from stepui.passwords import password_provider

    address = args.address
    try:
        changes = _overrides(args)
        authority = Authority.open(args.home, password=password_provider(args.password_file))
        try:
            authority.authority()  # "no CA yet: run 'stepui ca init NAME' first"
            authority.signer(authority.authority().id)  # a wrong password fails here, once
            authority.config = authority.config.with_changes(**changes)
            address = address or authority.config.server_address
            authority.events.subscribe(_log_event)
            if args.workers > 1:
                code = _serve_workers(authority, args, logger)
            else:
                run_loop(_run(authority, args, logger))
                code = 0
            logger.info("stopped")
        finally:
            authority.close()
    except StepuiError as exc:
        print(f"stepui: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        print(f"stepui: error: cannot listen on {address}: {reason}", file=sys.stderr)
        return 1
    return code
