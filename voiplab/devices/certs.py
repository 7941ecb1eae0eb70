"""Certificates for the WebRTC chapter: an ECDSA root CA and the PBX's server certificate.

As in the report: the root CA is ECDSA on P-521, self-signed with SHA-384
(``CA:TRUE``, ``keyCertSign``); the server certificate names the PBX by IP address in
its subjectAltName (browsers ignore the CN), has the ``serverAuth`` extended key usage
and is signed by that CA (SHA-384).

**The server key is P-256 by default**, not P-521: Chromium (BoringSSL) does not offer
P-521 for TLS signatures, so a P-521 *server* key fails with
``ERR_SSL_VERSION_OR_CIPHER_MISMATCH``, while a P-521 *CA* above a P-256 server key is
fine (the CA's signature is checked by the certificate verifier, not negotiated in
TLS). P-384 and P-521 server keys can still be chosen (``server_curve``).

Import ``ca.crt`` into the browser (or the system store) as a trusted authority; give
Asterisk ``server.crt`` + ``server.key`` (or the ``server.pem`` bundle).

Taught in notebook 08 (WebRTC and TLS).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..errors import WebRtcError
from .asterisk_conf import CA_CERT_FILE, CA_KEY_FILE, SERVER_CERT_FILE, SERVER_KEY_FILE, SERVER_PEM_FILE

__all__ = [
    "CA_CURVE",
    "CURVES",
    "SERVER_CURVE",
    "CertPaths",
    "describe",
    "make_certificates",
    "verify_chain",
]

#: the curves a key may use, by their NIST names
CURVES: dict[str, type[ec.EllipticCurve]] = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}
#: the report's CA curve
CA_CURVE = "P-521"
#: the server key's default curve (Chromium refuses P-521 server keys)
SERVER_CURVE = "P-256"
SIGNATURE_HASH = hashes.SHA384
CA_DAYS = 3650
#: at most 398 days, the longest validity browsers accept for a server certificate
SERVER_DAYS = 397

_NIST_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


@dataclass(frozen=True)
class CertPaths:
    """The files :func:`make_certificates` wrote.

    Attributes:
        ca_cert: the root CA (import it into the browser as a trusted authority).
        ca_key: its private key (mode 600; keep it to issue new server certificates).
        server_cert: the PBX's certificate.
        server_key: its private key (mode 600).
        server_pem_bundle: server certificate, CA certificate and server key in one PEM
            (mode 600), for Asterisk's ``tlscertfile`` / ``cert_file``.
    """

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    server_pem_bundle: Path


def _curve(name: str) -> ec.EllipticCurve:
    try:
        return CURVES[name]()
    except KeyError:
        raise WebRtcError(f"curve {name!r} is not supported: use one of {', '.join(CURVES)}") from None


def _addresses(pbx_address: str | Sequence[str]) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    items = [pbx_address] if isinstance(pbx_address, str) else list(pbx_address)
    if not items:
        raise WebRtcError("PBX address is missing: give the IP address the browser connects to, e.g. 127.0.0.80")
    out = []
    for item in items:
        try:
            out.append(ipaddress.ip_address(item))
        except ValueError:
            raise WebRtcError(f"PBX address {item!r} is not an IP address: give the IP address the browser "
                              "connects to, and host names with dns_names") from None
    return out


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # also when the file already existed with other permissions
        os.write(fd, data)
    finally:
        os.close(fd)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _load_ca(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    if not (cert_path.exists() and key_path.exists()):
        return None
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError) as e:
        raise WebRtcError(f"existing CA {cert_path} could not be read ({e}): delete {cert_path} and "
                          f"{key_path} to make a new CA (and re-import it into the browser)") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise WebRtcError(f"existing CA key {key_path} does not match {cert_path}: delete both to make a new CA")
    return cert, key


def make_certificates(
    out_dir: str | os.PathLike[str],
    pbx_address: str | Sequence[str],
    *,
    dns_names: Iterable[str] = (),
    server_curve: str = SERVER_CURVE,
    ca_name: str = "voiplab lab root CA",
    reuse_ca: bool = True,
    now: dt.datetime | None = None,
) -> CertPaths:
    """Write a root CA and a server certificate for the PBX into ``out_dir``.

    Parameters:
        out_dir: the directory (created if needed).
        pbx_address: the PBX's IP address(es), put in the subjectAltName as IP entries.
        dns_names: host names of the PBX, added as DNS entries.
        server_curve: ``"P-256"`` (default), ``"P-384"`` or ``"P-521"`` (refused by Chromium).
        ca_name: the CA's common name.
        reuse_ca: keep an existing ``ca.crt``/``ca.key`` of ``out_dir`` so that the CA the
            browser already trusts stays valid; only the server certificate is renewed.
        now: the start of validity (default: now, UTC).

    Returns:
        The paths written (private keys with mode 600).

    Raises:
        WebRtcError: an address is not an IP, the curve is unknown, an existing CA is
            unreadable, or the directory cannot be written.

    Taught in notebook 08.
    """
    addresses = _addresses(pbx_address)
    names = list(dns_names)
    server_key_curve = _curve(server_curve)
    start = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(minutes=5)
    out = Path(out_dir)
    paths = CertPaths(out / CA_CERT_FILE, out / CA_KEY_FILE, out / SERVER_CERT_FILE, out / SERVER_KEY_FILE,
                      out / SERVER_PEM_FILE)
    try:
        out.mkdir(parents=True, exist_ok=True)
        existing = _load_ca(paths.ca_cert, paths.ca_key) if reuse_ca else None
        if existing is None:
            ca_cert, ca_key = _make_ca(ca_name, start)
            _write(paths.ca_key, _key_pem(ca_key), 0o600)
            _write(paths.ca_cert, ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
        else:
            ca_cert, ca_key = existing
        server_key = ec.generate_private_key(server_key_curve)
        server_cert = _make_server(ca_cert, ca_key, server_key, addresses, names, start)
        cert_pem = server_cert.public_bytes(serialization.Encoding.PEM)
        _write(paths.server_key, _key_pem(server_key), 0o600)
        _write(paths.server_cert, cert_pem, 0o644)
        _write(paths.server_pem_bundle,
               cert_pem + ca_cert.public_bytes(serialization.Encoding.PEM) + _key_pem(server_key), 0o600)
    except OSError as e:
        raise WebRtcError(f"certificate directory {out} could not be written ({e.strerror}): "
                          "choose a writable --out") from None
    return paths


def _make_ca(name: str, start: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(_curve(CA_CURVE))
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "voiplab"),
                         x509.NameAttribute(NameOID.COMMON_NAME, name)])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, SIGNATURE_HASH())
    )
    return cert, key


def _make_server(ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey,
                 key: ec.EllipticCurvePrivateKey, addresses: Sequence[ipaddress.IPv4Address | ipaddress.IPv6Address],
                 dns_names: Sequence[str], start: dt.datetime) -> x509.Certificate:
    san: list[x509.GeneralName] = [x509.IPAddress(a) for a in addresses]
    san += [x509.DNSName(n) for n in dns_names]
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "voiplab"),
                         x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0] if dns_names else str(addresses[0]))])
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(min(start + dt.timedelta(days=SERVER_DAYS), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, SIGNATURE_HASH())
    )


def _load(cert_path: str | os.PathLike[str]) -> x509.Certificate:
    path = Path(cert_path)
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except OSError as e:
        raise WebRtcError(f"certificate {path} could not be read ({e.strerror}): check the path") from None
    except ValueError:
        raise WebRtcError(f"certificate {path} is not a PEM certificate: give a .crt/.pem file") from None


class SubjectAltNames(TypedDict):
    """The ``subjectAltName`` of a certificate: the addresses and names it is valid for."""

    ip: list[str]
    dns: list[str]


class CertificateInfo(TypedDict):
    """What :func:`describe` reads from a certificate (a dict, shown as is in notebook 08)."""

    subject: str
    issuer: str
    self_signed: bool
    is_ca: bool
    key_type: str
    curve: str | None
    key_size: int | None
    signature_hash: str | None
    san: SubjectAltNames
    key_usage: list[str]
    extended_key_usage: list[str]
    not_before: str
    not_after: str
    serial: str
    sha256: str


#: the flags of the KeyUsage extension, in RFC 5280 order
_KEY_USAGE_NAMES = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                    "key_agreement", "key_cert_sign", "crl_sign")


def describe(cert_path: str | os.PathLike[str]) -> CertificateInfo:
    """What a certificate says, as a dict for the notebook.

    Returns:
        ``subject``, ``issuer`` (RFC 4514 strings), ``self_signed``, ``is_ca``,
        ``key_type`` ("EC"), ``curve`` ("P-521"), ``key_size``, ``signature_hash``
        ("sha384"), ``san`` (``{"ip": [...], "dns": [...]}``), ``key_usage`` and
        ``extended_key_usage`` (names), ``not_before``/``not_after`` (ISO 8601, UTC),
        ``serial`` (hex) and ``sha256`` (fingerprint).

    Raises:
        WebRtcError: the file is missing or not a PEM certificate.

    Taught in notebook 08.
    """
    cert = _load(cert_path)
    key = cert.public_key()
    is_ca = False
    san = SubjectAltNames(ip=[], dns=[])
    key_usage: list[str] = []
    extended_key_usage: list[str] = []
    for ext in cert.extensions:
        value = ext.value
        if isinstance(value, x509.BasicConstraints):
            is_ca = value.ca
        elif isinstance(value, x509.SubjectAlternativeName):
            san = SubjectAltNames(ip=[str(a) for a in value.get_values_for_type(x509.IPAddress)],
                                  dns=value.get_values_for_type(x509.DNSName))
        elif isinstance(value, x509.KeyUsage):
            key_usage = [n for n in _KEY_USAGE_NAMES if getattr(value, n)]
        elif isinstance(value, x509.ExtendedKeyUsage):
            extended_key_usage = [getattr(oid, "_name", oid.dotted_string) for oid in value]
    is_ec = isinstance(key, ec.EllipticCurvePublicKey)
    return CertificateInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        self_signed=cert.subject == cert.issuer,
        is_ca=is_ca,
        key_type="EC" if is_ec else type(key).__name__,
        curve=_NIST_NAMES.get(key.curve.name, key.curve.name) if isinstance(key, ec.EllipticCurvePublicKey) else None,
        key_size=getattr(key, "key_size", None),
        signature_hash=cert.signature_hash_algorithm.name if cert.signature_hash_algorithm else None,
        san=san,
        key_usage=key_usage,
        extended_key_usage=extended_key_usage,
        not_before=cert.not_valid_before_utc.isoformat(),
        not_after=cert.not_valid_after_utc.isoformat(),
        serial=f"{cert.serial_number:x}",
        sha256=cert.fingerprint(hashes.SHA256()).hex(":").upper(),
    )


def verify_chain(ca_cert: str | os.PathLike[str], server_cert: str | os.PathLike[str]) -> None:
    """Check that ``server_cert`` is signed by ``ca_cert`` and that both are valid now.

    Raises:
        WebRtcError: the signature does not verify, the issuer does not match, or a
            certificate has expired or is not yet valid.

    Taught in notebook 08.
    """
    ca, server = _load(ca_cert), _load(server_cert)
    try:
        server.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature) as e:
        raise WebRtcError(f"server certificate {server_cert} is not signed by CA {ca_cert} ({type(e).__name__}): "
                          "make both again with make_certificates") from None
    now = dt.datetime.now(dt.UTC)
    for path, cert in ((ca_cert, ca), (server_cert, server)):
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise WebRtcError(f"certificate {path} is not valid now (valid {cert.not_valid_before_utc:%Y-%m-%d} "
                              f"to {cert.not_valid_after_utc:%Y-%m-%d}): make new certificates")
