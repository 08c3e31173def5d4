"""Renewal decisions and in-place renewal of managed certificates, with an injected clock."""

from __future__ import annotations

import argparse
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from stepui.authority import Authority, IssueRequest
from stepui.authority.managed import ManagedCertificates
from stepui.commands.context import Context
from stepui.commands.renew import daemon
from stepui.errors import BadInput, NotFound
from stepui.pki.inspect import load_certificates
from stepui.renewal import Renewer, decide
from tests.support.cli import ok, stepui

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def auth(tmp_path: Path, clock: Clock):
    authority = Authority.open(tmp_path / "home", clock=clock)
    authority.init("Renew", passwordless=True)
    yield authority
    authority.close()


def issue(auth: Authority, out: Path, name: str, lifetime: timedelta = timedelta(hours=24)):
    issued = auth.issue(
        IssueRequest(sans=[f"DNS:{name}.test"], name=name, lifetime=lifetime), out_dir=out
    )
    ManagedCertificates(auth).record_issued(name, issued, out)
    return issued


def public(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def leaf(path: Path) -> x509.Certificate:
    return load_certificates(path.read_bytes())[0]


def cert_for(not_before: datetime, hours: int) -> x509.Certificate:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "w")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(not_before)
        .not_valid_after(not_before + timedelta(hours=hours))
        .sign(key, hashes.SHA256())
    )


# -- decisions -----------------------------------------------------------------------------
def test_percentage_window() -> None:
    cert = cert_for(T0, 24)
    assert not decide("w", cert, T0 + timedelta(hours=15), "33%").due
    due = decide("w", cert, T0 + timedelta(hours=17), "33%")
    assert due.due and "renew-before 33%" in due.reason
    assert due.at == T0 + timedelta(hours=24) - timedelta(hours=24) * 0.33


def test_duration_window_and_expiry() -> None:
    cert = cert_for(T0, 24)
    assert not decide("w", cert, T0 + timedelta(hours=15, minutes=59), "8h").due
    assert decide("w", cert, T0 + timedelta(hours=16), "8h").due
    assert decide("w", cert, T0 + timedelta(hours=25), "1h").reason == "expired"


def test_ari_window_wins_and_picks_a_moment_inside_it() -> None:
    cert = cert_for(T0, 24)
    window = (T0 + timedelta(hours=2), T0 + timedelta(hours=4))
    early = decide("w", cert, T0 + timedelta(hours=3), "8h", window=window, rng=lambda: 0.25)
    assert early.due and early.at == T0 + timedelta(hours=2, minutes=30)
    assert "ARI window" in early.reason
    late = decide("w", cert, T0 + timedelta(hours=3), "8h", window=window, rng=lambda: 0.75)
    assert not late.due  # inside the window, but before the chosen moment


def test_force_is_always_due() -> None:
    assert decide("w", cert_for(T0, 24), T0, "33%", force=True).reason == "forced"


# -- renewing local certificates -----------------------------------------------------------
def test_local_renewal_in_place_keeps_the_key(
    auth: Authority, clock: Clock, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = issue(auth, out, "web")
    key_before = (out / "web.key").read_bytes()

    clock.now = T0 + timedelta(hours=10)
    outcome = Renewer(auth).run(["web"])
    assert outcome.renewed == [] and outcome.failed == []
    assert "not due until" in outcome.skipped[0].reason

    clock.now = T0 + timedelta(hours=20)
    outcome = Renewer(auth).run(["web"])
    assert outcome.renewed == ["web"]
    renewed = leaf(out / "web.crt")
    assert renewed.serial_number != first.certificate.serial_number
    assert public(renewed) == public(first.certificate)
    assert (out / "web.key").read_bytes() == key_before
    assert renewed.not_valid_after_utc == (T0 + timedelta(hours=44)).replace(microsecond=0)
    record = ManagedCertificates(auth).get("web")
    assert record.serial == format(renewed.serial_number, "x")
    assert auth.certificate(record.serial).replaces == first.serial
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_rekey_writes_a_new_key(auth: Authority, clock: Clock, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = issue(auth, out, "web")
    outcome = Renewer(auth, force=True, rekey=True).run(["web"])
    assert outcome.renewed == ["web"]
    assert public(leaf(out / "web.crt")) != public(first.certificate)
    from stepui.pki.keys import load_private_key, same_key

    key = load_private_key((out / "web.key").read_bytes(), None)
    assert same_key(key, leaf(out / "web.crt").public_key())


def test_one_failure_does_not_stop_the_others(
    auth: Authority, clock: Clock, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    issue(auth, out, "a")
    issue(auth, out, "b")
    (out / "a.crt").unlink()
    clock.now = T0 + timedelta(hours=23)
    outcome = Renewer(auth).run()
    assert outcome.renewed == ["b"]
    assert outcome.failed[0][0] == "a" and "cannot read" in outcome.failed[0][1]


def test_unknown_name_and_bad_window(auth: Authority) -> None:
    with pytest.raises(NotFound):
        Renewer(auth).run(["nope"])
    from stepui.authority.managed import check_renew_before

    with pytest.raises(BadInput):
        check_renew_before("150%")


def test_daemon_repeats_until_stopped(auth: Authority, clock: Clock, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = issue(auth, out, "web")
    clock.now = T0 + timedelta(hours=23)
    ctx = Context(str(auth.home), None)
    ctx._authority = auth  # the test's Authority, with its clock
    args = argparse.Namespace(
        renew_before=None, force=False, rekey=False, exec=None, targets=["web"]
    )
    status = daemon(args, ctx, ["web"], 0.01, threading.Event(), runs=2)
    assert status == 0
    renewed = leaf(out / "web.crt")
    assert renewed.serial_number != first.certificate.serial_number  # the first pass renewed
    assert ManagedCertificates(auth).get("web").serial == format(renewed.serial_number, "x")
    # the second pass found the renewed certificate not due any more
    assert leaf(out / "web.crt").not_valid_before_utc >= T0 + timedelta(hours=23) - timedelta(
        minutes=2
    )


# -- the command line ----------------------------------------------------------------------
def test_cli_renew_all_exit_codes_and_exec(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ok(stepui(home, "ca", "init", "Cli", "--no-password", password=None))
    out = tmp_path / "out"
    ok(
        stepui(
            home, "ca", "issue", "api", "--san", "DNS:api.test", "--out", str(out), password=None
        )
    )
    before = leaf(out / "api.crt")
    text = ok(stepui(home, "ca", "renew", "--all", password=None))
    assert "api: not due until" in text
    assert leaf(out / "api.crt") == before

    marker = tmp_path / "hook"
    ok(stepui(home, "ca", "renew", "api", "--force", "--exec", f"touch {marker}", password=None))
    assert marker.exists()
    assert leaf(out / "api.crt").serial_number != before.serial_number

    (out / "api.crt").unlink()
    result = stepui(home, "ca", "renew", "--all", "--force", password=None)
    assert result.returncode == 1
    assert "1 renewal(s) failed" in result.stderr and "api: cannot read" in result.stderr


def test_batch_issuance_records_managed_certificates(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ok(stepui(home, "ca", "init", "Batch", "--no-password", password=None))
    batch = tmp_path / "batch.csv"
    batch.write_text(
        "name,subject,sans,template,validity\none,CN=one.test,,,\ntwo,,DNS:two.test,,\n"
    )
    out = tmp_path / "out"
    ok(stepui(home, "ca", "issue", "--batch", str(batch), "--out", str(out), password=None))
    text = ok(stepui(home, "ca", "renew", "--all", password=None))
    assert "one: not due until" in text and "two: not due until" in text
    before = leaf(out / "two.crt")
    assert ok(stepui(home, "ca", "renew", "two", "--force", password=None)) == "renewed two\n"
    assert leaf(out / "two.crt").serial_number != before.serial_number
