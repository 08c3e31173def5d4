"""Issuing: templates, names, policy, lifetimes and signing, so that a certificate issued from
the CLI, the TUI or the ACME server is decided and recorded the same way."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from stepui.authority.chains import signed_by
from stepui.authority.models import Issued, IssueRequest
from stepui.authority.state import AuthorityState, fingerprint_hex, pem_text, serial_hex
from stepui.config import parse_address
from stepui.errors import BadInput, NotFound, PolicyRefused
from stepui.fsutil import PRIVATE_MODE, PUBLIC_MODE, StagedFiles
from stepui.pki.inspect import load_certificates
from stepui.pki.issue import (
    ExtensionList,
    Extras,
    Signer,
    build_certificate,
    new_serial,
    profile_extensions,
)
from stepui.pki.keys import (
    PrivateKey,
    PublicKey,
    check_public_key,
    generate_key,
    key_type_of,
    private_key_pem,
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
from stepui.store import AuthorityRecord, CertificateRecord


class Issuance(AuthorityState):
    """Issue, renew and import leaf certificates; one transaction each."""

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

    def issue(
        self, request: IssueRequest, *, out_dir: Path | None = None, key_dir: Path | None = None
    ) -> Issued:
        """Decide, sign and record one certificate in one transaction (files, when asked for,
        appear only if the record was committed). A generated key goes to ``key_dir`` when
        given (a private directory), else beside the certificate in ``out_dir``."""
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
        check_public_key(public_key, csr=request.csr is not None)
        subject, sans = self._names(request)
        self._check_san_types(template, sans)
        claimed = _claimed_names(subject, sans)
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
            fingerprint=fingerprint_hex(cert),
            pem=pem_text(cert),
            replaces=request.replaces,
            created_at=now,
        )
        issued = Issued(record, cert, chain[0], key, chain[1:])
        with StagedFiles() as files:
            if out_dir is not None:
                name = request.name or record.serial
                self._stage_outputs(files, issued, out_dir, name, key_dir or out_dir)
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
        self.events.publish(
            "cert.issued",
            serial=record.serial,
            ca=ca.id,
            requester=request.requester,
            sans=list(record.sans),
        )
        return issued

    def _stage_outputs(
        self, files: StagedFiles, issued: Issued, out_dir: Path, name: str, key_dir: Path
    ) -> None:
        files.add(out_dir / f"{name}.crt", issued.pem_chain(), PUBLIC_MODE)
        if issued.key is not None:
            files.add(key_dir / f"{name}.key", private_key_pem(issued.key, None), PRIVATE_MODE)

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

    def _check_policies(
        self, ca: AuthorityRecord, names: Sequence[x509.GeneralName], extra: NamePolicy | None
    ) -> None:
        if ca.policy:
            policy = self._policies.get(ca.id)
            if policy is None:
                policy = self._policies[ca.id] = NamePolicy.from_dict(ca.policy)
            policy.check(names, f"the policy of CA {ca.name!r}")
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
            try:
                not_after = start + lifetime
            except OverflowError:
                raise BadInput("the certificate would end after the year 9999") from None
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
        host, port = parse_address(self.config.server_address, where="server.address")
        return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"

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
            if ca_id is not None and not signed_by(cert, self.ca_certificate(ca_id)):
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
                    fingerprint=fingerprint_hex(cert),
                    pem=pem_text(cert),
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


def _claimed_names(subject: x509.Name, sans: list[x509.GeneralName]) -> list[x509.GeneralName]:
    """The SANs, plus the CN when it is a host name they do not already carry: a host name in
    the CN is as much a claim as a SAN, so policy and name constraints see it too."""
    cn = common_name(subject)
    if cn is None or any(name.value == cn for name in sans):
        return sans
    cn_host = host_in_common_name(subject)
    return sans if cn_host is None or cn_host in sans else [*sans, cn_host]


def _human(delta: timedelta) -> str:
    return format_duration(delta)
