"""The cluster's root CA, join tokens and node certificates: Swarm's trust model.

* ``swarm init`` makes a root CA (ECDSA P-256, 20 years, as SwarmKit's). Its private key stays with
  the managers; its certificate is the one thing every node trusts.
* Join tokens have Swarm's form ``SWMTKN-1-<digest>-<secret>``: the digest is the sha256 of the root
  CA certificate (DER) in base 36, 50 characters; the secret is 25 random base-36 characters. There
  is one token for workers and one for managers; the secret says which role the holder gets.
* A joining node has no certificate and does not know the CA yet. It fetches the root CA
  certificate from a manager over TLS *without* verifying the server (:func:`client_ssl_context`
  with ``ca_cert_pem=None``), then checks that certificate's digest against the one in its token
  (:func:`check_ca_digest`). A man in the middle cannot forge a CA with the same digest, so from
  then on the node trusts only that root.
* The node makes a key pair and a certificate request (:func:`new_node_key`) and sends the CSR with
  the token, now over TLS verified against the root. The manager maps the token's secret to a role
  (:func:`role_for_token`, constant-time) and issues a certificate (:func:`issue_node_cert`) whose
  CN is the node ID, OU the role (``swarm-worker``/``swarm-manager``) and O the cluster ID.
* Every later connection between nodes is mutual TLS checked against the root
  (:func:`server_ssl_context`, :func:`client_ssl_context`); the peer's identity comes from its
  verified certificate (:func:`peer_identity`), never from anything it claims in a request.
* Certificates are renewed at half-life (:func:`needs_renewal`): SwarmKit picks a random point in
  the second half of the validity, we renew as soon as less than half is left.

Private keys are never written to disk: loading a chain into an ``ssl.SSLContext`` goes through an
anonymous in-memory file (``memfd``) where the platform has one, else a private temp file that is
removed right after loading.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import ipaddress
import os
import re
import secrets
import shutil
import ssl
import tempfile
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shoal.api.errors import InvalidArgument
from shoal.api.ids import base36

WORKER_OU = "swarm-worker"
MANAGER_OU = "swarm-manager"

_ROLE_OU = {"worker": WORKER_OU, "manager": MANAGER_OU}
_OU_ROLE = {ou: role for role, ou in _ROLE_OU.items()}

TOKEN_PREFIX = "SWMTKN"
TOKEN_VERSION = "1"
DIGEST_LENGTH = 50
SECRET_LENGTH = 25
_BASE36 = re.compile(r"[0-9a-z]+")

INVALID_JOIN_TOKEN = "invalid join token"
JOIN_TOKEN_REQUIRED = "A valid join token is necessary to join this cluster"
INVALID_CSR = "invalid certificate request"


class JoinTokenError(InvalidArgument):
    """A join token that is malformed, unknown, or names another CA."""


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
    return _cert_pem(cert), _key_pem(key)


def ca_digest(cert_pem: str) -> str:
    """The sha256 of the certificate (DER) in base 36, 50 characters: the token's CA fingerprint."""
    der = x509.load_pem_x509_certificate(cert_pem.encode()).public_bytes(serialization.Encoding.DER)
    return base36(int.from_bytes(hashlib.sha256(der).digest(), "big"), DIGEST_LENGTH)


def join_token(cert_pem: str) -> str:
    """A fresh join token for the root CA ``cert_pem``."""
    secret = base36(secrets.randbits(128), SECRET_LENGTH)[-SECRET_LENGTH:]
    return f"{TOKEN_PREFIX}-{TOKEN_VERSION}-{ca_digest(cert_pem)}-{secret}"


def parse_join_token(token: str) -> tuple[str, str]:
    """``(ca_digest, secret)`` of a well-formed token; else ``JoinTokenError("invalid join token")``."""
    parts = token.split("-") if isinstance(token, str) else []
    if len(parts) != 4 or parts[0] != TOKEN_PREFIX or parts[1] != TOKEN_VERSION:
        raise JoinTokenError(INVALID_JOIN_TOKEN)
    digest, secret = parts[2], parts[3]
    if (
        len(digest) != DIGEST_LENGTH
        or len(secret) != SECRET_LENGTH
        or not _BASE36.fullmatch(digest)
        or not _BASE36.fullmatch(secret)
    ):
        raise JoinTokenError(INVALID_JOIN_TOKEN)
    return digest, secret


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


def check_ca_digest(token: str, ca_cert_pem: str) -> None:
    """Raise unless ``ca_cert_pem`` is the root CA the token names (by digest)."""
    expected, _ = parse_join_token(token)
    try:
        actual = ca_digest(ca_cert_pem)
    except (ValueError, TypeError):
        actual = ""
    if not hmac.compare_digest(actual.encode(), expected.encode()):
        raise JoinTokenError(f"remote CA does not match fingerprint. Expected: {expected}")


# --- node certificates ----------------------------------------------------------------------------


def new_node_key() -> tuple[str, str]:
    """A node's new key pair and certificate request: (private key PEM, CSR PEM). ECDSA P-256."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(key, hashes.SHA256())
    return _key_pem(key), csr.public_bytes(serialization.Encoding.PEM).decode()


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
    if role not in _ROLE_OU:
        raise InvalidArgument(f"invalid role: {role!r}")
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        valid = csr.is_signature_valid
        public_key = csr.public_key()
    except (ValueError, TypeError, InvalidSignature, x509.UnsupportedGeneralNameType) as e:
        raise InvalidArgument(INVALID_CSR) from e
    if not valid:
        raise InvalidArgument(INVALID_CSR)

    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem.encode())
    ca_key = serialization.load_pem_private_key(ca_key_pem.encode(), password=None)
    now = dt.datetime.now(dt.UTC)
    not_before = max(now - dt.timedelta(minutes=5), ca_cert.not_valid_before_utc)
    not_after = min(now + dt.timedelta(days=days), ca_cert.not_valid_after_utc)
    if not_after <= not_before:
        not_after = not_before + dt.timedelta(seconds=1)
    subject = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, cluster_id),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, _ROLE_OU[role]),
        x509.NameAttribute(NameOID.COMMON_NAME, node_id),
    ])
    san = x509.SubjectAlternativeName([
        x509.DNSName(node_id),
        x509.DNSName(_ROLE_OU[role]),
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in dict.fromkeys(ips) if ip != "127.0.0.1"),
    ])
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
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(san, critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    return _cert_pem(builder.sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]


def node_identity(cert_pem: str) -> tuple[str, str, str]:
    """``(node_id, role, cluster_id)`` of a node certificate, from its CN, OU and O."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
    except ValueError as e:
        raise InvalidArgument("invalid certificate") from e
    return _identity(cert)


def cert_expires_in(cert_pem: str) -> float:
    """Seconds until the certificate's notAfter; negative once it has expired."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    return (cert.not_valid_after_utc - dt.datetime.now(dt.UTC)).total_seconds()


def needs_renewal(cert_pem: str) -> bool:
    """True once less than half the certificate's validity is left (or it has expired)."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    lifetime = (cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds()
    left = (cert.not_valid_after_utc - dt.datetime.now(dt.UTC)).total_seconds()
    return left < lifetime / 2


# --- TLS ------------------------------------------------------------------------------------------


def server_ssl_context(ca_cert_pem: str, cert_pem: str, key_pem: str, *, require_client_cert: bool) -> ssl.SSLContext:
    """A TLS 1.2+ server context presenting ``cert_pem`` and verifying clients against the root.

    ``require_client_cert=False`` (the join endpoint) still verifies a certificate when the client
    sends one, but lets clients without one through: the handler then decides with
    :func:`peer_identity`.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_chain(ctx, cert_pem, key_pem)
    ctx.load_verify_locations(cadata=ca_cert_pem)
    ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    return ctx


def client_ssl_context(
    ca_cert_pem: str | None, cert_pem: str | None = None, key_pem: str | None = None
) -> ssl.SSLContext:
    """A TLS 1.2+ client context, presenting ``cert_pem`` if given.

    The server must chain to ``ca_cert_pem``; host names are not checked (managers are addressed by
    IP, and every node certificate of the cluster is equally valid as a server). ``ca_cert_pem=None``
    verifies nothing at all: only for fetching the root CA before joining, after which the caller
    must check it with :func:`check_ca_digest`.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False
    if ca_cert_pem is None:
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=ca_cert_pem)
    if cert_pem is not None or key_pem is not None:
        if cert_pem is None or key_pem is None:
            raise InvalidArgument("a client certificate needs both the certificate and its key")
        _load_chain(ctx, cert_pem, key_pem)
    return ctx


def peer_identity(ssl_object: Any) -> tuple[str, str, str] | None:
    """The node identity of a connection's verified peer certificate; None if the peer sent none.

    ``ssl_object`` is an ``ssl.SSLObject``/``ssl.SSLSocket`` (asyncio:
    ``transport.get_extra_info("ssl_object")``); None is accepted and gives None.
    """
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    return _identity(x509.load_der_x509_certificate(der))


# --- helpers --------------------------------------------------------------------------------------


def _identity(cert: x509.Certificate) -> tuple[str, str, str]:
    def one(oid: x509.ObjectIdentifier) -> str:
        attrs = cert.subject.get_attributes_for_oid(oid)
        if len(attrs) != 1:
            raise InvalidArgument("certificate is not a node certificate")
        value = attrs[0].value
        return value.decode() if isinstance(value, bytes) else value

    role = _OU_ROLE.get(one(NameOID.ORGANIZATIONAL_UNIT_NAME))
    if role is None:
        raise InvalidArgument("certificate is not a node certificate")
    return one(NameOID.COMMON_NAME), role, one(NameOID.ORGANIZATION_NAME)


def _cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _load_chain(ctx: ssl.SSLContext, cert_pem: str, key_pem: str) -> None:
    """``ctx.load_cert_chain`` from PEM strings without leaving the key on disk.

    Linux: an anonymous memory file (never on disk, closed right after). Elsewhere: a 0600 file in
    a 0700 temp directory, removed as soon as OpenSSL has read it.
    """
    data = (cert_pem.rstrip("\n") + "\n" + key_pem.rstrip("\n") + "\n").encode()
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is not None and os.path.isdir("/proc/self/fd"):
        fd = -1
        with contextlib.suppress(OSError):
            fd = memfd_create("shoal-tls", getattr(os, "MFD_CLOEXEC", 0))
        if fd >= 0:
            try:
                os.write(fd, data)
                ctx.load_cert_chain(f"/proc/self/fd/{fd}")
                return
            finally:
                os.close(fd)
    tmpdir = tempfile.mkdtemp(prefix="shoal-tls-")
    try:
        path = os.path.join(tmpdir, "chain.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        ctx.load_cert_chain(path)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
