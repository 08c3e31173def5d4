"""ACME Renewal Information (RFC 9773) over the real server: the unauthenticated renewalInfo
resource, and newOrder's ``replaces`` (certbot's ``acme`` library for the flow; the raw client
for the ``replaces`` field, which that library does not send)."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta

import josepy
import pytest
from acme import client, messages
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from stepui.pki.timespec import parse_time
from tests.acme_fixtures import AcmeEnv, make_csr
from tests.acme_raw import RawClient
from tests.test_acme_orders import answer, deadline, issue


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def cert_id(cert: x509.Certificate) -> str:
    """RFC 9773 §4.1, written out here rather than taken from stepui's client."""
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    serial = cert.serial_number
    return f"{b64(aki.key_identifier)}.{b64(serial.to_bytes(serial.bit_length() // 8 + 1, 'big'))}"


def issued(env: AcmeEnv, acme: client.ClientV2, *names: str) -> x509.Certificate:
    order, _ = issue(env, acme, names, "http-01")
    return x509.load_pem_x509_certificates(order.fullchain_pem.encode())[0]


def renewal_info(env: AcmeEnv, ident: str):
    with env.http() as http:
        directory = http.get(env.server.directory).json()
        return http.get(f"{directory['renewalInfo']}/{ident}")


def window(response) -> tuple[datetime, datetime]:
    body = response.json()["suggestedWindow"]
    return parse_time(body["start"]), parse_time(body["end"])


def test_directory_lists_renewal_info_and_key_change(acme_env: AcmeEnv) -> None:
    with acme_env.http() as http:
        body = http.get(acme_env.server.directory).json()
    prefix = f"{acme_env.server.base_url}/acme/acme/"
    assert body["renewalInfo"] == prefix + "renewal-info"
    assert body["keyChange"] == prefix + "key-change"


def test_window_lies_in_the_last_third_and_moves_to_now_when_revoked(acme_env: AcmeEnv) -> None:
    acme = acme_env.register()
    cert = issued(acme_env, acme, "www.test")
    response = renewal_info(acme_env, cert_id(cert))
    assert response.status_code == 200, response.text
    start, end = window(response)
    begins, ends = cert.not_valid_before_utc, cert.not_valid_after_utc
    lifetime = ends - begins
    assert begins + lifetime * 2 / 3 <= start < end <= ends
    retry = int(response.headers["Retry-After"])
    assert 60 <= retry <= 6 * 3600
    assert "Authorization" not in response.request.headers  # unauthenticated GET

    acme.revoke(cert, 0)
    now = acme_env.clock()
    start, end = window(renewal_info(acme_env, cert_id(cert)))
    assert abs(start - now) < timedelta(minutes=5) and start < end < begins + lifetime * 2 / 3


def test_unknown_or_malformed_cert_ids(acme_env: AcmeEnv) -> None:
    acme = acme_env.register()
    cert = issued(acme_env, acme, "www.test")
    aki, serial = cert_id(cert).split(".")
    other = cert.serial_number + 1
    other_serial = b64(other.to_bytes(other.bit_length() // 8 + 1, "big"))
    padded_zero = b64(bytes([0, 1]))
    for ident, status in [
        (f"{aki}.{other_serial}", 404),  # no such serial
        (f"{b64(b'another issuer key id')}.{serial}", 404),  # AKI of another CA
        (f"{aki}.{serial}=", 400),  # padding
        (f"{aki}{serial}", 400),  # no dot
        (f"{aki}.{padded_zero}", 400),  # not a minimal DER integer
    ]:
        response = renewal_info(acme_env, ident)
        assert response.status_code == status, (ident, response.text)
        assert response.json()["type"] == "urn:ietf:params:acme:error:malformed"


@pytest.fixture
def raw(acme_env: AcmeEnv):
    made = RawClient(acme_env)
    made.register()
    yield made
    made.close()


def replacing_order(raw: RawClient, names: list[str], ident: str):
    identifiers = [{"type": "dns", "value": n} for n in names]
    return raw.post(raw.directory["newOrder"], {"identifiers": identifiers, "replaces": ident})


def library_client(env: AcmeEnv, raw: RawClient) -> client.ClientV2:
    """certbot's client on the raw client's account, to answer challenges and finalize."""
    pem = raw.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    acme = env.client(josepy.JWK.load(pem))
    acme.net.account = messages.RegistrationResource(body=messages.Registration(), uri=raw.kid)
    return acme


def test_replaces_is_recorded_and_a_second_replacement_refused(acme_env: AcmeEnv, raw) -> None:
    acme = library_client(acme_env, raw)
    old = issued(acme_env, acme, "www.test", "api.test")
    old_serial = format(old.serial_number, "x")
    ident = cert_id(old)

    first = replacing_order(raw, ["www.test"], ident)  # overlapping, not equal, identifiers
    assert first.status_code == 201, first.text
    assert first.json()["replaces"] == ident
    order_id = first.headers["Location"].rsplit("/", 1)[1]
    assert acme_env.authority.store.acme.order(order_id).replaces == old_serial

    second = replacing_order(raw, ["www.test", "api.test"], ident)
    assert second.status_code == 409, second.text
    assert second.json()["type"] == "urn:ietf:params:acme:error:alreadyReplaced"

    # Finalizing the replacement records it on the new certificate.
    body = first.json()
    resource = messages.OrderResource(
        body=messages.Order.from_json(body),
        uri=first.headers["Location"],
        authorizations=[
            messages.AuthorizationResource(
                body=messages.Authorization.from_json(raw.post(url).json()), uri=url
            )
            for url in body["authorizations"]
        ],
        csr_pem=make_csr("www.test")[0],
    )
    for authzr in resource.authorizations:
        answer(acme_env, acme, authzr, "http-01")
    done = acme.poll_and_finalize(resource, deadline())
    new = x509.load_pem_x509_certificates(done.fullchain_pem.encode())[0]
    assert acme_env.authority.certificate(format(new.serial_number, "x")).replaces == old_serial
    assert replacing_order(raw, ["www.test"], ident).status_code == 409


def test_an_invalid_replacement_frees_the_certificate(acme_env: AcmeEnv, raw) -> None:
    acme = library_client(acme_env, raw)
    ident = cert_id(issued(acme_env, acme, "www.test"))
    first = replacing_order(raw, ["www.test"], ident)
    assert first.status_code == 201, first.text
    authz = first.json()["authorizations"][0]
    assert raw.post(authz, {"status": "deactivated"}).status_code == 200  # order -> invalid
    again = replacing_order(raw, ["www.test"], ident)
    assert again.status_code == 201, again.text


def test_replaces_refusals(acme_env: AcmeEnv, raw) -> None:
    acme = library_client(acme_env, raw)
    ident = cert_id(issued(acme_env, acme, "www.test"))
    rows = acme_env.rows()

    no_overlap = replacing_order(raw, ["api.test"], ident)
    assert no_overlap.status_code == 400
    assert no_overlap.json()["type"].endswith(":malformed")

    stranger = RawClient(acme_env)
    try:
        stranger.register()
        rows["acme_accounts"] += 1
        theirs = replacing_order(stranger, ["www.test"], ident)
    finally:
        stranger.close()
    assert theirs.status_code == 403
    assert theirs.json()["type"].endswith(":unauthorized")

    unknown = replacing_order(raw, ["www.test"], ident.split(".")[0] + ".AQ")
    assert unknown.status_code == 400 and unknown.json()["type"].endswith(":malformed")
    assert acme_env.rows() == rows
