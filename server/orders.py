"""newOrder, the order and authorization resources, and finalize (RFC 8555 §7.4, §7.5; RFC 8738).

Statuses that depend on time (an order or authorization past its ``expires``) are derived when
read, with the injected clock, instead of being written by a sweeper.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from server.context import Call, Reply
from server.jws import b64url_decode, key_thumbprint
from server.problems import Problem, combined
from server.renewal_info import cert_id_of, find_certificate
from server.urls import Urls
from stepui.authority.models import IssueRequest
from stepui.errors import BadCSR, BadInput, StepuiError
from stepui.pki.issue import load_csr
from stepui.pki.names import common_name, normalize_dns_name, parse_ip, san_type, sans_of
from stepui.pki.policy import NamePolicy
from stepui.pki.timespec import parse_duration, parse_time, rfc3339
from stepui.store.acme import Authorization, Challenge, NewAuthorization, Order

log = logging.getLogger("stepui.server")

ORDER_LIFETIME = timedelta(hours=24)
CLOCK_SKEW = timedelta(minutes=5)  # a client's notBefore may be this far from our clock
MAX_IDENTIFIERS = 100
RETRY_AFTER = "1"
Identifier = tuple[str, str]


# -- statuses and rendering ------------------------------------------------------------------
def order_status(order: Order, now: datetime) -> str:
    if order.status in ("pending", "ready") and order.expires <= now:
        return "invalid"
    return order.status


def authz_status(authz: Authorization, now: datetime) -> str:
    if authz.status in ("pending", "valid") and authz.expires <= now:
        return "expired"
    return authz.status


def render_order(urls: Urls, order: Order, now: datetime) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": order_status(order, now),
        "expires": rfc3339(order.expires),
        "identifiers": [{"type": t, "value": v} for t, v in order.identifiers],
        "authorizations": [urls.authz(a) for a in order.authz_ids],
        "finalize": urls.finalize(order.id),
    }
    if order.not_before:
        body["notBefore"] = rfc3339(order.not_before)
    if order.not_after:
        body["notAfter"] = rfc3339(order.not_after)
    if order.profile:
        body["profile"] = order.profile
    if order.error:
        body["error"] = order.error
    if order.certificate and order.status == "valid":
        body["certificate"] = urls.certificate(order.certificate)
    return body


def render_challenge(urls: Urls, challenge: Challenge) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": challenge.type,
        "url": urls.challenge(challenge.id),
        "status": challenge.status,
        "token": challenge.token,
    }
    if challenge.validated:
        body["validated"] = rfc3339(challenge.validated)
    if challenge.error:
        body["error"] = challenge.error
    return body


def render_authz(urls: Urls, authz: Authorization, now: datetime) -> dict[str, Any]:
    body: dict[str, Any] = {
        "identifier": {"type": authz.identifier_type, "value": authz.identifier_value},
        "status": authz_status(authz, now),
        "expires": rfc3339(authz.expires),
        "challenges": [render_challenge(urls, c) for c in authz.challenges],
    }
    if authz.wildcard:
        body["wildcard"] = True
    return body


def order_reply(call: Call, order: Order, status: int = 200) -> Reply:
    body = render_order(call.urls, order, call.now)
    if order.replaces:  # RFC 9773 §5: the order shows what it replaces, as a CertID
        record = call.acme.authority.store.ca.certificate(order.replaces)
        replaced = cert_id_of(record) if record else None
        if replaced:
            body["replaces"] = replaced
    reply = Reply(status, body)
    reply.headers["Location"] = call.urls.order(order.id)
    if order.status == "processing":
        reply.headers["Retry-After"] = RETRY_AFTER
    return reply


# -- identifiers -----------------------------------------------------------------------------
def _identifier(call: Call, raw: Any, policy: NamePolicy | None, template: str) -> Identifier:
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("type"), str)
        or not isinstance(raw.get("value"), str)
    ):
        raise Problem("malformed", "an identifier is an object with string type and value")
    kind, value = raw["type"], raw["value"]
    try:
        if kind == "dns":
            if not value.isascii():  # RFC 8555 §7.1.4 / RFC 5280 §7.2: names travel as A-labels
                raise BadInput(f"DNS identifier {value!r} must be in A-label (xn--) form")
            value = normalize_dns_name(value)
            name: x509.GeneralName = x509.DNSName(value)
        elif kind == "ip":
            address = parse_ip(value)
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
                raise BadInput(f"IP identifier {value!r} is IPv4-mapped: use {address.ipv4_mapped}")
            if str(address) != value:
                raise BadInput(f"IP identifier {value!r} is not in canonical form ({address})")
            name = x509.IPAddress(address)
        else:
            raise Problem("unsupportedIdentifier", f"identifier type {kind!r} is not supported")
        if san_type(name) not in call.authority.template(template).allowed_san_types:
            raise Problem("rejectedIdentifier", f"{kind} identifiers are not issued here")
        if policy is not None:
            policy.check([name], "the provisioner's policy")
    except StepuiError as exc:
        raise Problem("rejectedIdentifier", exc.message) from None
    return kind, value


def _identifiers(call: Call, raw: Any, template: str) -> list[Identifier]:
    if not isinstance(raw, list) or not raw:
        raise Problem("malformed", "identifiers must be a non-empty list")
    if len(raw) > MAX_IDENTIFIERS:
        raise Problem("rejectedIdentifier", f"an order has at most {MAX_IDENTIFIERS} identifiers")
    prov = call.provisioner
    policy = prov.name_policy
    result: list[Identifier] = []
    failures: list[tuple[Identifier, Problem]] = []
    for item in raw:
        try:
            identifier = _identifier(call, item, policy, template)
        except Problem as problem:
            if problem.kind == "malformed":
                raise
            failures.append(((str(item.get("type")), str(item.get("value"))), problem))
            continue
        if identifier not in result:
            result.append(identifier)
    if failures:
        raise combined(failures)
    return result


def _challenge_types(call: Call, identifier: Identifier) -> tuple[str, bool, tuple[str, ...]]:
    """(authorization value, wildcard, challenge types) for one identifier."""
    kind, value = identifier
    enabled = call.provisioner.challenges
    if kind == "dns" and value.startswith("*."):
        return value[2:], True, tuple(t for t in enabled if t == "dns-01")
    if kind == "ip":
        return value, False, tuple(t for t in enabled if t != "dns-01")
    return value, False, tuple(enabled)


def _validity(
    call: Call, payload: dict[str, Any], template_name: str
) -> tuple[datetime | None, datetime | None]:
    """notBefore/notAfter honoured within the provisioner's limits, else refused (never a
    different certificate than asked for)."""
    try:
        not_before = parse_time(payload["notBefore"]) if payload.get("notBefore") else None
        not_after = parse_time(payload["notAfter"]) if payload.get("notAfter") else None
    except (BadInput, AttributeError) as exc:
        detail = exc.message if isinstance(exc, BadInput) else "must be RFC 3339 strings"
        raise Problem("malformed", f"notBefore/notAfter: {detail}") from None
    if not_before is not None and not_before < call.now - CLOCK_SKEW:
        raise Problem("malformed", "notBefore is in the past; certificates are not backdated")
    if not_after is None:
        if not_before is not None and not_before > call.now + CLOCK_SKEW:
            raise Problem("malformed", "notBefore in the future needs a notAfter too")
        return not_before, None
    start = not_before or call.now
    if not_after <= start or not_after <= call.now:
        raise Problem("malformed", "notAfter must be after notBefore and in the future")
    config = call.authority.config
    template = call.authority.template(template_name)
    limits = [
        c
        for c in (call.provisioner.max_validity, template.max_validity or config.leaf_max_validity)
        if c
    ]
    if limits and not_after - start > min(limits) + timedelta(seconds=1):
        raise Problem("malformed", f"the requested lifetime exceeds the maximum {min(limits)}")
    return not_before, not_after


# -- profiles and replacements -------------------------------------------------------------
def _profile(call: Call, name: Any) -> str | None:
    """draft-ietf-acme-profiles: one of the names the directory's meta.profiles lists."""
    if name is None:
        return None
    if not isinstance(name, str) or name not in call.provisioner.profiles:
        known = ", ".join(sorted(call.provisioner.profiles)) or "none"
        raise Problem("invalidProfile", f"unknown profile {name!r} (offered: {known})")
    return name


def _issuance(call: Call, profile: str | None) -> tuple[str, timedelta | None]:
    """(template, lifetime) of certificates for an order with this profile."""
    prov = call.provisioner
    settings = prov.profiles.get(profile, {}) if profile else {}
    validity = settings.get("validity")
    lifetime = parse_duration(validity) if validity else prov.default_validity
    return settings.get("template") or prov.template, lifetime


def _replaces(call: Call, cert_id: Any, identifiers: list[Identifier]) -> str | None:
    """RFC 9773 §5: the serial of the account's certificate this order replaces (the store
    refuses a certificate that another order replaces already)."""
    if cert_id is None:
        return None
    if not isinstance(cert_id, str):
        raise Problem("malformed", "replaces must be a CertID string")
    record = find_certificate(call.acme, cert_id)
    if record is None:
        raise Problem("malformed", f"replaces: no certificate {cert_id} was issued here")
    if record.requester != f"acme:{call.account.id}":
        raise Problem("unauthorized", "replaces: the certificate belongs to another account")
    held = {(kind.lower(), value) for kind, _, value in (s.partition(":") for s in record.sans)}
    if not held & set(identifiers):
        raise Problem("malformed", "replaces: the certificate shares no identifier with the order")
    return record.serial


# -- handlers --------------------------------------------------------------------------------
def new_order(call: Call) -> Reply:
    payload = call.verified.json()
    account = call.account
    profile = _profile(call, payload.get("profile"))
    template, _ = _issuance(call, profile)
    identifiers = _identifiers(call, payload.get("identifiers"), template)
    not_before, not_after = _validity(call, payload, template)
    replaces = _replaces(call, payload.get("replaces"), identifiers)
    authorizations = []
    failures = []
    for identifier in identifiers:
        value, wildcard, types = _challenge_types(call, identifier)
        if not types:
            failures.append(
                (identifier, Problem("rejectedIdentifier", "no enabled challenge can prove it"))
            )
        authorizations.append(NewAuthorization(identifier[0], value, wildcard, types))
    if failures:
        raise combined(failures)
    order = call.store.create_order(
        account.id,
        identifiers,
        authorizations,
        expires=call.now + ORDER_LIFETIME,
        now=call.now,
        not_before=not_before,
        not_after=not_after,
        profile=profile,
        replaces=replaces,
    )
    call.acme.events.publish(
        "acme.order.created",
        order=order.id,
        account=account.id,
        identifiers=[f"{t}:{v}" for t, v in identifiers],
    )
    return order_reply(call, order, 201)


def _own_order(call: Call, order_id: str) -> Order:
    order = call.store.order(order_id)
    if order is None:
        raise Problem("malformed", f"no order {order_id}", status=404)
    call.owned(order.account_id, "order")
    return order


def order(call: Call, order_id: str) -> Reply:
    call.verified.require_post_as_get()
    return order_reply(call, _own_order(call, order_id))


def authorization(call: Call, authz_id: str) -> Reply:
    authz = call.store.authorization(authz_id)
    if authz is None:
        raise Problem("malformed", f"no authorization {authz_id}", status=404)
    call.owned(authz.account_id, "authorization")
    if call.verified.payload != b"":
        update = call.verified.json()
        if update.get("status") != "deactivated":
            raise Problem("malformed", "an authorization can only be updated to deactivated")
        if authz_status(authz, call.now) not in ("pending", "valid"):
            raise Problem("malformed", f"a {authz_status(authz, call.now)} authorization stays so")
        call.store.deactivate_authorization(authz)
        authz = dataclasses.replace(authz, status="deactivated")
    reply = Reply(200, render_authz(call.urls, authz, call.now))
    if any(c.status == "processing" for c in authz.challenges):
        reply.headers["Retry-After"] = RETRY_AFTER
    return reply


def _csr_identifiers(csr: x509.CertificateSigningRequest) -> set[Identifier]:
    try:
        sans = sans_of(csr)
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        raise Problem("badCSR", f"the CSR's subjectAltName cannot be read: {exc}") from None
    names: set[Identifier] = set()
    for name in sans:
        if isinstance(name, x509.DNSName):
            try:
                names.add(("dns", normalize_dns_name(name.value)))
            except BadInput as exc:
                raise Problem("badCSR", exc.message) from None
        elif isinstance(name, x509.IPAddress):
            names.add(("ip", str(name.value)))
        else:
            raise Problem("badCSR", f"the CSR asks for a {san_type(name)} name; only DNS and IP")
    cn = common_name(csr.subject)
    if cn is not None:
        try:
            ip = ipaddress.ip_address(cn)
            cn_identifier: Identifier = ("ip", str(ip))
        except ValueError:
            try:
                cn_identifier = ("dns", normalize_dns_name(cn))
            except BadInput:
                cn_identifier = ("dns", cn)
        if cn_identifier not in names:
            raise Problem("badCSR", f"the CSR's common name {cn!r} is not among its SANs")
    return names


def _check_csr(call: Call, order: Order, csr_field: Any) -> x509.CertificateSigningRequest:
    try:
        csr = load_csr(b64url_decode(csr_field, "csr"))
    except BadCSR as exc:
        raise Problem("badCSR", exc.message) from None
    except Problem as problem:
        raise Problem("badCSR", problem.detail) from None
    wanted = set(order.identifiers)
    names = _csr_identifiers(csr)
    if names != wanted:
        extra = sorted(f"{t}:{v}" for t, v in names - wanted)
        missing = sorted(f"{t}:{v}" for t, v in wanted - names)
        raise Problem(
            "badCSR",
            "the CSR must name exactly the order's identifiers"
            + (f"; not in the order: {', '.join(extra)}" if extra else "")
            + (f"; missing: {', '.join(missing)}" if missing else ""),
        )
    thumbprint = key_thumbprint(csr.public_key())
    if thumbprint is not None and call.store.key_in_use(thumbprint):
        raise Problem("badCSR", "the CSR's key is an ACME account key; use a separate key")
    return csr


def finalize(call: Call, order_id: str) -> Reply:
    """Issue and mark the order valid in one transaction: a crash (even SIGKILL) leaves the
    order ready with no certificate, or valid with its certificate, never ``processing`` with
    nothing to show. The write lock taken first also serializes workers finalizing the same
    order: the second finds it valid and gets orderNotReady."""
    payload = call.verified.json()
    order = _own_order(call, order_id)
    _require_ready(order, call.now)
    csr = _check_csr(call, order, payload.get("csr"))
    try:
        with call.authority.store.transaction():
            order = _own_order(call, order_id)  # as of the write lock
            _require_ready(order, call.now)
            issued = call.authority.issue(_issue_request(call, order, csr))
            serial = issued.record.serial
            call.store.transition_order(order.id, "ready", "valid", certificate=serial)
    except Problem:
        raise
    except BadCSR as exc:
        raise Problem("badCSR", exc.message) from None
    except StepuiError as exc:
        problem = Problem.from_error(exc)
        call.store.transition_order(order.id, "ready", "invalid", error=problem.document())
        raise problem from None
    except BaseException:
        error = Problem("serverInternal", "issuance failed").document()
        call.store.transition_order(order.id, "ready", "invalid", error=error)
        raise
    call.acme.events.publish("acme.certificate.issued", serial=serial, account=call.account.id)
    return order_reply(call, dataclasses.replace(order, status="valid", certificate=serial))


def _require_ready(order: Order, now: datetime) -> None:
    status = order_status(order, now)
    if status != "ready":
        raise Problem("orderNotReady", f"the order is {status}, not ready")


def _issue_request(call: Call, order: Order, csr: x509.CertificateSigningRequest) -> IssueRequest:
    """The certificate an order asks for: its identifiers, the CSR's key, the provisioner's
    (or the order profile's) template and lifetimes."""
    prov = call.provisioner
    template, lifetime = _issuance(call, order.profile)
    cn = common_name(csr.subject)
    return IssueRequest(
        subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else []),
        sans=[
            x509.DNSName(v) if t == "dns" else x509.IPAddress(ipaddress.ip_address(v))
            for t, v in order.identifiers
        ],
        template=template,
        ca=prov.ca,
        csr=csr,
        not_before=order.not_before,
        not_after=order.not_after,
        lifetime=lifetime,
        max_lifetime=prov.max_validity,
        policy=prov.name_policy,
        requester=f"acme:{call.account.id}",
        replaces=order.replaces,
    )
