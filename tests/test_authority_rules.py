"""Rules a relying party applies that the Authority applies first: path lengths when offering
chains, host names hidden in the CN, revocation reasons, and config sections of the wrong type."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509

from stepui.authority import Authority, IssueRequest
from stepui.config import load_config
from stepui.errors import BadInput, PolicyRefused
from stepui.pki.policy import NamePolicy, name_constraints


@pytest.fixture
def ca(tmp_path: Path):
    authority = Authority.open(tmp_path)
    authority.init("Rules", passwordless=True)
    yield authority
    authority.close()


def _path_len(cert: x509.Certificate) -> int | None:
    return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length


def test_chain_through_a_cross_certificate_too_short_for_it_is_not_offered(ca: Authority) -> None:
    other = ca.new_authority("root", "Other Root", path_len=1)
    cross = ca.cross_sign(ca.root().id, by=other.id)
    assert _path_len(cross) == 0
    inter = ca.authority()
    # The intermediate sits below the root: through the pathLen-0 cross there is no valid path.
    assert len(ca.chains(inter.id)) == 1
    # Certificates signed by the root itself may use the cross path.
    assert [c.serial_number for c in ca.chains(ca.root().id)[1]] == [cross.serial_number]


def test_chain_through_a_long_enough_cross_certificate_is_offered(ca: Authority) -> None:
    other = ca.new_authority("root", "Wide Root", path_len=2)
    cross = ca.cross_sign(ca.root().id, by=other.id)
    chains = ca.chains(ca.authority().id)
    assert len(chains) == 2
    assert chains[1][-1].serial_number == cross.serial_number


def test_host_name_in_common_name_is_checked_against_policy(ca: Authority) -> None:
    ca.set_policy(ca.authority().id, NamePolicy.from_dict({"allow": {"dns": [".corp.test"]}}))
    request = IssueRequest(subject="CN=evil.example", sans=["DNS:api.corp.test"])
    with pytest.raises(PolicyRefused, match="evil.example"):
        ca.issue(request)
    assert ca.count() == 0
    person = ca.issue(IssueRequest(subject="CN=Build Agent", sans=["DNS:ci.corp.test"]))
    assert person.record.subject == "CN=Build Agent"


def test_host_name_in_common_name_is_checked_against_name_constraints(ca: Authority) -> None:
    constrained = ca.new_authority(
        "intermediate", "Corp Only", constraints=name_constraints(permitted_dns=[".corp.test"])
    )
    request = IssueRequest(
        subject="CN=db.elsewhere.test", sans=["DNS:db.corp.test"], ca=constrained.id
    )
    with pytest.raises(PolicyRefused, match="db.elsewhere.test"):
        ca.issue(request)
    # RFC 5280: constraints bind only the name types they list; IPs are not constrained here.
    ca.issue(IssueRequest(subject="CN=10.9.9.9", sans=["DNS:db.corp.test"], ca=constrained.id))


@pytest.mark.parametrize("reason", [7, 8, "removeFromCRL", "bogus"])
def test_unusable_revocation_reasons_are_refused_as_bad_revocation_reason(
    ca: Authority, reason: object
) -> None:
    issued = ca.issue(IssueRequest(subject="CN=api.rules.test"))
    with pytest.raises(BadInput) as refused:
        ca.revoke(issued.serial, reason)  # type: ignore[arg-type]
    assert refused.value.acme_type == "badRevocationReason"
    assert ca.certificate(issued.serial).status == "valid"


@pytest.mark.parametrize("section", ["leaf", "crl", "acme", "provisioners"])
def test_config_section_of_the_wrong_type_names_its_path(tmp_path: Path, section: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({section: []}))
    with pytest.raises(BadInput, match=rf"\$\.{section}: must be an object"):
        load_config(path)


@pytest.mark.parametrize(
    ("san", "message"),
    [
        ("DNS:127.0.0.1", "is an IP address, not a DNS name: use IP:127.0.0.1"),
        ("DNS:10.1.2", "all-numeric top-level label"),
        ("DNS:host.123", "all-numeric top-level label"),
    ],
)
def test_addresses_written_as_dns_names_are_refused(ca: Authority, san: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        ca.issue(IssueRequest(subject="CN=x", sans=[san]))
    assert ca.count() == 0


def test_a_ca_id_never_takes_an_existing_key_file(ca: Authority) -> None:
    existing = ca.home / "secrets" / "localhost.key"
    existing.write_bytes(b"the dev localhost key")
    record = ca.new_authority("root", "localhost")
    assert record.id == "localhost-2"
    assert existing.read_bytes() == b"the dev localhost key"
