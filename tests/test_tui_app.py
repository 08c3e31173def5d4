"""The workbench shell: first run, unlocking, the certificates table, the tree and the detail."""

from __future__ import annotations

from cryptography import x509
from textual.widgets import DataTable

from stepui.app import PasswordBox, StepuiApp
from stepui.screens.certificates import CertificatesScreen
from stepui.screens.detail import DetailScreen
from stepui.screens.setup import FirstRunScreen, PasswordScreen
from stepui.widgets.cert_table import CertificateTable
from tests.tui_fixtures import FIXTURE_CERTS, Clock, build_app, open_authority

SIZE = (100, 30)


async def wait_for(pilot, condition, attempts: int = 400) -> None:
    """Let workers and messages run until ``condition()`` holds (no wall-clock asserts)."""
    for _ in range(attempts):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition never held")


async def test_first_run_creates_a_dev_ca_and_a_localhost_certificate(tmp_path):
    app = build_app(tmp_path, seeded=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, FirstRunScreen))
        await pilot.click("#create")
        await wait_for(pilot, lambda: app.screen.created)
        text = str(app.screen.query_one("#first-run-text").render())
        assert str(tmp_path / "certs" / "root_ca.crt") in text
        assert "update-ca-certificates" in text or "add-trusted-cert" in text
        assert str(tmp_path / "secrets" / "localhost.key") in text
        if "update-ca-certificates" in text:  # stepui's own installer comes first
            assert text.index("cert install --trust") < text.index("update-ca-certificates")
            assert "--dry-run" in text
        continue_button = app.screen.query_one("#continue")
        await wait_for(pilot, lambda: app.focused is continue_button)
        assert not app.screen.query_one("#create").display
        await pilot.press("enter")  # the real key, at once: no pause after the worker
        await wait_for(pilot, lambda: isinstance(app.screen, CertificatesScreen))
        await wait_for(pilot, lambda: app.screen.query_one(CertificateTable).total == 1)
    authority = app.authority
    assert authority.initialized
    assert not any(ca.key_encrypted for ca in authority.authorities())
    cert = x509.load_pem_x509_certificate((tmp_path / "certs" / "localhost.crt").read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(v) for v in sans.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    assert (tmp_path / "secrets" / "localhost.key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "secrets").stat().st_mode & 0o777 == 0o700
    assert not (tmp_path / "certs" / "localhost.key").exists()  # certs/ holds public PEMs


async def test_first_run_continue_answers_a_click(tmp_path):
    app = build_app(tmp_path, seeded=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, FirstRunScreen))
        await pilot.press("enter")  # the name field has focus: enter creates
        await wait_for(pilot, lambda: app.screen.created)
        assert await pilot.click("#continue")
        await wait_for(pilot, lambda: isinstance(app.screen, CertificatesScreen))
    assert app.authority.initialized


async def test_an_encrypted_ca_asks_for_its_password_once(tmp_path):
    clock = Clock()
    setup = open_authority(tmp_path, clock, PasswordBox(b"s3cret"))
    setup.init("Locked")
    setup.close()
    box = PasswordBox()
    app = StepuiApp(open_authority(tmp_path, clock, box), password_box=box)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, PasswordScreen))
        await pilot.click("#password")
        await pilot.press(*"wrong", "enter")
        await wait_for(pilot, lambda: any("wrong" in n.message for n in app._notifications))
        assert isinstance(app.screen, PasswordScreen)
        app.screen.query_one("#password").value = "s3cret"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CertificatesScreen))
    assert box.value == b"s3cret"


async def test_filter_state_and_sort_query_the_store(tmp_path):
    app = build_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(CertificateTable)
        assert table.total == len(FIXTURE_CERTS)
        await pilot.press("slash", *"mail.int", "enter")
        await wait_for(pilot, lambda: table.total == 1)
        assert table.current.subject == "CN=mail.internal"
        await pilot.press("escape")
        await wait_for(pilot, lambda: table.total == len(FIXTURE_CERTS))
        await pilot.press("f", "f", "f")  # valid -> expiring -> expired
        await wait_for(pilot, lambda: table.filter.state == "expired")
        assert table.total == 2
        assert all(table.record_at(i).not_after <= app.authority.clock() for i in range(2))
        await pilot.press("f")
        assert table.filter.state == "revoked" and table.total == 2
        await pilot.press("escape", "o", "o", "o")  # not after -> status -> requester -> serial
        assert table.sort == "serial"
        serials = [table.record_at(i).serial for i in range(table.total)]
        assert serials == sorted(serials)


async def test_marked_rows_are_what_bulk_actions_get(tmp_path):
    app = build_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(CertificateTable)
        first, second = table.record_at(0).serial, table.record_at(1).serial
        await pilot.press("space", "space")
        assert table.chosen() == sorted([first, second])


async def test_tree_shows_the_hierarchy_with_counts_and_opens_the_table(tmp_path):
    app = build_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("1")
        await pilot.pause()
        tree = app.screen.query_one("#tree")
        root = tree.root.children[0]
        intermediate = root.children[0]
        assert root.label.plain.startswith("Example Root CA")
        assert "2 revoked" in intermediate.label.plain
        assert "2 expired" in intermediate.label.plain
        certs = intermediate.children[0]
        certs.expand()
        await pilot.pause()
        assert len(certs.children) == len(FIXTURE_CERTS)
        tree.move_cursor(intermediate)
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, CertificatesScreen))
        await wait_for(pilot, lambda: app.screen.query_one(CertificateTable).filter.ca_id)
        assert app.screen.query_one(CertificateTable).filter.ca_id == app.authority.authority().id


async def test_detail_shows_inspect_pem_chain_and_history(tmp_path):
    app = build_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        record = app.screen.query_one(CertificateTable).current
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen))
        screen = app.screen
        assert "Serial Number" in str(screen.query_one("#inspect-text").render())
        assert "BEGIN CERTIFICATE" in str(screen.query_one("#pem-text").render())
        chain = str(screen.query_one("#chain-text").render())
        assert "Example Intermediate CA" in chain and "Root CA Certificate" in chain
        history = screen.query_one("#history-table")
        assert history.row_count >= 1
        await pilot.press("y")
        assert app.clipboard == record.pem
        await pilot.press("e")
        await pilot.pause()
        target = tmp_path / "out.der"
        app.screen.query_one("#format").value = "der"
        await pilot.pause()
        app.screen.query_one("#path").value = str(target)
        await pilot.press("ctrl+s")
        await wait_for(pilot, target.exists)
    der = x509.load_der_x509_certificate(target.read_bytes())
    assert format(der.serial_number, "x") == record.serial


async def test_help_shows_the_focused_screens_text_and_keys(tmp_path):
    app = build_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        markdown = app.screen.query_one("Markdown")
        assert "Certificates" in markdown.source and "Revoke" in markdown.source


async def test_audit_entry_opens_its_certificate_and_tables_fit_80_columns(tmp_path):
    app = build_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        for key in ("6", "5"):
            await pilot.press(key)
            await pilot.pause()
            table = app.screen.query_one(DataTable)
            assert table.virtual_size.width <= table.scrollable_content_region.width
        newest = app.authority.audit_log(limit=1)[0]
        assert newest.action.startswith("cert.")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen))
        assert app.screen.serial == newest.target
