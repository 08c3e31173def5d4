"""Forms driven with keys: what they do lands in the database and on disk."""

from __future__ import annotations

import subprocess

from textual.widgets import Input

from stepui.screens.forms.issue import IssueForm
from stepui.screens.forms.revoke import RevokeForm
from stepui.widgets.cert_table import CertificateTable
from tests.test_tui_app import SIZE, wait_for
from tests.tui_fixtures import FIXTURE_CERTS, build_app


def _notified(app, text: str) -> bool:
    return any(text in n.message for n in app._notifications)


async def test_issue_form_writes_a_certificate_that_openssl_verifies(tmp_path):
    app = build_app(tmp_path / "home")
    out = tmp_path / "out"
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, IssueForm))
        await pilot.press(*"CN=new.internal")
        app.screen.query_one("#sans", Input).value = "new.internal 10.1.2.3"
        app.screen.query_one("#out_dir", Input).value = str(out)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, IssueForm))
        table = app.screen.query_one(CertificateTable)
        await wait_for(pilot, lambda: table.total == len(FIXTURE_CERTS) + 1)
    [record] = app.authority.certificates(search="new.internal")
    assert record.sans == ("DNS:new.internal", "IP:10.1.2.3") and record.requester == "tui"
    root = tmp_path / "home" / "certs" / "root_ca.crt"
    chain = tmp_path / "home" / "certs" / "intermediate_ca.crt"
    result = subprocess.run(
        [
            "openssl",
            "verify",
            "-attime",
            str(int(app.authority.clock().timestamp())),
            "-CAfile",
            str(root),
            "-untrusted",
            str(chain),
            str(out / f"{record.serial}.crt"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert (out / f"{record.serial}.key").stat().st_mode & 0o777 == 0o600


async def test_a_refused_issue_keeps_the_form_filled(tmp_path):
    app = build_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, IssueForm))
        form = app.screen
        form.query_one("#sans", Input).value = "ok.internal"
        form.query_one("#lifetime", Input).value = "400d"  # beyond the 90 d maximum
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: _notified(app, "exceeds the maximum"))
        assert app.screen is form
        assert form.query_one("#sans", Input).value == "ok.internal"
    assert app.authority.count() == len(FIXTURE_CERTS)


async def test_san_field_validates_inline(tmp_path):
    app = build_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, IssueForm))
        app.screen.query_one("#sans", Input).value = "email:not-an-address"
        await pilot.pause()
        assert "email" in str(app.screen.query_one("#sans-error").render())
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, IssueForm)


async def test_revoke_changes_status_and_the_crl(tmp_path):
    app = build_app(tmp_path)
    authority = app.authority
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(CertificateTable)
        await pilot.press("f")  # valid only
        await wait_for(pilot, lambda: table.filter.state == "valid")
        serial = table.current.serial
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, RevokeForm))
        await pilot.press("ctrl+s")  # not confirmed yet: refused by the form
        await pilot.pause()
        assert isinstance(app.screen, RevokeForm)
        await pilot.press("space", "ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, RevokeForm))
    assert authority.certificate(serial).status == "revoked"
    crl = authority.current_crl()
    from cryptography import x509

    revoked = {format(e.serial_number, "x") for e in x509.load_der_x509_crl(crl)}
    assert serial in revoked


async def test_bulk_renew_with_revoke_old(tmp_path):
    app = build_app(tmp_path)
    authority = app.authority
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(CertificateTable)
        await pilot.press("f")
        await wait_for(pilot, lambda: table.filter.state == "valid")
        await pilot.press("space", "space")
        marked = table.chosen()
        await pilot.press("r")
        await pilot.pause()
        app.screen.query_one("#revoke_old").value = True
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: _notified(app, "renewed 2 of 2"))
    for serial in marked:
        assert authority.certificate(serial).status == "revoked"
        assert authority.certificates(search=None, name=None) and any(
            r.replaces == serial for r in authority.certificates()
        )


async def test_new_intermediate_and_crl_forms(tmp_path):
    app = build_app(tmp_path)
    authority = app.authority
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("1", "n")
        await pilot.pause()
        app.screen.query_one("#name", Input).value = "Team CA"
        app.screen.query_one("#parent").value = authority.config.root_ca
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: _notified(app, "created intermediate CA Team CA"))
        await pilot.press("l")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: _notified(app, "CRL with 2 entries"))
    team = authority.authority("Team CA")
    assert team.parent_id == authority.config.root_ca
    assert authority.crl_path(authority.config.default_ca).exists()
