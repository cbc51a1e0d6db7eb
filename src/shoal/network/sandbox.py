"""A task's network sandbox: the network namespace its containers join, and what they see of it.

The node's network (``node.py``) makes one ``Sandbox`` per task *before* any runtime touches the
task, and removes it after the runtime removed the task's containers. A sandbox is a network
namespace bound at ``<exec-root>/netns/<task id>`` (loopback up) holding the task's veths (one per
network, or one on the node's default bridge), its addresses and default route, the embedded DNS
server's sockets at 127.0.0.11 and, when its networks have VIPs, the task's ``ip shoal_vip`` table.
It also carries the data a runtime puts in the containers' ``/etc``: the hostname, ``resolv.conf``
(the embedded server, the service's search domains and options) and ``hosts``; a Pod's are the
kubelet's (``poddns.py``: the cluster DNS and its search list by the Pod's DNS policy, the managed
hosts file).

Runtimes only *join* it (``runtime/base.py``: ``Networking``): runc names the path in the OCI spec's
``namespaces``; the docker runtime holds the namespace in a small pause container of its own, which
the node wires (``NetnsHolder``), and runs the task's container in the pause container's network
namespace; the process runtime cannot join one, so tasks on networks are refused there. Every
container of a task joins the one sandbox, so several containers of a task would share its
addresses, names and loopback (as a Kubernetes pod's do).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from shoal.api.hosts import extra_hosts
from shoal.api.types import Task, first_container, service_id_of
from shoal.network.poddns import pod_hosts

DNS_ADDRESS = "127.0.0.11"


class SandboxError(Exception):
    """The task's sandbox could not be made (its networks could not be wired)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Sandbox:
    """One task's network namespace and what its containers see of it."""

    task_id: str
    netns: Path  # the namespace a container joins (a bind mount of an nsfs file)
    hostname: str
    networks: list[str] = field(default_factory=list)  # its networks' IDs (none on the default bridge)
    addresses: list[str] = field(default_factory=list)  # its addresses, with their prefix
    nameservers: list[str] = field(default_factory=lambda: [DNS_ADDRESS])
    search: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=lambda: ["ndots:0"])
    extra_hosts: list[tuple[str, list[str]]] = field(default_factory=list)  # (address, names), ``--host``
    net_sysctls: dict[str, str] = field(default_factory=dict)  # the service's ``net.*`` sysctls
    name: str = ""  # the task's container name (``<service>.<slot>.<task id>``), "" for a task of no service
    held: bool = False  # the namespace is a runtime's (a pause container), bound here
    mode: str = ""  # a container's network mode on local networks: "host" (the node's own namespace), "none", "bridge"
    # A Pod's: its resolv.conf and hosts are the kubelet's (``poddns.py``), ``fqdn`` its hosts file's
    # ``<hostname>.<subdomain>.<ns>.svc.<domain>`` when it has a subdomain.
    pod: bool = False
    fqdn: str = ""

    @classmethod
    def of(cls, task: Task, netns: Path) -> Sandbox:
        """The sandbox's data for ``task`` (its templates already expanded): the hostname and DNS are
        the task's (a Pod's), else its container's (a Swarm task's, where Docker has them)."""
        spec = first_container(task.Spec)
        dns = task.Spec.DNSConfig or (spec.DNSConfig if spec is not None else None) or {}
        return cls(
            task_id=task.ID, netns=netns,
            hostname=task.Spec.Hostname or (spec.Hostname if spec is not None else "") or task.ID[:12],
            search=list(dns.get("Search") or []),
            options=list(dns.get("Options") or ["ndots:0"]),
            extra_hosts=extra_hosts(spec) if spec is not None else [],
            net_sysctls={k: v for k, v in ((spec.Sysctls if spec is not None else None) or {}).items()
                         if k.startswith("net.")},
            name=f"{(task.ServiceAnnotations or {}).get('Name', task.Owner.ID)}.{task.Slot or task.NodeID}.{task.ID}"
            if service_id_of(task) else "",
        )

    def resolv_conf(self) -> str:
        """Every task asks the embedded server, which forwards the names that are not the swarm's to
        the service's --dns servers (as Docker's does for tasks on networks), else the node's."""
        lines = [f"nameserver {n}" for n in self.nameservers]
        if self.search:
            lines.append("search " + " ".join(self.search))
        if self.options or not self.pod:
            lines.append("options " + " ".join(self.options))
        return "\n".join(lines) + "\n"

    def hosts(self) -> str:
        if self.pod:
            return pod_hosts(self.hostname, self.fqdn, self.addresses[0] if self.addresses else "")
        lines = [
            "127.0.0.1\tlocalhost",
            "::1\tlocalhost ip6-localhost ip6-loopback",
            "fe00::0\tip6-localnet",
            "ff00::0\tip6-mcastprefix",
            "ff02::1\tip6-allnodes",
            "ff02::2\tip6-allrouters",
            f"127.0.0.1\t{self.hostname}",
        ]
        lines += [f"{ip}\t{' '.join(names)}" for ip, names in self.extra_hosts]
        return "\n".join(lines) + "\n"


class Sandboxes(Protocol):
    """What the agent's executor asks of the node's network (``node.NodeNetwork``)."""

    async def create_sandbox(self, task: Task) -> Sandbox: ...

    async def remove_sandbox(self, task_id: str) -> None: ...


class NetnsHolder(Protocol):
    """A runtime that holds a task's network namespace itself (docker: a pause container), which the
    node then wires. ``hold`` returns the path of the namespace (``/proc/<pid>/ns/net``)."""

    async def hold_netns(self, sandbox: Sandbox) -> str: ...

    async def release_netns(self, task_id: str) -> None: ...
