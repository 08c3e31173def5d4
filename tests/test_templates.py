"""stepui.pki.templates: the built-in profiles and validation of user templates."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from stepui.errors import BadInput
from stepui.pki.templates import BUILTIN_TEMPLATES, template_from_dict


def test_builtins() -> None:
    assert set(BUILTIN_TEMPLATES) >= {"tls-server", "tls-client", "intermediate", "root", "email"}
    server = BUILTIN_TEMPLATES["tls-server"]
    assert server.eku_oids() == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert server.allowed_san_types == ("dns", "ip")
    assert not server.is_ca and server.builtin
    assert BUILTIN_TEMPLATES["tls-client"].eku_oids() == [ExtendedKeyUsageOID.CLIENT_AUTH]
    root, intermediate = BUILTIN_TEMPLATES["root"], BUILTIN_TEMPLATES["intermediate"]
    assert root.is_ca and root.path_len == 1
    assert intermediate.is_ca and intermediate.path_len == 0
    for ca in (root, intermediate):
        assert {"key_cert_sign", "crl_sign"} <= set(ca.key_usage)
        assert ca.default_validity == timedelta(days=3650)
    assert BUILTIN_TEMPLATES["email"].allowed_san_types == ("email",)


def test_user_template_round_trip() -> None:
    body = {
        "name": "web",
        "description": "web servers",
        "key_usage": ["digital_signature", "key_encipherment"],
        "extended_key_usage": ["server_auth", "1.3.6.1.4.1.99999.1"],
        "allowed_san_types": ["dns"],
        "crl_urls": ["http://crl.example/ca.crl"],
        "ocsp_urls": ["http://ocsp.example"],
        "ca_issuers_urls": ["https://ca.example/ca.crt"],
        "policies": ["2.23.140.1.2.1"],
        "default_validity": "72h",
        "max_validity": "30d",
    }
    template = template_from_dict(body)
    assert template.default_validity == timedelta(hours=72)
    assert template.max_validity == timedelta(days=30)
    assert [o.dotted_string for o in template.eku_oids()] == [
        ExtendedKeyUsageOID.SERVER_AUTH.dotted_string,
        "1.3.6.1.4.1.99999.1",
    ]
    assert template_from_dict(template.to_dict()) == template
    assert template.to_dict()["default_validity"] == "3d"


@pytest.mark.parametrize(
    ("body", "words"),
    (
        ([], "JSON object"),
        ({"name": "x", "colour": "red"}, "unknown field"),
        ({"name": "x", "builtin": True}, "unknown field"),
        ({}, "'name'"),
        ({"name": "two words"}, "'name'"),
        ({"name": "tls-server"}, "built in"),
        ({"name": "x", "key_usage": "digital_signature"}, "list of strings"),
        ({"name": "x", "key_usage": ["sign_everything"]}, "key_usage"),
        ({"name": "x", "extended_key_usage": ["server-auth"]}, "extended_key_usage"),
        ({"name": "x", "extended_key_usage": ["1"]}, "extended_key_usage"),
        ({"name": "x", "allowed_san_types": ["dn"]}, "allowed_san_types"),
        ({"name": "x", "policies": ["any"]}, "policy"),
        ({"name": "x", "crl_urls": ["ftp://x/crl"]}, "crl_urls"),
        ({"name": "x", "ocsp_urls": ["ocsp.example"]}, "ocsp_urls"),
        ({"name": "x", "default_validity": 24}, "duration"),
        ({"name": "x", "max_validity": "forever"}, "duration"),
        ({"name": "x", "default_validity": "48h", "max_validity": "24h"}, "longer than"),
        ({"name": "x", "is_ca": True}, "leaf"),
    ),
)
def test_user_template_errors(body: Any, words: str) -> None:
    with pytest.raises(BadInput, match=words):
        template_from_dict(body)
