"""Directory, newAccount, the account resource and its orders list (RFC 8555 §7.1.1, §7.3)."""

from __future__ import annotations

import re
from typing import Any

from server.context import Call, Reply
from server.eab import check_binding
from server.problems import Problem
from server.urls import Urls
from stepui.config import Provisioner
from stepui.errors import BadInput
from stepui.pki.names import normalize_dns_name
from stepui.store.acme import Account

ORDERS_PAGE = 100
CURSOR = re.compile(r"[0-9]{1,18}", re.ASCII)


def directory(provisioner: Provisioner, urls: Urls) -> dict[str, Any]:
    meta: dict[str, Any] = {"externalAccountRequired": provisioner.require_eab}
    if provisioner.terms_of_service:
        meta["termsOfService"] = provisioner.terms_of_service
    if provisioner.website:
        meta["website"] = provisioner.website
    if provisioner.caa_identities:
        meta["caaIdentities"] = list(provisioner.caa_identities)
    if provisioner.profiles:
        meta["profiles"] = {
            name: profile.get("description") or name
            for name, profile in provisioner.profiles.items()
        }
    return {
        "newNonce": urls.new_nonce,
        "newAccount": urls.new_account,
        "newOrder": urls.new_order,
        "revokeCert": urls.revoke_cert,
        "keyChange": urls.key_change,
        "renewalInfo": urls.renewal_info,
        "meta": meta,
    }


def render_account(call: Call, account: Account) -> dict[str, Any]:
    """The account object; one bound through EAB shows the binding it was created with."""
    body: dict[str, Any] = {
        "status": account.status,
        "contact": list(account.contact),
        "termsOfServiceAgreed": account.terms_agreed,
        "orders": call.urls.orders(account.id),
        "createdAt": account.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if account.eab_key_id is not None:
        key = call.authority.store.eab.key(account.eab_key_id)
        body["externalAccountBinding"] = (
            key.binding if key and key.binding else {"kid": account.eab_key_id}
        )
    return body


def check_contacts(value: Any) -> list[str]:
    """``mailto:`` URLs with one plain address each (RFC 8555 §7.3)."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise Problem("malformed", "contact must be a list of strings")
    for contact in value:
        scheme, colon, address = contact.partition(":")
        if not colon or scheme.lower() != "mailto":
            raise Problem("unsupportedContact", f"contact {contact!r}: only mailto: is supported")
        local, at, domain = address.rpartition("@")
        if (
            not at
            or not local
            or any(c in address for c in ",?%<> \t\r\n")
            or not local.isascii()
            or not local.isprintable()
        ):
            raise Problem("invalidContact", f"contact {contact!r} is not one plain e-mail address")
        try:
            normalize_dns_name(domain, allow_wildcard=False)
        except BadInput as exc:
            raise Problem("invalidContact", f"contact {contact!r}: {exc.message}") from None
    return list(value)


def new_account(call: Call) -> Reply:
    payload = call.verified.json()
    key = call.verified.key
    existing = call.store.account_by_key(call.provisioner.name, key.thumbprint)
    if existing is not None:
        if existing.status != "valid":
            raise Problem("unauthorized", f"account {existing.id} is {existing.status}", status=401)
        return Reply(
            200, render_account(call, existing), {"Location": call.urls.account(existing.id)}
        )
    only_existing = payload.get("onlyReturnExisting")
    if only_existing is not None and not isinstance(only_existing, bool):
        raise Problem("malformed", "onlyReturnExisting must be true or false")
    if only_existing:
        raise Problem("accountDoesNotExist", "no account exists for this key")
    agreed = payload.get("termsOfServiceAgreed")
    if agreed is not None and not isinstance(agreed, bool):
        raise Problem("malformed", "termsOfServiceAgreed must be true or false")
    if call.provisioner.terms_of_service and agreed is not True:
        raise Problem(
            "userActionRequired",
            "agree to the terms of service (termsOfServiceAgreed: true)",
            extra={"instance": call.provisioner.terms_of_service},
        )
    contacts = check_contacts(payload.get("contact"))
    binding = check_binding(call, payload.get("externalAccountBinding"))
    account, created = call.store.create_account(
        call.provisioner.name,
        key.thumbprint,
        key.jwk_json,
        contacts,
        bool(agreed),
        call.now,
        eab=binding,
    )
    if created:
        call.acme.events.publish(
            "acme.account.created",
            account=account.id,
            provisioner=call.provisioner.name,
            contact=contacts,
        )
    headers = {"Location": call.urls.account(account.id)}
    return Reply(201 if created else 200, render_account(call, account), headers)


def account(call: Call, account_id: str) -> Reply:
    call.owned(account_id, "account")
    current = call.account
    if call.verified.payload != b"":
        update = call.verified.json()
        status = update.get("status")
        if status is not None and status not in ("valid", "deactivated"):
            raise Problem("malformed", "an account's status can only become deactivated")
        contact = check_contacts(update["contact"]) if "contact" in update else None
        if status == "deactivated" or contact is not None:
            current = call.store.update_account(
                current.id,
                contact=contact,
                status="deactivated" if status == "deactivated" else None,
            )
            if status == "deactivated":
                call.acme.events.publish("acme.account.deactivated", account=current.id)
    return Reply(200, render_account(call, current), {"Location": call.urls.account(current.id)})


def orders(call: Call, account_id: str) -> Reply:
    call.owned(account_id, "account")
    call.verified.require_post_as_get()
    cursor = call.query.get("cursor", "0")
    if not CURSOR.fullmatch(cursor):  # only what a rel="next" link gave (a SQLite rowid)
        raise Problem("malformed", f"cursor {cursor!r} is not one this server gave")
    after = int(cursor)
    ids, next_cursor = call.store.order_ids(account_id, after=after, limit=ORDERS_PAGE)
    links = []
    if next_cursor is not None:
        links.append(f'<{call.urls.orders(account_id)}?cursor={next_cursor}>;rel="next"')
    return Reply(200, {"orders": [call.urls.order(i) for i in ids]}, links=links)
