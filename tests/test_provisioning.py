"""Tests of voiplab.devices.provisioning: writing the Alcatel IP Touch 4018 EE files and serving them over HTTP.

The files themselves (keys, rendering, validation) are tested in test_sipconfig.py.
"""

from __future__ import annotations

import argparse
import http.client
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from voiplab.cli import provision as _cli_provision
from voiplab.config import default_config
from voiplab.devices import provisioning, sipconfig
from voiplab.devices.provisioning import ProvisioningServer
from voiplab.errors import ProvisioningError

MAC = "00:80:9F:12:34:56"
PHONE_FILE = "sipconfig-00809f123456.txt"


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    """The report's lab, rendered for 2025."""
    return sipconfig.render(default_config(0), mac=MAC, year=2025)  # root's lab: 127.0.0.80


# --- writing the files ----------------------------------------------------------


def test_write_files(tmp_path: Path) -> None:
    """Does write_files write both files, in UTF-8, named after the MAC in lower case?"""
    written = provisioning.write_files(tmp_path / "prov", mac="00-80-9F-AB-CD-EF", year=2025)
    assert written.common == tmp_path / "prov" / "sipconfig.txt"
    assert written.phone == tmp_path / "prov" / "sipconfig-00809fabcdef.txt"
    assert sipconfig.validate(written.phone.read_bytes(), written.phone.name) == []


# --- the HTTP server ----------------------------------------------------------


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[ProvisioningServer]:
    """A provisioning server on 127.0.0.80 (any free port) serving freshly written files."""
    provisioning.write_files(tmp_path / "prov", default_config(0), mac=MAC, year=2025)  # as `files`: root's lab
    (tmp_path / "secret.txt").write_text("do not serve\n")
    os.symlink(tmp_path / "secret.txt", tmp_path / "prov" / "link.txt")
    with ProvisioningServer(tmp_path / "prov", host="127.0.0.80", port=0) as srv:
        yield srv


def raw_get(srv: ProvisioningServer, path: str) -> tuple[int, str]:
    """GET ``path`` exactly as written (no client-side normalisation)."""
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def test_server_serves_the_files(server: ProvisioningServer, files: dict[str, str]) -> None:
    """Does an HTTP GET return each file byte for byte, from the phone's address, and is it logged?"""
    assert provisioning.fetch(server.url + "sipconfig.txt", source="127.0.0.81") == files["sipconfig.txt"]
    assert provisioning.fetch(server.url + PHONE_FILE) == files[PHONE_FILE]
    first = server.log[0]
    assert (first.client, first.method, first.path, first.file, first.status) == \
        ("127.0.0.81", "GET", "/sipconfig.txt", "sipconfig.txt", 200)
    assert first.bytes == len(files["sipconfig.txt"].encode())
    assert str(first).endswith(f"127.0.0.81 GET /sipconfig.txt -> 200 ({first.bytes} bytes)")


def test_server_upper_case_mac(server: ProvisioningServer, files: dict[str, str]) -> None:
    """Does a request with the MAC in upper case (the vendor's manual) get the lower-case file?"""
    assert raw_get(server, "/sipconfig-00809F123456.txt") == (200, files[PHONE_FILE])


def test_server_404(server: ProvisioningServer) -> None:
    """Is a missing file a 404 that names only the path asked for?"""
    assert raw_get(server, "/missing.txt") == (404, ("404 not found: missing.txt is not in the provisioning "
                                                    "directory\n"))
    with pytest.raises(ProvisioningError) as e:
        provisioning.fetch(server.url + "missing.txt")
    assert str(e.value) == (f"GET {server.url}missing.txt was answered 404: 404 not found: missing.txt is not "
                            "in the provisioning directory")


@pytest.mark.parametrize("path", ["/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E%2Fsecret.txt",
                                  "/prov/../../secret.txt", "/a/..%2f..%2fsecret.txt", "/..\\secret.txt",
                                  "http://127.0.0.80/../secret.txt"])
def test_server_refuses_traversal(server: ProvisioningServer, path: str) -> None:
    """Are ../ and %2e%2e/ paths refused with 400 and nothing of the file leaked?"""
    status, body = raw_get(server, path)
    assert status == 400
    assert body == "400 bad request: this path is not allowed; ask for a file by its name, e.g. /sipconfig.txt\n"
    assert server.log[-1].note == "path refused (traversal or malformed)"


@pytest.mark.parametrize("path", ["/etc/passwd", "//etc/passwd", "/%2Fetc%2Fpasswd", "/link.txt", "/.hidden"])
def test_server_absolute_paths_and_symlinks_are_404(server: ProvisioningServer, path: str) -> None:
    """Are absolute paths and symlinks leading outside answered 404, without the content?"""
    status, body = raw_get(server, path)
    assert status == 404
    assert "root:" not in body and "do not serve" not in body
    assert str(server.root) not in body


def test_server_no_listing(server: ProvisioningServer) -> None:
    """Is '/' answered without a directory listing?"""
    status, body = raw_get(server, "/")
    assert status == 403
    assert "sipconfig-" not in body
    assert body == ("403 forbidden: this server lists no directory; ask for a file by its name, "
                    "e.g. /sipconfig.txt\n")


def test_server_firmware_missing(server: ProvisioningServer, caplog: pytest.LogCaptureFixture) -> None:
    """Does a request for the firmware explain why voiplab does not ship it, in the body and the log?"""
    with caplog.at_level(logging.INFO, logger="voiplab.devices.provisioning"):
        status, body = raw_get(server, "/noesip4018")
    message = (f"noesip4018 is not shipped with voiplab: the firmware is Alcatel-Lucent's and not "
               f"redistributable; copy it from your phone vendor into {server.root}")
    assert (status, body) == (404, f"404 not found: {message}\n")
    assert server.log[-1].note == message
    assert any(message in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_server_serves_firmware_when_present(server: ProvisioningServer) -> None:
    """Once the instructor copies the firmware in, is it served?"""
    (server.root / "datsip4018").write_bytes(b"\x00\x01firmware")
    assert raw_get(server, "/datsip4018")[0] == 200
    assert server.log[-1].bytes == 10


def test_boot_fetch(server: ProvisioningServer) -> None:
    """Does boot_fetch download what the phone does at boot, firmware misses included?"""
    got = provisioning.boot_fetch(server.url, MAC, source="127.0.0.81")
    assert [(b.file, b.status) for b in got] == [("sipconfig.txt", 200), (PHONE_FILE, 200),
                                                 ("noesip4018", 404), ("datsip4018", 404)]
    assert [e.client for e in server.log] == ["127.0.0.81"] * 4


def test_server_stop_and_restart(tmp_path: Path) -> None:
    """Does stop() free the port, and is a busy port reported clearly?"""
    srv = ProvisioningServer(tmp_path, host="127.0.0.80", port=0).start()
    port = srv.port
    with pytest.raises(ProvisioningError) as e:
        ProvisioningServer(tmp_path, host="127.0.0.80", port=port).start()
    assert str(e.value) == (f"provisioning server could not listen on 127.0.0.80:{port} (Address already in use): "
                            "stop the other server or choose another --port")
    srv.stop()
    srv.stop()
    assert not srv.running
    with pytest.raises(ProvisioningError, match="could not be reached"):
        provisioning.fetch(f"http://127.0.0.80:{port}/sipconfig.txt", timeout=1)


def test_server_needs_a_directory(tmp_path: Path) -> None:
    """Is a missing directory refused at once?"""
    with pytest.raises(ProvisioningError) as e:
        ProvisioningServer(tmp_path / "nope")
    assert str(e.value) == (f"provisioning directory {tmp_path / 'nope'} does not exist: render the files first "
                            "(voiplab provision alcatel --out DIR)")


def test_fetch_refuses_https() -> None:
    """Does fetch() explain why the phone uses plain HTTP?"""
    with pytest.raises(ProvisioningError) as e:
        provisioning.fetch("https://127.0.0.80/sipconfig.txt")
    assert str(e.value).startswith("URL 'https://127.0.0.80/sipconfig.txt' is not an http:// URL: the phone "
                                   "fetches its files over plain HTTP")


# --- command line -------------------------------------------------------------


def parse_cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="voiplab")
    _cli_provision.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_cli_provision_alcatel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Does 'provision alcatel' write both files and report them valid?"""
    args = parse_cli(["provision", "alcatel", "--mac", "00-80-9F-12-34-56", "--out", str(tmp_path)])
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / PHONE_FILE} (valid)" in out
    assert stat.S_ISREG((tmp_path / "sipconfig.txt").stat().st_mode)


def test_cli_provision_bad_mac(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Does a bad --mac give exit status 1 and the error message?"""
    args = parse_cli(["provision", "alcatel", "--mac", "zz", "--out", str(tmp_path)])
    assert _cli_provision.run(args) == 1
    assert capsys.readouterr().err == ("voiplab: error: MAC address 'zz' is not 12 hex digits: write it like "
                                       "00:80:9f:12:34:56 (printed on the label under the phone)\n")


def test_cli_provision_without_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    """Does 'provision' alone print the usage and return 2?"""
    assert _cli_provision.run(parse_cli(["provision"])) == 2
