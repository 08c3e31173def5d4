"""An unexpected failure inside the server is a serverInternal problem document: status 500,
a fresh nonce, nothing of the failure's own text or traceback, and the server keeps serving."""

from __future__ import annotations

import logging

import pytest

from tests.acme_fixtures import AcmeEnv
from tests.acme_raw import RawClient

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
