"""stepui.authority.Authority on a real data dir: init, CA tree, issuance, renew, revoke, CRL,
lookups and events, with an injected clock."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from stepui.authority import Authority, IssueRequest
from stepui.errors import BadCSR, BadInput, Conflict, NotFound, PolicyRefused, WrongPassword
from stepui.events import Event
from stepui.pki.issue import build_csr
from stepui.pki.keys import generate_key, same_key
from stepui.pki.names import parse_san, parse_sans, parse_subject
from stepui.pki.policy import NamePolicy, name_constraints

FIXED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PASSWORD = b"correct horse"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = FIXED

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ca(tmp_path: Path, clock: Clock):
    authority = Authority.open(tmp_path, password=lambda: PASSWORD, clock=clock)
    authority.init("Corp")
    yield authority
    authority.close()


def ext(cert: x509.Certificate, kind: type) -> x509.Extension:
    return cert.extensions.get_extension_for_class(kind)


def state(authority: Authority) -> tuple[int, int, int, list[str]]:
    """What a refused action must leave unchanged: rows and files."""
    db = authority.store.db
    counts = [
        db.query_one(f"SELECT count(*) FROM {table}")[0]
        for table in ("certificates", "authorities", "audit")
    ]
    files = sorted(
        str(p.relative_to(authority.home)) for p in authority.home.rglob("*") if p.is_file()
    )
    files = [f for f in files if not f.startswith("stepui.db")]
    return (*counts, files)  # type: ignore[return-value]


# -- init -------------------------------------------------------------------------------------


def test_init_creates_root_and_intermediate(ca: Authority, tmp_path: Path) -> None:
    root, inter = ca.authorities()
    assert (root.kind, inter.kind) == ("root", "intermediate")
    assert root.name == "Corp Root CA" and inter.name == "Corp Intermediate CA"
    assert inter.parent_id == root.id
    assert ca.authority().id == inter.id and ca.root().id == root.id
    root_cert, inter_cert = ca.ca_certificate(root.id), ca.ca_certificate(inter.id)
    assert ext(root_cert, x509.BasicConstraints).value.path_length == 1
    assert ext(inter_cert, x509.BasicConstraints).value.path_length == 0
    inter_cert.verify_directly_issued_by(root_cert)
    assert root_cert.not_valid_after_utc == FIXED + timedelta(days=3650)
    assert (tmp_path / "certs" / "root_ca.crt").read_text() == root.cert_pem
    assert (tmp_path / "certs" / "intermediate_ca.crt").read_text() == inter.cert_pem
    assert Authority.open(tmp_path).config.default_ca == inter.id  # saved in config.json
    assert [e.action for e in ca.audit_log()] == ["ca.create", "ca.create"]


def test_init_secrets_are_private_and_encrypted(ca: Authority, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    key_files = sorted(secrets.iterdir())
    assert len(key_files) == 2
    for path in key_files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert all(a.key_encrypted for a in ca.authorities())


def test_passwordless_dev_ca_is_unencrypted(tmp_path: Path, clock: Clock) -> None:
    dev = Authority.open(tmp_path, clock=clock)
    dev.init("Dev", passwordless=True)
    for path in (tmp_path / "secrets").iterdir():
        assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert not any(a.key_encrypted for a in dev.authorities())
    # a later CA of a passwordless dev CA stays passwordless
    assert not dev.new_authority("root", "Dev Two").key_encrypted


def test_init_password_rules(tmp_path: Path, clock: Clock) -> None:
    bare = Authority.open(tmp_path, clock=clock)
    with pytest.raises(BadInput, match="password"):
        bare.init("X")
    with pytest.raises(BadInput, match="choose one"):
        Authority.open(tmp_path, password=lambda: b"pw", clock=clock).init("X", passwordless=True)
    with pytest.raises(BadInput, match="empty"):
        bare.init("  ", passwordless=True)
    assert bare.authorities() == []
    assert list((tmp_path / "secrets").iterdir()) == []
    assert not (tmp_path / "config.json").exists()


def test_init_with_subject_fields(tmp_path: Path, clock: Clock) -> None:
    authority = Authority.open(tmp_path, clock=clock)
    root, _ = authority.init("Acme, Inc", country="US", organization="Acme, Inc", passwordless=True)
    subject = authority.ca_certificate(root.id).subject
    assert subject == parse_subject(r"CN=Acme\, Inc Root CA,C=US,O=Acme\, Inc")


def test_reinit_conflicts_and_force_keeps_old_cas(ca: Authority) -> None:
    before = state(ca)
    with pytest.raises(Conflict, match="--force"):
        ca.init("Again")
    assert state(ca) == before
    old_root, old_inter = ca.authorities()
    root, inter = ca.init("Corp", force=True)
    assert len(ca.authorities()) == 4
    assert {root.id, inter.id}.isdisjoint({old_root.id, old_inter.id})
    assert ca.authority().id == inter.id
    assert ca.authority(old_inter.id).cert_pem == old_inter.cert_pem


# -- the CA tree ------------------------------------------------------------------------------


def test_new_root_and_intermediate(ca: Authority) -> None:
    root = ca.new_authority("root", "Second Root")
    assert root.kind == "root" and root.parent_id is None and root.key_encrypted
    assert ext(ca.ca_certificate(root.id), x509.BasicConstraints).value.path_length == 1
    sub = ca.new_authority("intermediate", "Second Sub", parent=root.id)
    sub_cert = ca.ca_certificate(sub.id)
    assert sub.parent_id == root.id
    assert ext(sub_cert, x509.BasicConstraints).value.path_length == 0
    sub_cert.verify_directly_issued_by(ca.ca_certificate(root.id))
    leaf = ca.issue(IssueRequest(sans=["a.example"], ca=sub.id))
    assert ca.chains(sub.id) == [[sub_cert]]
    assert leaf.chain == [sub_cert]


def test_path_length_is_enforced(ca: Authority) -> None:
    before = state(ca)
    with pytest.raises(PolicyRefused, match="path length 0"):
        ca.new_authority("intermediate", "Too Deep", parent=ca.authority().id)
    with pytest.raises(PolicyRefused, match="exceeds"):
        ca.new_authority("intermediate", "Too Long", path_len=1)
    with pytest.raises(BadInput):
        ca.new_authority("intermediate", "Negative", path_len=-1)
    with pytest.raises(BadInput):
        ca.new_authority("leaf", "Wrong kind")
    with pytest.raises(BadInput):
        ca.new_authority("root", "Root with parent", parent=ca.root().id)
    with pytest.raises(NotFound):
        ca.new_authority("intermediate", "Orphan", parent="nope")
    assert state(ca) == before


def test_an_intermediate_does_not_outlive_its_parent(ca: Authority, clock: Clock) -> None:
    clock.now = FIXED + timedelta(days=3000)
    sub = ca.new_authority("intermediate", "Late")
    assert sub.not_after == ca.root().not_after


def test_name_constraints_are_enforced_at_issuance(ca: Authority, tmp_path: Path) -> None:
    constrained = ca.new_authority(
        "intermediate",
        "Lab CA",
        constraints=name_constraints(permitted_dns=["lab.example"], excluded_ip=["10.9.0.0/16"]),
    )
    ok = ca.issue(IssueRequest(sans=["db.lab.example", "IP:10.1.1.1"], ca=constrained.id))
    assert ok.record.sans == ("DNS:db.lab.example", "IP:10.1.1.1")
    before = state(ca)
    for sans in (["www.other.example"], ["IP:10.9.1.1"], ["a.lab.example", "evil.example"]):
        with pytest.raises(PolicyRefused):
            ca.issue(IssueRequest(sans=sans, ca=constrained.id), out_dir=tmp_path / "out")
    assert state(ca) == before
    assert not (tmp_path / "out").exists()


def test_per_ca_policy(ca: Authority) -> None:
    policy = NamePolicy.from_dict({"allow": {"dns": ["*.corp.example"]}})
    ca.set_policy(ca.authority().id, policy)
    assert ca.authority().policy == policy.to_dict()
    ca.issue(IssueRequest(sans=["api.corp.example"]))
    before = state(ca)
    with pytest.raises(PolicyRefused, match="not allowed"):
        ca.issue(IssueRequest(sans=["a.b.corp.example"]))
    with pytest.raises(PolicyRefused, match="allows no ip"):
        ca.issue(IssueRequest(sans=["IP:10.0.0.1"]))
    extra = NamePolicy.from_dict({"deny": {"dns": ["api.corp.example"]}})
    with pytest.raises(PolicyRefused, match="provisioner"):
        ca.issue(IssueRequest(sans=["api.corp.example"], policy=extra))
    assert state(ca) == before
    sub = ca.new_authority(
        "root", "Policy Root", policy=NamePolicy.from_dict({"deny": {"dns": [".bad.example"]}})
    )
    assert ca.authority(sub.id).policy == {"allow": {}, "deny": {"dns": [".bad.example"]}}


# -- issuance ---------------------------------------------------------------------------------


def test_issue_with_generated_key(ca: Authority, clock: Clock) -> None:
    issued = ca.issue(IssueRequest(subject="CN=api", sans=["api.example", "IP:127.0.0.1"]))
    cert = issued.certificate
    assert issued.key is not None and same_key(issued.key, cert.public_key())
    assert cert.not_valid_after_utc == FIXED + timedelta(hours=24)
    assert cert.not_valid_before_utc == FIXED - timedelta(minutes=1)
    inter_cert = ca.ca_certificate()
    cert.verify_directly_issued_by(inter_cert)
    assert issued.chain == [inter_cert]
    record = ca.certificate(issued.serial)
    assert record == issued.record
    assert record.sans == ("DNS:api.example", "IP:127.0.0.1")
    assert record.subject == "CN=api" and record.template == "tls-server"
    assert record.ca_id == ca.authority().id and record.key_type == "ec-p256"
    crl_url = ext(cert, x509.CRLDistributionPoints).value[0].full_name[0].value
    assert crl_url == f"https://127.0.0.1:8443/crl/{ca.authority().id}.crl"
    assert int(issued.serial, 16) == cert.serial_number
    assert [e.action for e in ca.audit_log(issued.serial)] == ["cert.issue"]


def test_issue_with_public_key_returns_no_key(ca: Authority) -> None:
    key = generate_key("ed25519")
    issued = ca.issue(IssueRequest(sans=["a.example"], public_key=key.public_key()))
    assert issued.key is None
    assert same_key(issued.certificate.public_key(), key)
    assert issued.record.key_type == "ed25519"


def test_issue_from_csr(ca: Authority) -> None:
    key = generate_key()
    csr = x509.load_pem_x509_csr(
        build_csr(parse_subject("CN=svc"), key, parse_sans(["svc.example", "IP:10.0.0.2"]))
    )
    issued = ca.issue(IssueRequest(csr=csr))
    assert issued.record.subject == "CN=svc"
    assert issued.record.sans == ("DNS:svc.example", "IP:10.0.0.2")
    assert issued.key is None and same_key(issued.certificate.public_key(), key)
    assert not ext(issued.certificate, x509.BasicConstraints).value.ca  # the CSR's CA:TRUE ignored


def test_cn_only_csr_becomes_a_san(ca: Authority) -> None:
    key = generate_key()
    csr = x509.load_pem_x509_csr(build_csr(parse_subject("CN=only.example"), key))
    issued = ca.issue(IssueRequest(csr=csr))
    assert list(ext(issued.certificate, x509.SubjectAlternativeName).value) == [
        x509.DNSName("only.example")
    ]


def test_request_sans_override_csr_sans(ca: Authority) -> None:
    key = generate_key()
    csr = x509.load_pem_x509_csr(build_csr(parse_subject("CN=a"), key, parse_sans(["a.example"])))
    issued = ca.issue(IssueRequest(csr=csr, sans=["b.example", parse_san("b.example")]))
    assert issued.record.sans == ("DNS:b.example",)


def test_names_are_required(ca: Authority) -> None:
    before = state(ca)
    with pytest.raises(BadInput, match="subject or at least one SAN"):
        ca.issue(IssueRequest())
    with pytest.raises(BadInput):
        ca.issue(IssueRequest(subject="CN=bad_name!"))  # the CN would become a bad DNS SAN
    with pytest.raises(BadInput):
        ca.issue(IssueRequest(sans=["DNS:-x.example"]))
    with pytest.raises(BadInput):
        ca.issue(IssueRequest(subject="XX=1", sans=["a.example"]))
    with pytest.raises(NotFound):
        ca.issue(IssueRequest(sans=["a.example"], template="nope"))
    with pytest.raises(NotFound):
        ca.issue(IssueRequest(sans=["a.example"], ca="nope"))
    with pytest.raises(PolicyRefused, match="for CAs"):
        ca.issue(IssueRequest(sans=["a.example"], template="intermediate"))
    assert state(ca) == before


def test_lifetimes(ca: Authority, clock: Clock) -> None:
    issued = ca.issue(IssueRequest(sans=["a.example"], lifetime=timedelta(days=90)))
    assert issued.certificate.not_valid_after_utc == FIXED + timedelta(days=90)
    start = FIXED + timedelta(days=1)
    later = ca.issue(
        IssueRequest(sans=["a.example"], not_before=start, not_after=start + timedelta(hours=2))
    )
    assert later.certificate.not_valid_before_utc == start
    assert later.certificate.not_valid_after_utc == start + timedelta(hours=2)
    before = state(ca)
    with pytest.raises(PolicyRefused, match="exceeds the maximum"):
        ca.issue(IssueRequest(sans=["a.example"], lifetime=timedelta(days=91)))
    with pytest.raises(PolicyRefused, match="exceeds the maximum 1h"):
        ca.issue(
            IssueRequest(
                sans=["a.example"], lifetime=timedelta(hours=2), max_lifetime=timedelta(hours=1)
            )
        )
    with pytest.raises(BadInput, match="before it starts"):
        ca.issue(IssueRequest(sans=["a.example"], not_after=FIXED - timedelta(hours=1)))
    clock.now = ca.ca_certificate().not_valid_after_utc - timedelta(hours=1)
    with pytest.raises(PolicyRefused, match="outlive its issuer"):
        ca.issue(IssueRequest(sans=["a.example"]))
    assert state(ca) == before


def test_template_defaults_and_caps(ca: Authority) -> None:
    ca.add_template(
        {
            "name": "short",
            "default_validity": "2h",
            "max_validity": "4h",
            "allowed_san_types": ["dns"],
        }
    )
    issued = ca.issue(IssueRequest(sans=["a.example"], template="short"))
    assert issued.certificate.not_valid_after_utc == FIXED + timedelta(hours=2)
    with pytest.raises(PolicyRefused, match="exceeds"):
        ca.issue(IssueRequest(sans=["a.example"], template="short", lifetime=timedelta(hours=5)))
    assert "short" in [t.name for t in ca.templates()]
    with pytest.raises(PolicyRefused):
        ca.remove_template("tls-server")
    ca.remove_template("short")
    with pytest.raises(NotFound):
        ca.issue(IssueRequest(sans=["a.example"], template="short"))


def test_weak_rsa_csr_is_bad_csr(ca: Authority) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    csr = x509.load_pem_x509_csr(build_csr(parse_subject("CN=weak.example"), key))
    before = state(ca)
    with pytest.raises(BadCSR) as caught:
        ca.issue(IssueRequest(csr=csr))
    assert caught.value.acme_type == "badCSR"
    with pytest.raises(BadInput, match="at least 2048"):
        ca.issue(IssueRequest(sans=["a.example"], public_key=key.public_key()))
    assert state(ca) == before


def test_template_restricts_san_types(ca: Authority) -> None:
    before = state(ca)
    with pytest.raises(PolicyRefused, match="does not allow email"):
        ca.issue(IssueRequest(sans=["a.example", "email:a@example.org"]))
    with pytest.raises(PolicyRefused, match="does not allow dns"):
        ca.issue(IssueRequest(sans=["a.example"], template="email"))
    assert state(ca) == before
    mail = ca.issue(IssueRequest(sans=["email:a@example.org"], template="email"))
    assert mail.record.sans == ("email:a@example.org",)


def test_out_dir_files(ca: Authority, tmp_path: Path) -> None:
    out = tmp_path / "out"
    issued = ca.issue(IssueRequest(sans=["web.example"], name="web"), out_dir=out)
    crt, key = out / "web.crt", out / "web.key"
    certs = x509.load_pem_x509_certificates(crt.read_bytes())
    assert certs == [issued.certificate, ca.ca_certificate()]
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    loaded = serialization.load_pem_private_key(key.read_bytes(), None)
    assert same_key(loaded, issued.certificate.public_key())
    assert sorted(p.name for p in out.iterdir()) == ["web.crt", "web.key"]
    with_key = ca.issue(
        IssueRequest(sans=["b.example"], public_key=generate_key().public_key()), out_dir=out
    )
    assert (out / f"{with_key.serial}.crt").exists()
    assert not (out / f"{with_key.serial}.key").exists()


def test_nothing_written_when_issuance_fails(ca: Authority, tmp_path: Path) -> None:
    out = tmp_path / "out"
    before = state(ca)
    with pytest.raises(PolicyRefused):
        ca.issue(IssueRequest(sans=["a.example"], lifetime=timedelta(days=365)), out_dir=out)
    assert state(ca) == before
    assert not out.exists() or list(out.iterdir()) == []


def test_wrong_ca_password(ca: Authority, tmp_path: Path, clock: Clock) -> None:
    wrong = Authority.open(tmp_path, password=lambda: b"wrong", clock=clock)
    before = state(wrong)
    with pytest.raises(WrongPassword):
        wrong.issue(IssueRequest(sans=["a.example"]), out_dir=tmp_path / "out")
    with pytest.raises(WrongPassword):
        wrong.new_authority("intermediate", "Sub")
    with pytest.raises(WrongPassword):
        wrong.crl()
    assert state(wrong) == before
    assert not (tmp_path / "out").exists()
    missing = Authority.open(tmp_path, clock=clock)
    with pytest.raises(WrongPassword, match="encrypted"):
        missing.issue(IssueRequest(sans=["a.example"]))
    assert state(missing) == before


# -- renew, revoke, CRL -----------------------------------------------------------------------


def test_renew_keeps_names_and_key(ca: Authority, clock: Clock) -> None:
    old = ca.issue(
        IssueRequest(subject="CN=api", sans=["api.example"], lifetime=timedelta(hours=48))
    )
    clock.now = FIXED + timedelta(hours=40)
    new = ca.renew(old.serial)
    assert new.serial != old.serial
    assert new.record.replaces == old.serial
    assert new.record.sans == old.record.sans and new.record.subject == "CN=api"
    assert new.key is None and same_key(new.certificate.public_key(), old.certificate.public_key())
    assert new.certificate.not_valid_after_utc == clock.now + timedelta(hours=48)
    rekeyed = ca.renew(new.serial, rekey=True, key_type="ec-p384")
    assert rekeyed.key is not None
    assert not same_key(rekeyed.certificate.public_key(), old.certificate.public_key())
    assert rekeyed.record.key_type == "ec-p384"


def test_revoke(ca: Authority, clock: Clock) -> None:
    events: list[Event] = []
    ca.events.subscribe(events.append)
    issued = ca.issue(IssueRequest(sans=["a.example"]))
    clock.now = FIXED + timedelta(hours=1)
    record = ca.revoke(issued.serial, "keyCompromise")
    assert record.status == "revoked" and record.revocation_reason == 1
    assert record.revoked_at == clock.now
    assert [e.action for e in ca.audit_log(issued.serial)] == ["cert.revoke", "cert.issue"]
    crl = x509.load_der_x509_crl(ca.crl_path(ca.authority().id).read_bytes())
    assert crl.is_signature_valid(ca.ca_certificate().public_key())
    entry = crl.get_revoked_certificate_by_serial_number(issued.certificate.serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
        x509.ReasonFlags.key_compromise
    )
    assert [e.kind for e in events] == ["cert.issued", "cert.revoked", "crl.generated"]
    before = state(ca)
    with pytest.raises(Conflict) as caught:
        ca.revoke(issued.serial)
    assert caught.value.acme_type == "alreadyRevoked"
    with pytest.raises(BadInput):
        ca.revoke(ca.issue(IssueRequest(sans=["b.example"])).serial, 7)
    with pytest.raises(PolicyRefused, match="revoked"):
        ca.renew(issued.serial)
    with pytest.raises(NotFound):
        ca.revoke("abcdef")
    assert ca.count(status="revoked") == 1
    assert state(ca)[0] == before[0] + 1  # only the b.example issuance was recorded


def test_crl_numbers_and_current_crl(ca: Authority, clock: Clock) -> None:
    first = ca.crl()
    second = ca.crl()
    number = lambda crl: crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number  # noqa: E731
    assert number(second) == number(first) + 1
    assert second.next_update_utc == FIXED + timedelta(hours=24)
    assert x509.load_der_x509_crl(ca.current_crl()) == second  # still fresh: not rebuilt
    clock.now = FIXED + timedelta(hours=25)
    assert number(x509.load_der_x509_crl(ca.current_crl())) == number(second) + 1
    root_crl = x509.load_der_x509_crl(ca.current_crl(ca.root().id))
    assert root_crl.issuer == ca.ca_certificate(ca.root().id).subject


def test_queries_follow_the_clock(ca: Authority, clock: Clock) -> None:
    short = ca.issue(IssueRequest(sans=["short.example"], lifetime=timedelta(hours=1)))
    ca.issue(IssueRequest(sans=["long.example"], lifetime=timedelta(days=30)))
    assert ca.count(status="valid") == 2
    assert [r.serial for r in ca.certificates(expiring_before=FIXED + timedelta(hours=2))] == [
        short.serial
    ]
    assert [r.sans for r in ca.certificates(search="long.ex")] == [("DNS:long.example",)]
    clock.now = FIXED + timedelta(hours=2)
    assert ca.count(status="expired") == 1 and ca.count(status="valid") == 1
    window = ca.renew_window(short.record)
    assert (
        window == short.record.not_after - (short.record.not_after - short.record.not_before) * 0.33
    )
    assert ca.renew_window(short.record, "10m") == short.record.not_after - timedelta(minutes=10)


def test_certificate_lookup_forms(ca: Authority) -> None:
    issued = ca.issue(IssueRequest(sans=["a.example"]))
    number = issued.certificate.serial_number
    text = format(number, "x")
    padded = format(number, "040x")
    colons = ":".join(padded[i : i + 2] for i in range(0, len(padded), 2)).upper()
    for form in (text, text.upper(), "0x" + padded, colons, str(number), f"  {text}  "):
        assert ca.certificate(form).serial == issued.serial, form
    for missing in ("0xdeadbeef", "nothex!", "", "0"):
        with pytest.raises(NotFound):
            ca.certificate(missing)


def test_events_are_published(tmp_path: Path, clock: Clock) -> None:
    authority = Authority.open(tmp_path, password=lambda: PASSWORD, clock=clock)
    events: list[Event] = []
    unsubscribe = authority.events.subscribe(events.append)
    authority.events.subscribe(lambda event: 1 / 0)  # a broken subscriber breaks nothing
    authority.init("Ev")
    issued = authority.issue(IssueRequest(sans=["a.example"]))
    renewed = authority.renew(issued.serial)
    assert [(e.kind, e.data.get("kind")) for e in events[:2]] == [
        ("ca.created", "root"),
        ("ca.created", "intermediate"),
    ]
    assert [e.kind for e in events[2:]] == ["cert.issued", "cert.issued", "cert.renewed"]
    assert events[2].data["serial"] == issued.serial
    assert events[2].data["sans"] == ["DNS:a.example"]
    assert events[4].data == {"serial": renewed.serial, "replaces": issued.serial}
    unsubscribe()
    authority.issue(IssueRequest(sans=["b.example"]))
    assert len(events) == 5


def test_files_modes_of_public_outputs(ca: Authority) -> None:
    ca.crl()
    crl_file = ca.crl_path(ca.authority().id)
    assert stat.S_IMODE(crl_file.stat().st_mode) == 0o644
    assert not [p for p in ca.home.rglob("*.tmp")]
    assert os.access(ca.home / "certs" / "root_ca.crt", os.R_OK)
