"""Orders end to end with certbot's acme client: dns, ip and wildcard identifiers, all three
challenges answered by the test responders and DNS server, finalize and download."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import time
from datetime import timedelta

import pytest
from acme import challenges, client, errors, messages
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.verification import PolicyBuilder, Store

from server.jws import load_jwk
from stepui.events import Event
from tests.acme_fixtures import AcmeEnv, make_csr
from tests.acme_raw import RawClient, b64, public_jwk


def deadline() -> dt.datetime:
    return dt.datetime.now() + dt.timedelta(seconds=90)


def challenge_type(challb: messages.ChallengeBody) -> str:
    """The acme library no longer models tls-alpn-01: it arrives as UnrecognizedChallenge."""
    if isinstance(challb.chall, challenges.UnrecognizedChallenge):
        return challb.chall.jobj["type"]
    return challb.chall.typ


def answer(env: AcmeEnv, acme: client.ClientV2, authzr, kind: str) -> None:
    """Publish the response for one challenge where the server will look, and say so."""
    challb = next(c for c in authzr.body.challenges if challenge_type(c) == kind)
    key = acme.net.key
    identifier = authzr.body.identifier
    if kind == "tls-alpn-01":
        token = challb.chall.jobj["token"]
        key_authorization = f"{token}.{b64(key.thumbprint())}"
        env.tls_alpn.set_certificate(identifier.typ.name, identifier.value, key_authorization)
        acme.answer_challenge(challb, challenges.HTTP01Response())  # the body is just {}
        return
    if kind == "http-01":
        response, validation = challb.chall.response_and_validation(key)
        env.http01.set_token(challb.chall.encode("token"), validation)
    else:
        response, validation = challb.chall.response_and_validation(key)
        env.dns.add_txt(f"_acme-challenge.{identifier.value}", validation)
    acme.answer_challenge(challb, response)


def issue(env: AcmeEnv, acme: client.ClientV2, names: tuple[str, ...], kind: str, **kwargs):
    csr, key = make_csr(*names)
    order = acme.new_order(csr)
    for authzr in order.authorizations:
        answer(env, acme, authzr, kind)
    return acme.poll_and_finalize(order, deadline()), key


def verify_chain(env: AcmeEnv, fullchain_pem: str, name: x509.GeneralName) -> x509.Certificate:
    leaf, *chain = x509.load_pem_x509_certificates(fullchain_pem.encode())
    root = x509.load_pem_x509_certificate(env.root.read_bytes())
    verifier = PolicyBuilder().store(Store([root])).build_server_verifier(name)
    verifier.verify(leaf, chain)
    return leaf


def sans(cert: x509.Certificate) -> list[x509.GeneralName]:
    return list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)


def test_http01_issues_a_certificate_for_dns_names(acme_env: AcmeEnv) -> None:
    seen: list[Event] = []
    acme_env.authority.events.subscribe(seen.append)
    acme = acme_env.register()
    order, key = issue(acme_env, acme, ("www.test", "api.test"), "http-01")
    assert order.body.status == messages.STATUS_VALID
    leaf = verify_chain(acme_env, order.fullchain_pem, x509.DNSName("www.test"))
    assert sans(leaf) == [x509.DNSName("www.test"), x509.DNSName("api.test")]
    assert leaf.public_key().public_numbers() == key.public_key().public_numbers()
    record = acme_env.authority.certificate(format(leaf.serial_number, "x"))
    assert record.requester == f"acme:{acme.net.account.uri.rsplit('/', 1)[1]}"
    kinds = [e.kind for e in seen]
    assert "acme.order.created" in kinds
    assert kinds.count("acme.challenge.validated") == 2
    issued = [e for e in seen if e.kind == "acme.certificate.issued"]
    assert issued[0].data["serial"] == record.serial
    requests = [e for e in seen if e.kind == "acme.request"]
    assert {"method", "path", "status", "account", "latency_ms"} <= set(requests[-1].data)


def test_finalize_answers_valid_at_once(acme_env: AcmeEnv) -> None:
    acme = acme_env.register()
    csr, _ = make_csr("www.test")
    order = acme.new_order(csr)
    answer(acme_env, acme, order.authorizations[0], "http-01")
    order = acme.poll_authorizations(order, deadline())
    finalized = acme.begin_finalization(order)
    assert finalized.body.status == messages.STATUS_VALID
    assert finalized.body.certificate.startswith(acme_env.server.base_url)


def test_ip_identifier_offers_no_dns01(acme_env: AcmeEnv) -> None:
    acme = acme_env.register()
    csr, _ = make_csr("127.0.0.1")
    order = acme.new_order(csr)
    authz = order.authorizations[0].body
    assert authz.identifier.typ == messages.IDENTIFIER_IP
    assert {challenge_type(c) for c in authz.challenges} == {"http-01", "tls-alpn-01"}
    answer(acme_env, acme, order.authorizations[0], "http-01")
    done = acme.poll_and_finalize(order, deadline())
    leaf = x509.load_pem_x509_certificates(done.fullchain_pem.encode())[0]
    assert sans(leaf) == [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]


@pytest.mark.parametrize("names", [("www.test",), ("127.0.0.1",)])
def test_tls_alpn01(acme_env: AcmeEnv, names: tuple[str, ...]) -> None:
    acme = acme_env.register()
    order, _ = issue(acme_env, acme, names, "tls-alpn-01")
    assert order.body.status == messages.STATUS_VALID
    assert acme_env.tls_alpn.server_names  # the validator did come


def test_wildcard_uses_dns01_on_the_base_name(acme_env: AcmeEnv) -> None:
    acme = acme_env.register()
    csr, _ = make_csr("*.example.test", "example.test")
    order = acme.new_order(csr)
    wildcard = next(a for a in order.authorizations if a.body.wildcard)
    assert wildcard.body.identifier.value == "example.test"
    assert [c.chall.typ for c in wildcard.body.challenges] == ["dns-01"]
    for authzr in order.authorizations:
        answer(acme_env, acme, authzr, "dns-01")
    done = acme.poll_and_finalize(order, deadline())
    leaf = verify_chain(acme_env, done.fullchain_pem, x509.DNSName("a.example.test"))
    assert x509.DNSName("*.example.test") in sans(leaf)


def test_failed_challenge_invalidates_authorization_and_order(acme_env: AcmeEnv) -> None:
    seen: list[Event] = []
    acme_env.authority.events.subscribe(seen.append)
    acme = acme_env.register()
    csr, _ = make_csr("www.test")
    order = acme.new_order(csr)
    challb = next(c for c in order.authorizations[0].body.challenges if c.chall.typ == "http-01")
    acme_env.http01.set_token(challb.chall.encode("token"), "not-the-key-authorization")
    acme.answer_challenge(challb, challb.chall.response(acme.net.key))
    with pytest.raises(errors.ValidationError) as failed:
        acme.poll_authorizations(order, deadline())
    authz = failed.value.failed_authzrs[0].body
    assert authz.status == messages.STATUS_INVALID
    error = next(c for c in authz.challenges if c.chall.typ == "http-01").error
    assert error.typ == "urn:ietf:params:acme:error:incorrectResponse"
    body = acme._post_as_get(order.uri).json()
    assert body["status"] == "invalid"
    assert body["error"]["type"].endswith("incorrectResponse")
    failures = [e for e in seen if e.kind == "acme.challenge.failed"]
    assert failures[0].data["identifier"] == "dns:www.test"
    with pytest.raises(messages.Error) as not_ready:
        acme.begin_finalization(order)
    assert not_ready.value.typ.endswith(":orderNotReady")


def test_finalize_before_ready_is_refused(acme_env: AcmeEnv) -> None:
    acme = acme_env.register()
    order = acme.new_order(make_csr("www.test")[0])
    with pytest.raises(messages.Error) as error:
        acme.begin_finalization(order)
    assert error.value.typ.endswith(":orderNotReady")


def test_bad_csr_keeps_the_order_ready(acme_env: AcmeEnv) -> None:
    acme = acme_env.register()
    csr, _ = make_csr("www.test")
    order = acme.new_order(csr)
    answer(acme_env, acme, order.authorizations[0], "http-01")
    order = acme.poll_authorizations(order, deadline())
    account_key = acme.net.key.key._wrapped
    for bad_csr in (
        make_csr("www.test", "api.test")[0],
        make_csr("api.test")[0],
        make_csr("www.test", cn="other.test")[0],
        make_csr("www.test", key=account_key)[0],
    ):
        with pytest.raises(messages.Error) as error:
            acme.begin_finalization(order.update(csr_pem=bad_csr))
        assert error.value.typ.endswith(":badCSR")
        assert acme._post_as_get(order.uri).json()["status"] == "ready"
    assert acme.begin_finalization(order).body.status == messages.STATUS_VALID


def test_authorization_deactivation_invalidates_the_order(acme_env: AcmeEnv) -> None:
    acme = acme_env.register()
    order = acme.new_order(make_csr("www.test")[0])
    deactivated = acme.deactivate_authorization(order.authorizations[0])
    assert deactivated.body.status == messages.STATUS_DEACTIVATED
    assert acme._post_as_get(order.uri).json()["status"] == "invalid"


def test_orders_and_authorizations_expire(acme_env: AcmeEnv) -> None:
    acme = acme_env.register()
    order = acme.new_order(make_csr("www.test")[0])
    acme_env.clock.advance(timedelta(hours=25))
    assert acme._post_as_get(order.uri).json()["status"] == "invalid"
    authz = acme._post_as_get(order.authorizations[0].uri).json()
    assert authz["status"] == "expired"


def test_not_before_and_not_after_are_honoured_or_refused(acme_env: AcmeEnv) -> None:
    raw = RawClient(acme_env)
    raw.register()
    now = acme_env.clock().replace(microsecond=0)
    not_before, not_after = now + timedelta(hours=1), now + timedelta(hours=3)
    identifiers = [{"type": "dns", "value": "www.test"}]
    response = raw.post(
        raw.directory["newOrder"],
        {
            "identifiers": identifiers,
            "notBefore": not_before.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "notAfter": not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    )
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["notAfter"] == not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    authz = raw.post(order["authorizations"][0]).json()
    challenge = next(c for c in authz["challenges"] if c["type"] == "http-01")
    key_auth = f"{challenge['token']}.{load_jwk(public_jwk(raw.key)).thumbprint}"
    acme_env.http01.set_token(challenge["token"], key_auth)
    assert raw.post(challenge["url"], {}).status_code == 200
    for _ in range(90):
        if raw.post(response.headers["Location"]).json()["status"] == "ready":
            break
        time.sleep(1)
    csr, _ = make_csr("www.test")
    der = x509.load_pem_x509_csr(csr).public_bytes(serialization.Encoding.DER)
    final = raw.post(order["finalize"], {"csr": b64(der)}).json()
    assert final["status"] == "valid"
    pem = raw.post(final["certificate"]).text
    leaf = x509.load_pem_x509_certificates(pem.encode())[0]
    assert leaf.not_valid_before_utc == not_before
    assert leaf.not_valid_after_utc == not_after

    too_long = raw.post(
        raw.directory["newOrder"],
        {
            "identifiers": identifiers,
            "notAfter": (now + timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    )
    assert too_long.status_code == 400
    assert too_long.json()["type"] == "urn:ietf:params:acme:error:malformed"
    raw.close()


def test_policy_refusals_name_each_identifier(acme_env: AcmeEnv) -> None:
    config = acme_env.authority.config
    provisioner = dataclasses.replace(
        config.provisioners["acme"], policy={"allow": {"dns": [".test"]}}
    )
    acme_env.authority.save_config(config.with_changes(provisioners={"acme": provisioner}))
    raw = RawClient(acme_env)
    raw.register()
    before = acme_env.rows()
    response = raw.post(
        raw.directory["newOrder"],
        {
            "identifiers": [
                {"type": "dns", "value": "www.test"},
                {"type": "dns", "value": "www.example.org"},
                {"type": "dns", "value": "bad_name.test"},
            ]
        },
    )
    problem = response.json()
    assert response.status_code == 400
    assert problem["type"] == "urn:ietf:params:acme:error:rejectedIdentifier"
    assert [s["identifier"]["value"] for s in problem["subproblems"]] == [
        "www.example.org",
        "bad_name.test",
    ]
    unsupported = raw.post(
        raw.directory["newOrder"], {"identifiers": [{"type": "email", "value": "a@b.test"}]}
    )
    assert unsupported.json()["type"] == "urn:ietf:params:acme:error:unsupportedIdentifier"
    assert acme_env.rows() == before
    raw.close()


def test_wildcard_needs_dns01_enabled(acme_env: AcmeEnv) -> None:
    config = acme_env.authority.config
    provisioner = dataclasses.replace(config.provisioners["acme"], challenges=("http-01",))
    acme_env.authority.save_config(config.with_changes(provisioners={"acme": provisioner}))
    acme = acme_env.register()
    with pytest.raises(messages.Error) as error:
        acme.new_order(make_csr("*.example.test")[0])
    assert error.value.typ.endswith(":rejectedIdentifier")


def test_alternate_chain_is_linked(acme_env: AcmeEnv) -> None:
    authority = acme_env.authority
    other = authority.new_authority("root", "Other Root")
    authority.cross_sign(authority.config.default_ca, other.id)
    acme = acme_env.register()
    csr, _ = make_csr("www.test")
    order = acme.new_order(csr)
    answer(acme_env, acme, order.authorizations[0], "http-01")
    order = acme.poll_authorizations(order, deadline())
    done = acme.finalize_order(order, deadline(), fetch_alternative_chains=True)
    assert len(done.alternative_fullchains_pem) == 1
    primary = x509.load_pem_x509_certificates(done.fullchain_pem.encode())
    alternate = x509.load_pem_x509_certificates(done.alternative_fullchains_pem[0].encode())
    assert primary[0] == alternate[0]
    assert alternate[1].issuer == authority.ca_certificate(other.id).subject
    response = acme._post_as_get(done.body.certificate)
    assert response.headers["Content-Type"] == "application/pem-certificate-chain"


def test_other_accounts_cannot_read_orders(acme_env: AcmeEnv) -> None:
    owner = acme_env.register()
    order = owner.new_order(make_csr("www.test")[0])
    intruder = acme_env.register()
    for url in (order.uri, order.authorizations[0].uri):
        with pytest.raises(messages.Error) as error:
            intruder._post_as_get(url)
        assert error.value.typ.endswith(":unauthorized")
