"""Certificate profiles: which key usages, extended key usages, lifetimes and SAN types a
certificate may carry. Built-ins cover the common RFC 5280 profiles; users add JSON ones."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from stepui.errors import BadInput
from stepui.pki.names import SAN_TYPES
from stepui.pki.timespec import format_duration, parse_duration

KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)
EXTENDED_KEY_USAGES: dict[str, x509.ObjectIdentifier] = {
    "server_auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client_auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code_signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email_protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "time_stamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp_signing": ExtendedKeyUsageOID.OCSP_SIGNING,
}


@dataclass(frozen=True)
class Template:
    """A profile. Validities are ``None`` when the CA's configured defaults apply."""

    name: str
    description: str = ""
    key_usage: tuple[str, ...] = ("digital_signature",)
    extended_key_usage: tuple[str, ...] = ()
    is_ca: bool = False
    path_len: int | None = None
    default_validity: timedelta | None = None
    max_validity: timedelta | None = None
    allowed_san_types: tuple[str, ...] = SAN_TYPES
    crl_urls: tuple[str, ...] = ()
    ocsp_urls: tuple[str, ...] = ()
    ca_issuers_urls: tuple[str, ...] = ()
    policies: tuple[str, ...] = ()
    builtin: bool = field(default=False, compare=False)

    def eku_oids(self) -> list[x509.ObjectIdentifier]:
        return [
            EXTENDED_KEY_USAGES.get(u) or x509.ObjectIdentifier(u) for u in self.extended_key_usage
        ]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("builtin")
        for key in ("default_validity", "max_validity"):
            data[key] = format_duration(data[key]) if data[key] else None
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


_TEN_YEARS = timedelta(days=3650)

BUILTIN_TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        Template(
            "tls-server",
            "TLS server: serverAuth, DNS and IP names",
            extended_key_usage=("server_auth",),
            allowed_san_types=("dns", "ip"),
            builtin=True,
        ),
        Template(
            "tls-client",
            "TLS client: clientAuth",
            extended_key_usage=("client_auth",),
            builtin=True,
        ),
        Template(
            "tls-server-client",
            "TLS server and client (mutual TLS services)",
            extended_key_usage=("server_auth", "client_auth"),
            builtin=True,
        ),
        Template(
            "email",
            "S/MIME: email protection, email names only",
            key_usage=("digital_signature", "key_encipherment"),
            extended_key_usage=("email_protection",),
            allowed_san_types=("email",),
            builtin=True,
        ),
        Template(
            "code-signing",
            "Code signing",
            extended_key_usage=("code_signing",),
            allowed_san_types=("email", "uri"),
            builtin=True,
        ),
        Template(
            "intermediate",
            "Subordinate CA, path length 0",
            key_usage=("digital_signature", "key_cert_sign", "crl_sign"),
            is_ca=True,
            path_len=0,
            default_validity=_TEN_YEARS,
            builtin=True,
        ),
        Template(
            "root",
            "Self-signed root CA, path length 1",
            key_usage=("digital_signature", "key_cert_sign", "crl_sign"),
            is_ca=True,
            path_len=1,
            default_validity=_TEN_YEARS,
            builtin=True,
        ),
    )
}

_FIELDS = set(Template.__dataclass_fields__) - {"builtin"}


def template_from_dict(data: Any) -> Template:
    """Validate a user template (as loaded from JSON) with messages that name the field."""
    if not isinstance(data, dict):
        raise BadInput("a template must be a JSON object")
    unknown = set(data) - _FIELDS
    if unknown:
        raise BadInput(f"template has unknown field(s): {', '.join(sorted(unknown))}")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or " " in name:
        raise BadInput("template field 'name' must be a non-empty word such as web-server")
    if name in BUILTIN_TEMPLATES:
        raise BadInput(f"template name {name!r} is built in; choose another")
    values: dict[str, Any] = {"name": name}
    for key in (
        "key_usage",
        "extended_key_usage",
        "allowed_san_types",
        "crl_urls",
        "ocsp_urls",
        "ca_issuers_urls",
        "policies",
    ):
        if key in data:
            items = data[key]
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise BadInput(f"template field {key!r} must be a list of strings")
            values[key] = tuple(items)
    _check_members(values.get("key_usage", ()), KEY_USAGES, "key_usage")
    _check_members(values.get("allowed_san_types", ()), SAN_TYPES, "allowed_san_types")
    for usage in values.get("extended_key_usage", ()):
        if usage not in EXTENDED_KEY_USAGES and not _is_oid(usage):
            raise BadInput(
                f"template extended_key_usage {usage!r} is neither a dotted OID nor one of "
                f"{', '.join(EXTENDED_KEY_USAGES)}"
            )
    for oid in values.get("policies", ()):
        if not _is_oid(oid):
            raise BadInput(f"template policy {oid!r} is not a dotted OID")
    for key in ("crl_urls", "ocsp_urls", "ca_issuers_urls"):
        for url in values.get(key, ()):
            if not url.startswith(("http://", "https://", "ldap://")):
                raise BadInput(f"template {key} entry {url!r} is not an http(s) or ldap URL")
    for key in ("default_validity", "max_validity"):
        if data.get(key) is not None:
            if not isinstance(data[key], str):
                raise BadInput(f'template field {key!r} must be a duration such as "72h"')
            values[key] = parse_duration(data[key])
    if "description" in data:
        values["description"] = str(data["description"])
    if data.get("is_ca"):
        raise BadInput("user templates are for leaf certificates; use 'stepui ca new' for CAs")
    default, maximum = values.get("default_validity"), values.get("max_validity")
    if default and maximum and default > maximum:
        raise BadInput("template default_validity is longer than its max_validity")
    return Template(**values)


def _check_members(items: tuple[str, ...], allowed: tuple[str, ...], key: str) -> None:
    for item in items:
        if item not in allowed:
            raise BadInput(f"template {key} {item!r} is not one of {', '.join(allowed)}")


def _is_oid(text: str) -> bool:
    parts = text.split(".")
    return len(parts) >= 2 and all(p.isdigit() for p in parts)
