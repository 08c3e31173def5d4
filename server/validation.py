"""ACME challenge validators: http-01 (RFC 8555 §8.3), dns-01 (§8.4), tls-alpn-01 (RFC 8737).

Each validator either returns None (the challenge is satisfied) or raises `ChallengeFailed`
carrying the short ACME error type that the server turns into a problem document, so the
server never has to interpret network exceptions itself.

Design decisions:
- Name resolution is ours, not the HTTP/TLS library's, so that a configured DNS server
  (``ValidationSettings.resolver``) is used for every hop, including redirect targets. We
  connect to the resolved address and send the name in the Host header / SNI.
- A host with several addresses is tried address by address (IPv6 first, as Let's Encrypt
  does), moving on only when the TCP connection itself fails: an address that answers has
  given its answer.
- Every attempt is bounded by ``ValidationSettings.timeout`` overall; a timeout is a
  ``connection`` failure (``dns`` for dns-01).
- Fetched bodies are never echoed in error details (RFC 8555 §10.4): the server would
  otherwise become a reflector of arbitrary content.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ipaddress
import socket
import ssl
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import dns.asyncresolver
import dns.exception
import dns.name
import dns.resolver
import dns.reversename
import httpx
from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

MAX_REDIRECTS = 10
BODY_LIMIT = 8 * 1024
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
ACME_TLS_ALPN = "acme-tls/1"
ACME_IDENTIFIER_OID = ObjectIdentifier("1.3.6.1.5.5.7.1.31")
USER_AGENT = "stepui-acme-validator"


@dataclass(frozen=True)
class ValidationSettings:
    """Where and how long the validators look; mirrors step-ca's --acme-*-port flags."""

    http_port: int = 80
    tls_port: int = 443
    resolver: tuple[str, int] | None = None
    timeout: float = 10.0
    # One client per server process: building one (and its SSLContext) per validation costs
    # more than the validation's own HTTP exchange. None: a client for this validation only.
    http: httpx.AsyncClient | None = field(default=None, compare=False, repr=False)


class ChallengeFailed(Exception):
    """A challenge did not validate.

    ``acme_type`` is the short ACME error type: 'connection', 'dns', 'incorrectResponse',
    'tls', 'unauthorized' or 'malformed'; ``detail`` is safe to show to the client.
    """

    def __init__(self, acme_type: str, detail: str) -> None:
        super().__init__(f"{acme_type}: {detail}")
        self.acme_type = acme_type
        self.detail = detail


def key_authorization(token: str, thumbprint_b64url: str) -> str:
    """The key authorization of RFC 8555 §8.1: token, a dot, the account key thumbprint."""
    return f"{token}.{thumbprint_b64url}"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _sha256(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


async def validate(
    challenge_type: str,
    identifier_type: str,
    identifier_value: str,
    token: str,
    key_authorization: str,
    settings: ValidationSettings,
) -> None:
    """Validate one challenge by type; raise `ChallengeFailed` unless it is satisfied."""
    validators = {
        "http-01": validate_http01,
        "dns-01": validate_dns01,
        "tls-alpn-01": validate_tls_alpn01,
    }
    validator = validators.get(challenge_type)
    if validator is None:
        raise ChallengeFailed("malformed", f"unsupported challenge type {challenge_type!r}")
    await validator(identifier_type, identifier_value, token, key_authorization, settings)


def _check_identifier(identifier_type: str, identifier_value: str) -> None:
    """Refuse identifiers the validators cannot target before any traffic is sent."""
    if identifier_type == "dns":
        if not identifier_value or identifier_value.startswith("*."):
            raise ChallengeFailed("malformed", f"invalid DNS identifier {identifier_value!r}")
        return
    if identifier_type == "ip":
        try:
            ipaddress.ip_address(identifier_value)
        except ValueError:
            raise ChallengeFailed(
                "malformed", f"invalid IP identifier {identifier_value!r}"
            ) from None
        return
    raise ChallengeFailed("malformed", f"unsupported identifier type {identifier_type!r}")


# --- name resolution -------------------------------------------------------------------


def _configured_resolver(settings: ValidationSettings) -> dns.asyncresolver.Resolver:
    """A stub resolver for the configured DNS server, or the system's configuration."""
    if settings.resolver is None:
        try:
            resolver = dns.asyncresolver.Resolver()
        except dns.exception.DNSException as exc:
            raise ChallengeFailed("dns", f"no usable system DNS configuration: {exc}") from None
    else:
        host, port = settings.resolver
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [host]
        resolver.port = port
    resolver.lifetime = settings.timeout
    return resolver


async def _resolve_addresses(host: str, settings: ValidationSettings) -> list[str]:
    """Addresses to try for ``host``, IPv6 first; an IP literal is its own address."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    if settings.resolver is None:
        return await _system_addresses(host)
    return await _dns_addresses(host, settings)


async def _system_addresses(host: str) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ChallengeFailed("dns", f"could not resolve {host}: {exc.strerror}") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    return sorted(addresses, key=lambda address: ":" not in address)


async def _dns_addresses(host: str, settings: ValidationSettings) -> list[str]:
    resolver = _configured_resolver(settings)
    qname = dns.name.from_text(host)
    answers = await asyncio.gather(
        resolver.resolve(qname, "AAAA", search=False),
        resolver.resolve(qname, "A", search=False),
        return_exceptions=True,
    )
    addresses: list[str] = []
    failures: list[dns.exception.DNSException] = []
    for answer in answers:
        if isinstance(answer, dns.exception.DNSException):
            failures.append(answer)
        elif isinstance(answer, BaseException):
            raise answer
        else:
            addresses.extend(rdata.address for rdata in answer)
    if addresses:
        return addresses
    raise ChallengeFailed("dns", _address_failure_detail(host, failures))


def _address_failure_detail(host: str, failures: list[dns.exception.DNSException]) -> str:
    if any(isinstance(failure, dns.resolver.NXDOMAIN) for failure in failures):
        return f"could not resolve {host}: NXDOMAIN"
    if all(isinstance(failure, dns.resolver.NoAnswer) for failure in failures):
        return f"no A or AAAA records found for {host}"
    reasons = "; ".join(sorted({type(failure).__name__ for failure in failures}))
    return f"DNS lookup of A/AAAA for {host} failed: {reasons}"


def _connect_timeout(settings: ValidationSettings, address_count: int) -> float:
    """Share the budget so that one unreachable address leaves time for the others."""
    return settings.timeout / max(1, address_count)


# --- http-01 ---------------------------------------------------------------------------


async def validate_http01(
    identifier_type: str,
    identifier_value: str,
    token: str,
    key_authorization: str,
    settings: ValidationSettings,
) -> None:
    """Fetch the key authorization over plain HTTP (RFC 8555 §8.3, RFC 8738 §3)."""
    _check_identifier(identifier_type, identifier_value)
    url = httpx.URL(
        scheme="http",
        host=identifier_value,
        port=settings.http_port,
        path=f"/.well-known/acme-challenge/{token}",
    )
    try:
        async with asyncio.timeout(settings.timeout):
            body = await _fetch_following_redirects(url, settings)
    except TimeoutError:
        raise ChallengeFailed(
            "connection", f"timed out after {settings.timeout:g}s fetching {url}"
        ) from None
    if len(body) > BODY_LIMIT:
        raise ChallengeFailed(
            "incorrectResponse", f"the response from {url} is larger than {BODY_LIMIT} bytes"
        )
    if body.rstrip() != key_authorization.encode("utf-8"):
        raise ChallengeFailed(
            "incorrectResponse", f"the response from {url} does not match the key authorization"
        )


async def _fetch_following_redirects(url: httpx.URL, settings: ValidationSettings) -> bytes:
    """GET ``url``, following at most MAX_REDIRECTS http(s) redirects, each hop resolved by us."""
    async with AsyncExitStack() as stack:
        client = settings.http or await stack.enter_async_context(validation_client())
        for _ in range(MAX_REDIRECTS + 1):
            status, location, body = await _fetch_once(client, url, settings)
            if status in REDIRECT_STATUSES and location is not None:
                url = _redirect_target(url, location)
                continue
            if status != 200:
                raise ChallengeFailed("unauthorized", f"{url} answered HTTP {status}")
            return body
    raise ChallengeFailed("connection", f"more than {MAX_REDIRECTS} redirects, last to {url}")


def validation_client() -> httpx.AsyncClient:
    """No proxies from the environment, no certificate checks (an http-01 redirect to https
    is followed whatever its certificate, RFC 8555 §8.3), and no connection reuse: every
    validation talks to the host afresh."""
    limits = httpx.Limits(max_keepalive_connections=0)
    return httpx.AsyncClient(trust_env=False, verify=False, limits=limits)


def _redirect_target(current: httpx.URL, location: str) -> httpx.URL:
    try:
        target = current.join(location)
    except httpx.InvalidURL:
        raise ChallengeFailed("connection", f"{current} redirected to an invalid URL") from None
    if target.scheme not in ("http", "https") or not target.host:
        raise ChallengeFailed(
            "connection", f"{current} redirected to a non-HTTP(S) URL ({target.scheme} scheme)"
        )
    return target


async def _fetch_once(
    client: httpx.AsyncClient, url: httpx.URL, settings: ValidationSettings
) -> tuple[int, str | None, bytes]:
    """One GET of ``url``: try each address of its host until a TCP connection succeeds."""
    addresses = await _resolve_addresses(url.host, settings)
    timeout = httpx.Timeout(settings.timeout, connect=_connect_timeout(settings, len(addresses)))
    refusals: list[str] = []
    for address in addresses:
        try:
            return await _fetch_from(client, url, address, timeout)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            refusals.append(f"{address}: {str(exc) or type(exc).__name__}")
        except httpx.TimeoutException:
            raise ChallengeFailed("connection", f"timed out fetching {url}") from None
        except httpx.HTTPError as exc:
            raise ChallengeFailed("connection", f"fetching {url} failed: {exc}") from None
    raise ChallengeFailed("connection", f"could not connect to {url} ({'; '.join(refusals)})")


async def _fetch_from(
    client: httpx.AsyncClient, url: httpx.URL, address: str, timeout: httpx.Timeout
) -> tuple[int, str | None, bytes]:
    """GET ``url`` from ``address``, naming the host in Host (and SNI for https)."""
    extensions: dict[str, str] = {}
    if not _is_ip(url.host) and url.scheme == "https":
        extensions["sni_hostname"] = url.host
    headers = {
        "Host": url.netloc.decode("ascii"),
        "User-Agent": USER_AGENT,
        "Accept-Encoding": "identity",
    }
    request = client.build_request(
        "GET", url.copy_with(host=address), headers=headers, extensions=extensions, timeout=timeout
    )
    response = await client.send(request, stream=True)
    try:
        body = await _read_capped(response)
    finally:
        await response.aclose()
    return response.status_code, response.headers.get("location"), body


async def _read_capped(response: httpx.Response) -> bytes:
    """Read at most BODY_LIMIT + 1 bytes: enough to know that the body is too long."""
    body = bytearray()
    async for chunk in response.aiter_raw():
        body.extend(chunk)
        if len(body) > BODY_LIMIT:
            break
    return bytes(body[: BODY_LIMIT + 1])


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# --- dns-01 ----------------------------------------------------------------------------


async def validate_dns01(
    identifier_type: str,
    identifier_value: str,
    token: str,
    key_authorization: str,
    settings: ValidationSettings,
) -> None:
    """Look for base64url(SHA-256(key authorization)) in the TXT records (RFC 8555 §8.4)."""
    if identifier_type != "dns":
        raise ChallengeFailed("malformed", "dns-01 applies to DNS identifiers only")
    _check_identifier(identifier_type, identifier_value)
    name = f"_acme-challenge.{identifier_value}"
    expected = _b64url(_sha256(key_authorization))
    try:
        async with asyncio.timeout(settings.timeout):
            values = await _txt_values(name, settings)
    except TimeoutError:
        raise ChallengeFailed(
            "dns", f"timed out after {settings.timeout:g}s looking up TXT for {name}"
        ) from None
    if expected not in values:
        raise ChallengeFailed(
            "incorrectResponse",
            f"none of the {len(values)} TXT record(s) at {name} matches the key authorization "
            f"digest; found {', '.join(repr(value) for value in values)}",
        )


async def _txt_values(name: str, settings: ValidationSettings) -> list[str]:
    """TXT values at ``name`` (CNAMEs followed), each record's strings concatenated."""
    resolver = _configured_resolver(settings)
    try:
        answer = await resolver.resolve(dns.name.from_text(name), "TXT", search=False)
    except dns.resolver.NXDOMAIN:
        raise ChallengeFailed("dns", f"no TXT record found at {name}: NXDOMAIN") from None
    except dns.resolver.NoAnswer:
        raise ChallengeFailed("dns", f"no TXT record found at {name}") from None
    except dns.exception.DNSException as exc:
        raise ChallengeFailed("dns", f"DNS lookup of TXT at {name} failed: {exc}") from None
    return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]


# --- tls-alpn-01 -----------------------------------------------------------------------


async def validate_tls_alpn01(
    identifier_type: str,
    identifier_value: str,
    token: str,
    key_authorization: str,
    settings: ValidationSettings,
) -> None:
    """Check the acme-tls/1 certificate the host presents (RFC 8737 §3, RFC 8738 §6)."""
    _check_identifier(identifier_type, identifier_value)
    if identifier_type == "ip":
        server_name = dns.reversename.from_address(identifier_value).to_text(omit_final_dot=True)
    else:
        server_name = identifier_value
    try:
        async with asyncio.timeout(settings.timeout):
            addresses = await _resolve_addresses(identifier_value, settings)
            der = await _fetch_acme_certificate(addresses, server_name, settings)
    except TimeoutError:
        raise ChallengeFailed(
            "connection",
            f"timed out after {settings.timeout:g}s during tls-alpn-01 with {identifier_value}",
        ) from None
    _check_acme_certificate(der, identifier_type, identifier_value, key_authorization)


def _acme_tls_context() -> ssl.SSLContext:
    """TLS ≥ 1.2 offering only acme-tls/1; the self-signed certificate is checked by hand."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols([ACME_TLS_ALPN])
    return context


async def _fetch_acme_certificate(
    addresses: list[str], server_name: str, settings: ValidationSettings
) -> bytes:
    """Connect to the first reachable address, handshake with acme-tls/1, return the DER."""
    connect_timeout = _connect_timeout(settings, len(addresses))
    refusals: list[str] = []
    for address in addresses:
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(address, settings.tls_port), connect_timeout
            )
        except (OSError, TimeoutError) as exc:
            refusals.append(f"{address}: {str(exc) or type(exc).__name__}")
            continue
        try:
            return await _handshake_for_certificate(writer, address, server_name)
        finally:
            writer.transport.abort()
    raise ChallengeFailed(
        "connection", f"could not connect to port {settings.tls_port} ({'; '.join(refusals)})"
    )


async def _handshake_for_certificate(
    writer: asyncio.StreamWriter, address: str, server_name: str
) -> bytes:
    where = f"{address} (SNI {server_name})"
    try:
        await writer.start_tls(_acme_tls_context(), server_hostname=server_name)
    except ssl.SSLError as exc:
        raise ChallengeFailed("tls", f"TLS handshake with {where} failed: {exc.reason}") from None
    except (OSError, EOFError) as exc:
        raise ChallengeFailed(
            "tls", f"connection lost during TLS handshake with {where}: {exc}"
        ) from None
    ssl_object = writer.get_extra_info("ssl_object")
    if ssl_object.selected_alpn_protocol() != ACME_TLS_ALPN:
        raise ChallengeFailed("tls", f"{where} did not negotiate the {ACME_TLS_ALPN} protocol")
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        raise ChallengeFailed("tls", f"{where} presented no certificate")
    return der


def _check_acme_certificate(
    der: bytes, identifier_type: str, identifier_value: str, key_authorization: str
) -> None:
    """Exactly one SAN equal to the identifier and a critical, matching acmeIdentifier."""
    try:
        certificate = x509.load_der_x509_certificate(der)
        extensions = certificate.extensions
    except ValueError as exc:
        raise ChallengeFailed(
            "unauthorized", f"unparseable validation certificate: {exc}"
        ) from None
    _check_single_san(extensions, identifier_type, identifier_value)
    _check_acme_identifier(extensions, key_authorization)


def _check_single_san(
    extensions: x509.Extensions, identifier_type: str, identifier_value: str
) -> None:
    try:
        names = list(extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        raise ChallengeFailed(
            "unauthorized", "the validation certificate has no subjectAltName"
        ) from None
    if len(names) != 1:
        raise ChallengeFailed(
            "unauthorized",
            f"the validation certificate must name exactly one subjectAltName, it has {len(names)}",
        )
    if not _san_matches(names[0], identifier_type, identifier_value):
        raise ChallengeFailed(
            "unauthorized",
            f"the validation certificate names {names[0].value} instead of {identifier_value}",
        )


def _san_matches(name: x509.GeneralName, identifier_type: str, identifier_value: str) -> bool:
    if identifier_type == "ip":
        return isinstance(name, x509.IPAddress) and name.value == ipaddress.ip_address(
            identifier_value
        )
    return isinstance(name, x509.DNSName) and name.value.lower() == identifier_value.lower()


def _check_acme_identifier(extensions: x509.Extensions, key_authorization: str) -> None:
    try:
        extension = extensions.get_extension_for_oid(ACME_IDENTIFIER_OID)
    except x509.ExtensionNotFound:
        raise ChallengeFailed(
            "unauthorized", "the validation certificate lacks the acmeIdentifier extension"
        ) from None
    if not extension.critical:
        raise ChallengeFailed(
            "unauthorized",
            "the acmeIdentifier extension of the validation certificate is not critical",
        )
    value = extension.value.public_bytes()
    if len(value) != 34 or value[:2] != b"\x04\x20":
        raise ChallengeFailed(
            "unauthorized", "the acmeIdentifier extension is not a 32-byte DER OCTET STRING"
        )
    if value[2:] != _sha256(key_authorization):
        raise ChallengeFailed(
            "incorrectResponse",
            "the acmeIdentifier extension does not match the SHA-256 of the key authorization",
        )
