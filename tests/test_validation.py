"""The challenge validators against real responders and a real DNS server, all on loopback."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import secrets
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server.validation import (
    ChallengeFailed,
    ValidationSettings,
    key_authorization,
    validate,
    validate_dns01,
    validate_http01,
    validate_tls_alpn01,
)
from tests.support.dns_server import DNSServer
from tests.support.responders import CannedResponse, HTTP01Responder, TLSALPN01Responder

REPO = Path(__file__).resolve().parent.parent
CHALLENGE_PATH = "/.well-known/acme-challenge/"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _ipv6_loopback_works() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not _ipv6_loopback_works(), reason="cannot bind ::1 here")


def _free_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def token() -> str:
    return _b64url(secrets.token_bytes(16))


@pytest.fixture
def key_auth(token: str) -> str:
    return key_authorization(token, _b64url(secrets.token_bytes(32)))


@pytest.fixture
def dns_server() -> Iterator[DNSServer]:
    with DNSServer() as server:
        server.add_a("www.test", "127.0.0.1")
        yield server


@pytest.fixture
def http_responder() -> Iterator[HTTP01Responder]:
    with HTTP01Responder() as responder:
        yield responder


@pytest.fixture
def tls_responder() -> Iterator[TLSALPN01Responder]:
    with TLSALPN01Responder() as responder:
        yield responder


def _settings(dns_server: DNSServer | None = None, **ports: int) -> ValidationSettings:
    resolver = dns_server.address if dns_server is not None else None
    return ValidationSettings(resolver=resolver, timeout=5.0, **ports)


async def _failure(coroutine) -> ChallengeFailed:
    with pytest.raises(ChallengeFailed) as raised:
        await coroutine
    return raised.value


def test_key_authorization_joins_token_and_thumbprint() -> None:
    assert key_authorization("tok", "thumb") == "tok.thumb"


async def test_unknown_challenge_type_is_malformed(token: str, key_auth: str) -> None:
    failure = await _failure(validate("http-02", "dns", "www.test", token, key_auth, _settings()))
    assert failure.acme_type == "malformed"


# --- http-01 ---------------------------------------------------------------------------


async def test_http01_succeeds_for_name_resolved_by_configured_dns(
    dns_server: DNSServer, http_responder: HTTP01Responder, token: str, key_auth: str
) -> None:
    http_responder.set_token(token, key_auth)
    settings = _settings(dns_server, http_port=http_responder.port)
    await validate("http-01", "dns", "www.test", token, key_auth, settings)
    assert http_responder.requests == [(CHALLENGE_PATH + token, f"www.test:{http_responder.port}")]


async def test_http01_accepts_trailing_whitespace(
    dns_server: DNSServer, http_responder: HTTP01Responder, token: str, key_auth: str
) -> None:
    http_responder.set_token(token, key_auth, suffix=" \r\n\t\n")
    await validate_http01(
        "dns", "www.test", token, key_auth, _settings(dns_server, http_port=http_responder.port)
    )


async def test_http01_refuses_leading_whitespace(
    dns_server: DNSServer, http_responder: HTTP01Responder, token: str, key_auth: str
) -> None:
    body = (" " + key_auth).encode()
    http_responder.set_route(CHALLENGE_PATH + token, CannedResponse(body=body))
    settings = _settings(dns_server, http_port=http_responder.port)
    failure = await _failure(validate_http01("dns", "www.test", token, key_auth, settings))
    assert failure.acme_type == "incorrectResponse"


async def test_http01_wrong_body_is_not_echoed(
    dns_server: DNSServer, http_responder: HTTP01Responder, token: str, key_auth: str
) -> None:
    body = b"<script>SECRET-REFLECTED-CONTENT</script>"
    http_responder.set_route(CHALLENGE_PATH + token, CannedResponse(body=body))
    settings = _settings(dns_server, http_port=http_responder.port)
    failure = await _failure(validate_http01("dns", "www.test", token, key_auth, settings))
    assert failure.acme_type == "incorrectResponse"
    assert "SECRET" not in failure.detail and "script" not in failure.detail
    assert "SECRET" not in str(failure)


async def test_http01_refuses_oversized_body_even_if_it_starts_right(
    dns_server: DNSServer, http_responder: HTTP01Responder, token: str, key_auth: str
) -> None:
    body = key_auth.encode() + b" " * 10_000 + b"tail"
    http_responder.set_route(CHALLENGE_PATH + token, CannedResponse(body=body))
    settings = _settings(dns_server, http_port=http_responder.port)
    failure = await _failure(validate_http01("dns", "www.test", token, key_auth, settings))
    assert failure.acme_type == "incorrectResponse"
    assert "larger than" in failure.detail


async def test_http01_not_found_is_unauthorized_with_status(
    dns_server: DNSServer, http_responder: HTTP01Responder, token: str, key_auth: str
) -> None:
    settings = _settings(dns_server, http_port=http_responder.port)
    failure = await _failure(validate_http01("dns", "www.test", token, key_auth, settings))
    assert failure.acme_type == "unauthorized"
    assert "404" in failure.detail


def _redirect_chain(responder: HTTP01Responder, token: str, key_auth: str, hops: int) -> None:
    """The challenge path redirects ``hops`` times (relative Locations) to the answer."""
    responder.redirect(CHALLENGE_PATH + token, "/hop/1")
    for hop in range(1, hops):
        responder.redirect(f"/hop/{hop}", f"/hop/{hop + 1}", status=301 if hop % 2 else 307)
    responder.set_route(f"/hop/{hops}", CannedResponse(body=key_auth.encode()))


async def test_http01_follows_ten_redirects(
    dns_server: DNSServer, http_responder: HTTP01Responder, token: str, key_auth: str
) -> None:
    _redirect_chain(http_responder, token, key_auth, hops=10)
    settings = _settings(dns_server, http_port=http_responder.port)
    await validate_http01("dns", "www.test", token, key_auth, settings)
    assert len(http_responder.requests) == 11


async def test_http01_refuses_an_eleventh_redirect(
    dns_server: DNSServer, http_responder: HTTP01Responder, token: str, key_auth: str
) -> None:
    _redirect_chain(http_responder, token, key_auth, hops=11)
    settings = _settings(dns_server, http_port=http_responder.port)
    failure = await _failure(validate_http01("dns", "www.test", token, key_auth, settings))
    assert failure.acme_type == "connection"
    assert "redirects" in failure.detail
    assert f"/hop/{11}" not in [path for path, _ in http_responder.requests]


async def test_http01_refuses_redirect_to_ftp(
    dns_server: DNSServer, http_responder: HTTP01Responder, token: str, key_auth: str
) -> None:
    http_responder.redirect(CHALLENGE_PATH + token, f"ftp://www.test/{token}")
    settings = _settings(dns_server, http_port=http_responder.port)
    failure = await _failure(validate_http01("dns", "www.test", token, key_auth, settings))
    assert failure.acme_type == "connection"
    assert "redirected to a non-HTTP(S) URL (ftp scheme)" in failure.detail


async def test_http01_resolves_redirect_targets_through_configured_dns(
    dns_server: DNSServer, http_responder: HTTP01Responder, token: str, key_auth: str
) -> None:
    dns_server.add_a("other.test", "127.0.0.2")
    with HTTP01Responder(host="127.0.0.2") as other:
        other.set_token(token, key_auth)
        target = other.url(CHALLENGE_PATH + token, host="other.test")
        http_responder.redirect(CHALLENGE_PATH + token, target)
        settings = _settings(dns_server, http_port=http_responder.port)
        await validate_http01("dns", "www.test", token, key_auth, settings)
        assert other.requests == [(CHALLENGE_PATH + token, f"other.test:{other.port}")]


async def test_http01_follows_redirect_to_https_with_sni(
    dns_server: DNSServer, http_responder: HTTP01Responder, token: str, key_auth: str
) -> None:
    with HTTP01Responder(https=True) as secure:
        secure.set_token(token, key_auth)
        http_responder.redirect(
            CHALLENGE_PATH + token, secure.url(CHALLENGE_PATH + token, "www.test")
        )
        settings = _settings(dns_server, http_port=http_responder.port)
        await validate_http01("dns", "www.test", token, key_auth, settings)
        assert secure.server_names == ["www.test"]
        assert secure.requests == [(CHALLENGE_PATH + token, f"www.test:{secure.port}")]


async def test_http01_connection_refused(dns_server: DNSServer, token: str, key_auth: str) -> None:
    settings = _settings(dns_server, http_port=_free_port())
    failure = await _failure(validate_http01("dns", "www.test", token, key_auth, settings))
    assert failure.acme_type == "connection"


async def test_http01_silent_server_times_out_as_connection_failure(
    token: str, key_auth: str
) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        settings = ValidationSettings(http_port=silent.getsockname()[1], timeout=0.5)
        failure = await _failure(validate_http01("ip", "127.0.0.1", token, key_auth, settings))
    assert failure.acme_type == "connection"
    assert "timed out" in failure.detail


async def test_http01_unknown_name_is_a_dns_failure(
    dns_server: DNSServer, token: str, key_auth: str
) -> None:
    failure = await _failure(
        validate_http01("dns", "nowhere.test", token, key_auth, _settings(dns_server))
    )
    assert failure.acme_type == "dns"
    assert "NXDOMAIN" in failure.detail


async def test_http01_falls_back_to_the_next_address_when_one_refuses(
    dns_server: DNSServer, http_responder: HTTP01Responder, token: str, key_auth: str
) -> None:
    dns_server.add_a("multi.test", "127.0.0.3")
    dns_server.add_a("multi.test", "127.0.0.1")
    http_responder.set_token(token, key_auth)
    settings = _settings(dns_server, http_port=http_responder.port)
    await validate_http01("dns", "multi.test", token, key_auth, settings)
    assert len(http_responder.requests) == 1


@needs_ipv6
async def test_http01_prefers_ipv6_and_keeps_its_answer(
    dns_server: DNSServer, token: str, key_auth: str
) -> None:
    """Both families answer: the IPv6 answer counts, the IPv4 one is never asked."""
    dns_server.add_a("dual.test", "127.0.0.1")
    dns_server.add_aaaa("dual.test", "::1")
    with HTTP01Responder(host="::1") as ipv6:
        ipv6.set_token(token, key_auth)
        try:
            ipv4 = HTTP01Responder(port=ipv6.port).start()
        except OSError:
            pytest.skip("the IPv6 responder's port is taken on 127.0.0.1")
        try:
            await validate_http01(
                "dns", "dual.test", token, key_auth, _settings(dns_server, http_port=ipv6.port)
            )
        finally:
            ipv4.stop()
    assert len(ipv6.requests) == 1
    assert ipv4.requests == []


async def test_http01_ipv4_identifier(
    http_responder: HTTP01Responder, token: str, key_auth: str
) -> None:
    http_responder.set_token(token, key_auth)
    settings = _settings(http_port=http_responder.port)
    await validate("http-01", "ip", "127.0.0.1", token, key_auth, settings)
    assert http_responder.requests[0][1] == f"127.0.0.1:{http_responder.port}"


@needs_ipv6
async def test_http01_ipv6_identifier(token: str, key_auth: str) -> None:
    with HTTP01Responder(host="::1") as responder:
        responder.set_token(token, key_auth)
        await validate_http01("ip", "::1", token, key_auth, _settings(http_port=responder.port))
        assert responder.requests == [(CHALLENGE_PATH + token, f"[::1]:{responder.port}")]


async def test_http01_serves_webroot_files(tmp_path: Path, token: str, key_auth: str) -> None:
    challenge_dir = tmp_path / ".well-known" / "acme-challenge"
    challenge_dir.mkdir(parents=True)
    (challenge_dir / token).write_text(key_auth)
    with HTTP01Responder(webroot=tmp_path) as responder:
        await validate_http01(
            "ip", "127.0.0.1", token, key_auth, _settings(http_port=responder.port)
        )


# --- dns-01 ----------------------------------------------------------------------------


def _txt_value(key_auth: str) -> str:
    return _b64url(hashlib.sha256(key_auth.encode()).digest())


async def test_dns01_succeeds_among_other_records(
    dns_server: DNSServer, token: str, key_auth: str
) -> None:
    dns_server.add_txt("_acme-challenge.www.test", "unrelated")
    dns_server.add_txt("_acme-challenge.www.test", _txt_value(key_auth))
    await validate("dns-01", "dns", "www.test", token, key_auth, _settings(dns_server))


async def test_dns01_wrong_value_is_incorrect_response(
    dns_server: DNSServer, token: str, key_auth: str
) -> None:
    dns_server.add_txt("_acme-challenge.www.test", _txt_value(key_auth + "x"))
    failure = await _failure(
        validate_dns01("dns", "www.test", token, key_auth, _settings(dns_server))
    )
    assert failure.acme_type == "incorrectResponse"
    assert "1 TXT record" in failure.detail


async def test_dns01_missing_record_is_dns_failure(
    dns_server: DNSServer, token: str, key_auth: str
) -> None:
    failure = await _failure(
        validate_dns01("dns", "www.test", token, key_auth, _settings(dns_server))
    )
    assert failure.acme_type == "dns"
    assert "_acme-challenge.www.test" in failure.detail


async def test_dns01_fails_once_the_record_is_removed(
    dns_server: DNSServer, token: str, key_auth: str
) -> None:
    dns_server.add_txt("_acme-challenge.www.test", _txt_value(key_auth))
    await validate_dns01("dns", "www.test", token, key_auth, _settings(dns_server))
    dns_server.remove_txt("_acme-challenge.www.test", _txt_value(key_auth))
    failure = await _failure(
        validate_dns01("dns", "www.test", token, key_auth, _settings(dns_server))
    )
    assert failure.acme_type == "dns"


async def test_dns01_name_without_txt_is_dns_failure(
    dns_server: DNSServer, token: str, key_auth: str
) -> None:
    dns_server.add_a("_acme-challenge.www.test", "127.0.0.1")
    failure = await _failure(
        validate_dns01("dns", "www.test", token, key_auth, _settings(dns_server))
    )
    assert failure.acme_type == "dns"
    assert "NXDOMAIN" not in failure.detail


async def test_dns01_follows_cname(dns_server: DNSServer, token: str, key_auth: str) -> None:
    dns_server.add_cname("_acme-challenge.www.test", "www.validation.test")
    dns_server.add_txt("www.validation.test", _txt_value(key_auth))
    await validate_dns01("dns", "www.test", token, key_auth, _settings(dns_server))


async def test_dns01_on_ip_identifier_is_malformed(
    dns_server: DNSServer, token: str, key_auth: str
) -> None:
    failure = await _failure(
        validate_dns01("ip", "127.0.0.1", token, key_auth, _settings(dns_server))
    )
    assert failure.acme_type == "malformed"


async def test_dns01_record_published_from_another_process(
    dns_server: DNSServer, token: str, key_auth: str
) -> None:
    """The hook lego's exec provider and certbot's manual hooks will run."""
    server = f"{dns_server.host}:{dns_server.port}"
    env = {**os.environ, "STEPUI_TEST_DNS": server}
    command = [sys.executable, "-m", "tests.support.dns_server"]
    fqdn = "_acme-challenge.www.test."
    settings = _settings(dns_server)
    subprocess.run([*command, "present", fqdn, _txt_value(key_auth)], cwd=REPO, env=env, check=True)
    await validate_dns01("dns", "www.test", token, key_auth, settings)
    script = REPO / "tests" / "support" / "dns_server.py"
    subprocess.run([sys.executable, script, "cleanup", fqdn, "--server", server], check=True)
    failure = await _failure(validate_dns01("dns", "www.test", token, key_auth, settings))
    assert failure.acme_type == "dns"


# --- tls-alpn-01 -----------------------------------------------------------------------


async def test_tls_alpn01_succeeds_for_dns_name(
    dns_server: DNSServer, tls_responder: TLSALPN01Responder, token: str, key_auth: str
) -> None:
    tls_responder.set_certificate("dns", "www.test", key_auth)
    settings = _settings(dns_server, tls_port=tls_responder.port)
    await validate("tls-alpn-01", "dns", "www.test", token, key_auth, settings)
    assert tls_responder.server_names == ["www.test"]


async def test_tls_alpn01_ipv4_identifier_uses_reverse_name_sni(
    tls_responder: TLSALPN01Responder, token: str, key_auth: str
) -> None:
    tls_responder.set_certificate("ip", "127.0.0.1", key_auth)
    settings = _settings(tls_port=tls_responder.port)
    await validate_tls_alpn01("ip", "127.0.0.1", token, key_auth, settings)
    assert tls_responder.server_names == ["1.0.0.127.in-addr.arpa"]


@needs_ipv6
async def test_tls_alpn01_ipv6_identifier(token: str, key_auth: str) -> None:
    with TLSALPN01Responder(host="::1") as responder:
        responder.set_certificate("ip", "::1", key_auth)
        await validate_tls_alpn01("ip", "::1", token, key_auth, _settings(tls_port=responder.port))
        assert responder.server_names == [("1." + "0." * 31 + "ip6.arpa")]


async def test_tls_alpn01_falls_back_to_the_next_address_when_one_refuses(
    dns_server: DNSServer, tls_responder: TLSALPN01Responder, token: str, key_auth: str
) -> None:
    dns_server.add_a("multi.test", "127.0.0.3")
    dns_server.add_a("multi.test", "127.0.0.1")
    tls_responder.set_certificate("dns", "multi.test", key_auth)
    settings = _settings(dns_server, tls_port=tls_responder.port)
    await validate_tls_alpn01("dns", "multi.test", token, key_auth, settings)
    assert tls_responder.server_names == ["multi.test"]


@pytest.mark.parametrize(
    ("suffix", "options", "acme_type", "detail"),
    [
        ("", {"critical": False}, "unauthorized", "critical"),
        ("", {"extra_sans": ("evil.test",)}, "unauthorized", "exactly one"),
        ("", {"digest": bytes(32)}, "incorrectResponse", None),
        ("-other-account", {}, "incorrectResponse", None),
    ],
    ids=["non-critical-extension", "two-sans", "wrong-digest", "other-key-authorization"],
)
async def test_tls_alpn01_refuses_a_wrong_certificate(
    dns_server: DNSServer,
    tls_responder: TLSALPN01Responder,
    token: str,
    key_auth: str,
    suffix: str,
    options: dict[str, Any],
    acme_type: str,
    detail: str | None,
) -> None:
    """The responder's validation certificate breaks RFC 8737 in one way (``options``), or is
    for another key authorization (``suffix``)."""
    tls_responder.set_certificate("dns", "www.test", key_auth + suffix, **options)
    settings = _settings(dns_server, tls_port=tls_responder.port)
    failure = await _failure(validate_tls_alpn01("dns", "www.test", token, key_auth, settings))
    assert failure.acme_type == acme_type
    if detail is not None:
        assert detail in failure.detail


async def test_tls_alpn01_requires_acme_tls_alpn(
    dns_server: DNSServer, token: str, key_auth: str
) -> None:
    with TLSALPN01Responder(alpn=False) as responder:
        responder.set_certificate("dns", "www.test", key_auth)
        settings = _settings(dns_server, tls_port=responder.port)
        failure = await _failure(validate_tls_alpn01("dns", "www.test", token, key_auth, settings))
    assert failure.acme_type == "tls"
    assert "acme-tls/1" in failure.detail


async def _negotiated_version(port: int) -> str:
    """The TLS version that a client willing to speak anything gets from the responder."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    _, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname="www.test"
    )
    version = writer.get_extra_info("ssl_object").version()
    writer.transport.abort()
    return version


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
async def test_tls_alpn01_refuses_tls_1_1(dns_server: DNSServer, token: str, key_auth: str) -> None:
    with TLSALPN01Responder(max_version=ssl.TLSVersion.TLSv1_1) as responder:
        responder.set_certificate("dns", "www.test", key_auth)
        assert await _negotiated_version(responder.port) == "TLSv1.1"
        settings = _settings(dns_server, tls_port=responder.port)
        failure = await _failure(validate_tls_alpn01("dns", "www.test", token, key_auth, settings))
    assert failure.acme_type == "tls"
    assert "PROTOCOL_VERSION" in failure.detail


async def test_tls_alpn01_unknown_server_name_is_tls_failure(
    dns_server: DNSServer, tls_responder: TLSALPN01Responder, token: str, key_auth: str
) -> None:
    tls_responder.set_certificate("dns", "other.test", key_auth)
    settings = _settings(dns_server, tls_port=tls_responder.port)
    failure = await _failure(validate_tls_alpn01("dns", "www.test", token, key_auth, settings))
    assert failure.acme_type == "tls"


async def test_tls_alpn01_connection_refused(
    dns_server: DNSServer, token: str, key_auth: str
) -> None:
    settings = _settings(dns_server, tls_port=_free_port())
    failure = await _failure(validate_tls_alpn01("dns", "www.test", token, key_auth, settings))
    assert failure.acme_type == "connection"
