"""A swarm node as Kubernetes sees it: its name, its well-known labels, whether it is schedulable,
and the taints Kubernetes' node controllers would have put on it. Pure functions over the core's
``Node``, shared by the scheduler (a Pod's ``nodeSelector`` is matched against ``kube_labels``) and
the Kubernetes door (``kubectl get nodes --show-labels``, ``spec.unschedulable``, ``spec.taints``),
so both say the same of one node.

- **Name**: the hostname in lower case, as the kubelet registers it (the node's ID when it has none).
- **Labels**: the node's own (``Spec.Labels``, what ``docker node update --label-add`` and ``kubectl
  label node`` write), then the kubelet's well-known ones, which win: ``kubernetes.io/hostname``,
  ``kubernetes.io/os``, ``kubernetes.io/arch`` (Go's names: ``amd64`` for ``x86_64``), their
  ``beta.kubernetes.io/`` twins, and ``node-role.kubernetes.io/control-plane`` (empty) on managers.
- **Unschedulable**: one flag on both sides. Swarm's availability ``pause`` (new tasks and Pods keep
  off, running ones stay: a cordon) and ``drain`` are ``spec.unschedulable: true``; setting it from
  Kubernetes pauses an active node (a drained one stays drained), clearing it makes the node active.
- **Derived taints**: what Kubernetes' node lifecycle controller adds, never stored on the node:
  ``node.kubernetes.io/unschedulable:NoSchedule`` while unschedulable, and
  ``node.kubernetes.io/unreachable`` (``NoSchedule`` and ``NoExecute``) while the node is not ready
  (its heartbeats stopped: Kubernetes' ``Ready=Unknown``).
"""

from __future__ import annotations

from shoal.api.types import Node, Taint

HOSTNAME = "kubernetes.io/hostname"
OS = "kubernetes.io/os"
ARCH = "kubernetes.io/arch"
BETA_OS = "beta.kubernetes.io/os"
BETA_ARCH = "beta.kubernetes.io/arch"
CONTROL_PLANE = "node-role.kubernetes.io/control-plane"

UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"

ACTIVE, PAUSE, DRAIN = "active", "pause", "drain"

# Go's architecture names, which Kubernetes' labels use.
_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i386": "386", "i686": "386"}


def node_name(node: Node) -> str:
    """The node's Kubernetes name: its hostname in lower case (its ID when it has no hostname)."""
    return (node.Description.Hostname or node.ID).lower()


def go_arch(arch: str) -> str:
    """An architecture in Go's (and Kubernetes') words: ``x86_64`` → ``amd64``."""
    return _GOARCH.get(arch, arch)


def kube_labels(node: Node) -> dict[str, str]:
    """The node's labels as Kubernetes shows them (see the module's docstring)."""
    plat = node.Description.Platform
    labels = dict(node.Spec.Labels or {})
    os_ = plat.OS or "linux"
    arch = go_arch(plat.Architecture)
    labels[BETA_OS] = os_
    labels[OS] = os_
    if arch:
        labels[BETA_ARCH] = arch
        labels[ARCH] = arch
    labels[HOSTNAME] = node_name(node)
    if node.Spec.Role == "manager":
        labels[CONTROL_PLANE] = ""
    return labels


def matches_selector(selector: dict[str, str] | None, labels: dict[str, str]) -> bool:
    """Whether ``labels`` hold every key of a Pod's ``nodeSelector`` with the same value."""
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def unschedulable(node: Node) -> bool:
    """Kubernetes' ``spec.unschedulable``: the node takes no new tasks (Swarm's pause or drain)."""
    return node.Spec.Availability != ACTIVE


def availability(node: Node, unschedulable: bool) -> str:
    """The Swarm availability for a ``spec.unschedulable`` written through Kubernetes: a cordon
    pauses an active node and leaves a paused or drained one as it is; an uncordon makes it active."""
    if not unschedulable:
        return ACTIVE
    return node.Spec.Availability if node.Spec.Availability in (PAUSE, DRAIN) else PAUSE


def ready(node: Node) -> bool:
    return node.Status.State == "ready"


def derived_taints(node: Node) -> list[Taint]:
    """The taints Kubernetes' controllers would have added to this node (see the module's docstring),
    to show after the node's own."""
    out: list[Taint] = []
    if unschedulable(node):
        out.append(Taint(Key=UNSCHEDULABLE_TAINT, Effect="NoSchedule"))
    if not ready(node):
        out.append(Taint(Key=UNREACHABLE_TAINT, Effect="NoSchedule"))
        out.append(Taint(Key=UNREACHABLE_TAINT, Effect="NoExecute"))
    return out
