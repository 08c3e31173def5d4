"""Adversarial probes of the workbench as an operator at a console drives it: bad input in
every form, double submits, cancels, odd terminal sizes, odd filters, the server panel."""

from __future__ import annotations

import threading

import pytest
from textual.widgets import Input, Select

from stepui.screens.certificates import CertificatesScreen
from stepui.screens.detail import DetailScreen
from stepui.screens.forms.base import FormScreen
from stepui.screens.forms.import_ import ImportForm
from stepui.screens.forms.issue import IssueForm
from stepui.screens.forms.new_ca import NewAuthorityForm
from stepui.screens.timeline import TimelineScreen
from stepui.widgets.cert_table import CertificateTable
from stepui.widgets.navbar import NavBar
from stepui.widgets.timeline import Timeline
from tests.test_tui_app import SIZE, wait_for
from tests.tui_fixtures import FIXTURE_CERTS, build_app


def _notified(app, text: str) -> bool:
    return any(text in n.message for n in app._notifications)


async def _open(pilot, keys: tuple[str, ...], form_type: type[FormScreen]) -> FormScreen:
    await pilot.press(*keys)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, form_type))
    return pilot.app.screen


def _fill(form: FormScreen, **values: str) -> None:
    for name, value in values.items():
        form.query_one(f"#{name}", Input).value = value


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


@pytest.mark.parametrize("values", ISSUE_PROBES, ids=lambda v: repr(v)[:40])
async def test_bad_issue_input_is_refused_and_kept(tmp_path, values):
    app = build_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        form = await _open(pilot, ("i",), IssueForm)
        _fill(form, **values)
        await pilot.press("ctrl+s")
        await _refused(pilot, form)
        for name, value in values.items():
            assert form.query_one(f"#{name}", Input).value == value
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


@pytest.mark.parametrize("values", IMPORT_PROBES, ids=lambda v: repr(v)[:40])
async def test_bad_import_is_refused(tmp_path, values):
    app = build_app(tmp_path / "home")
    (tmp_path / "junk.pem").write_text("-----BEGIN CERTIFICATE-----\nnope\n")
    root = tmp_path / "home" / "certs" / "root_ca.crt"
    values = {k: v.format(tmp=tmp_path, root=root) for k, v in values.items()}
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("1")
        form = await _open(pilot, ("m",), ImportForm)
        _fill(form, **values)
        await pilot.press("ctrl+s")
        await _refused(pilot, form)
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


@pytest.mark.parametrize("values", NEW_CA_PROBES, ids=lambda v: repr(v)[:40])
async def test_bad_new_ca_is_refused(tmp_path, values):
    app = build_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("1")
        form = await _open(pilot, ("n",), NewAuthorityForm)
        form.query_one("#parent", Select).value = app.authority.config.root_ca
        _fill(form, **values)
        await pilot.press("ctrl+s")
        await _refused(pilot, form)
    assert len(app.authority.authorities()) == 2


async def test_panning_the_timeline_to_the_end_of_the_calendar_does_not_crash(tmp_path):
    app = build_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: isinstance(app.screen, TimelineScreen))
        timeline = app.screen.query_one(Timeline)
        timeline.focus()
        await pilot.press("Z", "Z")
        await wait_for(pilot, lambda: timeline.zoom == "years")
        for keys in (("H",) * 100, ("L",) * 400):  # 30 years a step at 80 columns
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


@pytest.mark.parametrize(
    "search",
    ["%", "_", "'", '"', "a OR b", "NEAR(", "*", "web*", "(", "^$.*+?[]{}|\\", "ü€😀", "-"],
)
async def test_odd_filter_strings_do_not_crash(tmp_path, search):
    app = build_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(CertificateTable)
        await pilot.press("slash")
        app.screen.query_one("#search", Input).value = search
        await pilot.press("enter")
        await wait_for(pilot, lambda: table.filter.search == search)
        assert table.total == 0 or search in ("-", "web*")
        await pilot.press("escape")
        await wait_for(pilot, lambda: table.total == len(FIXTURE_CERTS))
