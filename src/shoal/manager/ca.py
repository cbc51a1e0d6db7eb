"""The cluster's root CA and join tokens.

``swarm init`` makes a root CA (ECDSA P-256, 20 years, as SwarmKit's). Join tokens have Swarm's
form ``SWMTKN-1-<sha256 digest of the root CA certificate in base 36, 50 characters>-<25 random
base-36 characters>``, one for workers and one for managers. Node certificates signed by this CA
and mutual TLS between nodes build on it (the cluster issue).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shoal.api.ids import base36


def new_root_ca() -> tuple[str, str]:
    """A new root CA: (certificate PEM, private key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "swarm-ca")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365 * 20))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return cert_pem, key_pem


def ca_digest(cert_pem: str) -> str:
    der = x509.load_pem_x509_certificate(cert_pem.encode()).public_bytes(serialization.Encoding.DER)
    return base36(int.from_bytes(hashlib.sha256(der).digest(), "big"), 50)


def join_token(cert_pem: str) -> str:
    return f"SWMTKN-1-{ca_digest(cert_pem)}-{base36(secrets.randbits(128), 25)[-25:]}"
