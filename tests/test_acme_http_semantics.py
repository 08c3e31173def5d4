"""HTTP details clients see around the JWS: methods, Allow, and the empty newNonce answers."""

from __future__ import annotations

from tests.acme_fixtures import AcmeEnv


def test_new_nonce_answers_carry_no_body_or_media_type(acme_env: AcmeEnv) -> None:
    with acme_env.http() as http:
        url = http.get(acme_env.server.directory).json()["newNonce"]
        head, get = http.head(url), http.get(url)
    assert (head.status_code, get.status_code) == (200, 204)
    for response in (head, get):
        assert response.headers["Replay-Nonce"]
        assert response.headers["Cache-Control"] == "no-store"
        assert "Content-Type" not in response.headers
        assert response.content == b""


def test_wrong_method_names_the_allowed_ones(acme_env: AcmeEnv) -> None:
    with acme_env.http() as http:
        directory = http.get(acme_env.server.directory).json()
        on_order = http.get(directory["newOrder"])
        on_nonce = http.post(directory["newNonce"], content=b"")
    assert on_order.status_code == on_nonce.status_code == 405
    assert "POST" in on_order.headers["Allow"]
    assert "POST-as-GET" in on_order.json()["detail"]
    assert "GET or HEAD" in on_nonce.json()["detail"]
    assert on_nonce.json()["type"] == "urn:ietf:params:acme:error:malformed"
