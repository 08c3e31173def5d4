"""stepui.pki.names: subjects and SANs as people type them, refused with BadInput when wrong."""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from stepui.errors import BadInput
from stepui.pki import names


def test_subject_with_every_attribute_in_order() -> None:
    text = (
        "CN=api,C=US,ST=California,L=San Francisco,O=My Org,OU=Platform,STREET=1 Main St,"
        "POSTALCODE=94105,SERIALNUMBER=42,emailAddress=ops@example.org,DC=example"
    )
    subject = names.parse_subject(text)
    oids = [a.oid for a in subject]
    assert oids == [
        NameOID.COMMON_NAME,
        NameOID.COUNTRY_NAME,
        NameOID.STATE_OR_PROVINCE_NAME,
        NameOID.LOCALITY_NAME,
        NameOID.ORGANIZATION_NAME,
        NameOID.ORGANIZATIONAL_UNIT_NAME,
        NameOID.STREET_ADDRESS,
        NameOID.POSTAL_CODE,
        NameOID.SERIAL_NUMBER,
        NameOID.EMAIL_ADDRESS,
        NameOID.DOMAIN_COMPONENT,
    ]
    assert names.render_subject(subject) == text
    assert names.parse_subject(names.render_subject(subject)) == subject


def test_subject_escaped_comma_and_backslash_round_trip() -> None:
    subject = names.parse_subject(r"CN=api, O=Acme\, Inc.,OU=a\\b")
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Acme, Inc."
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "a\\b"
    assert names.parse_subject(names.render_subject(subject)) == subject
    assert names.common_name(subject) == "api"


def test_keys_are_case_insensitive_and_equals_in_values_kept() -> None:
    subject = names.parse_subject("cn=x,o=a=b")
    assert names.common_name(subject) == "x"
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "a=b"


@pytest.mark.parametrize(
    ("text", "words"),
    (
        ("", "empty"),
        ("   ", "empty"),
        ("api", "KEY=VALUE"),
        ("CN=a,=b", "KEY=VALUE"),
        ("XX=a", "unknown subject attribute"),
        ("CN=", "empty value"),
        ("CN=a,O= ", "empty value"),
        ("CN=a,C=USA", "two-letter"),
        ("CN=a,C=1A", "two-letter"),
        ("CN=" + "x" * 65, "longer than 64"),
    ),
)
def test_bad_subjects(text: str, words: str) -> None:
    with pytest.raises(BadInput, match=words):
        names.parse_subject(text)


def test_common_name_absent() -> None:
    assert names.common_name(names.parse_subject("O=x")) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    (
        ("DNS:api.example.org", x509.DNSName("api.example.org")),
        ("dns:API.Example.ORG.", x509.DNSName("api.example.org")),
        ("IP:10.0.0.5", x509.IPAddress(ipaddress.ip_address("10.0.0.5"))),
        ("IP:::1", x509.IPAddress(ipaddress.ip_address("::1"))),
        ("ip:[2001:db8::1]", x509.IPAddress(ipaddress.ip_address("2001:db8::1"))),
        ("email:ops@example.org", x509.RFC822Name("ops@example.org")),
        ("URI:spiffe://corp/svc", x509.UniformResourceIdentifier("spiffe://corp/svc")),
        # bare values typed by their shape
        ("api.example.org", x509.DNSName("api.example.org")),
        ("192.168.1.1", x509.IPAddress(ipaddress.ip_address("192.168.1.1"))),
        ("2001:db8::2", x509.IPAddress(ipaddress.ip_address("2001:db8::2"))),
        ("::1", x509.IPAddress(ipaddress.ip_address("::1"))),
        ("ops@example.org", x509.RFC822Name("ops@example.org")),
        ("https://example.org/x", x509.UniformResourceIdentifier("https://example.org/x")),
        # IDN to A-labels, in DNS names and email domains
        ("bücher.example", x509.DNSName("xn--bcher-kva.example")),
        ("xn--bcher-kva.example", x509.DNSName("xn--bcher-kva.example")),
        ("email:a@Bücher.example", x509.RFC822Name("a@xn--bcher-kva.example")),
        # IDNA 2008, not Python's IDNA 2003 codec (which maps faß to fass, another name)
        ("DNS:faß.example", x509.DNSName("xn--fa-hia.example")),
        ("*.Straße.example", x509.DNSName("*.xn--strae-oqa.example")),
        ("*.example.org", x509.DNSName("*.example.org")),
    ),
)
def test_san_parsing(text: str, expected: x509.GeneralName) -> None:
    assert names.parse_san(text) == expected


@pytest.mark.parametrize(
    "text",
    (
        "DNS:",
        "DNS:-api.example.org",
        "DNS:api-.example.org",
        "DNS:" + "a" * 64 + ".example.org",
        "DNS:a..example.org",
        "DNS:xn--zz.example",
        "DNS:xn--.example",
        "DNS:under_score.example",
        "DNS:" + ".".join(["a" * 60] * 5),
        "DNS:*",
        "DNS:a.*.example.org",
        "DNS:*a.example.org",
        "DNS:*.*.example.org",
        "IP:10.0.0.256",
        "IP:not-an-ip",
        "email:@example.org",
        "email:ops",
        "email:o ps@example.org",
        "email:ops@*.example.org",
        "URI:no-scheme",
        "URI:1http://x",
        "URI:https://has space",
    ),
)
def test_bad_sans(text: str) -> None:
    with pytest.raises(BadInput):
        names.parse_san(text)


def test_63_char_label_is_fine() -> None:
    label = "a" * 63
    assert names.parse_san(f"DNS:{label}.example").value == f"{label}.example"


def test_normalize_refuses_wildcard_when_not_allowed() -> None:
    with pytest.raises(BadInput):
        names.normalize_dns_name("*.example.org", allow_wildcard=False)


def test_parse_sans_deduplicates_in_order() -> None:
    parsed = names.parse_sans(["b.example", "DNS:A.example", "a.example", "IP:1.2.3.4"])
    assert [names.render_san(n) for n in parsed] == [
        "DNS:b.example",
        "DNS:a.example",
        "IP:1.2.3.4",
    ]


@pytest.mark.parametrize(
    "text", ("DNS:a.example", "IP:10.1.2.3", "IP:2001:db8::1", "email:x@y.example", "URI:urn:x:y")
)
def test_render_san_round_trips(text: str) -> None:
    name = names.parse_san(text)
    assert names.render_san(name) == text
    assert names.parse_san(names.render_san(name)) == name


def test_san_type_and_sans_of() -> None:
    assert names.san_type(x509.DirectoryName(x509.Name([]))) == "other"
    assert names.render_san(x509.RegisteredID(x509.ObjectIdentifier("1.2.3"))).startswith("other:")
    assert [names.san_type(names.parse_san(t)) for t in ("a.b", "1.1.1.1", "a@b.c", "x://y")] == [
        "dns",
        "ip",
        "email",
        "uri",
    ]
