"""An unexpected failure inside the server is a serverInternal problem document: status 500,
a fresh nonce, nothing of the failure's own text or traceback, and the server keeps serving."""

from __future__ import annotations

import logging

import pytest
from acme import messages

from tests.acme_fixtures import AcmeEnv, make_csr
from tests.acme_raw import RawClient
from tests.test_acme_orders import answer, deadline

SECRET = "/srv/secret/path.db: disk I/O error at 0xdeadbeef"


def test_an_unexpected_error_is_a_bare_server_internal_problem(
    acme_env: AcmeEnv, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    raw = RawClient(acme_env)
    raw.register()

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(SECRET)

    monkeypatch.setattr(acme_env.authority.store.acme, "create_order", broken)
    with caplog.at_level(logging.ERROR):
        response = raw.post(
            raw.directory["newOrder"], {"identifiers": [{"type": "dns", "value": "www.test"}]}
        )
    assert response.status_code == 500
    assert response.headers["Content-Type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == "urn:ietf:params:acme:error:serverInternal"
    assert SECRET not in response.text and "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    assert response.headers.get("Replay-Nonce")
    # The operator's log has the real cause.
    assert SECRET in caplog.text

    monkeypatch.undo()
    retry = raw.post(
        raw.directory["newOrder"], {"identifiers": [{"type": "dns", "value": "www.test"}]}
    )
    assert retry.status_code == 201, retry.text


def test_a_failure_after_signing_leaves_no_certificate_and_no_stuck_order(
    acme_env: AcmeEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issuing and marking the order valid are one transaction. A crash cannot be timed from a
    test, so the step after signing (recording the order's new state) is made to fail: the
    certificate must go with it, and the order must not stay ``processing``."""
    acme = acme_env.register()
    csr, _ = make_csr("www.test")
    order = acme.new_order(csr)
    answer(acme_env, acme, order.authorizations[0], "http-01")
    order = acme.poll_authorizations(order, deadline())
    before = acme_env.authority.count()
    store = acme_env.authority.store.acme
    transition = store.transition_order

    def failing_on_valid(order_id: str, from_status: str, to_status: str, **kwargs: object):
        if to_status == "valid":
            raise RuntimeError(SECRET)
        return transition(order_id, from_status, to_status, **kwargs)

    monkeypatch.setattr(store, "transition_order", failing_on_valid)
    with pytest.raises(messages.Error) as error:
        acme.begin_finalization(order)
    assert error.value.typ.endswith(":serverInternal")
    assert acme_env.authority.count() == before
    assert acme._post_as_get(order.uri).json()["status"] == "invalid"
