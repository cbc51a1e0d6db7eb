"""Server-side printing: ``meta.k8s.io/v1`` Tables for ``kubectl get``, with kube-apiserver's columns.

Every human ``kubectl get`` asks for ``application/json;as=Table;v=v1;g=meta.k8s.io`` and prints the
cells it gets (``-o wide`` adds the ``priority: 1`` columns). The server always fills every column
(as kube-apiserver prints with ``Wide``); kubectl drops the ones it does not show. Cells are computed
here as kube-apiserver's printers compute them (``pkg/printers/internalversion``): a pod's STATUS from
its phase, reason and container states (``CrashLoopBackOff``, ``Init:0/1``, ``Terminating``), READY
``1/2``, RESTARTS ``3 (2m ago)``; a node's STATUS ``Ready,SchedulingDisabled`` and ROLES from its
``node-role.kubernetes.io/<role>`` labels; AGE as ``duration.HumanDuration``.

Objects come in as their JSON dicts (what the handlers encode); each row carries the object as
``PartialObjectMetadata`` (``includeObject=Metadata``, the default), whole (``Object``) or not at all
(``None``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from shoal.frontdoor.kube.discovery import media_ranges
from shoal.frontdoor.kube.resources import Resource

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
TABLE_V1BETA1 = "application/json;as=Table;v=v1beta1;g=meta.k8s.io"

Obj = dict[str, Any]
Column = dict[str, Any]
Printer = Callable[[Obj, dt.datetime], tuple[list[Any], list[Obj] | None]]


def table_version(accept: str) -> str | None:
    """``v1``/``v1beta1`` when the client prefers a Table (over plain JSON), else None."""
    for media, params in media_ranges(accept or ""):
        if media == "application/json" and params.get("as") == "Table":
            if params.get("g") == "meta.k8s.io" and params.get("v") in ("v1", "v1beta1"):
                return params["v"]
            continue
        if media in ("application/json", "application/*", "*/*", "application/yaml",
                     "application/vnd.kubernetes.protobuf"):
            return None
    return None


def wants_table(accept: str) -> bool:
    """Whether the Accept header asks for a Table first."""
    return table_version(accept) is not None


def content_type(accept: str) -> str:
    """The Table media type to answer ``accept`` with (v1 unless only v1beta1 is asked for)."""
    return TABLE_V1BETA1 if table_version(accept) == "v1beta1" else TABLE


# ---------------------------------------------------------------------------------------------------
# Time

def parse_time(value: str | None) -> dt.datetime | None:
    """An RFC 3339 timestamp (``2024-05-01T10:00:00Z``, fractions allowed), None if empty or unreadable."""
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def human_duration(seconds_total: float) -> str:
    """``duration.HumanDuration``: ``45s``, ``3m20s``, ``15m``, ``5h10m``, ``3d4h``, ``2y30d``."""
    seconds = int(seconds_total)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if rest == 0 else f"{hours // 24 // 365}y{rest}d"
    return f"{hours // 24 // 365}y"


def since(value: str | None, now: dt.datetime) -> str:
    """``translateTimestampSince``: the age of a timestamp, ``<unknown>`` when there is none."""
    when = parse_time(value)
    if when is None:
        return "<unknown>"
    return human_duration((now - when).total_seconds())


def _age(obj: Obj, now: dt.datetime) -> str:
    return since(_get(obj, "metadata", "creationTimestamp"), now)


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


# ---------------------------------------------------------------------------------------------------
# Columns (kube-apiserver's names, types and descriptions)

NAME_DOC = ("Name must be unique within a namespace. Is required when creating resources, although some resources "
            "may allow a client to request the generation of an appropriate name automatically. Name is primarily "
            "intended for creation idempotence and configuration definition. Cannot be updated. More info: "
            "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")
AGE_DOC = ("CreationTimestamp is a timestamp representing the server time when this object was created. It is not "
           "guaranteed to be set in happens-before order across separate operations. Clients may not set this "
           "value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for "
           "lists. More info: "
           "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata")


def _column(name: str, description: str, priority: int = 0, type_: str = "string", format_: str = "") -> Column:
    return {"name": name, "type": type_, "format": format_, "description": description, "priority": priority}


NAME = _column("Name", NAME_DOC, format_="name")
AGE = _column("Age", AGE_DOC)

POD_COLUMNS = [
    NAME,
    _column("Ready", "The aggregate readiness state of this pod for accepting traffic."),
    _column("Status", "The aggregate status of the containers in this pod."),
    _column("Restarts", "The number of times the containers in this pod have been restarted and when the last "
                        "container in this pod has restarted."),
    AGE,
    _column("IP", "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet "
                  "allocated.", 1),
    _column("Node", "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for "
                    "scheduling by the scheduler defined in schedulerName.", 1),
    _column("Nominated Node", "nominatedNodeName is set only when this pod preempts other pods on the node, but it "
                              "cannot be scheduled right away as preemption victims receive their graceful "
                              "termination periods.", 1),
    _column("Readiness Gates", "If specified, all readiness gates will be evaluated for pod readiness.", 1),
]
NODE_COLUMNS = [
    NAME,
    _column("Status", "The status of the node"),
    _column("Roles", "The roles of the node"),
    AGE,
    _column("Version", "Kubelet Version reported by the node."),
    _column("Internal-IP", "List of addresses reachable to the node.", 1),
    _column("External-IP", "List of addresses reachable to the node.", 1),
    _column("OS-Image", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).", 1),
    _column("Kernel-Version", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", 1),
    _column("Container-Runtime", "ContainerRuntime Version reported by the node through runtime remote API (e.g. "
                                 "containerd://1.4.2).", 1),
]
SECRET_COLUMNS = [
    NAME,
    _column("Type", "Used to facilitate programmatic handling of secret data."),
    _column("Data", "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or "
                    "'.'."),
    AGE,
]
CONFIGMAP_COLUMNS = [
    NAME,
    _column("Data", "Data contains the configuration data."),
    AGE,
]
NAMESPACE_COLUMNS = [
    NAME,
    _column("Status", "The status of the namespace"),
    AGE,
]
EVENT_COLUMNS = [
    _column("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
    _column("Type", "Type of this event (Normal, Warning), new types could be added in the future"),
    _column("Reason", "This should be a short, machine understandable string that gives the reason for the "
                      "transition into the object's current status."),
    _column("Object", "The object that this event is about."),
    _column("Subobject", "If referring to a piece of an object instead of an entire object, this string should "
                         "contain a valid JSON/Go field access statement, such as "
                         "desiredState.manifest.containers[2].", 1),
    _column("Source", "The component reporting this event. Should be a short machine understandable string.", 1),
    _column("Message", "A human-readable description of the status of this operation."),
    _column("First Seen", "The time at which the event was first recorded. (Time of server receipt is in "
                          "TypeMeta.)", 1),
    _column("Count", "The number of times this event has occurred.", 1),
    {**NAME, "priority": 1},
]
SERVICEACCOUNT_COLUMNS = [
    NAME,
    _column("Secrets", "Secrets is a list of the secrets in the same namespace that pods running using this "
                       "ServiceAccount are allowed to use."),
    AGE,
]

_CONTAINERS_DOC = "Names of each container in the template."
_IMAGES_DOC = "Images referenced by each container in the template."
_SELECTOR_DOC = "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones " \
    "affected by this deployment."
DEPLOYMENT_COLUMNS = [
    NAME,
    _column("Ready", "Number of the pod with ready state"),
    _column("Up-to-date", "Total number of non-terminated pods targeted by this deployment that have the desired "
                          "template spec.", type_="integer"),
    _column("Available", "Total number of available pods (ready for at least minReadySeconds) targeted by this "
                         "deployment.", type_="integer"),
    AGE,
    _column("Containers", _CONTAINERS_DOC, 1),
    _column("Images", _IMAGES_DOC, 1),
    _column("Selector", _SELECTOR_DOC, 1),
]
REPLICASET_COLUMNS = [
    NAME,
    _column("Desired", "Replicas is the number of desired replicas.", type_="integer"),
    _column("Current", "Replicas is the most recently observed number of replicas.", type_="integer"),
    _column("Ready", "The number of ready replicas for this replica set.", type_="integer"),
    AGE,
    _column("Containers", _CONTAINERS_DOC, 1),
    _column("Images", _IMAGES_DOC, 1),
    _column("Selector", "Selector is a label query over pods that should match the replica count.", 1),
]


# ---------------------------------------------------------------------------------------------------
# Printers: cells (every column) and the row's conditions

_POD_SUCCEEDED = [{"type": "Completed", "status": "True", "reason": "Succeeded",
                   "message": "The pod has completed successfully."}]
_POD_FAILED = [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]
NODE_UNREACHABLE_POD_REASON = "NodeLost"


def _later(current: dt.datetime | None, value: str | None) -> dt.datetime | None:
    when = parse_time(value)
    if when is None:
        return current
    return when if current is None or when > current else current


def _condition_true(pod: Obj, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True"
               for c in _get(pod, "status", "conditions") or [])


def pod_cells(pod: Obj, now: dt.datetime) -> tuple[list[Any], list[Obj] | None]:
    """A pod's NAME READY STATUS RESTARTS AGE IP NODE NOMINATED-NODE READINESS-GATES, as kube-apiserver
    prints them (``printPod``)."""
    spec = pod.get("spec") or {}
    pod_status = pod.get("status") or {}
    containers = spec.get("containers") or []
    init_specs = {c.get("name"): c for c in spec.get("initContainers") or []}
    restarts = 0
    sidecar_restarts = 0
    total = len(containers)
    ready = 0
    last_restart: dt.datetime | None = None
    last_sidecar_restart: dt.datetime | None = None

    phase = pod_status.get("phase") or ""
    reason = pod_status.get("reason") or phase
    for condition in pod_status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"
    conditions = _POD_SUCCEEDED if phase == "Succeeded" else _POD_FAILED if phase == "Failed" else None

    def sidecar(name: str | None) -> bool:
        return (init_specs.get(name) or {}).get("restartPolicy") == "Always"

    total += sum(1 for c in init_specs.values() if c.get("restartPolicy") == "Always")

    initializing = False
    init_statuses = pod_status.get("initContainerStatuses") or []
    for index, container in enumerate(init_statuses):
        restarts += container.get("restartCount") or 0
        finished = _get(container, "lastState", "terminated", "finishedAt")
        last_restart = _later(last_restart, finished)
        if sidecar(container.get("name")):
            sidecar_restarts += container.get("restartCount") or 0
            last_sidecar_restart = _later(last_sidecar_restart, finished)
        terminated = _get(container, "state", "terminated")
        waiting = _get(container, "state", "waiting")
        if terminated is not None and (terminated.get("exitCode") or 0) == 0:
            continue
        if sidecar(container.get("name")) and container.get("started"):
            if container.get("ready"):
                ready += 1
            continue
        if terminated is not None:
            if terminated.get("reason"):
                reason = "Init:" + terminated["reason"]
            elif terminated.get("signal"):
                reason = f"Init:Signal:{terminated['signal']}"
            else:
                reason = f"Init:ExitCode:{terminated.get('exitCode') or 0}"
        elif waiting is not None and waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{index}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _condition_true(pod, "Initialized"):
        restarts = sidecar_restarts
        last_restart = last_sidecar_restart
        has_running = False
        for container in reversed(pod_status.get("containerStatuses") or []):
            restarts += container.get("restartCount") or 0
            last_restart = _later(last_restart, _get(container, "lastState", "terminated", "finishedAt"))
            waiting = _get(container, "state", "waiting")
            terminated = _get(container, "state", "terminated")
            if waiting is not None and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated is not None and terminated.get("reason"):
                reason = terminated["reason"]
            elif terminated is not None:
                if terminated.get("signal"):
                    reason = f"Signal:{terminated['signal']}"
                else:
                    reason = f"ExitCode:{terminated.get('exitCode') or 0}"
            elif container.get("ready") and _get(container, "state", "running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(pod, "Ready") else "NotReady"

    deleting = _get(pod, "metadata", "deletionTimestamp")
    if deleting and pod_status.get("reason") == NODE_UNREACHABLE_POD_REASON:
        reason = "Unknown"
    elif deleting and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"

    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({human_duration((now - last_restart).total_seconds())} ago)"

    pod_ips = pod_status.get("podIPs") or []
    pod_ip = (pod_ips[0].get("ip") if pod_ips else pod_status.get("podIP")) or "<none>"
    gates = spec.get("readinessGates") or []
    gates_text = "<none>"
    if gates:
        by_type = {c.get("type"): c.get("status") for c in reversed(pod_status.get("conditions") or [])}
        true = sum(1 for gate in gates if by_type.get(gate.get("conditionType")) == "True")
        gates_text = f"{true}/{len(gates)}"
    cells = [_get(pod, "metadata", "name"), f"{ready}/{total}", reason, restarts_text, _age(pod, now),
             pod_ip, spec.get("nodeName") or "<none>", pod_status.get("nominatedNodeName") or "<none>", gates_text]
    return cells, conditions


def node_roles(node: Obj) -> list[str]:
    """The roles of ``node-role.kubernetes.io/<role>`` labels (and ``kubernetes.io/role``), sorted."""
    roles: set[str] = set()
    for key, value in (_get(node, "metadata", "labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/"):
            role = key.removeprefix("node-role.kubernetes.io/")
            if role:
                roles.add(role)
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return sorted(roles)


def _node_address(node: Obj, kind: str) -> str:
    for address in _get(node, "status", "addresses") or []:
        if address.get("type") == kind:
            return str(address.get("address") or "")
    return "<none>"


def node_cells(node: Obj, now: dt.datetime) -> tuple[list[Any], list[Obj] | None]:
    """A node's NAME STATUS ROLES AGE VERSION INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION CONTAINER-RUNTIME."""
    states: list[str] = []
    for condition in _get(node, "status", "conditions") or []:
        if condition.get("type") == "Ready":
            states = ["Ready" if condition.get("status") == "True" else "NotReady"]
    if not states:
        states = ["Unknown"]
    if _get(node, "spec", "unschedulable"):
        states.append("SchedulingDisabled")
    info = _get(node, "status", "nodeInfo") or {}
    cells = [_get(node, "metadata", "name"), ",".join(states), ",".join(node_roles(node)) or "<none>",
             _age(node, now), info.get("kubeletVersion") or "",
             _node_address(node, "InternalIP"), _node_address(node, "ExternalIP"),
             info.get("osImage") or "<unknown>", info.get("kernelVersion") or "<unknown>",
             info.get("containerRuntimeVersion") or "<unknown>"]
    return cells, None


def secret_cells(secret: Obj, now: dt.datetime) -> tuple[list[Any], list[Obj] | None]:
    """A secret's NAME TYPE DATA AGE."""
    return [_get(secret, "metadata", "name"), secret.get("type") or "", len(secret.get("data") or {}),
            _age(secret, now)], None


def configmap_cells(configmap: Obj, now: dt.datetime) -> tuple[list[Any], list[Obj] | None]:
    """A config map's NAME DATA AGE (DATA counts binaryData too)."""
    count = len(configmap.get("data") or {}) + len(configmap.get("binaryData") or {})
    return [_get(configmap, "metadata", "name"), count, _age(configmap, now)], None


def namespace_cells(namespace: Obj, now: dt.datetime) -> tuple[list[Any], list[Obj] | None]:
    """A namespace's NAME STATUS AGE."""
    return [_get(namespace, "metadata", "name"), _get(namespace, "status", "phase") or "", _age(namespace, now)], None


def serviceaccount_cells(account: Obj, now: dt.datetime) -> tuple[list[Any], list[Obj] | None]:
    """A service account's NAME SECRETS AGE."""
    return [_get(account, "metadata", "name"), len(account.get("secrets") or []), _age(account, now)], None


def event_cells(event: Obj, now: dt.datetime) -> tuple[list[Any], list[Obj] | None]:
    """An event's LAST-SEEN TYPE REASON OBJECT SUBOBJECT SOURCE MESSAGE FIRST-SEEN COUNT NAME (``printEvent``)."""
    first = since(event.get("firstTimestamp"), now)
    if parse_time(event.get("firstTimestamp")) is None:
        first = since(event.get("eventTime"), now)
    last = since(event.get("lastTimestamp"), now)
    if parse_time(event.get("lastTimestamp")) is None:
        last = first
    count = event.get("count") or 0
    series = event.get("series")
    if series:
        last = since(series.get("lastObservedTime"), now)
        count = series.get("count") or 0
    elif count == 0:
        count = 1
    involved = event.get("involvedObject") or {}
    kind = str(involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = event.get("source") or {}
    component = source.get("component") or event.get("reportingComponent") or ""
    instance = source.get("host") or event.get("reportingInstance") or ""
    source_text = f"{component}, {instance}" if instance else component
    cells = [last, event.get("type") or "", event.get("reason") or "", target, involved.get("fieldPath") or "",
             source_text, str(event.get("message") or "").strip(), first, count, _get(event, "metadata", "name")]
    return cells, None


def format_selector(selector: Any) -> str:
    """``metav1.FormatLabelSelector``: ``app=web,tier in (a,b)``; ``<none>`` when empty."""
    if not isinstance(selector, dict):
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for e in selector.get("matchExpressions") or []:
        op, key, values = e.get("operator"), e.get("key", ""), ",".join(e.get("values") or [])
        parts.append({"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": key,
                      "DoesNotExist": f"!{key}"}.get(op, f"{key} {op}"))
    return ",".join(parts) or "<none>"


def _template_cells(obj: Obj) -> list[Any]:
    containers = _get(obj, "spec", "template", "spec", "containers") or []
    return [",".join(str(c.get("name", "")) for c in containers), ",".join(str(c.get("image", "")) for c in containers),
            format_selector(_get(obj, "spec", "selector"))]


def deployment_cells(d: Obj, now: dt.datetime) -> tuple[list[Any], list[Obj] | None]:
    """A deployment's NAME READY UP-TO-DATE AVAILABLE AGE CONTAINERS IMAGES SELECTOR."""
    status = d.get("status") or {}
    desired = _get(d, "spec", "replicas") or 0
    return [_get(d, "metadata", "name"), f"{status.get('readyReplicas') or 0}/{desired}",
            status.get("updatedReplicas") or 0, status.get("availableReplicas") or 0, _age(d, now),
            *_template_cells(d)], None


def replicaset_cells(rs: Obj, now: dt.datetime) -> tuple[list[Any], list[Obj] | None]:
    """A replica set's NAME DESIRED CURRENT READY AGE CONTAINERS IMAGES SELECTOR."""
    status = rs.get("status") or {}
    return [_get(rs, "metadata", "name"), _get(rs, "spec", "replicas") or 0, status.get("replicas") or 0,
            status.get("readyReplicas") or 0, _age(rs, now), *_template_cells(rs)], None


PRINTERS: dict[str, tuple[list[Column], Printer]] = {
    "pods": (POD_COLUMNS, pod_cells),
    "nodes": (NODE_COLUMNS, node_cells),
    "secrets": (SECRET_COLUMNS, secret_cells),
    "configmaps": (CONFIGMAP_COLUMNS, configmap_cells),
    "namespaces": (NAMESPACE_COLUMNS, namespace_cells),
    "events": (EVENT_COLUMNS, event_cells),
    "serviceaccounts": (SERVICEACCOUNT_COLUMNS, serviceaccount_cells),
    "deployments": (DEPLOYMENT_COLUMNS, deployment_cells),
    "replicasets": (REPLICASET_COLUMNS, replicaset_cells),
}


# DaemonSets: NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE CONTAINERS IMAGES SELECTOR.
DAEMONSET_COLUMNS = [
    NAME,
    _column("Desired", "The total number of nodes that should be running the daemon pod (including nodes correctly "
                       "running the daemon pod).", type_="integer"),
    _column("Current", "The number of nodes that are running at least 1 daemon pod and are supposed to run the "
                       "daemon pod.", type_="integer"),
    _column("Ready", "numberReady is the number of nodes that should be running the daemon pod and have one or more "
                     "of the daemon pod running with a Ready Condition.", type_="integer"),
    _column("Up-to-date", "The total number of nodes that are running updated daemon pod", type_="integer"),
    _column("Available", "The number of nodes that should be running the daemon pod and have one or more of the "
                         "daemon pod running and available (ready for at least spec.minReadySeconds)",
            type_="integer"),
    _column("Node Selector", "NodeSelector is a selector which must be true for the pod to fit on a node. Selector "
                             "which must match a node's labels for the pod to be scheduled on that node."),
    AGE,
    _column("Containers", _CONTAINERS_DOC, 1),
    _column("Images", _IMAGES_DOC, 1),
    _column("Selector", "A label query over pods that are managed by the daemon set. Must match in order to be "
                        "controlled.", 1),
]


def daemonset_cells(ds: Obj, now: dt.datetime) -> tuple[list[Any], list[Obj] | None]:
    """A daemon set's NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE CONTAINERS IMAGES
    SELECTOR (the node selector as ``labels.FormatLabels``: ``k=v,…`` sorted, ``<none>`` when empty)."""
    status = ds.get("status") or {}
    node_selector = _get(ds, "spec", "template", "spec", "nodeSelector") or {}
    shown = ",".join(f"{k}={v}" for k, v in sorted(node_selector.items())) or "<none>"
    return [_get(ds, "metadata", "name"), status.get("desiredNumberScheduled") or 0,
            status.get("currentNumberScheduled") or 0, status.get("numberReady") or 0,
            status.get("updatedNumberScheduled") or 0, status.get("numberAvailable") or 0, shown, _age(ds, now),
            *_template_cells(ds)], None


PRINTERS["daemonsets"] = (DAEMONSET_COLUMNS, daemonset_cells)

CONTROLLERREVISION_COLUMNS = [
    NAME,
    _column("Controller", "Controller of the object"),
    _column("Revision", "Revision indicates the revision of the state represented by Data.", type_="integer"),
    AGE,
]


def controllerrevision_cells(cr: Obj, now: dt.datetime) -> tuple[list[Any], list[Obj] | None]:
    """NAME CONTROLLER (``daemonset.apps/x``) REVISION AGE."""
    owner = next((r for r in _get(cr, "metadata", "ownerReferences") or [] if r.get("controller")), None)
    controller = "<none>"
    if owner is not None:
        group = str(owner.get("apiVersion", "")).rpartition("/")[0]
        kind = str(owner.get("kind", "")).lower()
        controller = f"{kind}.{group}/{owner.get('name', '')}" if group else f"{kind}/{owner.get('name', '')}"
    return [_get(cr, "metadata", "name"), controller, cr.get("revision") or 0, _age(cr, now)], None


PRINTERS["controllerrevisions"] = (CONTROLLERREVISION_COLUMNS, controllerrevision_cells)


# ---------------------------------------------------------------- batch/v1 (kube 1.33's printers: Status first)

JOB_COLUMNS = [
    NAME,
    _column("Status", "Status of the job."),
    _column("Completions", "The number of pods which reached phase Succeeded. The value increases monotonically "
                           "for a given spec. However, it may decrease in reaction to scale down of elastic "
                           "indexed jobs."),
    _column("Duration", "Time required to complete the job."),
    AGE,
    _column("Containers", _CONTAINERS_DOC, 1),
    _column("Images", _IMAGES_DOC, 1),
    _column("Selector", "A label query over pods that should match the pod count.", 1),
]
CRONJOB_COLUMNS = [
    NAME,
    _column("Schedule", "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."),
    _column("Timezone", "The time zone name for the given schedule."),
    _column("Suspend", "This flag tells the controller to suspend subsequent executions.", type_="boolean"),
    _column("Active", "A list of pointers to currently running jobs.", type_="integer"),
    _column("Last Schedule", "Information when was the last time the job was successfully scheduled."),
    AGE,
    _column("Containers", _CONTAINERS_DOC, 1),
    _column("Images", _IMAGES_DOC, 1),
    _column("Selector", "A label query over pods that should match the pod count.", 1),
]


def _has_condition(obj: Obj, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True"
               for c in _get(obj, "status", "conditions") or [] if isinstance(c, dict))


def job_cells(job: Obj, now: dt.datetime) -> tuple[list[Any], list[Obj] | None]:
    """A job's NAME STATUS COMPLETIONS DURATION AGE CONTAINERS IMAGES SELECTOR."""
    status = job.get("status") or {}
    succeeded = status.get("succeeded") or 0
    completions = _get(job, "spec", "completions")
    if completions is not None:
        done = f"{succeeded}/{completions}"
    else:
        parallelism = _get(job, "spec", "parallelism") or 0
        done = f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"
    started, finished = parse_time(status.get("startTime")), parse_time(status.get("completionTime"))
    duration = ""
    if started is not None:
        duration = human_duration(((finished or now) - started).total_seconds())
    if _has_condition(job, "Complete"):
        state = "Complete"
    elif _has_condition(job, "Failed"):
        state = "Failed"
    elif _get(job, "metadata", "deletionTimestamp"):
        state = "Terminating"
    elif _has_condition(job, "Suspended"):
        state = "Suspended"
    elif _has_condition(job, "FailureTarget"):
        state = "FailureTarget"
    else:
        state = "Running"
    return [_get(job, "metadata", "name"), state, done, duration, _age(job, now), *_template_cells(job)], None


def cronjob_cells(cj: Obj, now: dt.datetime) -> tuple[list[Any], list[Obj] | None]:
    """A cron job's NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE CONTAINERS IMAGES SELECTOR."""
    spec, status = cj.get("spec") or {}, cj.get("status") or {}
    last = status.get("lastScheduleTime")
    tpl = (spec.get("jobTemplate") or {}).get("spec") or {}
    containers = _get(tpl, "template", "spec", "containers") or []
    return [_get(cj, "metadata", "name"), spec.get("schedule") or "",
            spec.get("timeZone") if spec.get("timeZone") is not None else "<none>",
            "True" if spec.get("suspend") else "False", len(status.get("active") or []),
            since(last, now) if last else "<none>",
            _age(cj, now), ",".join(str(c.get("name", "")) for c in containers),
            ",".join(str(c.get("image", "")) for c in containers), format_selector(tpl.get("selector"))], None


PRINTERS.update({"jobs": (JOB_COLUMNS, job_cells), "cronjobs": (CRONJOB_COLUMNS, cronjob_cells)})


def _default_cells(obj: Obj, now: dt.datetime) -> tuple[list[Any], list[Obj] | None]:
    return [_get(obj, "metadata", "name"), _age(obj, now)], None


def partial_metadata(obj: Obj) -> Obj:
    """The object as ``PartialObjectMetadata`` (what a row carries by default)."""
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata") or {}}


def table(resource: Resource, objects: list[Obj], resource_version: str, include_object: str = "Metadata",
          now: dt.datetime | None = None, continue_token: str = "", no_headers: bool = False,
          api_version: str = "meta.k8s.io/v1") -> Obj:
    """The Table of ``objects`` of ``resource``. ``include_object`` is the ``includeObject`` query parameter
    (``Metadata``, ``Object`` or ``None``); ``now`` the time ages are counted to (the current time by
    default); ``no_headers`` leaves the column definitions out (the watch events after the first)."""
    now = now or dt.datetime.now(dt.UTC)
    columns, printer = PRINTERS.get(resource.resource, ([NAME, AGE], _default_cells))
    rows: list[Obj] = []
    for obj in objects:
        cells, conditions = printer(obj, now)
        row: Obj = {"cells": cells}
        if conditions:
            row["conditions"] = conditions
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = partial_metadata(obj)
        rows.append(row)
    metadata: Obj = {"resourceVersion": resource_version}
    if continue_token:
        metadata["continue"] = continue_token
    return {"kind": "Table", "apiVersion": api_version, "metadata": metadata,
            "columnDefinitions": None if no_headers else columns, "rows": rows}


# ---------------------------------------------------------------------------------------------------
# Services, Endpoints and EndpointSlices (kube-apiserver's printService, printEndpoints,
# printEndpointSlice)

SERVICE_COLUMNS = [
    NAME,
    _column("Type", "The type of service."),
    _column("Cluster-IP", "The cluster IP of the service."),
    _column("External-IP", "The external IPs of the service."),
    _column("Port(s)", "The ports of the service."),
    AGE,
    _column("Selector", "Route service traffic to pods with label keys and values matching this selector.", 1),
]
ENDPOINTS_COLUMNS = [
    NAME,
    _column("Endpoints", "Endpoints is the list of endpoints."),
    AGE,
]
ENDPOINTSLICE_COLUMNS = [
    NAME,
    _column("AddressType", "The address type of the EndpointSlice."),
    _column("Ports", "The ports of the EndpointSlice."),
    _column("Endpoints", "The endpoints of the EndpointSlice."),
    AGE,
]
_MAX_SHOWN = 3


def _shortened(items: list[str], count: int | None = None) -> str:
    """At most three items, then `` + N more...`` (kube-apiserver's endpoint lists)."""
    total = len(items) if count is None else count
    text = ",".join(items[:_MAX_SHOWN])
    return f"{text} + {total - _MAX_SHOWN} more..." if total > _MAX_SHOWN else text


def _lb_ingress(svc: Obj, wide: bool) -> list[str]:
    out: list[str] = []
    for ing in _get(svc, "status", "loadBalancer", "ingress") or []:
        value = ing.get("ip") or ing.get("hostname") or ""
        if value:
            out.append(value)
    text = ",".join(out)
    if not wide and len(text) > 16:
        return [text[:13] + "..."]
    return out


def service_external_ip(svc: Obj, wide: bool = True) -> str:
    """EXTERNAL-IP: the external IPs (and a LoadBalancer's ingress, ``<pending>`` without one), an
    ExternalName Service's name, else ``<none>``."""
    spec = svc.get("spec") or {}
    kind = spec.get("type") or "ClusterIP"
    external = list(spec.get("externalIPs") or [])
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if kind == "LoadBalancer":
        return ",".join(external + _lb_ingress(svc, wide)) or "<pending>"
    if kind == "ExternalName":
        return str(spec.get("externalName") or "")
    return "<unknown>"


def service_ports(svc: Obj) -> str:
    """PORT(S): ``80/TCP``, ``80:30080/TCP``, comma separated (``<none>`` without ports)."""
    out = []
    for p in _get(svc, "spec", "ports") or []:
        proto = p.get("protocol") or "TCP"
        node_port = p.get("nodePort") or 0
        out.append(f"{p.get('port', 0)}:{node_port}/{proto}" if node_port else f"{p.get('port', 0)}/{proto}")
    return ",".join(out) or "<none>"


def format_labels(labels: Any) -> str:
    """``labels.FormatLabels``: ``a=b,c=d`` sorted by key, ``<none>`` when empty."""
    if not isinstance(labels, dict) or not labels:
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def service_cells(svc: Obj, now: dt.datetime) -> tuple[list[Any], list[Obj] | None]:
    """A service's NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE SELECTOR."""
    spec = svc.get("spec") or {}
    return [_get(svc, "metadata", "name"), spec.get("type") or "ClusterIP", spec.get("clusterIP") or "<none>",
            service_external_ip(svc, wide=False), service_ports(svc), _age(svc, now),
            format_labels(spec.get("selector"))], None


def format_endpoints(endpoints: Obj) -> str:
    """ENDPOINTS: the ready ``ip:port`` pairs (a subset without ports: its IPs), three at most."""
    subsets = endpoints.get("subsets") or []
    if not subsets:
        return "<none>"
    shown: list[str] = []
    count = 0
    for ss in subsets:
        addresses = [a.get("ip", "") for a in ss.get("addresses") or []]
        ports = ss.get("ports") or []
        if not ports:
            count += len(addresses)
            shown.extend(addresses)
            continue
        for p in ports:
            count += len(addresses)
            port = p.get("port", 0)
            shown.extend(f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}" for ip in addresses)
    return _shortened(shown, count)


def endpoints_cells(endpoints: Obj, now: dt.datetime) -> tuple[list[Any], list[Obj] | None]:
    """Endpoints' NAME ENDPOINTS AGE."""
    return [_get(endpoints, "metadata", "name"), format_endpoints(endpoints), _age(endpoints, now)], None


def endpointslice_cells(s: Obj, now: dt.datetime) -> tuple[list[Any], list[Obj] | None]:
    """An EndpointSlice's NAME ADDRESSTYPE PORTS ENDPOINTS AGE (``<unset>`` for none)."""
    ports = [str(p["port"]) if p.get("port") is not None else "<unset>" for p in s.get("ports") or []]
    addresses = [a for e in s.get("endpoints") or [] for a in e.get("addresses") or []]
    return [_get(s, "metadata", "name"), s.get("addressType") or "", _shortened(ports) or "<unset>",
            _shortened(addresses) or "<unset>", _age(s, now)], None


PRINTERS.update({
    "services": (SERVICE_COLUMNS, service_cells),
    "endpoints": (ENDPOINTS_COLUMNS, endpoints_cells),
    "endpointslices": (ENDPOINTSLICE_COLUMNS, endpointslice_cells),
})


# ---------------------------------------------------------------------------------------------------
# Ingresses and IngressClasses (kube-apiserver's printIngress, printIngressClass)

INGRESS_COLUMNS = [
    NAME,
    _column("Class", "The name of the IngressClass resource that should be used for additional configuration"),
    _column("Hosts", "Hosts that incoming requests are matched against before the ingress rule"),
    _column("Address", "Address is a list containing ingress points for the load-balancer"),
    _column("Ports", "Ports of TLS configurations that open"),
    AGE,
]
INGRESSCLASS_COLUMNS = [
    NAME,
    _column("Controller", "Controller that is responsible for handling this class"),
    _column("Parameters", "A reference to a resource with additional parameters"),
    AGE,
]


def ingress_hosts(rules: list[Obj]) -> str:
    """HOSTS: the rules' hosts, three at most then `` + N more...``; ``*`` when none has one."""
    shown: list[str] = []
    more = False
    for rule in rules:
        if len(shown) == _MAX_SHOWN:
            more = True
        if not more and rule.get("host"):
            shown.append(str(rule["host"]))
    if not shown:
        return "*"
    text = ",".join(shown)
    return f"{text} + {len(rules) - _MAX_SHOWN} more..." if more else text


def ingress_cells(ing: Obj, now: dt.datetime) -> tuple[list[Any], list[Obj] | None]:
    """An Ingress's NAME CLASS HOSTS ADDRESS PORTS AGE."""
    spec = ing.get("spec") or {}
    cls = spec.get("ingressClassName")
    address = [str(i.get("ip") or i.get("hostname") or "") for i in _get(ing, "status", "loadBalancer", "ingress")
               or []]
    text = ",".join(a for a in address if a)
    if len(text) > 16:
        text = text[:13] + "..."
    return [_get(ing, "metadata", "name"), cls if cls is not None else "<none>",
            ingress_hosts(spec.get("rules") or []), text, "80, 443" if spec.get("tls") else "80", _age(ing, now)], None


def ingressclass_cells(cls: Obj, now: dt.datetime) -> tuple[list[Any], list[Obj] | None]:
    """An IngressClass's NAME CONTROLLER PARAMETERS AGE."""
    spec = cls.get("spec") or {}
    params = spec.get("parameters")
    shown = "<none>"
    if isinstance(params, dict):
        shown = str(params.get("kind") or "")
        if params.get("apiGroup") is not None:
            shown += "." + str(params["apiGroup"])
        shown += "/" + str(params.get("name") or "")
    return [_get(cls, "metadata", "name"), spec.get("controller") or "", shown, _age(cls, now)], None


PRINTERS.update({
    "ingresses": (INGRESS_COLUMNS, ingress_cells),
    "ingressclasses": (INGRESSCLASS_COLUMNS, ingressclass_cells),
})
