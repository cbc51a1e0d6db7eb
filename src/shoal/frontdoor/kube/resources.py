"""The registry of the Kubernetes resources the front door serves: names, scope, verbs, subresources.

Discovery (``discovery.py``), OpenAPI (``openapi.py``), Tables (``tables.py``) and the handlers all read
this one table, so a resource is served everywhere or nowhere. Only what is served is listed: kubectl
believes discovery (``get all`` lists every resource in the ``all`` category).
"""

from __future__ import annotations

from dataclasses import dataclass

from shoal.frontdoor.kube import wire

READ_WRITE = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
STATUS_VERBS = ("get", "patch", "update")


@dataclass(frozen=True)
class Subresource:
    """A subresource (``pods/log``) and the kind it answers with (``policy/v1 Eviction`` for eviction)."""

    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str = ""
    version: str = "v1"


@dataclass(frozen=True)
class Resource:
    """A served resource: its REST names, kind, scope, verbs and the wire types of its objects and lists."""

    group: str
    version: str
    resource: str
    kind: str
    singular: str
    namespaced: bool
    verbs: tuple[str, ...]
    short_names: tuple[str, ...]
    categories: tuple[str, ...]
    subresources: tuple[Subresource, ...]
    list_kind: str
    wire_type: type[wire.Base]
    list_type: type[wire.Base]

    @property
    def api_version(self) -> str:
        """``v1`` for the core group, ``<group>/<version>`` otherwise."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        """The path segment of the group-version: ``api/v1`` or ``apis/<group>/<version>``."""
        return f"apis/{self.group}/{self.version}" if self.group else f"api/{self.version}"

    @property
    def qualified(self) -> str:
        """The resource as Kubernetes' messages name it: ``pods``, ``deployments.apps``."""
        return f"{self.resource}.{self.group}" if self.group else self.resource

    def subresource(self, name: str) -> Subresource | None:
        """The subresource called ``name``, if served."""
        for sub in self.subresources:
            if sub.name == name:
                return sub
        return None


RESOURCES: tuple[Resource, ...] = (
    Resource(
        group="", version="v1", resource="namespaces", kind="Namespace", singular="namespace",
        namespaced=False, verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
        short_names=("ns",), categories=(),
        subresources=(Subresource("status", "Namespace", STATUS_VERBS),),
        list_kind="NamespaceList", wire_type=wire.Namespace, list_type=wire.NamespaceList),
    Resource(
        group="", version="v1", resource="nodes", kind="Node", singular="node",
        namespaced=False, verbs=READ_WRITE, short_names=("no",), categories=(),
        subresources=(Subresource("status", "Node", STATUS_VERBS),),
        list_kind="NodeList", wire_type=wire.Node, list_type=wire.NodeList),
    Resource(
        group="", version="v1", resource="pods", kind="Pod", singular="pod",
        namespaced=True, verbs=READ_WRITE, short_names=("po",), categories=("all",),
        subresources=(
            Subresource("attach", "PodAttachOptions", ("create", "get")),
            Subresource("binding", "Binding", ("create",)),
            Subresource("eviction", "Eviction", ("create",), group="policy", version="v1"),
            Subresource("exec", "PodExecOptions", ("create", "get")),
            Subresource("log", "Pod", ("get",)),
            Subresource("portforward", "PodPortForwardOptions", ("create", "get")),
            Subresource("status", "Pod", STATUS_VERBS),
        ),
        list_kind="PodList", wire_type=wire.Pod, list_type=wire.PodList),
    Resource(
        group="", version="v1", resource="secrets", kind="Secret", singular="secret",
        namespaced=True, verbs=READ_WRITE, short_names=(), categories=(), subresources=(),
        list_kind="SecretList", wire_type=wire.Secret, list_type=wire.SecretList),
    Resource(
        group="", version="v1", resource="configmaps", kind="ConfigMap", singular="configmap",
        namespaced=True, verbs=READ_WRITE, short_names=("cm",), categories=(), subresources=(),
        list_kind="ConfigMapList", wire_type=wire.ConfigMap, list_type=wire.ConfigMapList),
    Resource(
        group="", version="v1", resource="events", kind="Event", singular="event",
        namespaced=True, verbs=READ_WRITE, short_names=("ev",), categories=(), subresources=(),
        list_kind="EventList", wire_type=wire.Event, list_type=wire.EventList),
    Resource(
        group="", version="v1", resource="serviceaccounts", kind="ServiceAccount", singular="serviceaccount",
        namespaced=True, verbs=READ_WRITE, short_names=("sa",), categories=(), subresources=(),
        list_kind="ServiceAccountList", wire_type=wire.ServiceAccount, list_type=wire.ServiceAccountList),
    Resource(
        group="apps", version="v1", resource="deployments", kind="Deployment", singular="deployment",
        namespaced=True, verbs=READ_WRITE, short_names=("deploy",), categories=("all",),
        subresources=(Subresource("scale", "Scale", STATUS_VERBS, group="autoscaling", version="v1"),
                      Subresource("status", "Deployment", STATUS_VERBS, group="apps")),
        list_kind="DeploymentList", wire_type=wire.Deployment, list_type=wire.DeploymentList),
    Resource(
        group="apps", version="v1", resource="replicasets", kind="ReplicaSet", singular="replicaset",
        namespaced=True, verbs=READ_WRITE, short_names=("rs",), categories=("all",),
        subresources=(Subresource("scale", "Scale", STATUS_VERBS, group="autoscaling", version="v1"),
                      Subresource("status", "ReplicaSet", STATUS_VERBS, group="apps")),
        list_kind="ReplicaSetList", wire_type=wire.ReplicaSet, list_type=wire.ReplicaSetList),
    Resource(
        group="batch", version="v1", resource="jobs", kind="Job", singular="job", namespaced=True, verbs=READ_WRITE,
        short_names=(), categories=("all",), subresources=(Subresource("status", "Job", STATUS_VERBS, group="batch"),),
        list_kind="JobList", wire_type=wire.Job, list_type=wire.JobList),
    Resource(
        group="batch", version="v1", resource="cronjobs", kind="CronJob", singular="cronjob", namespaced=True,
        verbs=READ_WRITE, short_names=("cj",), categories=("all",),
        subresources=(Subresource("status", "CronJob", STATUS_VERBS, group="batch"),),
        list_kind="CronJobList", wire_type=wire.CronJob, list_type=wire.CronJobList),
)
# apps/v1 DaemonSets and their ControllerRevisions.
RESOURCES += (
    Resource(
        group="apps", version="v1", resource="daemonsets", kind="DaemonSet", singular="daemonset",
        namespaced=True, verbs=READ_WRITE, short_names=("ds",), categories=("all",),
        subresources=(Subresource("status", "DaemonSet", STATUS_VERBS, group="apps"),),
        list_kind="DaemonSetList", wire_type=wire.DaemonSet, list_type=wire.DaemonSetList),
    Resource(
        group="apps", version="v1", resource="controllerrevisions", kind="ControllerRevision",
        singular="controllerrevision", namespaced=True, verbs=READ_WRITE, short_names=(), categories=(),
        subresources=(), list_kind="ControllerRevisionList", wire_type=wire.ControllerRevision,
        list_type=wire.ControllerRevisionList),
)

# Services and their endpoints (the objects; no traffic flows through them yet: docs/design/services.md).
RESOURCES += (
    Resource(
        group="", version="v1", resource="services", kind="Service", singular="service",
        namespaced=True, verbs=READ_WRITE, short_names=("svc",), categories=("all",),
        subresources=(Subresource("status", "Service", STATUS_VERBS),),
        list_kind="ServiceList", wire_type=wire.Service, list_type=wire.ServiceList),
    Resource(
        group="", version="v1", resource="endpoints", kind="Endpoints", singular="endpoints",
        namespaced=True, verbs=READ_WRITE, short_names=("ep",), categories=(), subresources=(),
        list_kind="EndpointsList", wire_type=wire.Endpoints, list_type=wire.EndpointsList),
    Resource(
        group="discovery.k8s.io", version="v1", resource="endpointslices", kind="EndpointSlice",
        singular="endpointslice", namespaced=True, verbs=READ_WRITE, short_names=(), categories=(),
        subresources=(), list_kind="EndpointSliceList", wire_type=wire.EndpointSlice,
        list_type=wire.EndpointSliceList),
)

# networking.k8s.io/v1 Ingresses and IngressClasses (served by every node's nginx: docs/design/kube-network.md).
RESOURCES += (
    Resource(
        group="networking.k8s.io", version="v1", resource="ingresses", kind="Ingress", singular="ingress",
        namespaced=True, verbs=READ_WRITE, short_names=("ing",), categories=(),
        subresources=(Subresource("status", "Ingress", STATUS_VERBS, group="networking.k8s.io"),),
        list_kind="IngressList", wire_type=wire.Ingress, list_type=wire.IngressList),
    Resource(
        group="networking.k8s.io", version="v1", resource="ingressclasses", kind="IngressClass",
        singular="ingressclass", namespaced=False, verbs=READ_WRITE, short_names=(), categories=(),
        subresources=(), list_kind="IngressClassList", wire_type=wire.IngressClass, list_type=wire.IngressClassList),
)

_BY_PATH = {(r.group, r.version, r.resource): r for r in RESOURCES}
_BY_KIND = {(r.api_version, r.kind): r for r in RESOURCES}


def by_path(group: str, version: str, plural: str) -> Resource | None:
    """The resource served at ``/api/<version>/<plural>`` (group ``""``) or ``/apis/<group>/<version>/<plural>``."""
    return _BY_PATH.get((group, version, plural))


def by_kind(api_version: str, kind: str) -> Resource | None:
    """The resource of objects of ``apiVersion``/``kind`` (``v1``/``Pod``, ``apps/v1``/``Deployment``)."""
    return _BY_KIND.get((api_version, kind))


def group_versions() -> list[tuple[str, str]]:
    """The served (group, version) pairs, core first, in the order the resources are listed."""
    seen: list[tuple[str, str]] = []
    for resource in RESOURCES:
        if (resource.group, resource.version) not in seen:
            seen.append((resource.group, resource.version))
    return seen


def in_group_version(group: str, version: str) -> list[Resource]:
    """The served resources of one group-version."""
    return [r for r in RESOURCES if r.group == group and r.version == version]
