"""ACME profiles (draft-ietf-acme-profiles): offered in the directory's meta, each bound to a
template and lifetime in the provisioner's config; chosen per order with certbot's ``acme``
library and with stepui's own client (``ca issue --acme --profile``, here with EAB too)."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from pathlib import Path

import pytest
from acme import errors
from cryptography import x509

from stepui.authority.eab import add_key
from tests.acme_fixtures import AcmeEnv, make_csr
from tests.pebble import free_port
from tests.support.cli import ok, refused, stepui
from tests.test_acme_orders import answer, deadline

PROFILES = {
    "tlsserver": {
        "description": "TLS server, 24 hours",
        "template": "tls-server",
        "validity": "24h",
    },
    "shortlived": {
        "description": "TLS server, 6 hours",
        "template": "tls-server",
        "validity": "6h",
    },
}


@pytest.fixture
def profiles_env(acme_env: AcmeEnv) -> AcmeEnv:
    config = acme_env.authority.config
    provisioner = dataclasses.replace(
        config.provisioners["acme"], profiles=PROFILES, default_validity=timedelta(hours=12)
    )
    acme_env.authority.save_config(config.with_changes(provisioners={"acme": provisioner}))
    return acme_env


def order_with(env: AcmeEnv, profile: str | None) -> tuple[str | None, x509.Certificate]:
    acme = env.register()
    order = acme.new_order(make_csr("www.test")[0], profile=profile)
    echoed = order.body.profile
    for authzr in order.authorizations:
        answer(env, acme, authzr, "http-01")
    done = acme.poll_and_finalize(order, deadline())
    return echoed, x509.load_pem_x509_certificates(done.fullchain_pem.encode())[0]


def lifetime(cert: x509.Certificate) -> timedelta:
    return cert.not_valid_after_utc - cert.not_valid_before_utc


def test_directory_offers_the_profiles(profiles_env: AcmeEnv) -> None:
    with profiles_env.http() as http:
        meta = http.get(profiles_env.server.directory).json()["meta"]
    assert meta["profiles"] == {
        "tlsserver": "TLS server, 24 hours",
        "shortlived": "TLS server, 6 hours",
    }


@pytest.mark.parametrize(("profile", "hours"), [("shortlived", 6), ("tlsserver", 24), (None, 12)])
def test_profile_is_echoed_and_decides_the_lifetime(
    profiles_env: AcmeEnv, profile: str | None, hours: int
) -> None:
    echoed, cert = order_with(profiles_env, profile)
    assert echoed == profile
    # Issuance backdates notBefore by a minute (clock skew); the lifetime runs from "now".
    assert timedelta(hours=hours) <= lifetime(cert) <= timedelta(hours=hours, minutes=1)


def test_unknown_profile_is_invalid_profile(profiles_env: AcmeEnv) -> None:
    acme = profiles_env.register()
    orders = profiles_env.rows()["acme_orders"]
    with pytest.raises(errors.Error) as refused_order:
        acme.new_order(make_csr("www.test")[0], profile="longlived")
    assert refused_order.value.typ == "urn:ietf:params:acme:error:invalidProfile"
    assert "shortlived" in refused_order.value.detail
    assert profiles_env.rows()["acme_orders"] == orders


def test_stepui_client_with_eab_and_a_profile(profiles_env: AcmeEnv, tmp_path: Path) -> None:
    authority = profiles_env.authority
    config = authority.config
    provisioner = dataclasses.replace(config.provisioners["acme"], require_eab=True)
    port = free_port()
    authority.save_config(
        config.with_changes(provisioners={"acme": provisioner}, acme_http_port=port)
    )
    key = add_key(authority, "acme", "client")
    out = tmp_path / "out"
    common = [
        "--acme", profiles_env.server.directory,
        "--ca-bundle", str(profiles_env.root),
        "--bind", "127.0.0.1",
        "--http-port", str(port),
        "--out", str(out),
    ]  # fmt: skip
    home = tmp_path / "client"
    home.mkdir()
    refused(
        stepui(home, "ca", "issue", "www", "--san", "DNS:www.test", *common, password=None),
        "external account binding",
    )
    eab = ["--eab-kid", key.kid, "--eab-hmac", key.hmac_key]
    ok(
        stepui(
            home,
            "ca",
            "issue",
            "www",
            "--san",
            "DNS:www.test",
            *common,
            *eab,
            "--profile",
            "shortlived",
            password=None,
        )  # fmt: skip
    )
    cert = x509.load_pem_x509_certificates((out / "www.crt").read_bytes())[0]
    assert timedelta(hours=6) <= lifetime(cert) <= timedelta(hours=6, minutes=1)
    stored = authority.store.eab.key(key.kid)
    assert stored is not None and stored.bound_account is not None


# -- configuring profiles ----------------------------------------------------------------------
def test_provisioner_add_with_profiles(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ok(stepui(home, "ca", "init", "Test", "--no-password", password=None))
    ok(
        stepui(
            home,
            "ca",
            "provisioner",
            "add",
            "web",
            "--profile",
            "shortlived=tls-server:6h:Short-lived: 6 hours",
            "--profile",
            "tlsserver=tls-server:24h",
            password=None,
        )  # fmt: skip
    )
    config = json.loads((home / "config.json").read_text())
    assert config["provisioners"]["web"]["profiles"] == {
        "shortlived": {
            "template": "tls-server",
            "validity": "6h",
            "description": "Short-lived: 6 hours",
        },
        "tlsserver": {
            "template": "tls-server",
            "validity": "24h",
            "description": "tls-server, 24h",
        },
    }
    add = ("ca", "provisioner", "add", "other", "--profile")
    refused(stepui(home, *add, "short", password=None), "NAME=TEMPLATE:LIFETIME")
    refused(stepui(home, *add, "short=nope:6h", password=None), "nope")
    refused(stepui(home, *add, "short=tls-server:soon", password=None), "validity")
    assert "other" not in json.loads((home / "config.json").read_text())["provisioners"]
