"""ACME faces of ``ca``: ``ca issue NAME --acme [URL]``, ``ca revoke --acme``, ``ca endpoint``.

``--acme`` without a URL means this CA's own ACME server (the directory ``ca endpoint`` prints),
trusted through this CA's roots. The certificate becomes a managed one, so ``ca renew`` later
goes the same way with the same settings.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stepui.commands.context import Context, check_file_stem, read_input
from stepui.errors import BadInput

if TYPE_CHECKING:
    from stepui.acme_client.settings import AcmeSettings
    from stepui.authority import Authority
    from stepui.authority.managed import ManagedCertificates


def add_issue_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--acme`` group of ``ca issue``."""
    group = parser.add_argument_group("ACME (instead of the local CA)")
    group.add_argument(
        "--acme",
        nargs="?",
        const="",
        metavar="URL",
        help="obtain the certificate over ACME from URL (default: this CA's own server)",
    )
    how = group.add_mutually_exclusive_group()
    how.add_argument("--http-01", action="store_true", help="answer http-01 (the default)")
    how.add_argument("--dns", action="store_true", help="answer dns-01 (with --dns-hook)")
    how.add_argument("--tls-alpn", action="store_true", help="answer tls-alpn-01")
    group.add_argument("--http-port", type=int, default=80, metavar="P", help="default: 80")
    group.add_argument("--tls-port", type=int, default=443, metavar="P", help="default: 443")
    group.add_argument(
        "--bind", default="", metavar="ADDR", help="address the responder listens on (default: all)"
    )
    group.add_argument(
        "--dns-hook", metavar="CMD", help="called as CMD present|cleanup FQDN VALUE (lego exec)"
    )
    group.add_argument("--ca-bundle", metavar="FILE", help="roots to trust for the ACME server")
    group.add_argument("--eab-kid", metavar="K", help="External Account Binding key id")
    group.add_argument("--eab-hmac", metavar="H", help="External Account Binding key (base64url)")
    group.add_argument("--profile", metavar="P", help="certificate profile the server offers")
    group.add_argument("--contact", action="append", default=[], metavar="mailto:...")


def own_directory(auth: Authority, provisioner: str = "acme") -> str:
    from server.urls import Urls

    return Urls(auth.base_url(), provisioner).directory


def _challenge(args: argparse.Namespace) -> str:
    if args.dns or args.dns_hook:
        return "dns-01"
    if args.tls_alpn:
        return "tls-alpn-01"
    return "http-01"


def _prompt(fqdn: str, value: str) -> None:
    """Manual dns-01: a person publishes the record, then presses Enter."""
    if not sys.stdin.isatty():
        raise BadInput("--dns without --dns-hook needs a terminal to ask on")
    print(f"Publish this TXT record, then press Enter:\n  {fqdn} TXT {value!r}", file=sys.stderr)
    sys.stdin.readline()


def cmd_issue_acme(args: argparse.Namespace, ctx: Context) -> int:
    from stepui.acme_client.settings import AcmeSettings
    from stepui.authority.managed import ManagedCertificates
    from stepui.commands.output import day
    from stepui.pki.keys import generate_key
    from stepui.renewal import install

    if not args.name:
        raise BadInput("give NAME (the output file name)")
    name = check_file_stem(args.name)
    unsupported = [
        flag
        for flag, value in (
            ("--csr", args.csr),
            ("--batch", args.batch),
            ("--subject", args.subject),
        )
        if value
    ]
    if unsupported:
        raise BadInput(f"{' '.join(unsupported)} cannot be used with --acme")
    if bool(args.eab_kid) != bool(args.eab_hmac):
        raise BadInput("--eab-kid and --eab-hmac go together")
    sans = args.san or [f"DNS:{name}"]
    auth = ctx.authority()
    settings = AcmeSettings(
        directory=args.acme or own_directory(auth),
        sans=sans,
        challenge=_challenge(args),
        http_port=args.http_port,
        tls_port=args.tls_port,
        bind=args.bind,
        dns_hook=args.dns_hook,
        ca_bundle=str(Path(args.ca_bundle).resolve()) if args.ca_bundle else None,
        own_server=not args.acme,
        profile=args.profile,
        key_type=args.key_type,
        contact=args.contact,
    )
    key = generate_key(args.key_type)
    eab = (args.eab_kid, args.eab_hmac) if args.eab_kid else None
    obtained = settings.obtain(auth, key, eab=eab, prompt=_prompt)
    out = Path(args.out)
    cert_path, key_path = out / f"{name}.crt", out / f"{name}.key"
    install(cert_path, obtained.chain_pem, key_path, key)
    ManagedCertificates(auth).record(
        name,
        settings.to_method(),
        cert_path,
        key_path,
        obtained.certificate,
        certificate_url=obtained.certificate_url,
    )
    cert = obtained.certificate
    print(f"issued {cert.serial_number:x} for {', '.join(sans)} by {settings.directory}")
    print(f"  valid {day(cert.not_valid_before_utc)} -> {day(cert.not_valid_after_utc)} UTC")
    print(f"  certificate: {cert_path}")
    print(f"  key:         {key_path}")
    print(f"  url:         {obtained.certificate_url}")
    return 0


def register_endpoint(sub: Any) -> None:
    p = sub.add_parser("endpoint", help="print this CA's ACME directory URL")
    p.add_argument("--provisioner", default="acme", help="default: %(default)s")
    p.set_defaults(handler=cmd_endpoint)


def cmd_endpoint(args: argparse.Namespace, ctx: Context) -> int:
    auth = ctx.authority()
    if args.provisioner not in auth.config.provisioners:
        known = ", ".join(auth.config.provisioners) or "none"
        raise BadInput(f"no ACME provisioner {args.provisioner!r} (configured: {known})")
    print(own_directory(auth, args.provisioner))
    return 0


def add_revoke_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cert", metavar="FILE", help="the certificate to revoke (PEM or DER)")
    parser.add_argument(
        "--acme",
        nargs="?",
        const="",
        metavar="URL",
        help="revoke through ACME (default: the server that issued the managed certificate, "
        "else this CA's own)",
    )
    parser.add_argument("--ca-bundle", metavar="FILE", help="roots to trust for the ACME server")
    parser.add_argument(
        "--key",
        metavar="FILE",
        help="with --acme: sign with the certificate's key, not the account",
    )


def cmd_revoke(args: argparse.Namespace, ctx: Context) -> int:
    """``ca revoke SERIAL|--cert F [--acme [URL]]``: this CA's revocation unless --acme."""
    from stepui.authority.managed import serial_of
    from stepui.commands.ca import cmd_revoke as revoke_local
    from stepui.pki.inspect import load_certificates

    if args.acme is not None:
        return cmd_revoke_acme(args, ctx)
    if bool(args.serial) == bool(args.cert):
        raise BadInput("give a SERIAL or --cert FILE (one of them)")
    if args.cert:
        cert = load_certificates(read_input(args.cert, "certificate file"))[0]
        args = argparse.Namespace(**{**vars(args), "serial": serial_of(cert)})
    return revoke_local(args, ctx)


def cmd_revoke_acme(args: argparse.Namespace, ctx: Context) -> int:
    """Revoke through ACME with the saved account (or the certificate key), then audit it."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from stepui.acme_client.protocol import jwk_for
    from stepui.authority.managed import ManagedCertificates, serial_of
    from stepui.pki.crl import reason_code, reason_name
    from stepui.pki.inspect import load_certificates
    from stepui.pki.keys import load_private_key

    if not args.cert:
        raise BadInput("--acme revocation needs --cert FILE (the server identifies it by content)")
    cert = load_certificates(read_input(args.cert, "certificate file"))[0]
    code = reason_code(args.reason)
    auth = ctx.authority()
    managed = ManagedCertificates(auth)
    settings = _revocation_settings(auth, managed, serial_of(cert), args)
    key_jwk = None
    if args.key:
        key_jwk = jwk_for(load_private_key(read_input(args.key, "key file"), None))
    with settings.client(auth) as client:
        client.revoke(cert.public_bytes(Encoding.DER), code, key_jwk=key_jwk)
    serial = serial_of(cert)
    managed.audit(
        "cli", "cert.revoke.acme", serial, {"reason": reason_name(code), "via": settings.directory}
    )
    print(f"revoked {serial} ({reason_name(code)}) at {settings.directory}")
    return 0


def _revocation_settings(
    auth: Authority, managed: ManagedCertificates, serial: str, args: argparse.Namespace
) -> AcmeSettings:
    """The server named by --acme URL, else the one that issued this managed certificate,
    else this CA's own."""
    from dataclasses import replace

    from stepui.acme_client.settings import AcmeSettings

    bundle = str(Path(args.ca_bundle).resolve()) if args.ca_bundle else None
    if args.acme:
        return AcmeSettings(directory=args.acme, sans=[], ca_bundle=bundle)
    for record in managed.all():
        if record.serial == serial and record.method.get("kind") == "acme":
            settings = AcmeSettings.from_method(record.method)
            return settings if bundle is None else replace(settings, ca_bundle=bundle)
    return AcmeSettings(directory=own_directory(auth), sans=[], ca_bundle=bundle, own_server=True)
