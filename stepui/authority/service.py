"""The CA service: the one place where a CA decision is made.

The CLI, the TUI forms and the ACME finalize path all call :class:`Authority`, so a certificate
issued by any of them is the same certificate, checked by the same policy, recorded the same way.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from stepui.authority.chains import Variant, is_self_signed, paths
from stepui.authority.keystore import KeyStore, PasswordProvider
from stepui.authority.models import Issued, IssueRequest
from stepui.config import Config, load_config, resolve_home, save_config
from stepui.errors import BadCSR, BadInput, Conflict, NotFound, PolicyRefused
from stepui.events import Clock, Events, utc_now
from stepui.fsutil import (
    PRIVATE_MODE,
    PUBLIC_MODE,
    SECRET_DIR_MODE,
    StagedFiles,
    ensure_dir,
    write_atomic,
)
from stepui.pki import crl as crl_mod
from stepui.pki.formats import load_bundle
from stepui.pki.inspect import load_certificates
from stepui.pki.issue import (
    ExtensionList,
    Extras,
    Signer,
    build_certificate,
    build_csr,
    new_serial,
    profile_extensions,
)
from stepui.pki.keys import (
    PrivateKey,
    PublicKey,
    generate_key,
    key_type_of,
    load_private_key,
    private_key_pem,
    same_key,
)
from stepui.pki.names import (
    common_name,
    host_in_common_name,
    parse_san,
    parse_subject,
    render_san,
    render_subject,
    san_type,
    sans_of,
)
from stepui.pki.policy import NamePolicy, check_name_constraints
from stepui.pki.templates import BUILTIN_TEMPLATES, Template, template_from_dict
from stepui.pki.timespec import format_duration
from stepui.store import (
    AuthorityRecord,
    CertificateQuery,
    CertificateRecord,
    Store,
)

PEM = serialization.Encoding.PEM
MIN_RSA_BITS = 2048


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(PEM).decode("ascii")


def _fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "ca"


def serial_hex(serial: int) -> str:
    return format(serial, "x")


class Authority:
    """Open with :meth:`open`; every mutating method is one transaction and one audit entry."""

    def __init__(
        self,
        home: Path,
        store: Store,
        config: Config,
        *,
        password: PasswordProvider = lambda: None,
        clock: Clock = utc_now,
        events: Events | None = None,
    ) -> None:
        self.home = home
        self.store = store
        self.config = config
        self.clock = clock
        self.events = events or Events()
        self.keys = KeyStore(home / "secrets", password)
        self._signers: dict[str, Signer] = {}
        self._chains: dict[str, list[list[x509.Certificate]]] = {}
        self._templates: dict[str, Template] = {}
        self._profiles: dict[tuple[str, str, bool], ExtensionList] = {}
        self._constrained: dict[str, list[x509.Certificate]] = {}
        self._records: dict[str, AuthorityRecord] = {}

    @classmethod
    def open(
        cls,
        home: str | Path | None = None,
        *,
        password: PasswordProvider = lambda: None,
        clock: Clock = utc_now,
        events: Events | None = None,
    ) -> Authority:
        """Create the data dir layout if needed, load ``config.json`` and open the database."""
        path = resolve_home(home)
        ensure_dir(path, 0o755)
        ensure_dir(path / "certs")
        ensure_dir(path / "secrets", SECRET_DIR_MODE)
        config = load_config(path / "config.json")
        store = Store(path / "stepui.db")
        return cls(path, store, config, password=password, clock=clock, events=events)

    def close(self) -> None:
        self.store.close()

    # -- configuration -----------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.home / "config.json"

    def save_config(self, config: Config) -> None:
        save_config(config, self.config_path)
        self.config = config
        self._templates.clear()
        self._profiles.clear()

    @property
    def initialized(self) -> bool:
        return bool(self.config.default_ca and self.store.ca.authority(self.config.default_ca))

    # -- authorities -------------------------------------------------------------------------
    def authorities(self) -> list[AuthorityRecord]:
        return self.store.ca.authorities()

    def authority(self, key: str | None = None) -> AuthorityRecord:
        """By id or name; ``None`` is the default issuing CA (the intermediate ``ca init`` made)."""
        wanted = key or self.config.default_ca
        if not wanted:
            raise NotFound("no CA yet: run 'stepui ca init NAME' first")
        record = self._records.get(wanted)
        if record is None:
            record = self.store.ca.authority(wanted)
            if record is None:
                raise NotFound(f"unknown CA {wanted!r}; 'stepui ca list' shows the CAs")
            self._records[wanted] = record
        return record

    def _forget_authorities(self) -> None:
        """Drop cached CA records and chains after any change to the CAs."""
        self._records.clear()
        self._chains.clear()
        self._constrained.clear()
        self._profiles.clear()

    def root(self, key: str | None = None) -> AuthorityRecord:
        if key is None:
            if not self.config.root_ca:
                raise NotFound("no root CA yet: run 'stepui ca init NAME' first")
            key = self.config.root_ca
        return self.authority(key)

    def ca_certificate(self, key: str | None = None) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.authority(key).cert_pem.encode())

    def signer(self, ca_id: str) -> Signer:
        """The CA's certificate and decrypted key; decrypted once per process."""
        signer = self._signers.get(ca_id)
        if signer is None:
            record = self.authority(ca_id)
            if not record.key_file:
                raise PolicyRefused(f"CA {record.name!r} has no private key here; it cannot sign")
            key = self.keys.load(record.key_file, record.key_encrypted)
            cert = x509.load_pem_x509_certificate(record.cert_pem.encode())
            signer = self._signers[ca_id] = Signer(cert, key)
        return signer

    def _unique_id(self, name: str) -> str:
        base = _slug(name)
        candidate, number = base, 1
        while self.store.ca.authority(candidate) is not None:
            number += 1
            candidate = f"{base}-{number}"
        return candidate

    def _encrypt_keys(self) -> bool:
        """New keys follow the CA keys already here: encrypted, or plain for a passwordless dev
        CA (decided without asking for a password, so a dev CA never prompts)."""
        keyed = [a for a in self.authorities() if a.key_file]
        if keyed:
            return any(a.key_encrypted for a in keyed)
        return bool(self.keys.password())

    def init(
        self,
        name: str,
        *,
        country: str | None = None,
        province: str | None = None,
        locality: str | None = None,
        organization: str | None = None,
        email: str | None = None,
        key_type: str = "ec-p256",
        passwordless: bool = False,
        force: bool = False,
        actor: str = "cli",
    ) -> tuple[AuthorityRecord, AuthorityRecord]:
        """A root ("NAME Root CA", path length 1) and an intermediate ("NAME Intermediate CA",
        path length 0), both ten years; the intermediate becomes the default issuer."""
        if not name.strip():
            raise BadInput("the CA name is empty")
        if self.initialized and not force:
            existing = self.authority()
            raise Conflict(
                f"a CA already exists here ({existing.name}); use --force to create a new one "
                "(the old CAs and their keys are kept, no longer the default)"
            )
        if not passwordless and not self.keys.password():
            raise BadInput(
                "give a CA password (prompt, --password-file or STEPUI_PASSWORD) "
                "or --no-password for a local dev CA"
            )
        if passwordless and self.keys.password():
            raise BadInput("--no-password given together with a password; choose one")
        fields = {
            "C": country,
            "ST": province,
            "L": locality,
            "O": organization,
            "emailAddress": email,
        }
        extra = ",".join(f"{k}={v.replace(',', chr(92) + ',')}" for k, v in fields.items() if v)

        def subject(cn: str) -> x509.Name:
            text = f"CN={cn.replace(',', chr(92) + ',')}"
            return parse_subject(f"{text},{extra}" if extra else text)

        root_subject = subject(f"{name} Root CA")
        intermediate_subject = subject(f"{name} Intermediate CA")
        files = StagedFiles()
        try:
            with self.store.transaction():
                root = self._create_authority(
                    files,
                    "root",
                    f"{name} Root CA",
                    root_subject,
                    None,
                    key_type,
                    path_len=1,
                    validity=timedelta(days=3650),
                    encrypt=not passwordless,
                    actor=actor,
                )
                intermediate = self._create_authority(
                    files,
                    "intermediate",
                    f"{name} Intermediate CA",
                    intermediate_subject,
                    root,
                    key_type,
                    path_len=0,
                    validity=timedelta(days=3650),
                    encrypt=not passwordless,
                    actor=actor,
                )
                files.add(self.home / "certs" / "root_ca.crt", root.cert_pem.encode())
                files.add(
                    self.home / "certs" / "intermediate_ca.crt", intermediate.cert_pem.encode()
                )
                self.save_config(
                    self.config.with_changes(default_ca=intermediate.id, root_ca=root.id)
                )
        except BaseException:
            files.discard()
            raise
        files.commit()
        self.events.publish("ca.created", id=root.id, kind="root")
        self.events.publish("ca.created", id=intermediate.id, kind="intermediate")
        return root, intermediate

    def new_authority(
        self,
        kind: str,
        name: str,
        *,
        parent: str | None = None,
        path_len: int | None = None,
        key_type: str = "ec-p256",
        constraints: x509.NameConstraints | None = None,
        policy: NamePolicy | None = None,
        validity: timedelta = timedelta(days=3650),
        subject: str | None = None,
        actor: str = "cli",
    ) -> AuthorityRecord:
        """A new root, or an intermediate under ``parent`` (default: the default root)."""
        if kind not in ("root", "intermediate"):
            raise BadInput(f"CA kind must be root or intermediate, not {kind!r}")
        if not name.strip():
            raise BadInput("the CA name is empty")
        if path_len is not None and path_len < 0:
            raise BadInput("--path-len must be 0 or more")
        parent_record = None
        if kind == "intermediate":
            parent_record = self.authority(parent or self.config.root_ca)
            parent_cert = x509.load_pem_x509_certificate(parent_record.cert_pem.encode())
            parent_len = parent_cert.extensions.get_extension_for_class(
                x509.BasicConstraints
            ).value.path_length
            if parent_len is not None:
                if parent_len == 0:
                    raise PolicyRefused(
                        f"CA {parent_record.name!r} has path length 0: it cannot sign another CA"
                    )
                path_len = parent_len - 1 if path_len is None else path_len
                if path_len > parent_len - 1:
                    raise PolicyRefused(
                        f"path length {path_len} exceeds what {parent_record.name!r} allows "
                        f"({parent_len - 1})"
                    )
            elif path_len is None:
                path_len = 0
        elif parent:
            raise BadInput("a root CA has no parent; use 'ca new intermediate' for a sub-CA")
        subject_name = (
            parse_subject(subject) if subject else parse_subject("CN=" + name.replace(",", "\\,"))
        )
        files = StagedFiles()
        try:
            with self.store.transaction():
                record = self._create_authority(
                    files,
                    kind,
                    name,
                    subject_name,
                    parent_record,
                    key_type,
                    path_len=path_len if path_len is not None else (1 if kind == "root" else 0),
                    validity=validity,
                    encrypt=self._encrypt_keys(),
                    actor=actor,
                    constraints=constraints,
                    policy=policy,
                )
        except BaseException:
            files.discard()
            raise
        files.commit()
        self.events.publish("ca.created", id=record.id, kind=kind)
        return record

    def _create_authority(
        self,
        files: StagedFiles,
        kind: str,
        name: str,
        subject: x509.Name,
        parent: AuthorityRecord | None,
        key_type: str,
        *,
        path_len: int,
        validity: timedelta,
        encrypt: bool,
        actor: str,
        constraints: x509.NameConstraints | None = None,
        policy: NamePolicy | None = None,
    ) -> AuthorityRecord:
        key = generate_key(key_type)
        now = self.clock()
        not_after = now + validity
        signer = self.signer(parent.id) if parent else None
        if signer is not None and not_after > signer.certificate.not_valid_after_utc:
            not_after = signer.certificate.not_valid_after_utc
        template = BUILTIN_TEMPLATES["root" if kind == "root" else "intermediate"]
        cert = build_certificate(
            subject=subject,
            public_key=key.public_key(),
            template=template,
            not_before=now - timedelta(minutes=1),
            not_after=not_after,
            serial=new_serial(),
            signer=signer,
            self_key=key,
            extras=Extras(path_len=path_len, name_constraints=constraints),
        )
        ca_id = self._unique_id(name)
        key_file, encrypted = self.keys.stage(files, ca_id, key, encrypt=encrypt)
        record = AuthorityRecord(
            id=ca_id,
            name=name,
            kind=kind,
            parent_id=parent.id if parent else None,
            subject=render_subject(subject),
            serial=serial_hex(cert.serial_number),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            cert_pem=_pem(cert),
            key_file=key_file,
            key_encrypted=encrypted,
            key_type=key_type_of(key),
            policy=policy.to_dict() if policy else {},
            created_at=now,
        )
        self.store.ca.add_authority(record)
        self._audit(
            actor, "ca.create", ca_id, {"kind": kind, "name": name, "parent": record.parent_id}
        )
        self._signers[ca_id] = Signer(cert, key)
        self._forget_authorities()
        return record

    def import_authority(
        self,
        cert_data: bytes,
        key_data: bytes | None = None,
        *,
        file_password: bytes | None = None,
        name: str | None = None,
        actor: str = "cli",
    ) -> AuthorityRecord:
        """Import an existing root or intermediate (PEM, DER or PKCS#12, key optional)."""
        bundle = load_bundle(cert_data, file_password)
        cert = bundle.certificates[0]
        key = bundle.key
        if key_data is not None:
            key = load_bundle_key(key_data, file_password)
        try:
            constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            constraints = None
        if constraints is None or not constraints.ca:
            raise BadInput("the certificate is not a CA certificate (basicConstraints CA:FALSE)")
        if key is not None and not same_key(key, cert.public_key()):
            raise BadInput("the private key does not match the certificate")
        fingerprint_pem = _pem(cert)
        if any(a.cert_pem == fingerprint_pem for a in self.authorities()):
            raise Conflict("this CA certificate is already imported")
        kind = "root" if is_self_signed(cert) else "intermediate"
        parent_id = None
        if kind == "intermediate":
            parent_id = self._find_issuer(cert, bundle.certificates[1:])
        display = name or common_name(cert.subject) or cert.subject.rfc4514_string()
        now = self.clock()
        files = StagedFiles()
        try:
            with self.store.transaction():
                ca_id = self._unique_id(display)
                key_file, encrypted = (None, False)
                if key is not None:
                    key_file, encrypted = self.keys.stage(
                        files, ca_id, key, encrypt=self._encrypt_keys()
                    )
                record = AuthorityRecord(
                    id=ca_id,
                    name=display,
                    kind=kind,
                    parent_id=parent_id,
                    subject=render_subject(cert.subject),
                    serial=serial_hex(cert.serial_number),
                    not_before=cert.not_valid_before_utc,
                    not_after=cert.not_valid_after_utc,
                    cert_pem=fingerprint_pem,
                    key_file=key_file,
                    key_encrypted=encrypted,
                    key_type=key_type_of(cert.public_key()),
                    created_at=now,
                )
                self.store.ca.add_authority(record)
                outside = [c for c in bundle.certificates[1:] if c != cert]
                if parent_id is None and outside:
                    self.store.ca.add_chain(
                        ca_id,
                        None,
                        "external",
                        fingerprint_pem,
                        "".join(_pem(c) for c in outside),
                        now,
                    )
                self._audit(
                    actor,
                    "ca.import",
                    ca_id,
                    {"kind": kind, "parent": parent_id, "with_key": key is not None},
                )
        except BaseException:
            files.discard()
            raise
        files.commit()
        self._forget_authorities()
        self.events.publish("ca.created", id=ca_id, kind=kind)
        return record

    def _find_issuer(
        self, cert: x509.Certificate, offered: Sequence[x509.Certificate]
    ) -> str | None:
        """The known CA that signed ``cert``; a claimed but broken link is an error."""
        claimed = False
        for record in self.authorities():
            parent = x509.load_pem_x509_certificate(record.cert_pem.encode())
            if parent.subject != cert.issuer:
                continue
            claimed = True
            try:
                cert.verify_directly_issued_by(parent)
            except Exception:
                continue
            return record.id
        if claimed:
            raise BadInput(
                "the certificate names a known CA as issuer but its signature does not verify "
                "with that CA's key"
            )
        return None

    def authority_csr(self, key: str) -> bytes:
        """A CSR for the CA's own key, so an outside CA can sign it (``ca csr``)."""
        record = self.authority(key)
        signer = self.signer(record.id)
        return build_csr(signer.certificate.subject, signer.key)

    def import_signed(
        self, key: str, cert_data: bytes, *, primary: bool = False, actor: str = "cli"
    ) -> AuthorityRecord:
        """Attach a certificate an outside CA issued for this CA's key; both chains are kept."""
        record = self.authority(key)
        certs = load_certificates(cert_data)
        cert = certs[0]
        current = x509.load_pem_x509_certificate(record.cert_pem.encode())
        if not same_key(cert.public_key(), current.public_key()):
            raise BadInput(f"the certificate is not for {record.name!r}'s key")
        try:
            basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            basic = None
        if basic is None or not basic.ca:
            raise BadInput("the signed certificate is not a CA certificate")
        issuer_id = self._find_issuer(cert, certs[1:])
        outside = "".join(_pem(c) for c in certs[1:])
        with self.store.transaction():
            if primary:
                self.store.ca.add_chain(
                    record.id, record.parent_id, "external", record.cert_pem, "", self.clock()
                )
                self.store.ca.update_authority(
                    record.id,
                    cert_pem=_pem(cert),
                    parent_id=issuer_id,
                    kind="intermediate",
                    serial=serial_hex(cert.serial_number),
                    not_before=cert.not_valid_before_utc,
                    not_after=cert.not_valid_after_utc,
                )
                if issuer_id is None and outside:
                    self.store.ca.add_chain(
                        record.id, None, "external", _pem(cert), outside, self.clock()
                    )
            else:
                self.store.ca.add_chain(
                    record.id, issuer_id, "external", _pem(cert), outside, self.clock()
                )
            self._audit(
                actor, "ca.import_signed", record.id, {"issuer": issuer_id, "primary": primary}
            )
        self._signers.pop(record.id, None)
        self._forget_authorities()
        self.events.publish("ca.changed", id=record.id)
        return self.authority(record.id)

    def cross_sign(self, key: str, by: str, *, actor: str = "cli") -> x509.Certificate:
        """Issue a certificate for CA ``key``'s subject and key under CA ``by``."""
        record, other = self.authority(key), self.authority(by)
        if record.id == other.id:
            raise BadInput("a CA cannot cross-sign itself")
        subject_cert = x509.load_pem_x509_certificate(record.cert_pem.encode())
        signer = self.signer(other.id)
        other_len = signer.certificate.extensions.get_extension_for_class(
            x509.BasicConstraints
        ).value.path_length
        own_len = subject_cert.extensions.get_extension_for_class(
            x509.BasicConstraints
        ).value.path_length
        if other_len == 0:
            raise PolicyRefused(f"CA {other.name!r} has path length 0: it cannot sign another CA")
        path_len = own_len
        if other_len is not None:
            path_len = min(own_len if own_len is not None else other_len - 1, other_len - 1)
        try:
            constraints = subject_cert.extensions.get_extension_for_class(
                x509.NameConstraints
            ).value
        except x509.ExtensionNotFound:
            constraints = None
        now = self.clock()
        cert = build_certificate(
            subject=subject_cert.subject,
            public_key=subject_cert.public_key(),
            template=BUILTIN_TEMPLATES["intermediate"],
            not_before=now - timedelta(minutes=1),
            not_after=min(subject_cert.not_valid_after_utc, signer.certificate.not_valid_after_utc),
            serial=new_serial(),
            signer=signer,
            extras=Extras(path_len=path_len, name_constraints=constraints),
        )
        with self.store.transaction():
            self.store.ca.add_chain(record.id, other.id, "cross", _pem(cert), "", now)
            self._audit(
                actor,
                "ca.cross_sign",
                record.id,
                {"by": other.id, "serial": serial_hex(cert.serial_number)},
            )
        self._forget_authorities()
        self.events.publish("ca.changed", id=record.id)
        return cert

    def set_policy(self, key: str, policy: NamePolicy, *, actor: str = "cli") -> AuthorityRecord:
        record = self.authority(key)
        with self.store.transaction():
            self.store.ca.update_authority(record.id, policy=policy.to_dict())
            self._audit(actor, "ca.policy", record.id, policy.to_dict())
        self._forget_authorities()
        return self.authority(record.id)

    def _variants(self, authority_id: str) -> list[Variant]:
        record = self.authority(authority_id)
        variants = [
            Variant(x509.load_pem_x509_certificate(record.cert_pem.encode()), record.parent_id)
        ]
        for chain in self.store.ca.chains(authority_id):
            cert = x509.load_pem_x509_certificate(chain.cert_pem.encode())
            if any(v.certificate == cert and not chain.chain_pem for v in variants):
                continue
            extra = tuple(load_certificates(chain.chain_pem.encode())) if chain.chain_pem else ()
            variants.append(Variant(cert, chain.issuer_id, extra))
        return variants

    def chains(self, ca_id: str) -> list[list[x509.Certificate]]:
        """Every chain from CA ``ca_id`` upwards (CA first, roots left out), primary first."""
        cached = self._chains.get(ca_id)
        if cached is None:
            cached = self._chains[ca_id] = paths(ca_id, self._variants) or [[]]
        return cached

    def roots_pem(self) -> bytes:
        return "".join(
            a.cert_pem for a in self.authorities() if a.kind == "root" and a.status == "active"
        ).encode()

    def intermediates_pem(self) -> bytes:
        return "".join(
            a.cert_pem
            for a in self.authorities()
            if a.kind == "intermediate" and a.status == "active"
        ).encode()

    # -- templates ---------------------------------------------------------------------------
    def template(self, name: str) -> Template:
        cached = self._templates.get(name)
        if cached is None:
            cached = BUILTIN_TEMPLATES.get(name)
            if cached is None:
                body = self.store.ca.template(name)
                if body is None:
                    known = ", ".join(t.name for t in self.templates())
                    raise NotFound(f"unknown template {name!r}: known templates are {known}")
                cached = template_from_dict(body)
            self._templates[name] = cached
        return cached

    def templates(self) -> list[Template]:
        user = [template_from_dict(body) for body in self.store.ca.templates()]
        return [*BUILTIN_TEMPLATES.values(), *user]

    def add_template(self, body: Any, *, actor: str = "cli") -> Template:
        template = template_from_dict(body)
        with self.store.transaction():
            self.store.ca.save_template(template.name, template.to_dict(), self.clock())
            self._audit(actor, "template.add", template.name, template.to_dict())
        self._templates.pop(template.name, None)
        self._profiles.clear()
        return template

    def remove_template(self, name: str, *, actor: str = "cli") -> None:
        if name in BUILTIN_TEMPLATES:
            raise PolicyRefused(f"template {name!r} is built in and cannot be removed")
        with self.store.transaction():
            if not self.store.ca.remove_template(name):
                raise NotFound(f"unknown template {name!r}")
            self._audit(actor, "template.remove", name, {})
        self._templates.pop(name, None)
        self._profiles.clear()

    # -- issuance ----------------------------------------------------------------------------
    def issue(self, request: IssueRequest, *, out_dir: Path | None = None) -> Issued:
        """Decide, sign and record one certificate in one transaction (files, when asked for,
        appear only if the record was committed)."""
        ca = self.authority(request.ca)
        if ca.status != "active":
            raise PolicyRefused(f"CA {ca.name!r} is {ca.status}; it no longer issues")
        template = self.template(request.template)
        if template.is_ca:
            raise PolicyRefused(
                f"template {template.name!r} is for CAs; use 'stepui ca new intermediate'"
            )
        key: PrivateKey | None = None
        if request.csr is not None:
            public_key = request.csr.public_key()
        elif request.public_key is not None:
            public_key = request.public_key
        else:
            key = generate_key(request.key_type)
            public_key = key.public_key()
        _check_public_key(public_key, csr=request.csr is not None)
        subject, sans = self._names(request)
        self._check_san_types(template, sans)
        # A host name in the CN is as much a claim as a SAN: policy and constraints see it too.
        cn_host = host_in_common_name(subject)
        claimed = sans if cn_host is None or cn_host in sans else [*sans, cn_host]
        self._check_policies(ca, claimed, request.policy)
        signer = self.signer(ca.id)
        chain = self.chains(ca.id)
        constrained = self._constraining_cas(ca.id, signer, chain[0])
        if constrained:
            check_name_constraints(claimed, constrained)
        now = self.clock()
        not_before, not_after = self._validity(request, template, signer.certificate, now)
        cert = build_certificate(
            subject=subject,
            public_key=public_key,
            template=template,
            not_before=not_before,
            not_after=not_after,
            serial=new_serial(),
            sans=sans,
            signer=signer,
            profile=self._leaf_profile(ca.id, template, public_key, signer),
        )
        record = CertificateRecord(
            serial=serial_hex(cert.serial_number),
            ca_id=ca.id,
            issuer=ca.subject,
            name=request.name,
            subject=render_subject(subject),
            sans=tuple(render_san(n) for n in sans),
            not_before=not_before,
            not_after=not_after,
            template=template.name,
            requester=request.requester,
            source="issued",
            status="valid",
            revoked_at=None,
            revocation_reason=None,
            key_type=key_type_of(public_key),
            fingerprint=_fingerprint(cert),
            pem=_pem(cert),
            replaces=request.replaces,
            created_at=now,
        )
        issued = Issued(record, cert, chain[0], key, chain[1:])
        files = StagedFiles()
        try:
            if out_dir is not None:
                self._stage_outputs(files, issued, out_dir, request.name or record.serial)
            with self.store.transaction():
                self.store.ca.add_certificate(record)
                self._audit(
                    request.requester,
                    "cert.issue",
                    record.serial,
                    {
                        "ca": ca.id,
                        "sans": list(record.sans),
                        "template": template.name,
                        "replaces": request.replaces,
                    },
                )
        except BaseException:
            files.discard()
            raise
        files.commit()
        self.events.publish(
            "cert.issued",
            serial=record.serial,
            ca=ca.id,
            requester=request.requester,
            sans=list(record.sans),
        )
        return issued

    def _stage_outputs(self, files: StagedFiles, issued: Issued, out_dir: Path, name: str) -> None:
        files.add(out_dir / f"{name}.crt", issued.pem_chain(), PUBLIC_MODE)
        if issued.key is not None:
            files.add(out_dir / f"{name}.key", private_key_pem(issued.key, None), PRIVATE_MODE)

    def _names(self, request: IssueRequest) -> tuple[x509.Name, list[x509.GeneralName]]:
        if isinstance(request.subject, x509.Name):
            subject = request.subject
        elif request.subject:
            subject = parse_subject(request.subject)
        elif request.csr is not None:
            subject = request.csr.subject
        else:
            subject = x509.Name([])
        sans: list[x509.GeneralName] = []
        for item in request.sans:
            name = parse_san(item) if isinstance(item, str) else item
            if name not in sans:
                sans.append(name)
        if not sans and request.csr is not None:
            sans = sans_of(request.csr)
        cn = common_name(subject)
        if not sans and cn:
            sans = [parse_san(cn)]
        if not sans and len(subject) == 0:
            raise BadInput("a certificate needs a subject or at least one SAN")
        return subject, sans

    @staticmethod
    def _check_san_types(template: Template, sans: Sequence[x509.GeneralName]) -> None:
        for name in sans:
            if san_type(name) not in template.allowed_san_types:
                raise PolicyRefused(
                    f"template {template.name!r} does not allow {san_type(name)} names "
                    f"({render_san(name)})"
                )

    @staticmethod
    def _check_policies(
        ca: AuthorityRecord, names: Sequence[x509.GeneralName], extra: NamePolicy | None
    ) -> None:
        if ca.policy:
            NamePolicy.from_dict(ca.policy).check(names, f"the policy of CA {ca.name!r}")
        if extra is not None:
            extra.check(names, "the provisioner's policy")

    def _validity(
        self, request: IssueRequest, template: Template, issuer: x509.Certificate, now: datetime
    ) -> tuple[datetime, datetime]:
        not_before = request.not_before or now - request.backdate
        start = (request.not_before or now).replace(microsecond=0)
        if request.not_after is not None:
            not_after = request.not_after
        else:
            lifetime = (
                request.lifetime or template.default_validity or self.config.leaf_default_validity
            )
            not_after = start + lifetime
        not_before = not_before.replace(microsecond=0)
        not_after = not_after.replace(microsecond=0)
        if not_after <= start:
            raise BadInput("the certificate would end before it starts")
        caps = [
            c
            for c in (template.max_validity or self.config.leaf_max_validity, request.max_lifetime)
            if c
        ]
        limit = min(caps)
        if not_after - start > limit + timedelta(seconds=1):
            raise PolicyRefused(
                f"requested lifetime {_human(not_after - start)} exceeds the maximum "
                f"{_human(limit)}"
            )
        if not_after > issuer.not_valid_after_utc:
            raise PolicyRefused(
                f"the certificate would outlive its issuer (which expires "
                f"{issuer.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ})"
            )
        return not_before, not_after

    def _leaf_profile(
        self, ca_id: str, template: Template, public_key: PublicKey, signer: Signer
    ) -> ExtensionList:
        """Extensions shared by every leaf of one CA, template and key algorithm, built once."""
        key = (ca_id, template.name, isinstance(public_key, rsa.RSAPublicKey))
        profile = self._profiles.get(key)
        if profile is None:
            crl_urls = (f"{self.base_url()}/crl/{ca_id}.crl",) if self.config.crl_enabled else ()
            ocsp_urls = (self.config.ocsp_url,) if self.config.ocsp_url else ()
            extras = Extras(crl_urls=crl_urls, ocsp_urls=ocsp_urls)
            profile = profile_extensions(template, public_key, signer, extras)
            self._profiles[key] = profile
        return profile

    def _constraining_cas(
        self, ca_id: str, signer: Signer, chain: list[x509.Certificate]
    ) -> list[x509.Certificate]:
        """The CAs above a leaf that carry NameConstraints (usually none), found once per CA."""
        found = self._constrained.get(ca_id)
        if found is None:
            found = self._constrained[ca_id] = [
                cert
                for cert in (signer.certificate, *chain)
                if any(isinstance(e.value, x509.NameConstraints) for e in cert.extensions)
            ]
        return found

    def base_url(self) -> str:
        """Where this CA's server is reached: ``server.external_url`` or its address."""
        if self.config.external_url:
            return self.config.external_url.rstrip("/")
        host, _, port = self.config.server_address.rpartition(":")
        return f"https://{host}:{port}"

    def renew(
        self,
        serial: str,
        *,
        rekey: bool = False,
        key_type: str | None = None,
        out_dir: Path | None = None,
        actor: str = "cli",
    ) -> Issued:
        """A new certificate with the same names, template, issuer and lifetime length.
        The public key is kept unless ``rekey``: then a new key is generated and returned."""
        old = self.certificate(serial)
        if old.source != "issued" or old.ca_id is None:
            raise PolicyRefused(f"certificate {old.serial} was not issued by this CA")
        if old.status == "revoked":
            raise PolicyRefused(f"certificate {old.serial} is revoked; issue a new one instead")
        cert = x509.load_pem_x509_certificate(old.pem.encode())
        lifetime = old.not_after - old.not_before - timedelta(minutes=1)
        request = IssueRequest(
            subject=cert.subject,
            sans=sans_of(cert),
            template=old.template or "tls-server",
            ca=old.ca_id,
            lifetime=max(lifetime, timedelta(minutes=1)),
            key_type=key_type or old.key_type,
            public_key=None if rekey else cert.public_key(),
            requester=actor,
            name=old.name,
            replaces=old.serial,
        )
        issued = self.issue(request, out_dir=out_dir)
        self.events.publish("cert.renewed", serial=issued.serial, replaces=old.serial)
        return issued

    def revoke(
        self, serial: str, reason: str | int = 0, *, actor: str = "cli"
    ) -> CertificateRecord:
        """Revoke, record, and regenerate the CA's CRL when configured to."""
        record = self.certificate(serial)
        code = crl_mod.reason_code(reason)
        if record.ca_id is None:
            raise PolicyRefused(f"certificate {record.serial} was not issued by this CA")
        if code == 8:
            raise BadInput(
                "removeFromCRL is only used in delta CRLs, not as a reason to revoke",
                acme_type="badRevocationReason",
            )
        with self.store.transaction():
            if not self.store.ca.mark_revoked(record.serial, self.clock(), code):
                raise Conflict(
                    f"certificate {record.serial} is already revoked", acme_type="alreadyRevoked"
                )
            self._audit(
                actor,
                "cert.revoke",
                record.serial,
                {"reason": crl_mod.reason_name(code), "ca": record.ca_id},
            )
        self.events.publish("cert.revoked", serial=record.serial, ca=record.ca_id, reason=code)
        if self.config.crl_enabled and self.config.crl_regenerate_on_revoke:
            self.crl(record.ca_id, actor=actor)
        return self.certificate(record.serial)

    def crl(self, key: str | None = None, *, actor: str = "cli") -> x509.CertificateRevocationList:
        """A fresh, numbered CRL for the CA, also written to ``certs/<ca-id>.crl`` (DER)."""
        ca = self.authority(key)
        signer = self.signer(ca.id)
        now = self.clock()
        entries = [
            crl_mod.RevokedEntry(int(r.serial, 16), r.revoked_at or now, r.revocation_reason or 0)
            for r in self.store.ca.revoked(ca.id)
        ]
        number = self.store.ca.next_crl_number(ca.id)
        crl = crl_mod.build_crl(
            signer,
            entries,
            this_update=now,
            next_update=now + self.config.crl_next_update,
            number=number,
        )
        write_atomic(self.crl_path(ca.id), crl.public_bytes(serialization.Encoding.DER))
        self._audit(actor, "crl.generate", ca.id, {"number": number, "entries": len(entries)})
        self.events.publish("crl.generated", ca=ca.id, number=number)
        return crl

    def crl_path(self, ca_id: str) -> Path:
        return self.home / "certs" / f"{ca_id}.crl"

    def current_crl(self, key: str | None = None) -> bytes:
        """The last CRL written, regenerated when missing or past its next update."""
        ca = self.authority(key)
        path = self.crl_path(ca.id)
        if path.exists():
            data = path.read_bytes()
            existing = x509.load_der_x509_crl(data)
            if existing.next_update_utc and existing.next_update_utc > self.clock():
                return data
        return self.crl(ca.id, actor="system").public_bytes(serialization.Encoding.DER)

    def import_certificates(self, data: bytes, *, actor: str = "cli") -> list[CertificateRecord]:
        """Add certificates issued elsewhere to the inventory (skipping ones already known)."""
        certs = load_certificates(data)
        now = self.clock()
        records = []
        seen: set[str] = set()  # a bundle may repeat a certificate
        known_cas = {a.subject: a.id for a in self.authorities()}
        for cert in certs:
            serial = serial_hex(cert.serial_number)
            if self.store.ca.certificate(serial) is not None or serial in seen:
                continue
            seen.add(serial)
            issuer = render_subject(cert.issuer)
            ca_id = known_cas.get(issuer)
            if ca_id is not None:
                try:
                    cert.verify_directly_issued_by(self.ca_certificate(ca_id))
                except Exception:
                    ca_id = None
            records.append(
                CertificateRecord(
                    serial=serial,
                    ca_id=ca_id,
                    issuer=issuer,
                    name=None,
                    subject=render_subject(cert.subject),
                    sans=tuple(render_san(n) for n in sans_of(cert)),
                    not_before=cert.not_valid_before_utc,
                    not_after=cert.not_valid_after_utc,
                    template=None,
                    requester=actor,
                    source="imported",
                    status="valid",
                    revoked_at=None,
                    revocation_reason=None,
                    key_type=key_type_of(cert.public_key()),
                    fingerprint=_fingerprint(cert),
                    pem=_pem(cert),
                    replaces=None,
                    created_at=now,
                )
            )
        with self.store.transaction():
            self.store.ca.add_certificates(records)
            for record in records:
                self._audit(actor, "cert.import", record.serial, {"issuer": record.issuer})
        for record in records:
            self.events.publish("cert.imported", serial=record.serial)
        return records

    # -- queries -----------------------------------------------------------------------------
    def certificate(self, serial: str) -> CertificateRecord:
        """By hex serial (``0x`` optional, colons allowed) or decimal."""
        text = serial.strip().lower().replace(":", "")
        candidates = []
        if text.startswith("0x"):
            candidates.append(text[2:].lstrip("0"))
        else:
            if re.fullmatch(r"[0-9a-f]+", text):
                candidates.append(text.lstrip("0"))
            if text.isdigit():
                candidates.append(format(int(text), "x"))
        for candidate in candidates:
            record = self.store.ca.certificate(candidate)
            if record is not None:
                return record
        raise NotFound(f"no certificate with serial {serial!r}")

    def query(self, **filters: Any) -> CertificateQuery:
        return CertificateQuery(now=self.clock(), **filters)

    def certificates(self, **filters: Any) -> list[CertificateRecord]:
        return self.store.ca.certificates(self.query(**filters))

    def count(self, **filters: Any) -> int:
        return self.store.ca.count_certificates(self.query(**filters))

    def renew_window(self, record: CertificateRecord, renew_before: str | None = None) -> datetime:
        """When a certificate enters its renewal window (config ``renew_before``)."""
        from stepui.authority.managed import renewal_start

        spec = renew_before or self.config.renew_before
        return renewal_start(record.not_before, record.not_after, spec)

    def audit_log(self, target: str | None = None, limit: int = 200):
        return self.store.ca.audit_entries(target, limit)

    def _audit(self, actor: str, action: str, target: str, detail: dict[str, Any]) -> None:
        self.store.ca.audit(self.clock(), actor, action, target, detail)


def load_bundle_key(data: bytes, password: bytes | None) -> PrivateKey:
    bundle_key = None
    if b"-----BEGIN" not in data and data[:1] == b"\x30":
        try:
            bundle_key = load_bundle(data, password).key
        except BadInput:
            bundle_key = None
    if bundle_key is not None:
        return bundle_key
    return load_private_key(data, password)


def _check_public_key(key: PublicKey, *, csr: bool) -> None:
    error = BadCSR if csr else BadInput
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise error(
            f"RSA keys must be at least {MIN_RSA_BITS} bits (got {key.key_size})",
            acme_type="badCSR" if csr else None,
        )
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name not in (
        "secp256r1",
        "secp384r1",
        "secp521r1",
    ):
        raise error(f"unsupported elliptic curve {key.curve.name}")


def _human(delta: timedelta) -> str:
    return format_duration(delta)
