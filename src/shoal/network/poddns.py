"""A Pod's ``/etc/resolv.conf`` and ``/etc/hosts``, made by the kubelet's rules (issue 16, part 4;
docs/design/kube-network.md, "Cluster DNS"). The node's network (``node.py``) puts them in the Pod's
sandbox; the runtime writes them into its containers.

``pod_dns`` — the DNS policy (``spec.dnsPolicy``; ``TaskSpec.Pod.DNSPolicy``):

* ``ClusterFirst`` (the default): the cluster DNS address, the search list ``<ns>.svc.<domain>
  svc.<domain> <domain>`` followed by the node's own search domains, ``options ndots:5``; a Pod on
  the host's network falls back to ``Default``;
* ``ClusterFirstWithHostNet``: as ``ClusterFirst``, on the host's network too;
* ``Default``: the node's: its DNS servers as the daemon knows them (``shoal daemon --dns``, else
  ``$SHOAL_DNS``, else the host's resolv.conf: ``dns.node_upstreams``), the host's search domains and
  options;
* ``None``: nothing but what ``dnsConfig`` gives.

``dnsConfig`` (``TaskSpec.DNSConfig``: ``Nameservers``, ``Search``, ``Options`` as ``name[:value]``) is
added to what the policy gives: nameservers and search domains appended (duplicates dropped), options
merged by name (the Pod's value wins). Then the kubelet's limits: 3 nameservers, 32 search domains
and 2,048 characters of search line (the ones beyond are dropped).

``pod_hosts`` — the kubelet's managed hosts file: localhost and the IPv6 names, then the Pod's
address with its hostname (and first its FQDN, ``<hostname>.<subdomain>.<ns>.svc.<domain>``, when it
has a ``subdomain``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shoal.api.kubenet import KubeNetSettings
from shoal.api.types import TaskSpec

MAX_NAMESERVERS = 3  # the kubelet's (glibc's MAXNS)
MAX_SEARCHES = 32  # the kubelet's, since Kubernetes 1.28
MAX_SEARCH_CHARS = 2048
NDOTS = "ndots:5"


@dataclass
class HostResolv:
    """The node's resolver settings, as a ``Default`` Pod gets them."""

    nameservers: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)


def read_host_resolv(nameservers: list[str], path: str = "/etc/resolv.conf") -> HostResolv:
    """``nameservers`` (the node's servers as the daemon knows them) with the search domains and
    options of the host's resolv.conf (the last ``search``/``domain`` line, as the resolver reads it)."""
    searches: list[str] = []
    options: list[str] = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.split("#", 1)[0].split()
                if not parts:
                    continue
                if parts[0] in ("search", "domain"):
                    searches = [s.rstrip(".") for s in parts[1:] if s != "."]
                elif parts[0] == "options":
                    options += parts[1:]
    except OSError:
        pass
    return HostResolv(list(nameservers), searches, options)


@dataclass
class PodDNS:
    nameservers: list[str]
    searches: list[str]
    options: list[str]


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


def merge_options(have: list[str], more: list[str]) -> list[str]:
    """Options by name, ``more``'s winning; ``name:value`` or a bare ``name``."""
    by_name: dict[str, str] = {}
    for opt in [*have, *more]:
        name, _, value = opt.partition(":")
        if name:
            by_name[name] = value
    return [f"{k}:{v}" if v else k for k, v in by_name.items()]


def fit_searches(searches: list[str]) -> list[str]:
    """At most 32 domains and 2,048 characters of them (with their spaces): the last ones dropped."""
    out = searches[:MAX_SEARCHES]
    while out and len(" ".join(out)) > MAX_SEARCH_CHARS:
        out.pop()
    return out


def uses_cluster_dns(spec: TaskSpec) -> bool:
    """Whether a Pod's resolv.conf names the cluster DNS (its policy asks for it, for its network)."""
    pod = spec.Pod
    if pod is None:
        return False
    policy = pod.DNSPolicy or "ClusterFirst"
    return policy == "ClusterFirstWithHostNet" or (policy == "ClusterFirst" and not pod.HostNetwork)


def pod_dns(spec: TaskSpec, namespace: str, settings: KubeNetSettings, host: HostResolv) -> PodDNS:
    """The Pod's resolver settings, by its DNS policy and ``dnsConfig`` (the kubelet's rules)."""
    policy = (spec.Pod.DNSPolicy if spec.Pod is not None else "") or "ClusterFirst"
    if policy == "None":
        out = PodDNS([], [], [])
    elif uses_cluster_dns(spec):
        domain = settings.ClusterDomain.rstrip(".")
        out = PodDNS([settings.ClusterDNS], _unique([f"{namespace}.svc.{domain}", f"svc.{domain}", domain,
                                                     *host.searches]), [NDOTS])
    else:
        out = PodDNS(list(host.nameservers), list(host.searches), list(host.options))
    cfg = spec.DNSConfig or {}
    out.nameservers = _unique([*out.nameservers, *(cfg.get("Nameservers") or [])])[:MAX_NAMESERVERS]
    out.searches = fit_searches(_unique([*out.searches, *(cfg.get("Search") or [])]))
    out.options = merge_options(out.options, list(cfg.get("Options") or []))
    return out


def pod_fqdn(spec: TaskSpec, hostname: str, namespace: str, settings: KubeNetSettings) -> str:
    """``<hostname>.<subdomain>.<ns>.svc.<domain>`` for a Pod with a ``subdomain``, else ""."""
    sub = spec.Pod.Subdomain if spec.Pod is not None else ""
    return f"{hostname}.{sub}.{namespace}.svc.{settings.ClusterDomain.rstrip('.')}" if sub else ""


def pod_hosts(hostname: str, fqdn: str, address: str) -> str:
    """The kubelet's managed ``/etc/hosts`` of a Pod at ``address`` (with a prefix or not; "" for none)."""
    lines = [
        "# Kubernetes-managed hosts file.",
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "fe00::0\tip6-localnet",
        "fe00::0\tip6-mcastprefix",
        "fe00::1\tip6-allnodes",
        "fe00::2\tip6-allrouters",
    ]
    ip = address.partition("/")[0]
    if ip:
        lines.append(f"{ip}\t{fqdn}\t{hostname}" if fqdn else f"{ip}\t{hostname}")
    return "\n".join(lines) + "\n"
