"""Account key rollover (RFC 8555 §7.3.5), checked in the RFC's order.

The outer request (signed with the account's current key, by ``kid``) was authenticated by the
JWS gate, which also refused a deactivated account. The account keeps its id, so its orders,
authorizations and certificates stay its own under the new key.
"""

from __future__ import annotations

from server.accounts import render_account
from server.context import Call, Reply
from server.inner_jws import check_nonce_and_url
from server.jws import ALGORITHMS, load_jwk, parse_flattened, verify_signature
from server.problems import Problem
from server.urls import Urls

WHAT = "the keyChange inner JWS"


def key_change(call: Call) -> Reply:
    account = call.account
    url = call.urls.key_change
    inner = parse_flattened(call.verified.json(), WHAT)
    if inner.alg not in ALGORITHMS:
        raise Problem(
            "badSignatureAlgorithm",
            f"{WHAT}: algorithm {inner.alg!r} is not supported",
            extra={"algorithms": list(ALGORITHMS)},
        )
    jwk = inner.protected.get("jwk")
    if jwk is None or "kid" in inner.protected:
        raise Problem("malformed", f"{WHAT} must carry the new key as jwk (and no kid)")
    new_key = load_jwk(jwk)
    verify_signature(inner, new_key.key)
    check_nonce_and_url(inner, WHAT, url)
    payload = inner.payload_json(f"{WHAT} payload")
    if payload.get("account") != call.urls.account(account.id):
        raise Problem("unauthorized", f"{WHAT}: account is not the account signing the request")
    if "oldKey" not in payload or load_jwk(payload["oldKey"]).thumbprint != account.thumbprint:
        raise Problem("unauthorized", f"{WHAT}: oldKey is not the account's current key")
    if not call.store.change_key(
        account.id, account.thumbprint, new_key.thumbprint, new_key.jwk_json
    ):
        holder = call.store.account_with_key(new_key.thumbprint)
        if holder is None:  # the account changed its key meanwhile
            raise Problem("unauthorized", f"{WHAT}: oldKey is not the account's current key")
        location = Urls(call.urls.base, holder.provisioner).account(holder.id)
        raise Problem(
            "malformed",
            "the new key is already in use by an account",
            status=409,
            headers={"Location": location},
        )
    call.acme.events.publish("acme.account.key_changed", account=account.id)
    updated = call.store.account(account.id)
    assert updated is not None
    return Reply(200, render_account(call, updated), {"Location": call.urls.account(updated.id)})
