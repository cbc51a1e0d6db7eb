"""Request and result types of the control API that are not stored objects: a network's create
request (its fields are the Engine API's, which the core takes as they are) and a placement plan
(the dry run's answer). Both doors and the core share them.
"""

from __future__ import annotations

import msgspec


class IPAMRequestConfig(msgspec.Struct):
    Subnet: str = ""
    IPRange: str = ""
    Gateway: str = ""
    AuxiliaryAddresses: dict[str, str] | None = None


class IPAMRequest(msgspec.Struct):
    Driver: str = "default"
    Config: list[IPAMRequestConfig] | None = None
    Options: dict[str, str] | None = None


class NetworkCreateRequest(msgspec.Struct):
    """The body of ``POST /networks/create``, as the docker CLI sends it."""

    Name: str = ""
    CheckDuplicate: bool = False
    Driver: str = ""
    Scope: str = ""
    EnableIPv4: bool | None = None
    EnableIPv6: bool | None = None
    IPAM: IPAMRequest | None = None
    Internal: bool = False
    Attachable: bool = False
    Ingress: bool = False
    ConfigOnly: bool = False
    ConfigFrom: dict[str, str] | None = None
    Options: dict[str, str] | None = None
    Labels: dict[str, str] | None = None


class NodePlan(msgspec.Struct, kw_only=True):
    ID: str
    Hostname: str
    Tasks: int = 0
    Rejected: str = ""  # the filter that turns the node down, e.g. "insufficient resources"


class Plan(msgspec.Struct, kw_only=True):
    Tasks: int = 0  # tasks to place (global: one per node that takes it)
    Placed: int = 0
    Nodes: list[NodePlan] = msgspec.field(default_factory=list)  # every node, by hostname
    Err: str = ""  # what the tasks that fit nowhere would show: "no suitable node (…)"


# ---------------------------------------------------------------- the Pods' dry run (Kubernetes')


class NodeVerdict(msgspec.Struct, kw_only=True):
    """What one node says to one Pod: its Kubernetes name, and kube-scheduler's reasons for turning
    the Pod down (none: the node would take it)."""

    Node: str
    Reasons: list[str] | None = None


class PodPlacement(msgspec.Struct, kw_only=True):
    """Where one Pod of a manifest would go. ``Object`` is the index of the object that makes it in
    the request, ``Replica`` its place among that object's Pods (1-based)."""

    Namespace: str
    Object: int = 0
    Replica: int = 1
    Replicas: int = 1
    Node: str = ""  # the node chosen; "" when none takes it
    Nodes: list[NodeVerdict] = msgspec.field(default_factory=list)  # every node, by name
    Err: str = ""  # what the Pod would say Pending: "0/3 nodes are available: …"


class PodPlan(msgspec.Struct, kw_only=True):
    """The dry run of a manifest's Pods, in the order they would be placed, each seeing the earlier
    ones (objects that make no Pods have none)."""

    Pods: list[PodPlacement] = msgspec.field(default_factory=list)
