"""The Deployment controller (the leader's, on a keyed work queue: key = the Deployment's ID).

A Deployment rolls its Pod template out through ReplicaSets, as Kubernetes' ``DeploymentController``
does; each sync reads the Deployment and its ReplicaSets from the store's cache (the controller keeps
the ReplicaSets by controller, and those without one by namespace: a sync never walks every ReplicaSet):

* **claim**: ReplicaSets it controls (released if their labels no longer match its selector) and
  orphans that match (adopted with a controller reference);
* **the new ReplicaSet** is the one whose template equals the Deployment's but for the
  ``pod-template-hash`` label (``workloads.same_template``); when there is none (and the Deployment is
  not paused) it is made: ``<deployment>-<hash>``, the hash label on its selector, template and
  labels, the Deployment's annotations copied (``kubernetes.io/change-cause`` among them, not
  ``kubectl.kubernetes.io/last-applied-configuration``), ``deployment.kubernetes.io/revision`` one more
  than the old ReplicaSets' highest (a re-used old template, ``rollout undo``, gets that too and its old
  number goes to ``deployment.kubernetes.io/revision-history``); the Deployment carries the new
  ReplicaSet's revision. A name taken by another template bumps ``status.collisionCount``;
* **RollingUpdate**: the new ReplicaSet grows while every ReplicaSet's replicas stay within
  ``replicas + maxSurge``, and the old ones shrink (their unavailable Pods first) while the available
  Pods stay at least ``replicas - maxUnavailable`` (``workloads.resolve_fenceposts``: surge rounded up,
  unavailable down); **Recreate**: the old ones to 0, and once their Pods are gone the new one to
  ``replicas``;
* **scaling** (``replicas`` changed while a rollout is under way, or a paused Deployment): the
  ReplicaSets are scaled in proportion, as Kubernetes does (``deployment.kubernetes.io/desired-replicas``
  and ``max-replicas`` on each ReplicaSet tell what it was sized for);
* a complete rollout trims the old ReplicaSets scaled to 0 beyond ``revisionHistoryLimit``, oldest
  revision first;
* **status**: ``replicas``, ``updatedReplicas``, ``readyReplicas``, ``availableReplicas``,
  ``unavailableReplicas``, ``observedGeneration`` and the conditions ``Available``
  (``MinimumReplicasAvailable`` / ``MinimumReplicasUnavailable``) and ``Progressing``
  (``NewReplicaSetCreated``, ``FoundNewReplicaSet``, ``ReplicaSetUpdated``, ``NewReplicaSetAvailable``,
  ``ProgressDeadlineExceeded`` when no progress was made for ``progressDeadlineSeconds``,
  ``DeploymentPaused`` / ``DeploymentResumed``); the key comes back when the deadline would pass.

``kubectl rollout undo`` and ``restart`` are the client's (a patch of the template), pause and resume
a patch of ``spec.paused``: nothing here knows about them but through the template and ``paused``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from shoal.api.errors import AlreadyExists, Conflict, NotFound
from shoal.api.meta import owner_references
from shoal.api.types import (
    Deployment,
    DeploymentStatus,
    ReplicaSet,
    ReplicaSetSpec,
    WorkloadCondition,
    clone,
    parse_ts,
)
from shoal.manager.kube import workloads as wl
from shoal.manager.kube.objects import KubeObjects, pod_stopped
from shoal.store.objects import Change, ObjectStore

log = logging.getLogger(__name__)

KIND = "Deployment"
COMPONENT = "deployment-controller"
ROLLING, RECREATE = "RollingUpdate", "Recreate"
PROGRESSING, AVAILABLE = "Progressing", "Available"
NEW_RS_CREATED, FOUND_NEW_RS, RS_UPDATED = "NewReplicaSetCreated", "FoundNewReplicaSet", "ReplicaSetUpdated"
NEW_RS_AVAILABLE, TIMED_OUT = "NewReplicaSetAvailable", "ProgressDeadlineExceeded"
MIN_AVAILABLE, MIN_UNAVAILABLE = "MinimumReplicasAvailable", "MinimumReplicasUnavailable"
PAUSED, RESUMED = "DeploymentPaused", "DeploymentResumed"
# Annotations of a Deployment never copied to its ReplicaSets.
SKIPPED_ANNOTATIONS = frozenset({wl.LAST_APPLIED, wl.REVISION, wl.REVISION_HISTORY, wl.DESIRED_REPLICAS,
                                 wl.MAX_REPLICAS, "deprecated.deployment.rollback.to"})


# ---------------------------------------------------------------- arithmetic (pure)


def max_surge(d: Deployment) -> int:
    if d.Spec.Strategy.Type != ROLLING:
        return 0
    return wl.resolve_fenceposts(d.Spec.Strategy.MaxSurge, d.Spec.Strategy.MaxUnavailable, d.Spec.Replicas)[0]


def max_unavailable(d: Deployment) -> int:
    if d.Spec.Strategy.Type != ROLLING or d.Spec.Replicas == 0:
        return 0
    unavailable = wl.resolve_fenceposts(d.Spec.Strategy.MaxSurge, d.Spec.Strategy.MaxUnavailable,
                                        d.Spec.Replicas)[1]
    return min(unavailable, d.Spec.Replicas)


def revision_of(obj: ReplicaSet | Deployment) -> int:
    text = (obj.Annotations or {}).get(wl.REVISION, "")
    return int(text) if text.isdigit() else 0


def new_rs_replicas(d: Deployment, all_rss: list[ReplicaSet], new: ReplicaSet | None) -> int:
    """How many replicas the new ReplicaSet may have now (Kubernetes' ``NewRSNewReplicas``)."""
    have = new.Spec.Replicas if new is not None else 0
    if d.Spec.Strategy.Type != ROLLING:
        return d.Spec.Replicas
    current = sum(rs.Spec.Replicas for rs in all_rss)
    most = d.Spec.Replicas + max_surge(d)
    if current >= most:
        return have
    return have + max(min(most - current, d.Spec.Replicas - have), 0)


def deployment_complete(d: Deployment, st: DeploymentStatus) -> bool:
    n = d.Spec.Replicas
    return st.UpdatedReplicas == n and st.Replicas == n and st.AvailableReplicas == n and \
        st.ObservedGeneration >= d.Generation


def deployment_progressing(d: Deployment, st: DeploymentStatus) -> bool:
    old = d.Status
    return (st.UpdatedReplicas > old.UpdatedReplicas
            or st.Replicas - st.UpdatedReplicas < old.Replicas - old.UpdatedReplicas
            or st.ReadyReplicas > old.ReadyReplicas or st.AvailableReplicas > old.AvailableReplicas)


def timed_out(d: Deployment, st: DeploymentStatus, now: float) -> bool:
    if d.Spec.ProgressDeadlineSeconds is None:
        return False
    cond = wl.get_condition(st.Conditions, PROGRESSING)
    if cond is None or cond.Reason == NEW_RS_AVAILABLE:
        return False
    if cond.Reason == TIMED_OUT:
        return True
    return parse_ts(cond.LastUpdateTime) + d.Spec.ProgressDeadlineSeconds < now


def by_created(rss: list[ReplicaSet]) -> list[ReplicaSet]:
    return sorted(rss, key=lambda rs: (rs.CreatedAt, rs.Name))


# ---------------------------------------------------------------- the controller


class DeploymentController(wl.WorkloadController):
    name = "deployments"
    workers = 2

    # ------------------------------------------------------------ what flows in

    def __init__(self, store: ObjectStore, kube: KubeObjects, clock: Callable[[], float] = time.time) -> None:
        super().__init__(store, kube, clock)
        # The ReplicaSets each Deployment controls (by its ID) and those of each namespace that no
        # controller holds (the ones a sync may adopt): a sync never walks every ReplicaSet.
        self.owned: dict[str, dict[str, None]] = {}
        self.orphans: dict[str, dict[str, None]] = {}

    def seed(self) -> None:
        self._unsubscribe = self.store.subscribe(self.on_change)
        self.owned, self.orphans = {}, {}
        for rs in self.store.list(ReplicaSet):
            self._track(None, rs)
        for d in self.store.list(Deployment):
            self.queue.add(d.ID)

    def _track(self, old: ReplicaSet | None, new: ReplicaSet | None) -> None:
        """Keep ``owned`` and ``orphans`` (a ReplicaSet's controller can change: adoption, release)."""
        if old is not None:
            ctl = wl.controller_of(old)
            held = self.owned.get(ctl.ID) if ctl is not None else self.orphans.get(old.Namespace)
            new_ctl = wl.controller_of(new) if new is not None else None
            if held is not None and (new is None or (ctl.ID if ctl else "") != (new_ctl.ID if new_ctl else "")):
                held.pop(old.ID, None)
                if not held:
                    if ctl is not None:
                        del self.owned[ctl.ID]
                    else:
                        del self.orphans[old.Namespace]
        if new is not None:
            ctl = wl.controller_of(new)
            if ctl is not None:
                self.owned.setdefault(ctl.ID, {})[new.ID] = None
            else:
                self.orphans.setdefault(new.Namespace, {})[new.ID] = None

    def on_change(self, ch: Change) -> None:
        if ch.kind == "deployments":
            self.queue.add((ch.new or ch.old).ID)
        elif ch.kind == "replicasets":
            self._track(ch.old, ch.new)
            for rs in (ch.old, ch.new):
                if rs is None:
                    continue
                ctl = wl.controller_of(rs)
                if ctl is not None:
                    if ctl.Kind == KIND:
                        self.queue.add(ctl.ID)
                elif rs is ch.new and not rs.DeletionTimestamp:
                    for d in self.kube.list("deployments", rs.Namespace):
                        if wl.selector_of(d.Spec.Selector).matches(rs.Labels or {}):
                            self.queue.add(d.ID)
        elif ch.kind == "tasks" and ch.old is not None and ch.old.Namespace and \
                (ch.new is None or (pod_stopped(ch.new) and not pod_stopped(ch.old))):
            # A Recreate rollout waits for the old Pods to be gone.
            ctl = wl.controller_of(ch.old)
            if ctl is not None and ctl.Kind == "ReplicaSet":
                rs = self.store.get(ReplicaSet, ctl.ID)
                owner = wl.controller_of(rs) if rs is not None else None
                if owner is not None and owner.Kind == KIND:
                    self.queue.add(owner.ID)

    # ------------------------------------------------------------ the sync

    async def sync(self, d_id: str) -> float | None:
        """Reconcile one Deployment; the delay after which it wants to be looked at again, if any."""
        stored: Deployment | None = self.store.get(Deployment, d_id)
        if stored is None:
            return None
        d: Deployment = clone(stored)
        await self._claim(d)
        if d.DeletionTimestamp:
            new, old = await self._new_and_old(d, create=False)
            return await self._finish(d, stored, new, old, progress=False)
        self._paused_condition(d)
        if d.Spec.Paused:
            new, old = await self._new_and_old(d, create=False)
            await self._scale(d, new, old)
            await self._cleanup(d, new)
            return await self._finish(d, stored, new, old, progress=False)
        if self._scaling_event(d):
            new, old = await self._new_and_old(d, create=False)
            await self._scale(d, new, old)
            return await self._finish(d, stored, new, old, progress=False)
        if d.Spec.Strategy.Type == RECREATE:
            return await self._recreate(d, stored)
        return await self._rolling(d, stored)

    def _held(self, ids: dict[str, None] | None, namespace: str) -> list[ReplicaSet]:
        found = (self.store.get(ReplicaSet, i) for i in list(ids or ()))
        return [rs for rs in found if rs is not None and rs.Namespace == namespace]

    def _rss(self, d: Deployment) -> list[ReplicaSet]:
        """The ReplicaSets the Deployment controls, as the cache has them now."""
        return [rs for rs in self._held(self.owned.get(d.ID), d.Namespace)
                if (ctl := wl.controller_of(rs)) is not None and ctl.ID == d.ID]

    async def _claim(self, d: Deployment) -> None:
        """Release its ReplicaSets that no longer match, adopt the orphans of its namespace that do
        (any other ReplicaSet of the namespace has another controller: nothing to do with it)."""
        selector = wl.selector_of(d.Spec.Selector)
        for rs in self._held(self.owned.get(d.ID), d.Namespace) + self._held(self.orphans.get(d.Namespace),
                                                                            d.Namespace):
            ctl = wl.controller_of(rs)
            matches = selector.matches(rs.Labels or {})
            if ctl is not None:
                if ctl.ID == d.ID and not matches and not rs.DeletionTimestamp:
                    rs = clone(rs)
                    rs.OwnerReferences = wl.without_owner(rs, d.ID)
                    rs.Owner = None
                    await self.kube.update(rs)
            elif matches and not d.DeletionTimestamp and not rs.DeletionTimestamp:
                rs = clone(rs)
                rs.OwnerReferences = [*owner_references(rs), wl.controller_ref(KIND, d)]
                await self.kube.update(rs)

    def _paused_condition(self, d: Deployment) -> None:
        if d.Spec.ProgressDeadlineSeconds is None:
            return
        cond = wl.get_condition(d.Status.Conditions, PROGRESSING)
        if cond is not None and cond.Reason == TIMED_OUT:
            return
        paused = cond is not None and cond.Reason == PAUSED
        now = self.clock()
        if d.Spec.Paused and not paused:
            d.Status.Conditions = wl.set_condition(d.Status.Conditions, wl.condition(
                PROGRESSING, "Unknown", PAUSED, "Deployment is paused", now))
        elif not d.Spec.Paused and paused:
            d.Status.Conditions = wl.set_condition(d.Status.Conditions, wl.condition(
                PROGRESSING, "Unknown", RESUMED, "Deployment is resumed", now))

    def _scaling_event(self, d: Deployment) -> bool:
        for rs in self._rss(d):
            if rs.Spec.Replicas <= 0:
                continue
            desired = (rs.Annotations or {}).get(wl.DESIRED_REPLICAS, "")
            if desired.isdigit() and int(desired) != d.Spec.Replicas:
                return True
        return False

    # ------------------------------------------------------------ the new ReplicaSet and the old ones

    def _copy_annotations(self, d: Deployment, rs: ReplicaSet) -> bool:
        """The Deployment's annotations onto the ReplicaSet (``SKIPPED_ANNOTATIONS`` aside); changed?"""
        ann = dict(rs.Annotations or {})
        changed = False
        for k, v in (d.Annotations or {}).items():
            if k in SKIPPED_ANNOTATIONS or ann.get(k) == v:
                continue
            ann[k] = v
            changed = True
        if changed:
            rs.Annotations = ann
        return changed

    def _replicas_annotations(self, d: Deployment, rs: ReplicaSet) -> bool:
        ann = dict(rs.Annotations or {})
        want = {wl.DESIRED_REPLICAS: str(d.Spec.Replicas), wl.MAX_REPLICAS: str(d.Spec.Replicas + max_surge(d))}
        if all(ann.get(k) == v for k, v in want.items()):
            return False
        ann.update(want)
        rs.Annotations = ann
        return True

    async def _new_and_old(self, d: Deployment, create: bool) -> tuple[ReplicaSet | None, list[ReplicaSet]]:
        rss = by_created(self._rss(d))
        new = next((rs for rs in rss if wl.same_template(rs.Spec.Template, d.Spec.Template)), None)
        old = [rs for rs in rss if new is None or rs.ID != new.ID]
        next_revision = max((revision_of(rs) for rs in old), default=0) + 1
        now = self.clock()
        if new is not None:
            rs = clone(new)
            changed = self._copy_annotations(d, rs)
            have = revision_of(rs)
            if have < next_revision:
                ann = dict(rs.Annotations or {})
                if have:
                    history = [h for h in ann.get(wl.REVISION_HISTORY, "").split(",") if h]
                    ann[wl.REVISION_HISTORY] = ",".join([*history, str(have)])
                ann[wl.REVISION] = str(next_revision)
                rs.Annotations = ann
                changed = True
            if rs.Spec.MinReadySeconds != d.Spec.MinReadySeconds:
                rs.Spec.MinReadySeconds = d.Spec.MinReadySeconds
                changed = True
            if changed:
                new = await self.kube.update(rs)
            self._set_revision(d, revision_of(rs))
            if d.Spec.ProgressDeadlineSeconds is not None and \
                    wl.get_condition(d.Status.Conditions, PROGRESSING) is None:
                d.Status.Conditions = wl.set_condition(d.Status.Conditions, wl.condition(
                    PROGRESSING, "True", FOUND_NEW_RS, f'Found new replica set "{rs.Name}"', now))
            return new, old
        if not create:
            return None, old
        tpl_hash = wl.template_hash(d.Spec.Template, d.Status.CollisionCount)
        tpl = clone(d.Spec.Template)
        tpl.Labels = {**(tpl.Labels or {}), wl.POD_TEMPLATE_HASH: tpl_hash}
        selector = clone(d.Spec.Selector)
        selector.MatchLabels = {**(selector.MatchLabels or {}), wl.POD_TEMPLATE_HASH: tpl_hash}
        name = f"{d.Name}-{tpl_hash}"
        replicas = new_rs_replicas(d, old, None)
        rs = ReplicaSet(ID="", Name=name, Namespace=d.Namespace, Labels=dict(tpl.Labels),
                        Spec=ReplicaSetSpec(Replicas=replicas, MinReadySeconds=d.Spec.MinReadySeconds,
                                            Selector=selector, Template=tpl))
        rs.OwnerReferences = [wl.controller_ref(KIND, d)]
        self._copy_annotations(d, rs)
        rs.Annotations = {**(rs.Annotations or {}), wl.REVISION: str(next_revision)}
        self._replicas_annotations(d, rs)
        try:
            created: ReplicaSet = await self.kube.create(rs)
        except AlreadyExists:
            other: ReplicaSet = self.kube.get("replicasets", d.Namespace, name)
            ctl = wl.controller_of(other)
            if ctl is not None and ctl.ID == d.ID and wl.same_template(other.Spec.Template, d.Spec.Template):
                raise  # the cache has not seen our own ReplicaSet yet: look again
            # Another template has this hash's name: a new hash, with the collision counted.
            cur: Deployment = clone(self.store.get(Deployment, d.ID))
            cur.Status.CollisionCount = (cur.Status.CollisionCount or 0) + 1
            await self.kube.update(cur)
            raise Conflict("pod-template-hash collision") from None
        if replicas > 0:
            await wl.record(self.kube, d, KIND, COMPONENT, "ScalingReplicaSet",
                            f"Scaled up replica set {name} from 0 to {replicas}", now)
        self._set_revision(d, next_revision)
        if d.Spec.ProgressDeadlineSeconds is not None:
            d.Status.Conditions = wl.set_condition(d.Status.Conditions, wl.condition(
                PROGRESSING, "True", NEW_RS_CREATED, f'Created new replica set "{name}"', now))
        return created, old

    @staticmethod
    def _set_revision(d: Deployment, revision: int) -> None:
        if revision and (d.Annotations or {}).get(wl.REVISION) != str(revision):
            d.Annotations = {**(d.Annotations or {}), wl.REVISION: str(revision)}

    async def _scale_rs(self, d: Deployment, rs: ReplicaSet, replicas: int) -> bool:
        """Scale one ReplicaSet (and mark what it is sized for); whether its size changed."""
        cur: ReplicaSet | None = self.store.get(ReplicaSet, rs.ID)
        if cur is None:
            return False
        cur = clone(cur)
        before = cur.Spec.Replicas
        changed = self._replicas_annotations(d, cur)
        if before == replicas and not changed:
            return False
        cur.Spec.Replicas = replicas
        await self.kube.update(cur)
        if before != replicas:
            way = "up" if replicas > before else "down"
            await wl.record(self.kube, d, KIND, COMPONENT, "ScalingReplicaSet",
                            f"Scaled {way} replica set {cur.Name} from {before} to {replicas}", self.clock())
        return before != replicas

    def _fresh(self, rs: ReplicaSet | None) -> ReplicaSet | None:
        return self.store.get(ReplicaSet, rs.ID) if rs is not None else None

    # ------------------------------------------------------------ strategies

    async def _rolling(self, d: Deployment, stored: Deployment) -> float | None:
        new, old = await self._new_and_old(d, create=True)
        assert new is not None
        all_rss = [*old, new]
        if await self._reconcile_new(d, all_rss, new):
            return await self._finish(d, stored, self._fresh(new), old, progress=True)
        new = self._fresh(new)
        assert new is not None
        if await self._reconcile_old(d, [*old, new], old, new):
            return await self._finish(d, stored, new, old, progress=True)
        if deployment_complete(d, d.Status):
            await self._cleanup(d, new)
        return await self._finish(d, stored, new, old, progress=True)

    async def _reconcile_new(self, d: Deployment, all_rss: list[ReplicaSet], new: ReplicaSet) -> bool:
        if new.Spec.Replicas == d.Spec.Replicas:
            return False
        if new.Spec.Replicas > d.Spec.Replicas:
            return await self._scale_rs(d, new, d.Spec.Replicas)
        return await self._scale_rs(d, new, new_rs_replicas(d, all_rss, new))

    async def _reconcile_old(self, d: Deployment, all_rss: list[ReplicaSet], old: list[ReplicaSet],
                             new: ReplicaSet) -> bool:
        if sum(rs.Spec.Replicas for rs in old) == 0:
            return False
        all_pods = sum(rs.Spec.Replicas for rs in all_rss)
        min_available = d.Spec.Replicas - max_unavailable(d)
        new_unavailable = new.Spec.Replicas - new.Status.AvailableReplicas
        most_down = all_pods - min_available - new_unavailable
        if most_down <= 0:
            return False
        # First the old ReplicaSets' unavailable Pods: they add nothing to availability.
        cleaned = 0
        for rs in by_created([rs for rs in old if rs.Spec.Replicas > 0]):
            if cleaned >= most_down:
                break
            if rs.Spec.Replicas == rs.Status.AvailableReplicas:
                continue
            down = min(most_down - cleaned, rs.Spec.Replicas - rs.Status.AvailableReplicas)
            await self._scale_rs(d, rs, rs.Spec.Replicas - down)
            cleaned += down
        # Then available ones, while enough stay available.
        fresh = [x for x in (self._fresh(rs) for rs in all_rss) if x is not None]
        available = sum(rs.Status.AvailableReplicas for rs in fresh)
        scaled = 0
        if available > min_available:
            total = available - min_available
            for rs in by_created([x for x in fresh if x.ID != new.ID and x.Spec.Replicas > 0]):
                if scaled >= total:
                    break
                down = min(rs.Spec.Replicas, total - scaled)
                await self._scale_rs(d, rs, rs.Spec.Replicas - down)
                scaled += down
        return cleaned + scaled > 0

    async def _recreate(self, d: Deployment, stored: Deployment) -> float | None:
        new, old = await self._new_and_old(d, create=False)
        scaled = False
        for rs in old:
            if rs.Spec.Replicas > 0:
                scaled = await self._scale_rs(d, rs, 0) or scaled
        if scaled:
            return await self._finish(d, stored, new, old, progress=True)
        if self._old_pods_running(old):
            return await self._finish(d, stored, new, old, progress=True)
        if new is None:
            new, old = await self._new_and_old(d, create=True)
            assert new is not None
        if new.Spec.Replicas != d.Spec.Replicas:
            await self._scale_rs(d, new, d.Spec.Replicas)
            return await self._finish(d, stored, self._fresh(new), old, progress=True)
        if deployment_complete(d, d.Status):
            await self._cleanup(d, new)
        return await self._finish(d, stored, new, old, progress=True)

    def _old_pods_running(self, old: list[ReplicaSet]) -> bool:
        return any(not pod_stopped(t) for rs in old for t in self.store.tasks_of_owner(rs.ID))

    # ------------------------------------------------------------ scaling (paused, or replicas changed mid-rollout)

    async def _scale(self, d: Deployment, new: ReplicaSet | None, old: list[ReplicaSet]) -> None:
        all_rss = [*([new] if new is not None else []), *old]
        active = [rs for rs in all_rss if rs.Spec.Replicas > 0]
        target: ReplicaSet | None = None
        if not active:
            target = new if new is not None else (by_created(old)[-1] if old else None)
        elif len(active) == 1:
            target = active[0]
        if target is not None or not active:
            if target is not None:
                await self._scale_rs(d, target, d.Spec.Replicas)
            return
        if new is not None and new.Spec.Replicas == d.Spec.Replicas and \
                new.Status.AvailableReplicas == d.Spec.Replicas:
            for rs in old:
                if rs.Spec.Replicas > 0:
                    await self._scale_rs(d, rs, 0)
            return
        if d.Spec.Strategy.Type != ROLLING:
            return
        allowed = d.Spec.Replicas + max_surge(d) if d.Spec.Replicas > 0 else 0
        to_add = allowed - sum(rs.Spec.Replicas for rs in active)
        if to_add == 0:
            return
        # Newer and larger first when growing, older and larger first when shrinking (Kubernetes').
        order = sorted(sorted(active, key=lambda rs: rs.CreatedAt, reverse=to_add > 0),
                       key=lambda rs: -rs.Spec.Replicas)
        sizes: dict[str, int] = {}
        added = 0
        for rs in order:
            share = self._proportion(d, rs, to_add, added)
            sizes[rs.ID] = rs.Spec.Replicas + share
            added += share
        if order and added != to_add:
            first = order[0]
            sizes[first.ID] = max(sizes[first.ID] + to_add - added, 0)
        for rs in order:
            await self._scale_rs(d, rs, max(sizes[rs.ID], 0))

    def _proportion(self, d: Deployment, rs: ReplicaSet, to_add: int, added: int) -> int:
        if rs.Spec.Replicas == 0 or to_add == 0:
            return 0
        if d.Spec.Replicas == 0:
            fraction = -rs.Spec.Replicas
        else:
            most = d.Spec.Replicas + max_surge(d)
            text = (rs.Annotations or {}).get(wl.MAX_REPLICAS, "")
            annotated = int(text) if text.isdigit() and int(text) > 0 else (d.Status.Replicas or most)
            fraction = round(rs.Spec.Replicas * most / annotated) - rs.Spec.Replicas
        allowed = to_add - added
        return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)

    # ------------------------------------------------------------ history and status

    async def _cleanup(self, d: Deployment, new: ReplicaSet | None) -> None:
        limit = d.Spec.RevisionHistoryLimit
        if limit is None:
            return
        old = [rs for rs in self._rss(d) if (new is None or rs.ID != new.ID) and not rs.DeletionTimestamp]
        extra = len(old) - limit
        if extra <= 0:
            return
        for rs in sorted(old, key=lambda x: (revision_of(x), x.CreatedAt)):
            if extra <= 0:
                break
            if rs.Spec.Replicas or rs.Status.Replicas or rs.Generation > rs.Status.ObservedGeneration:
                continue
            try:
                await self.kube.delete("replicasets", rs.Namespace, rs.Name, uid=rs.ID)
            except NotFound:
                pass
            extra -= 1

    def _status(self, d: Deployment, new: ReplicaSet | None, all_rss: list[ReplicaSet]) -> DeploymentStatus:
        available = sum(rs.Status.AvailableReplicas for rs in all_rss)
        total = sum(rs.Spec.Replicas for rs in all_rss)
        st = DeploymentStatus(
            ObservedGeneration=d.Generation, Replicas=sum(rs.Status.Replicas for rs in all_rss),
            UpdatedReplicas=new.Status.Replicas if new is not None else 0,
            ReadyReplicas=sum(rs.Status.ReadyReplicas for rs in all_rss), AvailableReplicas=available,
            UnavailableReplicas=max(total - available, 0), Conditions=list(d.Status.Conditions or []) or None,
            CollisionCount=d.Status.CollisionCount)
        now = self.clock()
        if available >= d.Spec.Replicas - max_unavailable(d):
            cond = wl.condition(AVAILABLE, "True", MIN_AVAILABLE, "Deployment has minimum availability.", now)
        else:
            cond = wl.condition(AVAILABLE, "False", MIN_UNAVAILABLE, "Deployment does not have minimum availability.",
                                now)
        st.Conditions = wl.set_condition(st.Conditions, cond)
        return st

    async def _finish(self, d: Deployment, stored: Deployment, new: ReplicaSet | None, old: list[ReplicaSet],
                      progress: bool) -> float | None:
        """Write the Deployment's status (and revision annotation); the delay until its deadline."""
        new = self._fresh(new)
        all_rss = [x for x in (self._fresh(rs) for rs in old) if x is not None] + ([new] if new is not None else [])
        st = self._status(d, new, all_rss)
        now = self.clock()
        again: float | None = None
        deadline = d.Spec.ProgressDeadlineSeconds
        if progress and deadline is not None:
            cur = wl.get_condition(st.Conditions, PROGRESSING)
            done = st.Replicas == st.UpdatedReplicas and cur is not None and cur.Reason == NEW_RS_AVAILABLE
            if not done:
                name = new.Name if new is not None else d.Name
                what = "ReplicaSet" if new is not None else "Deployment"
                if deployment_complete(d, st):
                    st.Conditions = wl.set_condition(st.Conditions, wl.condition(
                        PROGRESSING, "True", NEW_RS_AVAILABLE, f'{what} "{name}" has successfully progressed.', now))
                elif deployment_progressing(d, st):
                    fresh = wl.condition(PROGRESSING, "True", RS_UPDATED, f'{what} "{name}" is progressing.', now)
                    if cur is not None and cur.Status == "True":
                        fresh.LastTransitionTime = cur.LastTransitionTime
                    st.Conditions = [*(c for c in st.Conditions or [] if c.Type != PROGRESSING), fresh]
                elif timed_out(d, st, now):
                    st.Conditions = wl.set_condition(st.Conditions, wl.condition(
                        PROGRESSING, "False", TIMED_OUT, f'{what} "{name}" has timed out progressing.', now))
            if not deployment_complete(d, st) and not timed_out(d, st, now):
                cond = wl.get_condition(st.Conditions, PROGRESSING)
                if cond is not None and cond.LastUpdateTime:
                    again = max(parse_ts(cond.LastUpdateTime) + deadline - now, 0.0) + 1.0
        elif deadline is None:
            st.Conditions = [c for c in st.Conditions or [] if c.Type != PROGRESSING] or None
        st.Conditions = _ordered(st.Conditions)
        if st != stored.Status or (d.Annotations or None) != (stored.Annotations or None):
            cur_d: Deployment | None = self.store.get(Deployment, d.ID)
            if cur_d is None:
                return None
            if cur_d.Version.Index != stored.Version.Index:
                raise Conflict("the Deployment changed during its sync")
            out = clone(cur_d)
            out.Status = st
            out.Annotations = d.Annotations
            await self.kube.update(out)
        return again


def _ordered(conds: list[WorkloadCondition] | None) -> list[WorkloadCondition] | None:
    """Available before Progressing, as the API server shows them after a first rollout."""
    if not conds:
        return None
    rank = {AVAILABLE: 0, PROGRESSING: 1}
    return sorted(conds, key=lambda c: rank.get(c.Type, 2))
