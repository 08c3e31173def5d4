"""``config.json`` in the data dir: one validated Config, and where the data dir is.

Every key has a default, so a missing file is a valid configuration; an invalid one is refused
with the JSON path of the offending key (``$.provisioners.acme.max_validity: ...``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

from stepui.errors import BadInput
from stepui.pki.policy import NamePolicy
from stepui.pki.timespec import format_duration, parse_duration

CHALLENGE_TYPES = ("http-01", "dns-01", "tls-alpn-01")


def resolve_home(home: str | os.PathLike[str] | None = None) -> Path:
    """``--home``, else ``STEPUI_HOME``, else the platform's per-user data directory."""
    if home:
        return Path(home).expanduser()
    if os.environ.get("STEPUI_HOME"):
        return Path(os.environ["STEPUI_HOME"]).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("stepui"))


@dataclass(frozen=True)
class Provisioner:
    """An ACME endpoint: ``/acme/<name>/directory``."""

    name: str
    ca: str | None = None  # None: the default intermediate
    template: str = "tls-server"
    default_validity: timedelta | None = None
    max_validity: timedelta | None = None
    challenges: tuple[str, ...] = CHALLENGE_TYPES
    policy: dict[str, Any] = field(default_factory=dict)
    terms_of_service: str | None = None
    website: str | None = None
    caa_identities: tuple[str, ...] = ()
    require_eab: bool = False
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)

    @cached_property
    def name_policy(self) -> NamePolicy | None:
        """``policy`` parsed once (it was validated when the config was loaded)."""
        return NamePolicy.from_dict(self.policy) if self.policy else None


@dataclass(frozen=True)
class Config:
    default_ca: str | None = None
    root_ca: str | None = None
    leaf_default_validity: timedelta = timedelta(hours=24)
    leaf_max_validity: timedelta = timedelta(days=90)
    renew_before: str = "33%"
    crl_enabled: bool = True
    crl_next_update: timedelta = timedelta(hours=24)
    crl_regenerate_on_revoke: bool = True
    ocsp_url: str | None = None
    ocsp_delegated: bool = False
    ocsp_validity: timedelta = timedelta(hours=1)
    server_address: str = "127.0.0.1:8443"
    server_names: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")
    external_url: str | None = None
    acme_http_port: int = 80
    acme_tls_port: int = 443
    acme_resolver: str | None = None
    validation_timeout: timedelta = timedelta(seconds=10)
    provisioners: dict[str, Provisioner] = field(
        default_factory=lambda: {"acme": Provisioner("acme")}
    )

    def to_dict(self) -> dict[str, Any]:
        """The on-disk JSON shape (nested sections), durations as text."""

        def duration(value: timedelta | None) -> str | None:
            return format_duration(value) if value else None

        return {
            "default_ca": self.default_ca,
            "root_ca": self.root_ca,
            "leaf": {
                "default_validity": duration(self.leaf_default_validity),
                "max_validity": duration(self.leaf_max_validity),
            },
            "renew_before": self.renew_before,
            "crl": {
                "enabled": self.crl_enabled,
                "next_update": duration(self.crl_next_update),
                "regenerate_on_revoke": self.crl_regenerate_on_revoke,
            },
            "ocsp": {
                "url": self.ocsp_url,
                "delegated": self.ocsp_delegated,
                "validity": duration(self.ocsp_validity),
            },
            "server": {
                "address": self.server_address,
                "dns_names": list(self.server_names),
                "external_url": self.external_url,
            },
            "acme": {
                "http_port": self.acme_http_port,
                "tls_port": self.acme_tls_port,
                "resolver": self.acme_resolver,
                "validation_timeout": duration(self.validation_timeout),
            },
            "provisioners": {
                name: {
                    "ca": p.ca,
                    "template": p.template,
                    "default_validity": duration(p.default_validity),
                    "max_validity": duration(p.max_validity),
                    "challenges": list(p.challenges),
                    "policy": p.policy,
                    "terms_of_service": p.terms_of_service,
                    "website": p.website,
                    "caa_identities": list(p.caa_identities),
                    "require_eab": p.require_eab,
                    "profiles": p.profiles,
                }
                for name, p in self.provisioners.items()
            },
        }

    def with_changes(self, **changes: Any) -> Config:
        return replace(self, **changes)


class _Reader:
    """Walks the JSON with a path, so every error names where it is."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            raise BadInput(f"{path}: must be an object")
        self.data, self.path = data, path

    def check_keys(self, allowed: set[str]) -> None:
        unknown = sorted(set(self.data) - allowed)
        if unknown:
            raise BadInput(
                f"{self.path}.{unknown[0]}: unknown key (known: {', '.join(sorted(allowed))})"
            )

    def section(self, key: str) -> _Reader:
        value = self.data.get(key)
        return _Reader({} if value is None else value, f"{self.path}.{key}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        if key not in self.data or self.data[key] is None:
            return default
        value = self.data[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
            names = (
                kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            )
            raise BadInput(f"{self.path}.{key}: must be {_ARTICLE.get(names, names)}")
        return value

    def duration(self, key: str, default: timedelta | None) -> timedelta | None:
        text = self.get(key, str, None)
        if text is None:
            return default
        try:
            return parse_duration(text)
        except BadInput as exc:
            raise BadInput(f"{self.path}.{key}: {exc.message}") from exc

    def port(self, key: str, default: int) -> int:
        value = self.get(key, int, default)
        if not 1 <= value <= 65535:
            raise BadInput(f"{self.path}.{key}: {value} is not a port number (1-65535)")
        return value

    def strings(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self.get(key, list, None)
        if value is None:
            return default
        if not all(isinstance(v, str) for v in value):
            raise BadInput(f"{self.path}.{key}: must be a list of strings")
        return tuple(value)


_ARTICLE = {
    "str": "a string",
    "int": "an integer",
    "bool": "true or false",
    "dict": "an object",
    "list": "a list",
}


def config_from_dict(data: Any) -> Config:
    root = _Reader(data, "$")
    root.check_keys(
        {
            "default_ca",
            "root_ca",
            "leaf",
            "renew_before",
            "crl",
            "ocsp",
            "server",
            "acme",
            "provisioners",
        }
    )
    defaults = Config()
    leaf, crl, ocsp = root.section("leaf"), root.section("crl"), root.section("ocsp")
    server, acme = root.section("server"), root.section("acme")
    leaf.check_keys({"default_validity", "max_validity"})
    crl.check_keys({"enabled", "next_update", "regenerate_on_revoke"})
    ocsp.check_keys({"url", "delegated", "validity"})
    server.check_keys({"address", "dns_names", "external_url"})
    acme.check_keys({"http_port", "tls_port", "resolver", "validation_timeout"})
    renew_before = root.get("renew_before", str, defaults.renew_before)
    _check_renew_before(renew_before)
    address = server.get("address", str, defaults.server_address)
    parse_address(address, where="$.server.address")
    resolver = acme.get("resolver", str, None)
    if resolver is not None:
        parse_address(resolver, where="$.acme.resolver")
    config = Config(
        default_ca=root.get("default_ca", str, None),
        root_ca=root.get("root_ca", str, None),
        leaf_default_validity=leaf.duration("default_validity", defaults.leaf_default_validity),
        leaf_max_validity=leaf.duration("max_validity", defaults.leaf_max_validity),
        renew_before=renew_before,
        crl_enabled=crl.get("enabled", bool, defaults.crl_enabled),
        crl_next_update=crl.duration("next_update", defaults.crl_next_update),
        crl_regenerate_on_revoke=crl.get("regenerate_on_revoke", bool, True),
        ocsp_url=ocsp.get("url", str, None),
        ocsp_delegated=ocsp.get("delegated", bool, defaults.ocsp_delegated),
        ocsp_validity=ocsp.duration("validity", defaults.ocsp_validity),
        server_address=address,
        server_names=server.strings("dns_names", defaults.server_names),
        external_url=server.get("external_url", str, None),
        acme_http_port=acme.port("http_port", defaults.acme_http_port),
        acme_tls_port=acme.port("tls_port", defaults.acme_tls_port),
        acme_resolver=resolver,
        validation_timeout=acme.duration("validation_timeout", defaults.validation_timeout),
        provisioners=_provisioners(root) if "provisioners" in root.data else defaults.provisioners,
    )
    if config.leaf_default_validity > config.leaf_max_validity:
        raise BadInput("$.leaf.default_validity: longer than $.leaf.max_validity")
    return config


def _check_renew_before(text: str) -> None:
    if text.endswith("%"):
        number = text[:-1]
        if not number.isdigit() or not 0 < int(number) < 100:
            raise BadInput("$.renew_before: a percentage must be between 1% and 99%")
        return
    try:
        parse_duration(text)
    except BadInput as exc:
        raise BadInput(f"$.renew_before: {exc.message}") from exc


def _provisioners(root: _Reader) -> dict[str, Provisioner]:
    section = root.section("provisioners")
    result: dict[str, Provisioner] = {}
    allowed = {f.name for f in fields(Provisioner)} - {"name"}
    for name in section.data:
        if not name or not all(c.isalnum() or c in "-_" for c in name):
            raise BadInput(f"$.provisioners.{name}: name must be letters, digits, - or _")
        reader = section.section(name)
        reader.check_keys(allowed)
        challenges = reader.strings("challenges", CHALLENGE_TYPES)
        for challenge in challenges:
            if challenge not in CHALLENGE_TYPES:
                known = ", ".join(CHALLENGE_TYPES)
                raise BadInput(f"{reader.path}.challenges: {challenge!r} is not one of {known}")
        policy = reader.get("policy", dict, {})
        NamePolicy.from_dict(policy, where=f"{reader.path}.policy")
        profiles = reader.get("profiles", dict, {})
        for profile, body in profiles.items():
            profile_reader = _Reader(body, f"{reader.path}.profiles.{profile}")
            profile_reader.check_keys({"description", "template", "validity"})
            profile_reader.get("description", str, None)
            profile_reader.get("template", str, None)
            profile_reader.duration("validity", None)
        result[name] = Provisioner(
            name=name,
            ca=reader.get("ca", str, None),
            template=reader.get("template", str, "tls-server"),
            default_validity=reader.duration("default_validity", None),
            max_validity=reader.duration("max_validity", None),
            challenges=challenges,
            policy=policy,
            terms_of_service=reader.get("terms_of_service", str, None),
            website=reader.get("website", str, None),
            caa_identities=reader.strings("caa_identities", ()),
            require_eab=reader.get("require_eab", bool, False),
            profiles=profiles,
        )
    return result


def parse_address(text: str, *, where: str = "address") -> tuple[str, int]:
    """``HOST:PORT`` or ``[v6]:PORT``."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise BadInput(f"{where}: {text!r} is not HOST:PORT such as 127.0.0.1:8443")
    return host, int(port)


def load_config(path: Path) -> Config:
    if not path.exists():
        return Config()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise BadInput(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise BadInput(
            f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    except OSError as exc:
        raise BadInput(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        return config_from_dict(data)
    except BadInput as exc:
        raise BadInput(f"{path}: {exc.message}") from exc


def save_config(config: Config, path: Path) -> None:
    """Atomic write (temp file + rename) so a crash never leaves half a config."""
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(config.to_dict(), indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)
