"""The Kubernetes kinds as the core keeps them: the object API the Kubernetes door is written against
(``nodeapi.Kube``), on the manager's store.

Which core object each kind is: a Pod is a ``Task`` with a namespace and a name (its containers in one
sandbox, placed by the one scheduler, run by the agent); a Secret or a ConfigMap is a ``Secret`` or a
``Config`` with a namespace (``Spec.Items``); a Node is the swarm's ``Node``; Namespace, Event and
ServiceAccount are ``api/kube.py``'s. The rules kept here, whichever door asks:

* a name is unique in its namespace (an index key, claimed in the object's transaction: ``Taken``
  becomes AlreadyExists); ``GenerateName`` gives a name with five random characters;
* an object of a namespace needs the namespace, active (NotFound, or Forbidden while it terminates);
* a Pod is deleted gracefully: it is marked (``DeletionTimestamp``, ``DesiredState`` remove) and its
  node stops its containers within the grace period (SIGTERM, then SIGKILL); the reaper deletes the
  task once they have stopped and it has no finalizers left. One that never reached a node, or has
  ended, goes at once (unless it has finalizers);
* finalizers: deleting an object that has any only marks it (``DeletionTimestamp``, and
  ``DeletionGracePeriodSeconds`` 0 but for a Pod's grace) and answers with it; an update that empties
  them deletes it (a Pod: once its containers have stopped too); a marked object takes no new
  finalizer. A deletion's ``propagation`` adds the garbage collector's: ``Foreground`` the
  ``foregroundDeletion`` finalizer (its dependents go first), ``Orphan`` the ``orphan`` one (they are
  released); ``Background`` (or none given, without either finalizer) deletes at once and leaves the
  dependents to the collector (``gc.py``). Owners: ``OwnerReferences`` and ``Owner`` are made to agree
  on every write (``api.meta.normalize_owners``);
* deleting a namespace marks it ``Terminating``; ``namespaces.py`` empties it and then deletes it;
* a write compared against a stale ``Version`` is a Conflict; ``dry_run`` checks without writing;
* ``exec`` and ``dial`` reach into a running Pod through ``pods`` (``PodAccess``, which the daemon
  wires: ``runtime/podaccess.py``) for the Pods of the manager's own node, and through ``remote``
  (the node's dispatcher session: ``podstreams.py``) for another node's, on the leader.

Reads come from the store's cache through a name index (namespace, name → ID) kept per kind; watches
from the store's ``ChangeLog``.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import msgspec

from shoal.api import nodelabels
from shoal.api.control import PodPlan
from shoal.api.errors import (
    AlreadyExists,
    Conflict,
    FailedPrecondition,
    FieldCause,
    Invalid,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
    Unimplemented,
)
from shoal.api.ids import new_id
from shoal.api.kube import ACTIVE, ExecSession, Namespace, WatchEvent
from shoal.api.meta import FOREGROUND_FINALIZER, ORPHAN_FINALIZER, normalize_owners
from shoal.api.pod import PodContainer, SecretVolume, Volume, VolumeMount
from shoal.api.states import TaskState
from shoal.api.taints import with_default_tolerations
from shoal.api.types import (
    DAEMONSET_TEMPLATE_GENERATION,
    KIND_OF,
    TYPE_OF,
    Cluster,
    DaemonSet,
    Ingress,
    KubeService,
    Node,
    Placement,
    Task,
    clone,
    containers_of,
    now_ts,
)
from shoal.manager.kube import services, tokens
from shoal.manager.kube.ingressclass import admit_ingress_class
from shoal.manager.kube.nodes import set_unschedulable
from shoal.store.changelog import ChangeLog
from shoal.store.objects import Change, ObjectStore, Taken

# The kinds that live in a namespace (Pods are the tasks that have one; Swarm's have none).
NAMESPACED = frozenset({"tasks", "secrets", "configs", "events", "serviceaccounts", "replicasets", "deployments",
                        "daemonsets", "controllerrevisions", "jobs", "cronjobs", "kubeservices", "endpoints",
                        "endpointslices"})
NAMESPACED |= {"ingresses"}  # networking.k8s.io/v1 (IngressClasses are the cluster's)
KUBE_KINDS = frozenset({*NAMESPACED, "nodes", "namespaces"})
KUBE_KINDS |= {"ingressclasses"}
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"
SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"  # Kubernetes' (no vowels, no look-alikes)

# Kubernetes' resource names for the words of errors (``pods "x" not found``).
RESOURCE_OF = {"tasks": "pods", "secrets": "secrets", "configs": "configmaps", "events": "events",
               "serviceaccounts": "serviceaccounts", "nodes": "nodes", "namespaces": "namespaces",
               "replicasets": "replicasets.apps", "deployments": "deployments.apps",
               "daemonsets": "daemonsets.apps", "controllerrevisions": "controllerrevisions.apps",
               "jobs": "jobs.batch", "cronjobs": "cronjobs.batch",
               "kubeservices": "services", "endpoints": "endpoints",
               "endpointslices": "endpointslices.discovery.k8s.io"}
# Kubernetes' kind of each, for the words of invalid objects (``Pod "x" is invalid``).
KIND_NAME = {"tasks": "Pod", "secrets": "Secret", "configs": "ConfigMap", "events": "Event",
             "serviceaccounts": "ServiceAccount", "nodes": "Node", "namespaces": "Namespace",
             "replicasets": "ReplicaSet", "deployments": "Deployment",
             "daemonsets": "DaemonSet", "controllerrevisions": "ControllerRevision", "jobs": "Job",
             "cronjobs": "CronJob", "kubeservices": "Service", "endpoints": "Endpoints",
             "endpointslices": "EndpointSlice"}
RESOURCE_OF.update({"ingresses": "ingresses.networking.k8s.io",
                    "ingressclasses": "ingressclasses.networking.k8s.io"})
KIND_NAME.update({"ingresses": "Ingress", "ingressclasses": "IngressClass"})
PROPAGATIONS = ("", "Background", "Foreground", "Orphan")


class PodAccess(Protocol):
    """Into the running Pods of one node (the daemon's ``runtime.podaccess.LocalPods``)."""

    node_id: str

    async def exec(self, task_id: str, container: str, command: builtins.list[str], *, tty: bool = False,
                   stdin: bool = False) -> ExecSession: ...

    async def dial(self, task_id: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]: ...


def admit_tolerations(t: Task) -> None:
    """The DefaultTolerationSeconds admission plugin, for every Pod made (a controller's too): tolerate
    a node not ready or unreachable for 300 s, unless the Pod already tolerates that."""
    placement = t.Spec.Placement or Placement()
    t.Spec = msgspec.structs.replace(t.Spec, Placement=msgspec.structs.replace(
        placement, Tolerations=with_default_tolerations(placement.Tolerations)))


def is_kube(kind: str, obj: Any) -> bool:
    """Whether a stored object is one of the Kubernetes kinds (a Swarm task, secret or config is not)."""
    if kind in ("tasks", "secrets", "configs"):
        return bool(obj.Namespace)
    return kind in KUBE_KINDS


def random_suffix(n: int = 5) -> str:
    return "".join(secrets.choice(_NAME_CHARS) for _ in range(n))


def object_name(kind: str, obj: Any) -> str:
    """A Kubernetes object's name (a Secret's or a ConfigMap's is in its spec, as Swarm's are)."""
    return obj.Name if kind in ("tasks", "nodes", "namespaces", "events", "serviceaccounts", "replicasets",
                                "deployments", "daemonsets", "controllerrevisions", "jobs", "cronjobs",
                                "kubeservices", "endpoints", "endpointslices", "ingresses", "ingressclasses") or \
        not obj.Spec.Name else obj.Spec.Name


def stamp_template_generation(obj: Any, cur: Any) -> None:
    """A DaemonSet's template generation, as the API server keeps it (the annotation
    ``deprecated.daemonset.template.generation``): 1 when it is made, one more at each change of its
    template, else the stored one whatever the writer sent."""
    if not isinstance(obj, DaemonSet):
        return
    if cur is None:
        gen = 1
    else:
        have = (cur.Annotations or {}).get(DAEMONSET_TEMPLATE_GENERATION, "")
        gen = int(have) if have.isdigit() else cur.Generation
        if obj.Spec.Template != cur.Spec.Template:
            gen += 1
    obj.Annotations = {**(obj.Annotations or {}), DAEMONSET_TEMPLATE_GENERATION: str(gen)}


def pod_stopped(t: Task) -> bool:
    """Whether a Pod's containers have stopped (or never started): it ended, or never reached a node."""
    return t.Status.State.terminal or not t.NodeID or t.Status.State < TaskState.ASSIGNED


def deletion_finalizers(obj: Any, propagation: str) -> list[str]:
    """The finalizers an object is left with by a deletion (Kubernetes' rule): the garbage collector's
    two are dropped, then the one ``propagation`` asks for is added (``Orphan``: ``orphan``;
    ``Foreground``: ``foregroundDeletion``); none given keeps the one the object has."""
    have = obj.Finalizers or []
    out = [f for f in have if f not in (ORPHAN_FINALIZER, FOREGROUND_FINALIZER)]
    if propagation == "Orphan" or (not propagation and ORPHAN_FINALIZER in have):
        out.append(ORPHAN_FINALIZER)
    elif propagation == "Foreground" or (not propagation and FOREGROUND_FINALIZER in have):
        out.append(FOREGROUND_FINALIZER)
    return out


def go_strings(items: builtins.list[str]) -> str:
    """A list of strings as Go's ``%#v`` prints it (``[]string{"a", "b"}``)."""
    return "[]string{" + ", ".join(json.dumps(i) for i in items) + "}"


class KubeObjects:
    """``nodeapi.Kube`` over an ``ObjectStore`` (see the module's docstring)."""

    def __init__(self, store: ObjectStore, changes: ChangeLog) -> None:
        self.store = store
        self.changes = changes
        self._names: dict[str, dict[tuple[str, str], str]] = {k: {} for k in KUBE_KINDS}
        for kind in KUBE_KINDS:
            found: Any
            for found in store.list(TYPE_OF[kind]):
                self._index(kind, None, found)
        self._unsubscribe = store.subscribe(self._on_change)
        self.pods: PodAccess | None = None  # into the Pods of this manager's node (None: no agent here)
        self.remote: Callable[[str], PodAccess | None] | None = None  # into another node's, by node ID

    def close(self) -> None:
        self._unsubscribe()

    # ------------------------------------------------------------ the name index

    def _index(self, kind: str, old: Any, new: Any) -> None:
        names = self._names.get(kind)
        if names is None:
            return
        if old is not None and is_kube(kind, old):
            key = (old.Namespace, self._node_name(old) if kind == "nodes" else object_name(kind, old))
            if names.get(key) == old.ID:
                del names[key]
        if new is not None and is_kube(kind, new):
            names[(new.Namespace, self._node_name(new) if kind == "nodes" else object_name(kind, new))] = new.ID

    @staticmethod
    def _node_name(n: Node) -> str:
        """A node's Kubernetes name: its hostname (lower case, as the kubelet registers it)."""
        return nodelabels.node_name(n)

    def _on_change(self, ch: Change) -> None:
        self._index(ch.kind, ch.old, ch.new)

    # ------------------------------------------------------------ reads

    @property
    def revision(self) -> int:
        return self.store.revision

    def get(self, kind: str, namespace: str, name: str) -> Any:
        oid = self._names[kind].get((namespace if kind in NAMESPACED else "", name))
        obj = self.store.get(TYPE_OF[kind], oid) if oid is not None else None
        if obj is None:
            raise NotFound(f'{RESOURCE_OF[kind]} "{name}" not found')
        return obj

    def list(self, kind: str, namespace: str = "") -> builtins.list[Any]:
        typ = TYPE_OF[kind]
        if kind in ("tasks", "secrets", "configs"):
            got = (self.store.get(typ, i) for i in self._names[kind].values())
            objs: builtins.list[Any] = [o for o in got if o is not None]
        else:
            objs = self.store.list(typ)
        if namespace and kind in NAMESPACED:
            objs = [o for o in objs if o.Namespace == namespace]
        return objs

    def node_name(self, node: Node) -> str:
        return self._node_name(node)

    # ------------------------------------------------------------ writes

    def _check_namespace(self, kind: str, obj: Any) -> None:
        if kind not in NAMESPACED:
            return
        ns = self._names["namespaces"].get(("", obj.Namespace))
        found = self.store.get(Namespace, ns) if ns is not None else None
        if found is None:
            raise NotFound(f'namespaces "{obj.Namespace}" not found')
        if found.Phase != ACTIVE:
            raise PermissionDenied(f"unable to create new content in namespace {obj.Namespace} because it is "
                                   "being terminated")

    async def create(self, obj: Any, dry_run: bool = False) -> Any:
        name = self._prepare(obj)
        if dry_run:
            obj.CreatedAt = obj.CreatedAt or now_ts()
            return obj
        try:
            await self.store.commit(creates=[obj])
        except Taken as e:
            if isinstance(obj, KubeService) and e.what[0] in ("ip", "nodeport", "port"):
                raise services.lost_race(obj, e.what) from e
            raise AlreadyExists(f'{RESOURCE_OF[KIND_OF[type(obj)]]} "{name}" already exists') from e
        return obj

    async def create_all(self, objs: builtins.list[Any]) -> builtins.list[Any]:
        """New objects in one transaction (a controller's batch of Pods, say), each checked and
        completed as ``create`` does: all are made, or none (AlreadyExists when a name is taken)."""
        names = [self._prepare(obj) for obj in objs]
        keys = [(KIND_OF[type(o)], o.Namespace, n) for o, n in zip(objs, names, strict=True)]
        if len(set(keys)) < len(keys):
            kind, _, name = next(k for i, k in enumerate(keys) if k in keys[:i])
            raise AlreadyExists(f'{RESOURCE_OF[kind]} "{name}" already exists')
        try:
            await self.store.commit(creates=objs)
        except Taken as e:
            raise AlreadyExists(f"{e.key} already exists") from e
        return objs

    def _prepare(self, obj: Any) -> str:
        """Check a new object and complete it (name, ID, owners; a Pod's state and service account);
        its name."""
        kind = KIND_OF[type(obj)]
        if kind not in KUBE_KINDS or kind == "nodes":
            raise Unimplemented(f"{kind} cannot be created through this API")
        self._check_namespace(kind, obj)
        if not object_name(kind, obj) and obj.GenerateName:
            name = obj.GenerateName + random_suffix()
            if kind in ("secrets", "configs"):
                obj.Spec.Name = name
            obj.Name = name
        name = object_name(kind, obj)
        if (obj.Namespace if kind in NAMESPACED else "", name) in self._names[kind]:
            raise AlreadyExists(f'{RESOURCE_OF[kind]} "{name}" already exists')
        obj.ID = obj.ID or new_id()
        normalize_owners(obj)
        stamp_template_generation(obj, None)
        if isinstance(obj, Task):
            self._service_account(obj)
            admit_tolerations(obj)
            obj.Status.State = TaskState.NEW
            obj.Status.Timestamp = now_ts()
            obj.DesiredState = TaskState.RUNNING
            pod = obj.Spec.Pod
            if pod is not None and pod.NodeName:
                node = self.get("nodes", "", pod.NodeName) if ("", pod.NodeName) in self._names["nodes"] else None
                obj.NodeID = node.ID if node is not None else pod.NodeName
        if isinstance(obj, KubeService):
            services.allocate(self.store, obj)
        if isinstance(obj, Ingress):
            admit_ingress_class(obj, self.list("ingressclasses"))
        return name

    def _service_account(self, t: Task) -> None:
        """A Pod runs as a service account of its namespace (``default`` unless it names one, which
        must exist); unless it opts out, the account's token, the cluster's CA and the namespace are
        mounted in each container at ``SA_MOUNT`` (the account's token Secret, ``namespaces.py``)."""
        pod = t.Spec.Pod
        if pod is None:
            return
        account = pod.ServiceAccountName or "default"
        try:
            sa = self.get("serviceaccounts", t.Namespace, account)
        except NotFound:
            if account != "default":
                raise PermissionDenied(f'pods "{t.Name}" is forbidden: error looking up service account '
                                       f'{t.Namespace}/{account}: serviceaccount "{account}" not found') from None
            return
        if pod.AutomountServiceAccountToken is False or sa.AutomountServiceAccountToken is False or not sa.Secrets:
            return
        containers = containers_of(t.Spec)
        if any(m.MountPath == SA_MOUNT for c in containers if c.Pod is not None for m in c.Pod.VolumeMounts or []):
            return
        name = "kube-api-access-" + random_suffix()
        t.Spec = msgspec.structs.replace(t.Spec, Pod=msgspec.structs.replace(
            pod, Volumes=[*(pod.Volumes or []), Volume(Name=name, Secret=SecretVolume(SecretName=sa.Secrets[0]))]))
        mount = VolumeMount(Name=name, MountPath=SA_MOUNT, ReadOnly=True)
        for c in containers:
            extra = c.Pod or PodContainer()
            c.Pod = msgspec.structs.replace(extra, VolumeMounts=[*(extra.VolumeMounts or []), mount])

    def authenticate(self, token: str) -> tuple[str, builtins.list[str]] | None:
        """The service account a bearer token is of (its user name and groups), while it exists."""
        clusters = self.store.list(Cluster)
        claims = tokens.verify(clusters[0].TLSInfo.TrustRoot, token) if clusters else None
        if claims is None:
            return None
        who = claims.get("kubernetes.io") or {}
        ns, sa = who.get("namespace", ""), who.get("serviceaccount") or {}
        try:
            found = self.get("serviceaccounts", ns, sa.get("name", ""))
        except NotFound:
            return None
        if found.ID != sa.get("uid"):
            return None
        return (f"system:serviceaccount:{ns}:{found.Name}",
                ["system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"])

    async def update(self, obj: Any, dry_run: bool = False) -> Any:
        kind = KIND_OF[type(obj)]
        cur = self.store.get(type(obj), obj.ID)
        if cur is None:
            raise NotFound(f'{RESOURCE_OF.get(kind, kind)} "{object_name(kind, obj)}" not found')
        if not obj.Version.Index:
            obj.Version = cur.Version
        elif obj.Version.Index != cur.Version.Index:
            raise Conflict(self._stale(kind, obj))
        if is_kube(kind, cur):
            normalize_owners(obj)
        stamp_template_generation(obj, cur)
        if isinstance(obj, KubeService) and obj.Spec != cur.Spec:
            services.allocate(self.store, obj, cur)
        ends = False
        if cur.DeletionTimestamp:
            self._check_no_new_finalizers(kind, cur, obj)
            obj.DeletionTimestamp = cur.DeletionTimestamp
            obj.DeletionGracePeriodSeconds = cur.DeletionGracePeriodSeconds
            # The last finalizer gone, the object goes (a Pod once its containers have stopped: the
            # reaper's; a namespace once it is empty: the namespace controller's).
            ends = not obj.Finalizers and kind != "namespaces" and (not isinstance(obj, Task) or pod_stopped(obj))
        if dry_run:
            return obj
        if ends:
            try:
                await self.store.commit(deletes=[obj])
            except Conflict as e:
                raise Conflict(self._stale(kind, obj)) from e
            return obj
        try:
            await self.store.commit(updates=[obj])
        except Taken as e:
            if isinstance(obj, KubeService) and e.what[0] in ("ip", "nodeport", "port"):
                raise services.lost_race(obj, e.what) from e
            raise AlreadyExists(f'{RESOURCE_OF[kind]} "{object_name(kind, obj)}" already exists') from e
        except Conflict as e:
            raise Conflict(self._stale(kind, obj)) from e
        return obj

    def _check_no_new_finalizers(self, kind: str, cur: Any, obj: Any) -> None:
        added = sorted(set(obj.Finalizers or ()) - set(cur.Finalizers or ()))
        if added:
            raise Invalid(KIND_NAME.get(kind, kind), object_name(kind, cur), [FieldCause(
                "metadata.finalizers", "FieldValueForbidden", "Forbidden: no new finalizers can be added if the "
                f"object is being deleted, found new finalizers {go_strings(added)}")])

    def _stale(self, kind: str, obj: Any) -> str:
        return (f'Operation cannot be fulfilled on {RESOURCE_OF.get(kind, kind)} "{object_name(kind, obj)}": the '
                "object has been modified; please apply your changes to the latest version and try again")

    async def delete(self, kind: str, namespace: str, name: str, *, grace_seconds: int | None = None,
                     propagation: str = "", uid: str = "", version: int = 0,
                     dry_run: bool = False) -> Any | None:
        if propagation not in PROPAGATIONS:
            raise InvalidArgument(f'unsupported propagation policy "{propagation}"')
        obj = self.get(kind, namespace, name)
        if uid and obj.ID != uid:
            raise Conflict(f"Precondition failed: UID in precondition: {uid}, UID in object meta: {obj.ID}")
        if version and obj.Version.Index != version:
            raise Conflict(f"Precondition failed: ResourceVersion in precondition: {version}, ResourceVersion "
                           f"in object meta: {obj.Version.Index}")
        if kind == "nodes":
            raise FailedPrecondition("nodes leave the cluster with `docker swarm leave` and `docker node rm`")
        if isinstance(obj, Namespace):
            if obj.Phase != ACTIVE:
                return obj
            obj = clone(obj)
            obj.Phase = "Terminating"
            obj.DeletionTimestamp = now_ts()
            if not dry_run:
                await self.store.commit(updates=[obj])
            return obj
        finalizers = deletion_finalizers(obj, propagation)
        if isinstance(obj, Task):
            return await self._delete_pod(obj, grace_seconds, finalizers, dry_run)
        if not finalizers:
            if not dry_run:
                await self.store.commit(deletes=[obj])
            return None
        if obj.DeletionTimestamp and finalizers == (obj.Finalizers or []):
            return obj  # already being deleted
        obj = clone(obj)
        obj.Finalizers = finalizers
        obj.DeletionTimestamp = obj.DeletionTimestamp or now_ts()
        obj.DeletionGracePeriodSeconds = 0
        if not dry_run:
            await self.store.commit(updates=[obj])
        return obj

    async def _delete_pod(self, t: Task, grace_seconds: int | None, finalizers: builtins.list[str],
                          dry_run: bool) -> Task | None:
        pod_grace = t.Spec.Pod.TerminationGracePeriodSeconds if t.Spec.Pod is not None else 30
        grace = pod_grace if grace_seconds is None else max(grace_seconds, 0)
        stopped = pod_stopped(t)
        if stopped:
            grace = 0
        same = finalizers == (t.Finalizers or [])
        if t.DeletionTimestamp and same and grace >= (t.DeletionGracePeriodSeconds or 0):
            return t  # already being deleted (a second deletion may only shorten the grace)
        if dry_run:
            return None if stopped and not finalizers else t
        if stopped and not finalizers:
            await self.store.commit(deletes=[t])
            return None
        t = clone(t)
        t.Finalizers = finalizers or None
        t.DeletionTimestamp = t.DeletionTimestamp or now_ts()
        t.DeletionGracePeriodSeconds = grace
        t.DesiredState = TaskState.REMOVE
        if grace != pod_grace and not stopped:  # the containers stop within the grace asked for
            for c in t.Spec.Containers:
                c.StopGracePeriod = grace * 1_000_000_000
        await self.store.commit(updates=[t])
        return t

    async def set_unschedulable(self, name: str, unschedulable: bool, version: int = 0) -> Node:
        """Cordon (or uncordon) a node by its Kubernetes name: Swarm's availability ``pause`` (or
        ``active``; a drained node stays drained through a cordon). ``manager/kube/nodes.py``."""
        node: Node = self.get("nodes", "", name)
        return await set_unschedulable(self.store, node.ID, unschedulable, version)

    # ------------------------------------------------------------ watch

    def watch(self, kind: str, namespace: str = "", since: int = 0) -> AsyncIterator[WatchEvent]:
        """See ``nodeapi.Kube.watch``; Gone is raised here, at the call, not at the first event."""

        def want(ch: Change) -> bool:
            if ch.kind != kind:
                return False
            o = ch.new if ch.new is not None else ch.old
            if not is_kube(kind, o) and not (ch.old is not None and is_kube(kind, ch.old)):
                return False
            return not namespace or o.Namespace == namespace

        initial: builtins.list[Any] = []
        if not since:
            stream = self.changes.watch(want, self.store.revision)  # subscribed before the objects are read
            initial = self.list(kind, namespace)
        else:
            stream = self.changes.watch(want, since)
        return self._events(initial, stream)

    @staticmethod
    async def _events(initial: builtins.list[Any], stream: AsyncIterator[Change]) -> AsyncIterator[WatchEvent]:
        for obj in initial:
            yield WatchEvent("ADDED", obj, obj.Version.Index)
        async for ch in stream:
            if ch.new is None:
                yield WatchEvent("DELETED", ch.old, ch.revision)
            elif ch.old is None:
                yield WatchEvent("ADDED", ch.new, ch.revision)
            else:
                yield WatchEvent("MODIFIED", ch.new, ch.revision)

    # ------------------------------------------------------------ into Pods (the agent's part)

    def _into(self, pod: Task, what: str) -> PodAccess:
        """The way into a running Pod, or the error Kubernetes gives."""
        if pod.Status.State.terminal:
            phase = "Succeeded" if pod.Status.State == TaskState.COMPLETE else "Failed"
            raise FailedPrecondition(f"cannot {what} a container in a completed pod; current phase is {phase}")
        if pod.Status.State != TaskState.RUNNING:
            raise FailedPrecondition(f"unable to upgrade connection: pod {pod.Name} is not running")
        if self.pods is not None and pod.NodeID == self.pods.node_id:
            return self.pods
        remote = self.remote(pod.NodeID) if self.remote is not None else None
        if remote is None:
            raise Unavailable(f"unable to upgrade connection: the node of pod {pod.Name} is not connected to "
                              "this manager (the leader)")
        return remote

    async def exec(self, pod: Task, container: str, command: builtins.list[str], *, tty: bool = False,
                   stdin: bool = False) -> ExecSession:
        """Run ``command`` in a running container of the Pod (its first when ``container`` is "")."""
        names = [c.Name for c in containers_of(pod.Spec)]  # a running init container's too
        name = container or (pod.Spec.Containers[0].Name if pod.Spec.Containers else "")
        if name not in names:
            raise InvalidArgument(f"container {name} is not valid for pod {pod.Name}")
        return await self._into(pod, "exec into").exec(pod.ID, name, command, tty=tty, stdin=stdin)

    async def dial(self, pod: Task, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to ``port`` of the Pod, made inside its network namespace."""
        return await self._into(pod, "port-forward to").dial(pod.ID, port)

    # ------------------------------------------------------------ the Pods' dry run

    def plan_pods(self, objs: builtins.list[Any], new_namespaces: builtins.list[str] | None = None) -> PodPlan:
        """Where the Pods of a manifest's objects would go, and why other nodes refuse them
        (``dryrun.py``); nothing is written. Their namespaces are checked as a create checks them
        (``new_namespaces``: those the manifest makes itself)."""
        # Imported here: it makes Pods as the workload controllers do, and they import this module.
        from shoal.manager.kube import dryrun

        made = set(new_namespaces or ())
        for obj in objs:
            if dryrun.makes_pods(obj) and obj.Namespace not in made:
                self._check_namespace(KIND_OF[type(obj)], obj)
        return dryrun.plan(self.store, objs)
