"""What the web console shows, as the core computes it (issue 17): the cluster's counts first, then
pages of nodes, tasks and Pods, workloads (Swarm services and Kubernetes Deployments) and payloads
(secrets and configs, never their values), each filtered and paged on the server, and a task's
detail with its history and, while it is pending, why, node by node.

The console's door (``frontdoor/ui``) only turns these into JSON and HTML; the manager keeps them
(``manager/console.py``) from the store's changes, so that a page over 5,000 nodes and 100,000
tasks costs the size of the page, not of the cluster. Both worlds are shown in one model: a Pod is a
task with a namespace (``Kind`` "pod"), a Deployment a workload beside the services.

Times are RFC 3339 strings (as both APIs show them); sizes are bytes, CPUs are nano-CPUs.
"""

from __future__ import annotations

import msgspec


class ConsoleSummary(msgspec.Struct, kw_only=True):
    """The counts a page shows before any detail."""

    Revision: int = 0  # the store's revision these counts are of
    Nodes: int = 0
    NodesByState: dict[str, int] = msgspec.field(default_factory=dict)  # ready, down, unknown, disconnected
    NodesByAvailability: dict[str, int] = msgspec.field(default_factory=dict)  # active, pause, drain
    Managers: int = 0
    Tasks: int = 0  # current tasks and Pods (not the history kept of earlier ones)
    TasksByState: dict[str, int] = msgspec.field(default_factory=dict)  # Swarm's task states, lower case
    Pods: int = 0  # of Tasks, those that are Pods
    Pending: int = 0  # tasks and Pods not yet placed on a node
    OldestPendingSeconds: float = 0.0
    Services: int = 0
    Deployments: int = 0
    Rollouts: int = 0  # services updating or rolling back, Deployments progressing
    Secrets: int = 0
    Configs: int = 0


class NodeCard(msgspec.Struct, kw_only=True):
    """A node as a column head: who it is, its state, what it holds."""

    ID: str
    Hostname: str
    Role: str  # manager | worker
    State: str  # ready | down | unknown | disconnected
    Availability: str  # active | pause | drain (Kubernetes' cordon is pause)
    Addr: str = ""
    Leader: bool = False
    Reachability: str = ""  # a manager's: reachable | unreachable
    Labels: dict[str, str] = msgspec.field(default_factory=dict)
    Taints: list[str] = msgspec.field(default_factory=list)  # "key=value:Effect"
    NanoCPUs: int = 0  # capacity
    MemoryBytes: int = 0
    ReservedNanoCPUs: int = 0  # reservations (Swarm) and requests (Kubernetes) of the tasks placed here
    ReservedMemoryBytes: int = 0
    Tasks: int = 0  # current tasks and Pods placed here
    TasksByState: dict[str, int] = msgspec.field(default_factory=dict)
    Message: str = ""  # the node's status message (why it is down)


class TaskCard(msgspec.Struct, kw_only=True):
    """A task or a Pod as a card under its node (or among the pending)."""

    ID: str
    Kind: str  # task | pod
    Name: str  # Swarm's <service>.<slot> (or .<node> of a global service); a Pod's name
    Namespace: str = ""  # a Pod's
    Owner: str = ""  # the service's or the Deployment's (else the ReplicaSet's, StatefulSet's…) name
    OwnerID: str = ""
    OwnerKind: str = ""  # service | deployment | replicaset | statefulset | daemonset | job | ""
    NodeID: str = ""  # "" while pending
    Slot: int = 0
    Image: str = ""
    State: str = ""  # Swarm's task state, lower case (a Pod's too: pending, running, failed…)
    DesiredState: str = ""
    Phase: str = ""  # a Pod's: Pending, Running, Succeeded, Failed
    Message: str = ""  # the status message
    Err: str = ""  # the error, or (pending) why it is not placed, in its door's words
    UpdatedAt: str = ""  # when it reached its state


class TaskEvent(msgspec.Struct, kw_only=True):
    """One earlier step of a task's slot: a state it went through, or an earlier task of the slot."""

    TaskID: str
    State: str
    At: str = ""
    Message: str = ""
    Err: str = ""
    NodeID: str = ""


class NodeRejection(msgspec.Struct, kw_only=True):
    """Why one node turned a pending task down, in plain words (the scheduler's filter's reason)."""

    NodeID: str
    Hostname: str
    Reason: str


class TaskDetail(msgspec.Struct, kw_only=True):
    """A card's detail: its history (the slot's earlier tasks and the states they passed, newest
    first) and, while it is pending, the reason and each node's rejection (the dry-run machinery)."""

    Task: TaskCard
    History: list[TaskEvent] = msgspec.field(default_factory=list)
    PendingReason: str = ""
    Rejections: list[NodeRejection] = msgspec.field(default_factory=list)
    # How many nodes turn it down: ``Rejections`` lists at most the first 200 of them, by hostname.
    RejectedNodes: int = 0


class WorkloadRow(msgspec.Struct, kw_only=True):
    """A Swarm service or a Kubernetes Deployment: replicas wanted and running, and its rollout."""

    ID: str
    Kind: str  # service | deployment
    Name: str
    Namespace: str = ""
    Mode: str = ""  # replicated | global | replicated-job | global-job (a Deployment: replicated)
    Image: str = ""
    Replicas: int = 0  # wanted (a global service: the nodes that should run it)
    Running: int = 0
    Ready: int = 0
    Version: int = 0  # the object's version, for actions
    # The update in progress or last done: Swarm's UpdateStatus.State (updating, paused, completed,
    # rollback_started, rollback_paused, rollback_completed) or a Deployment's (progressing, complete,
    # paused, failed: its conditions), "" when none.
    Rollout: str = ""
    RolloutMessage: str = ""
    Step: str = ""  # "3/6 updated"
    Ports: list[str] = msgspec.field(default_factory=list)  # "8080:80/tcp" (published), "80/TCP" (a Service's)
    Addresses: list[str] = msgspec.field(default_factory=list)  # VIPs; the selecting Services' cluster IPs
    UpdatedAt: str = ""


class PayloadRow(msgspec.Struct, kw_only=True):
    """A secret or a config (Swarm's, or a Kubernetes Secret or ConfigMap), never its value."""

    ID: str
    Kind: str  # secret | config
    Name: str
    Namespace: str = ""  # a Kubernetes Secret's or ConfigMap's
    Type: str = ""  # a Kubernetes Secret's type
    Keys: list[str] = msgspec.field(default_factory=list)  # a Kubernetes object's data keys (not values)
    Labels: dict[str, str] = msgspec.field(default_factory=dict)
    CreatedAt: str = ""
    UpdatedAt: str = ""


class NodePage(msgspec.Struct, kw_only=True):
    Total: int  # matching the filter, before paging
    Offset: int = 0
    Items: list[NodeCard] = msgspec.field(default_factory=list)


class TaskPage(msgspec.Struct, kw_only=True):
    Total: int
    Offset: int = 0
    Items: list[TaskCard] = msgspec.field(default_factory=list)


class WorkloadPage(msgspec.Struct, kw_only=True):
    Total: int
    Offset: int = 0
    Items: list[WorkloadRow] = msgspec.field(default_factory=list)


class ConsoleChange(msgspec.Struct, kw_only=True):
    """What changed since the last notice (notices are coalesced, a few per second at most): the kinds
    touched (nodes, tasks, workloads, payloads) and the nodes whose tasks changed ("" in ``Nodes``:
    the pending ones). A page fetches again only what it shows and what changed."""

    Revision: int
    Kinds: list[str] = msgspec.field(default_factory=list)
    Nodes: list[str] = msgspec.field(default_factory=list)
