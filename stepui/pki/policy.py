"""Name policy: per-CA allow/deny lists and RFC 5280 name constraints, checked at issuance.

Rules, as operators write them:
- DNS: ``api.corp.example`` (exactly that name), ``*.corp.example`` (one label below),
  ``.corp.example`` (any name below, not the apex).
- IP: a CIDR (``10.0.0.0/8``) or one address.
- email: ``ops@corp.example`` (one mailbox), ``corp.example`` (any mailbox there),
  ``.corp.example`` (any mailbox in a subdomain).
- URI: a prefix such as ``spiffe://corp.example/``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from stepui.errors import BadInput, PolicyRefused
from stepui.pki.names import common_name, normalize_dns_name, render_san, san_type

POLICY_KINDS = ("dns", "ip", "email", "uri")


@dataclass(frozen=True)
class NamePolicy:
    allow: dict[str, tuple[str, ...]] = field(default_factory=dict)
    deny: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any, where: str = "policy") -> NamePolicy:
        """``{"allow": {"dns": [...]}, "deny": {"ip": [...]}}`` with errors naming the path."""
        if data is None:
            return cls()
        if not isinstance(data, dict) or set(data) - {"allow", "deny"}:
            raise BadInput(f"{where} must be an object with 'allow' and/or 'deny'")
        parsed: dict[str, dict[str, tuple[str, ...]]] = {}
        for side in ("allow", "deny"):
            lists = data.get(side) or {}
            if not isinstance(lists, dict) or set(lists) - set(POLICY_KINDS):
                raise BadInput(f"{where}.{side} keys must be among {', '.join(POLICY_KINDS)}")
            for kind, rules in lists.items():
                if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
                    raise BadInput(f"{where}.{side}.{kind} must be a list of strings")
                for rule in rules:
                    _validate_rule(kind, rule, f"{where}.{side}.{kind}")
            parsed[side] = {k: tuple(v) for k, v in lists.items() if v}
        return cls(parsed["allow"], parsed["deny"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "allow": {k: list(v) for k, v in self.allow.items()},
            "deny": {k: list(v) for k, v in self.deny.items()},
        }

    def check(self, names: Iterable[x509.GeneralName], who: str = "the CA's policy") -> None:
        """Deny rules win; when any allow rule exists for a kind, a name of that kind must match."""
        for name in names:
            kind = san_type(name)
            value = _value(name)
            if any(_matches(kind, rule, value) for rule in self.deny.get(kind, ())):
                raise PolicyRefused(f"{render_san(name)} is denied by {who}")
            allowed = self.allow.get(kind)
            if allowed is not None and not any(_matches(kind, r, value) for r in allowed):
                raise PolicyRefused(f"{render_san(name)} is not allowed by {who}")
            if allowed is None and self.allow and kind in POLICY_KINDS:
                raise PolicyRefused(f"{render_san(name)}: {who} allows no {kind} names")


def _validate_rule(kind: str, rule: str, where: str) -> None:
    try:
        if kind == "dns":
            normalize_dns_name(rule.lstrip("."), allow_wildcard=True)
        elif kind == "ip":
            ipaddress.ip_network(rule, strict=False)
        elif kind == "email" and not rule.strip():
            raise BadInput("empty")
        elif kind == "uri" and "://" not in rule:
            raise BadInput("not a URI prefix")
    except (BadInput, ValueError) as exc:
        raise BadInput(f"{where}: {rule!r} is not a valid {kind} rule") from exc


def _value(name: x509.GeneralName) -> Any:
    return name.value.lower() if isinstance(name.value, str) else name.value


def _dns_matches(rule: str, name: str) -> bool:
    rule = rule.lower().rstrip(".")
    if rule.startswith("*."):
        suffix = rule[1:]
        return name.endswith(suffix) and "." not in name[: -len(suffix)].lstrip("*")
    if rule.startswith("."):
        return name.endswith(rule)
    return name == rule


def _matches(kind: str, rule: str, value: Any) -> bool:
    if kind == "dns":
        return _dns_matches(rule, value)
    if kind == "ip":
        network = ipaddress.ip_network(rule, strict=False)
        return value.version == network.version and value in network
    if kind == "email":
        rule = rule.lower()
        if "@" in rule:
            return value == rule
        domain = value.rpartition("@")[2]
        return domain.endswith(rule) if rule.startswith(".") else domain == rule
    return value.startswith(rule.lower())


def name_constraints(
    permitted_dns: Sequence[str] = (),
    excluded_dns: Sequence[str] = (),
    permitted_ip: Sequence[str] = (),
    excluded_ip: Sequence[str] = (),
    permitted_email: Sequence[str] = (),
    excluded_email: Sequence[str] = (),
) -> x509.NameConstraints | None:
    """Build an RFC 5280 NameConstraints extension from the CLI's lists; None when empty."""

    def subtrees(dns: Sequence[str], ips: Sequence[str], emails: Sequence[str]):
        trees: list[x509.GeneralName] = []
        for rule in dns:
            trees.append(
                x509.DNSName(
                    rule.lower()
                    if rule.startswith(".")
                    else normalize_dns_name(rule, allow_wildcard=False)
                )
            )
        for rule in ips:
            try:
                trees.append(x509.IPAddress(ipaddress.ip_network(rule, strict=False)))
            except ValueError as exc:
                raise BadInput(f"{rule!r} is not a CIDR such as 10.0.0.0/8") from exc
        trees.extend(x509.RFC822Name(rule) for rule in emails)
        return trees or None

    permitted = subtrees(permitted_dns, permitted_ip, permitted_email)
    excluded = subtrees(excluded_dns, excluded_ip, excluded_email)
    if permitted is None and excluded is None:
        return None
    return x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=excluded)


def _subtree_matches(tree: x509.GeneralName, name: x509.GeneralName) -> bool:
    kind = san_type(tree)
    if kind != san_type(name):
        return False
    value = _value(name)
    if kind == "dns":
        base = tree.value.lower()
        # RFC 5280 4.2.1.10: "example.com" covers itself and every subdomain.
        candidate = value[2:] if value.startswith("*.") else value
        if base.startswith("."):
            return candidate.endswith(base) or (value.startswith("*.") and value.endswith(base))
        return candidate == base or candidate.endswith("." + base)
    if kind == "ip":
        return value.version == tree.value.version and value in tree.value
    if kind == "email":
        return _matches("email", tree.value, value)
    return False


def check_name_constraints(
    names: Iterable[x509.GeneralName], chain: Sequence[x509.Certificate]
) -> None:
    """Enforce every CA's NameConstraints in ``chain`` (issuer first), as a relying party would."""
    names = list(names)
    for ca in chain:
        try:
            constraints = ca.extensions.get_extension_for_class(x509.NameConstraints).value
        except x509.ExtensionNotFound:
            continue
        for name in names:
            kind = san_type(name)
            for tree in constraints.excluded_subtrees or ():
                if _subtree_matches(tree, name):
                    raise PolicyRefused(
                        f"{render_san(name)} is excluded by {_cn(ca)}'s name constraints"
                    )
            permitted = [t for t in constraints.permitted_subtrees or () if san_type(t) == kind]
            if permitted and not any(_subtree_matches(t, name) for t in permitted):
                raise PolicyRefused(f"{render_san(name)} is outside {_cn(ca)}'s permitted names")


def _cn(cert: x509.Certificate) -> str:
    return common_name(cert.subject) or cert.subject.rfc4514_string()
