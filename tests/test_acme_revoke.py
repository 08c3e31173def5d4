"""revokeCert (RFC 8555 §7.6): by the issuing account, by an account holding authorizations for
every name, by the certificate's own key; refused for anyone else."""

from __future__ import annotations

import josepy
import pytest
from acme import client, messages
from cryptography import x509

from tests.acme_fixtures import AcmeEnv
from tests.test_acme_orders import answer, deadline, issue


def leaf_of(order: messages.OrderResource) -> x509.Certificate:
    return x509.load_pem_x509_certificates(order.fullchain_pem.encode())[0]


def status(env: AcmeEnv, cert: x509.Certificate) -> str:
    return env.authority.certificate(format(cert.serial_number, "x")).status


def test_revoke_by_issuing_account_then_already_revoked(acme_env: AcmeEnv) -> None:
    acme = acme_env.register()
    order, _ = issue(acme_env, acme, ("www.test",), "http-01")
    cert = leaf_of(order)
    acme.revoke(cert, 1)
    record = acme_env.authority.certificate(format(cert.serial_number, "x"))
    assert record.status == "revoked"
    assert record.revocation_reason == 1
    with pytest.raises(messages.Error) as again:
        acme.revoke(cert, 1)
    assert again.value.typ.endswith(":alreadyRevoked")


def test_revoke_with_the_certificate_key(acme_env: AcmeEnv) -> None:
    acme = acme_env.register()
    order, key = issue(acme_env, acme, ("www.test",), "http-01")
    cert = leaf_of(order)
    by_key = acme_env.client(key=josepy.JWKEC(key=key))
    by_key.revoke(cert, 0)
    assert status(acme_env, cert) == "revoked"


def test_revoke_needs_a_right_to_the_certificate(acme_env: AcmeEnv) -> None:
    owner = acme_env.register()
    order, _ = issue(acme_env, owner, ("www.test",), "http-01")
    cert = leaf_of(order)

    stranger = acme_env.register()
    with pytest.raises(messages.Error) as refused:
        stranger.revoke(cert, 0)
    assert refused.value.typ.endswith(":unauthorized")

    other_key = acme_env.client()  # signs with jwk, but not the certificate's key
    with pytest.raises(messages.Error) as wrong_key:
        other_key.revoke(cert, 0)
    assert wrong_key.value.typ.endswith(":unauthorized")
    assert status(acme_env, cert) == "valid"

    # An account that proves control of every name may revoke (without finalizing).
    csr = order.csr_pem
    proving = stranger.new_order(csr)
    answer(acme_env, stranger, proving.authorizations[0], "http-01")
    stranger.poll_authorizations(proving, deadline())
    stranger.revoke(cert, 4)
    assert status(acme_env, cert) == "revoked"


@pytest.mark.parametrize("reason", [7, 11, -1])
def test_bad_revocation_reasons(acme_env: AcmeEnv, reason: int) -> None:
    acme = acme_env.register()
    order, _ = issue(acme_env, acme, ("www.test",), "http-01")
    cert = leaf_of(order)
    with pytest.raises(messages.Error) as error:
        acme.revoke(cert, reason)
    assert error.value.typ.endswith(":badRevocationReason")
    assert status(acme_env, cert) == "valid"


def test_rsa_and_ps256_accounts(acme_env: AcmeEnv) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    for alg in (josepy.RS256, josepy.PS256):
        key = josepy.JWKRSA(key=rsa.generate_private_key(65537, 2048))
        acme: client.ClientV2 = acme_env.register(acme_env.client(key=key, alg=alg))
        order, _ = issue(acme_env, acme, ("www.test",), "dns-01")
        assert order.body.status == messages.STATUS_VALID
