"""stepui.config: defaults, round trips, and errors that name the JSON path."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from stepui.config import (
    Config,
    Provisioner,
    config_from_dict,
    load_config,
    parse_address,
    resolve_home,
    save_config,
)
from stepui.errors import BadInput
from stepui.pki.timespec import format_duration, parse_duration


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    config = load_config(tmp_path / "config.json")
    assert config == Config()
    assert config.leaf_default_validity == timedelta(hours=24)
    assert config.leaf_max_validity == timedelta(days=90)
    assert list(config.provisioners) == ["acme"]
    assert config.provisioners["acme"].challenges == ("http-01", "dns-01", "tls-alpn-01")
    assert config_from_dict({}) == Config()


def test_save_load_round_trip(tmp_path: Path) -> None:
    config = Config(
        default_ca="corp-intermediate-ca",
        root_ca="corp-root-ca",
        leaf_default_validity=timedelta(hours=36),
        leaf_max_validity=timedelta(days=30),
        renew_before="8h",
        crl_enabled=False,
        crl_next_update=timedelta(hours=6),
        ocsp_url="http://ocsp.example",
        server_address="[::1]:9443",
        server_names=("ca.local",),
        external_url="https://ca.example",
        acme_http_port=5002,
        acme_tls_port=5001,
        acme_resolver="127.0.0.1:5353",
        validation_timeout=timedelta(seconds=3),
        provisioners={
            "acme": Provisioner("acme"),
            "lab": Provisioner(
                "lab",
                ca="lab-ca",
                template="tls-server-client",
                default_validity=timedelta(hours=1),
                max_validity=timedelta(days=2),
                challenges=("dns-01",),
                policy={"allow": {"dns": [".lab.example"]}},
                terms_of_service="https://ca.example/tos",
                caa_identities=("ca.example",),
                require_eab=True,
                profiles={"short": {"description": "6h", "validity": "6h"}},
            ),
        },
    )
    path = tmp_path / "config.json"
    save_config(config, path)
    assert load_config(path) == config
    assert json.loads(path.read_text())["acme"]["http_port"] == 5002
    assert not list(tmp_path.glob("*.tmp"))


def test_invalid_json_reports_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{\n  "renew_before": "8h",\n  oops\n}\n')
    with pytest.raises(BadInput) as caught:
        load_config(path)
    assert "line 3 column 3" in caught.value.message
    assert str(path) in caught.value.message


@pytest.mark.parametrize(
    ("data", "where"),
    (
        ([], "$: must be an object"),
        ({"bogus": 1}, "$.bogus: unknown key"),
        ({"acme": {"nope": 1}}, "$.acme.nope: unknown key"),
        ({"leaf": "24h"}, "$.leaf: must be an object"),
        ({"default_ca": 5}, "$.default_ca: must be a string"),
        ({"crl": {"enabled": "yes"}}, "$.crl.enabled: must be true or false"),
        ({"acme": {"http_port": "80"}}, "$.acme.http_port: must be an integer"),
        ({"acme": {"http_port": True}}, "$.acme.http_port: must be an integer"),
        ({"acme": {"http_port": 0}}, "$.acme.http_port: 0 is not a port"),
        ({"acme": {"tls_port": 65536}}, "$.acme.tls_port: 65536 is not a port"),
        ({"acme": {"resolver": "nowhere"}}, "$.acme.resolver"),
        ({"acme": {"validation_timeout": "soon"}}, "$.acme.validation_timeout"),
        ({"leaf": {"default_validity": "1 day"}}, "$.leaf.default_validity"),
        ({"leaf": {"max_validity": "-5h"}}, "$.leaf.max_validity"),
        ({"leaf": {"default_validity": "0h"}}, "$.leaf.default_validity"),
        ({"leaf": {"default_validity": "0"}}, "$.leaf.default_validity"),
        ({"leaf": {"default_validity": "91d"}}, "$.leaf.default_validity: longer than"),
        ({"crl": {"next_update": 24}}, "$.crl.next_update: must be a string"),
        ({"renew_before": "0%"}, "$.renew_before"),
        ({"renew_before": "100%"}, "$.renew_before"),
        ({"renew_before": "later"}, "$.renew_before"),
        ({"server": {"address": "localhost"}}, "$.server.address"),
        ({"server": {"address": "localhost:99999"}}, "$.server.address"),
        ({"server": {"dns_names": ["a", 1]}}, "$.server.dns_names: must be a list of strings"),
        ({"provisioners": {"bad name": {}}}, "$.provisioners.bad name"),
        ({"provisioners": {"acme": {"colour": 1}}}, "$.provisioners.acme.colour: unknown key"),
        (
            {"provisioners": {"acme": {"challenges": ["http-01", "carrier-pigeon"]}}},
            "$.provisioners.acme.challenges",
        ),
        (
            {"provisioners": {"acme": {"policy": {"allow": {"dns": ["-x.example"]}}}}},
            "$.provisioners.acme.policy.allow.dns",
        ),
        (
            {"provisioners": {"acme": {"max_validity": "ever"}}},
            "$.provisioners.acme.max_validity",
        ),
        (
            {"provisioners": {"acme": {"profiles": {"p": {"validity": "x"}}}}},
            "$.provisioners.acme.profiles.p.validity",
        ),
        (
            {"provisioners": {"acme": {"profiles": {"p": {"lifetime": "1h"}}}}},
            "$.provisioners.acme.profiles.p.lifetime: unknown key",
        ),
        ({"provisioners": {"acme": {"require_eab": 1}}}, "$.provisioners.acme.require_eab"),
    ),
)
def test_bad_values_name_the_json_path(tmp_path: Path, data: Any, where: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    with pytest.raises(BadInput) as caught:
        load_config(path)
    assert where in caught.value.message


def test_parse_address() -> None:
    assert parse_address("127.0.0.1:8443") == ("127.0.0.1", 8443)
    assert parse_address("[::1]:443") == ("::1", 443)
    with pytest.raises(BadInput, match="where"):
        parse_address(":80", where="where")


def test_resolve_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEPUI_HOME", str(tmp_path / "env"))
    assert resolve_home(tmp_path / "flag") == tmp_path / "flag"
    assert resolve_home(None) == tmp_path / "env"
    monkeypatch.delenv("STEPUI_HOME")
    assert resolve_home(None).name == "stepui"


@pytest.mark.parametrize(
    ("text", "delta"),
    (
        ("24h", timedelta(hours=24)),
        ("1h30m", timedelta(minutes=90)),
        ("90d", timedelta(days=90)),
        ("1y", timedelta(days=365)),
        ("2w", timedelta(days=14)),
        ("45", timedelta(seconds=45)),
        (" 10M ", timedelta(minutes=10)),
    ),
)
def test_durations(text: str, delta: timedelta) -> None:
    assert parse_duration(text) == delta
    assert parse_duration(format_duration(delta)) == delta
