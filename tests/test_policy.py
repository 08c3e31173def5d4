"""stepui.pki.policy: allow/deny rules and RFC 5280 name constraints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509

from stepui.errors import BadInput, PolicyRefused
from stepui.pki.issue import Extras, Signer, build_certificate, new_serial
from stepui.pki.keys import generate_key
from stepui.pki.names import parse_san, parse_subject
from stepui.pki.policy import NamePolicy, check_name_constraints, name_constraints
from stepui.pki.templates import BUILTIN_TEMPLATES

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def allowed(policy: dict[str, Any], san: str) -> bool:
    try:
        NamePolicy.from_dict(policy).check([parse_san(san)])
    except PolicyRefused:
        return False
    return True


@pytest.mark.parametrize(
    ("rule", "san", "expected"),
    (
        ("api.corp.example", "api.corp.example", True),
        ("api.corp.example", "API.corp.example", True),
        ("api.corp.example", "x.api.corp.example", False),
        ("api.corp.example", "corp.example", False),
        ("*.corp.example", "a.corp.example", True),
        ("*.corp.example", "*.corp.example", True),
        ("*.corp.example", "a.b.corp.example", False),
        ("*.corp.example", "corp.example", False),
        ("*.corp.example", "evilcorp.example", False),
        (".corp.example", "a.corp.example", True),
        (".corp.example", "a.b.corp.example", True),
        (".corp.example", "corp.example", False),
        (".corp.example", "xcorp.example", False),
    ),
)
def test_dns_allow_rules(rule: str, san: str, expected: bool) -> None:
    assert allowed({"allow": {"dns": [rule]}}, san) is expected


@pytest.mark.parametrize(
    ("rule", "san", "expected"),
    (
        ("10.0.0.0/8", "IP:10.200.3.4", True),
        ("10.0.0.0/8", "IP:11.0.0.1", False),
        ("192.168.1.7", "IP:192.168.1.7", True),
        ("192.168.1.7", "IP:192.168.1.8", False),
        ("10.0.0.0/8", "IP:::ffff:10.0.0.1", False),
        ("2001:db8::/32", "IP:2001:db8::5", True),
        ("2001:db8::/32", "IP:2001:db9::5", False),
    ),
)
def test_ip_allow_rules(rule: str, san: str, expected: bool) -> None:
    assert allowed({"allow": {"ip": [rule]}}, san) is expected


@pytest.mark.parametrize(
    ("rule", "san", "expected"),
    (
        ("ops@corp.example", "email:ops@corp.example", True),
        ("ops@corp.example", "email:dev@corp.example", False),
        ("corp.example", "email:anyone@corp.example", True),
        ("corp.example", "email:anyone@sub.corp.example", False),
        (".corp.example", "email:anyone@sub.corp.example", True),
        (".corp.example", "email:anyone@corp.example", False),
    ),
)
def test_email_allow_rules(rule: str, san: str, expected: bool) -> None:
    assert allowed({"allow": {"email": [rule]}}, san) is expected


def test_uri_prefix_rules() -> None:
    policy = {"allow": {"uri": ["spiffe://corp.example/"]}}
    assert allowed(policy, "URI:spiffe://corp.example/svc/a")
    assert not allowed(policy, "URI:spiffe://corp.example.evil/svc")


def test_deny_wins_and_allow_lists_close_other_kinds() -> None:
    policy = {"allow": {"dns": [".corp.example"]}, "deny": {"dns": ["secret.corp.example"]}}
    assert allowed(policy, "a.corp.example")
    with pytest.raises(PolicyRefused, match="denied"):
        NamePolicy.from_dict(policy).check([parse_san("secret.corp.example")], "test")
    with pytest.raises(PolicyRefused, match="allows no ip"):
        NamePolicy.from_dict(policy).check([parse_san("IP:10.0.0.1")])
    assert allowed({"deny": {"ip": ["10.0.0.0/8"]}}, "any.example")
    assert not allowed({"deny": {"ip": ["10.0.0.0/8"]}}, "IP:10.1.1.1")
    assert allowed({}, "anything.example")


def test_policy_dict_round_trip() -> None:
    data = {"allow": {"dns": ["*.a.example"], "ip": ["10.0.0.0/8"]}, "deny": {"email": ["x.y"]}}
    policy = NamePolicy.from_dict(data)
    assert NamePolicy.from_dict(policy.to_dict()) == policy
    assert NamePolicy.from_dict(None) == NamePolicy()


@pytest.mark.parametrize(
    ("data", "where"),
    (
        ([], "$.p must be"),
        ({"permit": {}}, "$.p must be"),
        ({"allow": {"fqdn": ["a"]}}, "$.p.allow keys"),
        ({"allow": {"dns": "a.example"}}, "$.p.allow.dns must be a list"),
        ({"allow": {"dns": ["-bad.example"]}}, "$.p.allow.dns"),
        ({"deny": {"ip": ["10.0.0.0/33"]}}, "$.p.deny.ip"),
        ({"deny": {"uri": ["corp.example"]}}, "$.p.deny.uri"),
        ({"deny": {"email": [" "]}}, "$.p.deny.email"),
    ),
)
def test_policy_validation_names_the_path(data: Any, where: str) -> None:
    with pytest.raises(BadInput) as caught:
        NamePolicy.from_dict(data, where="$.p")
    assert where in caught.value.message


def test_name_constraints_builder() -> None:
    assert name_constraints() is None
    nc = name_constraints(
        permitted_dns=["Corp.Example", ".lab.example"],
        excluded_ip=["10.9.0.0/16"],
        permitted_email=["corp.example"],
    )
    assert nc is not None
    assert x509.DNSName("corp.example") in nc.permitted_subtrees
    assert x509.DNSName(".lab.example") in nc.permitted_subtrees
    assert x509.RFC822Name("corp.example") in nc.permitted_subtrees
    assert [t.value.with_prefixlen for t in nc.excluded_subtrees] == ["10.9.0.0/16"]
    with pytest.raises(BadInput, match="CIDR"):
        name_constraints(permitted_ip=["10.0.0.0/40"])
    with pytest.raises(BadInput):
        name_constraints(permitted_dns=["bad_label.example"])


def _ca(constraints: x509.NameConstraints | None, signer: Signer | None = None) -> Signer:
    key = generate_key()
    cert = build_certificate(
        subject=parse_subject(f"CN=CA {new_serial()}"),
        public_key=key.public_key(),
        template=BUILTIN_TEMPLATES["intermediate" if signer else "root"],
        not_before=NOW,
        not_after=NOW + timedelta(days=30),
        serial=new_serial(),
        signer=signer,
        self_key=key,
        extras=Extras(name_constraints=constraints),
    )
    return Signer(cert, key)


def ok(sans: list[str], chain: list[x509.Certificate]) -> bool:
    try:
        check_name_constraints([parse_san(s) for s in sans], chain)
    except PolicyRefused:
        return False
    return True


def test_permitted_dns_base_covers_itself_and_subdomains() -> None:
    ca = _ca(name_constraints(permitted_dns=["corp.example"])).certificate
    assert ok(["corp.example", "a.corp.example", "a.b.corp.example"], [ca])
    assert ok(["*.corp.example", "*.x.corp.example"], [ca])
    assert not ok(["evilcorp.example"], [ca])
    assert not ok(["*.example"], [ca])
    # a constraint on DNS names says nothing about IP names
    assert ok(["IP:10.1.1.1"], [ca])


def test_leading_dot_base_covers_only_subdomains() -> None:
    ca = _ca(name_constraints(permitted_dns=[".corp.example"])).certificate
    assert ok(["a.corp.example", "*.corp.example"], [ca])
    assert not ok(["corp.example"], [ca])


def test_excluded_dns_and_ip() -> None:
    ca = _ca(
        name_constraints(
            excluded_dns=["secret.corp.example"],
            permitted_ip=["10.0.0.0/8"],
            excluded_ip=["10.9.0.0/16"],
        )
    ).certificate
    assert ok(["a.corp.example", "IP:10.1.2.3"], [ca])
    assert not ok(["secret.corp.example"], [ca])
    assert not ok(["x.secret.corp.example"], [ca])
    assert not ok(["*.secret.corp.example"], [ca])
    assert not ok(["IP:10.9.0.1"], [ca])
    assert not ok(["IP:192.168.0.1"], [ca])
    # permitted IP subtrees hold only IPv4 here, so no IPv6 address is permitted (as in Go)
    assert not ok(["IP:2001:db8::1"], [ca])


def test_ipv6_constraints() -> None:
    ca = _ca(name_constraints(permitted_ip=["2001:db8::/32"])).certificate
    assert ok(["IP:2001:db8:1::1"], [ca])
    assert not ok(["IP:2001:db9::1"], [ca])
    assert not ok(["IP:10.0.0.1"], [ca])


def test_email_constraints() -> None:
    ca = _ca(name_constraints(permitted_email=["corp.example"])).certificate
    assert ok(["email:a@corp.example"], [ca])
    assert not ok(["email:a@other.example"], [ca])


def test_every_ca_in_the_chain_is_enforced() -> None:
    root = _ca(name_constraints(permitted_dns=["corp.example"]))
    inner = _ca(name_constraints(excluded_dns=["lab.corp.example"]), signer=root)
    chain = [inner.certificate, root.certificate]
    assert ok(["www.corp.example"], chain)
    with pytest.raises(PolicyRefused, match="excluded by"):
        check_name_constraints([parse_san("x.lab.corp.example")], chain)
    with pytest.raises(PolicyRefused, match="outside"):
        check_name_constraints([parse_san("www.other.example")], chain)
    assert ok(["www.other.example"], [_ca(None).certificate])
