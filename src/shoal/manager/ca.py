"""The cluster's certificate authority: the root CA, join tokens, node certificates signed.

What only a manager does, with the root CA's key (kept in the store's ``Cluster`` object):

* ``swarm init`` makes a root CA (ECDSA P-256, 20 years, as SwarmKit's). Its private key stays with
  the managers; its certificate is the one thing every node trusts.
* There is one join token for workers and one for managers (:func:`join_token`); the token's secret
  says which role the holder gets (:func:`role_for_token`, constant-time).
* A node's certificate request is signed (:func:`issue_node_cert`) into a certificate whose CN is
  the node ID, OU the role (``swarm-worker``/``swarm-manager``) and O the cluster ID.

What every node does with the trust (tokens checked, keys made, TLS contexts, identities read,
renewal timed) is ``shoal/pki.py``: the agent needs it too, and never imports the manager.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import ipaddress
import secrets

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shoal.api.errors import InvalidArgument
from shoal.api.ids import base36
from shoal.pki import (
    ROLE_OU,
    SECRET_LENGTH,
    TOKEN_PREFIX,
    TOKEN_VERSION,
    JoinTokenError,
    ca_digest,
    cert_pem_of,
    key_pem_of,
)

JOIN_TOKEN_REQUIRED = "A valid join token is necessary to join this cluster"
INVALID_CSR = "invalid certificate request"


# --- root CA and tokens ---------------------------------------------------------------------------


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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert_pem_of(cert), key_pem_of(key)


def issuer_info(cert_pem: str) -> tuple[str, str]:
    """The CA's subject and public key as the Engine API's ``TLSInfo`` shows them: base64 of the DER
    subject name and of the DER SubjectPublicKeyInfo (Go's ``RawSubject``, ``RawSubjectPublicKeyInfo``)."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(cert.subject.public_bytes()).decode(), base64.b64encode(spki).decode()


def join_token(cert_pem: str) -> str:
    """A fresh join token for the root CA ``cert_pem``."""
    secret = base36(secrets.randbits(128), SECRET_LENGTH)[-SECRET_LENGTH:]
    return f"{TOKEN_PREFIX}-{TOKEN_VERSION}-{ca_digest(cert_pem)}-{secret}"


def role_for_token(token: str, worker_token: str, manager_token: str) -> str:
    """The role a join token grants: ``"worker"`` or ``"manager"``, compared in constant time."""
    given = (token or "").encode()
    # Compare against both, always, so timing does not tell which one (if any) matched.
    is_worker = bool(worker_token) and hmac.compare_digest(given, worker_token.encode())
    is_manager = bool(manager_token) and hmac.compare_digest(given, manager_token.encode())
    if is_manager:
        return "manager"
    if is_worker:
        return "worker"
    raise JoinTokenError(JOIN_TOKEN_REQUIRED)


# --- node certificates ----------------------------------------------------------------------------


def issue_node_cert(
    ca_cert_pem: str,
    ca_key_pem: str,
    csr_pem: str,
    node_id: str,
    role: str,
    cluster_id: str,
    days: float = 90,
    ips: tuple[str, ...] = (),
) -> str:
    """A node certificate (PEM) for the CSR's key, signed by the root CA.

    CN is the node ID, OU the role (``swarm-worker``/``swarm-manager``), O the cluster ID; it serves
    both as a TLS server and a TLS client certificate. The CSR's own subject is ignored (the manager
    decides the identity), but its signature must be valid: the requester must hold the key.
    ``ips`` are more addresses for the SAN (a manager's advertise address: its etcd peers check it).
    """
    if role not in ROLE_OU:
        raise InvalidArgument(f"invalid role: {role!r}")
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        valid = csr.is_signature_valid
        public_key = csr.public_key()
    except (ValueError, TypeError, InvalidSignature, x509.UnsupportedGeneralNameType) as e:
        raise InvalidArgument(INVALID_CSR) from e
    if not valid:
        raise InvalidArgument(INVALID_CSR)

    subject = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, cluster_id),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ROLE_OU[role]),
        x509.NameAttribute(NameOID.COMMON_NAME, node_id),
    ])
    san = x509.SubjectAlternativeName([
        x509.DNSName(node_id),
        x509.DNSName(ROLE_OU[role]),
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in dict.fromkeys(ips) if ip != "127.0.0.1"),
    ])
    return sign_cert(ca_cert_pem, ca_key_pem, subject, public_key,  # type: ignore[arg-type]
                     [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH], san, days)


def sign_cert(ca_cert_pem: str, ca_key_pem: str, subject: x509.Name, public_key: ec.EllipticCurvePublicKey,
              usages: list[x509.ObjectIdentifier], san: x509.SubjectAlternativeName | None, days: float) -> str:
    """A certificate (PEM) for ``public_key`` signed by the root CA: ``subject``, these extended key
    usages and alternative names, valid for ``days`` (within the CA's own validity)."""
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem.encode())
    ca_key = serialization.load_pem_private_key(ca_key_pem.encode(), password=None)
    now = dt.datetime.now(dt.UTC)
    not_before = max(now - dt.timedelta(minutes=5), ca_cert.not_valid_before_utc)
    not_after = min(now + dt.timedelta(days=days), ca_cert.not_valid_after_utc)
    if not_after <= not_before:
        not_after = not_before + dt.timedelta(seconds=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_encipherment=True, key_cert_sign=False, crl_sign=False,
                          content_commitment=False, data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    if san is not None:
        builder = builder.add_extension(san, critical=False)
    return cert_pem_of(builder.sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
