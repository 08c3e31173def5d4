"""The ``--allow-dns R`` / ``--deny-ip CIDR`` family, shared by ``ca new``, ``ca policy`` and
``ca provisioner add`` so a rule is spelled and validated the same way everywhere."""

from __future__ import annotations

import argparse
from typing import Any

from stepui.pki.policy import POLICY_KINDS, NamePolicy

_METAVARS = {"dns": "RULE", "ip": "CIDR", "email": "RULE", "uri": "PREFIX"}


def add_policy_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "name policy",
        "allow/deny rules checked at issuance: DNS '.corp.example' (below), '*.corp.example' "
        "(one label), 'api.corp.example' (exact); IP CIDR; email 'corp.example' or a mailbox; "
        "URI prefix. Deny wins; once a kind has allow rules, names of that kind must match one",
    )
    for side in ("allow", "deny"):
        for kind in POLICY_KINDS:
            group.add_argument(
                f"--{side}-{kind}",
                action="append",
                default=[],
                metavar=_METAVARS[kind],
                help=f"{side} {kind} names matching the rule (repeatable)",
            )


def policy_rules(args: argparse.Namespace) -> dict[str, dict[str, list[str]]]:
    """The rules given on the command line, as the ``NamePolicy`` dict shape."""
    return {
        side: {kind: list(getattr(args, f"{side}_{kind}")) for kind in POLICY_KINDS}
        for side in ("allow", "deny")
    }


def has_rules(args: argparse.Namespace) -> bool:
    return any(rules for side in policy_rules(args).values() for rules in side.values())


def merged_policy(base: dict[str, Any], args: argparse.Namespace) -> NamePolicy:
    """``base`` plus the command line's rules, validated (a bad rule names its flag's list)."""
    merged: dict[str, dict[str, list[str]]] = {}
    for side, lists in policy_rules(args).items():
        existing = (base or {}).get(side) or {}
        merged[side] = {}
        for kind in POLICY_KINDS:
            rules = list(existing.get(kind, []))
            rules += [r for r in lists[kind] if r not in rules]
            if rules:
                merged[side][kind] = rules
    return NamePolicy.from_dict(merged, where="policy")
