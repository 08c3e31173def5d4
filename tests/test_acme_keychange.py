"""Account key rollover (RFC 8555 §7.3.5) over the real server: certbot's ``acme`` library for
the protocol (its JWS and network code; it has no keyChange call of its own), the raw client
for each refusal in the RFC's order, and a check that a refusal changes nothing."""

from __future__ import annotations

import json
from typing import Any

import josepy
import pytest
from acme import client, errors, messages
from acme import jws as acme_jws
from cryptography.hazmat.primitives.asymmetric import ec

from tests.acme_fixtures import AcmeEnv, make_csr
from tests.acme_raw import RawClient, public_jwk
from tests.test_acme_orders import answer, deadline


def new_jwk() -> josepy.JWKEC:
    return josepy.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))


def key_change_url(env: AcmeEnv) -> str:
    with env.http() as http:
        return http.get(env.server.directory).json()["keyChange"]


def roll_over(env: AcmeEnv, acme: client.ClientV2, new_key: josepy.JWK) -> client.ClientV2:
    """keyChange with the acme library's JWS code; a client using the new key."""
    url = key_change_url(env)
    payload = {"account": acme.net.account.uri, "oldKey": acme.net.key.public_key().to_json()}
    inner = acme_jws.JWS.sign(
        json.dumps(payload).encode(), key=new_key, alg=josepy.ES256, nonce=None, url=url
    )
    response = acme.net.post(url, inner)
    assert response.status_code == 200, response.text
    assert response.headers["Location"] == acme.net.account.uri
    assert response.json()["status"] == "valid"
    rolled = env.client(new_key)
    rolled.net.account = acme.net.account
    return rolled


def account_key(env: AcmeEnv, account_url: str) -> str:
    account_id = account_url.rsplit("/", 1)[1]
    return env.authority.store.db.query_one(
        "SELECT thumbprint FROM acme_accounts WHERE id = ?", (account_id,)
    )[0]


def test_key_change_then_new_key_works_and_old_key_is_refused(acme_env: AcmeEnv) -> None:
    old = acme_env.register()
    account_url = old.net.account.uri
    pending = old.new_order(make_csr("www.test")[0])  # survives the rollover
    new_key = new_jwk()

    rolled = roll_over(acme_env, old, new_key)

    # The new key finds the same account, orders under it, and completes the older order:
    # its challenge is answered with a key authorization of the new key.
    with pytest.raises(errors.ConflictError) as found:  # the acme lib's "it exists"
        acme_env.client(new_key).new_account(
            messages.NewRegistration.from_data(only_return_existing=True)
        )
    assert found.value.location == account_url
    for authzr in pending.authorizations:
        answer(acme_env, rolled, authzr, "http-01")
    done = rolled.poll_and_finalize(pending, deadline())
    assert "BEGIN CERTIFICATE" in done.fullchain_pem
    rolled.new_order(make_csr("api.test")[0])

    # The old key no longer signs for the account, nor finds it.
    with pytest.raises(errors.Error) as signed_with_old:
        old.new_order(make_csr("api.test")[0])
    assert signed_with_old.value.typ == "urn:ietf:params:acme:error:malformed"
    assert "signature" in signed_with_old.value.detail
    with pytest.raises(errors.Error) as lookup:
        acme_env.client(old.net.key).new_account(
            messages.NewRegistration.from_data(only_return_existing=True)
        )
    assert lookup.value.typ == "urn:ietf:params:acme:error:accountDoesNotExist"


@pytest.fixture
def raw(acme_env: AcmeEnv):
    clients: list[RawClient] = []

    def make(key: Any = None) -> RawClient:
        made = RawClient(acme_env, key)
        clients.append(made)
        return made

    yield make
    for made in clients:
        made.close()


def inner_jws(signer: RawClient, url: str, payload: dict[str, Any], **changes: Any) -> dict:
    """The inner JWS signed by ``signer``'s key, with ``jwk``; ``changes`` override (None drops)."""
    header: dict[str, Any] = {"alg": signer.alg, "jwk": public_jwk(signer.key), "url": url}
    header.update(changes)
    header = {k: v for k, v in header.items() if v is not None}
    return signer.jws(header, json.dumps(payload).encode())


def refusal(response, kind: str, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == f"urn:ietf:params:acme:error:{kind}", body
    return body


def test_key_change_refusals_in_rfc_order(acme_env: AcmeEnv, raw) -> None:
    account = raw()
    account.register()
    url = account.directory["keyChange"]
    newcomer = raw()
    old_jwk = public_jwk(account.key)
    good = {"account": account.kid, "oldKey": old_jwk}
    before = account_key(acme_env, account.kid)

    cases = [
        # inner JWS not signed by its jwk
        (
            {
                **inner_jws(newcomer, url, good),
                "signature": inner_jws(raw(), url, good)["signature"],
            },
            "malformed",
            400,
        ),
        # inner JWS with kid instead of jwk
        (inner_jws(newcomer, url, good, jwk=None, kid=account.kid), "malformed", 400),
        # a MAC algorithm
        (inner_jws(newcomer, url, good, alg="HS256"), "badSignatureAlgorithm", 400),
        # an inner nonce
        (inner_jws(newcomer, url, good, nonce=account.nonce()), "malformed", 400),
        # another url
        (inner_jws(newcomer, url + "x", good), "malformed", 400),
        # account is not the signer's
        (inner_jws(newcomer, url, {**good, "account": account.kid + "x"}), "unauthorized", 403),
        # oldKey is not the current key
        (
            inner_jws(newcomer, url, {**good, "oldKey": public_jwk(newcomer.key)}),
            "unauthorized",
            403,
        ),
        # not a JWS at all
        ({"account": account.kid}, "malformed", 400),
    ]
    for payload, kind, status in cases:
        refusal(account.post(url, payload), kind, status)
        assert account_key(acme_env, account.kid) == before

    # The new key already belongs to an account: 409 with that account's URL.
    other = raw()
    other_url = other.register()
    response = account.post(url, inner_jws(other, url, good))
    refusal(response, "malformed", 409)
    assert response.headers["Location"] == other_url
    assert account_key(acme_env, account.kid) == before

    # A jwk-signed outer request is refused before anything else is looked at.
    refusal(account.post(url, inner_jws(newcomer, url, good), use_jwk=True), "malformed", 400)

    # The well-formed request succeeds.
    response = account.post(url, inner_jws(newcomer, url, good))
    assert response.status_code == 200, response.text
    assert account_key(acme_env, account.kid) != before


def test_deactivated_account_cannot_change_key(acme_env: AcmeEnv, raw) -> None:
    account = raw()
    account.register()
    assert account.post(account.kid, {"status": "deactivated"}).status_code == 200
    url = account.directory["keyChange"]
    good = {"account": account.kid, "oldKey": public_jwk(account.key)}
    refusal(account.post(url, inner_jws(raw(), url, good)), "unauthorized", 401)
