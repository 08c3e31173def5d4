"""Put certificates where software reads them: a directory of PEM files (certbot's ``live/NAME``
layout), an Nginx include snippet or a Traefik dynamic-configuration file, and the root CA in
the system trust store (Debian ``update-ca-certificates``; NSS databases through ``certutil``).

The trust-store locations and commands are parameters of :class:`TrustStore`, so tests and
packagers point them elsewhere (``STEPUI_TRUST_DIR``, ``STEPUI_TRUST_UPDATE``,
``STEPUI_NSS_DBS``) and nothing here needs to run against the real system to be exercised.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from stepui.errors import BadInput, NotFound, StepuiError
from stepui.fsutil import PRIVATE_MODE, PUBLIC_MODE, StagedFiles, ensure_dir
from stepui.pki.keys import load_private_key, private_key_pem, same_key

if TYPE_CHECKING:
    from stepui.authority import Authority
    from stepui.store import CertificateRecord

log = logging.getLogger(__name__)

TARGETS = ("files", "nginx", "traefik")
COMMAND_TIMEOUT = 120


def _pem(certs: Sequence[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


@dataclass(frozen=True)
class Material:
    """One certificate ready to install: leaf, intermediates (issuing CA first), the root(s)
    that anchor it, and its private key as PEM."""

    name: str
    serial: str
    leaf: x509.Certificate
    chain: list[x509.Certificate]
    roots: list[x509.Certificate]
    key_pem: bytes


def material_from_store(authority: Authority, name: str, key_file: Path) -> Material:
    """The newest valid certificate called ``name`` (or with that serial), its chain from the
    CA, and the key ``ca issue`` wrote beside it (checked to match)."""
    record = _find(authority, name)
    leaf = x509.load_pem_x509_certificate(record.pem.encode())
    if record.ca_id is None:
        raise BadInput(f"certificate {record.serial} was not issued by this CA; no chain to add")
    chain = list(authority.chains(record.ca_id)[0])
    anchor = (chain[-1] if chain else leaf).issuer
    roots = [
        x509.load_pem_x509_certificate(a.cert_pem.encode())
        for a in authority.authorities()
        if a.kind == "root" and a.status == "active"
    ]
    roots = [r for r in roots if r.subject == anchor]
    key_pem = _matching_key(key_file, leaf, name, record.serial)
    return Material(name, record.serial, leaf, chain, roots, key_pem)


def material_from_chain(
    name: str, chain: Sequence[x509.Certificate], roots: Sequence[x509.Certificate], key_file: Path
) -> Material:
    """A verified chain from elsewhere (an ACME server), leaf first: the roots that anchor it
    (from ``roots``) go into ``ca.pem``, the key is checked to match the leaf."""
    leaf, *intermediates = chain
    anchor = (intermediates[-1] if intermediates else leaf).issuer
    serial = format(leaf.serial_number, "x")
    key_pem = _matching_key(key_file, leaf, name, serial)
    anchors = [r for r in roots if r.subject == anchor]
    return Material(name, serial, leaf, intermediates, anchors, key_pem)


def _matching_key(key_file: Path, leaf: x509.Certificate, name: str, serial: str) -> bytes:
    """The key file as unencrypted PEM, refused unless it is the leaf's key."""
    try:
        data = key_file.read_bytes()
    except OSError as exc:
        raise BadInput(
            f"cannot read the key {key_file}: {exc.strerror} (give --key, the file "
            f"'stepui ca issue {name}' wrote)"
        ) from exc
    key = load_private_key(data, None)
    if not same_key(key, leaf.public_key()):
        raise BadInput(f"{key_file} is not the key of certificate {serial} ({name})")
    return private_key_pem(key, None)


def _find(authority: Authority, name: str) -> CertificateRecord:
    named = authority.certificates(name=name, status="valid", sort="not_after", descending=True)
    replaced = {r.replaces for r in named}
    current = [r for r in named if r.serial not in replaced]  # a renewal supersedes its source
    if current:
        return current[0]
    try:
        record = authority.certificate(name)
    except (NotFound, BadInput):
        raise NotFound(f"no valid certificate named {name!r} ('stepui cert list')") from None
    if record.state(authority.clock()) != "valid":
        raise BadInput(f"certificate {record.serial} is {record.state(authority.clock())}")
    return record


@dataclass(frozen=True)
class Installed:
    directory: Path
    cert: Path
    chain: Path
    fullchain: Path
    key: Path
    ca: Path
    config: Path | None = None

    def files(self) -> list[Path]:
        paths = [self.cert, self.chain, self.fullchain, self.key, self.ca]
        return [*paths, self.config] if self.config else paths


def install_files(material: Material, directory: Path, target: str = "files") -> Installed:
    """Write every file at once (all or none): ``cert.pem``, ``chain.pem``, ``fullchain.pem``,
    ``ca.pem`` (intermediates and root, for ``ssl_trusted_certificate``), ``key.pem`` (0600),
    plus ``stepui-NAME.conf`` (nginx) or ``stepui-NAME.yml`` (traefik)."""
    if target not in TARGETS:
        raise BadInput(f"unknown target {target!r}: use one of {', '.join(TARGETS)}")
    directory = ensure_dir(directory.absolute())
    paths = Installed(
        directory,
        cert=directory / "cert.pem",
        chain=directory / "chain.pem",
        fullchain=directory / "fullchain.pem",
        key=directory / "key.pem",
        ca=directory / "ca.pem",
        config={
            "files": None,
            "nginx": directory / f"stepui-{material.name}.conf",
            "traefik": directory / f"stepui-{material.name}.yml",
        }[target],
    )
    with StagedFiles() as files:
        files.add(paths.cert, _pem([material.leaf]), PUBLIC_MODE)
        files.add(paths.chain, _pem(material.chain), PUBLIC_MODE)
        files.add(paths.fullchain, _pem([material.leaf, *material.chain]), PUBLIC_MODE)
        files.add(paths.ca, _pem([*material.chain, *material.roots]), PUBLIC_MODE)
        files.add(paths.key, material.key_pem, PRIVATE_MODE)
        if paths.config is not None:
            render = nginx_snippet if target == "nginx" else traefik_config
            files.add(paths.config, render(material, paths).encode(), PUBLIC_MODE)
    return paths


def _header(material: Material) -> str:
    return (
        f"# stepui: certificate {material.name} (serial {material.serial}), written by "
        "'stepui cert install'; rerun it after renewal.\n"
    )


def nginx_snippet(material: Material, paths: Installed) -> str:
    """For ``include`` inside a ``server { listen 443 ssl; ... }`` block."""
    return (
        _header(material)
        + f"ssl_certificate {paths.fullchain};\n"
        + f"ssl_certificate_key {paths.key};\n"
        + f"ssl_trusted_certificate {paths.ca};\n"
    )


def traefik_config(material: Material, paths: Installed) -> str:
    """A file for Traefik's file provider (dynamic configuration)."""
    return (
        _header(material)
        + "tls:\n"
        + "  certificates:\n"
        + f'    - certFile: "{paths.fullchain}"\n'
        + f'      keyFile: "{paths.key}"\n'
    )


# -- system trust ------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrustStore:
    """Where roots go: a Debian local-certificates directory plus its update command, and the
    NSS databases (browsers) that ``certutil`` updates when it is installed."""

    directory: Path = Path("/usr/local/share/ca-certificates")
    update: tuple[str, ...] = ("update-ca-certificates",)
    nss_databases: tuple[Path, ...] = ()
    certutil: str | None = None

    @classmethod
    def system(cls) -> TrustStore:
        """The real system, unless the ``STEPUI_TRUST_*`` / ``STEPUI_NSS_DBS`` overrides say
        otherwise."""
        env = os.environ
        directory = Path(env.get("STEPUI_TRUST_DIR", str(cls.directory)))
        update = tuple(shlex.split(env.get("STEPUI_TRUST_UPDATE", "update-ca-certificates")))
        if "STEPUI_NSS_DBS" in env:
            nss = tuple(Path(p) for p in env["STEPUI_NSS_DBS"].split(os.pathsep) if p)
        else:
            nss = tuple(p for p in (Path.home() / ".pki" / "nssdb",) if (p / "cert9.db").exists())
        return cls(directory, update, nss, shutil.which("certutil"))


@dataclass
class TrustPlan:
    """What trusting (or untrusting) changes; ``apply`` runs it, a dry run only prints it."""

    writes: dict[Path, bytes] = field(default_factory=dict)
    removals: list[Path] = field(default_factory=list)
    commands: list[list[str]] = field(default_factory=list)

    def describe(self) -> list[str]:
        lines = [f"write {p}" for p in self.writes]
        lines += [f"remove {p}" for p in self.removals]
        lines += [shlex.join(c) for c in self.commands]
        return lines or ["nothing to change"]

    def apply(self) -> None:
        for path, data in self.writes.items():
            ensure_dir(path.parent)
            with StagedFiles() as files:
                files.add(path, data, PUBLIC_MODE)
        for path in self.removals:
            path.unlink(missing_ok=True)
        for command in self.commands:
            _run(command)


def _nickname(ca_id: str) -> str:
    return f"stepui {ca_id}"


def trust_plan(store: TrustStore, roots: dict[str, x509.Certificate]) -> TrustPlan:
    """Install ``roots`` (CA id to certificate) as ``stepui-<id>.crt``; files already there
    with the same content are left alone and need no update run."""
    plan = TrustPlan()
    for ca_id, root in roots.items():
        path = store.directory / f"stepui-{ca_id}.crt"
        data = root.public_bytes(serialization.Encoding.PEM)
        if not path.exists() or path.read_bytes() != data:
            plan.writes[path] = data
        if store.certutil:
            for db in store.nss_databases:
                plan.commands.append(
                    [
                        store.certutil,
                        "-A",
                        "-d",
                        f"sql:{db}",
                        "-t",
                        "C,,",
                        "-n",
                        _nickname(ca_id),
                        "-i",
                        str(path),
                    ]  # fmt: skip
                )
    if plan.writes:
        plan.commands.insert(0, list(store.update))
    return plan


def untrust_plan(store: TrustStore, ca_ids: Sequence[str]) -> TrustPlan:
    plan = TrustPlan()
    for ca_id in ca_ids:
        path = store.directory / f"stepui-{ca_id}.crt"
        if path.exists():
            plan.removals.append(path)
        if store.certutil:
            for db in store.nss_databases:
                plan.commands.append(
                    [store.certutil, "-D", "-d", f"sql:{db}", "-n", _nickname(ca_id)]
                )
    if plan.removals:
        plan.commands.insert(0, [*store.update, "--fresh"])
    return plan


def _run(command: list[str]) -> None:
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StepuiError(f"cannot run {shlex.join(command)}: {exc}") from exc
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or [""]
        raise StepuiError(f"{shlex.join(command)} failed ({result.returncode}): {detail[0]}")
    log.info("ran %s", shlex.join(command))
