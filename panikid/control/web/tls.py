"""HTTPS for the web surface (``[web] tls``): the certificate it serves, made once or read from files.

Browsers let a page use the microphone only in a secure context (https, or http on localhost), so a phone
opening ``http://pi.local:8787`` gets no ``getUserMedia``. ``"self-signed"`` makes an EC P-256 key and a
certificate for this machine's names once, keeps them in ``web.cert_dir`` (the service's state directory by
default) and reuses them; a new pair is made only when there is none, it cannot be read, it expires or a
wanted name is not in it (the log says which; the new one keeps the old one's names). ``"files"`` serves
``web.cert_file`` and ``web.key_file``. Errors (:class:`TlsError`) name the key.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import logging
import os
import re
import socket
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ...config import WebConfig

log = logging.getLogger(__name__)

CERT_NAME, KEY_NAME = "web-cert.pem", "web-key.pem"
VALIDITY = dt.timedelta(days=825)
"""Apple's limit for every TLS server certificate (iOS 13 and macOS 10.15 on), a trusted one too: Safari
refuses a longer one. A new certificate is made on the first start within RENEW_BEFORE of the end."""
RENEW_BEFORE = dt.timedelta(days=30)
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")


class TlsError(Exception):
    """The TLS settings cannot be served; the message names the key."""


@dataclass(frozen=True)
class Certificate:
    cert_file: Path
    key_file: Path
    fingerprint: str  # SHA-256, colon hex, as a browser's certificate viewer shows it
    names: tuple[str, ...]  # its subjectAltName: DNS names, then addresses
    not_after: dt.datetime
    made: bool = False  # by this call, not loaded

    @classmethod
    def of(cls, cert: x509.Certificate, cert_file: Path, key_file: Path, made: bool = False) -> Certificate:
        return cls(cert_file, key_file, fingerprint(cert), _sorted(names_of(cert)), cert.not_valid_after_utc, made)


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """systemd's ``$STATE_DIRECTORY`` (the first, if it lists several), else ``~/.local/state/panikid``."""
    first = (os.environ if environ is None else environ).get("STATE_DIRECTORY", "").split(":")[0]
    return Path(first) if first else Path("~/.local/state/panikid").expanduser()


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _name(text: str) -> str | None:
    """A DNS name or an address as a certificate holds it (no port); None if neither, or 0.0.0.0 / ::."""
    name = text.strip().lower().rstrip(".")
    name = name.split(":", 1)[0] if name.count(":") == 1 else name.strip("[]")
    if _is_ip(name):
        address = ipaddress.ip_address(name)
        return None if address.is_unspecified else str(address)
    return name if 0 < len(name) < 254 and all(_LABEL.match(p) for p in name.split(".")) else None


def local_ipv4() -> list[str]:
    """This machine's non-loopback IPv4 addresses (Linux: one ioctl per interface); [] if that fails."""
    found = set()
    try:
        import fcntl

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _, ifname in socket.if_nameindex():
                with contextlib.suppress(OSError):  # SIOCGIFADDR; OSError: the interface has no IPv4 address
                    packed = fcntl.ioctl(s.fileno(), 0x8915, ifname.encode()[:15].ljust(256, b"\0"))
                    found.add(socket.inet_ntoa(packed[20:24]))
    except (ImportError, OSError):
        return []
    return sorted(a for a in found if not ipaddress.ip_address(a).is_loopback)


def wanted_names(wcfg: WebConfig, hostname: str, addresses: Iterable[str] | None = None) -> set[str]:
    """localhost, the host name and ``<host>.local``, web.host, web.allowed_hosts, loopback, the addresses."""
    host = hostname.lower()
    found = ["localhost", "127.0.0.1", "::1", host, host.split(".")[0] + ".local", wcfg.host, *wcfg.allowed_hosts,
             *(local_ipv4() if addresses is None else addresses)]
    return {n for n in map(_name, found) if n}


def _sorted(names: Iterable[str]) -> tuple[str, ...]:
    unique = sorted(set(names))
    return (*(n for n in unique if not _is_ip(n)), *(n for n in unique if _is_ip(n)))


def names_of(cert: x509.Certificate) -> set[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {n.lower() for n in san.get_values_for_type(x509.DNSName)} | {
        str(a) for a in san.get_values_for_type(x509.IPAddress)}


def _load(cert_file: Path, key_file: Path, cert_key: str, key_key: str) -> x509.Certificate:
    """The (first) certificate in ``cert_file``, checked against the key in ``key_file``."""
    try:
        cert = x509.load_pem_x509_certificates(cert_file.read_bytes())[0]
    except OSError as exc:
        raise TlsError(f"{cert_key}: cannot read {cert_file} ({exc.strerror})") from None
    except ValueError:
        raise TlsError(f"{cert_key}: {cert_file} holds no PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    except OSError as exc:
        raise TlsError(f"{key_key}: cannot read {key_file} ({exc.strerror})") from None
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise TlsError(f"{key_key}: {key_file} is not an unencrypted PEM private key ({exc})") from None
    der = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*der) != cert.public_key().public_bytes(*der):
        raise TlsError(f"{key_key}: {key_file} is not the key of the certificate in {cert_file} ({cert_key})")
    return cert


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "wb") as f:
        os.fchmod(f.fileno(), mode)  # whatever the umask, or a leftover file, had
        f.write(data)
    os.replace(tmp, path)


def make_pair(cert_file: Path, key_file: Path, names: Iterable[str], host: str, now: dt.datetime) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"panikid {host}"[:64])])
    san = [x509.IPAddress(ipaddress.ip_address(n)) if _is_ip(n) else x509.DNSName(n) for n in _sorted(names)]
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + VALIDITY)
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    _write(key_file, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()), 0o600)
    _write(cert_file, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert


def self_signed(wcfg: WebConfig, state: Path, hostname: str | None = None, addresses: Iterable[str] | None = None,
                now: dt.datetime | None = None) -> Certificate:
    """The kept pair; made (again) when there is none, it cannot be used, it expires or a name is missing."""
    now = now or dt.datetime.now(dt.UTC)
    host = hostname if hostname is not None else socket.gethostname()
    folder = Path(wcfg.cert_dir).expanduser() if wcfg.cert_dir else state
    cert_file, key_file = folder / CERT_NAME, folder / KEY_NAME
    wanted, keep = wanted_names(wcfg, host, addresses), set()
    if not cert_file.exists() and not key_file.exists():
        why = "there is none yet"
    else:
        try:
            cert = _load(cert_file, key_file, "certificate", "key")
        except TlsError as exc:
            why = f"the one there cannot be used ({exc})"
        else:
            if cert.not_valid_after_utc - RENEW_BEFORE < now:
                why = f"the one there expires on {cert.not_valid_after_utc:%Y-%m-%d}"
            elif not wanted <= names_of(cert):
                keep = names_of(cert)
                why = f"the one there does not cover {', '.join(_sorted(wanted - keep))}"
            else:
                return Certificate.of(cert, cert_file, key_file)
    level = logging.INFO if why == "there is none yet" else logging.WARNING  # a new one must be accepted again
    log.log(level, "web: making a self-signed certificate in %s: %s", folder, why)
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        cert = make_pair(cert_file, key_file, wanted | keep, host, now)
    except OSError as exc:
        raise TlsError(f"web.cert_dir: cannot write the certificate in {folder} ({exc.strerror}); "
                       "set web.cert_dir to a directory panikid may write") from None
    return Certificate.of(cert, cert_file, key_file, made=True)


def certificate(wcfg: WebConfig, state: Path) -> Certificate | None:
    """What ``web.tls`` serves, made or loaded and checked; None when it is off."""
    if wcfg.tls == "off":
        return None
    if wcfg.tls == "self-signed":
        return self_signed(wcfg, state)
    for key, value in (("web.cert_file", wcfg.cert_file), ("web.key_file", wcfg.key_file)):
        if not value:
            raise TlsError(f"{key}: web.tls is 'files' but {key} is empty")
    cert_file, key_file = Path(wcfg.cert_file).expanduser(), Path(wcfg.key_file).expanduser()
    cert = _load(cert_file, key_file, "web.cert_file", "web.key_file")
    if cert.not_valid_after_utc < dt.datetime.now(dt.UTC):
        log.warning("web: the certificate in web.cert_file (%s) has expired", cert_file)
    return Certificate.of(cert, cert_file, key_file)


def context(cert: Certificate) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert.cert_file, cert.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise TlsError(f"web.cert_file: {cert.cert_file} with {cert.key_file} cannot be served ({exc})") from None
    return ctx


def server_context(wcfg: WebConfig, state_dir: Path) -> ssl.SSLContext | None:
    """The server's SSL context for ``web.tls``, None when it is off; :class:`TlsError` names the key."""
    cert = certificate(wcfg, state_dir)
    return context(cert) if cert is not None else None
