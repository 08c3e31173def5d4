"""``stepui cert install`` and ``stepui cert uninstall --trust``: certificates into a directory
for a web server, and the root CA into the system trust store."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stepui.commands.context import Context, check_file_stem
from stepui.errors import BadInput

if TYPE_CHECKING:
    from cryptography import x509

    from stepui.install import Material


def register(sub: Any) -> None:
    """Add ``install`` and ``uninstall`` to the ``cert`` subparsers."""
    p = sub.add_parser(
        "install",
        help="write a certificate, chain and key for a web server; trust the root",
        description="Writes DIR/cert.pem, chain.pem, fullchain.pem, ca.pem and key.pem (0600) "
        "for the newest valid certificate named NAME, with the key 'stepui ca issue NAME' "
        "wrote. --target nginx adds DIR/stepui-NAME.conf (an include), --target traefik "
        "DIR/stepui-NAME.yml (file provider). --trust adds the root CA to the system trust "
        "store (update-ca-certificates; NSS databases via certutil when present). With "
        "--endpoint URL, NAME is a certificate 'stepui ca issue NAME --acme' obtained from "
        "that server: it is downloaded again with the saved account and verified against "
        "--ca-bundle.",
    )
    p.add_argument("name", nargs="?", metavar="NAME", help="certificate name or serial")
    p.add_argument("--result", metavar="DIR", help="directory for the files (needed with NAME)")
    p.add_argument("--key", metavar="FILE", help="the certificate's key (default: ./NAME.key)")
    p.add_argument("--target", choices=("files", "nginx", "traefik"), default="files")
    p.add_argument("--trust", action="store_true", help="install the root CA system-wide")
    p.add_argument("--dry-run", action="store_true", help="with --trust: only show the changes")
    p.add_argument(
        "--endpoint",
        metavar="URL",
        help="a stepui ACME server: NAME's certificate from it, --trust's roots from URL/roots.pem",
    )
    p.add_argument(
        "--ca-bundle", metavar="FILE", help="roots to verify --endpoint's TLS and NAME's chain"
    )
    p.set_defaults(handler=cmd_install)

    p = sub.add_parser("uninstall", help="remove the root CA from the system trust store")
    p.add_argument("--trust", action="store_true", required=True)
    p.add_argument("--dry-run", action="store_true", help="only show the changes")
    p.add_argument("--endpoint", metavar="URL", help="the roots of a running stepui server")
    p.add_argument("--ca-bundle", metavar="FILE", help="CA file to verify --endpoint's TLS")
    p.set_defaults(handler=cmd_uninstall)


def cmd_install(args: argparse.Namespace, ctx: Context) -> int:
    from stepui.install import install_files, material_from_store

    if not args.name and not args.trust:
        raise BadInput("give NAME --result DIR, or --trust (or both)")
    if args.name and not args.result:
        raise BadInput("--result DIR is needed: where should the files go?")
    if args.result and not args.name:
        raise BadInput("--result needs NAME, the certificate to install")
    if args.name:
        name = check_file_stem(args.name)
        if args.endpoint:
            material = _material_from_endpoint(args, ctx, name)
        else:
            key = Path(args.key) if args.key else Path(f"{name}.key")
            material = material_from_store(ctx.authority(), name, key)
        installed = install_files(material, Path(args.result), args.target)
        print(f"installed {material.name} (serial {material.serial}) into {installed.directory}")
        for path in installed.files():
            print(f"  {path}")
    if args.trust:
        from stepui.install import TrustStore, trust_plan

        _carry_out(trust_plan(TrustStore.system(), _roots(args, ctx)), args.dry_run)
    return 0


def _material_from_endpoint(args: argparse.Namespace, ctx: Context, name: str) -> Material:
    """Managed certificate NAME as the ACME server at --endpoint serves it (its saved
    certificate URL, POST-as-GET with the saved account), verified against --ca-bundle (default:
    this CA's roots and the system's); the key is the one recorded with it unless --key."""
    from urllib.parse import urlsplit

    from stepui.authority.managed import ManagedCertificates
    from stepui.commands.fetch import acme_chain, verification_roots, verify_chain
    from stepui.install import material_from_chain

    auth = ctx.authority()
    record = ManagedCertificates(auth).get(name)
    url = record.certificate_url
    if record.method.get("kind") != "acme" or not url:
        raise BadInput(f"{name} was not obtained over ACME; install it without --endpoint")
    origin = urlsplit(args.endpoint)[:2]
    if urlsplit(url)[:2] != origin:
        raise BadInput(
            f"{name} was obtained from {record.method.get('directory')}, not from {args.endpoint}"
        )
    chain = acme_chain(url, ctx, args.ca_bundle)
    roots = verification_roots(args.ca_bundle, ctx)
    verify_chain(chain, roots, None, auth.clock())
    key = Path(args.key) if args.key else Path(record.key_path or f"{name}.key")
    return material_from_chain(name, chain, roots, key)


def cmd_uninstall(args: argparse.Namespace, ctx: Context) -> int:
    from stepui.install import TrustStore, untrust_plan

    _carry_out(untrust_plan(TrustStore.system(), list(_roots(args, ctx))), args.dry_run)
    return 0


def _carry_out(plan: Any, dry_run: bool) -> None:
    if dry_run:
        for line in plan.describe():
            print(f"would: {line}")
        return
    plan.apply()
    for line in plan.describe():
        print(line)


def _roots(args: argparse.Namespace, ctx: Context) -> dict[str, x509.Certificate]:
    """CA id to root certificate: the default root here, or every root an endpoint serves
    (named by fingerprint, as it has no id here)."""
    from cryptography import x509

    if args.endpoint:
        from cryptography.hazmat.primitives import serialization

        roots = x509.load_pem_x509_certificates(_fetch_roots(args.endpoint, args.ca_bundle))
        return {
            "fp-" + hashlib.sha256(r.public_bytes(serialization.Encoding.DER)).hexdigest()[:16]: r
            for r in roots
        }
    auth = ctx.authority(password=lambda: None)
    root = auth.root()
    return {root.id: x509.load_pem_x509_certificate(root.cert_pem.encode())}


def _fetch_roots(endpoint: str, ca_bundle: str | None) -> bytes:
    import ssl

    import httpx

    url = endpoint.rstrip("/") + "/roots.pem"
    try:
        context = ssl.create_default_context(cafile=ca_bundle)
    except OSError as exc:
        raise BadInput(f"cannot read --ca-bundle {ca_bundle}: {exc.strerror}") from exc
    try:
        reply = httpx.get(url, verify=context, timeout=30)
    except httpx.HTTPError as exc:
        raise BadInput(f"cannot fetch {url}: {exc}") from exc
    if reply.status_code != 200 or b"-----BEGIN CERTIFICATE" not in reply.content:
        raise BadInput(f"{url} answered {reply.status_code} without certificates")
    return reply.content
