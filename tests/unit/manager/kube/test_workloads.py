"""The ReplicaSet and Deployment controllers (``manager/kube/replicasets.py``, ``deployments.py``) and
their arithmetic (``workloads.py``) on an in-memory store, with an injected clock. A fake kubelet
(``World.run``) brings new Pods to running and ready, and lets deleted ones go, one step at a time, so
each test sees the rollout move as the controllers move it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from shoal.api.kube import Namespace
from shoal.api.meta import OwnerReference
from shoal.api.pod import PodSpecExtra
from shoal.api.states import TaskState
from shoal.api.types import (
    ContainerSpec,
    ContainerStatus,
    Deployment,
    DeploymentSpec,
    DeploymentStrategy,
    LabelSelectorSpec,
    PodTemplate,
    ReplicaSet,
    ReplicaSetSpec,
    Task,
    TaskSpec,
    clone,
)
from shoal.manager.kube import deployments as dep
from shoal.manager.kube import workloads as wl
from shoal.manager.kube.deployments import DeploymentController
from shoal.manager.kube.events import timestamp
from shoal.manager.kube.objects import KubeObjects
from shoal.manager.kube.replicasets import ReplicaSetController, deletion_key, pods_to_delete
from shoal.store.changelog import ChangeLog
from shoal.store.memory import MemoryBackend
from shoal.store.objects import ObjectStore

from ...helpers import FakeClock


def template(image: str = "busybox:1", labels: dict[str, str] | None = None) -> PodTemplate:
    return PodTemplate(Labels=labels or {"app": "web"}, Spec=TaskSpec(
        Containers=[ContainerSpec(Name="web", Image=image)], Pod=PodSpecExtra(RestartPolicy="Always")))


def deployment(name: str = "web", replicas: int = 3, image: str = "busybox:1", surge: int | str = "25%",
               unavailable: int | str = "25%", kind: str = "RollingUpdate", history: int = 10,
               min_ready: int = 0, deadline: int = 600) -> Deployment:
    return Deployment(ID="", Name=name, Namespace="default", Spec=DeploymentSpec(
        Replicas=replicas, Selector=LabelSelectorSpec(MatchLabels={"app": "web"}), Template=template(image),
        Strategy=DeploymentStrategy(Type=kind, MaxSurge=surge if kind == "RollingUpdate" else None,
                                    MaxUnavailable=unavailable if kind == "RollingUpdate" else None),
        RevisionHistoryLimit=history, MinReadySeconds=min_ready, ProgressDeadlineSeconds=deadline))


@dataclass
class World:
    store: ObjectStore
    kube: KubeObjects
    clock: FakeClock
    rsc: ReplicaSetController
    dc: DeploymentController
    ready_images: set[str]

    async def settle(self) -> None:
        for _ in range(50):
            await self.rsc.settle()
            await self.dc.settle()
            if not len(self.rsc.queue) and not len(self.dc.queue):
                return

    def pods(self) -> list[Task]:
        return [t for t in self.kube.list("tasks", "default") if wl.pod_active(t)]

    def rss(self) -> list[ReplicaSet]:
        return sorted(self.kube.list("replicasets", "default"), key=lambda r: r.CreatedAt)

    def d(self, name: str = "web") -> Deployment:
        found: Deployment = self.kube.get("deployments", "default", name)
        return found

    async def run(self, *, stop: bool = True) -> None:
        """One kubelet step: new Pods whose image may run become running and ready; deleted ones go."""
        for t in self.kube.list("tasks", "default"):
            if t.DeletionTimestamp and stop:
                await self.store.commit(deletes=[t])
            elif t.Status.State == TaskState.NEW and t.Spec.Containers[0].Image in self.ready_images:
                t = clone(t)
                t.Status.State = TaskState.RUNNING
                t.Status.Timestamp = timestamp(self.clock())
                t.NodeID = "n1"
                t.Status.Containers = [ContainerStatus(Name="web", State="running", Ready=True)]
                await self.store.commit(updates=[t])
        await self.settle()

    async def converge(self, steps: int = 30) -> None:
        for _ in range(steps):
            await self.run()


@pytest.fixture
async def w() -> AsyncIterator[World]:
    store = ObjectStore(MemoryBackend())
    await store.load()
    kube = KubeObjects(store, ChangeLog(store, capacity=10000))
    await kube.create(Namespace(ID="", Name="default"))
    clock = FakeClock(1_800_000_000.0)
    rsc = ReplicaSetController(store, kube, clock)
    dc = DeploymentController(store, kube, clock)
    rsc.seed()
    dc.seed()
    yield World(store, kube, clock, rsc, dc, {"busybox:1", "busybox:2"})
    await rsc.stop()
    await dc.stop()


# ---------------------------------------------------------------- arithmetic


@pytest.mark.parametrize(("surge", "unavailable", "desired", "want"), [
    ("25%", "25%", 3, (1, 0)),      # 0.75 up, 0.75 down: Kubernetes' own example
    ("25%", "25%", 10, (3, 2)),
    ("20%", 0, 5, (1, 0)),
    (0, "10%", 5, (0, 1)),          # 0.5 down is 0, and both 0 makes unavailable 1
    ("0%", "0%", 7, (0, 1)),
    ("50%", "50%", 1, (1, 0)),
    (2, 1, 7, (2, 1)),
    ("35%", "35%", 7, (3, 2)),      # 2.45 up and down
])
def test_fenceposts_round_surge_up_and_unavailable_down(surge: int | str, unavailable: int | str, desired: int,
                                                         want: tuple[int, int]) -> None:
    assert wl.resolve_fenceposts(surge, unavailable, desired) == want


def test_template_hash_is_stable_in_kubernetes_alphabet_and_ignores_its_own_label() -> None:
    t = template()
    h = wl.template_hash(t)
    assert 9 <= len(h) <= 10 and set(h) <= set(wl.SAFE_CHARS)
    assert wl.template_hash(template()) == h
    labelled = clone(t)
    labelled.Labels = {**(labelled.Labels or {}), wl.POD_TEMPLATE_HASH: h}
    assert wl.template_hash(labelled) == h and wl.same_template(labelled, t)
    assert wl.template_hash(t, 1) != h
    assert wl.template_hash(template("busybox:2")) != h
    # FNV-32a of a known text, and SafeEncodeString of its decimal digits
    assert wl.fnv32a(b"a") == 0xE40C292C
    assert wl.safe_encode("0123456789") == "".join(wl.SAFE_CHARS[c % 27] for c in b"0123456789")


def pod(name: str, *, node: str = "", running: bool = False, ready: bool = False, created: float = 0.0,
        ready_at: float = 0.0, restarts: int = 0) -> Task:
    t = Task(ID=name, Name=name, Namespace="default", CreatedAt=timestamp(created), NodeID=node,
             Spec=TaskSpec(Containers=[ContainerSpec(Name="web", Image="x")]))
    if running:
        t.Status.State = TaskState.RUNNING
        t.Status.Timestamp = timestamp(ready_at)
        t.Status.Containers = [ContainerStatus(Name="web", State="running", Ready=ready, RestartCount=restarts)]
    return t


def test_deletion_order_is_kubernetes() -> None:
    unscheduled = pod("unscheduled", created=10)
    pending = pod("pending", node="n1", created=10)
    not_ready = pod("not-ready", node="n2", running=True, created=10)
    ready_recent = pod("ready-recent", node="n3", running=True, ready=True, created=10, ready_at=500)
    ready_old = pod("ready-old", node="n4", running=True, ready=True, created=10, ready_at=100)
    restarted = pod("restarted", node="n5", running=True, ready=True, created=10, ready_at=100, restarts=3)
    newer = pod("newer", node="n6", running=True, ready=True, created=20, ready_at=100)
    older = pod("older", node="n7", running=True, ready=True, created=5, ready_at=100)
    pods = [older, newer, restarted, ready_old, ready_recent, not_ready, pending, unscheduled]
    order = [t.Name for t in pods_to_delete(pods, len(pods))]
    assert order == ["unscheduled", "pending", "not-ready", "ready-recent", "restarted", "newer", "ready-old",
                     "older"]
    # two Pods of the ReplicaSet on one node go before one alone on its node
    a, b = pod("a", node="n1", running=True, ready=True), pod("b", node="n1", running=True, ready=True)
    c = pod("c", node="n2", running=True, ready=True)
    assert pods_to_delete([c, a, b], 1)[0].Name in ("a", "b")
    assert deletion_key(c, 1) > deletion_key(a, 2)


# ---------------------------------------------------------------- ReplicaSets


def replica_set(name: str = "web-rs", replicas: int = 3, min_ready: int = 0) -> ReplicaSet:
    return ReplicaSet(ID="", Name=name, Namespace="default", Spec=ReplicaSetSpec(
        Replicas=replicas, MinReadySeconds=min_ready, Selector=LabelSelectorSpec(MatchLabels={"app": "web"}),
        Template=template()))


async def test_replica_set_makes_names_adopts_releases_and_replaces(w: World) -> None:
    orphan = Task(ID="", Name="orphan", Namespace="default", Labels={"app": "web"},
                  Spec=TaskSpec(Containers=[ContainerSpec(Name="web", Image="busybox:1")]))
    await w.kube.create(orphan)
    rs = await w.kube.create(replica_set())
    await w.converge(3)
    pods = w.pods()
    assert len(pods) == 3
    adopted = w.kube.get("tasks", "default", "orphan")
    assert wl.controller_of(adopted) == OwnerReference(APIVersion="apps/v1", Kind="ReplicaSet", Name="web-rs",
                                                        ID=rs.ID, Controller=True, BlockOwnerDeletion=True)
    made = [t for t in pods if t.Name != "orphan"]
    assert all(t.Name.startswith("web-rs-") and len(t.Name) == len("web-rs-") + 5 for t in made)
    assert all(set(t.Name[-5:]) <= set(wl.SAFE_CHARS) for t in made)
    st = w.kube.get("replicasets", "default", "web-rs").Status
    assert (st.Replicas, st.ReadyReplicas, st.AvailableReplicas, st.FullyLabeledReplicas,
            st.ObservedGeneration) == (3, 3, 3, 3, 1)
    # a relabelled Pod is released, and replaced
    out = clone(w.kube.get("tasks", "default", made[0].Name))
    out.Labels = {"app": "other"}
    await w.kube.update(out)
    await w.converge(3)
    released = w.kube.get("tasks", "default", made[0].Name)
    assert wl.controller_of(released) is None
    assert len([t for t in w.pods() if (t.Labels or {}).get("app") == "web"]) == 3
    # a deleted Pod is replaced
    victim = next(t for t in w.pods() if (t.Labels or {}).get("app") == "web")
    await w.kube.delete("tasks", "default", victim.Name)
    await w.converge(3)
    left = [t for t in w.pods() if (t.Labels or {}).get("app") == "web"]
    assert len(left) == 3 and victim.Name not in {t.Name for t in left}


async def test_replica_set_scales_down_unready_first_and_counts_available_after_min_ready(w: World) -> None:
    await w.kube.create(replica_set(replicas=2, min_ready=30))
    await w.converge(2)
    st = w.kube.get("replicasets", "default", "web-rs").Status
    assert (st.ReadyReplicas, st.AvailableReplicas) == (2, 0)
    key = w.kube.get("replicasets", "default", "web-rs").ID
    assert w.rsc.queue.delayed(key) is not None  # comes back when they become available
    w.clock.advance(31)
    w.rsc.queue.wake()
    await w.settle()
    assert w.kube.get("replicasets", "default", "web-rs").Status.AvailableReplicas == 2
    # scale to 4 with the new Pods never becoming ready, then back to 2: the unready ones go
    w.ready_images.clear()
    rs = clone(w.kube.get("replicasets", "default", "web-rs"))
    rs.Spec.Replicas = 4
    await w.kube.update(rs)
    await w.converge(2)
    unready = {t.Name for t in w.pods() if not wl.pod_ready(t)}
    assert len(unready) == 2
    rs = clone(w.kube.get("replicasets", "default", "web-rs"))
    rs.Spec.Replicas = 2
    await w.kube.update(rs)
    await w.settle()
    assert {t.Name for t in w.pods()}.isdisjoint(unready)


# ---------------------------------------------------------------- Deployments


async def test_deployment_rolls_out_with_revisions_and_conditions(w: World) -> None:
    d = deployment(replicas=3)
    d.Annotations = {wl.CHANGE_CAUSE: "first"}
    await w.kube.create(d)
    await w.converge(5)
    [rs] = w.rss()
    h = wl.template_hash(template())
    assert rs.Name == f"web-{h}"
    assert rs.Spec.Selector.MatchLabels == {"app": "web", wl.POD_TEMPLATE_HASH: h}
    assert (rs.Spec.Template.Labels or {})[wl.POD_TEMPLATE_HASH] == h
    assert (rs.Annotations or {})[wl.REVISION] == "1" and (rs.Annotations or {})[wl.CHANGE_CAUSE] == "first"
    assert (rs.Annotations or {})[wl.DESIRED_REPLICAS] == "3" and (rs.Annotations or {})[wl.MAX_REPLICAS] == "4"
    got = w.d()
    st = got.Status
    assert (got.Annotations or {})[wl.REVISION] == "1"
    assert (st.Replicas, st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas, st.UnavailableReplicas) == \
        (3, 3, 3, 3, 0)
    assert st.ObservedGeneration == got.Generation
    conds = {c.Type: c for c in st.Conditions or []}
    assert (conds["Available"].Reason, conds["Available"].Message) == \
        ("MinimumReplicasAvailable", "Deployment has minimum availability.")
    assert (conds["Progressing"].Reason, conds["Progressing"].Message) == \
        ("NewReplicaSetAvailable", f'ReplicaSet "web-{h}" has successfully progressed.')
    assert all((t.Labels or {})[wl.POD_TEMPLATE_HASH] == h for t in w.pods())


async def rollout_samples(w: World, image: str, steps: int = 40) -> list[tuple[int, int]]:
    """Update the image and run the rollout step by step: (available Pods, all Pods) after each step."""
    cur = clone(w.d())
    cur.Spec.Template = template(image)
    await w.kube.update(cur)
    samples = []
    for _ in range(steps):
        await w.run()
        pods = w.pods()
        samples.append((sum(1 for t in pods if wl.pod_ready(t)), len(pods)))
    return samples


@pytest.mark.parametrize(("replicas", "surge", "unavailable"), [
    (5, "20%", 0), (5, 0, 1), (3, "25%", "25%"), (7, "35%", "35%"), (10, "25%", "25%"), (1, 1, 0),
])
async def test_rolling_update_keeps_within_surge_and_unavailable(w: World, replicas: int, surge: int | str,
                                                                 unavailable: int | str) -> None:
    await w.kube.create(deployment(replicas=replicas, surge=surge, unavailable=unavailable))
    await w.converge(5)
    max_surge, max_unavailable = wl.resolve_fenceposts(surge, unavailable, replicas)
    samples = await rollout_samples(w, "busybox:2")
    assert all(ready >= replicas - max_unavailable for ready, _ in samples), samples
    assert all(total <= replicas + max_surge for _, total in samples), samples
    assert all(t.Spec.Containers[0].Image == "busybox:2" for t in w.pods()) and len(w.pods()) == replicas
    d = w.d()
    assert (d.Annotations or {})[wl.REVISION] == "2"
    assert d.Status.UpdatedReplicas == d.Status.Replicas == d.Status.AvailableReplicas == replicas
    old, new = w.rss()
    assert old.Spec.Replicas == 0 and new.Spec.Replicas == replicas


async def test_recreate_takes_the_old_pods_down_first(w: World) -> None:
    await w.kube.create(deployment(replicas=3, kind="Recreate"))
    await w.converge(4)
    cur = clone(w.d())
    cur.Spec.Template = template("busybox:2")
    await w.kube.update(cur)
    await w.run(stop=False)
    images = {t.Spec.Containers[0].Image for t in w.kube.list("tasks", "default")}
    assert images == {"busybox:1"}  # the old ones are stopping: no new Pod yet
    await w.converge(5)
    assert {t.Spec.Containers[0].Image for t in w.pods()} == {"busybox:2"} and len(w.pods()) == 3


async def test_undo_reuses_the_old_replica_set_with_a_new_revision(w: World) -> None:
    await w.kube.create(deployment(replicas=2))
    await w.converge(4)
    await rollout_samples(w, "busybox:2", steps=10)
    first = w.rss()[0]
    cur = clone(w.d())
    cur.Spec.Template = clone(first.Spec.Template)
    cur.Spec.Template.Labels = {k: v for k, v in (cur.Spec.Template.Labels or {}).items()
                                if k != wl.POD_TEMPLATE_HASH}
    await w.kube.update(cur)
    await w.converge(10)
    assert len(w.rss()) == 2
    back = w.kube.get("replicasets", "default", first.Name)
    assert (back.Annotations or {})[wl.REVISION] == "3"
    assert (back.Annotations or {})[wl.REVISION_HISTORY] == "1"
    assert back.Spec.Replicas == 2 and (w.d().Annotations or {})[wl.REVISION] == "3"
    assert {t.Spec.Containers[0].Image for t in w.pods()} == {"busybox:1"}


async def test_history_is_trimmed_to_the_limit_oldest_revision_first(w: World) -> None:
    await w.kube.create(deployment(replicas=1, history=2))
    await w.converge(3)
    for i in range(2, 6):
        w.ready_images.add(f"busybox:{i}")
        await rollout_samples(w, f"busybox:{i}", steps=6)
    revisions = sorted(int((rs.Annotations or {})[wl.REVISION]) for rs in w.rss())
    assert revisions == [3, 4, 5]  # the new one and two old ones


async def test_progress_deadline_exceeded_and_pause(w: World) -> None:
    await w.kube.create(deployment(replicas=2, deadline=60))
    await w.converge(4)
    w.ready_images.discard("busybox:9")
    cur = clone(w.d())
    cur.Spec.Template = template("busybox:9")  # never becomes ready
    await w.kube.update(cur)
    await w.converge(3)
    cond = wl.get_condition(w.d().Status.Conditions, "Progressing")
    assert cond is not None and cond.Reason in ("NewReplicaSetCreated", "ReplicaSetUpdated")
    key = w.d().ID
    assert w.dc.queue.delayed(key) is not None  # the controller comes back at the deadline
    w.clock.advance(62)
    w.dc.queue.wake()
    await w.settle()
    cond = wl.get_condition(w.d().Status.Conditions, "Progressing")
    assert cond is not None
    assert (cond.Status, cond.Reason) == ("False", "ProgressDeadlineExceeded")
    assert cond.Message.endswith("has timed out progressing.")
    assert w.d().Status.AvailableReplicas >= 1  # the old Pods still serve
    # pause: no new ReplicaSet for a changed template
    cur = clone(w.d())
    cur.Spec.Paused = True
    cur.Spec.Template = template("busybox:1")
    cur.Spec.Template.Annotations = {"kubectl.kubernetes.io/restartedAt": "now"}
    await w.kube.update(cur)
    await w.converge(2)
    assert len(w.rss()) == 2
    cur = clone(w.d())
    cur.Spec.Paused = False
    await w.kube.update(cur)
    await w.converge(8)
    assert len(w.rss()) == 3
    assert all((t.Annotations or {}).get("kubectl.kubernetes.io/restartedAt") == "now" for t in w.pods())
    cond = wl.get_condition(w.d().Status.Conditions, "Progressing")
    assert cond is not None and cond.Reason == "NewReplicaSetAvailable"


async def test_scaling_a_deployment_scales_its_replica_set(w: World) -> None:
    await w.kube.create(deployment(replicas=2))
    await w.converge(4)
    cur = clone(w.d())
    cur.Spec.Replicas = 5
    await w.kube.update(cur)
    await w.converge(4)
    [rs] = w.rss()
    assert rs.Spec.Replicas == 5 and len(w.pods()) == 5
    assert w.d().Status.AvailableReplicas == 5


def test_max_surge_and_unavailable_of_recreate_are_zero() -> None:
    d = deployment(kind="Recreate")
    assert dep.max_surge(d) == 0 and dep.max_unavailable(d) == 0


async def test_scaling_mid_rollout_is_proportional_as_kubernetes_documents(w: World) -> None:
    # Kubernetes' documented example: 10 replicas, maxSurge 3, maxUnavailable 2, a rollout stuck on an
    # image that never becomes ready (8 old, 5 new), then scaled to 15: 3 more old and 2 more new
    # (each sized by its share of the 13 it was made for: max-replicas).
    await w.kube.create(deployment(replicas=10, surge=3, unavailable=2))
    await w.converge(4)
    w.ready_images.discard("busybox:2")
    await rollout_samples(w, "busybox:2", steps=6)
    old, new = w.rss()
    assert (old.Spec.Replicas, new.Spec.Replicas) == (8, 5)
    cur = clone(w.d())
    cur.Spec.Replicas = 15
    await w.kube.update(cur)
    await w.settle()
    old, new = w.rss()
    assert (old.Spec.Replicas, new.Spec.Replicas) == (11, 7)
    assert (old.Annotations or {})[wl.DESIRED_REPLICAS] == "15" and (new.Annotations or {})[wl.MAX_REPLICAS] == "18"


def test_event_names_are_never_the_same_twice() -> None:
    # a test's frozen clock (or two events in one nanosecond) must not give two events one name
    names = [wl.event_name("web") for _ in range(1000)]
    assert len(set(names)) == 1000 and all(n.startswith("web.") for n in names)
