"""Subjects ("CN=a,O=b") and subject alternative names ("DNS:a", "IP:10.0.0.5") as text.

One parser serves the CLI, the TUI forms and the ACME server, so a name means the same
everywhere and a bad one is refused with the same words.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

import idna
from cryptography import x509
from cryptography.x509.oid import NameOID

from stepui.errors import BadInput

SUBJECT_ATTRIBUTES: dict[str, x509.ObjectIdentifier] = {
    "CN": NameOID.COMMON_NAME,
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "STREET": NameOID.STREET_ADDRESS,
    "POSTALCODE": NameOID.POSTAL_CODE,
    "SERIALNUMBER": NameOID.SERIAL_NUMBER,
    "EMAILADDRESS": NameOID.EMAIL_ADDRESS,
    "DC": NameOID.DOMAIN_COMPONENT,
}
_ATTRIBUTE_NAMES = {oid: name for name, oid in SUBJECT_ATTRIBUTES.items()}
_ATTRIBUTE_NAMES[NameOID.EMAIL_ADDRESS] = "emailAddress"

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
SAN_TYPES = ("dns", "ip", "email", "uri")


def _split_unescaped(text: str, sep: str) -> list[str]:
    if "\\" not in text:
        return text.split(sep)
    parts, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def parse_subject(text: str) -> x509.Name:
    """Parse ``CN=api,O=My Org,C=US`` (commas inside values escaped as ``\\,``)."""
    if not text.strip():
        raise BadInput("the subject is empty: give at least CN=<name>")
    attributes = []
    for part in _split_unescaped(text, ","):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise BadInput(f"subject part {part.strip()!r} is not KEY=VALUE")
        oid = SUBJECT_ATTRIBUTES.get(key.upper())
        if oid is None:
            known = ", ".join(sorted(SUBJECT_ATTRIBUTES))
            raise BadInput(f"unknown subject attribute {key!r}: use one of {known}")
        if not value:
            raise BadInput(f"subject attribute {key} has an empty value")
        if oid == NameOID.COUNTRY_NAME and (len(value) != 2 or not value.isalpha()):
            raise BadInput(f"country {value!r} must be a two-letter code such as US")
        if len(value) > 64 and oid != NameOID.DOMAIN_COMPONENT:
            raise BadInput(f"subject attribute {key} is longer than 64 characters")
        attributes.append(x509.NameAttribute(oid, value))
    return x509.Name(attributes)


def render_subject(name: x509.Name) -> str:
    """The inverse of :func:`parse_subject`, most significant attribute last (as typed)."""
    parts = []
    for attribute in name:
        key = _ATTRIBUTE_NAMES.get(attribute.oid, attribute.oid.dotted_string)
        value = str(attribute.value).replace("\\", "\\\\").replace(",", "\\,")
        parts.append(f"{key}={value}")
    return ",".join(parts)


def common_name(name: x509.Name) -> str | None:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else None


def normalize_dns_name(name: str, *, allow_wildcard: bool = True) -> str:
    """Lower-case A-label form of a DNS name; refuses anything RFC 1035/5890 would not carry."""
    text = name.strip().rstrip(".").lower()
    if not text:
        raise BadInput("empty DNS name")
    ascii_name = text if text.isascii() else _to_a_labels(name, text)
    if len(ascii_name) > 253:
        raise BadInput(f"DNS name {name!r} is longer than 253 characters")
    labels = ascii_name.split(".")
    # RFC 1123 2.1 / RFC 3696 2: a top-level label is never all-numeric, so such a name is an
    # address written as a name; certificates and ACME carry addresses as IP identifiers.
    if _is_ip(ascii_name):
        raise BadInput(f"{name!r} is an IP address, not a DNS name: use IP:{name.strip()}")
    if labels[-1].isdigit():
        raise BadInput(f"DNS name {name!r} has an all-numeric top-level label")
    for index, label in enumerate(labels):
        if label == "*" and index == 0 and allow_wildcard and len(labels) > 1:
            continue
        if not _LABEL.fullmatch(label):  # not match: its $ also matches before a final newline
            raise BadInput(f"DNS name {name!r} has an invalid label {label!r}")
        if label.startswith("xn--"):
            try:
                idna.decode(label)
            except UnicodeError as exc:  # idna.IDNAError is one
                raise BadInput(f"DNS name {name!r} has an invalid A-label {label!r}") from exc
    return ascii_name


def _to_a_labels(name: str, text: str) -> str:
    """IDNA 2008 with the UTS 46 mapping, as browsers and CAs convert names; Python's own
    "idna" codec is IDNA 2003 and turns some names into others (faß -> fass)."""
    wildcard, rest = ("*.", text[2:]) if text.startswith("*.") else ("", text)
    try:
        return wildcard + idna.encode(rest, uts46=True).decode("ascii")
    except UnicodeError as exc:
        raise BadInput(f"DNS name {name!r} is not a valid internationalised name") from exc


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError as exc:
        raise BadInput(f"{text!r} is not an IP address") from exc
    if getattr(address, "scope_id", None):
        raise BadInput(
            f"IP address {text!r} has a zone (%{address.scope_id}): a certificate cannot hold one"
        )
    return address


def parse_san(text: str) -> x509.GeneralName:
    """``DNS:name``, ``IP:addr``, ``email:addr``, ``URI:uri``; a bare value is typed by its
    shape (an IP, an address with @, a URI with ://, otherwise a DNS name)."""
    value = text.strip()
    kind, sep, rest = value.partition(":")
    prefix = kind.lower() if sep else ""
    if prefix in ("dns", "ip", "email", "uri"):
        value = rest.strip()
    else:
        prefix = _guess_san_type(value)
    if not value:
        raise BadInput(f"SAN {text!r} has no value")
    if prefix == "dns":
        return x509.DNSName(normalize_dns_name(value))
    if prefix == "ip":
        return x509.IPAddress(parse_ip(value))
    if prefix == "email":
        local, at, domain = value.rpartition("@")
        if not at or not local or "@" in local or any(c.isspace() for c in value):
            raise BadInput(f"email SAN {value!r} is not an address such as ops@example.org")
        return x509.RFC822Name(f"{local}@{normalize_dns_name(domain, allow_wildcard=False)}")
    scheme, colon, _ = value.partition(":")
    if not colon or not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*$", scheme) or " " in value:
        raise BadInput(f"URI SAN {value!r} is not an absolute URI such as spiffe://org/svc")
    return x509.UniformResourceIdentifier(value)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def _guess_san_type(value: str) -> str:
    if _is_ip(value):
        return "ip"
    if "://" in value:
        return "uri"
    if "@" in value:
        return "email"
    return "dns"


def host_in_common_name(name: x509.Name) -> x509.GeneralName | None:
    """The CN as a DNS name or IP when it is one (``api.corp.example``), so policy and name
    constraints see it too; None for a CN that names a person or service ("Build Agent")."""
    cn = common_name(name)
    if not cn or " " in cn or "@" in cn or "://" in cn:
        return None
    try:
        if _guess_san_type(cn) == "ip":
            return x509.IPAddress(parse_ip(cn))
        if "." not in cn.strip("."):
            return None
        return x509.DNSName(normalize_dns_name(cn))
    except BadInput:
        return None


def parse_sans(texts: Iterable[str]) -> list[x509.GeneralName]:
    """Parse and de-duplicate, keeping the order given."""
    seen: list[x509.GeneralName] = []
    for text in texts:
        name = parse_san(text)
        if name not in seen:
            seen.append(name)
    return seen


def san_type(name: x509.GeneralName) -> str:
    if isinstance(name, x509.DNSName):
        return "dns"
    if isinstance(name, x509.IPAddress):
        return "ip"
    if isinstance(name, x509.RFC822Name):
        return "email"
    if isinstance(name, x509.UniformResourceIdentifier):
        return "uri"
    return "other"


def render_san(name: x509.GeneralName) -> str:
    prefix = {"dns": "DNS", "ip": "IP", "email": "email", "uri": "URI"}.get(san_type(name))
    if prefix is None:
        return f"other:{name.value!r}"
    return f"{prefix}:{name.value}"


def sans_of(cert: x509.Certificate | x509.CertificateSigningRequest) -> list[x509.GeneralName]:
    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return list(extension.value)
