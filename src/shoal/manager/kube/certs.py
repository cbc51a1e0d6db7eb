"""Certificates of the Kubernetes API, signed by the cluster's root CA (a manager's: it holds the key).

* The API server's serving certificate: the manager's addresses, ``127.0.0.1`` and the names
  ``kubernetes``, ``kubernetes.default``, ``kubernetes.default.svc`` (and ``.cluster.local``),
  ``localhost``. Made in memory when the API server starts; its key never touches the disk.
* Client certificates, as Kubernetes reads them: the user is the CN, the groups the O entries;
  ``system:masters`` is the admin group (``shoal kubeconfig``'s ``kubernetes-admin``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shoal.manager.ca import sign_cert
from shoal.pki import key_pem_of

ADMIN_USER = "kubernetes-admin"
ADMIN_GROUP = "system:masters"
API_SERVER_NAMES = ("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                    "kubernetes.default.svc.cluster.local", "localhost")


def _sign(ca_cert_pem: str, ca_key_pem: str, subject: x509.Name, usage: x509.ObjectIdentifier,
          san: x509.SubjectAlternativeName | None, days: float) -> tuple[str, str]:
    """A new key and its certificate from the root CA (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return sign_cert(ca_cert_pem, ca_key_pem, subject, key.public_key(), [usage], san, days), key_pem_of(key)


def issue_api_server_cert(ca_cert_pem: str, ca_key_pem: str, ips: Iterable[str]) -> tuple[str, str]:
    """The API server's certificate and key (PEM) for these addresses (127.0.0.1 always); a host name
    among them is named as one, and the unspecified addresses (0.0.0.0, ::) are left out."""
    addrs: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, None] = {ipaddress.ip_address("127.0.0.1"): None}
    names = dict.fromkeys(API_SERVER_NAMES)
    for h in ips:
        try:
            ip = ipaddress.ip_address(h)
        except ValueError:
            if h:
                names[h] = None
            continue
        if not ip.is_unspecified:
            addrs[ip] = None
    san = x509.SubjectAlternativeName([
        *(x509.DNSName(n) for n in names),
        *(x509.IPAddress(ip) for ip in addrs),
    ])
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")])
    return _sign(ca_cert_pem, ca_key_pem, subject, ExtendedKeyUsageOID.SERVER_AUTH, san, days=365)


def issue_client_cert(ca_cert_pem: str, ca_key_pem: str, user: str, groups: Iterable[str] = (),
                      days: float = 365) -> tuple[str, str]:
    """A client certificate for ``user`` in ``groups`` (CN and O, as the Kubernetes API reads them)."""
    subject = x509.Name([
        *(x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups),
        x509.NameAttribute(NameOID.COMMON_NAME, user),
    ])
    return _sign(ca_cert_pem, ca_key_pem, subject, ExtendedKeyUsageOID.CLIENT_AUTH, None, days=days)
