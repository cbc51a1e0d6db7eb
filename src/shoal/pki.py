"""What every node does with the cluster's trust: join tokens checked, keys and certificate requests
made, TLS contexts built, identities read from certificates, renewal timed.

Swarm's trust model (``manager/ca.py`` is the other half, what only the certificate authority does:
make the root CA, mint join tokens, map a token to a role, sign node certificates):

* Join tokens have Swarm's form ``SWMTKN-1-<digest>-<secret>``: the digest is the sha256 of the root
  CA certificate (DER) in base 36, 50 characters; the secret is 25 random base-36 characters.
* A joining node has no certificate and does not know the CA yet. It fetches the root CA
  certificate from a manager over TLS *without* verifying the server (:func:`client_ssl_context`
  with ``ca_cert_pem=None``), then checks that certificate's digest against the one in its token
  (:func:`check_ca_digest`). A man in the middle cannot forge a CA with the same digest, so from
  then on the node trusts only that root.
* The node makes a key pair and a certificate request (:func:`new_node_key`) and sends the CSR with
  the token; the manager issues a certificate whose CN is the node ID, OU the role
  (``swarm-worker``/``swarm-manager``) and O the cluster ID.
* Every later connection between nodes is mutual TLS checked against the root
  (:func:`server_ssl_context`, :func:`client_ssl_context`); the peer's identity comes from its
  verified certificate (:func:`peer_identity`), never from anything it claims in a request.
* Certificates are renewed at half-life (:func:`needs_renewal`): SwarmKit picks a random point in
  the second half of the validity, we renew as soon as less than half is left.

Why a module of its own, below the manager and the agent: these are pure functions over PEM text
(no state, no store, no CA key), and both sides need them — the agent to join, renew and open its
session, the manager to serve the swarm port and check its callers. Only ``api`` is imported.

Private keys are never written to disk: loading a chain into an ``ssl.SSLContext`` goes through an
anonymous in-memory file (``memfd``) where the platform has one, else a private temp file that is
removed right after loading.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import os
import re
import shutil
import ssl
import tempfile
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shoal.api.errors import InvalidArgument
from shoal.api.ids import base36

WORKER_OU = "swarm-worker"
MANAGER_OU = "swarm-manager"

ROLE_OU = {"worker": WORKER_OU, "manager": MANAGER_OU}
_OU_ROLE = {ou: role for role, ou in ROLE_OU.items()}

TOKEN_PREFIX = "SWMTKN"
TOKEN_VERSION = "1"
DIGEST_LENGTH = 50
SECRET_LENGTH = 25
_BASE36 = re.compile(r"[0-9a-z]+")

INVALID_JOIN_TOKEN = "invalid join token"


class JoinTokenError(InvalidArgument):
    """A join token that is malformed, unknown, or names another CA."""


# --- join tokens ---------------------------------------------------------------------------------


def ca_digest(cert_pem: str) -> str:
    """The sha256 of the certificate (DER) in base 36, 50 characters: the token's CA fingerprint."""
    der = x509.load_pem_x509_certificate(cert_pem.encode()).public_bytes(serialization.Encoding.DER)
    return base36(int.from_bytes(hashlib.sha256(der).digest(), "big"), DIGEST_LENGTH)


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
    return key_pem_of(key), csr.public_bytes(serialization.Encoding.PEM).decode()


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


# --- the web console's login tokens ----------------------------------------------------------------
#
# ``shoalui-1.<expiry>.<nonce>.<mac>``: the expiry in Unix seconds, 16 random hex characters, and the
# HMAC-SHA256 of the first three parts (hex) under a secret derived from the cluster's root CA key. Every
# manager holds that key, so every manager accepts the token; a new root CA (``docker swarm ca --rotate``)
# makes a new secret and every earlier token invalid. Nothing is stored: the token carries its expiry.

UI_TOKEN_PREFIX = "shoalui-1"


def ui_token_secret(ca_key_pem: str) -> bytes:
    """The console tokens' key: HMAC-SHA256 of a fixed label under the root CA key (never the key itself)."""
    return hmac.new(ca_key_pem.encode(), b"shoal web console login token", hashlib.sha256).digest()


def make_ui_token(secret: bytes, ttl: float, now: float) -> str:
    """A console login token valid until ``now + ttl`` (Unix seconds)."""
    body = f"{UI_TOKEN_PREFIX}.{int(now + ttl)}.{os.urandom(8).hex()}"
    return f"{body}.{hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()}"


def check_ui_token(secret: bytes, token: str, now: float) -> bool:
    """Whether ``token`` was made with ``secret`` and has not expired (the MAC compared in constant time)."""
    body, _, mac = token.rpartition(".")
    parts = body.split(".")
    if len(parts) != 3 or parts[0] != UI_TOKEN_PREFIX or not parts[1].isdigit():
        return False
    want = hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want.encode(), mac.encode("utf-8", "replace")):
        return False
    return int(parts[1]) > now


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


def cert_pem_of(cert: x509.Certificate) -> str:
    """A certificate as PEM text."""
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def key_pem_of(key: ec.EllipticCurvePrivateKey) -> str:
    """A private key as PEM text (PKCS#8, unencrypted: it is kept in memory or in the store)."""
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
