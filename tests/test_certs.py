"""Tests of voiplab.devices.certs: the WebRTC chapter's ECDSA CA and server certificate."""

from __future__ import annotations

import argparse
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import require_tool

from voiplab.cli import webrtc as _cli_certs
from voiplab.config import local_address
from voiplab.devices import certs
from voiplab.devices.certs import CertPaths
from voiplab.errors import WebRtcError


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> CertPaths:
    """A CA and a server certificate for the local lab's PBX, with a host name."""
    out = tmp_path_factory.mktemp("certs")
    return certs.make_certificates(out, ["127.0.0.80", "192.168.1.80"], dns_names=["pbx.lab"])


def test_files_written(paths: CertPaths) -> None:
    """Are the five PEM files written with the expected names?"""
    names = [p.name for p in (paths.ca_cert, paths.ca_key, paths.server_cert, paths.server_key,
                              paths.server_pem_bundle)]
    assert names == ["ca.crt", "ca.key", "server.crt", "server.key", "server.pem"]
    assert paths.server_pem_bundle.read_text().count("BEGIN CERTIFICATE") == 2
    assert "BEGIN PRIVATE KEY" in paths.server_pem_bundle.read_text()


def test_private_keys_are_600(paths: CertPaths) -> None:
    """Are the private keys (and the bundle holding one) readable by their owner only?"""
    for path in (paths.ca_key, paths.server_key, paths.server_pem_bundle):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(paths.ca_cert.stat().st_mode) == 0o644


def test_chain_verifies_with_openssl(paths: CertPaths) -> None:
    """Does 'openssl verify -CAfile' accept the chain, for a TLS server at the PBX address?"""
    openssl = require_tool("openssl")
    result = subprocess.run([openssl, "verify", "-CAfile", str(paths.ca_cert), "-purpose", "sslserver",
                             "-verify_ip", "127.0.0.80", str(paths.server_cert)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{paths.server_cert}: OK"


def test_openssl_rejects_another_address(paths: CertPaths) -> None:
    """Does openssl refuse the certificate for an address not in its subjectAltName?"""
    openssl = require_tool("openssl")
    result = subprocess.run([openssl, "verify", "-CAfile", str(paths.ca_cert), "-verify_ip", "10.0.0.1",
                             str(paths.server_cert)], capture_output=True, text=True, check=False)
    assert result.returncode != 0


def test_ca_is_p521_sha384(paths: CertPaths) -> None:
    """Is the CA a self-signed ECDSA P-521 CA signed with SHA-384, allowed to sign certificates?"""
    ca = certs.describe(paths.ca_cert)
    assert (ca["key_type"], ca["curve"], ca["key_size"], ca["signature_hash"]) == ("EC", "P-521", 521, "sha384")
    assert ca["is_ca"] and ca["self_signed"]
    assert ca["key_usage"] == ["key_cert_sign", "crl_sign"]
    assert ca["subject"] == "CN=voiplab lab root CA,O=voiplab"


def test_server_is_p256_with_san(paths: CertPaths) -> None:
    """Is the server key P-256 by default, signed by the CA with SHA-384, naming the PBX in its SAN?"""
    server = certs.describe(paths.server_cert)
    assert (server["curve"], server["signature_hash"]) == ("P-256", "sha384")
    assert server["san"] == {"ip": ["127.0.0.80", "192.168.1.80"], "dns": ["pbx.lab"]}
    assert server["extended_key_usage"] == ["serverAuth"]
    assert not server["is_ca"] and not server["self_signed"]
    assert server["issuer"] == certs.describe(paths.ca_cert)["subject"]
    certs.verify_chain(paths.ca_cert, paths.server_cert)


@pytest.mark.parametrize("curve, size", [("P-384", 384), ("P-521", 521)])
def test_server_curve_can_be_chosen(tmp_path: Path, curve: str, size: int) -> None:
    """Can the server key be P-384 or P-521 when asked?"""
    p = certs.make_certificates(tmp_path, "127.0.0.80", server_curve=curve)
    assert certs.describe(p.server_cert)["key_size"] == size


def test_existing_ca_is_reused(tmp_path: Path) -> None:
    """Is the CA kept when certificates are made again (the browser already trusts it)?"""
    first = certs.make_certificates(tmp_path, "127.0.0.80")
    ca = first.ca_cert.read_bytes()
    second = certs.make_certificates(tmp_path, "127.0.0.81")
    assert second.ca_cert.read_bytes() == ca
    certs.verify_chain(second.ca_cert, second.server_cert)
    third = certs.make_certificates(tmp_path, "127.0.0.81", reuse_ca=False)
    assert third.ca_cert.read_bytes() != ca


def test_foreign_ca_fails_verification(tmp_path: Path) -> None:
    """Is a server certificate checked against another CA refused with a clear message?"""
    a = certs.make_certificates(tmp_path / "a", "127.0.0.80")
    b = certs.make_certificates(tmp_path / "b", "127.0.0.80")
    with pytest.raises(WebRtcError) as e:
        certs.verify_chain(b.ca_cert, a.server_cert)
    assert str(e.value).startswith(f"server certificate {a.server_cert} is not signed by CA {b.ca_cert} (")
    assert str(e.value).endswith("): make both again with make_certificates")


def test_bad_address_and_curve(tmp_path: Path) -> None:
    """Are a host name given as address, and an unknown curve, refused with the fix?"""
    with pytest.raises(WebRtcError) as e:
        certs.make_certificates(tmp_path, "pbx.lab")
    assert str(e.value) == ("PBX address 'pbx.lab' is not an IP address: give the IP address the browser "
                            "connects to, and host names with dns_names")
    with pytest.raises(WebRtcError) as e:
        certs.make_certificates(tmp_path, "127.0.0.80", server_curve="P-224")
    assert str(e.value) == "curve 'P-224' is not supported: use one of P-256, P-384, P-521"


def test_describe_missing_file(tmp_path: Path) -> None:
    """Is a missing certificate reported with its path?"""
    with pytest.raises(WebRtcError) as e:
        certs.describe(tmp_path / "none.crt")
    assert str(e.value) == f"certificate {tmp_path / 'none.crt'} could not be read (No such file or directory): " \
                           "check the path"


def test_cli_webrtc_certs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Does 'webrtc certs --out DIR --address IP' make a verified chain and say where it is?"""
    parser = argparse.ArgumentParser(prog="voiplab")
    _cli_certs.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["webrtc", "certs", "--out", str(tmp_path), "--address", "192.168.1.80"])
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    assert f"server  {tmp_path / 'server.crt'}: SAN 192.168.1.80, P-256" in out
    assert certs.describe(tmp_path / "server.crt")["san"]["ip"] == ["192.168.1.80"]


def test_cli_webrtc_certs_default_address(tmp_path: Path) -> None:
    """Without --address, is the lab config's PBX address used?"""
    parser = argparse.ArgumentParser(prog="voiplab")
    _cli_certs.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["webrtc", "certs", "--out", str(tmp_path)])
    assert _cli_certs.run(args) == 0
    assert certs.describe(tmp_path / "server.crt")["san"]["ip"] == [local_address(80)]  # the user's lab: 127.A.B.80
