"""Image references as Docker parses them: ``[domain[:port]/]path[:tag][@digest]``.

``parse`` follows Docker's ``ParseNormalizedNamed`` (distribution/reference): a first component with
no ``.`` or ``:`` that is not ``localhost`` is part of the path on Docker Hub (``docker.io``), and a
one-component Hub path gets ``library/``. ``Reference.familiar()`` is the short form Docker prints
(``busybox:latest``, ``127.0.0.1:5000/app:1.2@sha256:…``). Errors carry Docker's wording.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace

from shoal.api.errors import InvalidArgument

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
HUB_HOST = "registry-1.docker.io"  # where docker.io's Registry API v2 answers
HUB_LOGIN = "https://index.docker.io/v1/"  # the server address docker login stores for Docker Hub
OFFICIAL_PREFIX = "library/"

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9A-Fa-f:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"^(?P<domain>{_DOMAIN})/(?P<path>{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)
_IDENTIFIER = re.compile(r"^[a-f0-9]{64}$")

INVALID = "invalid reference format"


@dataclass(frozen=True)
class Reference:
    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        """The fully qualified repository: ``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The repository as Docker prints it: ``busybox``, ``127.0.0.1:5000/app``."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        rest = self.path.removeprefix(OFFICIAL_PREFIX)
        return rest if self.path.startswith(OFFICIAL_PREFIX) and "/" not in rest else self.path

    def familiar(self) -> str:
        out = self.familiar_name
        if self.tag:
            out += ":" + self.tag
        if self.digest:
            out += "@" + self.digest
        return out

    def tagged(self) -> Reference:
        """Docker's ``TagNameOnly``: ``latest`` when neither a tag nor a digest is given."""
        return self if self.tag or self.digest else replace(self, tag="latest")

    @property
    def host(self) -> str:
        """Where the registry's API answers (``host[:port]``)."""
        return HUB_HOST if self.domain == DEFAULT_DOMAIN else self.domain

    @property
    def ref(self) -> str:
        """What to ask the registry's manifests endpoint for: the digest, else the tag."""
        return self.digest or self.tag or "latest"


def parse(s: str) -> Reference:
    """Docker's ``ParseNormalizedNamed``; raises ``InvalidArgument`` in Docker's words."""
    s = s.strip()
    if _IDENTIFIER.match(s):
        raise InvalidArgument(f"invalid repository name ({s}), cannot specify 64-byte hexadecimal strings")
    if not s:
        raise InvalidArgument("repository name must have at least one component")
    domain, remainder = split_domain(s)
    remote = remainder.split("@", 1)[0].split(":", 1)[0]
    if remote.lower() != remote:
        raise InvalidArgument(f"invalid reference format: repository name ({remote}) must be lowercase")
    m = _REFERENCE.match(f"{domain}/{remainder}")
    if m is None:
        raise InvalidArgument(INVALID)
    if len(m["domain"]) + 1 + len(m["path"]) > 255:
        raise InvalidArgument("repository name must not be more than 255 characters")
    return Reference(m["domain"], m["path"], m["tag"] or "", m["digest"] or "")


def split_domain(name: str) -> tuple[str, str]:
    """Docker's ``splitDockerDomain``."""
    i = name.find("/")
    first = name[:i] if i >= 0 else ""
    if i < 0 or (not any(c in first for c in ".:") and first != "localhost" and first.lower() == first):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, name[i + 1:]
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_PREFIX + remainder
    return domain, remainder


def is_loopback(host: str) -> bool:
    """``localhost``, ``127.0.0.0/8`` or ``::1`` (with or without a port): Docker's implicitly insecure
    registries, which may answer over plain HTTP."""
    h = host
    if h.startswith("["):
        h = h[1:h.index("]")] if "]" in h else h[1:]
    elif h.count(":") == 1:
        h = h.split(":", 1)[0]
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False
