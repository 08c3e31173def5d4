"""Certificate authorities: create (init, new roots and intermediates), import, external
signing, cross-signing, per-CA policy, and the chains each CA offers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from stepui.authority.chains import Variant, basic_constraints, is_self_signed, paths, signed_by
from stepui.authority.state import AuthorityState, pem_text, serial_hex
from stepui.errors import BadInput, Conflict, PolicyRefused
from stepui.fsutil import StagedFiles
from stepui.pki.formats import load_bundle
from stepui.pki.inspect import load_certificates
from stepui.pki.issue import Extras, Signer, build_certificate, build_csr, new_serial
from stepui.pki.keys import (
    PrivateKey,
    check_public_key,
    generate_key,
    key_type_of,
    load_private_key,
    same_key,
)
from stepui.pki.names import common_name, parse_subject, render_subject
from stepui.pki.policy import NamePolicy
from stepui.pki.templates import BUILTIN_TEMPLATES
from stepui.store import AuthorityRecord

PEM = serialization.Encoding.PEM


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "ca"


def _authority_record(
    cert: x509.Certificate,
    *,
    ca_id: str,
    name: str,
    kind: str,
    parent_id: str | None,
    key_file: str | None,
    key_encrypted: bool,
    created_at: datetime,
    policy: NamePolicy | None = None,
) -> AuthorityRecord:
    """The row for a CA: what its certificate says, and where its key is kept (if here)."""
    return AuthorityRecord(
        id=ca_id,
        name=name,
        kind=kind,
        parent_id=parent_id,
        subject=render_subject(cert.subject),
        serial=serial_hex(cert.serial_number),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        cert_pem=pem_text(cert),
        key_file=key_file,
        key_encrypted=key_encrypted,
        key_type=key_type_of(cert.public_key()),
        policy=policy.to_dict() if policy else {},
        created_at=created_at,
    )


class CaManagement(AuthorityState):
    """The CA tree: every change to it is audited and drops the cached records and chains."""

    def _unique_id(self, name: str) -> str:
        base = _slug(name)
        candidate, number = base, 1
        while self.store.ca.authority(candidate) is not None or self.keys.exists(candidate):
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
        with StagedFiles() as files, self.store.transaction():
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
            files.add(self.home / "certs" / "intermediate_ca.crt", intermediate.cert_pem.encode())
            self.save_config(self.config.with_changes(default_ca=intermediate.id, root_ca=root.id))
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
        with StagedFiles() as files, self.store.transaction():
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
        if validity <= timedelta(0):
            raise BadInput("the CA would end before it starts: give a lifetime or a future end")
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
        record = _authority_record(
            cert,
            ca_id=ca_id,
            name=name,
            kind=kind,
            parent_id=parent.id if parent else None,
            key_file=key_file,
            key_encrypted=encrypted,
            created_at=now,
            policy=policy,
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
        constraints = basic_constraints(cert)
        if constraints is None or not constraints.ca:
            raise BadInput("the certificate is not a CA certificate (basicConstraints CA:FALSE)")
        check_public_key(cert.public_key(), csr=False)
        if key is not None and not same_key(key, cert.public_key()):
            raise BadInput("the private key does not match the certificate")
        fingerprint_pem = pem_text(cert)
        if any(a.cert_pem == fingerprint_pem for a in self.authorities()):
            raise Conflict("this CA certificate is already imported")
        kind = "root" if is_self_signed(cert) else "intermediate"
        parent_id = None
        if kind == "intermediate":
            parent_id = self._find_issuer(cert, bundle.certificates[1:])
        display = name or common_name(cert.subject) or cert.subject.rfc4514_string()
        now = self.clock()
        with StagedFiles() as files, self.store.transaction():
            ca_id = self._unique_id(display)
            key_file, encrypted = (None, False)
            if key is not None:
                key_file, encrypted = self.keys.stage(
                    files, ca_id, key, encrypt=self._encrypt_keys()
                )
            record = _authority_record(
                cert,
                ca_id=ca_id,
                name=display,
                kind=kind,
                parent_id=parent_id,
                key_file=key_file,
                key_encrypted=encrypted,
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
                    "".join(pem_text(c) for c in outside),
                    now,
                )
            self._audit(
                actor,
                "ca.import",
                ca_id,
                {"kind": kind, "parent": parent_id, "with_key": key is not None},
            )
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
            if signed_by(cert, parent):
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
        basic = basic_constraints(cert)
        if basic is None or not basic.ca:
            raise BadInput("the signed certificate is not a CA certificate")
        issuer_id = self._find_issuer(cert, certs[1:])
        outside = "".join(pem_text(c) for c in certs[1:])
        with self.store.transaction():
            if primary:
                self.store.ca.add_chain(
                    record.id, record.parent_id, "external", record.cert_pem, "", self.clock()
                )
                self.store.ca.update_authority(
                    record.id,
                    cert_pem=pem_text(cert),
                    parent_id=issuer_id,
                    kind="intermediate",
                    serial=serial_hex(cert.serial_number),
                    not_before=cert.not_valid_before_utc,
                    not_after=cert.not_valid_after_utc,
                )
                if issuer_id is None and outside:
                    self.store.ca.add_chain(
                        record.id, None, "external", pem_text(cert), outside, self.clock()
                    )
            else:
                self.store.ca.add_chain(
                    record.id, issuer_id, "external", pem_text(cert), outside, self.clock()
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
            self.store.ca.add_chain(record.id, other.id, "cross", pem_text(cert), "", now)
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
