"""The embedded ACME server: started from the panel on the app's own loop, an acme-library
client obtains a certificate from it while the app runs, and the panel shows the requests."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import josepy
from acme import challenges, client, messages
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from textual.widgets import RichLog

from stepui.app import PasswordBox, StepuiApp
from stepui.authority.service import Authority
from tests.acme_fixtures import make_csr
from tests.support.responders import HTTP01Responder
from tests.test_tui_app import wait_for


def obtain(directory: str, root: str, responder: HTTP01Responder) -> str:
    """The whole RFC 8555 flow with certbot's acme library, for the IP identifier 127.0.0.1."""
    key = josepy.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    net = client.ClientNetwork(key, alg=josepy.ES256, verify_ssl=root, user_agent="tui-test")
    try:
        acme = client.ClientV2(client.ClientV2.get_directory(directory, net), net)
        acme.new_account(messages.NewRegistration.from_data(terms_of_service_agreed=True))
        csr, _ = make_csr("127.0.0.1")
        order = acme.new_order(csr)
        for authz in order.authorizations:
            chall = next(c for c in authz.body.challenges if isinstance(c.chall, challenges.HTTP01))
            response, validation = chall.response_and_validation(key)
            responder.set_token(chall.chall.encode("token"), validation)
            acme.answer_challenge(chall, response)
        deadline = datetime.now() + timedelta(seconds=120)
        return acme.poll_and_finalize(order, deadline=deadline).fullchain_pem
    finally:
        net.session.close()


async def test_acme_client_obtains_a_certificate_from_the_embedded_server(tmp_path):
    responder = HTTP01Responder().start()
    authority = Authority.open(tmp_path, password=PasswordBox())
    authority.init("Served", passwordless=True)
    authority.save_config(authority.config.with_changes(acme_http_port=responder.port))
    app = StepuiApp(authority)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("4")
            await pilot.pause()
            app.screen.query_one("#address").value = "127.0.0.1:0"
            await pilot.press("s")
            await wait_for(pilot, lambda: app.server.running)
            assert app.server.url.endswith("/acme/acme/directory")
            root = str(tmp_path / "certs" / "root_ca.crt")
            chain = await asyncio.to_thread(obtain, app.server.url, root, responder)
            leaf = x509.load_pem_x509_certificate(chain.encode())
            await wait_for(pilot, lambda: app.server.counters["issued"] == 1)
            log = "\n".join(line.text for line in app.server.lines)
            assert "new-order" in log and "finalize" in log
            assert app.server.counters["accounts"] == 1 and app.server.counters["orders"] == 1
            panel = app.screen.query_one(RichLog)
            assert any("finalize" in strip.text for strip in panel.lines)
            await app.action_quit()
        assert not app.server.running
    finally:
        responder.stop()
    record = authority.certificate(format(leaf.serial_number, "x"))
    assert record.sans == ("IP:127.0.0.1",)
    authority.close()
