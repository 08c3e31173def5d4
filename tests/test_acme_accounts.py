"""Directory, nonces, the account lifecycle and the public endpoints, over the real server."""

from __future__ import annotations

import dataclasses

import pytest
from acme import errors, messages
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from server import accounts as accounts_module
from stepui.events import Event
from tests.acme_fixtures import AcmeEnv, make_csr
from tests.acme_raw import RawClient


def test_directory_lists_resources_and_meta(acme_env: AcmeEnv) -> None:
    config = acme_env.authority.config
    provisioner = dataclasses.replace(
        config.provisioners["acme"],
        terms_of_service="https://ca.test/terms",
        website="https://ca.test",
        caa_identities=("ca.test",),
    )
    acme_env.authority.save_config(config.with_changes(provisioners={"acme": provisioner}))
    with acme_env.http() as http:
        response = http.get("/acme/acme/directory")
    assert response.status_code == 200
    body = response.json()
    prefix = f"{acme_env.server.base_url}/acme/acme/"
    assert body["newNonce"] == prefix + "new-nonce"
    assert body["newAccount"] == prefix + "new-account"
    assert body["newOrder"] == prefix + "new-order"
    assert body["revokeCert"] == prefix + "revoke-cert"
    assert body["meta"] == {
        "termsOfService": "https://ca.test/terms",
        "website": "https://ca.test",
        "caaIdentities": ["ca.test"],
        "externalAccountRequired": False,
    }
    assert "Link" not in response.headers


def test_unknown_provisioner_is_404(acme_env: AcmeEnv) -> None:
    with acme_env.http() as http:
        response = http.get("/acme/nope/directory")
    assert response.status_code == 404
    assert response.json()["type"] == "urn:ietf:params:acme:error:malformed"


def test_new_nonce_head_and_get(acme_env: AcmeEnv) -> None:
    with acme_env.http() as http:
        head = http.head("/acme/acme/new-nonce")
        get = http.get("/acme/acme/new-nonce")
    assert head.status_code == 200
    assert get.status_code == 204
    for response in (head, get):
        assert response.headers["Cache-Control"] == "no-store"
        assert len(response.headers["Replay-Nonce"]) >= 22
        assert f'<{acme_env.server.directory}>;rel="index"' in response.headers["Link"]
    assert head.headers["Replay-Nonce"] != get.headers["Replay-Nonce"]


def test_account_create_find_update_and_deactivate(acme_env: AcmeEnv) -> None:
    seen: list[Event] = []
    acme_env.authority.events.subscribe(seen.append)
    client = acme_env.client()
    regr = client.new_account(
        messages.NewRegistration.from_data(email="ops@example.test", terms_of_service_agreed=True)
    )
    assert regr.uri.startswith(f"{acme_env.server.base_url}/acme/acme/account/")
    assert regr.body.status == "valid"
    assert regr.body.contact == ("mailto:ops@example.test",)
    assert any(e.kind == "acme.account.created" for e in seen)

    with pytest.raises(errors.ConflictError) as existing:
        client.new_account(messages.NewRegistration.from_data(terms_of_service_agreed=True))
    assert existing.value.location == regr.uri

    queried = client.query_registration(regr)
    assert queried.body.contact == ("mailto:ops@example.test",)
    updated = client.update_registration(
        regr, messages.Registration(contact=("mailto:admin@example.test",))
    )
    assert updated.body.contact == ("mailto:admin@example.test",)

    deactivated = client.deactivate_registration(updated)
    assert deactivated.body.status == "deactivated"
    with pytest.raises(messages.Error) as refused:
        client.new_order(make_csr("www.test")[0])
    assert refused.value.code == "unauthorized"
    with pytest.raises(messages.Error) as again:
        client.net.account = None
        client.new_account(messages.NewRegistration.from_data(terms_of_service_agreed=True))
    assert again.value.code == "unauthorized"


def test_only_return_existing_without_account(acme_env: AcmeEnv) -> None:
    client = acme_env.client()
    with pytest.raises(messages.Error) as error:
        client.new_account(messages.NewRegistration(only_return_existing=True))
    assert error.value.code == "accountDoesNotExist"
    assert acme_env.rows()["acme_accounts"] == 0


@pytest.mark.parametrize(
    ("contact", "code"),
    [
        ("tel:+15551234", "unsupportedContact"),
        ("mailto:", "invalidContact"),
        ("mailto:a@b.test,c@d.test", "invalidContact"),
        ("mailto:ops@example.test?subject=hi", "invalidContact"),
        ("mailto:ops@-bad-.test", "invalidContact"),
    ],
)
def test_contact_validation(acme_env: AcmeEnv, contact: str, code: str) -> None:
    client = acme_env.client()
    with pytest.raises(messages.Error) as error:
        client.new_account(
            messages.NewRegistration(contact=(contact,), terms_of_service_agreed=True)
        )
    assert error.value.typ.rsplit(":", 1)[1] == code
    assert acme_env.rows()["acme_accounts"] == 0


def test_terms_of_service_must_be_agreed_when_set(acme_env: AcmeEnv) -> None:
    config = acme_env.authority.config
    provisioner = dataclasses.replace(
        config.provisioners["acme"], terms_of_service="https://ca.test/terms"
    )
    acme_env.authority.save_config(config.with_changes(provisioners={"acme": provisioner}))
    client = acme_env.client()
    with pytest.raises(messages.Error) as error:
        client.new_account(messages.NewRegistration())
    assert error.value.typ.endswith(":userActionRequired")
    assert acme_env.rows()["acme_accounts"] == 0
    regr = client.new_account(messages.NewRegistration(terms_of_service_agreed=True))
    assert regr.body.terms_of_service_agreed is True


def test_orders_list_is_paginated(acme_env: AcmeEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accounts_module, "ORDERS_PAGE", 2)
    client = acme_env.register()
    created = [client.new_order(make_csr(name)[0]).uri for name in ("www.test", "api.test")]
    created.append(client.new_order(make_csr("example.test")[0]).uri)
    orders_url = client._post_as_get(client.net.account.uri).json()["orders"]
    first = client._post_as_get(orders_url)
    assert first.json()["orders"] == created[:2]
    next_links = client._get_links(first, "next")
    assert len(next_links) == 1
    second = client._post_as_get(next_links[0])
    assert second.json()["orders"] == created[2:]
    assert client._get_links(second, "next") == []


def test_public_endpoints(acme_env: AcmeEnv) -> None:
    authority = acme_env.authority
    with acme_env.http() as http:
        health = http.get("/health")
        roots = http.get("/roots.pem")
        intermediates = http.get("/intermediates.pem")
        crl = http.get(f"/crl/{authority.config.default_ca}.crl")
        missing = http.get("/crl/nope.crl")
    assert health.json() == {"status": "ok"}
    assert x509.load_pem_x509_certificates(roots.content)[0] == authority.ca_certificate(
        authority.config.root_ca
    )
    assert x509.load_pem_x509_certificates(intermediates.content)[0] == (authority.ca_certificate())
    assert crl.headers["Content-Type"] == "application/pkix-crl"
    parsed = x509.load_der_x509_crl(crl.content)
    assert parsed.is_signature_valid(authority.ca_certificate().public_key())
    assert missing.status_code == 404


@pytest.mark.parametrize(
    "make_key",
    [
        ed25519.Ed25519PrivateKey.generate,
        lambda: ec.generate_private_key(ec.SECP384R1()),
        lambda: ec.generate_private_key(ec.SECP521R1()),
        lambda: rsa.generate_private_key(65537, 2048),
    ],
    ids=["EdDSA", "ES384", "ES512", "RS256"],
)
def test_accounts_with_every_supported_algorithm(acme_env: AcmeEnv, make_key) -> None:
    raw = RawClient(acme_env, key=make_key())
    try:
        kid = raw.register()
        assert raw.post(kid).json()["status"] == "valid"
        if isinstance(raw.key, rsa.RSAPrivateKey):
            raw.alg = "PS256"
            assert raw.post(kid).status_code == 200
    finally:
        raw.close()
