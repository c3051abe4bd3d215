"""Certificates for faucetconfrpc's mutual TLS, made by the tests (python ``cryptography``).

``make_pki(directory, server_names)`` writes a CA, a server certificate valid for
``server_names`` (host names and IP addresses) and a client certificate, all signed by that CA,
named as the faucetconfrpc server and dovesnap's --faucetconfrpc-keydir expect them. A second
call with another directory gives a different CA: its client certificate is one the first
server must refuse.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CLIENT = "faucetconfrpc"  # dovesnap's --faucetconfrpc-client default, as the Go original's


@dataclass(frozen=True)
class Pki:
    directory: Path
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def keydir_ca(self, addr: str) -> Path:
        """Where dovesnap looks for the server's CA first: ``<addr>-ca.crt`` in the key dir."""
        return self.directory / f"{addr}-ca.crt"


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: str,
          issuer_key: ec.EllipticCurvePrivateKey, ca: bool,
          sans: Sequence[x509.GeneralName] = (), usage: x509.ObjectIdentifier | None = None
          ) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def make_pki(directory: Path, server_names: Sequence[str] = ("localhost", "127.0.0.1")) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _cert("dovesnap test CA", ca_key, "dovesnap test CA", ca_key, ca=True)
    pki = Pki(directory, directory / "ca.crt", directory / "server.crt", directory / "server.key",
              directory / f"{CLIENT}.crt", directory / f"{CLIENT}.key")
    pki.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    for (cert_path, key_path), subject, usage, sans in (
        ((pki.server_cert, pki.server_key), server_names[0], ExtendedKeyUsageOID.SERVER_AUTH,
         [_san(name) for name in server_names]),
        ((pki.client_cert, pki.client_key), "dovesnap", ExtendedKeyUsageOID.CLIENT_AUTH, []),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(subject, key, "dovesnap test CA", ca_key, ca=False, sans=sans, usage=usage)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, key_path)
    return pki
