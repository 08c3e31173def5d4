"""Adversarial probes of the workbench as an operator at a console drives it: bad input in
every form, double submits, cancels, odd terminal sizes, odd filters, the server panel."""

from __future__ import annotations

import logging
import socket
import sys
import threading
from dataclasses import replace
from datetime import timedelta

import pytest
from textual.widgets import Input, RichLog, Select

from stepui.app import PasswordBox
from stepui.authority.service import Authority
from stepui.cli import main
from stepui.screens.authorities import AuthoritiesScreen
from stepui.screens.certificates import CertificatesScreen
from stepui.screens.detail import DetailScreen
from stepui.screens.forms.base import FormScreen
from stepui.screens.forms.crl import CrlForm
from stepui.screens.forms.cross_sign import CrossSignForm
from stepui.screens.forms.export import ExportForm
from stepui.screens.forms.import_ import ImportForm
from stepui.screens.forms.issue import IssueForm
from stepui.screens.forms.new_ca import NewAuthorityForm
from stepui.screens.forms.renew import RenewForm
from stepui.screens.forms.revoke import RevokeForm
from stepui.screens.server import ServerScreen
from stepui.screens.setup import FirstRunScreen
from stepui.screens.timeline import TimelineScreen
from stepui.widgets.ca_tree import CaTree
from stepui.widgets.cert_table import CertificateTable, TableFilter
from stepui.widgets.navbar import NavBar
from stepui.widgets.timeline import Timeline
from tests.test_tui_app import SIZE, wait_for
from tests.tui_fixtures import FIXTURE_CERTS, build_app


def _notified(app, text: str) -> bool:
    return any(text in n.message for n in app._notifications)


async def _open(pilot, keys: tuple[str, ...], form_type: type[FormScreen]) -> FormScreen:
    await pilot.press(*keys)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, form_type))
    await pilot.pause()  # composed and mounted
    return pilot.app.screen


def _fill(form: FormScreen, **values: str) -> None:
    for name, value in values.items():
        form.query_one(f"#{name}", Input).value = value


async def _refused_each(pilot, keys, form_type, probes, prepare=None) -> None:
    """Each probe in a fresh form of one app session: typed, submitted, refused, kept."""
    for values in probes:
        pilot.app.clear_notifications()
        form = await _open(pilot, keys, form_type)
        if prepare is not None:
            prepare(form)
        _fill(form, **values)
        await pilot.press("ctrl+s")
        await _refused(pilot, form)
        for name, value in values.items():
            assert form.query_one(f"#{name}", Input).value == value, values
        await pilot.press("escape")
        await wait_for(pilot, lambda form=form: pilot.app.screen is not form)


async def _refused(pilot, form: FormScreen) -> None:
    """The form shows a refusal (or a field warning) and stays open with what was typed."""
    app = pilot.app
    await wait_for(
        pilot,
        lambda: (
            any(n.severity in ("error", "warning") for n in app._notifications) and not form.workers
        ),
    )
    assert app.screen is form


ISSUE_PROBES = [
    {},  # nothing at all
    {"subject": "   ", "sans": "   "},
    {"sans": "ok.internal", "lifetime": "99999999999999999999d"},
    {"sans": "ok.internal", "lifetime": "-5d"},
    {"sans": "ok.internal", "lifetime": "0s"},
    {"sans": "bad..name"},
    {"sans": "IP:999.1.1.1"},
    {"sans": "*.*.internal"},
    {"sans": "uri:not a uri"},
    {"subject": "CN=", "sans": ""},
    {"subject": "XX=unknown"},
]


async def test_bad_issue_input_is_refused_and_kept(tmp_path):
    app = build_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _refused_each(pilot, ("i",), IssueForm, ISSUE_PROBES)
    assert app.authority.count() == len(FIXTURE_CERTS)


def _gate(authority) -> threading.Event:
    """Hold ``authority.issue`` in its worker thread until the event is set, so that keys
    pressed meanwhile land while the issuance runs, whatever the machine's speed (the real
    issue runs once released)."""
    release = threading.Event()
    issue = authority.issue

    def held(*args, **kwargs):
        release.wait(60)
        return issue(*args, **kwargs)

    authority.issue = held
    return release


async def test_a_second_enter_while_issuing_does_not_issue_twice(tmp_path):
    app = build_app(tmp_path)
    release = _gate(app.authority)
    async with app.run_test(size=SIZE) as pilot:
        form = await _open(pilot, ("i",), IssueForm)
        _fill(form, sans="twice.internal", out_dir="")
        form.query_one("#sans", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: form.workers)
        await pilot.press("enter", "ctrl+s")
        release.set()
        await wait_for(pilot, lambda: app.screen is not form)
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert len(app.authority.certificates(search="twice.internal")) == 1


async def test_escape_while_issuing_keeps_the_form_until_the_result(tmp_path):
    app = build_app(tmp_path)
    release = _gate(app.authority)
    async with app.run_test(size=SIZE) as pilot:
        form = await _open(pilot, ("i",), IssueForm)
        _fill(form, sans="esc.internal", out_dir="")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: form.workers)
        await pilot.press("escape")
        assert app.screen is form and _notified(app, "still working")
        release.set()
        await wait_for(pilot, lambda: _notified(app, "issued "))
        await wait_for(pilot, lambda: app.screen is not form)
    assert len(app.authority.certificates(search="esc.internal")) == 1


async def test_escape_before_submit_writes_nothing(tmp_path):
    app = build_app(tmp_path)
    out = tmp_path / "out"
    async with app.run_test(size=SIZE) as pilot:
        form = await _open(pilot, ("i",), IssueForm)
        _fill(form, sans="never.internal", out_dir=str(out))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is not form)
    assert app.authority.count() == len(FIXTURE_CERTS) and not out.exists()


@pytest.mark.parametrize("where", ["file", "unwritable"])
async def test_issue_into_a_bad_directory_is_refused(tmp_path, where):
    app = build_app(tmp_path / "home")
    target = tmp_path / "a-file"
    target.write_text("x")
    out_dir = str(target) if where == "file" else str(target / "sub")
    async with app.run_test(size=SIZE) as pilot:
        form = await _open(pilot, ("i",), IssueForm)
        _fill(form, sans="bad-dir.internal", out_dir=out_dir)
        await pilot.press("ctrl+s")
        await _refused(pilot, form)
    assert app.authority.count() == len(FIXTURE_CERTS)


IMPORT_PROBES = [
    {"cert": ""},
    {"cert": "   "},
    {"cert": "/nonexistent/ca.crt"},
    {"cert": "{tmp}"},
    {"cert": "{tmp}/junk.pem"},
    {"cert": "{root}", "key": "/nonexistent.key"},
    {"cert": "{root}", "key": "{tmp}"},
]


async def test_bad_import_is_refused(tmp_path):
    app = build_app(tmp_path / "home")
    (tmp_path / "junk.pem").write_text("-----BEGIN CERTIFICATE-----\nnope\n")
    root = tmp_path / "home" / "certs" / "root_ca.crt"
    probes = [{k: v.format(tmp=tmp_path, root=root) for k, v in p.items()} for p in IMPORT_PROBES]
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("1")
        await _refused_each(pilot, ("m",), ImportForm, probes)
        messages = " ".join(n.message for n in app._notifications)
        assert "'.'" not in messages
    assert len(app.authority.authorities()) == 2


NEW_CA_PROBES = [
    {"name": ""},
    {"name": "   "},
    {"name": "Team", "validity": "99999999999999999999999y"},
    {"name": "Team", "path_len": "99999999999999999999999"},
    {"name": "Team", "path_len": "-1"},
    {"name": "Team", "path_len": "٣"},
]


async def test_bad_new_ca_is_refused(tmp_path):
    app = build_app(tmp_path)

    def under_root(form: FormScreen) -> None:
        form.query_one("#parent", Select).value = app.authority.config.root_ca

    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("1")
        await _refused_each(pilot, ("n",), NewAuthorityForm, NEW_CA_PROBES, under_root)
    assert len(app.authority.authorities()) == 2


async def test_panning_the_timeline_to_the_end_of_the_calendar_does_not_crash(tmp_path):
    app = build_app(tmp_path)
    async with app.run_test(size=(250, 60)) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: isinstance(app.screen, TimelineScreen))
        timeline = app.screen.query_one(Timeline)
        timeline.focus()
        await pilot.press("Z", "Z")
        await wait_for(pilot, lambda: timeline.zoom == "years")
        for keys in (("H",) * 20, ("L",) * 80):  # about 120 years a step at 250 columns
            await pilot.press(*keys)
            await pilot.press("enter")  # a bucket at the edge opens in the table
            await wait_for(pilot, lambda: isinstance(app.screen, CertificatesScreen))
            await pilot.press("3")
            await wait_for(pilot, lambda: app.screen.query(Timeline))


@pytest.mark.parametrize("size", [(60, 20), (80, 24), (250, 60)])
async def test_every_screen_opens_at_odd_terminal_sizes(tmp_path, size):
    app = build_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        for key in "123456":
            await pilot.press(key)
            await pilot.pause()
            assert app.screen.query_one(NavBar).region.height > 0
        await pilot.press("2", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen))
        await pilot.press("2", "3", "4", "escape")
        await wait_for(pilot, lambda: isinstance(app.screen, CertificatesScreen))
        form = await _open(pilot, ("i",), IssueForm)
        submit = form.query_one("#submit")
        await pilot.press("tab", "tab", "tab", "tab", "tab", "tab", "tab", "tab")
        assert app.focused is submit  # reachable with tab even when the form scrolls
        await pilot.press("escape", "question_mark")
        await pilot.pause()
        await pilot.press("escape")


ODD_SEARCHES = ["%", "_", "'", '"', "a OR b", "NEAR(", "*", "(", "^$.*+?[]{}|\\", "ü€😀"]


async def test_odd_filter_strings_do_not_crash(tmp_path):
    app = build_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(CertificateTable)
        for search in ODD_SEARCHES:
            await pilot.press("slash")
            app.screen.query_one("#search", Input).value = search
            await pilot.press("enter")
            await wait_for(pilot, lambda search=search: table.filter.search == search)
            assert table.total == 0, search  # looked for as typed, not as a pattern
            await pilot.press("escape")
            await wait_for(pilot, lambda: table.total == len(FIXTURE_CERTS))


async def test_server_start_stop_twice_and_on_a_busy_port(tmp_path):
    app = build_app(tmp_path)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("4")
            await wait_for(pilot, lambda: isinstance(app.screen, ServerScreen))
            address = app.screen.query_one("#address", Input)
            for _ in range(2):
                address.value = "127.0.0.1:0"
                app.screen.query_one(RichLog).focus()
                await pilot.press("s", "s")
                await wait_for(pilot, lambda: app.server.running)
                await pilot.press("S", "S")
                await wait_for(pilot, lambda: not app.server.running and not app.server._worker)
            address.value = f"127.0.0.1:{busy.getsockname()[1]}"
            app.screen.query_one(RichLog).focus()
            await pilot.press("s")
            await wait_for(pilot, lambda: _notified(app, "ACME server failed"))
            await wait_for(pilot, lambda: app.server._worker is None)
            assert not app.server.running
            address.value = "not an address"
            app.screen.query_one(RichLog).focus()
            await pilot.press("s")
            await wait_for(pilot, lambda: app.server._worker is None)
            assert not app.server.running
            await pilot.press("S", "q")
    finally:
        busy.close()


def _other_root(tmp_path) -> bytes:
    """A root made by another stepui data dir: imported here without its key."""
    other = Authority.open(tmp_path / "other", password=PasswordBox())
    root, _ = other.init("Elsewhere", passwordless=True)
    other.close()
    return root.cert_pem.encode()


async def test_tree_with_a_cross_signed_ca_and_an_imported_root_without_key(tmp_path):
    app = build_app(tmp_path / "home")
    authority = app.authority
    pem = _other_root(tmp_path)
    imported = authority.import_authority(pem, None, actor="test")
    authority.cross_sign(authority.config.default_ca, authority.config.root_ca, actor="test")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("1")
        await wait_for(pilot, lambda: isinstance(app.screen, AuthoritiesScreen))
        tree = app.screen.query_one(CaTree)
        for _ in range(6):
            await pilot.press("down", "enter", "t")
            await pilot.pause()
            await pilot.press("1")
            await wait_for(pilot, lambda: isinstance(app.screen, AuthoritiesScreen))
        labels = " ".join(str(node.label) for node in tree._tree_nodes.values())
        assert imported.name in labels
        form = await _open(pilot, ("s",), CrossSignForm)
        await pilot.press("ctrl+s")  # nothing chosen
        await _refused(pilot, form)
        form.query_one("#subject_ca", Select).value = imported.id  # its key is not needed
        signers = [value for _, value in form.query_one("#by", Select)._options]
        assert imported.id not in signers  # no key here: it cannot sign
        await pilot.press("escape")
        form = await _open(pilot, ("l",), CrlForm)
        assert imported.id not in dict(form.query_one("#ca", Select)._options).values()
        await pilot.press("escape")
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, IssueForm))
        options = [value for _, value in app.screen.query_one("#ca", Select)._options]
        assert imported.id not in options


async def test_rsa_4096_issuance_leaves_the_ui_responsive(tmp_path):
    app = build_app(tmp_path)
    release = _gate(app.authority)
    async with app.run_test(size=SIZE) as pilot:
        form = await _open(pilot, ("i",), IssueForm)
        _fill(form, sans="big.internal", out_dir="")
        form.query_one("#key_type", Select).value = "rsa-4096"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: form.workers)
        form.query_one("#subject", Input).focus()
        await pilot.press(*"CN=x")  # handled while the worker holds
        assert form.query_one("#subject", Input).value == "CN=x"
        release.set()
        await wait_for(pilot, lambda: app.screen is not form, attempts=2400)
    [record] = app.authority.certificates(search="big.internal")
    assert record.key_type.startswith("rsa") or "RSA" in record.key_type.upper()


@pytest.mark.parametrize("where", ["", "dir", "missing"])
async def test_export_to_a_bad_path_is_refused(tmp_path, where):
    app = build_app(tmp_path / "home")
    path = {"": "", "dir": str(tmp_path), "missing": str(tmp_path / "no" / "such" / "x.crt")}
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen))
        form = await _open(pilot, ("e",), ExportForm)
        _fill(form, path=path[where])
        await pilot.press("ctrl+s")
        if where == "missing":  # parents are made, as the CLI does
            await wait_for(pilot, lambda: app.screen is not form)
            assert (tmp_path / "no" / "such" / "x.crt").exists()
        else:
            await _refused(pilot, form)
            assert form.query_one("#path", Input).value == path[where]


async def test_every_key_on_an_empty_inventory(tmp_path):
    app = build_app(tmp_path, seeded=False)
    app.authority.init("Empty", passwordless=True)
    async with app.run_test(size=(80, 24)) as pilot:
        for keys in ("2", "enter", "r", "x", "space", "o", "O", "f", "c", "slash", "escape"):
            await pilot.press(keys)
            await pilot.pause()
        assert isinstance(app.screen, CertificatesScreen)
        await pilot.press("3", "enter", "left", "right", "z", "Z", "H", "L")
        await wait_for(pilot, lambda: isinstance(app.screen, CertificatesScreen))
        await pilot.press("1", "down", "down", "enter", "t")
        await pilot.press("5", "enter", "6", "enter", "4")
        await pilot.pause()


@pytest.mark.parametrize("name", ["", "   ", "x" * 300])
async def test_first_run_with_an_odd_name(tmp_path, name):
    app = build_app(tmp_path, seeded=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, FirstRunScreen))
        app.screen.query_one("#ca-name", Input).value = name
        await pilot.press("enter", "enter")
        await wait_for(
            pilot,
            lambda: app.screen.created or any(n.severity == "error" for n in app._notifications),
        )
        if not app.screen.created:
            assert app.screen.query_one("#ca-name", Input).value == name
            assert not app.authority.initialized


async def test_renew_and_revoke_refusals_keep_the_form(tmp_path):
    app = build_app(tmp_path / "home")
    authority = app.authority
    revoked = next(r.serial for r in authority.certificates() if r.status == "revoked")
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    async with app.run_test(size=SIZE) as pilot:
        app.revoke([revoked])
        form = await _open(pilot, (), RevokeForm)
        await pilot.press("space", "ctrl+s")
        await _refused(pilot, form)
        await pilot.press("escape")
        app.renew([revoked])
        form = await _open(pilot, (), RenewForm)
        _fill(form, out_dir=str(a_file))
        await pilot.press("ctrl+s")
        await _refused(pilot, form)
    assert authority.count() == len(FIXTURE_CERTS)


@pytest.mark.parametrize("content", [None, b""])
def test_workbench_with_a_bad_password_file_says_so(tmp_path, capsys, content):
    password_file = tmp_path / "password"
    if content is not None:
        password_file.write_bytes(content)
    assert main(["--home", str(tmp_path / "home"), "--password-file", str(password_file)]) == 2
    error = capsys.readouterr().err
    assert "password file" in error and "internal error" not in error


def test_workbench_on_a_broken_config_says_so(tmp_path, capsys):
    (tmp_path / "config.json").write_text("{broken")
    assert main(["--home", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "config.json" in error and "invalid JSON" in error and "Traceback" not in error


def _many(authority, count: int) -> None:
    """``count`` rows copied from one real certificate (as bench/tui.py seeds): expired,
    revoked, valid, and some ending centuries from now."""
    template = authority.certificates()[0]
    now = authority.clock()
    rows = []
    for number in range(count):
        name = f"host{number}.many.internal"
        not_after = now + timedelta(days=(number * 37) % 400 - 100)
        if number % 100 == 1:
            not_after = now + timedelta(days=365 * 500)
        rows.append(
            replace(
                template,
                serial=f"{0x7F000000 + number:x}",
                subject=f"CN={name}",
                sans=(f"DNS:{name}",),
                not_before=min(now, not_after) - timedelta(days=30),
                not_after=not_after,
                status="revoked" if number % 50 == 0 else "valid",
                fingerprint=f"{number:064x}",
            )
        )
    authority.store.ca.add_certificates(rows)


async def test_thousands_of_certificates_in_the_table_and_the_timeline(tmp_path):
    app = build_app(tmp_path)
    _many(app.authority, 3000)
    total = len(FIXTURE_CERTS) + 3000
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(CertificateTable)
        await wait_for(pilot, lambda: table.total == total)
        await pilot.press("end", "pageup", "home", "pagedown", "o", "O", "f", "f", "f", "f")
        await pilot.pause()
        for search, found in (("%", 0), ("_", 0), ("host12", 111), ("host299", 11), ("1", None)):
            table.set_filter(TableFilter(search=search))
            await pilot.pause()
            assert found is None or table.total == found, (search, table.total)
        await pilot.press("escape", "3")
        await wait_for(pilot, lambda: isinstance(app.screen, TimelineScreen))
        for key in ("Z", "Z", "L", "L", "H", "H", "right", "left", "enter"):
            await pilot.press(key)
            await pilot.pause()
        await wait_for(pilot, lambda: isinstance(app.screen, CertificatesScreen))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen))


async def test_log_records_go_to_the_panel_not_the_terminal(tmp_path, capfd):
    """``stepui`` (cli.main) sets up a stderr handler before the workbench starts; while the
    workbench owns the terminal, records must reach the ACME panel only."""
    terminal = logging.StreamHandler(sys.__stderr__)
    logging.getLogger().addHandler(terminal)
    try:
        app = build_app(tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            logging.getLogger("stepui.probe").warning("a warning while the app runs")
            await wait_for(
                pilot, lambda: any("a warning" in line.text for line in app.server.lines)
            )
        assert "a warning" not in capfd.readouterr().err
        assert terminal in logging.getLogger().handlers  # given back when the app ends
    finally:
        logging.getLogger().removeHandler(terminal)
