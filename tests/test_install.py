"""``cert install``: files checked one by one (content, chain order, modes), the Nginx and Traefik
configurations, and the trust store driven through the real ``update-ca-certificates`` pointed
at a temporary layout (the machine's own trust store is never touched)."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from stepui.authority import Authority, IssueRequest
from stepui.errors import BadInput, NotFound
from stepui.install import (
    TrustStore,
    install_files,
    material_from_store,
    trust_plan,
    untrust_plan,
)
from stepui.pki.keys import generate_key, load_private_key, private_key_pem, same_key

from .support.cli import stepui

TIMEOUT = 120


def certs_in(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.fixture
def authority(tmp_path: Path) -> Iterator[Authority]:
    authority = Authority.open(tmp_path / "ca")
    authority.init("Install", passwordless=True)
    yield authority
    authority.close()


def issue(authority: Authority, directory: Path, name: str = "web") -> Path:
    authority.issue(IssueRequest(sans=[f"DNS:{name}.test"], name=name), out_dir=directory)
    return directory / f"{name}.key"


def test_files_one_by_one(authority: Authority, tmp_path: Path) -> None:
    key_file = issue(authority, tmp_path)
    result = tmp_path / "live" / "web"
    installed = install_files(material_from_store(authority, "web", key_file), result)

    record = authority.certificates(name="web")[0]
    intermediate = authority.ca_certificate()
    root = x509.load_pem_x509_certificate(authority.root().cert_pem.encode())
    leaf = certs_in(installed.cert)
    assert [format(c.serial_number, "x") for c in leaf] == [record.serial]
    assert certs_in(installed.chain) == [intermediate]
    assert certs_in(installed.fullchain) == [leaf[0], intermediate]
    assert certs_in(installed.ca) == [intermediate, root]
    key = load_private_key(installed.key.read_bytes(), None)
    assert same_key(key, leaf[0].public_key())
    assert mode(installed.key) == 0o600
    for path in (installed.cert, installed.chain, installed.fullchain, installed.ca):
        assert mode(path) == 0o644
    assert sorted(p.name for p in result.iterdir()) == [
        "ca.pem",
        "cert.pem",
        "chain.pem",
        "fullchain.pem",
        "key.pem",
    ]
    checked = subprocess.run(
        ["openssl", "verify", "-CAfile", str(installed.ca), "-untrusted", str(installed.chain),
         str(installed.cert)],
        capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr


def test_nginx_snippet(authority: Authority, tmp_path: Path) -> None:
    key_file = issue(authority, tmp_path, "shop")
    installed = install_files(
        material_from_store(authority, "shop", key_file), tmp_path / "out", "nginx"
    )
    assert installed.config == tmp_path / "out" / "stepui-shop.conf"
    directives = [
        line.rstrip(";").split(maxsplit=1)
        for line in installed.config.read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert directives == [
        ["ssl_certificate", str(installed.fullchain)],
        ["ssl_certificate_key", str(installed.key)],
        ["ssl_trusted_certificate", str(installed.ca)],
    ]
    assert all(Path(value).is_absolute() and Path(value).is_file() for _, value in directives)


def test_traefik_dynamic_configuration(authority: Authority, tmp_path: Path) -> None:
    key_file = issue(authority, tmp_path, "api")
    installed = install_files(
        material_from_store(authority, "api", key_file), tmp_path / "out", "traefik"
    )
    assert installed.config == tmp_path / "out" / "stepui-api.yml"
    config = yaml.safe_load(installed.config.read_text())
    assert config == {
        "tls": {
            "certificates": [{"certFile": str(installed.fullchain), "keyFile": str(installed.key)}]
        }
    }


def test_newest_certificate_after_renewal(authority: Authority, tmp_path: Path) -> None:
    key_file = issue(authority, tmp_path)
    old = authority.certificates(name="web")[0]
    renewed = authority.renew(old.serial, out_dir=tmp_path)
    installed = install_files(material_from_store(authority, "web", key_file), tmp_path / "out")
    leaf = certs_in(installed.cert)[0]
    assert format(leaf.serial_number, "x") == renewed.serial != old.serial


def test_wrong_key_writes_nothing(authority: Authority, tmp_path: Path) -> None:
    issue(authority, tmp_path)
    stranger = tmp_path / "stranger.key"
    stranger.write_bytes(private_key_pem(generate_key(), None))
    with pytest.raises(BadInput, match="is not the key"):
        material_from_store(authority, "web", stranger)
    with pytest.raises(BadInput, match="cannot read the key"):
        material_from_store(authority, "web", tmp_path / "missing.key")
    with pytest.raises(NotFound):
        material_from_store(authority, "nobody", stranger)
    assert not (tmp_path / "out").exists()


def test_revoked_certificate_is_not_installed(authority: Authority, tmp_path: Path) -> None:
    key_file = issue(authority, tmp_path)
    authority.revoke(authority.certificates(name="web")[0].serial)
    with pytest.raises(NotFound):
        material_from_store(authority, "web", key_file)


@pytest.fixture
def trust_layout(tmp_path: Path) -> dict[str, Path]:
    """A private copy of Debian's trust-store layout for the real update-ca-certificates."""
    layout = {k: tmp_path / "trust" / k for k in ("local", "share", "etc", "hooks")}
    for path in layout.values():
        path.mkdir(parents=True)
    layout["conf"] = tmp_path / "trust" / "ca-certificates.conf"
    layout["conf"].write_text("")
    # another authority already trusted, as on any real system
    other = Authority.open(tmp_path / "other")
    other.init("Already Trusted", passwordless=True)
    (layout["local"] / "already-trusted.crt").write_text(other.root().cert_pem)
    other.close()
    return layout


def update_command(layout: dict[str, Path]) -> tuple[str, ...]:
    return (
        "update-ca-certificates",
        "--certsconf", str(layout["conf"]),
        "--certsdir", str(layout["share"]),
        "--localcertsdir", str(layout["local"]),
        "--etccertsdir", str(layout["etc"]),
        "--hooksdir", str(layout["hooks"]),
    )  # fmt: skip


def test_trust_and_untrust_with_update_ca_certificates(
    authority: Authority, tmp_path: Path, trust_layout: dict[str, Path]
) -> None:
    store = TrustStore(trust_layout["local"], update_command(trust_layout))
    root_record = authority.root()
    root = x509.load_pem_x509_certificate(root_record.cert_pem.encode())
    plan = trust_plan(store, {root_record.id: root})
    installed_file = trust_layout["local"] / f"stepui-{root_record.id}.crt"
    assert plan.describe()[0] == f"write {installed_file}"
    plan.apply()
    assert installed_file.read_bytes() == root.public_bytes(serialization.Encoding.PEM)
    bundle = trust_layout["etc"] / "ca-certificates.crt"
    assert root in certs_in(bundle)
    assert (trust_layout["etc"] / f"stepui-{root_record.id}.pem").is_symlink()

    key_file = issue(authority, tmp_path)
    installed = install_files(material_from_store(authority, "web", key_file), tmp_path / "out")
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", str(bundle), "-untrusted", str(installed.chain),
         str(installed.cert)],
        capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr

    assert trust_plan(store, {root_record.id: root}).describe() == ["nothing to change"]

    removal = untrust_plan(store, [root_record.id])
    assert removal.describe()[0] == f"remove {installed_file}"
    removal.apply()
    assert not installed_file.exists()
    assert not (trust_layout["etc"] / f"stepui-{root_record.id}.pem").exists()
    remaining = certs_in(bundle)
    assert root not in remaining and len(remaining) == 1


def test_nss_databases_are_updated_through_certutil(tmp_path: Path, authority: Authority):
    """certutil is not installed here: the plan shows the exact commands it would run."""
    db = tmp_path / "nssdb"
    store = TrustStore(tmp_path / "local", ("true",), (db,), "/usr/bin/certutil")
    root = authority.root()
    cert = x509.load_pem_x509_certificate(root.cert_pem.encode())
    lines = trust_plan(store, {root.id: cert}).describe()
    path = tmp_path / "local" / f"stepui-{root.id}.crt"
    assert shlex.join(
        ["/usr/bin/certutil", "-A", "-d", f"sql:{db}", "-t", "C,,", "-n", f"stepui {root.id}",
         "-i", str(path)]
    ) in lines  # fmt: skip
    path.parent.mkdir()
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    removal = untrust_plan(store, [root.id]).describe()
    assert shlex.join(
        ["/usr/bin/certutil", "-D", "-d", f"sql:{db}", "-n", f"stepui {root.id}"]
    ) in removal  # fmt: skip


def test_cli_install_dry_run_trust_and_uninstall(
    tmp_path: Path, trust_layout: dict[str, Path]
) -> None:
    home = tmp_path / "home"
    env = {
        "STEPUI_TRUST_DIR": str(trust_layout["local"]),
        "STEPUI_TRUST_UPDATE": shlex.join(update_command(trust_layout)),
        "STEPUI_NSS_DBS": "",
    }
    assert stepui(home, "ca", "init", "Cli").returncode == 0
    issued = stepui(home, "ca", "issue", "site", "--san", "DNS:site.test", "--out", str(tmp_path))
    assert issued.returncode == 0, issued.stderr
    result = tmp_path / "site"

    dry = stepui(
        home, "cert", "install", "site", "--result", str(result), "--key",
        str(tmp_path / "site.key"), "--target", "nginx", "--trust", "--dry-run", env=env,
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert "would: write " + str(trust_layout["local"]) in dry.stdout
    assert "would: update-ca-certificates" in dry.stdout
    assert [p.name for p in trust_layout["local"].iterdir()] == ["already-trusted.crt"]
    assert (result / "stepui-site.conf").is_file()  # --dry-run concerns the trust store only

    done = stepui(home, "cert", "install", "--trust", env=env)
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in trust_layout["local"].iterdir())
    assert names == ["already-trusted.crt", "stepui-cli-root-ca.crt"]
    root = x509.load_pem_x509_certificate((home / "certs" / "root_ca.crt").read_bytes())
    assert root in certs_in(trust_layout["etc"] / "ca-certificates.crt")

    gone = stepui(home, "cert", "uninstall", "--trust", env=env, password=None)
    assert gone.returncode == 0, gone.stderr
    assert [p.name for p in trust_layout["local"].iterdir()] == ["already-trusted.crt"]

    refused = stepui(home, "cert", "install", "site", env=env)
    assert refused.returncode == 2 and "--result" in refused.stderr
