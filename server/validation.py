"""ACME challenge validators: http-01 (RFC 8555 §8.3), dns-01 (§8.4), tls-alpn-01 (RFC 8737).

Each validator either returns None (the challenge is satisfied) or raises `ChallengeFailed`
carrying the short ACME error type that the server turns into a problem document, so the
server never has to interpret network exceptions itself.

Design decisions:
- Name resolution is ours, not the HTTP/TLS library's, so that a configured DNS server
  (``ValidationSettings.resolver``) is used for every hop, including redirect targets. We
  connect to the resolved address and send the name in the Host header / SNI.
- The validators sit on the hot path of every issuance, so they are lean: A and AAAA go out
  together on one UDP socket (dnspython's full resolver takes over for anything but a clean
  answer or NXDOMAIN: truncation, a server failure, silence), and http-01 speaks HTTP/1.1 over
  asyncio streams with h11 parsing the answer, one request per connection.
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
import re
import socket
import ssl
from dataclasses import dataclass
from functools import cache
from urllib.parse import quote, urljoin, urlsplit

import dns.asyncresolver
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.resolver
import dns.reversename
import h11
import idna
from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

MAX_REDIRECTS = 10
BODY_LIMIT = 8 * 1024
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
ACME_TLS_ALPN = "acme-tls/1"
ACME_IDENTIFIER_OID = ObjectIdentifier("1.3.6.1.5.5.7.1.31")
USER_AGENT = "stepui-acme-validator"
READ_SIZE = 64 * 1024
_HOST_NAME = re.compile(r"[a-z0-9_.-]+")
_URL_SAFE = "/%:@!$&'()*+,;=-._~"


@dataclass(frozen=True)
class ValidationSettings:
    """Where and how long the validators look; mirrors step-ca's --acme-*-port flags."""

    http_port: int = 80
    tls_port: int = 443
    resolver: tuple[str, int] | None = None
    timeout: float = 10.0


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
    try:
        qname = dns.name.from_text(host)
    except dns.exception.DNSException as exc:
        raise ChallengeFailed("dns", f"{host} is not a valid DNS name: {exc}") from None
    answers = await _ask_together(resolver, qname, ("AAAA", "A"))
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


async def _ask_together(
    resolver: dns.asyncresolver.Resolver, qname: dns.name.Name, rdtypes: tuple[str, ...]
) -> list[dns.resolver.Answer | BaseException]:
    """Answers (or exceptions) for each of ``rdtypes`` at ``qname``, asked at once on one fresh
    UDP socket (random source port, connected to the resolver's single nameserver) instead of a
    socket per question. A question without a clean answer or NXDOMAIN within the resolver's
    per-try timeout is asked again through ``resolver``, with its retries and TCP fallback."""
    queries = [dns.message.make_query(qname, rdtype) for rdtype in rdtypes]
    responses = await _udp_exchange(resolver, queries)
    results: list[dns.resolver.Answer | BaseException] = []
    for rdtype, response in zip(rdtypes, responses, strict=True):
        try:
            if (
                response is None
                or response.flags & dns.flags.TC
                or response.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN)
            ):
                results.append(await resolver.resolve(qname, rdtype, search=False))
            elif response.rcode() == dns.rcode.NXDOMAIN:
                raise dns.resolver.NXDOMAIN(qnames=[qname], responses={qname: response})
            else:
                results.append(
                    dns.resolver.Answer(qname, rdtype, dns.rdataclass.IN, response)  # type: ignore[arg-type]
                )
        except dns.exception.DNSException as exc:
            results.append(exc)
    return results


async def _udp_exchange(
    resolver: dns.asyncresolver.Resolver, queries: list[dns.message.Message]
) -> list[dns.message.Message | None]:
    """Send every query, then collect matching responses until all are in or the resolver's
    per-try timeout passes (None: no usable response). Unrelated datagrams are ignored."""
    host, port = str(resolver.nameservers[0]), resolver.port
    responses: list[dns.message.Message | None] = [None] * len(queries)
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, (host, port))
            for query in queries:
                await loop.sock_sendall(sock, query.to_wire())
            async with asyncio.timeout(min(resolver.timeout, resolver.lifetime)):
                while None in responses:
                    wire = await loop.sock_recv(sock, READ_SIZE)
                    try:
                        response = dns.message.from_wire(wire)
                    except dns.exception.DNSException:
                        continue
                    for index, query in enumerate(queries):
                        if responses[index] is None and query.is_response(response):
                            responses[index] = response
        except (OSError, TimeoutError):
            pass
    return responses


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
    url = _Url("http", identifier_value, settings.http_port, f"/.well-known/acme-challenge/{token}")
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


@dataclass(frozen=True)
class _Url:
    """An http(s) URL as the validator uses it: where to connect and what to ask for."""

    scheme: str
    host: str  # a lower-case DNS name or an IP literal (no brackets)
    port: int
    target: str  # path and query, percent-encoded for the request line

    @property
    def netloc(self) -> str:
        """The Host header: the host (bracketed if IPv6), with the port unless the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.target}"


async def _fetch_following_redirects(url: _Url, settings: ValidationSettings) -> bytes:
    """GET ``url``, following at most MAX_REDIRECTS http(s) redirects, each hop resolved by us."""
    for _ in range(MAX_REDIRECTS + 1):
        status, location, body = await _fetch_once(url, settings)
        if status in REDIRECT_STATUSES and location is not None:
            url = _redirect_target(url, location)
            continue
        if status != 200:
            raise ChallengeFailed("unauthorized", f"{url} answered HTTP {status}")
        return body
    raise ChallengeFailed("connection", f"more than {MAX_REDIRECTS} redirects, last to {url}")


def _redirect_target(current: _Url, location: str) -> _Url:
    try:
        parts = urlsplit(urljoin(str(current), location.strip()))
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise ChallengeFailed(
                "connection", f"{current} redirected to a non-HTTP(S) URL ({scheme} scheme)"
            )
        host = _url_host(parts.hostname)
        port = parts.port or (443 if scheme == "https" else 80)
    except (ValueError, UnicodeError):
        raise ChallengeFailed("connection", f"{current} redirected to an invalid URL") from None
    target = quote(parts.path or "/", safe=_URL_SAFE)
    if parts.query:
        target += "?" + quote(parts.query, safe=_URL_SAFE + "?")
    return _Url(scheme, host, port, target)


def _url_host(host: str) -> str:
    """An IP literal as is; a DNS name in its ASCII (IDNA 2008) form, else ValueError."""
    if _is_ip(host):
        return host
    ascii_host = host.lower() if host.isascii() else idna.encode(host, uts46=True).decode()
    if not _HOST_NAME.fullmatch(ascii_host):
        raise ValueError(f"invalid host {host!r}")
    return ascii_host


async def _fetch_once(url: _Url, settings: ValidationSettings) -> tuple[int, str | None, bytes]:
    """One GET of ``url``: try each address of its host until a TCP connection succeeds."""
    addresses = await _resolve_addresses(url.host, settings)
    connect_timeout = _connect_timeout(settings, len(addresses))
    refusals: list[str] = []
    for address in addresses:
        try:
            reader, writer = await asyncio.wait_for(_connect(url, address), connect_timeout)
        except (OSError, TimeoutError) as exc:
            refusals.append(f"{address}: {str(exc) or type(exc).__name__}")
            continue
        try:
            return await _exchange(url, reader, writer)
        except (OSError, h11.ProtocolError) as exc:
            raise ChallengeFailed("connection", f"fetching {url} failed: {exc}") from None
        finally:
            writer.transport.abort()
    raise ChallengeFailed("connection", f"could not connect to {url} ({'; '.join(refusals)})")


async def _connect(url: _Url, address: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """TCP (and for https, TLS naming the host in SNI unless it is an IP) to ``address``."""
    if url.scheme != "https":
        return await asyncio.open_connection(address, url.port)
    server_name = "" if _is_ip(url.host) else url.host
    return await asyncio.open_connection(
        address, url.port, ssl=_https_context(), server_hostname=server_name
    )


@cache
def _https_context() -> ssl.SSLContext:
    """No certificate checks: an http-01 redirect to https is followed whatever its
    certificate (RFC 8555 §8.3). Built once per process: building one costs more than the
    validation's own exchange."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    return context


async def _exchange(
    url: _Url, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> tuple[int, str | None, bytes]:
    """Send one GET and read the answer: (status, Location, at most BODY_LIMIT + 1 bytes of
    body, enough to know that the body is too long)."""
    connection = h11.Connection(h11.CLIENT)
    headers = [
        ("Host", url.netloc),
        ("User-Agent", USER_AGENT),
        ("Accept", "*/*"),
        ("Accept-Encoding", "identity"),
        ("Connection", "close"),
    ]
    request = h11.Request(method="GET", target=url.target, headers=headers)
    writer.write(connection.send(request) + connection.send(h11.EndOfMessage()))
    status, location, body = 0, None, bytearray()
    while len(body) <= BODY_LIMIT:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            connection.receive_data(await reader.read(READ_SIZE))
        elif isinstance(event, h11.Response):
            status = event.status_code
            location = next(
                (v.decode("latin-1") for k, v in event.headers if k == b"location"), None
            )
        elif isinstance(event, h11.Data):
            body.extend(event.data)
        elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
            break
    return status, location, bytes(body[: BODY_LIMIT + 1])


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
