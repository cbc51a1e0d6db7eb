"""Service account tokens: JSON Web Tokens the managers sign with the cluster's root CA key (ES256),
and check with its certificate, as the Kubernetes API checks its service account tokens.

A token names its service account (``sub: system:serviceaccount:<namespace>:<name>``, with the
namespace, name and uid under ``kubernetes.io``), as Kubernetes' do. It is the legacy kind (no
expiry), kept in a Secret of type ``kubernetes.io/service-account-token`` beside the account
(``namespaces.py`` makes it) and mounted in the account's Pods; it stops working when the account is
deleted (the API server checks the uid, see ``KubeObjects.authenticate``).
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

ISSUER = "https://kubernetes.default.svc.cluster.local"
_HEADER = {"alg": "ES256", "typ": "JWT"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(ca_key_pem: str, namespace: str, name: str, uid: str, now: float | None = None) -> str:
    key = serialization.load_pem_private_key(ca_key_pem.encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    claims = {"iss": ISSUER, "sub": f"system:serviceaccount:{namespace}:{name}", "iat": int(now or time.time()),
              "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}}}
    head = f"{_b64(json.dumps(_HEADER).encode())}.{_b64(json.dumps(claims, separators=(',', ':')).encode())}"
    r, s = decode_dss_signature(key.sign(head.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{head}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def verify(ca_cert_pem: str, token: str) -> dict[str, Any] | None:
    """The token's claims when the cluster's CA signed it, else None."""
    try:
        head, body, sig = token.split(".")
        raw = _unb64(sig)
        if json.loads(_unb64(head)).get("alg") != "ES256" or len(raw) != 64:
            return None
        public = x509.load_pem_x509_certificate(ca_cert_pem.encode()).public_key()
        assert isinstance(public, ec.EllipticCurvePublicKey)
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        public.verify(der, f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
        claims = json.loads(_unb64(body))
    except (ValueError, InvalidSignature, AssertionError, UnicodeDecodeError):
        return None
    return claims if isinstance(claims, dict) and claims.get("iss") == ISSUER else None
