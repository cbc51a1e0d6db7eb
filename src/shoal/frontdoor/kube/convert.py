"""Kubernetes objects to and from the core: validation, defaulting and translation.

The handlers of the Kubernetes door hand in plain dicts (decoded from JSON, YAML or protobuf) and get
core objects back (``to_core``), and render core objects as Kubernetes JSON (``to_wire``). Which core
object each kind is (``manager/kube/objects.py``): a Pod is a ``Task``, a Secret and a ConfigMap are a
``Secret`` and a ``Config`` with a namespace, a Node is the swarm's ``Node``, Namespace, Event and
ServiceAccount are ``api/kube.py``'s.

``to_core`` does what the API server does to a write before it stores it, in its order: the defaults
(``restartPolicy: Always``, ``imagePullPolicy`` by tag, the two NoExecute tolerations of 300 s, requests
from limits, ``type: Opaque`` ...), then validation, whose failures raise ``Invalid`` with one
``FieldCause`` per field in Kubernetes' words (``spec.containers[0].image: Required value``). A body
decoded from protobuf carries every zero value of Go's non-pointer fields (``restartPolicy: ""``,
``priority: 0``, ``hostNetwork: false``): those are "unset" here. A pointer field's zero is a value
(``terminationGracePeriodSeconds: 0``, ``runAsUser: 0``, ``enableServiceLinks: false``).

What a Pod has that the core does not act on is kept, as its Kubernetes JSON, in
``PodSpecExtra.Kept`` so the user reads back what they wrote: the Pod spec's other fields (``affinity``,
``readinessGates``, ``dnsConfig``, ``topologySpreadConstraints``, ``securityContext`` as written ...)
under their own names, each container's other fields under ``containers`` / ``initContainers`` (by
container name: ``securityContext``, ``lifecycle``, ``resources`` as written ...), volumes of types
shoal does not mount under ``volumes``. ``to_wire`` renders from the core fields and lays the kept JSON
over them, so a Task made by a controller (no kept JSON) renders too. ``metadata.ownerReferences`` is
the core's ``OwnerReferences`` (every owner; the controller's also ``Owner``).

``to_wire`` writes keys in the order of Kubernetes' Go structs and map keys sorted (as Go does), so
one object gives the same bytes every time. A Pod's ``status`` is derived from its task (state,
container statuses, addresses; see ``_pod_status``); ``node_name`` and ``node_addr`` turn its node's ID
into ``spec.nodeName`` and ``status.hostIP``. Timestamps are RFC 3339 in seconds (``Z``).
``task_spec_to_core`` / ``task_spec_to_wire`` do the same for a Pod template's spec alone.

``validate_update`` holds what the API server refuses of an update that the new object alone does not
show: a Pod's spec may change only in its images, deadline and added tolerations; an immutable Secret or
ConfigMap not at all; a Secret's type never.

Nodes are only updated through this door: ``apply_node_update`` takes what a PUT or PATCH may change
(labels, annotations, ``spec.unschedulable``, ``spec.taints``). Cordoning maps to Swarm's
availability: ``unschedulable: true`` pauses an active node (a drained one stays drained; both show as
unschedulable), ``unschedulable`` false or absent makes a paused or drained node active again.

``field_value`` and ``FIELDS`` answer field selectors (``spec.nodeName=node01``).

Quantities (``100m``, ``64Mi``) are read by ``shoal.api.quantity``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from shoal.api import batch, cron, selectors
from shoal.api import types as core_types
from shoal.api.errors import FieldCause, Invalid, InvalidArgument
from shoal.api.ids import new_id
from shoal.api.kube import ACTIVE, Event, EventSource, InvolvedObject, Namespace, ServiceAccount
from shoal.api.meta import ObjectRef, OwnerReference, Version, set_owner_references
from shoal.api.pod import (
    ConfigMapVolume,
    ContainerPort,
    DownwardAPIFile,
    DownwardAPIVolume,
    EmptyDirVolume,
    EnvFromSource,
    EnvVarRef,
    HostPathVolume,
    HTTPGetAction,
    HTTPHeader,
    KeyRef,
    KeyToPath,
    ObjectFieldRef,
    PodContainer,
    PodSpecExtra,
    Probe,
    Probes,
    ProjectedSource,
    ProjectedVolume,
    ResourceFieldRef,
    SecretVolume,
    ServiceAccountTokenProjection,
    Volume,
    VolumeMount,
)
from shoal.api.quantity import ERR_FORMAT_WRONG as QUANTITY_FORMAT_ERR
from shoal.api.quantity import cpu_nanos, format_cpu, format_memory, memory_bytes, parse_quantity
from shoal.api.states import TaskState
from shoal.api.taints import EFFECTS, EXISTS, NO_EXECUTE, NO_SCHEDULE, OPERATORS, with_default_tolerations
from shoal.api.types import (
    CLUSTER_IP_NONE,
    Config,
    ConfigSpec,
    ContainerSpec,
    ContainerStatus,
    ControllerRevision,
    DaemonSet,
    DaemonSetSpec,
    DaemonSetUpdateStrategy,
    Deployment,
    DeploymentSpec,
    DeploymentStrategy,
    EndpointAddress,
    EndpointConditions,
    EndpointPort,
    Endpoints,
    EndpointSlice,
    EndpointSubset,
    EndpointTarget,
    KubeService,
    KubeServicePort,
    KubeServiceSpec,
    KubeServiceStatus,
    LabelSelectorSpec,
    LoadBalancerIngress,
    Node,
    NodeSpec,
    NodeSystem,
    Placement,
    PodTemplate,
    ReplicaSet,
    ReplicaSetSpec,
    ResourceRequirements,
    Resources,
    RestartPolicy,
    Secret,
    SecretSpec,
    SelectorRequirement,
    SliceEndpoint,
    Taint,
    Task,
    TaskSpec,
    Toleration,
    WorkloadCondition,
    now_ts,
    pod_phase,
    summed,
)
from shoal.frontdoor.kube import affinity as kube_affinity
from shoal.frontdoor.kube import extended as kube_extended

SECOND = 1_000_000_000

RESOURCES: tuple[str, ...] = ("pods", "secrets", "configmaps", "namespaces", "serviceaccounts", "events", "nodes",
                              "deployments", "replicasets", "services", "endpoints", "endpointslices")
KIND_OF_RESOURCE = {"pods": "Pod", "secrets": "Secret", "configmaps": "ConfigMap", "namespaces": "Namespace",
                    "serviceaccounts": "ServiceAccount", "events": "Event", "nodes": "Node",
                    "deployments": "Deployment", "replicasets": "ReplicaSet", "services": "Service",
                    "endpoints": "Endpoints", "endpointslices": "EndpointSlice"}
RESOURCES += ("daemonsets", "controllerrevisions")
KIND_OF_RESOURCE["daemonsets"] = "DaemonSet"
KIND_OF_RESOURCE["controllerrevisions"] = "ControllerRevision"

RESOURCES += ("jobs", "cronjobs")  # batch/v1
KIND_OF_RESOURCE.update({"jobs": "Job", "cronjobs": "CronJob"})

# Field selectors each resource answers (the API server's per-kind lists, less what shoal cannot know).
FIELDS: dict[str, frozenset[str]] = {
    "pods": frozenset({"metadata.name", "metadata.namespace", "spec.nodeName", "spec.restartPolicy",
                       "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
                       "status.podIP", "status.nominatedNodeName"}),
    "events": frozenset({"metadata.name", "metadata.namespace", "involvedObject.kind", "involvedObject.namespace",
                         "involvedObject.name", "involvedObject.uid", "involvedObject.apiVersion",
                         "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
                         "reportingComponent", "source", "type"}),
    "secrets": frozenset({"metadata.name", "metadata.namespace", "type"}),
    "configmaps": frozenset({"metadata.name", "metadata.namespace"}),
    "serviceaccounts": frozenset({"metadata.name", "metadata.namespace"}),
    "namespaces": frozenset({"metadata.name", "status.phase"}),
    "nodes": frozenset({"metadata.name", "spec.unschedulable"}),
    "deployments": frozenset({"metadata.name", "metadata.namespace"}),
    "replicasets": frozenset({"metadata.name", "metadata.namespace", "status.replicas"}),
    "services": frozenset({"metadata.name", "metadata.namespace", "spec.clusterIP", "spec.type"}),
    "endpoints": frozenset({"metadata.name", "metadata.namespace"}),
    "endpointslices": frozenset({"metadata.name", "metadata.namespace", "addressType"}),
}
FIELDS["daemonsets"] = frozenset({"metadata.name", "metadata.namespace"})
FIELDS["controllerrevisions"] = frozenset({"metadata.name", "metadata.namespace"})

FIELDS.update({  # batch/v1
    "jobs": frozenset({"metadata.name", "metadata.namespace", "status.successful"}),
    "cronjobs": frozenset({"metadata.name", "metadata.namespace"}),
})

# What a node shows that shoal computes (never written back from a PUT of the node).
HOSTNAME_LABEL = "kubernetes.io/hostname"
OS_LABEL, ARCH_LABEL = "kubernetes.io/os", "kubernetes.io/arch"
BETA_OS_LABEL, BETA_ARCH_LABEL = "beta.kubernetes.io/os", "beta.kubernetes.io/arch"
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
COMPUTED_NODE_LABELS = frozenset({HOSTNAME_LABEL, OS_LABEL, ARCH_LABEL, BETA_OS_LABEL, BETA_ARCH_LABEL,
                                  CONTROL_PLANE_LABEL})
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
# Where a node's engine labels may give what the node info shows (the door may not read the host).
KERNEL_VERSION_LABEL = "kernel.version"
OS_IMAGE_LABEL = "os.image"
KUBELET_VERSION = "v1.33.1-shoal"
RUNTIME_SCHEME = "docker"  # containerID ``docker://<id>``; containerRuntimeVersion ``docker://<engine>``
MAX_PODS = "110"
SERVICE_ACCOUNT_NAME_ANNOTATION = "kubernetes.io/service-account.name"
MAX_SECRET_SIZE = 1024 * 1024
MAX_ANNOTATIONS_SIZE = 256 * 1024
DEFAULT_TOLERATION_SECONDS = 300

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm",
         "armv6l": "arm", "i386": "386", "i686": "386", "ppc64le": "ppc64le", "s390x": "s390x",
         "riscv64": "riscv64"}

# Kubernetes' cause types.
REQUIRED, INVALID, NOT_SUPPORTED = "FieldValueRequired", "FieldValueInvalid", "FieldValueNotSupported"
DUPLICATE, FORBIDDEN, NOT_FOUND = "FieldValueDuplicate", "FieldValueForbidden", "FieldValueNotFound"
TOO_LONG = "FieldValueTooLong"


# ---------------------------------------------------------------- errors in Kubernetes' words


class _GoValue(str):
    """A value already in the words Go prints it with (a struct's ``%#v``)."""


def _show(value: object) -> str:
    """A value as Kubernetes' field errors print it (strings quoted, numbers and booleans bare)."""
    if isinstance(value, _GoValue):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


class _Errors:
    """The causes found while validating one object, in the API server's order."""

    def __init__(self) -> None:
        self.causes: list[FieldCause] = []

    def required(self, path: str, detail: str = "") -> None:
        self.causes.append(FieldCause(path, REQUIRED, "Required value" + (f": {detail}" if detail else "")))

    def invalid(self, path: str, value: object, detail: str) -> None:
        self.causes.append(FieldCause(path, INVALID, f"Invalid value: {_show(value)}: {detail}"))

    def unsupported(self, path: str, value: object, supported: Iterable[str]) -> None:
        sup = ", ".join(f'"{s}"' for s in supported)
        self.causes.append(FieldCause(path, NOT_SUPPORTED, f"Unsupported value: {_show(value)}: supported values: "
                                                           f"{sup}"))

    def duplicate(self, path: str, value: object) -> None:
        self.causes.append(FieldCause(path, DUPLICATE, f"Duplicate value: {_show(value)}"))

    def forbidden(self, path: str, detail: str) -> None:
        self.causes.append(FieldCause(path, FORBIDDEN, f"Forbidden: {detail}"))

    def not_found(self, path: str, value: object) -> None:
        self.causes.append(FieldCause(path, NOT_FOUND, f"Not found: {_show(value)}"))

    def too_long(self, path: str, limit: int) -> None:
        self.causes.append(FieldCause(path, TOO_LONG, f"Too long: must have at most {limit} bytes"))

    def check(self, kind: str, name: str) -> None:
        if self.causes:
            raise Invalid(kind, name, self.causes)


# ---------------------------------------------------------------- names (k8s.io/apimachinery's validation)

_DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = _DNS1123_LABEL + r"(\." + _DNS1123_LABEL + ")*"
_CONFIG_KEY = "[-._a-zA-Z0-9]+"
_IANA_SVC = "[-a-z0-9]+"


def _regex_error(msg: str, regex: str, *examples: str) -> str:
    """apimachinery's ``RegexError``: the message, examples and the regex (its odd double spaces too)."""
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{regex}')"


_LABEL_MSG = _regex_error("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                          "and must start and end with an alphanumeric character", _DNS1123_LABEL, "my-name",
                          "123-abc")
_SUBDOMAIN_MSG = _regex_error("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                              "'-' or '.', and must start and end with an alphanumeric character", _DNS1123_SUBDOMAIN,
                              "example.com")
_CONFIG_KEY_MSG = _regex_error("a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                               _CONFIG_KEY, "key.name", "KEY_NAME", "key-name")
_ENV_NAME_MSG = "a valid environment variable name must consist only of printable ASCII characters other than '='"

_re_label = re.compile(_DNS1123_LABEL)
_re_subdomain = re.compile(_DNS1123_SUBDOMAIN)
_re_config_key = re.compile(_CONFIG_KEY)
_re_iana = re.compile(_IANA_SVC)
_re_has_letter = re.compile("[a-z]")


def _max_len(n: int) -> str:
    return f"must be no more than {n} characters"


def dns1123_label(value: str) -> list[str]:
    """What is wrong with ``value`` as an RFC 1123 label (a namespace's or a container's name)."""
    errs = [_max_len(63)] if len(value) > 63 else []
    if not _re_label.fullmatch(value):
        errs.append(_LABEL_MSG)
    return errs


def dns1123_subdomain(value: str) -> list[str]:
    """What is wrong with ``value`` as an RFC 1123 subdomain (most objects' names)."""
    errs = [_max_len(253)] if len(value) > 253 else []
    if not _re_subdomain.fullmatch(value):
        errs.append(_SUBDOMAIN_MSG)
    return errs


def qualified_name(value: str) -> list[str]:
    """What is wrong with ``value`` as a label or annotation key (``[prefix/]name``)."""
    return selectors.qualified_name_errors(value)


def label_value(value: str) -> list[str]:
    """What is wrong with ``value`` as a label value."""
    return selectors.label_value_errors(value)


def config_key(value: str) -> list[str]:
    """What is wrong with ``value`` as a key of a Secret or ConfigMap (a file name)."""
    errs = [_max_len(253)] if len(value) > 253 else []
    if not _re_config_key.fullmatch(value):
        errs.append(_CONFIG_KEY_MSG)
    if value == ".":
        errs.append("must not be '.'")
    elif value == "..":
        errs.append("must not be '..'")
    elif value.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def _port_name(value: str) -> list[str]:
    """IANA service name rules (a container port's name)."""
    errs = [_max_len(15)] if len(value) > 15 else []
    if not _re_iana.fullmatch(value):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _re_has_letter.search(value):
        errs.append("must contain at least one letter (a-z)")
    if "--" in value:
        errs.append("must not contain consecutive hyphens")
    if value and (value[0] == "-" or value[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def _validate_labels(errs: _Errors, labels: Mapping[str, str], path: str) -> None:
    for k in sorted(labels):
        for m in qualified_name(k):
            errs.invalid(path, k, m)
        for m in label_value(labels[k]):
            errs.invalid(path, labels[k], m)


def _validate_annotations(errs: _Errors, annotations: Mapping[str, str], path: str) -> None:
    total = 0
    for k in sorted(annotations):
        for m in qualified_name(k.lower()):
            errs.invalid(path, k, m)
        total += len(k) + len(annotations[k])
    if total > MAX_ANNOTATIONS_SIZE:
        errs.too_long(path, MAX_ANNOTATIONS_SIZE)


# ---------------------------------------------------------------- quantities (``api/quantity.py``)


def _parse_quantity(text: object) -> Decimal:
    """A Kubernetes quantity's value (``ValueError`` with the API server's words when malformed)."""
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise ValueError(QUANTITY_FORMAT_ERR)
    return parse_quantity(text)


# ---------------------------------------------------------------- small helpers


def _unset(v: object) -> bool:
    """A zero value of Go's non-pointer fields (what a protobuf body carries for "not given")."""
    return v is None or v == "" or v is False or (isinstance(v, int) and not isinstance(v, bool) and v == 0) \
        or v == [] or v == {}


def _str(v: object) -> str:
    return v if isinstance(v, str) else ""


def _int(v: object) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _opt_int(v: object) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _opt_bool(v: object) -> bool | None:
    return v if isinstance(v, bool) else None


def _dict(v: object) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _list(v: object) -> list[Any]:
    return v if isinstance(v, list) else []


def _str_map(v: object) -> dict[str, str] | None:
    if not isinstance(v, dict) or not v:
        return None
    return {str(k): "" if x is None else str(x) for k, x in v.items()}


def _str_list(v: object) -> list[str] | None:
    return [str(x) for x in v] if isinstance(v, list) and v else None


def _sorted(m: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: m[k] for k in sorted(m)} if m else {}


def _ts(ts: str) -> str | None:
    """A core timestamp (nanosecond RFC 3339) as Kubernetes' metadata has it: seconds, ``Z``."""
    return ts[:19] + "Z" if ts and len(ts) >= 19 else (ts or None)


def _b64decode(value: object, kind: str) -> bytes:
    if not isinstance(value, str):
        raise InvalidArgument(f'{kind} in version "v1" cannot be handled as a {kind}: illegal base64 data')
    try:
        return base64.b64decode(value.encode(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument(f'{kind} in version "v1" cannot be handled as a {kind}: illegal base64 data at '
                              f"input byte {_bad_b64_byte(value)}") from None


def _bad_b64_byte(value: str) -> int:
    ok = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    for i, ch in enumerate(value):
        if ch not in ok:
            return i
    return len(value) - len(value) % 4


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _top_kept(d: Mapping[str, Any], handled: frozenset[str]) -> dict[str, Any]:
    """The fields of ``d`` not in ``handled`` and not unset, as written (kept, not acted on)."""
    return {k: v for k, v in d.items() if k not in handled and not _unset(v)}


# ---------------------------------------------------------------- metadata

_APPS_KINDS = frozenset({"Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "ControllerRevision"})
_BATCH_KINDS = frozenset({"Job", "CronJob"})


def api_version_of(kind: str) -> str:
    """The apiVersion of an owner of this kind (``apps/v1`` for a ReplicaSet)."""
    return "apps/v1" if kind in _APPS_KINDS else "batch/v1" if kind in _BATCH_KINDS else "v1"


def owner_reference(owner: ObjectRef) -> dict[str, Any]:
    """A controller's ``ownerReferences`` entry, as the controllers write it."""
    return {"apiVersion": api_version_of(owner.Kind), "kind": owner.Kind, "name": owner.Name, "uid": owner.ID,
            "controller": True, "blockOwnerDeletion": True}


def _owner_ref_to_core(r: Mapping[str, Any]) -> OwnerReference:
    controller, block = r.get("controller"), r.get("blockOwnerDeletion")
    return OwnerReference(APIVersion=_str(r.get("apiVersion")), Kind=_str(r.get("kind")), Name=_str(r.get("name")),
                          ID=_str(r.get("uid")), Controller=controller if isinstance(controller, bool) else None,
                          BlockOwnerDeletion=block if isinstance(block, bool) else None)


def owner_ref_to_wire(r: OwnerReference) -> dict[str, Any]:
    """An ``ownerReferences`` entry, in Go's field order (the two flags only when written)."""
    d: dict[str, Any] = {"apiVersion": r.APIVersion or api_version_of(r.Kind), "kind": r.Kind, "name": r.Name,
                         "uid": r.ID}
    if r.Controller is not None:
        d["controller"] = r.Controller
    if r.BlockOwnerDeletion is not None:
        d["blockOwnerDeletion"] = r.BlockOwnerDeletion
    return d


class _Meta:
    """The metadata of a written object, read and validated."""

    def __init__(self, obj: Mapping[str, Any], errs: _Errors, *, namespace: str, namespaced: bool,
                 name_rule: Callable[[str], list[str]]) -> None:
        md = _dict(obj.get("metadata"))
        self.name = _str(md.get("name"))
        self.generate_name = _str(md.get("generateName"))
        ns = _str(md.get("namespace"))
        if namespaced and ns and namespace and ns != namespace:
            raise InvalidArgument("the namespace of the provided object does not match the namespace sent on the "
                                  "request")
        self.namespace = (ns or namespace) if namespaced else ""
        self.uid = _str(md.get("uid"))
        rv = _str(md.get("resourceVersion"))
        self.version = int(rv) if rv.isdigit() else 0
        self.labels = _str_map(md.get("labels"))
        self.annotations = _str_map(md.get("annotations"))
        self.finalizers = _str_list(md.get("finalizers"))
        mf = [x for x in _list(md.get("managedFields")) if isinstance(x, dict)]
        self.managed_fields = mf or None
        refs = [r for r in _list(md.get("ownerReferences")) if isinstance(r, dict)]
        self.owner_refs = [_owner_ref_to_core(r) for r in refs] or None
        # ValidateObjectMeta's order
        if self.generate_name:
            masked = self.generate_name[:-1] + "a" if self.generate_name.endswith("-") else self.generate_name
            for m in name_rule(masked):
                errs.invalid("metadata.generateName", self.generate_name, m)
        if not self.name and not self.generate_name:
            errs.required("metadata.name", "name or generateName is required")
        elif self.name:
            for m in name_rule(self.name):
                errs.invalid("metadata.name", self.name, m)
        if namespaced:
            if not self.namespace:
                errs.required("metadata.namespace")
            else:
                for m in dns1123_label(self.namespace):
                    errs.invalid("metadata.namespace", self.namespace, m)
        gen = _int(md.get("generation"))
        if gen < 0:
            errs.invalid("metadata.generation", gen, "must be greater than or equal to 0")
        if self.labels:
            _validate_labels(errs, self.labels, "metadata.labels")
        if self.annotations:
            _validate_annotations(errs, self.annotations, "metadata.annotations")
        for r in refs:
            for key, what in (("apiVersion", "version"), ("kind", "kind"), ("name", "name"), ("uid", "uid")):
                if not _str(r.get(key)):
                    errs.invalid(f"metadata.ownerReferences.{key}", _str(r.get(key)), f"{what} must not be empty")
        if sum(1 for r in refs if r.get("controller") is True) > 1:
            errs.invalid("metadata.ownerReferences", refs, "Only one reference can have Controller set to true.")
        for i, f in enumerate(self.finalizers or []):
            for m in qualified_name(f):
                errs.invalid(f"metadata.finalizers[{i}]", f, m)

    @property
    def shown_name(self) -> str:
        return self.name or self.generate_name


def _wire_meta(obj: Any, *, name: str, labels: Mapping[str, str] | None, namespaced: bool,
               generation: bool = False, owner_refs: list[Any] | None = None) -> dict[str, Any]:
    """Kubernetes' ObjectMeta of a core object, in Go's field order (only what is set)."""
    md: dict[str, Any] = {"name": name}
    if obj.GenerateName:
        md["generateName"] = obj.GenerateName
    if namespaced:
        md["namespace"] = obj.Namespace
    md["uid"] = obj.ID
    md["resourceVersion"] = str(obj.Version.Index)
    if generation and obj.Generation:
        md["generation"] = obj.Generation
    md["creationTimestamp"] = _ts(obj.CreatedAt)
    if obj.DeletionTimestamp:
        md["deletionTimestamp"] = _ts(obj.DeletionTimestamp)
    if obj.DeletionGracePeriodSeconds is not None:
        md["deletionGracePeriodSeconds"] = obj.DeletionGracePeriodSeconds
    if labels:
        md["labels"] = _sorted(labels)
    if obj.Annotations:
        md["annotations"] = _sorted(obj.Annotations)
    if obj.OwnerReferences:
        md["ownerReferences"] = [owner_ref_to_wire(r) for r in obj.OwnerReferences]
    elif owner_refs:  # a Pod's, kept as written before the core held them all
        md["ownerReferences"] = owner_refs
    elif obj.Owner is not None and obj.Owner.ID:
        md["ownerReferences"] = [owner_reference(obj.Owner)]
    if obj.Finalizers:
        md["finalizers"] = list(obj.Finalizers)
    if obj.ManagedFields:
        md["managedFields"] = obj.ManagedFields
    return md


def _object_base(obj: Any, meta: _Meta) -> None:
    """The metadata fields every core kind takes from a written object."""
    obj.ID = meta.uid
    obj.Version = Version(Index=meta.version)
    obj.Namespace = meta.namespace
    obj.Annotations = meta.annotations
    obj.Finalizers = meta.finalizers
    obj.GenerateName = meta.generate_name
    obj.ManagedFields = meta.managed_fields
    set_owner_references(obj, meta.owner_refs)  # every owner, and the controller as ``Owner``


# ---------------------------------------------------------------- Pods: spec to the core

RESTART_POLICIES = ("Always", "Never", "OnFailure")
_CONDITION_OF = {"Always": "any", "OnFailure": "on-failure", "Never": "none"}
_POLICY_OF = {v: k for k, v in _CONDITION_OF.items()}
DNS_POLICIES = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")
PROTOCOLS = ("SCTP", "TCP", "UDP")
TERMINATION_LOG = "/dev/termination-log"
_VOLUME_TYPES = ("emptyDir", "hostPath", "secret", "configMap", "projected", "downwardAPI")
_STANDARD_CONTAINER_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage"})

_CONTAINER_HANDLED = frozenset({
    "name", "image", "command", "args", "workingDir", "ports", "envFrom", "env", "resources", "volumeMounts",
    "livenessProbe", "readinessProbe", "startupProbe", "terminationMessagePath", "terminationMessagePolicy",
    "imagePullPolicy", "securityContext", "stdin", "stdinOnce", "tty"})
_SPEC_HANDLED = frozenset({
    "volumes", "initContainers", "containers", "restartPolicy", "terminationGracePeriodSeconds",
    "activeDeadlineSeconds", "dnsPolicy", "nodeSelector", "serviceAccountName", "serviceAccount",
    "automountServiceAccountToken", "nodeName", "hostNetwork", "securityContext", "imagePullSecrets", "hostname",
    "subdomain", "schedulerName", "tolerations", "priority", "enableServiceLinks", "preemptionPolicy",
    "dnsConfig"})


def default_pull_policy(image: str) -> str:
    """Kubernetes' default ``imagePullPolicy``: Always for ``:latest`` or no tag, else IfNotPresent."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    return "Always" if not tag or tag == "latest" else "IfNotPresent"


def default_hostname(name: str) -> str:
    """A Pod's hostname when it names none: its name, cut to 63 characters (no trailing ``-`` or ``.``)."""
    return name[:63].rstrip("-.") if len(name) > 63 else name


def _port_value(v: object) -> int | str:
    return v if isinstance(v, int | str) and not isinstance(v, bool) else 0


class _PodReader:
    """One Pod spec read into the core, validated as the API server validates it."""

    def __init__(self, errs: _Errors) -> None:
        self.errs = errs
        self.kept: dict[str, Any] = {}
        self.volume_names: set[str] = set()

    # ------------------------------------------------------------ volumes

    def volumes(self, vols: list[Any], path: str) -> list[Volume] | None:
        out: list[Volume] = []
        other: list[dict[str, Any]] = []
        for i, v in enumerate(vols):
            p = f"{path}[{i}]"
            v = _dict(v)
            name = _str(v.get("name"))
            types = [k for k, x in v.items() if k != "name" and x is not None]
            if not types:
                self.errs.required(p, "must specify a volume type")
            elif len(types) > 1:
                self.errs.forbidden(f"{p}.{types[1]}", "may not specify more than 1 volume type")
            elif types[0] not in _VOLUME_TYPES:
                other.append(v)
            else:
                out.append(self._volume(name, types[0], _dict(v[types[0]]), p))
            if not name:  # ValidateVolumes: the source's errors first, then the name's
                self.errs.required(f"{p}.name")
            else:
                for m in dns1123_label(name):
                    self.errs.invalid(f"{p}.name", name, m)
            if name in self.volume_names:
                self.errs.duplicate(f"{p}.name", name)
            self.volume_names.add(name)
        if other:
            self.kept["volumes"] = other
        return out or None

    def _volume(self, name: str, kind: str, src: Mapping[str, Any], p: str) -> Volume:
        vol = Volume(Name=name)
        if kind == "emptyDir":
            size = src.get("sizeLimit")
            vol.EmptyDir = EmptyDirVolume(Medium=_str(src.get("medium")),
                                          SizeLimit=0 if _unset(size) else self._quantity(size,
                                                                                          f"{p}.emptyDir.sizeLimit"))
        elif kind == "hostPath":
            if not _str(src.get("path")):
                self.errs.required(f"{p}.hostPath.path")
            vol.HostPath = HostPathVolume(Path=_str(src.get("path")), Type=_str(src.get("type")))
        elif kind == "secret":
            if not _str(src.get("secretName")):
                self.errs.required(f"{p}.secret.secretName")
            vol.Secret = self._secret_volume(src)
        elif kind == "configMap":
            if not _str(src.get("name")):
                self.errs.required(f"{p}.configMap.name")
            vol.ConfigMap = self._config_map_volume(src)
        elif kind == "downwardAPI":
            vol.DownwardAPI = self._downward(src)
        else:
            sources = []
            for x in _list(src.get("sources")):
                x = _dict(x)
                sat = _dict(x.get("serviceAccountToken"))
                sources.append(ProjectedSource(
                    Secret=self._secret_volume(_dict(x["secret"]), key="name") if "secret" in x else None,
                    ConfigMap=self._config_map_volume(_dict(x["configMap"])) if "configMap" in x else None,
                    DownwardAPI=self._downward(_dict(x["downwardAPI"])) if "downwardAPI" in x else None,
                    ServiceAccountToken=ServiceAccountTokenProjection(
                        Path=_str(sat.get("path")) or "token", Audience=_str(sat.get("audience")),
                        ExpirationSeconds=_int(sat.get("expirationSeconds")) or 3607)
                    if "serviceAccountToken" in x else None))
            vol.Projected = ProjectedVolume(Sources=sources or None, DefaultMode=self._mode(src))
        return vol

    @staticmethod
    def _mode(src: Mapping[str, Any]) -> int:
        mode = _opt_int(src.get("defaultMode"))
        return 0o644 if mode is None else mode

    @staticmethod
    def _items(src: Mapping[str, Any]) -> list[KeyToPath] | None:
        return [KeyToPath(Key=_str(_dict(i).get("key")), Path=_str(_dict(i).get("path")),
                          Mode=_opt_int(_dict(i).get("mode"))) for i in _list(src.get("items"))] or None

    def _secret_volume(self, src: Mapping[str, Any], key: str = "secretName") -> SecretVolume:
        return SecretVolume(SecretName=_str(src.get(key)), Items=self._items(src), DefaultMode=self._mode(src),
                            Optional=_opt_bool(src.get("optional")))

    def _config_map_volume(self, src: Mapping[str, Any]) -> ConfigMapVolume:
        return ConfigMapVolume(Name=_str(src.get("name")), Items=self._items(src), DefaultMode=self._mode(src),
                               Optional=_opt_bool(src.get("optional")))

    def _downward(self, src: Mapping[str, Any]) -> DownwardAPIVolume:
        items = []
        for i in _list(src.get("items")):
            i = _dict(i)
            items.append(DownwardAPIFile(Path=_str(i.get("path")), FieldRef=self._field_ref(i.get("fieldRef")),
                                         ResourceFieldRef=self._resource_ref(i.get("resourceFieldRef")),
                                         Mode=_opt_int(i.get("mode"))))
        return DownwardAPIVolume(Items=items or None, DefaultMode=self._mode(src))

    @staticmethod
    def _field_ref(v: object) -> ObjectFieldRef | None:
        if not isinstance(v, dict):
            return None
        return ObjectFieldRef(FieldPath=_str(v.get("fieldPath")), APIVersion=_str(v.get("apiVersion")) or "v1")

    @staticmethod
    def _resource_ref(v: object) -> ResourceFieldRef | None:
        if not isinstance(v, dict):
            return None
        div = v.get("divisor")
        return ResourceFieldRef(Container=_str(v.get("containerName")), Resource=_str(v.get("resource")),
                                Divisor=str(div) if not _unset(div) else "0")

    def _quantity(self, v: object, path: str, *, cpu: bool = False) -> int:
        try:
            q = _parse_quantity(v)
        except ValueError as e:
            self.errs.invalid(path, v, str(e))
            return 0
        if q < 0:
            self.errs.invalid(path, v, "must be greater than or equal to 0")
            return 0
        return cpu_nanos(q) if cpu else memory_bytes(q)

    # ------------------------------------------------------------ containers

    def containers(self, items: list[Any], path: str, *, pod_user: tuple[int | None, int | None], grace: int,
                   names: set[str]) -> tuple[list[ContainerSpec], dict[str, Any]]:
        out: list[ContainerSpec] = []
        kept: dict[str, Any] = {}
        for i, c in enumerate(items):
            c = _dict(c)
            p = f"{path}[{i}]"
            spec, extra = self.container(c, p, pod_user=pod_user, grace=grace, names=names)
            out.append(spec)
            if extra:
                kept[spec.Name] = extra
        return out, kept

    def container(self, c: Mapping[str, Any], p: str, *, pod_user: tuple[int | None, int | None], grace: int,
                  names: set[str]) -> tuple[ContainerSpec, dict[str, Any]]:
        errs = self.errs
        name, image = _str(c.get("name")), _str(c.get("image"))
        extra = _top_kept(c, _CONTAINER_HANDLED)
        # validateContainers' order: the common checks, the duplicate name, then the probes
        if not name:
            errs.required(f"{p}.name")
        else:
            for m in dns1123_label(name):
                errs.invalid(f"{p}.name", name, m)
        if not image:
            errs.required(f"{p}.image")
        msg_policy = _str(c.get("terminationMessagePolicy")) or "File"
        if msg_policy not in MESSAGE_POLICIES:
            errs.unsupported(f"{p}.terminationMessagePolicy", msg_policy, MESSAGE_POLICIES)
        elif msg_policy != "File":
            extra["terminationMessagePolicy"] = msg_policy
        ports = self.ports(_list(c.get("ports")), f"{p}.ports")
        env, refs = self.env(_list(c.get("env")), f"{p}.env")
        env_from = self.env_from(_list(c.get("envFrom")), f"{p}.envFrom")
        mounts = self.mounts(_list(c.get("volumeMounts")), f"{p}.volumeMounts")
        pull = _str(c.get("imagePullPolicy")) or default_pull_policy(image)
        if pull not in PULL_POLICIES:
            errs.unsupported(f"{p}.imagePullPolicy", pull, PULL_POLICIES)
        resources, wire_resources = self.resources(_dict(c.get("resources")), f"{p}.resources")
        if wire_resources:
            extra["resources"] = wire_resources
        if name and name in names:
            errs.duplicate(f"{p}.name", name)
        names.add(name)
        probes = Probes(Liveness=self.probe(c.get("livenessProbe"), f"{p}.livenessProbe", liveness=True),
                        Readiness=self.probe(c.get("readinessProbe"), f"{p}.readinessProbe"),
                        Startup=self.probe(c.get("startupProbe"), f"{p}.startupProbe", liveness=True))
        sc = _dict(c.get("securityContext"))
        if sc:
            extra["securityContext"] = sc
        caps = _dict(sc.get("capabilities"))
        uid = _opt_int(sc.get("runAsUser"))
        gid = _opt_int(sc.get("runAsGroup"))
        uid = pod_user[0] if uid is None else uid
        gid = pod_user[1] if gid is None else gid
        user = "" if uid is None else str(uid) if gid is None else f"{uid}:{gid}"
        pod = PodContainer(EnvRefs=refs, EnvFrom=env_from, VolumeMounts=mounts, Ports=ports, ImagePullPolicy=pull,
                           Probes=probes if (probes.Liveness or probes.Readiness or probes.Startup) else None,
                           Privileged=sc.get("privileged") is True,
                           TerminationMessagePath=_str(c.get("terminationMessagePath")) or TERMINATION_LOG,
                           StdinOnce=c.get("stdinOnce") is True)
        spec = ContainerSpec(Name=name, Image=image, Command=_str_list(c.get("command")),
                             Args=_str_list(c.get("args")), Env=env, Dir=_str(c.get("workingDir")), User=user,
                             TTY=c.get("tty") is True, OpenStdin=c.get("stdin") is True,
                             ReadOnly=sc.get("readOnlyRootFilesystem") is True,
                             StopGracePeriod=grace * SECOND, CapabilityAdd=_str_list(caps.get("add")),
                             CapabilityDrop=_str_list(caps.get("drop")), Resources=resources, Pod=pod)
        return spec, extra

    def ports(self, items: list[Any], path: str) -> list[ContainerPort] | None:
        out = []
        seen: set[str] = set()
        for i, x in enumerate(items):
            x = _dict(x)
            p = f"{path}[{i}]"
            name = _str(x.get("name"))
            if name:
                for m in _port_name(name):
                    self.errs.invalid(f"{p}.name", name, m)
                if name in seen:
                    self.errs.duplicate(f"{p}.name", name)
                seen.add(name)
            port = _int(x.get("containerPort"))
            if port == 0:
                self.errs.required(f"{p}.containerPort")
            elif not 0 < port < 65536:
                self.errs.invalid(f"{p}.containerPort", port, "must be between 1 and 65535, inclusive")
            host_port = _int(x.get("hostPort"))
            if host_port and not 0 < host_port < 65536:
                self.errs.invalid(f"{p}.hostPort", host_port, "must be between 1 and 65535, inclusive")
            proto = _str(x.get("protocol")) or "TCP"
            if proto not in PROTOCOLS:
                self.errs.unsupported(f"{p}.protocol", proto, PROTOCOLS)
            out.append(ContainerPort(Name=name, ContainerPort=port, Protocol=proto, HostPort=host_port,
                                     HostIP=_str(x.get("hostIP"))))
        return out or None

    def env(self, items: list[Any], path: str) -> tuple[list[str] | None, list[EnvVarRef] | None]:
        plain: list[str] = []
        refs: list[EnvVarRef] = []
        for i, x in enumerate(items):
            x = _dict(x)
            p = f"{path}[{i}]"
            name = _str(x.get("name"))
            if not name:
                self.errs.required(f"{p}.name")
            elif "=" in name or not all(32 <= ord(ch) < 127 for ch in name):
                self.errs.invalid(f"{p}.name", name, _ENV_NAME_MSG)
            src = x.get("valueFrom")
            if isinstance(src, dict):
                if _str(x.get("value")):
                    self.errs.invalid(f"{p}.valueFrom", "", "may not be specified when `value` is not empty")
                ref = EnvVarRef(Name=name, FieldRef=self._field_ref(src.get("fieldRef")),
                                ResourceFieldRef=self._resource_ref(src.get("resourceFieldRef")),
                                SecretKeyRef=self._key_ref(src.get("secretKeyRef")),
                                ConfigMapKeyRef=self._key_ref(src.get("configMapKeyRef")))
                given = sum(r is not None for r in (ref.FieldRef, ref.ResourceFieldRef, ref.SecretKeyRef,
                                                    ref.ConfigMapKeyRef))
                if given != 1:
                    self.errs.invalid(f"{p}.valueFrom", "", "must specify one of: `fieldRef`, `resourceFieldRef`, "
                                      "`configMapKeyRef` or `secretKeyRef`" if given == 0 else
                                      "may not have more than one field specified at a time")
                refs.append(ref)
            else:
                plain.append(f"{name}={_str(x.get('value'))}")
        return plain or None, refs or None

    @staticmethod
    def _key_ref(v: object) -> KeyRef | None:
        if not isinstance(v, dict):
            return None
        return KeyRef(Name=_str(v.get("name")), Key=_str(v.get("key")), Optional=_opt_bool(v.get("optional")))

    def env_from(self, items: list[Any], path: str) -> list[EnvFromSource] | None:
        out = []
        for i, x in enumerate(items):
            x = _dict(x)
            cm, sec = _dict(x.get("configMapRef")), _dict(x.get("secretRef"))
            if bool(cm) == bool(sec):
                self.errs.invalid(f"{path}[{i}]", "", "must specify one of: `configMapRef` or `secretRef`"
                                  if not cm else "may not have more than one field specified at a time")
            ref = cm or sec
            out.append(EnvFromSource(Prefix=_str(x.get("prefix")), ConfigMapName=_str(cm.get("name")),
                                     SecretName=_str(sec.get("name")), Optional=_opt_bool(ref.get("optional"))))
        return out or None

    def mounts(self, items: list[Any], path: str) -> list[VolumeMount] | None:
        out = []
        seen: set[str] = set()
        for i, x in enumerate(items):
            x = _dict(x)
            p = f"{path}[{i}]"
            name, target = _str(x.get("name")), _str(x.get("mountPath"))
            if not name:
                self.errs.required(f"{p}.name")
            if name not in self.volume_names:
                self.errs.not_found(f"{p}.name", name)
            if not target:
                self.errs.required(f"{p}.mountPath")
            elif target in seen:
                self.errs.invalid(f"{p}.mountPath", target, "must be unique")
            seen.add(target)
            out.append(VolumeMount(Name=name, MountPath=target, ReadOnly=x.get("readOnly") is True,
                                   SubPath=_str(x.get("subPath"))))
        return out or None

    def resources(self, res: Mapping[str, Any], path: str) -> tuple[ResourceRequirements | None, dict[str, Any]]:
        """The container's limits and requests (requests default to the limits), and their JSON so."""
        limits, requests = _dict(res.get("limits")), dict(_dict(res.get("requests")))
        for k, v in limits.items():
            requests.setdefault(k, v)
        sides: dict[str, dict[str, int]] = {}
        extended: dict[str, int] = {}  # requests of extended resources (``example.com/gpu``)
        for side, values in (("limits", limits), ("requests", requests)):
            got = sides[side] = {}
            for k in sorted(values):
                p = f"{path}.{side}[{k}]"
                if not (k in _STANDARD_CONTAINER_RESOURCES or k.startswith("hugepages-") or
                        ("/" in k and not qualified_name(k) and "kubernetes.io/" not in k)):
                    self.errs.invalid(p, k, "must be a standard resource for containers")
                    continue
                if k in ("cpu", "memory"):
                    got[k] = self._quantity(values[k], p, cpu=k == "cpu")
                elif side == "requests" and kube_extended.is_extended(k):
                    extended[k] = self._quantity(values[k], p)
                else:
                    self._quantity(values[k], p)
        for k, req in sides["requests"].items():
            lim = sides["limits"].get(k)
            if lim is not None and req > lim:
                self.errs.invalid(f"{path}.requests", str(requests[k]),
                                  f"must be less than or equal to {k} limit of {limits[k]}")

        def core(side: dict[str, int]) -> Resources | None:
            if not side:
                return None
            return Resources(NanoCPUs=side.get("cpu", 0), MemoryBytes=side.get("memory", 0))

        lim_r, req_r = core(sides["limits"]), core(sides["requests"])
        if extended:
            req_r = kube_extended.with_extended(req_r, extended)
        reqs = None if lim_r is None and req_r is None else ResourceRequirements(Limits=lim_r, Reservations=req_r)
        wire: dict[str, Any] = {k: v for k, v in res.items() if k not in ("limits", "requests") and not _unset(v)}
        if limits:
            wire["limits"] = limits
        if requests:
            wire["requests"] = requests
        return reqs, wire

    def probe(self, v: object, path: str, *, liveness: bool = False) -> Probe | None:
        if not isinstance(v, dict) or not v:
            return None
        handlers = [k for k in ("exec", "httpGet", "tcpSocket", "grpc") if isinstance(v.get(k), dict)]
        if not handlers:
            self.errs.required(path, "must specify a handler type")
        elif len(handlers) > 1:
            self.errs.forbidden(f"{path}.{handlers[1]}", "may not specify more than 1 handler type")
        probe = Probe(InitialDelaySeconds=_int(v.get("initialDelaySeconds")),
                      TimeoutSeconds=_int(v.get("timeoutSeconds")) or 1,
                      PeriodSeconds=_int(v.get("periodSeconds")) or 10,
                      SuccessThreshold=_int(v.get("successThreshold")) or 1,
                      FailureThreshold=_int(v.get("failureThreshold")) or 3,
                      TerminationGracePeriodSeconds=_opt_int(v.get("terminationGracePeriodSeconds")))
        if liveness and probe.SuccessThreshold != 1:
            self.errs.invalid(f"{path}.successThreshold", probe.SuccessThreshold, "must be 1")
        grace = probe.TerminationGracePeriodSeconds
        if grace is not None and not liveness:
            self.errs.invalid(f"{path}.terminationGracePeriodSeconds", grace, "must not be set for readinessProbes")
        elif grace is not None and grace <= 0:
            self.errs.invalid(f"{path}.terminationGracePeriodSeconds", grace, "must be greater than 0")
        for k in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
            if _int(v.get(k)) < 0:
                self.errs.invalid(f"{path}.{k}", _int(v.get(k)), "must be greater than or equal to 0")
        if "exec" in handlers:
            probe.Exec = _str_list(_dict(v["exec"]).get("command")) or []
            if not probe.Exec:
                self.errs.required(f"{path}.exec.command")
        scheme = _str(_dict(v.get("httpGet")).get("scheme")) if "httpGet" in handlers else ""
        if scheme and scheme not in ("HTTP", "HTTPS"):
            self.errs.unsupported(f"{path}.httpGet.scheme", scheme, ("HTTP", "HTTPS"))
        for k in ("httpGet", "tcpSocket", "grpc"):
            if k in handlers:
                self.probe_port(_dict(v[k]).get("port"), f"{path}.{k}.port", named=k != "grpc")
        if "httpGet" in handlers:
            h = _dict(v["httpGet"])
            probe.HTTPGet = HTTPGetAction(
                Path=_str(h.get("path")) or "/", Port=_port_value(h.get("port")), Host=_str(h.get("host")),
                Scheme=_str(h.get("scheme")) or "HTTP",
                HTTPHeaders=[HTTPHeader(Name=_str(_dict(x).get("name")), Value=_str(_dict(x).get("value")))
                             for x in _list(h.get("httpHeaders"))] or None)
        if "tcpSocket" in handlers:
            probe.TCPSocket = _port_value(_dict(v["tcpSocket"]).get("port"))
        if "grpc" in handlers:
            g = _dict(v["grpc"])
            probe.GRPC, probe.GRPCService = _int(g.get("port")), _str(g.get("service"))
        return probe

    def probe_port(self, port: object, path: str, *, named: bool) -> None:
        """A probe's port as the API server checks it: a number in range, or a port's name (IANA)."""
        if isinstance(port, str) and named:
            for bad, why in ((len(port) > 15, "must be no more than 15 characters"),
                             (not re.fullmatch(r"[-a-z0-9]*", port),
                              "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"),
                             (not re.search(r"[a-z]", port), "must contain at least one letter (a-z)"),
                             ("--" in port, "must not contain consecutive hyphens"),
                             (port.startswith("-") or port.endswith("-"), "must not begin or end with a hyphen")):
                if bad:
                    self.errs.invalid(path, port, why)
            return
        n = port if isinstance(port, int) and not isinstance(port, bool) else None
        if n is None or not 1 <= n <= 65535:
            self.errs.invalid(path, port if port is not None else 0, "must be between 1 and 65535, inclusive")

    # ------------------------------------------------------------ tolerations

    def tolerations(self, items: list[Any], path: str) -> list[Toleration]:
        out = []
        for i, x in enumerate(items):
            x = _dict(x)
            p = f"{path}[{i}]"
            key, op, value, effect = (_str(x.get("key")), _str(x.get("operator")), _str(x.get("value")),
                                      _str(x.get("effect")))
            secs = _opt_int(x.get("tolerationSeconds"))
            if key:
                for m in qualified_name(key):
                    self.errs.invalid(f"{p}.key", key, m)
            if not key and op != EXISTS:
                self.errs.invalid(f"{p}.operator", op, "operator must be Exists when `key` is empty, which means "
                                  '"match all values and all keys"')
            if secs is not None and effect != NO_EXECUTE:
                self.errs.invalid(f"{p}.effect", effect, "effect must be 'NoExecute' when `tolerationSeconds` is set")
            if op in ("", "Equal"):
                bad = label_value(value)
                if bad:
                    self.errs.invalid(f"{p}.operator", value, ";".join(bad))
            elif op == EXISTS:
                if value:
                    self.errs.invalid(f"{p}.operator", _GoValue(_go_toleration(key, op, value, effect, secs)),
                                      "value must be empty when `operator` is 'Exists'")
            else:
                self.errs.unsupported(f"{p}.operator", op, OPERATORS)
            if effect and effect not in EFFECTS:
                self.errs.unsupported(f"{p}.effect", effect, (NO_SCHEDULE, "PreferNoSchedule", NO_EXECUTE))
            out.append(Toleration(Key=key, Operator=op, Value=value, Effect=effect, TolerationSeconds=secs))
        return out


def _go_toleration(key: str, op: str, value: str, effect: str, secs: int | None) -> str:
    """A toleration as the API server prints one in an error (Go's ``%#v`` of its internal type)."""
    seconds = "nil" if secs is None else str(secs)
    return (f"core.Toleration{{Key:{json.dumps(key)}, Operator:{json.dumps(op)}, Value:{json.dumps(value)}, "
            f"Effect:{json.dumps(effect)}, TolerationSeconds:(*int64)({seconds})}}")


def _max(a: Resources | None, b: Resources | None) -> Resources | None:
    if a is None or b is None:
        return a if b is None else b
    return Resources(NanoCPUs=max(a.NanoCPUs, b.NanoCPUs), MemoryBytes=max(a.MemoryBytes, b.MemoryBytes))


def pod_resources(containers: list[ContainerSpec], inits: list[ContainerSpec]) -> ResourceRequirements | None:
    """A Pod's requirements as the scheduler counts them (Kubernetes' effective request): its app
    containers' sum (``summed``), or an init container's own if that is more (they run one at a time,
    before the app containers)."""
    out = summed(containers)
    for c in inits:
        r = c.Resources
        if r is None:
            continue
        if out is None:
            out = ResourceRequirements(Limits=r.Limits, Reservations=r.Reservations)
        else:
            out = ResourceRequirements(Limits=_max(out.Limits, r.Limits), Reservations=_max(out.Reservations,
                                                                                            r.Reservations))
    return out


MAX_DNS_NAMESERVERS, MAX_DNS_SEARCHES, MAX_DNS_SEARCH_CHARS = 3, 32, 2048


def _validate_dns_config(errs: _Errors, policy: str, raw: object, path: str) -> None:
    """``spec.dnsConfig`` as the API server validates it (``validatePodDNSConfig``)."""
    cfg = _dict(raw)
    if policy == "None":
        if raw is None:
            errs.required(path, "must provide `dnsConfig` when `dnsPolicy` is None")
            return
        if not _str_list(cfg.get("nameservers")):
            errs.required(f"{path}.nameservers", "must provide at least one DNS nameserver when `dnsPolicy` is None")
            return
    if raw is None:
        return
    servers = _str_list(cfg.get("nameservers")) or []
    if len(servers) > MAX_DNS_NAMESERVERS:
        errs.invalid(f"{path}.nameservers", servers, f"must not have more than {MAX_DNS_NAMESERVERS} nameservers")
    for i, server in enumerate(servers):
        try:
            ipaddress.ip_address(server)
        except ValueError:
            errs.invalid(f"{path}.nameservers[{i}]", server, _IP_MSG)
    searches = _str_list(cfg.get("searches")) or []
    if len(searches) > MAX_DNS_SEARCHES:
        errs.invalid(f"{path}.searches", searches, f"must not have more than {MAX_DNS_SEARCHES} search paths")
    if len(" ".join(searches)) > MAX_DNS_SEARCH_CHARS:
        errs.invalid(f"{path}.searches", searches,
                     f"must not have more than {MAX_DNS_SEARCH_CHARS} characters (including spaces) in the search list")
    for i, search in enumerate(searches):
        for m in dns1123_subdomain(search.removesuffix(".")):
            errs.invalid(f"{path}.searches[{i}]", search.removesuffix("."), m)
    for i, option in enumerate(_list(cfg.get("options"))):
        if not _str(_dict(option).get("name")):
            errs.required(f"{path}.options[{i}]", "must not be empty")


def task_spec_to_core(spec: Mapping[str, Any], *, name: str, errs: _Errors | None = None,
                      path: str = "spec", admit: bool = True) -> TaskSpec:
    """A Pod spec (or a Pod template's) as the core's TaskSpec, defaulted and validated; the errors
    go to ``errs`` (raised as ``Invalid`` of a Pod named ``name`` when none is given). ``admit``: a
    Pod's, which gets the DefaultTolerationSeconds admission plugin's two tolerations; a template's
    does not (its controller's Pods get them when made, ``KubeObjects``), as in Kubernetes."""
    own = errs is None
    errs = errs or _Errors()
    r = _PodReader(errs)
    vols = r.volumes(_list(spec.get("volumes")), f"{path}.volumes")
    psc = _dict(spec.get("securityContext"))
    pod_user = (_opt_int(psc.get("runAsUser")), _opt_int(psc.get("runAsGroup")))
    grace = _opt_int(spec.get("terminationGracePeriodSeconds"))
    grace = 30 if grace is None else grace
    if grace < 0:
        grace = 1  # the API server turns a negative grace period into 1
    names: set[str] = set()
    raw_containers = _list(spec.get("containers"))
    if not raw_containers:
        errs.required(f"{path}.containers")
    containers, kept_c = r.containers(raw_containers, f"{path}.containers", pod_user=pod_user, grace=grace,
                                      names=names)
    inits, kept_i = r.containers(_list(spec.get("initContainers")), f"{path}.initContainers", pod_user=pod_user,
                                 grace=grace, names=names)
    policy = _str(spec.get("restartPolicy")) or "Always"
    if policy not in RESTART_POLICIES:
        errs.unsupported(f"{path}.restartPolicy", policy, RESTART_POLICIES)
    dns = _str(spec.get("dnsPolicy")) or "ClusterFirst"
    if dns not in DNS_POLICIES:
        errs.unsupported(f"{path}.dnsPolicy", dns, DNS_POLICIES)
    _validate_dns_config(errs, dns, spec.get("dnsConfig"), f"{path}.dnsConfig")
    selector = _str_map(spec.get("nodeSelector"))
    if selector:
        _validate_labels(errs, selector, f"{path}.nodeSelector")
    sa = _str(spec.get("serviceAccountName")) or _str(spec.get("serviceAccount")) or "default"
    for m in dns1123_subdomain(sa):
        errs.invalid(f"{path}.serviceAccountName", sa, m)
    node_name = _str(spec.get("nodeName"))
    for m in dns1123_subdomain(node_name) if node_name else ():
        errs.invalid(f"{path}.nodeName", node_name, m)
    deadline = _opt_int(spec.get("activeDeadlineSeconds"))
    if deadline is not None and not 1 <= deadline <= 2**31 - 1:
        errs.invalid(f"{path}.activeDeadlineSeconds", deadline, "must be between 1 and 2147483647, inclusive")
    hostname, subdomain = _str(spec.get("hostname")), _str(spec.get("subdomain"))
    for field_, v in (("hostname", hostname), ("subdomain", subdomain)):
        for m in dns1123_label(v) if v else ():
            errs.invalid(f"{path}.{field_}", v, m)
    tols = r.tolerations(_list(spec.get("tolerations")), f"{path}.tolerations")
    if admit:
        tols = with_default_tolerations(tols)
    kept = {**r.kept, **_top_kept(spec, _SPEC_HANDLED)}
    if psc:
        kept["securityContext"] = psc
    if spec.get("enableServiceLinks") is False:
        kept["enableServiceLinks"] = False
    if _str(spec.get("preemptionPolicy")) not in ("", "PreemptLowerPriority"):
        kept["preemptionPolicy"] = spec["preemptionPolicy"]
    dns_config = _dict(spec.get("dnsConfig"))
    if dns_config:
        kept["dnsConfig"] = dns_config
    if kept_c:
        kept["containers"] = kept_c
    if kept_i:
        kept["initContainers"] = kept_i
    pull_secrets = [_str(_dict(x).get("name")) for x in _list(spec.get("imagePullSecrets"))]
    extra = PodSpecExtra(
        Volumes=vols, ServiceAccountName=sa,
        AutomountServiceAccountToken=_opt_bool(spec.get("automountServiceAccountToken")),
        ImagePullSecrets=[s for s in pull_secrets if s] or None, NodeSelector=selector, NodeName=node_name,
        DNSPolicy=dns, HostNetwork=spec.get("hostNetwork") is True, Subdomain=subdomain, Hostname=hostname,
        TerminationGracePeriodSeconds=grace, ActiveDeadlineSeconds=deadline,
        SchedulerName=_str(spec.get("schedulerName")) or "default-scheduler", Priority=_int(spec.get("priority")),
        RestartPolicy=policy, RunAsUser=pod_user[0], RunAsGroup=pod_user[1], FSGroup=_opt_int(psc.get("fsGroup")),
        Affinity=kube_affinity.affinity(spec.get("affinity")),
        TopologySpreadConstraints=kube_affinity.spread_constraints(spec.get("topologySpreadConstraints")),
        Kept=kept or None)
    core_dns = None
    if dns_config:
        core_dns = {"Nameservers": _str_list(dns_config.get("nameservers")) or [],
                    "Search": _str_list(dns_config.get("searches")) or [],
                    "Options": [f"{_str(_dict(o).get('name'))}:{_str(_dict(o).get('value'))}"
                                if _dict(o).get("value") is not None else _str(_dict(o).get("name"))
                                for o in _list(dns_config.get("options"))]}
    out = TaskSpec(Containers=containers, InitContainers=inits or None, Resources=pod_resources(containers, inits),
                   RestartPolicy=RestartPolicy(Condition=_CONDITION_OF.get(policy, "any"), Delay=0),
                   Placement=Placement(Tolerations=tols or None), Hostname=hostname or default_hostname(name),
                   DNSConfig=core_dns, Pod=extra)
    if own:
        errs.check("Pod", name)
    return out


def _pod_to_core(obj: Mapping[str, Any], namespace: str) -> Task:
    errs = _Errors()
    meta = _Meta(obj, errs, namespace=namespace, namespaced=True, name_rule=dns1123_subdomain)
    spec = task_spec_to_core(_dict(obj.get("spec")), name=meta.name, errs=errs)
    errs.check("Pod", meta.shown_name)
    t = Task(ID="", Spec=spec, Name=meta.name, Labels=meta.labels)
    _object_base(t, meta)
    return t


# ---------------------------------------------------------------- Pods: the core to JSON


def _key_to_paths(items: list[KeyToPath] | None) -> list[dict[str, Any]] | None:
    if not items:
        return None
    out = []
    for i in items:
        d: dict[str, Any] = {"key": i.Key, "path": i.Path}
        if i.Mode is not None:
            d["mode"] = i.Mode
        out.append(d)
    return out


def _field_ref_wire(f: ObjectFieldRef) -> dict[str, Any]:
    return {"apiVersion": f.APIVersion or "v1", "fieldPath": f.FieldPath}


def _resource_ref_wire(r: ResourceFieldRef) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if r.Container:
        d["containerName"] = r.Container
    d["resource"] = r.Resource
    d["divisor"] = r.Divisor or "0"
    return d


def _secret_volume_wire(s: SecretVolume, key: str = "secretName") -> dict[str, Any]:
    d: dict[str, Any] = {key: s.SecretName}
    items = _key_to_paths(s.Items)
    if items:
        d["items"] = items
    if key == "secretName":
        d["defaultMode"] = s.DefaultMode
    if s.Optional is not None:
        d["optional"] = s.Optional
    return d


def _config_map_volume_wire(c: ConfigMapVolume, projected: bool = False) -> dict[str, Any]:
    d: dict[str, Any] = {"name": c.Name}
    items = _key_to_paths(c.Items)
    if items:
        d["items"] = items
    if not projected:
        d["defaultMode"] = c.DefaultMode
    if c.Optional is not None:
        d["optional"] = c.Optional
    return d


def _downward_wire(v: DownwardAPIVolume, projected: bool = False) -> dict[str, Any]:
    items = []
    for i in v.Items or []:
        d: dict[str, Any] = {"path": i.Path}
        if i.FieldRef is not None:
            d["fieldRef"] = _field_ref_wire(i.FieldRef)
        if i.ResourceFieldRef is not None:
            d["resourceFieldRef"] = _resource_ref_wire(i.ResourceFieldRef)
        if i.Mode is not None:
            d["mode"] = i.Mode
        items.append(d)
    out: dict[str, Any] = {"items": items} if items else {}
    if not projected:
        out["defaultMode"] = v.DefaultMode
    return out


def _volume_wire(v: Volume) -> dict[str, Any]:
    d: dict[str, Any] = {"name": v.Name}
    if v.HostPath is not None:
        d["hostPath"] = {"path": v.HostPath.Path, "type": v.HostPath.Type}
    if v.EmptyDir is not None:
        e: dict[str, Any] = {}
        if v.EmptyDir.Medium:
            e["medium"] = v.EmptyDir.Medium
        if v.EmptyDir.SizeLimit:
            e["sizeLimit"] = format_memory(v.EmptyDir.SizeLimit)
        d["emptyDir"] = e
    if v.Secret is not None:
        d["secret"] = _secret_volume_wire(v.Secret)
    if v.DownwardAPI is not None:
        d["downwardAPI"] = _downward_wire(v.DownwardAPI)
    if v.ConfigMap is not None:
        d["configMap"] = _config_map_volume_wire(v.ConfigMap)
    if v.Projected is not None:
        sources = []
        for s in v.Projected.Sources or []:
            src: dict[str, Any] = {}
            if s.Secret is not None:
                src["secret"] = _secret_volume_wire(s.Secret, key="name")
            if s.DownwardAPI is not None:
                src["downwardAPI"] = _downward_wire(s.DownwardAPI, projected=True)
            if s.ConfigMap is not None:
                src["configMap"] = _config_map_volume_wire(s.ConfigMap, projected=True)
            if s.ServiceAccountToken is not None:
                sat: dict[str, Any] = {}
                if s.ServiceAccountToken.Audience:
                    sat["audience"] = s.ServiceAccountToken.Audience
                sat["expirationSeconds"] = s.ServiceAccountToken.ExpirationSeconds
                sat["path"] = s.ServiceAccountToken.Path
                src["serviceAccountToken"] = sat
            sources.append(src)
        d["projected"] = {"sources": sources, "defaultMode": v.Projected.DefaultMode}
    return d


def _probe_wire(p: Probe) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if p.Exec is not None:
        d["exec"] = {"command": list(p.Exec)}
    if p.HTTPGet is not None:
        h: dict[str, Any] = {"path": p.HTTPGet.Path, "port": p.HTTPGet.Port}
        if p.HTTPGet.Host:
            h["host"] = p.HTTPGet.Host
        h["scheme"] = p.HTTPGet.Scheme
        if p.HTTPGet.HTTPHeaders:
            h["httpHeaders"] = [{"name": x.Name, "value": x.Value} for x in p.HTTPGet.HTTPHeaders]
        d["httpGet"] = h
    if p.TCPSocket is not None:
        d["tcpSocket"] = {"port": p.TCPSocket}
    if p.GRPC is not None:
        d["grpc"] = {"port": p.GRPC, "service": p.GRPCService}
    if p.InitialDelaySeconds:
        d["initialDelaySeconds"] = p.InitialDelaySeconds
    d["timeoutSeconds"] = p.TimeoutSeconds
    d["periodSeconds"] = p.PeriodSeconds
    d["successThreshold"] = p.SuccessThreshold
    d["failureThreshold"] = p.FailureThreshold
    if p.TerminationGracePeriodSeconds is not None:
        d["terminationGracePeriodSeconds"] = p.TerminationGracePeriodSeconds
    return d


def _resources_wire(r: ResourceRequirements | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for side, res in (("limits", r.Limits if r else None), ("requests", r.Reservations if r else None)):
        if res is None:
            continue
        d: dict[str, str] = {}
        if res.NanoCPUs:
            d["cpu"] = format_cpu(res.NanoCPUs)
        if res.MemoryBytes:
            d["memory"] = format_memory(res.MemoryBytes)
        if d:
            out[side] = d
    return out


def _user_parts(user: str) -> tuple[int | None, int | None]:
    uid, _, gid = user.partition(":")
    return (int(uid) if uid.isdigit() else None), (int(gid) if gid.isdigit() else None)


def _container_wire(c: ContainerSpec, extra: Mapping[str, Any], pod: PodSpecExtra) -> dict[str, Any]:
    """One container's JSON in Go's field order: the core's fields, then what was kept of it."""
    pc = c.Pod or PodContainer()
    d: dict[str, Any] = {"name": c.Name, "image": c.Image}
    if c.Command:
        d["command"] = list(c.Command)
    if c.Args:
        d["args"] = list(c.Args)
    if c.Dir:
        d["workingDir"] = c.Dir
    if pc.Ports:
        ports = []
        for p in pc.Ports:
            port: dict[str, Any] = {}
            if p.Name:
                port["name"] = p.Name
            if p.HostPort:
                port["hostPort"] = p.HostPort
            port["containerPort"] = p.ContainerPort
            port["protocol"] = p.Protocol or "TCP"
            if p.HostIP:
                port["hostIP"] = p.HostIP
            ports.append(port)
        d["ports"] = ports
    if pc.EnvFrom:
        env_from = []
        for ef in pc.EnvFrom:
            e: dict[str, Any] = {}
            if ef.Prefix:
                e["prefix"] = ef.Prefix
            ref: dict[str, Any] = {"name": ef.ConfigMapName or ef.SecretName}
            if ef.Optional is not None:
                ref["optional"] = ef.Optional
            e["configMapRef" if ef.ConfigMapName else "secretRef"] = ref
            env_from.append(e)
        d["envFrom"] = env_from
    env: list[dict[str, Any]] = []
    for kv in c.Env or []:
        k, _, v = kv.partition("=")
        env.append({"name": k, "value": v} if v else {"name": k})
    for r in pc.EnvRefs or []:
        src: dict[str, Any] = {}
        if r.FieldRef is not None:
            src["fieldRef"] = _field_ref_wire(r.FieldRef)
        if r.ResourceFieldRef is not None:
            src["resourceFieldRef"] = _resource_ref_wire(r.ResourceFieldRef)
        for key, kr in (("configMapKeyRef", r.ConfigMapKeyRef), ("secretKeyRef", r.SecretKeyRef)):
            if kr is not None:
                kd: dict[str, Any] = {"name": kr.Name, "key": kr.Key}
                if kr.Optional is not None:
                    kd["optional"] = kr.Optional
                src[key] = kd
        env.append({"name": r.Name, "valueFrom": src})
    if env:
        d["env"] = env
    d["resources"] = extra.get("resources", _resources_wire(c.Resources))
    for key in ("resizePolicy", "restartPolicy"):
        if key in extra:
            d[key] = extra[key]
    if pc.VolumeMounts:
        mounts = []
        for m in pc.VolumeMounts:
            md: dict[str, Any] = {"name": m.Name}
            if m.ReadOnly:
                md["readOnly"] = True
            md["mountPath"] = m.MountPath
            if m.SubPath:
                md["subPath"] = m.SubPath
            mounts.append(md)
        d["volumeMounts"] = mounts
    if "volumeDevices" in extra:
        d["volumeDevices"] = extra["volumeDevices"]
    probes = pc.Probes or Probes()
    for key, pr in (("livenessProbe", probes.Liveness), ("readinessProbe", probes.Readiness),
                    ("startupProbe", probes.Startup)):
        if pr is not None:
            d[key] = _probe_wire(pr)
    if "lifecycle" in extra:
        d["lifecycle"] = extra["lifecycle"]
    d["terminationMessagePath"] = pc.TerminationMessagePath or TERMINATION_LOG
    d["terminationMessagePolicy"] = extra.get("terminationMessagePolicy", "File")
    d["imagePullPolicy"] = pc.ImagePullPolicy or default_pull_policy(c.Image)
    sc = extra.get("securityContext")
    if sc is None:
        built: dict[str, Any] = {}
        if c.CapabilityAdd or c.CapabilityDrop:
            caps: dict[str, Any] = {}
            if c.CapabilityAdd:
                caps["add"] = list(c.CapabilityAdd)
            if c.CapabilityDrop:
                caps["drop"] = list(c.CapabilityDrop)
            built["capabilities"] = caps
        if pc.Privileged:
            built["privileged"] = True
        uid, gid = _user_parts(c.User)
        if uid is not None and uid != pod.RunAsUser:
            built["runAsUser"] = uid
        if gid is not None and gid != pod.RunAsGroup:
            built["runAsGroup"] = gid
        if c.ReadOnly:
            built["readOnlyRootFilesystem"] = True
        sc = built or None
    if sc is not None:
        d["securityContext"] = sc
    if c.OpenStdin:
        d["stdin"] = True
    if pc.StdinOnce:
        d["stdinOnce"] = True
    if c.TTY:
        d["tty"] = True
    for k, v in extra.items():
        if k not in d and k not in ("resources", "securityContext", "terminationMessagePolicy"):
            d[k] = v
    return d


def _toleration_wire(t: Toleration) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if t.Key:
        d["key"] = t.Key
    if t.Operator:
        d["operator"] = t.Operator
    if t.Value:
        d["value"] = t.Value
    if t.Effect:
        d["effect"] = t.Effect
    if t.TolerationSeconds is not None:
        d["tolerationSeconds"] = t.TolerationSeconds
    return d


def task_spec_to_wire(spec: TaskSpec, *, name: str = "", node_name: str = "") -> dict[str, Any]:
    """A Pod's (or Pod template's) spec as Kubernetes JSON, in Go's field order."""
    pod = spec.Pod or PodSpecExtra()
    kept = dict(pod.Kept or {})
    kept_c = _dict(kept.pop("containers", None))
    kept_i = _dict(kept.pop("initContainers", None))
    kept_vols = _list(kept.pop("volumes", None))
    kept.pop("ownerReferences", None)
    d: dict[str, Any] = {}
    vols = [_volume_wire(v) for v in pod.Volumes or []] + kept_vols
    if vols:
        d["volumes"] = vols
    if spec.InitContainers:
        d["initContainers"] = [_container_wire(c, _dict(kept_i.get(c.Name)), pod) for c in spec.InitContainers]
    d["containers"] = [_container_wire(c, _dict(kept_c.get(c.Name)), pod) for c in spec.Containers]
    if "ephemeralContainers" in kept:
        d["ephemeralContainers"] = kept.pop("ephemeralContainers")
    cond = spec.RestartPolicy.Condition if spec.RestartPolicy is not None else None
    d["restartPolicy"] = pod.RestartPolicy or _POLICY_OF.get(cond or "any", "Always")
    d["terminationGracePeriodSeconds"] = pod.TerminationGracePeriodSeconds
    if pod.ActiveDeadlineSeconds is not None:
        d["activeDeadlineSeconds"] = pod.ActiveDeadlineSeconds
    d["dnsPolicy"] = pod.DNSPolicy or "ClusterFirst"
    if pod.NodeSelector:
        d["nodeSelector"] = _sorted(pod.NodeSelector)
    sa = pod.ServiceAccountName or "default"
    d["serviceAccountName"] = sa
    d["serviceAccount"] = sa
    if pod.AutomountServiceAccountToken is not None:
        d["automountServiceAccountToken"] = pod.AutomountServiceAccountToken
    if node_name or pod.NodeName:
        d["nodeName"] = node_name or pod.NodeName
    if pod.HostNetwork:
        d["hostNetwork"] = True
    for key in ("hostPID", "hostIPC", "shareProcessNamespace"):
        if key in kept:
            d[key] = kept.pop(key)
    psc = _dict(kept.pop("securityContext", None)) if "securityContext" in kept else None
    if psc is None:
        psc = {}
        if pod.RunAsUser is not None:
            psc["runAsUser"] = pod.RunAsUser
        if pod.RunAsGroup is not None:
            psc["runAsGroup"] = pod.RunAsGroup
        if pod.FSGroup is not None:
            psc["fsGroup"] = pod.FSGroup
    d["securityContext"] = psc
    if pod.ImagePullSecrets:
        d["imagePullSecrets"] = [{"name": s} for s in pod.ImagePullSecrets]
    if pod.Hostname or (spec.Hostname and spec.Hostname != default_hostname(name)):
        d["hostname"] = pod.Hostname or spec.Hostname
    if pod.Subdomain:
        d["subdomain"] = pod.Subdomain
    shown_affinity = kube_affinity.affinity_wire(kept.pop("affinity", None), pod.Affinity)
    if shown_affinity is not None:
        d["affinity"] = shown_affinity
    d["schedulerName"] = pod.SchedulerName or "default-scheduler"
    tols = spec.Placement.Tolerations if spec.Placement is not None else None
    if tols:
        d["tolerations"] = [_toleration_wire(t) for t in tols]
    for key in ("hostAliases", "priorityClassName"):
        if key in kept:
            d[key] = kept.pop(key)
    d["priority"] = pod.Priority
    for key in ("dnsConfig", "readinessGates", "runtimeClassName"):
        if key in kept:
            d[key] = kept.pop(key)
    d["enableServiceLinks"] = kept.pop("enableServiceLinks", True)
    d["preemptionPolicy"] = kept.pop("preemptionPolicy", "PreemptLowerPriority")
    d.update(kept)
    return d


# ---------------------------------------------------------------- Pods: the status, from the task


def qos_class(spec: TaskSpec) -> str:
    """Kubernetes' QoS class of a Pod (``GetPodQOS``): Guaranteed when every container has cpu and memory
    limits and the requests equal them, BestEffort when none has any, else Burstable."""
    requests: dict[str, int] = {}
    limits: dict[str, int] = {}
    guaranteed = True
    for c in [*(spec.InitContainers or []), *spec.Containers]:
        r = c.Resources or ResourceRequirements()
        for side, res in ((requests, r.Reservations), (limits, r.Limits)):
            if res is None:
                continue
            for k, v in (("cpu", res.NanoCPUs), ("memory", res.MemoryBytes)):
                if v:
                    side[k] = side.get(k, 0) + v
        lim = r.Limits or Resources()
        if not (lim.NanoCPUs and lim.MemoryBytes):
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and requests == limits:
        return "Guaranteed"
    return "Burstable"



def _condition(kind: str, ok: bool, when: str | None, reason: str = "", message: str = "") -> dict[str, Any]:
    d: dict[str, Any] = {"type": kind, "status": "True" if ok else "False", "lastProbeTime": None,
                         "lastTransitionTime": when}
    if reason:
        d["reason"] = reason
    if message:
        d["message"] = message
    return d


def _container_id(cid: str) -> str:
    return cid if not cid or "://" in cid else f"{RUNTIME_SCHEME}://{cid}"


def _terminated(exit_code: int, reason: str, message: str, started: str, finished: str, cid: str) -> dict[str, Any]:
    d: dict[str, Any] = {"exitCode": exit_code, "reason": reason or ("Completed" if exit_code == 0 else "Error")}
    if message:
        d["message"] = message
    d["startedAt"] = _ts(started)
    d["finishedAt"] = _ts(finished)
    if cid:
        d["containerID"] = _container_id(cid)
    return d


def _container_status(spec: ContainerSpec, cs: ContainerStatus | None, t: Task, *,
                      waiting_reason: str) -> dict[str, Any]:
    """One container's status (Kubernetes' ``ContainerStatus``) from the node's report."""
    state: dict[str, Any]
    running = False
    last: dict[str, Any] = {}
    if cs is None:
        reason, message = waiting_reason, ""
        if t.Status.State in (TaskState.FAILED, TaskState.REJECTED) and t.Status.Err:
            err = t.Status.Err.lower()
            reason = "ErrImagePull" if "image" in err or "pull" in err else "CreateContainerError"
            message = t.Status.Err
        w: dict[str, Any] = {"reason": reason}
        if message:
            w["message"] = message
        state = {"waiting": w}
        cs = ContainerStatus(Name=spec.Name)
    else:
        kind = cs.State or ("running" if cs.ContainerID and t.Status.State == TaskState.RUNNING else "waiting")
        if kind == "running":
            running = True
            state = {"running": {"startedAt": _ts(cs.StartedAt or t.Status.StartedAt)}}
        elif kind == "terminated":
            state = {"terminated": _terminated(cs.ExitCode, cs.Reason, cs.Message, cs.StartedAt, cs.FinishedAt,
                                               cs.ContainerID)}
        else:
            reason = cs.Reason or ("CrashLoopBackOff" if cs.RestartCount else waiting_reason)
            message = cs.Message
            if reason == "Pulling":  # the kubelet's event, not a state: the Pod is still being made
                reason, message = waiting_reason, ""
            w = {"reason": reason}
            if not message and reason == "CrashLoopBackOff":
                message = (f"back-off restarting failed container={spec.Name} pod={t.Name}_{t.Namespace}"
                           f"({t.ID})")
            if message:
                w["message"] = message
            state = {"waiting": w}
        if cs.LastState is not None:
            ls = cs.LastState
            last = {"terminated": _terminated(ls.ExitCode, ls.Reason, "", ls.StartedAt, ls.FinishedAt,
                                              ls.ContainerID)}
        elif kind == "waiting" and cs.RestartCount and cs.ContainerID:
            last = {"terminated": _terminated(cs.ExitCode, "", "", cs.StartedAt, cs.FinishedAt, cs.ContainerID)}
    d: dict[str, Any] = {"name": spec.Name, "state": state, "lastState": last,
                         "ready": bool(cs.Ready and running and t.Status.State == TaskState.RUNNING),
                         "restartCount": cs.RestartCount, "image": cs.Image or spec.Image, "imageID": cs.ImageID}
    if cs.ContainerID:
        d["containerID"] = _container_id(cs.ContainerID)
    d["started"] = running and cs.Started is not False  # a startup probe not passed yet: False
    return d


def _completed(cs: ContainerStatus | None) -> bool:
    return cs is not None and cs.State == "terminated" and cs.ExitCode == 0


def _pod_status(t: Task, node_addr: str) -> dict[str, Any]:
    """A Pod's status derived from its task (see ``pod_phase``, and Kubernetes' condition words)."""
    st = t.Status
    phase = pod_phase(t)
    d: dict[str, Any] = {"phase": phase}
    created, changed = _ts(t.CreatedAt), _ts(st.Timestamp) or _ts(t.CreatedAt)
    started = _ts(st.StartedAt) or changed
    on_node = bool(t.NodeID) and st.State >= TaskState.ASSIGNED
    conds: list[dict[str, Any]] = []
    inits = t.Spec.InitContainers or []
    init_status = {c.Name: c for c in st.InitContainers or []}
    # (a node may list the init containers' among the task's containers too: only the app containers' count)
    apps = {c.Name for c in t.Spec.Containers}
    app_status = {c.Name: c for c in st.Containers or [] if c.Name in apps}
    done = st.State.terminal and phase in ("Succeeded", "Failed")
    # the init containers are done once an app container has been started
    apps_started = st.State == TaskState.RUNNING or any(c.ContainerID or c.State in ("running", "terminated")
                                                        for c in app_status.values())
    if on_node:
        sandbox = TaskState.STARTING <= st.State <= TaskState.RUNNING
        conds.append(_condition("PodReadyToStartContainers", sandbox, started))
        incomplete = [c.Name for c in inits if not _completed(init_status.get(c.Name))]
        initialized = not incomplete or apps_started
        conds.append(_condition("Initialized", initialized, started, *(
            () if initialized else ("ContainersNotInitialized", f"containers with incomplete status: "
                                                                 f"[{' '.join(incomplete)}]"))))
        unready = [c.Name for c in t.Spec.Containers
                   if not ((s := app_status.get(c.Name)) is not None and s.Ready and s.State in ("running", ""))]
        ready = st.State == TaskState.RUNNING and not unready
        if ready:
            why: tuple[str, ...] = ()
        elif done:
            why = ("PodCompleted",)
        else:
            why = ("ContainersNotReady", f"containers with unready status: [{' '.join(unready)}]")
        conds.append(_condition("Ready", ready, changed, *why))
        conds.append(_condition("ContainersReady", ready, changed, *why))
        conds.append(_condition("PodScheduled", True, created))
    elif not st.State.terminal and st.Err:
        conds.append(_condition("PodScheduled", False, changed, "Unschedulable", st.Err))
    if conds:
        d["conditions"] = conds
    if phase == "Failed" and st.Err and not on_node:
        d["message"] = st.Err
    if on_node and node_addr:
        d["hostIP"] = node_addr
        d["hostIPs"] = [{"ip": node_addr}]
    addrs = [a.split("/")[0] for a in st.Addresses or [] if a]
    if addrs and on_node:  # allocated before it is placed, shown once its node has it (as the kubelet does)
        d["podIP"] = addrs[0]
        d["podIPs"] = [{"ip": a} for a in addrs]
    if on_node and st.StartedAt:
        d["startTime"] = _ts(st.StartedAt)
    if on_node:
        inits_ok = all(_completed(init_status.get(c.Name)) for c in inits) or apps_started
        if inits:
            d["initContainerStatuses"] = [_container_status(c, init_status.get(c.Name), t,
                                                            waiting_reason="PodInitializing") for c in inits]
        d["containerStatuses"] = [_container_status(c, app_status.get(c.Name), t,
                                                    waiting_reason="ContainerCreating" if inits_ok else
                                                    "PodInitializing")
                                  for c in t.Spec.Containers]
    d["qosClass"] = qos_class(t.Spec)
    return d


def _pod_to_wire(t: Task, node_name: Callable[[str], str] | None, node_addr: Callable[[str], str] | None
                 ) -> dict[str, Any]:
    kept = (t.Spec.Pod.Kept if t.Spec.Pod is not None else None) or {}
    owners = kept.get("ownerReferences")
    name_of_node = (node_name(t.NodeID) if node_name is not None else "") if t.NodeID else ""
    return {"kind": "Pod", "apiVersion": "v1",
            "metadata": _wire_meta(t, name=t.Name, labels=t.Labels, namespaced=True, generation=True,
                                   owner_refs=owners if isinstance(owners, list) else None),
            "spec": task_spec_to_wire(t.Spec, name=t.Name, node_name=name_of_node),
            "status": _pod_status(t, node_addr(t.NodeID) if node_addr is not None and t.NodeID else "")}


# ---------------------------------------------------------------- Secrets and ConfigMaps

SECRET_TYPES_REQUIRED: dict[str, tuple[str, ...]] = {
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
}


def _go_json_error(data: bytes) -> str | None:
    """Why ``data`` is not a JSON object, roughly in Go's ``encoding/json`` words (None: it is one)."""
    text = data.decode(errors="replace")
    if not text.strip():
        return "unexpected end of JSON input"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        if e.pos >= len(text):
            return "unexpected end of JSON input"
        return f"invalid character {text[e.pos]!r} looking for beginning of value"
    if value is None or isinstance(value, dict):
        return None
    go = ("bool" if isinstance(value, bool) else "array" if isinstance(value, list) else
          "string" if isinstance(value, str) else "number")
    return f"json: cannot unmarshal {go} into Go value of type map[string]interface {{}}"


def _secret_to_core(obj: Mapping[str, Any], namespace: str) -> Secret:
    errs = _Errors()
    meta = _Meta(obj, errs, namespace=namespace, namespaced=True, name_rule=dns1123_subdomain)
    items: dict[str, bytes] = {}
    for k, v in _dict(obj.get("data")).items():
        items[str(k)] = _b64decode(v, "Secret") if v is not None else b""
    for k, v in _dict(obj.get("stringData")).items():  # stringData wins over data, as the API server merges
        items[str(k)] = ("" if v is None else str(v)).encode()
    typ = _str(obj.get("type")) or "Opaque"
    total = 0
    for k in sorted(items):
        for m in config_key(k):
            errs.invalid(f"data[{k}]", k, m)
        total += len(items[k])
    if typ == "kubernetes.io/service-account-token":
        if not (meta.annotations or {}).get(SERVICE_ACCOUNT_NAME_ANNOTATION):
            errs.required(f"metadata.annotations[{SERVICE_ACCOUNT_NAME_ANNOTATION}]")
    elif typ == "kubernetes.io/basic-auth":
        if "username" not in items and "password" not in items:
            errs.required("data[username]")
            errs.required("data[password]")
    elif typ == "kubernetes.io/ssh-auth":
        if not items.get("ssh-privatekey"):
            errs.required("data[ssh-privatekey]")
    elif typ in SECRET_TYPES_REQUIRED:
        for key in SECRET_TYPES_REQUIRED[typ]:
            if key not in items:
                errs.required(f"data[{key}]")
        if typ in ("kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg"):
            key = SECRET_TYPES_REQUIRED[typ][0]
            why = _go_json_error(items[key]) if key in items else None
            if why is not None:
                errs.invalid(f"data[{key}]", "<secret contents redacted>", why)
    if total > MAX_SECRET_SIZE:
        errs.too_long("data", MAX_SECRET_SIZE)
    errs.check("Secret", meta.shown_name)
    s = Secret(ID="", Spec=SecretSpec(Name=meta.name, Labels=meta.labels, Type=typ, Items=items,
                                      Immutable=obj.get("immutable") is True),
               Name=meta.name, Labels=meta.labels)
    _object_base(s, meta)
    return s


def _secret_to_wire(s: Secret) -> dict[str, Any]:
    d: dict[str, Any] = {"kind": "Secret", "apiVersion": "v1",
                         "metadata": _wire_meta(s, name=s.Spec.Name or s.Name, labels=s.Spec.Labels or s.Labels,
                                                namespaced=True)}
    if s.Spec.Immutable:
        d["immutable"] = True
    if s.Spec.Items:
        d["data"] = {k: _b64(s.Spec.Items[k]) for k in sorted(s.Spec.Items)}
    d["type"] = s.Spec.Type or "Opaque"
    return d


def _config_map_to_core(obj: Mapping[str, Any], namespace: str) -> Config:
    errs = _Errors()
    meta = _Meta(obj, errs, namespace=namespace, namespaced=True, name_rule=dns1123_subdomain)
    data = {str(k): "" if v is None else str(v) for k, v in _dict(obj.get("data")).items()}
    binary = {str(k): _b64decode(v, "ConfigMap") if v is not None else b""
              for k, v in _dict(obj.get("binaryData")).items()}
    total = 0
    for k in sorted(data):
        for m in config_key(k):
            errs.invalid(f"data[{k}]", k, m)
        if k in binary:
            errs.invalid(f"data[{k}]", k, "duplicate of key present in binaryData")
        total += len(data[k].encode())
    for k in sorted(binary):
        for m in config_key(k):
            errs.invalid(f"binaryData[{k}]", k, m)
        total += len(binary[k])
    if total > MAX_SECRET_SIZE:
        errs.too_long("", MAX_SECRET_SIZE)
    errs.check("ConfigMap", meta.shown_name)
    c = Config(ID="", Spec=ConfigSpec(Name=meta.name, Labels=meta.labels, Items=data or None,
                                      BinaryItems=binary or None, Immutable=obj.get("immutable") is True),
               Name=meta.name, Labels=meta.labels)
    _object_base(c, meta)
    return c


def _config_map_to_wire(c: Config) -> dict[str, Any]:
    d: dict[str, Any] = {"kind": "ConfigMap", "apiVersion": "v1",
                         "metadata": _wire_meta(c, name=c.Spec.Name or c.Name, labels=c.Spec.Labels or c.Labels,
                                                namespaced=True)}
    if c.Spec.Immutable:
        d["immutable"] = True
    if c.Spec.Items:
        d["data"] = _sorted(c.Spec.Items)
    if c.Spec.BinaryItems:
        d["binaryData"] = {k: _b64(c.Spec.BinaryItems[k]) for k in sorted(c.Spec.BinaryItems)}
    return d


# ---------------------------------------------------------------- Namespaces, ServiceAccounts, Events


def _namespace_to_core(obj: Mapping[str, Any]) -> Namespace:
    errs = _Errors()
    meta = _Meta(obj, errs, namespace="", namespaced=False, name_rule=dns1123_label)
    errs.check("Namespace", meta.shown_name)
    labels = dict(meta.labels or {})
    if meta.name:
        labels[NAMESPACE_NAME_LABEL] = meta.name  # the API server's default, kept equal to the name
    ns = Namespace(ID="", Name=meta.name, Labels=labels or None)
    _object_base(ns, meta)
    return ns


def _namespace_to_wire(ns: Namespace) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": ns.Phase or ACTIVE}
    return {"kind": "Namespace", "apiVersion": "v1",
            "metadata": _wire_meta(ns, name=ns.Name, labels=ns.Labels, namespaced=False),
            "spec": {"finalizers": ["kubernetes"]}, "status": status}


def _names_of(items: object) -> list[str] | None:
    return [n for x in _list(items) if (n := _str(_dict(x).get("name")))] or None


def _service_account_to_core(obj: Mapping[str, Any], namespace: str) -> ServiceAccount:
    errs = _Errors()
    meta = _Meta(obj, errs, namespace=namespace, namespaced=True, name_rule=dns1123_subdomain)
    errs.check("ServiceAccount", meta.shown_name)
    sa = ServiceAccount(ID="", Name=meta.name, Labels=meta.labels, Secrets=_names_of(obj.get("secrets")),
                        ImagePullSecrets=_names_of(obj.get("imagePullSecrets")),
                        AutomountServiceAccountToken=_opt_bool(obj.get("automountServiceAccountToken")))
    _object_base(sa, meta)
    return sa


def _service_account_to_wire(sa: ServiceAccount) -> dict[str, Any]:
    d: dict[str, Any] = {"kind": "ServiceAccount", "apiVersion": "v1",
                         "metadata": _wire_meta(sa, name=sa.Name, labels=sa.Labels, namespaced=True)}
    if sa.Secrets:
        d["secrets"] = [{"name": n} for n in sa.Secrets]
    if sa.ImagePullSecrets:
        d["imagePullSecrets"] = [{"name": n} for n in sa.ImagePullSecrets]
    if sa.AutomountServiceAccountToken is not None:
        d["automountServiceAccountToken"] = sa.AutomountServiceAccountToken
    return d


EVENT_TYPES = ("Normal", "Warning")


def _event_to_core(obj: Mapping[str, Any], namespace: str) -> Event:
    errs = _Errors()
    meta = _Meta(obj, errs, namespace=namespace, namespaced=True, name_rule=dns1123_subdomain)
    io = _dict(obj.get("involvedObject"))
    involved = InvolvedObject(Kind=_str(io.get("kind")), Namespace=_str(io.get("namespace")),
                              Name=_str(io.get("name")), ID=_str(io.get("uid")),
                              APIVersion=_str(io.get("apiVersion")), FieldPath=_str(io.get("fieldPath")))
    if involved.Namespace and meta.namespace and involved.Namespace != meta.namespace:
        errs.invalid("involvedObject.namespace", involved.Namespace, "does not match event.namespace")
    typ = _str(obj.get("type")) or "Normal"
    if typ not in EVENT_TYPES:
        errs.unsupported("type", typ, EVENT_TYPES)
    src = _dict(obj.get("source"))
    if not _str(obj.get("reason")):
        errs.required("reason")
    errs.check("Event", meta.shown_name)
    first = _str(obj.get("firstTimestamp")) or _str(obj.get("eventTime"))
    ev = Event(ID="", Name=meta.name, Labels=meta.labels, InvolvedObject=involved, Reason=_str(obj.get("reason")),
               Message=_str(obj.get("message")), Type=typ,
               Source=EventSource(Component=_str(src.get("component")) or _str(obj.get("reportingComponent")),
                                  Host=_str(src.get("host"))),
               Count=_int(obj.get("count")) or 1, FirstTimestamp=first,
               LastTimestamp=_str(obj.get("lastTimestamp")) or first)
    _object_base(ev, meta)
    return ev


def _event_to_wire(ev: Event) -> dict[str, Any]:
    io = ev.InvolvedObject
    involved: dict[str, Any] = {"kind": io.Kind}
    if io.Namespace:
        involved["namespace"] = io.Namespace
    involved["name"] = io.Name
    if io.ID:
        involved["uid"] = io.ID
    if io.APIVersion:
        involved["apiVersion"] = io.APIVersion
    if io.FieldPath:
        involved["fieldPath"] = io.FieldPath
    source: dict[str, Any] = {}
    if ev.Source.Component:
        source["component"] = ev.Source.Component
    if ev.Source.Host:
        source["host"] = ev.Source.Host
    return {"kind": "Event", "apiVersion": "v1",
            "metadata": _wire_meta(ev, name=ev.Name, labels=ev.Labels, namespaced=True),
            "involvedObject": involved, "reason": ev.Reason, "message": ev.Message, "source": source,
            "firstTimestamp": _ts(ev.FirstTimestamp), "lastTimestamp": _ts(ev.LastTimestamp or ev.FirstTimestamp),
            "count": ev.Count, "type": ev.Type, "eventTime": None,
            "reportingComponent": ev.Source.Component, "reportingInstance": ev.Source.Host}


# ---------------------------------------------------------------- Nodes


def node_name_of(n: Node) -> str:
    """A node's Kubernetes name: its hostname in lower case (as the kubelet registers it)."""
    return (n.Description.Hostname or n.ID).lower()


def _arch(machine: str) -> str:
    return _ARCH.get(machine.lower(), machine.lower())


def node_labels(n: Node) -> dict[str, str]:
    """The labels a node shows: the well-known ones shoal computes and the node's own (Swarm) labels."""
    os_ = (n.Description.Platform.OS or "linux").lower()
    arch = _arch(n.Description.Platform.Architecture)
    labels = {BETA_ARCH_LABEL: arch, BETA_OS_LABEL: os_, ARCH_LABEL: arch, HOSTNAME_LABEL: node_name_of(n),
              OS_LABEL: os_}
    if n.Spec.Role == "manager":
        labels[CONTROL_PLANE_LABEL] = ""
    labels.update(n.Spec.Labels or {})
    return _sorted(labels)


def _taint_wire(t: Taint) -> dict[str, Any]:
    d: dict[str, Any] = {"key": t.Key}
    if t.Value:
        d["value"] = t.Value
    d["effect"] = t.Effect
    if t.TimeAdded:
        d["timeAdded"] = _ts(t.TimeAdded)
    return d


def _node_to_wire(n: Node) -> dict[str, Any]:
    name = node_name_of(n)
    unschedulable = n.Spec.Availability != "active"
    spec: dict[str, Any] = {}
    if n.PodCIDRs:  # the node's block of the pod range (node IPAM)
        spec["podCIDR"] = n.PodCIDRs[0]
        spec["podCIDRs"] = list(n.PodCIDRs)
    if unschedulable:
        spec["unschedulable"] = True
    taints = [_taint_wire(t) for t in n.Spec.Taints or [] if t.Key != UNSCHEDULABLE_TAINT]
    if unschedulable:
        taints.append({"key": UNSCHEDULABLE_TAINT, "effect": NO_SCHEDULE, "timeAdded": _ts(n.UpdatedAt)})
    if taints:
        spec["taints"] = taints
    res = n.Description.Resources
    cpu = format_cpu(res.NanoCPUs) if res.NanoCPUs else "0"
    capacity = {"cpu": cpu, "memory": f"{res.MemoryBytes // 1024}Ki", "pods": MAX_PODS,
                **kube_extended.capacity(res.GenericResources)}
    heartbeat = _ts(n.UpdatedAt) or _ts(n.CreatedAt)
    since = _ts(n.CreatedAt)
    ready = n.Status.State == "ready"
    if ready:
        conds = [("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                 ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                 ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                 ("Ready", "True", "KubeletReady", "kubelet is posting ready status")]
    else:
        lost = "Kubelet stopped posting node status."
        conds = [(kind, "Unknown", "NodeStatusUnknown", lost)
                 for kind in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")]
    engine = n.Description.Engine
    engine_labels = engine.Labels or {}
    system = n.Description.System or NodeSystem()
    if system.Runtime:  # the runtime that runs the node's containers, and its version
        runtime_version = f"{system.Runtime}://{system.RuntimeVersion or engine.EngineVersion}"
    else:
        runtime_version = f"{RUNTIME_SCHEME}://{engine.EngineVersion}" if engine.EngineVersion else ""
    addresses = []
    if n.Status.Addr:
        addresses.append({"type": "InternalIP", "address": n.Status.Addr})
    addresses.append({"type": "Hostname", "address": name})
    status: dict[str, Any] = {
        "capacity": capacity, "allocatable": dict(capacity),
        "conditions": [{"type": k, "status": s, "lastHeartbeatTime": heartbeat, "lastTransitionTime": since,
                        "reason": r, "message": m} for k, s, r, m in conds],
        "addresses": addresses,
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {"machineID": "", "systemUUID": "", "bootID": "",
                     "kernelVersion": system.KernelVersion or engine_labels.get(KERNEL_VERSION_LABEL, ""),
                     "osImage": system.OSImage or engine_labels.get(OS_IMAGE_LABEL, ""),
                     "containerRuntimeVersion": runtime_version,
                     "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": "",
                     "operatingSystem": (n.Description.Platform.OS or "linux").lower(),
                     "architecture": _arch(n.Description.Platform.Architecture)},
    }
    return {"kind": "Node", "apiVersion": "v1",
            "metadata": _wire_meta(n, name=name, labels=node_labels(n), namespaced=False),
            "spec": spec, "status": status}


def _taints_to_core(items: list[Any], errs: _Errors, old: Iterable[Taint] = ()) -> list[Taint]:
    before = {(t.Key, t.Effect): t for t in old}
    out: list[Taint] = []
    seen: set[tuple[str, str]] = set()
    for i, x in enumerate(items):
        x = _dict(x)
        p = f"spec.taints[{i}]"
        key, value, effect = _str(x.get("key")), _str(x.get("value")), _str(x.get("effect"))
        if key == UNSCHEDULABLE_TAINT and effect == NO_SCHEDULE:
            continue  # computed from spec.unschedulable
        if not key:
            errs.required(f"{p}.key")
        for m in qualified_name(key) if key else ():
            errs.invalid(f"{p}.key", key, m)
        for m in label_value(value):
            errs.invalid(f"{p}.value", value, m)
        if not effect:
            errs.required(f"{p}.effect")
        elif effect not in EFFECTS:
            errs.unsupported(f"{p}.effect", effect, (NO_SCHEDULE, "PreferNoSchedule", NO_EXECUTE))
        if (key, effect) in seen:
            errs.duplicate(p, f"{key}={value}:{effect}")
        seen.add((key, effect))
        added = _str(x.get("timeAdded")) or None
        if effect == NO_EXECUTE and added is None:
            prev = before.get((key, effect))
            added = prev.TimeAdded if prev is not None and prev.TimeAdded else now_ts()[:19] + "Z"
        out.append(Taint(Key=key, Value=value, Effect=effect, TimeAdded=added))
    return out


def _node_labels_to_core(obj: Mapping[str, Any], errs: _Errors, old: Mapping[str, str] | None = None
                         ) -> tuple[dict[str, str] | None, dict[str, str] | None]:
    """A written node's own labels (less the computed ones) and annotations. Only the labels it changes
    are checked: a Swarm label need not be a valid Kubernetes one, and a cordon must not fail on it."""
    md = _dict(obj.get("metadata"))
    labels = _str_map(md.get("labels")) or {}
    annotations = _str_map(md.get("annotations"))
    have = old or {}
    _validate_labels(errs, {k: v for k, v in labels.items() if have.get(k) != v}, "metadata.labels")
    if annotations:
        _validate_annotations(errs, annotations, "metadata.annotations")
    own = {k: v for k, v in labels.items() if k not in COMPUTED_NODE_LABELS}
    return own or None, annotations


def apply_node_update(core_node: Node, wire: Mapping[str, Any]) -> tuple[NodeSpec, dict[str, str] | None]:
    """What a PUT or PATCH of a Node changes: its spec (the labels less the computed ones, the taints
    less the computed unschedulable one, the availability) and its annotations. ``unschedulable: true``
    pauses an active node (a drained one stays drained); false or absent makes a paused or drained one
    active."""
    errs = _Errors()
    labels, annotations = _node_labels_to_core(wire, errs, core_node.Spec.Labels)
    spec_w = _dict(wire.get("spec"))
    taints = _taints_to_core(_list(spec_w.get("taints")), errs, core_node.Spec.Taints or ())
    errs.check("Node", node_name_of(core_node))
    old = core_node.Spec
    availability = old.Availability
    if spec_w.get("unschedulable") is True:
        if availability == "active":
            availability = "pause"
    else:
        availability = "active"
    spec = NodeSpec(Name=old.Name, Labels=labels, Role=old.Role, Availability=availability, Taints=taints or None)
    return spec, annotations


def _node_to_core(obj: Mapping[str, Any]) -> Node:
    """A written Node, as far as a write may change one (see ``apply_node_update``, which knows the node
    and so its drained state and the times its taints were added)."""
    errs = _Errors()
    md = _dict(obj.get("metadata"))
    name = _str(md.get("name"))
    labels, annotations = _node_labels_to_core(obj, errs)
    spec_w = _dict(obj.get("spec"))
    taints = _taints_to_core(_list(spec_w.get("taints")), errs)
    errs.check("Node", name)
    rv = _str(md.get("resourceVersion"))
    return Node(ID=_str(md.get("uid")), Version=Version(Index=int(rv) if rv.isdigit() else 0), Name=name,
                Annotations=annotations,
                Spec=NodeSpec(Labels=labels, Taints=taints or None,
                              Availability="pause" if spec_w.get("unschedulable") is True else "active"))


# ---------------------------------------------------------------- Deployments and ReplicaSets (apps/v1)

_PERCENT = re.compile(r"^[0-9]+%$")
_PERCENT_MSG = ("a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', "
                "regex used for validation is '[0-9]+%')")


def _go_string_map(m: Mapping[str, str] | None) -> _GoValue:
    """A label map as Go's ``%#v`` prints it: ``map[string]string{"app":"x"}``."""
    if not m:
        return _GoValue("map[string]string(nil)")
    return _GoValue("map[string]string{" + ", ".join(f"{json.dumps(k)}:{json.dumps(m[k])}" for k in sorted(m)) + "}")


def _selector_to_core(raw: object, errs: _Errors, path: str) -> LabelSelectorSpec | None:
    """A ``metav1.LabelSelector`` (None when absent), checked as ``ValidateLabelSelector``."""
    if raw is None:
        return None
    d = _dict(raw)
    match = _str_map(d.get("matchLabels"))
    if match:
        _validate_labels(errs, match, f"{path}.matchLabels")
    exprs: list[SelectorRequirement] = []
    for i, e in enumerate(_list(d.get("matchExpressions"))):
        e = _dict(e)
        op, key, values = _str(e.get("operator")), _str(e.get("key")), _str_list(e.get("values"))
        where = f"{path}.matchExpressions[{i}]"
        if op in ("In", "NotIn") and not values:
            errs.required(f"{where}.values", "must be specified when `operator` is 'In' or 'NotIn'")
        elif op in ("Exists", "DoesNotExist") and values:
            errs.forbidden(f"{where}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
        elif op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            errs.invalid(f"{where}.operator", op, "not a valid selector operator")
        for m in qualified_name(key):
            errs.invalid(f"{where}.key", key, m)
        exprs.append(SelectorRequirement(Key=key, Operator=op, Values=values))
    return LabelSelectorSpec(MatchLabels=match, MatchExpressions=exprs or None)


def _selector_wire(sel: LabelSelectorSpec) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if sel.MatchLabels:
        d["matchLabels"] = _sorted(sel.MatchLabels)
    if sel.MatchExpressions:
        d["matchExpressions"] = [{"key": e.Key, "operator": e.Operator, **({"values": e.Values} if e.Values else {})}
                                 for e in sel.MatchExpressions]
    return d


def _workload_template(spec: Mapping[str, Any], selector: LabelSelectorSpec | None, errs: _Errors,
                       kind: str = "ReplicaSet") -> PodTemplate:
    """``spec.template`` of a Deployment, ReplicaSet or DaemonSet (``ValidatePodTemplateSpecForReplicaSet``)."""
    raw = _dict(spec.get("template"))
    md = _dict(raw.get("metadata"))
    labels = _str_map(md.get("labels"))
    annotations = _str_map(md.get("annotations"))
    if selector is not None and (selector.MatchLabels or selector.MatchExpressions):
        exprs = [{"key": e.Key, "operator": e.Operator, "values": list(e.Values or [])}
                 for e in selector.MatchExpressions or []]
        try:
            matches = selectors.selector_from_spec(selector.MatchLabels, exprs).matches(labels or {})
        except selectors.SelectorError:
            matches = True  # reported on spec.selector already
        if not matches:
            errs.invalid("spec.template.metadata.labels", _go_string_map(labels),
                         "`selector` does not match template `labels`")
    if labels:
        _validate_labels(errs, labels, "spec.template.metadata.labels")
    if annotations:
        _validate_annotations(errs, annotations, "spec.template.metadata.annotations")
    pod_spec = _dict(raw.get("spec"))
    core = task_spec_to_core(pod_spec, name="", errs=errs, path="spec.template.spec", admit=False)
    policy = _str(pod_spec.get("restartPolicy")) or "Always"
    if policy != "Always" and policy in RESTART_POLICIES:
        errs.unsupported("spec.template.spec.restartPolicy", policy, ("Always",))
    if core.Pod is not None and core.Pod.ActiveDeadlineSeconds is not None:
        errs.forbidden("spec.template.spec.activeDeadlineSeconds",
                       f"activeDeadlineSeconds in {kind} is not Supported")
    return PodTemplate(Labels=labels, Annotations=annotations, Spec=core)


def _template_wire(tpl: PodTemplate) -> dict[str, Any]:
    md: dict[str, Any] = {"creationTimestamp": None}
    if tpl.Labels:
        md["labels"] = _sorted(tpl.Labels)
    if tpl.Annotations:
        md["annotations"] = _sorted(tpl.Annotations)
    return {"metadata": md, "spec": task_spec_to_wire(tpl.Spec)}


def _nonnegative(errs: _Errors, path: str, value: int | None) -> None:
    if value is not None and value < 0:
        errs.invalid(path, value, "must be greater than or equal to 0")


def _int_or_percent(errs: _Errors, path: str, value: object) -> int | str | None:
    """A ``maxSurge``/``maxUnavailable`` value, checked as ``ValidatePositiveIntOrPercent``."""
    if value is None or (isinstance(value, str) and value == ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        errs.invalid(path, value, "must be an integer or percentage (e.g '5%')")
        return None
    if isinstance(value, str):
        if not _PERCENT.match(value):
            errs.invalid(path, value, _PERCENT_MSG)
            return value
        if int(value[:-1]) < 0:
            errs.invalid(path, value, "must be greater than or equal to 0")
        return value
    if value < 0:
        errs.invalid(path, value, "must be greater than or equal to 0")
    return value


def _int_or_percent_value(v: int | str | None) -> int:
    if isinstance(v, str):
        return int(v[:-1]) if _PERCENT.match(v) else 0
    return v or 0


def _workload_meta(obj: Mapping[str, Any], namespace: str, errs: _Errors) -> _Meta:
    return _Meta(obj, errs, namespace=namespace, namespaced=True, name_rule=dns1123_subdomain)


def _workload_replicas(spec: Mapping[str, Any], errs: _Errors) -> int:
    """``spec.replicas`` of a ReplicaSet or Deployment: 1 when absent, never negative."""
    replicas = _opt_int(spec.get("replicas"))
    replicas = 1 if replicas is None else replicas
    _nonnegative(errs, "spec.replicas", replicas)
    return replicas


def _workload_selector(spec: Mapping[str, Any], errs: _Errors) -> LabelSelectorSpec | None:
    """``spec.selector`` of a ReplicaSet or Deployment: required and not empty (Kubernetes words both so)."""
    selector = _selector_to_core(spec.get("selector"), errs, "spec.selector")
    if selector is None:
        errs.required("spec.selector")
    elif not selector.MatchLabels and not selector.MatchExpressions:
        errs.invalid("spec.selector", _GoValue(_go_selector(selector)), "empty selector is invalid for deployment")
    return selector


def _replica_set_to_core(obj: Mapping[str, Any], namespace: str) -> ReplicaSet:
    errs = _Errors()
    meta = _workload_meta(obj, namespace, errs)
    spec = _dict(obj.get("spec"))
    replicas = _workload_replicas(spec, errs)
    min_ready = _int(spec.get("minReadySeconds"))
    _nonnegative(errs, "spec.minReadySeconds", min_ready)
    selector = _workload_selector(spec, errs)
    template = _workload_template(spec, selector, errs)
    errs.check("ReplicaSet", meta.shown_name)
    rs = ReplicaSet(ID="", Name=meta.name, Labels=meta.labels,
                    Spec=ReplicaSetSpec(Replicas=replicas, MinReadySeconds=min_ready,
                                        Selector=selector or LabelSelectorSpec(), Template=template))
    _object_base(rs, meta)
    return rs


def _replica_set_to_wire(rs: ReplicaSet) -> dict[str, Any]:
    spec: dict[str, Any] = {"replicas": rs.Spec.Replicas}
    if rs.Spec.MinReadySeconds:
        spec["minReadySeconds"] = rs.Spec.MinReadySeconds
    spec["selector"] = _selector_wire(rs.Spec.Selector)
    spec["template"] = _template_wire(rs.Spec.Template)
    st = rs.Status
    status: dict[str, Any] = {"replicas": st.Replicas}
    for key, value in (("fullyLabeledReplicas", st.FullyLabeledReplicas), ("readyReplicas", st.ReadyReplicas),
                       ("availableReplicas", st.AvailableReplicas), ("observedGeneration", st.ObservedGeneration)):
        if value:
            status[key] = value
    if st.Conditions:
        status["conditions"] = [_workload_condition_wire(c, update_time=False) for c in st.Conditions]
    return {"kind": "ReplicaSet", "apiVersion": "apps/v1",
            "metadata": _wire_meta(rs, name=rs.Name, labels=rs.Labels, namespaced=True, generation=True),
            "spec": spec, "status": status}


def _workload_condition_wire(c: WorkloadCondition, update_time: bool = True) -> dict[str, Any]:
    d: dict[str, Any] = {"type": c.Type, "status": c.Status}
    if update_time:
        d["lastUpdateTime"] = _ts(c.LastUpdateTime)
    d["lastTransitionTime"] = _ts(c.LastTransitionTime)
    if c.Reason:
        d["reason"] = c.Reason
    if c.Message:
        d["message"] = c.Message
    return d


STRATEGIES = ("Recreate", "RollingUpdate")


def _deployment_to_core(obj: Mapping[str, Any], namespace: str) -> Deployment:
    """A Deployment, defaulted (``SetDefaults_Deployment``) and validated (``ValidateDeployment``)."""
    errs = _Errors()
    meta = _workload_meta(obj, namespace, errs)
    spec = _dict(obj.get("spec"))
    replicas = _workload_replicas(spec, errs)
    selector = _workload_selector(spec, errs)
    template = _workload_template(spec, selector, errs)
    raw_strategy = _dict(spec.get("strategy"))
    kind = _str(raw_strategy.get("type")) or "RollingUpdate"
    rolling_raw = raw_strategy.get("rollingUpdate")
    strategy = DeploymentStrategy(Type=kind, MaxSurge=None, MaxUnavailable=None)
    if kind == "Recreate":
        if isinstance(rolling_raw, dict):
            errs.forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'")
    elif kind == "RollingUpdate":
        rolling = _dict(rolling_raw)
        path = "spec.strategy.rollingUpdate"
        unavailable = _int_or_percent(errs, f"{path}.maxUnavailable", rolling.get("maxUnavailable"))
        surge = _int_or_percent(errs, f"{path}.maxSurge", rolling.get("maxSurge"))
        unavailable = "25%" if unavailable is None else unavailable
        surge = "25%" if surge is None else surge
        if _int_or_percent_value(unavailable) == 0 and _int_or_percent_value(surge) == 0:
            errs.invalid(f"{path}.maxUnavailable", unavailable, "may not be 0 when `maxSurge` is 0")
        if isinstance(unavailable, str) and _PERCENT.match(unavailable) and int(unavailable[:-1]) > 100:
            errs.invalid(f"{path}.maxUnavailable", unavailable, "must not be greater than 100%")
        strategy = DeploymentStrategy(Type=kind, MaxSurge=surge, MaxUnavailable=unavailable)
    else:
        errs.unsupported("spec.strategy.type", kind, STRATEGIES)
    min_ready = _int(spec.get("minReadySeconds"))
    _nonnegative(errs, "spec.minReadySeconds", min_ready)
    history = _opt_int(spec.get("revisionHistoryLimit"))
    history = 10 if history is None else history
    _nonnegative(errs, "spec.revisionHistoryLimit", history)
    deadline = _opt_int(spec.get("progressDeadlineSeconds"))
    deadline = 600 if deadline is None else deadline
    _nonnegative(errs, "spec.progressDeadlineSeconds", deadline)
    if deadline <= min_ready:
        errs.invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds")
    errs.check("Deployment", meta.shown_name)
    d = Deployment(ID="", Name=meta.name, Labels=meta.labels, Spec=DeploymentSpec(
        Replicas=replicas, Selector=selector or LabelSelectorSpec(), Template=template, Strategy=strategy,
        MinReadySeconds=min_ready, RevisionHistoryLimit=history, Paused=spec.get("paused") is True,
        ProgressDeadlineSeconds=deadline))
    _object_base(d, meta)
    return d


def _deployment_to_wire(d: Deployment) -> dict[str, Any]:
    s = d.Spec
    strategy: dict[str, Any] = {"type": s.Strategy.Type}
    if s.Strategy.Type == "RollingUpdate":
        strategy["rollingUpdate"] = {"maxUnavailable": s.Strategy.MaxUnavailable, "maxSurge": s.Strategy.MaxSurge}
    spec: dict[str, Any] = {"replicas": s.Replicas, "selector": _selector_wire(s.Selector),
                            "template": _template_wire(s.Template), "strategy": strategy}
    if s.MinReadySeconds:
        spec["minReadySeconds"] = s.MinReadySeconds
    if s.RevisionHistoryLimit is not None:
        spec["revisionHistoryLimit"] = s.RevisionHistoryLimit
    if s.Paused:
        spec["paused"] = True
    if s.ProgressDeadlineSeconds is not None:
        spec["progressDeadlineSeconds"] = s.ProgressDeadlineSeconds
    st = d.Status
    status: dict[str, Any] = {}
    for key, value in (("observedGeneration", st.ObservedGeneration), ("replicas", st.Replicas),
                       ("updatedReplicas", st.UpdatedReplicas), ("readyReplicas", st.ReadyReplicas),
                       ("availableReplicas", st.AvailableReplicas), ("unavailableReplicas", st.UnavailableReplicas)):
        if value:
            status[key] = value
    if st.Conditions:
        status["conditions"] = [_workload_condition_wire(c) for c in st.Conditions]
    if st.CollisionCount is not None:
        status["collisionCount"] = st.CollisionCount
    return {"kind": "Deployment", "apiVersion": "apps/v1",
            "metadata": _wire_meta(d, name=d.Name, labels=d.Labels, namespaced=True, generation=True),
            "spec": spec, "status": status}


def scale_of(resource: str, obj: ReplicaSet | Deployment) -> dict[str, Any]:
    """The ``autoscaling/v1`` Scale of a Deployment or ReplicaSet (its ``scale`` subresource)."""
    selector = obj.Spec.Selector
    exprs = [{"key": e.Key, "operator": e.Operator, "values": list(e.Values or [])}
             for e in selector.MatchExpressions or []]
    text = str(selectors.selector_from_spec(selector.MatchLabels, exprs)) if selector.MatchLabels or exprs else ""
    md: dict[str, Any] = {"name": obj.Name, "namespace": obj.Namespace, "uid": obj.ID,
                          "resourceVersion": str(obj.Version.Index), "creationTimestamp": _ts(obj.CreatedAt)}
    return {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": md, "spec": {"replicas": obj.Spec.Replicas},
            "status": {"replicas": obj.Status.Replicas, "selector": text}}


def _validate_workload_update(errs: _Errors, cur: ReplicaSet | Deployment | DaemonSet,
                              new: ReplicaSet | Deployment | DaemonSet) -> None:
    if new.Spec.Selector != cur.Spec.Selector:
        errs.invalid("spec.selector", _GoValue(_go_selector(new.Spec.Selector)), "field is immutable")


def _go_selector(sel: LabelSelectorSpec) -> str:
    """A LabelSelector as Go's ``%#v`` prints it (roughly: its label map)."""
    return (f"v1.LabelSelector{{MatchLabels:{_go_string_map(sel.MatchLabels)}, "
            f"MatchExpressions:[]v1.LabelSelectorRequirement(nil)}}")


# ---------------------------------------------------------------- DaemonSets (apps/v1)

DAEMONSET_STRATEGIES = ("RollingUpdate", "OnDelete")


def _daemon_set_to_core(obj: Mapping[str, Any], namespace: str) -> DaemonSet:
    """A DaemonSet, defaulted (``SetDefaults_DaemonSet``: RollingUpdate with maxUnavailable 1 and
    maxSurge 0, revisionHistoryLimit 10) and validated (``ValidateDaemonSetSpec``)."""
    errs = _Errors()
    meta = _workload_meta(obj, namespace, errs)
    spec = _dict(obj.get("spec"))
    selector = _selector_to_core(spec.get("selector"), errs, "spec.selector")
    if selector is not None and not selector.MatchLabels and not selector.MatchExpressions:
        errs.invalid("spec.selector", _GoValue(_go_selector(selector)), "empty selector is invalid for daemonset")
    template = _workload_template(spec, selector, errs, kind="DaemonSet")
    if selector is None:  # a missing selector selects nothing, so it matches no template
        errs.invalid("spec.template.metadata.labels", _go_string_map(template.Labels),
                     "`selector` does not match template `labels`")
    min_ready = _int(spec.get("minReadySeconds"))
    _nonnegative(errs, "spec.minReadySeconds", min_ready)
    raw_strategy = _dict(spec.get("updateStrategy"))
    kind = _str(raw_strategy.get("type")) or "RollingUpdate"
    strategy = DaemonSetUpdateStrategy(Type=kind, MaxUnavailable=None, MaxSurge=None)
    if kind == "RollingUpdate":
        rolling = _dict(raw_strategy.get("rollingUpdate"))
        path = "spec.updateStrategy.rollingUpdate"
        unavailable = _int_or_percent(errs, f"{path}.maxUnavailable", rolling.get("maxUnavailable"))
        surge = _int_or_percent(errs, f"{path}.maxSurge", rolling.get("maxSurge"))
        unavailable = 1 if unavailable is None else unavailable
        surge = 0 if surge is None else surge
        for name, value in (("maxUnavailable", unavailable), ("maxSurge", surge)):
            if isinstance(value, str) and _PERCENT.match(value) and int(value[:-1]) > 100:
                errs.invalid(f"{path}.{name}", value, "must not be greater than 100%")
        has_unavailable, has_surge = _int_or_percent_value(unavailable) != 0, _int_or_percent_value(surge) != 0
        if has_unavailable and has_surge:
            errs.invalid(f"{path}.maxSurge", surge, "may not be set when maxUnavailable is non-zero")
        elif not has_unavailable and not has_surge:
            errs.required(f"{path}.maxUnavailable", "cannot be 0 when maxSurge is 0")
        strategy = DaemonSetUpdateStrategy(Type=kind, MaxUnavailable=unavailable, MaxSurge=surge)
    elif kind != "OnDelete":
        errs.unsupported("spec.updateStrategy", kind, DAEMONSET_STRATEGIES)
    history = _opt_int(spec.get("revisionHistoryLimit"))
    history = 10 if history is None else history
    _nonnegative(errs, "spec.revisionHistoryLimit", history)
    errs.check("DaemonSet", meta.shown_name)
    ds = DaemonSet(ID="", Name=meta.name, Labels=meta.labels, Spec=DaemonSetSpec(
        Selector=selector or LabelSelectorSpec(), Template=template, UpdateStrategy=strategy,
        MinReadySeconds=min_ready, RevisionHistoryLimit=history))
    _object_base(ds, meta)
    return ds


def _daemon_set_to_wire(ds: DaemonSet) -> dict[str, Any]:
    s = ds.Spec
    strategy: dict[str, Any] = {"type": s.UpdateStrategy.Type}
    if s.UpdateStrategy.Type == "RollingUpdate":
        strategy["rollingUpdate"] = {"maxUnavailable": s.UpdateStrategy.MaxUnavailable,
                                     "maxSurge": s.UpdateStrategy.MaxSurge}
    spec: dict[str, Any] = {"selector": _selector_wire(s.Selector), "template": _template_wire(s.Template),
                            "updateStrategy": strategy}
    if s.MinReadySeconds:
        spec["minReadySeconds"] = s.MinReadySeconds
    if s.RevisionHistoryLimit is not None:
        spec["revisionHistoryLimit"] = s.RevisionHistoryLimit
    st = ds.Status
    # The first four are always shown (no ``omitempty`` in Kubernetes' type), the rest when set.
    status: dict[str, Any] = {"currentNumberScheduled": st.CurrentNumberScheduled,
                              "numberMisscheduled": st.NumberMisscheduled,
                              "desiredNumberScheduled": st.DesiredNumberScheduled, "numberReady": st.NumberReady}
    for key, value in (("observedGeneration", st.ObservedGeneration),
                       ("updatedNumberScheduled", st.UpdatedNumberScheduled),
                       ("numberAvailable", st.NumberAvailable), ("numberUnavailable", st.NumberUnavailable)):
        if value:
            status[key] = value
    if st.CollisionCount is not None:
        status["collisionCount"] = st.CollisionCount
    if st.Conditions:
        status["conditions"] = [_workload_condition_wire(c, update_time=False) for c in st.Conditions]
    return {"kind": "DaemonSet", "apiVersion": "apps/v1",
            "metadata": _wire_meta(ds, name=ds.Name, labels=ds.Labels, namespaced=True, generation=True),
            "spec": spec, "status": status}



def _controller_revision_to_core(obj: Mapping[str, Any], namespace: str) -> ControllerRevision:
    """A ControllerRevision whose ``data`` is a DaemonSet's: ``{"spec": {"template": …}}``
    (``ValidateControllerRevision``: a revision not below 0)."""
    errs = _Errors()
    meta = _workload_meta(obj, namespace, errs)
    data = _dict(obj.get("data"))
    template = _workload_template(_dict(data.get("spec")), None, errs, kind="DaemonSet")
    revision = _int(obj.get("revision"))
    _nonnegative(errs, "revision", revision)
    errs.check("ControllerRevision", meta.shown_name)
    cr = ControllerRevision(ID="", Name=meta.name, Labels=meta.labels, Revision=revision, Template=template)
    _object_base(cr, meta)
    return cr


def _controller_revision_to_wire(cr: ControllerRevision) -> dict[str, Any]:
    """``data`` as the DaemonSet controller writes it: a patch replacing the DaemonSet's template."""
    template = {**_template_wire(cr.Template), "$patch": "replace"}
    return {"kind": "ControllerRevision", "apiVersion": "apps/v1",
            "metadata": _wire_meta(cr, name=cr.Name, labels=cr.Labels, namespaced=True, generation=False),
            "data": {"spec": {"template": template}}, "revision": cr.Revision}


# ---------------------------------------------------------------- Jobs and CronJobs (batch/v1)

COMPLETION_MODES = ("NonIndexed", "Indexed")
JOB_RESTART_POLICIES = ("OnFailure", "Never")
CONCURRENCY_POLICIES = ("Allow", "Forbid", "Replace")
CRONJOB_NAME_MAX = 52  # 63 less the 11 characters of a Job's ``-<minutes>`` suffix


def _job_spec_to_core(spec: Mapping[str, Any], errs: _Errors, path: str, *, template_meta: bool = True
                      ) -> core_types.JobSpec:
    """A Job's spec (or a CronJob's Job template's), defaulted (``SetDefaults_Job``) and validated
    (``validateJobSpec``); the selector is the one written (``batch.generate_selector`` adds Kubernetes')."""
    parallelism, completions = _opt_int(spec.get("parallelism")), _opt_int(spec.get("completions"))
    if parallelism is None and completions is None:
        parallelism, completions = 1, 1
    elif parallelism is None:
        parallelism = 1
    for key, value in (("parallelism", parallelism), ("completions", completions)):
        _nonnegative(errs, f"{path}.{key}", value)
    deadline = _opt_int(spec.get("activeDeadlineSeconds"))
    if deadline is not None and deadline <= 0:
        errs.invalid(f"{path}.activeDeadlineSeconds", deadline, "must be greater than or equal to 0"
                     if deadline < 0 else "must be greater than 0")
    backoff = _opt_int(spec.get("backoffLimit"))
    backoff = 6 if backoff is None else backoff
    _nonnegative(errs, f"{path}.backoffLimit", backoff)
    ttl = _opt_int(spec.get("ttlSecondsAfterFinished"))
    _nonnegative(errs, f"{path}.ttlSecondsAfterFinished", ttl)
    mode = _str(spec.get("completionMode")) or "NonIndexed"
    if mode not in COMPLETION_MODES:
        errs.unsupported(f"{path}.completionMode", mode, COMPLETION_MODES)
    elif mode == "Indexed" and completions is None:
        errs.required(f"{path}.completions", "when completion mode is Indexed")
    manual = _opt_bool(spec.get("manualSelector"))
    selector = _selector_to_core(spec.get("selector"), errs, f"{path}.selector")
    raw = _dict(spec.get("template"))
    md = _dict(raw.get("metadata"))
    labels, annotations = _str_map(md.get("labels")), _str_map(md.get("annotations"))
    if labels:
        _validate_labels(errs, labels, f"{path}.template.metadata.labels")
    if annotations:
        _validate_annotations(errs, annotations, f"{path}.template.metadata.annotations")
    pod_spec = _dict(raw.get("spec"))
    core = task_spec_to_core(pod_spec, name="", errs=errs, path=f"{path}.template.spec", admit=False)
    policy = _str(pod_spec.get("restartPolicy")) or "Always"
    if policy not in JOB_RESTART_POLICIES and policy in RESTART_POLICIES:
        errs.unsupported(f"{path}.template.spec.restartPolicy", policy, JOB_RESTART_POLICIES)
    replacement = _str(spec.get("podReplacementPolicy")) or "TerminatingOrFailed"
    return core_types.JobSpec(
        Parallelism=parallelism, Completions=completions, ActiveDeadlineSeconds=deadline, BackoffLimit=backoff,
        Selector=selector or LabelSelectorSpec(), ManualSelector=manual,
        Template=PodTemplate(Labels=labels, Annotations=annotations, Spec=core), TTLSecondsAfterFinished=ttl,
        CompletionMode=mode, Suspend=spec.get("suspend") is True, PodReplacementPolicy=replacement)


def _job_selector_matches(errs: _Errors, spec: core_types.JobSpec, path: str, required: bool) -> None:
    sel = spec.Selector
    if not sel.MatchLabels and not sel.MatchExpressions:
        if required:
            errs.required(f"{path}.selector")
        return
    exprs = [{"key": e.Key, "operator": e.Operator, "values": list(e.Values or [])} for e in sel.MatchExpressions or []]
    try:
        matches = selectors.selector_from_spec(sel.MatchLabels, exprs).matches(spec.Template.Labels or {})
    except selectors.SelectorError:
        return
    if not matches:
        errs.invalid(f"{path}.template.metadata.labels", _go_string_map(spec.Template.Labels),
                     "`selector` does not match template `labels`")


def _job_to_core(obj: Mapping[str, Any], namespace: str) -> core_types.Job:
    """A Job, defaulted, given Kubernetes' generated selector unless ``manualSelector`` (with a new uid
    when the written object has none: a create), and validated (``ValidateJob``)."""
    errs = _Errors()
    meta = _workload_meta(obj, namespace, errs)
    spec = _job_spec_to_core(_dict(obj.get("spec")), errs, "spec")
    job = core_types.Job(ID="", Name=meta.name, Labels=meta.labels, Spec=spec)
    _object_base(job, meta)
    job.ID = job.ID or new_id()
    batch.generate_selector(job)
    _job_selector_matches(errs, job.Spec, "spec", required=True)
    errs.check("Job", meta.shown_name)
    return job


def _job_condition_wire(c: core_types.JobCondition) -> dict[str, Any]:
    d: dict[str, Any] = {"type": c.Type, "status": c.Status, "lastProbeTime": _ts(c.LastProbeTime),
                         "lastTransitionTime": _ts(c.LastTransitionTime)}
    if c.Reason:
        d["reason"] = c.Reason
    if c.Message:
        d["message"] = c.Message
    return d


def _job_spec_wire(s: core_types.JobSpec) -> dict[str, Any]:
    spec: dict[str, Any] = {"parallelism": s.Parallelism}
    if s.Completions is not None:
        spec["completions"] = s.Completions
    if s.ActiveDeadlineSeconds is not None:
        spec["activeDeadlineSeconds"] = s.ActiveDeadlineSeconds
    spec["backoffLimit"] = s.BackoffLimit
    if s.Selector.MatchLabels or s.Selector.MatchExpressions:
        spec["selector"] = _selector_wire(s.Selector)
    if s.ManualSelector is not None:
        spec["manualSelector"] = s.ManualSelector
    spec["template"] = _template_wire(s.Template)
    if s.TTLSecondsAfterFinished is not None:
        spec["ttlSecondsAfterFinished"] = s.TTLSecondsAfterFinished
    spec["completionMode"] = s.CompletionMode
    spec["suspend"] = s.Suspend
    spec["podReplacementPolicy"] = s.PodReplacementPolicy
    return spec


def _job_to_wire(job: core_types.Job) -> dict[str, Any]:
    st = job.Status
    status: dict[str, Any] = {}
    if st.Conditions:
        status["conditions"] = [_job_condition_wire(c) for c in st.Conditions]
    if st.StartTime:
        status["startTime"] = _ts(st.StartTime)
    if st.CompletionTime:
        status["completionTime"] = _ts(st.CompletionTime)
    for key, value in (("active", st.Active), ("succeeded", st.Succeeded), ("failed", st.Failed)):
        if value:
            status[key] = value
    if st.CompletedIndexes:
        status["completedIndexes"] = st.CompletedIndexes
    if st.StartTime or st.Conditions:
        status["terminating"] = st.Terminating
        status["uncountedTerminatedPods"] = {}
        status["ready"] = st.Ready
    return {"kind": "Job", "apiVersion": "batch/v1",
            "metadata": _wire_meta(job, name=job.Name, labels=job.Labels, namespaced=True, generation=True),
            "spec": _job_spec_wire(job.Spec), "status": status}


def _cron_job_to_core(obj: Mapping[str, Any], namespace: str) -> core_types.CronJob:
    """A CronJob, defaulted (``SetDefaults_CronJob``) and validated (``ValidateCronJob``)."""
    errs = _Errors()
    meta = _workload_meta(obj, namespace, errs)
    if len(meta.name) > CRONJOB_NAME_MAX:
        errs.invalid("metadata.name", meta.name, f"must be no more than {CRONJOB_NAME_MAX} characters")
    spec = _dict(obj.get("spec"))
    schedule = _str(spec.get("schedule"))
    if not schedule:
        errs.required("spec.schedule")
    elif "TZ=" in schedule:
        errs.invalid("spec.schedule", schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead")
    else:
        try:
            cron.parse(schedule)
        except cron.CronError as e:
            errs.invalid("spec.schedule", schedule, str(e))
    tz = spec.get("timeZone")
    zone = tz if isinstance(tz, str) else None
    if zone is not None:
        try:
            cron.zone(zone or "-")
        except cron.CronError as e:
            errs.invalid("spec.timeZone", zone, str(e))
    deadline = _opt_int(spec.get("startingDeadlineSeconds"))
    _nonnegative(errs, "spec.startingDeadlineSeconds", deadline)
    policy = _str(spec.get("concurrencyPolicy")) or "Allow"
    if policy not in CONCURRENCY_POLICIES:
        errs.unsupported("spec.concurrencyPolicy", policy, CONCURRENCY_POLICIES)
    ok, failed = _opt_int(spec.get("successfulJobsHistoryLimit")), _opt_int(spec.get("failedJobsHistoryLimit"))
    ok, failed = 3 if ok is None else ok, 1 if failed is None else failed
    _nonnegative(errs, "spec.successfulJobsHistoryLimit", ok)
    _nonnegative(errs, "spec.failedJobsHistoryLimit", failed)
    raw_tpl = _dict(spec.get("jobTemplate"))
    tmd = _dict(raw_tpl.get("metadata"))
    t_labels, t_annotations = _str_map(tmd.get("labels")), _str_map(tmd.get("annotations"))
    if t_labels:
        _validate_labels(errs, t_labels, "spec.jobTemplate.metadata.labels")
    if t_annotations:
        _validate_annotations(errs, t_annotations, "spec.jobTemplate.metadata.annotations")
    job_spec = _job_spec_to_core(_dict(raw_tpl.get("spec")), errs, "spec.jobTemplate.spec")
    _job_selector_matches(errs, job_spec, "spec.jobTemplate.spec", required=False)
    errs.check("CronJob", meta.shown_name)
    cj = core_types.CronJob(ID="", Name=meta.name, Labels=meta.labels, Spec=core_types.CronJobSpec(
        Schedule=schedule, TimeZone=zone, StartingDeadlineSeconds=deadline, ConcurrencyPolicy=policy,
        Suspend=spec.get("suspend") is True, SuccessfulJobsHistoryLimit=ok, FailedJobsHistoryLimit=failed,
        JobTemplate=core_types.JobTemplate(Labels=t_labels, Annotations=t_annotations, Spec=job_spec)))
    _object_base(cj, meta)
    return cj


def _cron_job_to_wire(cj: core_types.CronJob) -> dict[str, Any]:
    s = cj.Spec
    tpl_md: dict[str, Any] = {"creationTimestamp": None}
    if s.JobTemplate.Labels:
        tpl_md["labels"] = _sorted(s.JobTemplate.Labels)
    if s.JobTemplate.Annotations:
        tpl_md["annotations"] = _sorted(s.JobTemplate.Annotations)
    spec: dict[str, Any] = {"schedule": s.Schedule}
    if s.TimeZone is not None:
        spec["timeZone"] = s.TimeZone
    if s.StartingDeadlineSeconds is not None:
        spec["startingDeadlineSeconds"] = s.StartingDeadlineSeconds
    spec["concurrencyPolicy"] = s.ConcurrencyPolicy
    spec["suspend"] = s.Suspend
    spec["jobTemplate"] = {"metadata": tpl_md, "spec": _job_spec_wire(s.JobTemplate.Spec)}
    spec["successfulJobsHistoryLimit"] = s.SuccessfulJobsHistoryLimit
    spec["failedJobsHistoryLimit"] = s.FailedJobsHistoryLimit
    st = cj.Status
    status: dict[str, Any] = {}
    if st.Active:
        status["active"] = [{"kind": "Job", "namespace": r.Namespace, "name": r.Name, "uid": r.ID,
                             "apiVersion": "batch/v1", "resourceVersion": str(r.Version)} for r in st.Active]
    if st.LastScheduleTime:
        status["lastScheduleTime"] = _ts(st.LastScheduleTime)
    if st.LastSuccessfulTime:
        status["lastSuccessfulTime"] = _ts(st.LastSuccessfulTime)
    return {"kind": "CronJob", "apiVersion": "batch/v1",
            "metadata": _wire_meta(cj, name=cj.Name, labels=cj.Labels, namespaced=True, generation=True),
            "spec": spec, "status": status}


def _validate_job_update(errs: _Errors, cur: core_types.Job, new: core_types.Job) -> None:
    """``ValidateJobSpecUpdate``: the selector, the completion mode and (but while suspended) the
    template never change."""
    if new.Spec.Selector != cur.Spec.Selector:
        errs.invalid("spec.selector", _GoValue(_go_selector(new.Spec.Selector)), "field is immutable")
    if new.Spec.CompletionMode != cur.Spec.CompletionMode:
        errs.invalid("spec.completionMode", new.Spec.CompletionMode, "field is immutable")
    if new.Spec.Completions != cur.Spec.Completions and new.Spec.CompletionMode != "Indexed":
        errs.invalid("spec.completions", new.Spec.Completions, "field is immutable")
    if new.Spec.Template != cur.Spec.Template and not cur.Spec.Suspend:
        errs.invalid("spec.template", _GoValue("core.PodTemplateSpec{...}"), "field is immutable")


# ---------------------------------------------------------------- updates

IMMUTABLE_SET = "field is immutable when `immutable` is set"
POD_UPDATABLE = ("`spec.containers[*].image`", "`spec.initContainers[*].image`", "`spec.activeDeadlineSeconds`",
                 "`spec.tolerations` (only additions to existing tolerations)",
                 "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)")


def validate_update(resource: str, cur: Any, new: Any) -> None:
    """What the API server refuses of an update (``Invalid``), beyond what ``to_core`` checks of the new
    object alone: a Pod's spec changes other than its images, deadline and added tolerations; an
    immutable Secret's or ConfigMap's contents; a Secret's type. (Kubernetes' Pod message ends with a
    diff of the two specs, which is left out.)"""
    errs = _Errors()
    if resource == "pods":
        _validate_pod_update(errs, cur, new)
        errs.check("Pod", cur.Name)
    elif resource == "secrets":
        if (new.Spec.Type or "Opaque") != (cur.Spec.Type or "Opaque"):
            errs.invalid("type", new.Spec.Type or "Opaque", "field is immutable")
        if cur.Spec.Immutable:
            if not new.Spec.Immutable:
                errs.forbidden("immutable", IMMUTABLE_SET)
            if (new.Spec.Items or {}) != (cur.Spec.Items or {}):
                errs.forbidden("data", IMMUTABLE_SET)
        errs.check("Secret", cur.Spec.Name or cur.Name)
    elif resource == "configmaps":
        if cur.Spec.Immutable:
            if not new.Spec.Immutable:
                errs.forbidden("immutable", IMMUTABLE_SET)
            if (new.Spec.Items or {}) != (cur.Spec.Items or {}):
                errs.forbidden("data", IMMUTABLE_SET)
            if (new.Spec.BinaryItems or {}) != (cur.Spec.BinaryItems or {}):
                errs.forbidden("binaryData", IMMUTABLE_SET)
        errs.check("ConfigMap", cur.Spec.Name or cur.Name)
    elif resource in ("deployments", "replicasets", "daemonsets"):
        _validate_workload_update(errs, cur, new)
        errs.check(KIND_OF_RESOURCE[resource], cur.Name)
    elif resource == "controllerrevisions":
        if new.Template != cur.Template:
            errs.invalid("data", _GoValue("runtime.RawExtension{…}"), "field is immutable")
        errs.check("ControllerRevision", cur.Name)

    elif resource == "jobs":
        _validate_job_update(errs, cur, new)
        errs.check("Job", cur.Name)
    elif resource == "services":
        _validate_service_update(errs, cur, new)
        errs.check("Service", cur.Name)
    validate_ingress_update(resource, cur, new)


def _validate_pod_update(errs: _Errors, cur: Task, new: Task) -> None:
    old_w = task_spec_to_wire(cur.Spec, name=cur.Name)
    new_w = task_spec_to_wire(new.Spec, name=cur.Name)
    old_deadline, new_deadline = old_w.get("activeDeadlineSeconds"), new_w.get("activeDeadlineSeconds")
    if new_deadline is not None and old_deadline is not None and new_deadline > old_deadline:
        errs.invalid("spec.activeDeadlineSeconds", new_deadline, "must be less than or equal to previous value")
    elif new_deadline is None and old_deadline is not None:
        errs.invalid("spec.activeDeadlineSeconds", None, "must not update from a positive integer to nil value")
    old_tols, new_tols = old_w.get("tolerations", []), new_w.get("tolerations", [])
    if any(t not in new_tols for t in old_tols):
        errs.forbidden("spec.tolerations", "existing toleration can not be modified except its tolerationSeconds")
    munged = copy.deepcopy(new_w)
    for key in ("containers", "initContainers"):
        olds, news = old_w.get(key, []), munged.get(key, [])
        if len(olds) == len(news):
            for o, n in zip(olds, news, strict=True):
                n["image"] = o["image"]
    # ``nodeName`` is read back from where the scheduler put the Pod (the core keeps the node, not the
    # name asked for): an update that sends it back unchanged is no change.
    for key in ("activeDeadlineSeconds", "tolerations", "nodeName"):
        munged.pop(key, None)
        if key in old_w:
            munged[key] = old_w[key]
    if json.dumps(munged, sort_keys=True) != json.dumps(old_w, sort_keys=True):
        errs.forbidden("spec", "pod updates may not change fields other than " + ",".join(POD_UPDATABLE))


# ---------------------------------------------------------------- field selectors


def field_value(resource: str, core_obj: Any, field: str, *,
                node_name: Callable[[str], str] | None = None) -> str:
    """The value of a field a selector names (``FIELDS``), as text (``true``/``false`` for booleans;
    ``spec.nodeName`` through ``node_name`` of the task's node ID)."""
    if field not in FIELDS.get(resource, ()):
        raise InvalidArgument(f'field label not supported: {field}')
    if field == "metadata.name":
        if resource == "nodes":
            return node_name_of(core_obj)
        if resource in ("secrets", "configmaps"):
            return str(core_obj.Spec.Name or core_obj.Name)
        return str(core_obj.Name)
    if field == "metadata.namespace":
        return str(core_obj.Namespace)
    if resource == "pods":
        t: Task = core_obj
        pod = t.Spec.Pod or PodSpecExtra()
        if field == "spec.nodeName":
            if not t.NodeID:
                return ""
            return node_name(t.NodeID) if node_name is not None else (pod.NodeName or t.NodeID)
        if field == "status.phase":
            return pod_phase(t)
        if field == "spec.restartPolicy":
            return pod.RestartPolicy or "Always"
        if field == "spec.schedulerName":
            return pod.SchedulerName or "default-scheduler"
        if field == "spec.serviceAccountName":
            return pod.ServiceAccountName or "default"
        if field == "spec.hostNetwork":
            return "true" if pod.HostNetwork else "false"
        if field == "status.podIP":
            return str(_pod_status(t, "").get("podIP", ""))
        return ""  # status.nominatedNodeName: shoal never nominates
    if resource == "events":
        ev: Event = core_obj
        io = ev.InvolvedObject
        values = {"involvedObject.kind": io.Kind, "involvedObject.namespace": io.Namespace,
                  "involvedObject.name": io.Name, "involvedObject.uid": io.ID,
                  "involvedObject.apiVersion": io.APIVersion, "involvedObject.resourceVersion": "",
                  "involvedObject.fieldPath": io.FieldPath, "reason": ev.Reason,
                  "reportingComponent": ev.Source.Component, "source": ev.Source.Component, "type": ev.Type}
        return values[field]
    if resource == "secrets":
        return str(core_obj.Spec.Type or "Opaque")
    if resource == "namespaces":
        return str(core_obj.Phase or ACTIVE)
    if resource == "replicasets":
        return str(core_obj.Status.Replicas)  # status.replicas
    if resource == "jobs":
        return str(core_obj.Status.Succeeded)  # status.successful
    if resource == "services":
        return str(core_obj.Spec.ClusterIP if field == "spec.clusterIP" else core_obj.Spec.Type)
    if resource == "endpointslices":
        return str(core_obj.AddressType)
    return "true" if core_obj.Spec.Availability != "active" else "false"  # nodes: spec.unschedulable


# ---------------------------------------------------------------- the entry points


def to_core(resource: str, obj: Mapping[str, Any], *, namespace: str) -> Any:
    """A written Kubernetes object (a dict) as its core object, defaulted and validated (``Invalid``
    with Kubernetes' words). ``namespace`` is the request's (the object's own must match it). The
    object's ``uid`` and ``resourceVersion``, if written, come through as ``ID`` and ``Version``."""
    if resource == "pods":
        return _pod_to_core(obj, namespace)
    if resource == "secrets":
        return _secret_to_core(obj, namespace)
    if resource == "configmaps":
        return _config_map_to_core(obj, namespace)
    if resource == "namespaces":
        return _namespace_to_core(obj)
    if resource == "serviceaccounts":
        return _service_account_to_core(obj, namespace)
    if resource == "events":
        return _event_to_core(obj, namespace)
    if resource == "nodes":
        return _node_to_core(obj)
    if resource == "deployments":
        return _deployment_to_core(obj, namespace)
    if resource == "replicasets":
        return _replica_set_to_core(obj, namespace)
    if resource == "daemonsets":
        return _daemon_set_to_core(obj, namespace)
    if resource == "controllerrevisions":
        return _controller_revision_to_core(obj, namespace)

    if resource == "jobs":
        return _job_to_core(obj, namespace)
    if resource == "cronjobs":
        return _cron_job_to_core(obj, namespace)
    if resource in _SERVICE_KINDS:
        return _SERVICE_KINDS[resource][0](obj, namespace)
    raise ValueError(f"no conversion for {resource}")


def to_wire(resource: str, core_obj: Any, *, node_name: Callable[[str], str] | None = None,
            node_addr: Callable[[str], str] | None = None) -> dict[str, Any]:
    """A core object as its full Kubernetes JSON. For a Pod, ``node_name`` and ``node_addr`` give its
    node's name and address from the node's ID (``spec.nodeName``, ``status.hostIP``)."""
    if resource == "pods":
        return _pod_to_wire(core_obj, node_name, node_addr)
    if resource == "secrets":
        return _secret_to_wire(core_obj)
    if resource == "configmaps":
        return _config_map_to_wire(core_obj)
    if resource == "namespaces":
        return _namespace_to_wire(core_obj)
    if resource == "serviceaccounts":
        return _service_account_to_wire(core_obj)
    if resource == "events":
        return _event_to_wire(core_obj)
    if resource == "nodes":
        return _node_to_wire(core_obj)
    if resource == "deployments":
        return _deployment_to_wire(core_obj)
    if resource == "replicasets":
        return _replica_set_to_wire(core_obj)
    if resource == "daemonsets":
        return _daemon_set_to_wire(core_obj)
    if resource == "controllerrevisions":
        return _controller_revision_to_wire(core_obj)

    if resource == "jobs":
        return _job_to_wire(core_obj)
    if resource == "cronjobs":
        return _cron_job_to_wire(core_obj)
    if resource in _SERVICE_KINDS:
        return _SERVICE_KINDS[resource][1](core_obj)
    raise ValueError(f"no conversion for {resource}")


# ---------------------------------------------------------------- Services, Endpoints, EndpointSlices
# The API server's defaults (``SetDefaults_Service``) and validation (``ValidateService``) in its words;
# what is allocated (ClusterIP, NodePorts, IP families) is the core's (``manager/kube/services.py``).

SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
SESSION_AFFINITIES = ("ClientIP", "None")
TRAFFIC_POLICIES = ("Cluster", "Local")
IP_FAMILY_POLICIES = ("PreferDualStack", "RequireDualStack", "SingleStack")
ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")
DEFAULT_CLIENT_IP_TIMEOUT = 10800  # 3 hours, Kubernetes' DefaultClientIPServiceAffinitySeconds
MAX_CLIENT_IP_TIMEOUT = 86400
_DNS1035_LABEL = "[a-z]([-a-z0-9]*[a-z0-9])?"
_re_dns1035 = re.compile(_DNS1035_LABEL)
_DNS1035_MSG = _regex_error("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
                            "an alphabetic character, and end with an alphanumeric character", _DNS1035_LABEL,
                            "my-name", "abc-123")
_IP_MSG = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
_PORT_RANGE_MSG = "must be between 1 and 65535, inclusive"


def dns1035_label(value: str) -> list[str]:
    """What is wrong with ``value`` as an RFC 1035 label (a Service's name)."""
    errs = [_max_len(63)] if len(value) > 63 else []
    if not _re_dns1035.fullmatch(value):
        errs.append(_DNS1035_MSG)
    return errs


def _valid_ip(value: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _go_service_port_key(protocol: str, port: int) -> _GoValue:
    """``core.ServicePort{Protocol, Port}`` as Go's ``%#v`` prints it (a duplicate port's value)."""
    return _GoValue(f'core.ServicePort{{Name:"", Protocol:"{protocol}", AppProtocol:(*string)(nil), Port:{port}, '
                    'TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}')


def _service_ports(raw: list[Any], kind: str, headless: bool, errs: _Errors) -> list[KubeServicePort]:
    ports: list[KubeServicePort] = []
    names: set[str] = set()
    seen: set[tuple[str, int]] = set()
    for i, item in enumerate(raw):
        p = _dict(item)
        path = f"spec.ports[{i}]"
        name = _str(p.get("name"))
        if len(raw) > 1 and not name:
            errs.required(f"{path}.name")
        elif name:
            for m in dns1123_label(name):
                errs.invalid(f"{path}.name", name, m)
            if name in names:
                errs.duplicate(f"{path}.name", name)
            names.add(name)
        port = _int(p.get("port"))
        if not 1 <= port <= 65535:
            errs.invalid(f"{path}.port", port, _PORT_RANGE_MSG)
        protocol = _str(p.get("protocol")) or "TCP"
        if protocol not in PROTOCOLS:
            errs.unsupported(f"{path}.protocol", protocol, PROTOCOLS)
        raw_target = p.get("targetPort")
        target: int | str = raw_target if isinstance(raw_target, int | str) and not isinstance(raw_target, bool) \
            else 0
        if target in (0, ""):
            target = port
        elif isinstance(target, int):
            if not 1 <= target <= 65535:
                errs.invalid(f"{path}.targetPort", target, _PORT_RANGE_MSG)
        else:
            for m in _port_name(target):
                errs.invalid(f"{path}.targetPort", target, m)
        node_port = _int(p.get("nodePort"))
        if node_port and kind == "ClusterIP":
            errs.forbidden(f"{path}.nodePort", "may not be used when `type` is 'ClusterIP'")
        elif node_port and not 1 <= node_port <= 65535:
            errs.invalid(f"{path}.nodePort", node_port, _PORT_RANGE_MSG)
        key = (protocol, port)
        if key in seen:
            errs.duplicate(path, _go_service_port_key(protocol, port))
        seen.add(key)
        ports.append(KubeServicePort(Name=name, Protocol=protocol, AppProtocol=_str(p.get("appProtocol")), Port=port,
                                     TargetPort=target, NodePort=node_port))
    return ports


def _service_to_core(obj: Mapping[str, Any], namespace: str) -> KubeService:
    """A Service, defaulted (``SetDefaults_Service``) and validated (``ValidateService``)."""
    errs = _Errors()
    meta = _Meta(obj, errs, namespace=namespace, namespaced=True, name_rule=dns1035_label)
    spec = _dict(obj.get("spec"))
    kind = _str(spec.get("type")) or "ClusterIP"
    ips = [ip for ip in _str_list(spec.get("clusterIPs")) or [] if ip]
    cluster_ip = _str(spec.get("clusterIP")) or (ips[0] if ips else "")
    if ips and cluster_ip and ips[0] != cluster_ip:
        errs.invalid("spec.clusterIPs", _GoValue(_go_strings(ips)), "element [0] must match clusterIP")
    headless = cluster_ip == CLUSTER_IP_NONE
    if kind not in SERVICE_TYPES:
        errs.unsupported("spec.type", kind, SERVICE_TYPES)
    raw_ports = _list(spec.get("ports"))
    if not raw_ports and kind != "ExternalName" and not headless:
        errs.required("spec.ports")
    ports = _service_ports(raw_ports, kind, headless, errs)
    external_name = _str(spec.get("externalName"))
    if kind == "ExternalName":
        if cluster_ip:
            errs.forbidden("spec.clusterIPs", "may not be set for ExternalName services")
        if not external_name:
            errs.required("spec.externalName")
        else:
            for m in dns1123_subdomain(external_name.removesuffix(".")):
                errs.invalid("spec.externalName", external_name, m)
    elif cluster_ip and not headless and not _valid_ip(cluster_ip):
        errs.invalid("spec.clusterIPs[0]", cluster_ip, _IP_MSG)
    if headless and kind in ("NodePort", "LoadBalancer"):
        errs.invalid("spec.clusterIPs[0]", cluster_ip, f"may not be set to 'None' for {kind} services")
    selector = _str_map(spec.get("selector"))
    if selector:
        _validate_labels(errs, selector, "spec.selector")
    affinity = _str(spec.get("sessionAffinity")) or "None"
    if affinity not in SESSION_AFFINITIES:
        errs.unsupported("spec.sessionAffinity", affinity, SESSION_AFFINITIES)
    timeout: int | None = None
    if affinity == "ClientIP":
        timeout = _opt_int(_dict(_dict(spec.get("sessionAffinityConfig")).get("clientIP")).get("timeoutSeconds"))
        timeout = DEFAULT_CLIENT_IP_TIMEOUT if timeout is None else timeout
        if not 0 < timeout <= MAX_CLIENT_IP_TIMEOUT:
            errs.invalid("spec.sessionAffinityConfig.clientIP.timeoutSeconds", timeout,
                         f"must be greater than 0 and less than {MAX_CLIENT_IP_TIMEOUT}")
    elif spec.get("sessionAffinityConfig"):
        errs.forbidden("spec.sessionAffinityConfig", "must not be set when session affinity is None")
    external = kind in ("NodePort", "LoadBalancer")
    etp = _str(spec.get("externalTrafficPolicy"))
    if external:
        etp = etp or "Cluster"
        if etp not in TRAFFIC_POLICIES:
            errs.unsupported("spec.externalTrafficPolicy", etp, TRAFFIC_POLICIES)
    elif etp:
        errs.invalid("spec.externalTrafficPolicy", etp, "may only be set for externally-accessible services")
    itp = _str(spec.get("internalTrafficPolicy"))
    if kind != "ExternalName":
        itp = itp or "Cluster"
        if itp not in TRAFFIC_POLICIES:
            errs.unsupported("spec.internalTrafficPolicy", itp, TRAFFIC_POLICIES)
    policy = _str(spec.get("ipFamilyPolicy"))
    if policy and policy not in IP_FAMILY_POLICIES:
        errs.unsupported("spec.ipFamilyPolicy", policy, IP_FAMILY_POLICIES)
    families = _str_list(spec.get("ipFamilies"))
    for i, f in enumerate(families or []):
        if f not in ("IPv4", "IPv6"):
            errs.unsupported(f"spec.ipFamilies[{i}]", f, ("IPv4", "IPv6"))
    external_ips = _str_list(spec.get("externalIPs"))
    for i, ip in enumerate(external_ips or []):
        if not _valid_ip(ip):
            errs.invalid(f"spec.externalIPs[{i}]", ip, _IP_MSG)
    allocate_lb = _opt_bool(spec.get("allocateLoadBalancerNodePorts"))
    if kind == "LoadBalancer":
        allocate_lb = True if allocate_lb is None else allocate_lb
    elif allocate_lb is not None:
        errs.forbidden("spec.allocateLoadBalancerNodePorts", "may only be used when `type` is 'LoadBalancer'")
    health = _int(spec.get("healthCheckNodePort"))
    lb_class = _str(spec.get("loadBalancerClass"))
    if lb_class and kind != "LoadBalancer":
        errs.forbidden("spec.loadBalancerClass", "may only be used when `type` is 'LoadBalancer'")
    errs.check("Service", meta.shown_name)
    status = _dict(obj.get("status"))
    ingress = [LoadBalancerIngress(IP=_str(_dict(i).get("ip")), Hostname=_str(_dict(i).get("hostname")))
               for i in _list(_dict(status.get("loadBalancer")).get("ingress"))]
    svc = KubeService(ID="", Name=meta.name, Labels=meta.labels, Spec=KubeServiceSpec(
        Type=kind, Ports=ports or None, Selector=selector or None,
        ClusterIP="" if kind == "ExternalName" else cluster_ip, ClusterIPs=ips or None,
        ExternalIPs=external_ips, ExternalName=external_name, SessionAffinity=affinity,
        SessionAffinityTimeout=timeout, LoadBalancerIP=_str(spec.get("loadBalancerIP")),
        LoadBalancerSourceRanges=_str_list(spec.get("loadBalancerSourceRanges")), LoadBalancerClass=lb_class,
        AllocateLoadBalancerNodePorts=allocate_lb, ExternalTrafficPolicy=etp, InternalTrafficPolicy=itp,
        HealthCheckNodePort=health, PublishNotReadyAddresses=spec.get("publishNotReadyAddresses") is True,
        IPFamilies=families, IPFamilyPolicy=policy, TrafficDistribution=_str(spec.get("trafficDistribution"))),
        Status=KubeServiceStatus(LoadBalancer=ingress or None))
    _object_base(svc, meta)
    return svc


def _go_strings(items: list[str]) -> str:
    return "[]string{" + ", ".join(json.dumps(i) for i in items) + "}"


def _service_port_wire(p: KubeServicePort) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if p.Name:
        d["name"] = p.Name
    d["protocol"] = p.Protocol
    if p.AppProtocol:
        d["appProtocol"] = p.AppProtocol
    d["port"] = p.Port
    d["targetPort"] = p.TargetPort
    if p.NodePort:
        d["nodePort"] = p.NodePort
    return d


def _service_to_wire(svc: KubeService) -> dict[str, Any]:
    s = svc.Spec
    spec: dict[str, Any] = {}
    if s.Ports:
        spec["ports"] = [_service_port_wire(p) for p in s.Ports]
    if s.Selector:
        spec["selector"] = _sorted(s.Selector)
    if s.ClusterIP:
        spec["clusterIP"] = s.ClusterIP
    if s.ClusterIPs:
        spec["clusterIPs"] = list(s.ClusterIPs)
    spec["type"] = s.Type
    if s.ExternalIPs:
        spec["externalIPs"] = list(s.ExternalIPs)
    spec["sessionAffinity"] = s.SessionAffinity
    if s.LoadBalancerIP:
        spec["loadBalancerIP"] = s.LoadBalancerIP
    if s.LoadBalancerSourceRanges:
        spec["loadBalancerSourceRanges"] = list(s.LoadBalancerSourceRanges)
    if s.ExternalName:
        spec["externalName"] = s.ExternalName
    if s.ExternalTrafficPolicy:
        spec["externalTrafficPolicy"] = s.ExternalTrafficPolicy
    if s.HealthCheckNodePort:
        spec["healthCheckNodePort"] = s.HealthCheckNodePort
    if s.PublishNotReadyAddresses:
        spec["publishNotReadyAddresses"] = True
    if s.SessionAffinityTimeout is not None:
        spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": s.SessionAffinityTimeout}}
    if s.IPFamilies:
        spec["ipFamilies"] = list(s.IPFamilies)
    if s.IPFamilyPolicy:
        spec["ipFamilyPolicy"] = s.IPFamilyPolicy
    if s.AllocateLoadBalancerNodePorts is not None:
        spec["allocateLoadBalancerNodePorts"] = s.AllocateLoadBalancerNodePorts
    if s.LoadBalancerClass:
        spec["loadBalancerClass"] = s.LoadBalancerClass
    if s.InternalTrafficPolicy:
        spec["internalTrafficPolicy"] = s.InternalTrafficPolicy
    if s.TrafficDistribution:
        spec["trafficDistribution"] = s.TrafficDistribution
    lb: dict[str, Any] = {}
    if svc.Status.LoadBalancer:
        lb["ingress"] = [{k: v for k, v in (("ip", i.IP), ("hostname", i.Hostname)) if v}
                         for i in svc.Status.LoadBalancer]
    return {"kind": "Service", "apiVersion": "v1",
            "metadata": _wire_meta(svc, name=svc.Name, labels=svc.Labels, namespaced=True),
            "spec": spec, "status": {"loadBalancer": lb}}


def _validate_service_update(errs: _Errors, cur: KubeService, new: KubeService) -> None:
    """What an update may not change: a set ClusterIP (but to an ExternalName Service, which has none)."""
    if new.Spec.Type == "ExternalName" or cur.Spec.Type == "ExternalName":
        return
    if new.Spec.ClusterIP and cur.Spec.ClusterIP and new.Spec.ClusterIP != cur.Spec.ClusterIP:
        errs.invalid("spec.clusterIPs[0]", new.Spec.ClusterIP, "may not change once set")


def _target_to_core(raw: object) -> EndpointTarget | None:
    if not isinstance(raw, dict):
        return None
    return EndpointTarget(Kind=_str(raw.get("kind")), Namespace=_str(raw.get("namespace")),
                          Name=_str(raw.get("name")), UID=_str(raw.get("uid")))


def _target_wire(t: EndpointTarget) -> dict[str, Any]:
    return {k: v for k, v in (("kind", t.Kind), ("namespace", t.Namespace), ("name", t.Name), ("uid", t.UID)) if v}


def _endpoint_ports_to_core(raw: list[Any], path: str, errs: _Errors) -> list[EndpointPort]:
    out: list[EndpointPort] = []
    for i, item in enumerate(raw):
        p = _dict(item)
        name = _str(p.get("name"))
        if len(raw) > 1 and not name:
            errs.required(f"{path}[{i}].name")
        port = _int(p.get("port"))
        if not 1 <= port <= 65535:
            errs.invalid(f"{path}[{i}].port", port, _PORT_RANGE_MSG)
        protocol = _str(p.get("protocol")) or "TCP"
        if protocol not in PROTOCOLS:
            errs.unsupported(f"{path}[{i}].protocol", protocol, PROTOCOLS)
        out.append(EndpointPort(Name=name, Port=port, Protocol=protocol, AppProtocol=_str(p.get("appProtocol"))))
    return out


def _endpoint_port_wire(p: EndpointPort) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if p.Name:
        d["name"] = p.Name
    d["port"] = p.Port
    d["protocol"] = p.Protocol
    if p.AppProtocol:
        d["appProtocol"] = p.AppProtocol
    return d


def _addresses_to_core(raw: list[Any], path: str, errs: _Errors) -> list[EndpointAddress] | None:
    out: list[EndpointAddress] = []
    for i, item in enumerate(raw):
        a = _dict(item)
        ip = _str(a.get("ip"))
        if not _valid_ip(ip):
            errs.invalid(f"{path}[{i}].ip", ip, _IP_MSG)
        out.append(EndpointAddress(IP=ip, Hostname=_str(a.get("hostname")), NodeName=_str(a.get("nodeName")),
                                   TargetRef=_target_to_core(a.get("targetRef"))))
    return out or None


def _address_wire(a: EndpointAddress) -> dict[str, Any]:
    d: dict[str, Any] = {"ip": a.IP}
    if a.Hostname:
        d["hostname"] = a.Hostname
    if a.NodeName:
        d["nodeName"] = a.NodeName
    if a.TargetRef is not None:
        d["targetRef"] = _target_wire(a.TargetRef)
    return d


def _endpoints_to_core(obj: Mapping[str, Any], namespace: str) -> Endpoints:
    errs = _Errors()
    meta = _Meta(obj, errs, namespace=namespace, namespaced=True, name_rule=dns1123_subdomain)
    subsets: list[EndpointSubset] = []
    for i, raw in enumerate(_list(obj.get("subsets"))):
        ss = _dict(raw)
        path = f"subsets[{i}]"
        subsets.append(EndpointSubset(
            Addresses=_addresses_to_core(_list(ss.get("addresses")), f"{path}.addresses", errs),
            NotReadyAddresses=_addresses_to_core(_list(ss.get("notReadyAddresses")), f"{path}.notReadyAddresses",
                                                 errs),
            Ports=_endpoint_ports_to_core(_list(ss.get("ports")), f"{path}.ports", errs) or None))
    errs.check("Endpoints", meta.shown_name)
    ep = Endpoints(ID="", Name=meta.name, Labels=meta.labels, Subsets=subsets or None)
    _object_base(ep, meta)
    return ep


def _endpoints_to_wire(ep: Endpoints) -> dict[str, Any]:
    d: dict[str, Any] = {"kind": "Endpoints", "apiVersion": "v1",
                         "metadata": _wire_meta(ep, name=ep.Name, labels=ep.Labels, namespaced=True)}
    if ep.Subsets:
        subsets = []
        for ss in ep.Subsets:
            w: dict[str, Any] = {}
            if ss.Addresses:
                w["addresses"] = [_address_wire(a) for a in ss.Addresses]
            if ss.NotReadyAddresses:
                w["notReadyAddresses"] = [_address_wire(a) for a in ss.NotReadyAddresses]
            if ss.Ports:
                w["ports"] = [_endpoint_port_wire(p) for p in ss.Ports]
            subsets.append(w)
        d["subsets"] = subsets
    return d


def _endpoint_slice_to_core(obj: Mapping[str, Any], namespace: str) -> EndpointSlice:
    errs = _Errors()
    meta = _Meta(obj, errs, namespace=namespace, namespaced=True, name_rule=dns1123_subdomain)
    address_type = _str(obj.get("addressType"))
    if not address_type:
        errs.required("addressType")
    elif address_type not in ADDRESS_TYPES:
        errs.unsupported("addressType", address_type, ADDRESS_TYPES)
    endpoints: list[SliceEndpoint] = []
    for i, raw in enumerate(_list(obj.get("endpoints"))):
        e = _dict(raw)
        addresses = _str_list(e.get("addresses")) or []
        if not addresses:
            errs.required(f"endpoints[{i}].addresses", "must contain at least 1 address")
        elif address_type in ("IPv4", "IPv6"):
            for j, a in enumerate(addresses):
                if not _valid_ip(a):
                    errs.invalid(f"endpoints[{i}].addresses[{j}]", a, _IP_MSG)
        c = _dict(e.get("conditions"))
        endpoints.append(SliceEndpoint(
            Addresses=addresses, Conditions=EndpointConditions(Ready=_opt_bool(c.get("ready")),
                                                               Serving=_opt_bool(c.get("serving")),
                                                               Terminating=_opt_bool(c.get("terminating"))),
            Hostname=_str(e.get("hostname")), NodeName=_str(e.get("nodeName")), Zone=_str(e.get("zone")),
            TargetRef=_target_to_core(e.get("targetRef"))))
    ports = _endpoint_ports_to_core(_list(obj.get("ports")), "ports", errs)
    errs.check("EndpointSlice", meta.shown_name)
    es = EndpointSlice(ID="", Name=meta.name, Labels=meta.labels, AddressType=address_type,
                       Endpoints=endpoints or None, Ports=ports or None)
    _object_base(es, meta)
    return es


def _endpoint_slice_to_wire(es: EndpointSlice) -> dict[str, Any]:
    endpoints = []
    for e in es.Endpoints or []:
        w: dict[str, Any] = {"addresses": list(e.Addresses)}
        c = e.Conditions
        w["conditions"] = {k: v for k, v in (("ready", c.Ready), ("serving", c.Serving),
                                              ("terminating", c.Terminating)) if v is not None}
        if e.Hostname:
            w["hostname"] = e.Hostname
        if e.TargetRef is not None:
            w["targetRef"] = _target_wire(e.TargetRef)
        if e.NodeName:
            w["nodeName"] = e.NodeName
        if e.Zone:
            w["zone"] = e.Zone
        endpoints.append(w)
    d: dict[str, Any] = {"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
                         "metadata": _wire_meta(es, name=es.Name, labels=es.Labels, namespaced=True),
                         "addressType": es.AddressType, "endpoints": endpoints or None}
    # (a slice's port always has its name, "" when the Service's has none: kubectl's describe reads it)
    d["ports"] = [{"name": p.Name, **_endpoint_port_wire(p)} for p in es.Ports] if es.Ports else None
    return d


_SERVICE_KINDS: dict[str, tuple[Callable[[Mapping[str, Any], str], Any], Callable[[Any], dict[str, Any]]]] = {
    "services": (_service_to_core, _service_to_wire),
    "endpoints": (_endpoints_to_core, _endpoints_to_wire),
    "endpointslices": (_endpoint_slice_to_core, _endpoint_slice_to_wire),
}


# ---------------------------------------------------------------- Services: the registry's PrepareForUpdate
# kube-apiserver's ``dropTypeDependentFields`` (pkg/registry/core/service/strategy.go): an update that
# changes a Service's type clears what the old type had and the new one cannot have (its NodePorts, its
# health check NodePort, its ClusterIP for ExternalName, ...), but only a field the update left as it was:
# one the client changed too is the client's and is validated as sent.

_NODE_PORT_TYPES = ("NodePort", "LoadBalancer")


def prepare_update(resource: str, cur: Any, new: dict[str, Any]) -> dict[str, Any]:
    """``new`` (a whole wire object replacing ``cur``, the core object) as the registry prepares it before
    validation; ``new`` itself when there is nothing to do."""
    if resource == "services" and isinstance(cur, KubeService):
        return _drop_type_dependent_fields(cur, new)
    return new


def _drop_type_dependent_fields(cur: KubeService, new: dict[str, Any]) -> dict[str, Any]:
    old = cur.Spec
    spec = dict(_dict(new.get("spec")))
    kind = _str(spec.get("type")) or "ClusterIP"
    if kind == old.Type:
        return new
    if old.Type != "ExternalName" and kind == "ExternalName":
        if _str(spec.get("clusterIP")) == old.ClusterIP and (_str_list(spec.get("clusterIPs")) or []) == \
                (old.ClusterIPs or []):
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        if (_str_list(spec.get("ipFamilies")) or []) == (old.IPFamilies or []):
            spec.pop("ipFamilies", None)
        if _str(spec.get("ipFamilyPolicy")) == old.IPFamilyPolicy:
            spec.pop("ipFamilyPolicy", None)
    if old.Type in _NODE_PORT_TYPES and kind not in _NODE_PORT_TYPES:
        ports = [_dict(p) for p in _list(spec.get("ports"))]
        had = {p.NodePort for p in old.Ports or [] if p.NodePort}
        if {_int(p.get("nodePort")) for p in ports if p.get("nodePort")} <= had:  # no new NodePort asked for
            spec["ports"] = [{k: v for k, v in p.items() if k != "nodePort"} for p in ports]
    new_local = kind == "LoadBalancer" and _str(spec.get("externalTrafficPolicy")) == "Local"
    if old.Type == "LoadBalancer" and old.ExternalTrafficPolicy == "Local" and not new_local and \
            _int(spec.get("healthCheckNodePort")) == old.HealthCheckNodePort:
        spec.pop("healthCheckNodePort", None)
    if old.Type == "LoadBalancer" and kind != "LoadBalancer":
        asked = spec.get("allocateLoadBalancerNodePorts")
        if isinstance(asked, bool) and old.AllocateLoadBalancerNodePorts is not None and \
                asked == old.AllocateLoadBalancerNodePorts:
            spec.pop("allocateLoadBalancerNodePorts", None)
        if _str(spec.get("loadBalancerClass")) == old.LoadBalancerClass:
            spec.pop("loadBalancerClass", None)
    if old.Type in _NODE_PORT_TYPES and kind not in _NODE_PORT_TYPES and \
            _str(spec.get("externalTrafficPolicy")) == old.ExternalTrafficPolicy:
        spec.pop("externalTrafficPolicy", None)
    return {**new, "spec": spec}

# ---------------------------------------------------------------- Ingresses and IngressClasses (networking.k8s.io/v1)
# The API server's defaults and validation (``pkg/apis/networking/validation``) in its words; which class
# an Ingress without one gets is the core's (the DefaultIngressClass admission, ``KubeObjects._prepare``).

RESOURCES += ("ingresses", "ingressclasses")
KIND_OF_RESOURCE.update({"ingresses": "Ingress", "ingressclasses": "IngressClass"})
FIELDS.update({"ingresses": frozenset({"metadata.name", "metadata.namespace"}),
               "ingressclasses": frozenset({"metadata.name"})})

PATH_TYPES = ("Exact", "ImplementationSpecific", "Prefix")
PARAMETER_SCOPES = ("Cluster", "Namespace")
INVALID_PATH_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
INVALID_PATH_SUFFIXES = ("/..", "/.")
_WILDCARD_SUBDOMAIN = r"\*\." + _DNS1123_SUBDOMAIN
_re_wildcard = re.compile(_WILDCARD_SUBDOMAIN)
_WILDCARD_MSG = _regex_error("a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, "
                             "which must consist of lower case alphanumeric characters, '-' or '.' and end with an "
                             "alphanumeric character", _WILDCARD_SUBDOMAIN, "*.example.com")
_HTTP_PATH = r"[A-Za-z0-9/\-._~%!$&'()*+,;=:]+"
_re_http_path = re.compile(_HTTP_PATH)
_re_path_segment_bad = ("/", "%")


def wildcard_dns1123_subdomain(value: str) -> list[str]:
    """What is wrong with ``value`` as a wildcard subdomain (``*.example.com``)."""
    errs = [_max_len(253)] if len(value) > 253 else []
    if not _re_wildcard.fullmatch(value):
        errs.append(_WILDCARD_MSG)
    return errs


def _host_errors(host: str) -> list[str]:
    return wildcard_dns1123_subdomain(host) if "*" in host else dns1123_subdomain(host)


def _path_segment(value: str) -> list[str]:
    """apimachinery's ``IsValidPathSegmentName`` (a kind's or a name's words)."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}'" for c in _re_path_segment_bad if c in value]


def _typed_ref(raw: Mapping[str, Any], path: str, errs: _Errors) -> core_types.IngressResourceRef:
    """A TypedLocalObjectReference (a resource backend, an IngressClass's parameters), checked."""
    group = raw.get("apiGroup")
    api_group = group if isinstance(group, str) else None
    if api_group is not None:
        for m in dns1123_subdomain(api_group):
            errs.invalid(f"{path}.apiGroup", api_group, m)
    kind, name = _str(raw.get("kind")), _str(raw.get("name"))
    if not kind:
        errs.required(f"{path}.kind", "kind is required")
    for m in _path_segment(kind) if kind else []:
        errs.invalid(f"{path}.kind", kind, m)
    if not name:
        errs.required(f"{path}.name", "name is required")
    for m in _path_segment(name) if name else []:
        errs.invalid(f"{path}.name", name, m)
    return core_types.IngressResourceRef(APIGroup=api_group, Kind=kind, Name=name)


def _ingress_backend(raw: Mapping[str, Any], path: str, errs: _Errors) -> core_types.IngressBackend:
    """An IngressBackend (``validateIngressBackend``): a Service and its port (name or number) or a resource."""
    service, resource = raw.get("service"), raw.get("resource")
    out = core_types.IngressBackend()
    if isinstance(service, dict) and isinstance(resource, dict):
        errs.invalid(path, "", "cannot set both resource and service backends")
        return out
    if isinstance(resource, dict):
        out.Resource = _typed_ref(resource, f"{path}.resource", errs)
        return out
    if not isinstance(service, dict):
        errs.invalid(path, "", "resource or service backend is required")
        return out
    name = _str(service.get("name"))
    if not name:
        errs.required(f"{path}.service.name")
    for m in dns1035_label(name) if name else []:
        errs.invalid(f"{path}.service.name", name, m)
    port = _dict(service.get("port"))
    port_name, number = _str(port.get("name")), _int(port.get("number"))
    if port_name and number:
        errs.invalid(path, "", "cannot set both port name & port number")
    elif port_name:
        for m in _port_name(port_name):
            errs.invalid(f"{path}.service.port.name", port_name, m)
    elif number:
        if not 1 <= number <= 65535:
            errs.invalid(f"{path}.service.port.number", number, _PORT_RANGE_MSG)
    else:
        errs.required(path, "port name or number is required")
    out.Service, out.Port, out.PortName = name, number, port_name
    return out


def _ingress_path(raw: Mapping[str, Any], path: str, errs: _Errors) -> core_types.IngressPath:
    """An HTTPIngressPath (``validateHTTPIngressPath``): a pathType is required, Exact and Prefix paths are
    absolute and clean."""
    p, kind = _str(raw.get("path")), raw.get("pathType")
    out = core_types.IngressPath(Path=p, PathType=kind if isinstance(kind, str) else "")
    if not isinstance(kind, str):
        errs.required(f"{path}.pathType", "pathType must be specified")
        return out
    if kind in ("Exact", "Prefix"):
        if not p.startswith("/"):
            errs.invalid(f"{path}.path", p, "must be an absolute path")
        if p:
            for seq in INVALID_PATH_SEQUENCES:
                if seq in p:
                    errs.invalid(f"{path}.path", p, f"must not contain '{seq}'")
            for suffix in INVALID_PATH_SUFFIXES:
                if p.endswith(suffix):
                    errs.invalid(f"{path}.path", p, f"cannot end with '{suffix}'")
    elif kind == "ImplementationSpecific":
        if p and not p.startswith("/"):
            errs.invalid(f"{path}.path", p, "must be an absolute path")
    else:
        errs.unsupported(f"{path}.pathType", kind, PATH_TYPES)
    out.Backend = _ingress_backend(_dict(raw.get("backend")), f"{path}.backend", errs)
    return out


def _ingress_rules(raw: list[Any], errs: _Errors) -> list[core_types.IngressRule]:
    rules = []
    for i, item in enumerate(raw):
        r = _dict(item)
        host = _str(r.get("host"))
        path = f"spec.rules[{i}]"
        if host:
            if _valid_ip(host):
                errs.invalid(f"{path}.host", host, "must be a DNS name, not an IP address")
            for m in _host_errors(host):
                errs.invalid(f"{path}.host", host, m)
        rule = core_types.IngressRule(Host=host)
        http = r.get("http")
        if isinstance(http, dict):
            paths = _list(http.get("paths"))
            if not paths:
                errs.required(f"{path}.http.paths")
            rule.Paths = [_ingress_path(_dict(p), f"{path}.http.paths[{j}]", errs) for j, p in enumerate(paths)]
        rules.append(rule)
    return rules


def _ingress_tls(raw: list[Any], errs: _Errors) -> list[core_types.IngressTLS]:
    out = []
    for i, item in enumerate(raw):
        t = _dict(item)
        hosts = _str_list(t.get("hosts"))
        for j, host in enumerate(hosts or []):
            for m in _host_errors(host):
                errs.invalid(f"spec.tls[{i}].hosts[{j}]", host, m)
        secret = _str(t.get("secretName"))
        for m in dns1123_subdomain(secret) if secret else []:
            errs.invalid(f"spec.tls[{i}].secretName", secret, m)
        out.append(core_types.IngressTLS(Hosts=hosts, SecretName=secret))
    return out


def _ingress_to_core(obj: Mapping[str, Any], namespace: str) -> core_types.Ingress:
    """An Ingress, validated as ``ValidateIngressCreate`` does (``ValidateIngressSpec``'s order)."""
    errs = _Errors()
    meta = _Meta(obj, errs, namespace=namespace, namespaced=True, name_rule=dns1123_subdomain)
    spec = _dict(obj.get("spec"))
    raw_rules = spec.get("rules")
    rules_list = _list(raw_rules)
    raw_default = spec.get("defaultBackend")
    if not rules_list and not isinstance(raw_default, dict):
        shown = "[]networking.IngressRule{}" if isinstance(raw_rules, list) else "[]networking.IngressRule(nil)"
        errs.invalid("spec", _GoValue(shown), "either `defaultBackend` or `rules` must be specified")
    default = _ingress_backend(raw_default, "spec.defaultBackend", errs) if isinstance(raw_default, dict) else None
    rules = _ingress_rules(rules_list, errs)
    tls = _ingress_tls(_list(spec.get("tls")), errs)
    raw_class = spec.get("ingressClassName")
    class_name = raw_class if isinstance(raw_class, str) else None
    if class_name is not None:
        for m in dns1123_subdomain(class_name):
            errs.invalid("spec.ingressClassName", class_name, m)
    legacy = (meta.annotations or {}).get("kubernetes.io/ingress.class")
    if legacy is not None and class_name is not None and legacy != class_name:
        errs.invalid("annotations.kubernetes.io/ingress.class", legacy,
                     "must match `ingressClassName` when both are specified")
    errs.check("Ingress", meta.shown_name)
    status = _dict(obj.get("status"))
    lb = [LoadBalancerIngress(IP=_str(_dict(i).get("ip")), Hostname=_str(_dict(i).get("hostname")))
          for i in _list(_dict(status.get("loadBalancer")).get("ingress"))]
    ing = core_types.Ingress(ID="", Name=meta.name, Labels=meta.labels, Spec=core_types.IngressSpec(
        IngressClassName=class_name, DefaultBackend=default, TLS=tls or None, Rules=rules or None),
        Status=core_types.IngressStatus(LoadBalancer=lb or None))
    _object_base(ing, meta)
    return ing


def _ingress_backend_wire(b: core_types.IngressBackend) -> dict[str, Any]:
    if b.Resource is not None:
        ref: dict[str, Any] = {}
        if b.Resource.APIGroup is not None:
            ref["apiGroup"] = b.Resource.APIGroup
        ref.update(kind=b.Resource.Kind, name=b.Resource.Name)
        return {"resource": ref}
    port: dict[str, Any] = {"name": b.PortName} if b.PortName else {"number": b.Port}
    return {"service": {"name": b.Service, "port": port}}


def _ingress_to_wire(ing: core_types.Ingress) -> dict[str, Any]:
    s = ing.Spec
    spec: dict[str, Any] = {}
    if s.IngressClassName is not None:
        spec["ingressClassName"] = s.IngressClassName
    if s.DefaultBackend is not None:
        spec["defaultBackend"] = _ingress_backend_wire(s.DefaultBackend)
    if s.TLS:
        spec["tls"] = [{k: v for k, v in (("hosts", t.Hosts), ("secretName", t.SecretName)) if v} for t in s.TLS]
    if s.Rules:
        rules = []
        for r in s.Rules:
            w: dict[str, Any] = {"host": r.Host} if r.Host else {}
            if r.Paths is not None:
                w["http"] = {"paths": [{**({"path": p.Path} if p.Path else {}), "pathType": p.PathType,
                                        "backend": _ingress_backend_wire(p.Backend)} for p in r.Paths]}
            rules.append(w)
        spec["rules"] = rules
    lb: dict[str, Any] = {}
    if ing.Status.LoadBalancer:
        lb["ingress"] = [{k: v for k, v in (("ip", i.IP), ("hostname", i.Hostname)) if v}
                         for i in ing.Status.LoadBalancer]
    return {"kind": "Ingress", "apiVersion": "networking.k8s.io/v1",
            "metadata": _wire_meta(ing, name=ing.Name, labels=ing.Labels, namespaced=True, generation=True),
            "spec": spec, "status": {"loadBalancer": lb}}


def _ingress_class_to_core(obj: Mapping[str, Any], namespace: str) -> core_types.IngressClass:
    """An IngressClass (``ValidateIngressClass``): a domain-prefixed controller, parameters' scope
    defaulted to ``Cluster``."""
    errs = _Errors()
    meta = _Meta(obj, errs, namespace="", namespaced=False, name_rule=dns1123_subdomain)
    spec = _dict(obj.get("spec"))
    controller = _str(spec.get("controller"))
    if len(controller) > 250:
        errs.too_long("spec.controller", 250)
    head, _, tail = controller.partition("/")
    if not controller:
        errs.required("spec.controller")
    elif not head or not tail:
        errs.invalid("spec.controller", controller, 'must be a domain-prefixed path (such as "acme.io/foo")')
    else:
        for m in dns1123_subdomain(head):
            errs.invalid("spec.controller", head, m)
        if not _re_http_path.fullmatch(tail):
            errs.invalid("spec.controller", tail, _regex_error("Invalid path", _HTTP_PATH))
    params: core_types.IngressClassParameters | None = None
    raw = spec.get("parameters")
    if isinstance(raw, dict):
        ref = _typed_ref(raw, "spec.parameters", errs)
        scope_raw, ns_raw = raw.get("scope"), raw.get("namespace")
        scope = scope_raw if isinstance(scope_raw, str) else "Cluster"
        ns = ns_raw if isinstance(ns_raw, str) else None
        if scope not in PARAMETER_SCOPES:
            errs.unsupported("spec.parameters.scope", scope, PARAMETER_SCOPES)
        elif scope == "Namespace" and ns is None:
            errs.required("spec.parameters.namespace", "`parameters.scope` is set to 'Namespace'")
        elif scope == "Namespace" and ns is not None:
            for m in dns1123_label(ns):
                errs.invalid("spec.parameters.namespace", ns, m)
        elif scope == "Cluster" and ns is not None:
            errs.forbidden("spec.parameters.namespace", "`parameters.scope` is set to 'Cluster'")
        params = core_types.IngressClassParameters(APIGroup=ref.APIGroup, Kind=ref.Kind, Name=ref.Name,
                                                   Scope=scope, Namespace=ns)
    errs.check("IngressClass", meta.shown_name)
    cls = core_types.IngressClass(ID="", Name=meta.name, Labels=meta.labels, Spec=core_types.IngressClassSpec(
        Controller=controller, Parameters=params))
    _object_base(cls, meta)
    return cls


def _ingress_class_to_wire(cls: core_types.IngressClass) -> dict[str, Any]:
    spec: dict[str, Any] = {"controller": cls.Spec.Controller} if cls.Spec.Controller else {}
    p = cls.Spec.Parameters
    if p is not None:
        params: dict[str, Any] = {}
        if p.APIGroup is not None:
            params["apiGroup"] = p.APIGroup
        params.update(kind=p.Kind, name=p.Name)
        if p.Scope is not None:
            params["scope"] = p.Scope
        if p.Namespace is not None:
            params["namespace"] = p.Namespace
        spec["parameters"] = params
    return {"kind": "IngressClass", "apiVersion": "networking.k8s.io/v1",
            "metadata": _wire_meta(cls, name=cls.Name, labels=cls.Labels, namespaced=False, generation=True),
            "spec": spec}


def validate_ingress_update(resource: str, cur: Any, new: Any) -> None:
    """What an update may not change: an IngressClass's controller."""
    if resource != "ingressclasses":
        return
    errs = _Errors()
    if new.Spec.Controller != cur.Spec.Controller:
        errs.invalid("spec.controller", new.Spec.Controller, "field is immutable")
    errs.check("IngressClass", cur.Name)


_SERVICE_KINDS.update({
    "ingresses": (_ingress_to_core, _ingress_to_wire),
    "ingressclasses": (_ingress_class_to_core, _ingress_class_to_wire),
})
