"""External Account Binding (RFC 8555 §7.3.4) over the real server with certbot's ``acme``
library, and the operator's side: ``stepui ca eab add|list|remove`` and
``ca provisioner add --require-eab``."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
from pathlib import Path

import pytest
from acme import client, errors, messages

from stepui.authority.eab import add_key
from stepui.store import EabKey
from tests.acme_fixtures import AcmeEnv, make_csr
from tests.acme_raw import RawClient, b64, public_jwk
from tests.support.cli import ok, refused, stepui


@pytest.fixture
def eab_env(acme_env: AcmeEnv) -> AcmeEnv:
    """The ``acme`` provisioner requires EAB; a second one, ``open``, does not."""
    config = acme_env.authority.config
    required = dataclasses.replace(config.provisioners["acme"], require_eab=True)
    other = dataclasses.replace(config.provisioners["acme"], name="open")
    acme_env.authority.save_config(
        config.with_changes(provisioners={"acme": required, "open": other})
    )
    return acme_env


def register(env: AcmeEnv, key: EabKey | None, *, hmac_key: str | None = None, alg: str = "HS256"):
    acme = env.client()
    binding = None
    if key is not None:
        binding = messages.ExternalAccountBinding.from_data(
            account_public_key=acme.net.key.public_key(),
            kid=key.kid,
            hmac_key=hmac_key or key.hmac_key,
            directory=acme.directory,
            hmac_alg=alg,
        )
    regr = acme.new_account(
        messages.NewRegistration.from_data(
            terms_of_service_agreed=True, external_account_binding=binding
        )
    )
    return acme, regr


def problem_type(error: errors.Error) -> str:
    return error.typ.removeprefix("urn:ietf:params:acme:error:")


def test_directory_says_eab_is_required(eab_env: AcmeEnv) -> None:
    acme = eab_env.client()
    assert acme.external_account_required()
    with eab_env.http() as http:
        assert http.get(eab_env.server.directory).json()["meta"]["externalAccountRequired"] is True
        other = http.get("/acme/open/directory").json()
    assert other["meta"]["externalAccountRequired"] is False


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_right_key_binds_one_account(eab_env: AcmeEnv, alg: str) -> None:
    key = add_key(eab_env.authority, "acme", "team-a")
    acme, regr = register(eab_env, key, alg=alg)
    assert regr.body.status == "valid"
    binding = regr.body.external_account_binding
    assert json.loads(base64.urlsafe_b64decode(binding["protected"] + "==")) == {
        "alg": alg,
        "kid": key.kid,
        "url": acme.directory["newAccount"],
    }
    account_id = regr.uri.rsplit("/", 1)[1]
    stored = eab_env.authority.store.eab.key(key.kid)
    assert stored is not None and stored.bound_account == account_id
    # The account, fetched later, still shows its binding; the account works.
    fetched = acme.net.post(regr.uri, None).json()  # POST-as-GET
    assert fetched["externalAccountBinding"] == dict(binding)
    assert acme.new_order(make_csr("www.test")[0]).body.status == messages.STATUS_PENDING


def test_missing_wrong_and_reused_keys_are_refused(eab_env: AcmeEnv) -> None:
    key = add_key(eab_env.authority, "acme")
    other_provisioner_key = add_key(eab_env.authority, "open")
    rows = eab_env.rows()

    with pytest.raises(errors.Error) as missing:
        register(eab_env, None)
    assert problem_type(missing.value) == "externalAccountRequired"
    assert missing.value.detail

    wrong_hmac = b64(b"\x00" * 32)
    with pytest.raises(errors.Error) as wrong:
        register(eab_env, key, hmac_key=wrong_hmac)
    assert problem_type(wrong.value) == "unauthorized"

    with pytest.raises(errors.Error) as elsewhere:
        register(eab_env, other_provisioner_key)
    assert problem_type(elsewhere.value) == "unauthorized"

    unknown = dataclasses.replace(key, kid="no-such-key")
    with pytest.raises(errors.Error) as not_issued:
        register(eab_env, unknown)
    assert problem_type(not_issued.value) == "unauthorized"
    assert eab_env.rows() == rows

    register(eab_env, key)
    with pytest.raises(errors.Error) as reused:
        register(eab_env, key)  # a new account key, the same EAB key
    assert problem_type(reused.value) == "unauthorized"
    assert eab_env.rows()["acme_accounts"] == rows["acme_accounts"] + 1


def test_binding_must_cover_this_account_key_and_url(eab_env: AcmeEnv) -> None:
    key = add_key(eab_env.authority, "acme")
    raw = RawClient(eab_env)
    secret = base64.urlsafe_b64decode(key.hmac_key + "==")
    url = raw.directory["newAccount"]

    def binding(protected: dict, payload: dict) -> dict:
        p, q = b64(json.dumps(protected).encode()), b64(json.dumps(payload).encode())
        mac = hmac.new(secret, f"{p}.{q}".encode(), hashlib.sha256).digest()
        return {"protected": p, "payload": q, "signature": b64(mac)}

    header = {"alg": "HS256", "kid": key.kid, "url": url}
    mine = public_jwk(raw.key)
    someone_else = public_jwk(RawClient(eab_env).key)
    cases = [
        (binding(header, someone_else), "unauthorized"),
        (binding({**header, "url": url + "x"}, mine), "malformed"),
        (binding({**header, "nonce": raw.nonce()}, mine), "malformed"),
        (binding({**header, "alg": "ES256"}, mine), "badSignatureAlgorithm"),
    ]
    try:
        for eab, kind in cases:
            response = raw.post(url, {"termsOfServiceAgreed": True, "externalAccountBinding": eab})
            assert response.status_code in (400, 403), response.text
            assert response.json()["type"].endswith(f":{kind}"), response.text
        response = raw.post(
            url, {"termsOfServiceAgreed": True, "externalAccountBinding": binding(header, mine)}
        )
        assert response.status_code == 201, response.text
    finally:
        raw.close()


def test_provisioner_without_eab_still_accepts_plain_accounts(eab_env: AcmeEnv) -> None:
    net = eab_env.client().net
    directory = client.ClientV2.get_directory(
        eab_env.server.directory.replace("/acme/acme/", "/acme/open/"), net
    )
    regr = client.ClientV2(directory, net).new_account(
        messages.NewRegistration.from_data(terms_of_service_agreed=True)
    )
    assert regr.body.status == "valid" and not regr.body.external_account_binding


# -- the operator's commands -----------------------------------------------------------------
def test_key_ids_and_hmac_keys_never_start_with_a_dash(eab_env: AcmeEnv) -> None:
    """Both go on command lines, where "-abc" reads as an option; one in 64 random base64url
    strings starts with "-", so 300 keys (600 strings) would show one almost surely."""
    created = [add_key(eab_env.authority, "acme") for _ in range(300)]
    assert not [k for k in created if k.kid.startswith("-") or k.hmac_key.startswith("-")]
    assert len({k.kid for k in created}) == 300


def test_eab_commands(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ok(stepui(home, "ca", "init", "Test", "--no-password", password=None))
    ok(stepui(home, "ca", "provisioner", "add", "partners", "--require-eab", password=None))
    config = json.loads((home / "config.json").read_text())
    assert config["provisioners"]["partners"]["require_eab"] is True

    created = json.loads(
        ok(stepui(home, "ca", "eab", "add", "partners", "--reference", "acme-corp", "--json"))
    )
    assert set(created) == {"kid", "hmac_key"}
    # The HMAC keys stay readable (the server computes MACs with them): the file is owner-only.
    assert (home / "stepui.db").stat().st_mode & 0o777 == 0o600
    assert len(base64.urlsafe_b64decode(created["hmac_key"] + "==")) == 32
    text = ok(stepui(home, "ca", "eab", "add", "partners"))
    assert "key ID:" in text and "HMAC key:" in text

    listed = json.loads(ok(stepui(home, "ca", "eab", "list", "--json")))
    assert [k["reference"] for k in listed] == ["acme-corp", None]
    assert all("hmac_key" not in k for k in listed)
    table = ok(stepui(home, "ca", "eab", "list", "partners"))
    assert created["kid"] in table and created["hmac_key"] not in table

    refused(stepui(home, "ca", "eab", "add", "nope"), "provisioner")
    refused(stepui(home, "ca", "eab", "add", "partners", "--reference", "acme-corp"), "already")
    ok(stepui(home, "ca", "eab", "remove", "acme-corp"))
    listed = json.loads(ok(stepui(home, "ca", "eab", "list", "--json")))
    assert created["kid"] not in [k["kid"] for k in listed] and len(listed) == 1
    refused(stepui(home, "ca", "eab", "remove", created["kid"]), "no eab key")
