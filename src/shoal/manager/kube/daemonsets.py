"""The DaemonSet controller (the leader's, on a keyed work queue: key = the DaemonSet's ID).

A DaemonSet keeps one Pod of its template on every node that should run one, as Kubernetes'
``DaemonSetsController`` does. Each sync reads the DaemonSet, the nodes and the Pods it controls from
the store's cache and is idempotent:

* **claim**: as a ReplicaSet does (``replicasets.py``): its own Pods that still match its selector,
  orphans of its namespace that match adopted, its own that no longer match released;
* **which nodes** (``eligibility``, Kubernetes' ``NodeShouldRunDaemonPod``): a node *should run* a
  Pod when the template's ``nodeName`` (if any) is the node's, its ``nodeSelector`` and required node
  affinity match the node's labels, and the Pod, with the tolerations every DaemonSet Pod gets
  (``DEFAULT_TOLERATIONS``), tolerates the node's ``NoSchedule`` and ``NoExecute`` taints (its own,
  and those Kubernetes' node controllers would add: ``nodelabels.derived_taints``). A node whose
  only untolerated taints are ``NoSchedule`` ones *keeps* the Pod it has (should continue running)
  but gets none; a node whose ``NoExecute`` taints are not tolerated, or that no longer matches, or
  that is gone from the cluster, loses it;
* **manage** (``syncNodes``): a node that should run a Pod and has none (counting one being deleted)
  gets one; of several on a node, the oldest (scheduled first) stays; a failed Pod is deleted (the
  node gets a new one after a back-off that doubles per failure);
* **the Pods** (``new_pod``): ``<ds>-<5 random characters>``, the template's labels with
  ``controller-revision-hash`` (``workloads.template_hash`` of the template) and
  ``pod-template-generation`` (the DaemonSet's ``deprecated.daemonset.template.generation``), the
  default tolerations added (replacing a template's toleration of the same key, operator, value and
  effect; the Pod then already tolerates ``not-ready``/``unreachable`` "for ever", and the
  DefaultTolerationSeconds admission adds no 300 s ones), and the
  required node affinity replaced by ``metadata.name In [<node>]`` (Kubernetes since 1.12): the one
  scheduler places the Pod, on exactly that node, checking it as for any Pod; cordon does not stop
  it (the default ``unschedulable`` toleration);
* **RollingUpdate** (``rolling_update``; a Pod is *updated* when its ``controller-revision-hash`` is
  the template's, or its ``pod-template-generation`` the DaemonSet's): both ``maxUnavailable`` and
  ``maxSurge`` are counts or percentages of the nodes that should run a Pod, rounded up (both 0 makes
  unavailable 1). Without surge, old Pods are deleted while the unavailable nodes (no Pod, or a new
  Pod not yet available) stay within ``maxUnavailable``, an old Pod that is not available first and
  regardless; the node gets its new Pod once the old one is gone. With surge, a new Pod is made next to
  the old one on up to ``maxSurge`` nodes at a time (at once beside an old Pod that is not
  available), and the old one is deleted once the new one is available. **OnDelete**: new Pods only
  where the old ones were deleted by hand;
* **status**: ``desiredNumberScheduled`` (nodes that should run a Pod), ``currentNumberScheduled``
  (those of them with one), ``numberMisscheduled`` (nodes with a Pod that should not run one),
  ``numberReady``, ``numberAvailable``, ``numberUnavailable`` (desired less available),
  ``updatedNumberScheduled`` (each node's oldest Pod counted) and ``observedGeneration``: what
  ``kubectl rollout status ds/x`` reads. The key comes back when a ready Pod will become available
  (``minReadySeconds``).

Triggers: every change of a DaemonSet; a Pod change wakes its controller (and, for an orphan, the
DaemonSets of its namespace that select it); a node that comes, goes, or changes its labels, taints,
availability or state wakes every DaemonSet. A write is committed before the sync ends, so the next
sync sees it (no expectations needed).

**History** (``kubectl rollout history`` / ``undo ds/x``): a ControllerRevision per template,
``<ds>-<hash>``, labelled with the template's labels and the hash, numbered in order; the current
template's is made when missing, and an old one whose template comes back (an undo, which kubectl
does by patching the DaemonSet with the revision's ``data``) takes the next number. Beyond
``revisionHistoryLimit`` old revisions, the oldest that no live Pod runs are deleted. A name taken by
another template bumps ``status.collisionCount`` (and so the hash).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

import msgspec

from shoal.api import affinity, nodelabels, taints
from shoal.api.affinity import NAME_FIELD, NodeAffinity, NodeSelectorTerm, Requirement
from shoal.api.errors import AlreadyExists, Conflict, NotFound
from shoal.api.meta import ObjectRef
from shoal.api.pod import PodSpecExtra
from shoal.api.types import (
    DAEMONSET_TEMPLATE_GENERATION,
    ControllerRevision,
    DaemonSet,
    DaemonSetStatus,
    Node,
    Placement,
    Task,
    TaskSpec,
    Toleration,
    clone,
    parse_ts,
)
from shoal.manager.kube import workloads as wl
from shoal.manager.kube.objects import KubeObjects, random_suffix
from shoal.store.objects import Change, ObjectStore

log = logging.getLogger(__name__)

KIND = "DaemonSet"
COMPONENT = "daemonset-controller"
ROLLING, ON_DELETE = "RollingUpdate", "OnDelete"
REVISION_HASH = "controller-revision-hash"
TEMPLATE_GENERATION = "pod-template-generation"
BURST = 250  # Pods made or deleted per sync at most (Kubernetes' burstReplicas for DaemonSets)
MAX_GENERATED_BASE = 58
BACKOFF_BASE, BACKOFF_MAX = 1.0, 900.0  # a node's failed Pods: replaced after 1 s, 2 s, ... 15 min

NO_SCHEDULE, NO_EXECUTE, EXISTS = taints.NO_SCHEDULE, taints.NO_EXECUTE, taints.EXISTS
# What every DaemonSet Pod tolerates (Kubernetes' ``AddOrUpdateDaemonPodTolerations``): a node not
# ready or unreachable for ever, node pressure, and cordon; ``network-unavailable`` with host networking.
DEFAULT_TOLERATIONS = (
    Toleration(Key="node.kubernetes.io/not-ready", Operator=EXISTS, Effect=NO_EXECUTE),
    Toleration(Key="node.kubernetes.io/unreachable", Operator=EXISTS, Effect=NO_EXECUTE),
    Toleration(Key="node.kubernetes.io/disk-pressure", Operator=EXISTS, Effect=NO_SCHEDULE),
    Toleration(Key="node.kubernetes.io/memory-pressure", Operator=EXISTS, Effect=NO_SCHEDULE),
    Toleration(Key="node.kubernetes.io/pid-pressure", Operator=EXISTS, Effect=NO_SCHEDULE),
    Toleration(Key="node.kubernetes.io/unschedulable", Operator=EXISTS, Effect=NO_SCHEDULE),
)
NETWORK_UNAVAILABLE = Toleration(Key="node.kubernetes.io/network-unavailable", Operator=EXISTS, Effect=NO_SCHEDULE)


# ---------------------------------------------------------------- the Pods of a DaemonSet (pure)


def _same_toleration(a: Toleration, b: Toleration) -> bool:
    """Kubernetes' ``MatchToleration``: the same key, operator, value and effect (seconds aside)."""
    return (a.Key, a.Operator or taints.EQUAL, a.Value, a.Effect) == (b.Key, b.Operator or taints.EQUAL, b.Value,
                                                                      b.Effect)


def daemon_tolerations(spec: TaskSpec) -> list[Toleration]:
    """The template's tolerations with the defaults of a DaemonSet's Pods added or put in place of a
    toleration that matches one (``AddOrUpdateTolerationInPodSpec``)."""
    out = list(spec.Placement.Tolerations or []) if spec.Placement is not None else []
    extra = [*DEFAULT_TOLERATIONS, *((NETWORK_UNAVAILABLE,) if spec.Pod is not None and spec.Pod.HostNetwork else ())]
    for tol in extra:
        at = next((i for i, t in enumerate(out) if _same_toleration(t, tol)), None)
        if at is None:
            out.append(tol)
        else:
            out[at] = tol
    return out


def node_affinity_for(na: NodeAffinity | None, node_name: str) -> NodeAffinity:
    """The node affinity of a Pod for ``node_name`` (``ReplaceDaemonSetPodNodeNameNodeAffinity``): the
    required terms become the one field ``metadata.name In [node]``; the preferred ones stay."""
    term = NodeSelectorTerm(MatchFields=[Requirement(Key=NAME_FIELD, Operator=affinity.IN, Values=[node_name])])
    return NodeAffinity(Required=[term], Preferred=na.Preferred if na is not None else None)


def target_node(t: Task) -> str:
    """The node name a DaemonSet Pod was made for (its required ``metadata.name In [x]`` field)."""
    pod = t.Spec.Pod
    na = pod.Affinity.NodeAffinity if pod is not None and pod.Affinity is not None else None
    for term in (na.Required or []) if na is not None else []:
        for f in term.MatchFields or []:
            if f.Key == NAME_FIELD and f.Operator == affinity.IN and len(f.Values or []) == 1:
                return (f.Values or [""])[0]
    return ""


def template_generation(ds: DaemonSet) -> str:
    return (ds.Annotations or {}).get(DAEMONSET_TEMPLATE_GENERATION, "")


def revision_hash(ds: DaemonSet) -> str:
    """The ``controller-revision-hash`` of the DaemonSet's current template (``workloads.template_hash``)."""
    return wl.template_hash(ds.Spec.Template, ds.Status.CollisionCount)


def pod_updated(t: Task, hash_: str, generation: str) -> bool:
    """Kubernetes' ``IsPodUpdated``: the Pod's hash label is the template's, or its generation label the
    DaemonSet's template generation."""
    labels = t.Labels or {}
    return (bool(hash_) and labels.get(REVISION_HASH) == hash_) or \
        (bool(generation) and labels.get(TEMPLATE_GENERATION) == generation)


def new_pod(ds: DaemonSet, node_name: str, hash_: str) -> Task:
    """A Pod of the DaemonSet's template for ``node_name`` (see the module's docstring)."""
    tpl = ds.Spec.Template
    name = f"{ds.Name[:MAX_GENERATED_BASE]}-{random_suffix()}"
    spec: TaskSpec = clone(tpl.Spec)
    extra = spec.Pod or PodSpecExtra()
    aff = extra.Affinity or affinity.Affinity()
    aff = msgspec.structs.replace(aff, NodeAffinity=node_affinity_for(aff.NodeAffinity, node_name))
    spec.Pod = msgspec.structs.replace(extra, Affinity=aff)
    spec.Placement = msgspec.structs.replace(spec.Placement or Placement(), Tolerations=daemon_tolerations(tpl.Spec))
    if not spec.Hostname:
        spec.Hostname = name[:63].rstrip("-.")
    labels = dict(tpl.Labels or {})
    labels[REVISION_HASH] = hash_
    generation = template_generation(ds)
    if generation:
        labels[TEMPLATE_GENERATION] = generation
    t = Task(ID="", Name=name, GenerateName=f"{ds.Name}-", Namespace=ds.Namespace, Labels=labels,
             Annotations=dict(tpl.Annotations) if tpl.Annotations else None, Spec=spec, Owner=ObjectRef())
    t.OwnerReferences = [wl.controller_ref(KIND, ds)]
    return t


def eligibility(ds: DaemonSet, node: Node, tolerations: list[Toleration] | None = None) -> tuple[bool, bool]:
    """(should run, should continue running) a Pod of ``ds`` on ``node`` (``NodeShouldRunDaemonPod``);
    ``tolerations``: its Pods' (``daemon_tolerations`` of the template), when already known."""
    spec = ds.Spec.Template.Spec
    pod = spec.Pod or PodSpecExtra()
    name = nodelabels.node_name(node)
    if pod.NodeName and pod.NodeName != name:
        return False, False
    labels = nodelabels.kube_labels(node)
    if not nodelabels.matches_selector(pod.NodeSelector, labels):
        return False, False
    if not affinity.required_matches(pod.Affinity.NodeAffinity if pod.Affinity else None, labels, name):
        return False, False
    node_taints = [*(node.Spec.Taints or []), *nodelabels.derived_taints(node)]
    if tolerations is None:
        tolerations = daemon_tolerations(spec)
    if taints.first_untolerated(node_taints, tolerations, (NO_SCHEDULE, NO_EXECUTE)) is None:
        return True, True
    return False, taints.first_untolerated(node_taints, tolerations, (NO_EXECUTE,)) is None


def creation_order(t: Task) -> tuple[int, float, str]:
    """Kubernetes' ``podByCreationTimestampAndPhase``: scheduled first, then oldest, then by name."""
    return (0 if t.NodeID else 1, parse_ts(t.CreatedAt), t.Name)


def pod_failed(t: Task) -> bool:
    return t.Status.State.terminal and not t.DeletionTimestamp


def split_updated(pods: Iterable[Task], hash_: str, generation: str) -> tuple[Task | None, Task | None, bool]:
    """(new Pod, old Pod, ok) of a node, not counting those being deleted (``findUpdatedPodsOnNode``);
    not ok when there are two of either (the manage step deletes the extra one first)."""
    new: Task | None = None
    old: Task | None = None
    for t in pods:
        if t.DeletionTimestamp:
            continue
        if pod_updated(t, hash_, generation):
            if new is not None:
                return None, None, False
            new = t
        else:
            if old is not None:
                return None, None, False
            old = t
    return new, old, True


def rollout_limits(ds: DaemonSet, desired: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) for ``desired`` nodes: both rounded up; both 0 makes unavailable 1."""
    st = ds.Spec.UpdateStrategy
    surge = wl.scaled_value(st.MaxSurge, desired, True)
    unavailable = wl.scaled_value(st.MaxUnavailable, desired, True)
    if desired > 0 and surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def rolling_update(ds: DaemonSet, by_node: dict[str, list[Task]], wanted: list[str], hash_: str,
                   now: float) -> tuple[list[Task], list[str]]:
    """One step of a rolling update (Kubernetes' ``rollingUpdate``): the old Pods to delete and the
    nodes to make a new Pod on. ``by_node``: the Pods of each node that has any; ``wanted``: the
    nodes that should run a Pod (in a stable order)."""
    generation = template_generation(ds)
    min_ready = ds.Spec.MinReadySeconds
    nodes = list(dict.fromkeys([*wanted, *sorted(by_node)]))
    wanted_set = set(wanted)
    surge, max_unavailable = rollout_limits(ds, len(wanted))
    to_delete: list[Task] = []
    if surge == 0:
        unavailable = 0
        replace: list[Task] = []
        candidates: list[Task] = []
        for node in nodes:
            new, old, ok = split_updated(by_node.get(node, []), hash_, generation)
            if not ok:
                continue
            if (new is None) == (old is None):
                unavailable += 1  # no Pod yet, or both: the manage step sees to it
            elif new is not None:
                if not wl.pod_available(new, min_ready, now):
                    unavailable += 1
            elif old is not None:
                if not wl.pod_available(old, min_ready, now):
                    replace.append(old)
                elif unavailable < max_unavailable:
                    candidates.append(old)
        room = max(0, min(max_unavailable - unavailable, len(candidates)))
        return [*replace, *candidates[:room]], []
    surged = 0
    allowed: list[str] = []
    candidate_nodes: list[str] = []
    for node in nodes:
        new, old, ok = split_updated(by_node.get(node, []), hash_, generation)
        if not ok or old is None:
            continue
        if new is None:
            if node not in wanted_set:
                continue
            if not wl.pod_available(old, min_ready, now):
                allowed.append(node)
            elif surged < surge:
                candidate_nodes.append(node)
        elif not wl.pod_available(new, min_ready, now):
            surged += 1  # waiting for the new one to become available
        else:
            to_delete.append(old)
    room = max(0, min(surge - surged, len(candidate_nodes)))
    return to_delete, [*allowed, *candidate_nodes[:room]]


# ---------------------------------------------------------------- the controller


class DaemonSetController(wl.PodOwnerController):
    name = "daemonsets"
    owner_type, owner_kind = DaemonSet, KIND
    workers = 2

    def __init__(self, store: ObjectStore, kube: KubeObjects, clock: Callable[[], float] = time.time) -> None:
        super().__init__(store, kube, clock)
        self.failures: dict[tuple[str, str], tuple[int, float]] = {}  # (ds, node) -> (count, last failure)

    # ------------------------------------------------------------ what flows in

    @staticmethod
    def _node_changed(old: Node | None, new: Node | None) -> bool:
        """Whether a node change may change which DaemonSets should run on it."""
        if old is None or new is None:
            return True
        return (nodelabels.kube_labels(old) != nodelabels.kube_labels(new) or old.Spec.Taints != new.Spec.Taints
                or old.Spec.Availability != new.Spec.Availability or old.Status.State != new.Status.State)

    def on_change(self, ch: Change) -> None:
        if ch.kind == "daemonsets":
            self.queue.add((ch.new or ch.old).ID)
        elif ch.kind == "controllerrevisions":
            for cr in (ch.old, ch.new):
                ctl = wl.controller_of(cr) if cr is not None else None
                if ctl is not None and ctl.Kind == KIND:
                    self.queue.add(ctl.ID)
        elif ch.kind == "nodes":
            if self._node_changed(ch.old, ch.new):
                self.queue_all()
        elif ch.kind == "tasks":
            self.pod_changed(ch)

    # ------------------------------------------------------------ the sync

    async def sync(self, ds_id: str) -> float | None:
        """Reconcile one DaemonSet; the delay after which it wants to be looked at again, if any."""
        ds: DaemonSet | None = self.store.get(DaemonSet, ds_id)
        if ds is None:
            self.failures = {k: v for k, v in self.failures.items() if k[0] != ds_id}
            return None
        pods = await self.claim(ds, ds.Spec.Selector, wl.controller_ref(KIND, ds), not ds.DeletionTimestamp)
        if ds.DeletionTimestamp:
            return None
        nodes = sorted(self.store.list(Node), key=nodelabels.node_name)
        current, old = await self._history(ds)
        hash_ = (current.Labels or {}).get(REVISION_HASH, "")
        tolerations = daemon_tolerations(ds.Spec.Template.Spec)
        eligible = {n.ID: eligibility(ds, n, tolerations) for n in nodes}
        again = await self._manage(ds, nodes, eligible, pods, hash_)
        if ds.Spec.UpdateStrategy.Type == ROLLING:
            pods = self._owned(ds)
            by_node = self._by_node(nodes, pods)
            wanted = [n.ID for n in nodes if eligible[n.ID][0]]
            to_delete, to_create = rolling_update(ds, by_node, wanted, hash_, self.clock())
            names = {n.ID: nodelabels.node_name(n) for n in nodes}
            await self._sync_nodes(ds, to_delete, [names[i] for i in to_create if i in names], hash_)
        await self._cleanup_history(ds, old)
        status_again = await self._update_status(ds, nodes, eligible, self._owned(ds), hash_)
        delays = [d for d in (again, status_again) if d is not None]
        return min(delays) if delays else None

    # ------------------------------------------------------------ history (ControllerRevisions)

    def _revisions(self, ds: DaemonSet) -> list[ControllerRevision]:
        """The DaemonSet's ControllerRevisions (those it is the controller of), oldest revision first."""
        revs = [r for r in self.kube.list("controllerrevisions", ds.Namespace)
                if (c := wl.controller_of(r)) is not None and c.ID == ds.ID]
        return sorted(revs, key=lambda r: (r.Revision, r.Name))

    async def _history(self, ds: DaemonSet) -> tuple[ControllerRevision, list[ControllerRevision]]:
        """Kubernetes' ``constructHistory``: the revision of the current template (made when none has it,
        ``<ds>-<hash>`` with the next number; one re-used by an undo takes the next number) and the old ones.
        Of two with the current template, the higher revision stays."""
        revs = self._revisions(ds)
        top = max((r.Revision for r in revs), default=0)
        same = [r for r in revs if r.Template == ds.Spec.Template]
        old = [r for r in revs if r.Template != ds.Spec.Template]
        if not same:
            return await self._new_revision(ds, top + 1), old
        keep = same[-1]
        for extra in same[:-1]:
            await self.kube.delete("controllerrevisions", extra.Namespace, extra.Name, uid=extra.ID)
        if keep.Revision < top:
            keep = clone(keep)
            keep.Revision = top + 1
            keep = await self.kube.update(keep)
        return keep, old

    async def _new_revision(self, ds: DaemonSet, number: int) -> ControllerRevision:
        hash_ = revision_hash(ds)
        cr = ControllerRevision(ID="", Name=f"{ds.Name[:223]}-{hash_}", Namespace=ds.Namespace,
                                Labels={**(ds.Spec.Template.Labels or {}), REVISION_HASH: hash_},
                                Revision=number, Template=clone(ds.Spec.Template))
        cr.OwnerReferences = [wl.controller_ref(KIND, ds)]
        try:
            made: ControllerRevision = await self.kube.create(cr)
            return made
        except AlreadyExists:
            taken: ControllerRevision = self.kube.get("controllerrevisions", ds.Namespace, cr.Name)
            owner = wl.controller_of(taken)
            if owner is not None and owner.ID == ds.ID and taken.Template == ds.Spec.Template:
                return taken
            # Another template has this name: the next hash (Kubernetes' collisionCount).
            cur = clone(ds)
            cur.Status.CollisionCount = (ds.Status.CollisionCount or 0) + 1
            await self.kube.update(cur)
            raise Conflict(f"controllerrevisions.apps \"{cr.Name}\" already exists with another template") from None

    async def _cleanup_history(self, ds: DaemonSet, old: list[ControllerRevision]) -> None:
        """Kubernetes' ``cleanupHistory``: beyond ``revisionHistoryLimit`` old revisions, the oldest go
        that no live Pod runs."""
        limit = ds.Spec.RevisionHistoryLimit if ds.Spec.RevisionHistoryLimit is not None else 10
        extra = len(old) - limit
        if extra <= 0:
            return
        live = {(t.Labels or {}).get(REVISION_HASH) for t in self._owned(ds) if not t.DeletionTimestamp}
        for r in old:
            if extra <= 0:
                return
            if (r.Labels or {}).get(REVISION_HASH) in live:
                continue
            try:
                await self.kube.delete("controllerrevisions", r.Namespace, r.Name, uid=r.ID)
            except NotFound:
                pass
            extra -= 1

    # ------------------------------------------------------------ Pods

    def _owned(self, ds: DaemonSet) -> list[Task]:
        return [t for t in self.store.tasks_of_owner(ds.ID)
                if t.Namespace == ds.Namespace and (c := wl.controller_of(t)) is not None and c.ID == ds.ID]

    def _by_node(self, nodes: list[Node], pods: list[Task]) -> dict[str, list[Task]]:
        """The Pods of each node (by ID; a Pod not placed yet counts on the node it was made for; one
        whose node is gone counts under that node's ID or name), oldest first. Pods that were deleted
        and have ended are left out (``getNodesToDaemonPods``)."""
        by_name = {nodelabels.node_name(n): n.ID for n in nodes}
        out: dict[str, list[Task]] = {}
        for t in pods:
            if t.DeletionTimestamp and t.Status.State.terminal:
                continue
            key = t.NodeID or by_name.get(target_node(t), "name:" + target_node(t))
            out.setdefault(key, []).append(t)
        for v in out.values():
            if len(v) > 1:
                v.sort(key=creation_order)
        return out

    async def _manage(self, ds: DaemonSet, nodes: list[Node], eligible: dict[str, tuple[bool, bool]],
                      pods: list[Task], hash_: str) -> float | None:
        """Kubernetes' ``manage``: a Pod where one should run and there is none, the extra or failed
        ones deleted, none where none should run."""
        by_node = self._by_node(nodes, pods)
        surge = rollout_limits(ds, 1)[0] > 0 if ds.Spec.UpdateStrategy.Type == ROLLING else False
        now = self.clock()
        create: list[str] = []
        delete: list[Task] = []
        again: float | None = None
        for node in nodes:
            should_run, should_continue = eligible[node.ID]
            here = by_node.pop(node.ID, [])
            if should_run and not here:
                create.append(nodelabels.node_name(node))
            elif should_continue:
                running: list[Task] = []
                failed = False
                for t in here:
                    if t.DeletionTimestamp:
                        continue
                    if pod_failed(t):
                        wait = self._backoff_left(ds.ID, node.ID, now)
                        if wait > 0:
                            again = wait if again is None else min(again, wait)
                            continue
                        failed = True
                        await wl.record(self.kube, ds, KIND, COMPONENT, "FailedDaemonPod",
                                        f"Found failed daemon pod {t.Namespace}/{t.Name} on node "
                                        f"{nodelabels.node_name(node)}, will try to kill it", now, "Warning")
                        delete.append(t)
                        continue
                    running.append(t)
                if failed:
                    self._failed(ds.ID, node.ID, now)
                delete += self._extra(ds, running, hash_, surge, now)
            else:
                delete += [t for t in here if not t.DeletionTimestamp]
        for gone in by_node.values():  # Pods of nodes no longer in the cluster
            delete += [t for t in gone if not t.DeletionTimestamp]
        await self._sync_nodes(ds, delete, create, hash_)
        return again

    @staticmethod
    def _extra(ds: DaemonSet, running: list[Task], hash_: str, surge: bool, now: float) -> list[Task]:
        """The Pods of a node beyond the one it keeps: the oldest stays; with surge, the oldest new one
        and the oldest old one both stay while the old one is ready and the new one not yet available."""
        if not surge:
            return running[1:]
        generation = template_generation(ds)
        newest: Task | None = None
        oldest_old: Task | None = None
        out: list[Task] = []
        for t in running:
            if pod_updated(t, hash_, generation) and newest is None:
                newest = t
            elif not pod_updated(t, hash_, generation) and oldest_old is None:
                oldest_old = t
            else:
                out.append(t)
        if newest is not None and oldest_old is not None and (
                not wl.pod_ready(oldest_old) or wl.pod_available(newest, ds.Spec.MinReadySeconds, now)):
            out.append(oldest_old)
        return out

    def _backoff_left(self, ds_id: str, node_id: str, now: float) -> float:
        count, last = self.failures.get((ds_id, node_id), (0, 0.0))
        if not count:
            return 0.0
        return last + min(BACKOFF_BASE * 2 ** (count - 1), BACKOFF_MAX) - now

    def _failed(self, ds_id: str, node_id: str, now: float) -> None:
        count, _ = self.failures.get((ds_id, node_id), (0, 0.0))
        self.failures[(ds_id, node_id)] = (count + 1, now)

    async def _sync_nodes(self, ds: DaemonSet, delete: list[Task], create: list[str], hash_: str) -> None:
        """Make a Pod on each node of ``create`` and delete ``delete`` (at most ``BURST`` each)."""
        for node_name in create[:BURST]:
            await self._create(ds, node_name, hash_)
        for t in delete[:BURST]:
            try:
                await self.kube.delete("tasks", t.Namespace, t.Name, uid=t.ID)
            except NotFound:
                continue
            await wl.record(self.kube, ds, KIND, COMPONENT, "SuccessfulDelete", f"Deleted pod: {t.Name}",
                            self.clock())

    async def _create(self, ds: DaemonSet, node_name: str, hash_: str) -> None:
        for _ in range(3):
            pod = new_pod(ds, node_name, hash_)
            try:
                await self.kube.create(pod)
            except AlreadyExists:
                continue  # the random name was taken: another one
            await wl.record(self.kube, ds, KIND, COMPONENT, "SuccessfulCreate", f"Created pod: {pod.Name}",
                            self.clock())
            return

    async def _update_status(self, ds: DaemonSet, nodes: list[Node], eligible: dict[str, tuple[bool, bool]],
                             pods: list[Task], hash_: str) -> float | None:
        now = self.clock()
        min_ready = ds.Spec.MinReadySeconds
        generation = template_generation(ds)
        by_node = self._by_node(nodes, pods)
        desired = current = misscheduled = ready = available = updated = 0
        for node in nodes:
            should_run = eligible[node.ID][0]
            here = by_node.get(node.ID, [])
            if not should_run:
                misscheduled += 1 if here else 0
                continue
            desired += 1
            if not here:
                continue
            current += 1
            first = here[0]
            if wl.pod_ready(first):
                ready += 1
                if wl.pod_available(first, min_ready, now):
                    available += 1
            if pod_updated(first, hash_, generation):
                updated += 1
        # Any Pod that will become available (a surge's new one too) brings the key back then.
        waiting = [wl.ready_since(t) + min_ready - now for t in pods
                   if not t.DeletionTimestamp and wl.pod_ready(t) and not wl.pod_available(t, min_ready, now)]
        status = DaemonSetStatus(
            CurrentNumberScheduled=current, NumberMisscheduled=misscheduled, DesiredNumberScheduled=desired,
            NumberReady=ready, ObservedGeneration=ds.Generation, UpdatedNumberScheduled=updated,
            NumberAvailable=available, NumberUnavailable=desired - available,
            CollisionCount=ds.Status.CollisionCount, Conditions=ds.Status.Conditions)
        if status != ds.Status:
            cur: DaemonSet | None = self.store.get(DaemonSet, ds.ID)
            if cur is not None:
                cur = clone(cur)
                cur.Status = status
                await self.kube.update(cur)
        return max(min(waiting), 0.0) + 0.01 if waiting else None
