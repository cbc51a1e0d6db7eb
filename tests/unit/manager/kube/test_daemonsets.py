"""The DaemonSet controller (``manager/kube/daemonsets.py``) on an in-memory store, with an injected
clock. A fake scheduler and kubelet (``World.run``) bind each new Pod to the node its node affinity
names and bring it to running and ready (when its image may run), and let deleted ones go, one step
at a time, so each test sees the controller move as it moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from shoal.api import affinity as aff
from shoal.api.kube import Namespace
from shoal.api.pod import PodSpecExtra
from shoal.api.states import TaskState
from shoal.api.types import (
    DAEMONSET_TEMPLATE_GENERATION,
    ContainerSpec,
    ContainerStatus,
    DaemonSet,
    DaemonSetSpec,
    DaemonSetUpdateStrategy,
    LabelSelectorSpec,
    Node,
    NodeDescription,
    NodeSpec,
    NodeStatus,
    Placement,
    PodTemplate,
    Taint,
    Task,
    TaskSpec,
    Toleration,
    clone,
)
from shoal.manager.kube import daemonsets as dsm
from shoal.manager.kube import workloads as wl
from shoal.manager.kube.daemonsets import DaemonSetController
from shoal.manager.kube.events import timestamp
from shoal.manager.kube.objects import KubeObjects
from shoal.store.changelog import ChangeLog
from shoal.store.memory import MemoryBackend
from shoal.store.objects import ObjectStore

from ...helpers import FakeClock


def template(image: str = "agent:1", *, node_selector: dict[str, str] | None = None,
             tolerations: list[Toleration] | None = None, host_network: bool = False) -> PodTemplate:
    return PodTemplate(Labels={"app": "agent"}, Spec=TaskSpec(
        Containers=[ContainerSpec(Name="agent", Image=image)],
        Placement=Placement(Tolerations=tolerations),
        Pod=PodSpecExtra(RestartPolicy="Always", NodeSelector=node_selector, HostNetwork=host_network)))


def daemon_set(name: str = "agent", *, image: str = "agent:1", kind: str = "RollingUpdate",
               unavailable: int | str | None = 1, surge: int | str | None = 0, min_ready: int = 0,
               node_selector: dict[str, str] | None = None, tolerations: list[Toleration] | None = None) -> DaemonSet:
    rolling = kind == "RollingUpdate"
    return DaemonSet(ID="", Name=name, Namespace="default", Spec=DaemonSetSpec(
        Selector=LabelSelectorSpec(MatchLabels={"app": "agent"}),
        Template=template(image, node_selector=node_selector, tolerations=tolerations),
        UpdateStrategy=DaemonSetUpdateStrategy(Type=kind, MaxUnavailable=unavailable if rolling else None,
                                               MaxSurge=surge if rolling else None),
        MinReadySeconds=min_ready))


def node(name: str, *, labels: dict[str, str] | None = None, node_taints: list[Taint] | None = None,
         state: str = "ready", availability: str = "active") -> Node:
    return Node(ID=f"id-{name}", Spec=NodeSpec(Labels=labels, Taints=node_taints, Availability=availability),
                Description=NodeDescription(Hostname=name), Status=NodeStatus(State=state))


@dataclass
class World:
    store: ObjectStore
    kube: KubeObjects
    clock: FakeClock
    dsc: DaemonSetController
    ready_images: set[str]

    async def settle(self) -> None:
        for _ in range(50):
            await self.dsc.settle()
            if not len(self.dsc.queue):
                return

    async def add_node(self, n: Node) -> None:
        await self.store.commit(creates=[n])
        await self.settle()

    async def change_node(self, name: str, **changes: object) -> None:
        n: Node = clone(self.kube.get("nodes", "", name))
        for k, v in changes.items():
            if k == "state":
                n.Status.State = str(v)
            else:
                setattr(n.Spec, k, v)
        await self.store.commit(updates=[n])
        await self.settle()

    def pods(self) -> list[Task]:
        return [t for t in self.kube.list("tasks", "default") if wl.pod_active(t)]

    def placed(self) -> dict[str, list[str]]:
        """The images of the active Pods on each node (by the node's name), a Pod not placed yet under
        the node it was made for."""
        out: dict[str, list[str]] = {}
        for t in self.pods():
            where = t.NodeID.removeprefix("id-") if t.NodeID else dsm.target_node(t)
            out.setdefault(where, []).append(t.Spec.Containers[0].Image)
        return {k: sorted(v) for k, v in sorted(out.items())}

    def ds(self, name: str = "agent") -> DaemonSet:
        found: DaemonSet = self.kube.get("daemonsets", "default", name)
        return found

    async def set_image(self, image: str, name: str = "agent") -> None:
        d = clone(self.ds(name))
        d.Spec.Template.Spec.Containers[0].Image = image
        await self.kube.update(d)
        await self.settle()

    async def run(self, *, stop: bool = True) -> None:
        """One scheduler and kubelet step: a new Pod is bound to its node and, if its image may run,
        becomes running and ready; deleted ones go."""
        for t in self.kube.list("tasks", "default"):
            if t.DeletionTimestamp and stop:
                await self.store.commit(deletes=[t])
            elif t.Status.State == TaskState.NEW:
                t = clone(t)
                t.NodeID = "id-" + dsm.target_node(t)
                if t.Spec.Containers[0].Image in self.ready_images:
                    t.Status.State = TaskState.RUNNING
                    t.Status.Timestamp = timestamp(self.clock())
                    t.Status.Containers = [ContainerStatus(Name="agent", State="running", Ready=True)]
                else:
                    t.Status.State = TaskState.ASSIGNED
                await self.store.commit(updates=[t])
        await self.settle()

    async def converge(self, steps: int = 10) -> None:
        for _ in range(steps):
            await self.run()

    def status(self, name: str = "agent") -> tuple[int, ...]:
        st = self.ds(name).Status
        return (st.DesiredNumberScheduled, st.CurrentNumberScheduled, st.NumberReady, st.UpdatedNumberScheduled,
                st.NumberAvailable, st.NumberUnavailable, st.NumberMisscheduled)


@pytest.fixture
async def w() -> AsyncIterator[World]:
    store = ObjectStore(MemoryBackend())
    await store.load()
    kube = KubeObjects(store, ChangeLog(store, capacity=10000))
    await kube.create(Namespace(ID="", Name="default"))
    clock = FakeClock(1_800_000_000.0)
    dsc = DaemonSetController(store, kube, clock)
    dsc.seed()
    await store.commit(creates=[node("n1"), node("n2"), node("n3")])
    yield World(store, kube, clock, dsc, {"agent:1", "agent:2", "agent:3"})
    await dsc.stop()


# ---------------------------------------------------------------- the pure parts


def test_eligibility_as_node_should_run_daemon_pod() -> None:
    ds = daemon_set()
    assert dsm.eligibility(ds, node("n1")) == (True, True)
    # a node selector and a required node affinity: no Pod, and none kept
    picky = daemon_set(node_selector={"disk": "ssd"})
    assert dsm.eligibility(picky, node("n1")) == (False, False)
    assert dsm.eligibility(picky, node("n1", labels={"disk": "ssd"})) == (True, True)
    affine = daemon_set()
    affine.Spec.Template.Spec.Pod = PodSpecExtra(Affinity=aff.Affinity(NodeAffinity=aff.NodeAffinity(Required=[
        aff.NodeSelectorTerm(MatchExpressions=[aff.Requirement(Key="zone", Operator="In", Values=["a"])])])))
    assert dsm.eligibility(affine, node("n1", labels={"zone": "b"})) == (False, False)
    assert dsm.eligibility(affine, node("n1", labels={"zone": "a"})) == (True, True)
    # a template's nodeName
    named = daemon_set()
    named.Spec.Template.Spec.Pod = PodSpecExtra(NodeName="n2")
    assert dsm.eligibility(named, node("n1")) == (False, False)
    assert dsm.eligibility(named, node("n2")) == (True, True)
    # taints: NoSchedule keeps a new Pod off but lets one stay; NoExecute removes it; tolerated: both fine
    db = Taint(Key="dedicated", Value="db", Effect="NoSchedule")
    assert dsm.eligibility(ds, node("n1", node_taints=[db])) == (False, True)
    assert dsm.eligibility(ds, node("n1", node_taints=[Taint(Key="maint", Effect="NoExecute")])) == (False, False)
    tolerant = daemon_set(tolerations=[Toleration(Key="dedicated", Operator="Equal", Value="db",
                                                  Effect="NoSchedule")])
    assert dsm.eligibility(tolerant, node("n1", node_taints=[db])) == (True, True)
    # cordon is tolerated by every DaemonSet Pod; a node not ready keeps its Pod but gets no new one
    assert dsm.eligibility(ds, node("n1", availability="pause")) == (True, True)
    assert dsm.eligibility(ds, node("n1", state="down")) == (False, True)
    # the node lifecycle taints a DaemonSet Pod tolerates
    for key in ("node.kubernetes.io/disk-pressure", "node.kubernetes.io/memory-pressure",
                "node.kubernetes.io/pid-pressure"):
        assert dsm.eligibility(ds, node("n1", node_taints=[Taint(Key=key, Effect="NoSchedule")])) == (True, True)
    unavailable = [Taint(Key="node.kubernetes.io/network-unavailable", Effect="NoSchedule")]
    assert dsm.eligibility(ds, node("n1", node_taints=unavailable)) == (False, True)
    host = daemon_set()
    host.Spec.Template = template(host_network=True)
    assert dsm.eligibility(host, node("n1", node_taints=unavailable)) == (True, True)


def test_default_tolerations_replace_the_api_servers_300_seconds() -> None:
    own = Toleration(Key="dedicated", Operator="Exists", Effect="NoSchedule")
    with_300 = [own, Toleration(Key="node.kubernetes.io/not-ready", Operator="Exists", Effect="NoExecute",
                                TolerationSeconds=300)]
    got = dsm.daemon_tolerations(template(tolerations=with_300).Spec)
    assert got[0] == own
    keys = [(t.Key, t.Effect, t.TolerationSeconds) for t in got[1:]]
    assert keys == [
        ("node.kubernetes.io/not-ready", "NoExecute", None), ("node.kubernetes.io/unreachable", "NoExecute", None),
        ("node.kubernetes.io/disk-pressure", "NoSchedule", None),
        ("node.kubernetes.io/memory-pressure", "NoSchedule", None),
        ("node.kubernetes.io/pid-pressure", "NoSchedule", None),
        ("node.kubernetes.io/unschedulable", "NoSchedule", None)]
    host = dsm.daemon_tolerations(template(host_network=True).Spec)
    assert host[-1].Key == "node.kubernetes.io/network-unavailable"


def test_a_pod_is_tied_to_its_node_by_affinity_and_labelled_with_the_revision() -> None:
    ds = daemon_set()
    ds.ID = "ds-1"
    ds.Annotations = {DAEMONSET_TEMPLATE_GENERATION: "3"}
    preferred = [aff.PreferredSchedulingTerm(Weight=5, Preference=aff.NodeSelectorTerm(
        MatchExpressions=[aff.Requirement(Key="zone", Operator="In", Values=["a"])]))]
    ds.Spec.Template.Spec.Pod = PodSpecExtra(Affinity=aff.Affinity(NodeAffinity=aff.NodeAffinity(
        Required=[aff.NodeSelectorTerm(MatchExpressions=[aff.Requirement(Key="zone", Operator="Exists")])],
        Preferred=preferred)))
    t = dsm.new_pod(ds, "n2", "abc")
    assert t.Name.startswith("agent-") and len(t.Name) == len("agent-") + 5
    assert t.Labels == {"app": "agent", "controller-revision-hash": "abc", "pod-template-generation": "3"}
    assert t.Spec.Pod is not None and t.Spec.Pod.Affinity is not None
    na = t.Spec.Pod.Affinity.NodeAffinity
    assert na is not None and na.Preferred == preferred
    assert na.Required == [aff.NodeSelectorTerm(MatchFields=[aff.Requirement(Key="metadata.name", Operator="In",
                                                                             Values=["n2"])])]
    assert dsm.target_node(t) == "n2"
    ref = wl.controller_of(t)
    assert ref is not None and (ref.Kind, ref.ID, ref.BlockOwnerDeletion) == ("DaemonSet", "ds-1", True)
    assert dsm.pod_updated(t, "abc", "") and dsm.pod_updated(t, "other", "3") and not dsm.pod_updated(t, "x", "4")


@pytest.mark.parametrize(("unavailable", "surge", "desired", "want"), [
    (1, 0, 5, (0, 1)),
    ("10%", 0, 5, (0, 1)),   # 0.5 rounded up
    ("30%", 0, 10, (0, 3)),
    (0, "25%", 5, (2, 0)),   # 1.25 rounded up
    (0, 0, 3, (0, 1)),       # both 0: unavailable 1
    (0, 0, 0, (0, 0)),
])
def test_rollout_limits_round_up(unavailable: int | str, surge: int | str, desired: int,
                                 want: tuple[int, int]) -> None:
    assert dsm.rollout_limits(daemon_set(unavailable=unavailable, surge=surge), desired) == want


# ---------------------------------------------------------------- one Pod per node


async def test_one_pod_per_node_and_nodes_joining_and_leaving(w: World) -> None:
    await w.kube.create(daemon_set())
    await w.converge(3)
    assert w.placed() == {"n1": ["agent:1"], "n2": ["agent:1"], "n3": ["agent:1"]}
    assert w.status() == (3, 3, 3, 3, 3, 0, 0)
    d = w.ds()
    assert d.Status.ObservedGeneration == d.Generation == 1
    assert (d.Annotations or {})[DAEMONSET_TEMPLATE_GENERATION] == "1"
    # (events written at one instant of the frozen clock share a name: one of them is kept)
    events = {e.Message for e in w.kube.list("events", "default") if e.Reason == "SuccessfulCreate"}
    assert events and all(m.startswith("Created pod: agent-") for m in events)
    # a node joins (not ready first: no Pod yet; ready: one)
    await w.add_node(node("n4", state="unknown"))
    await w.converge(2)
    assert "n4" not in w.placed()
    await w.change_node("n4", state="ready")
    await w.converge(2)
    assert w.placed()["n4"] == ["agent:1"]
    assert w.status()[:3] == (4, 4, 4)
    # a node goes down: its Pod stays (it tolerates unreachable), counted as misscheduled
    await w.change_node("n4", state="down")
    await w.converge(2)
    assert w.placed()["n4"] == ["agent:1"]
    assert w.status() == (3, 3, 3, 3, 3, 0, 1)
    # the node is removed from the cluster: its Pod is deleted
    await w.store.commit(deletes=[w.kube.get("nodes", "", "n4")])
    await w.settle()
    await w.converge(2)
    assert sorted(w.placed()) == ["n1", "n2", "n3"]
    # a Pod deleted by hand is replaced
    victim = next(t for t in w.pods() if t.NodeID == "id-n2")
    await w.kube.delete("tasks", "default", victim.Name)
    await w.converge(2)
    assert w.placed()["n2"] == ["agent:1"] and victim.Name not in {t.Name for t in w.pods()}
    assert w.status() == (3, 3, 3, 3, 3, 0, 0)


async def test_node_selector_taints_and_tolerations(w: World) -> None:
    db = Taint(Key="dedicated", Value="db", Effect="NoSchedule")
    await w.change_node("n3", Taints=[db])
    await w.kube.create(daemon_set())
    await w.kube.create(daemon_set("tolerant", tolerations=[Toleration(Key="dedicated", Operator="Exists")]))
    await w.kube.create(daemon_set("ssd", node_selector={"disk": "ssd"}))
    await w.converge(3)

    def nodes_of(name: str) -> list[str]:
        return sorted(t.NodeID.removeprefix("id-") for t in w.pods() if t.Name.startswith(name + "-"))

    assert nodes_of("agent") == ["n1", "n2"] and nodes_of("tolerant") == ["n1", "n2", "n3"] and nodes_of("ssd") == []
    assert w.status("agent")[:2] == (2, 2) and w.status("ssd")[:2] == (0, 0)
    # a label comes: the node gets the selector's Pod; it goes: the Pod goes
    await w.change_node("n1", Labels={"disk": "ssd"})
    await w.converge(2)
    assert nodes_of("ssd") == ["n1"]
    await w.change_node("n1", Labels=None)
    await w.converge(2)
    assert nodes_of("ssd") == []
    # a NoSchedule taint added later: the Pod there stays (misscheduled); NoExecute: it goes
    await w.change_node("n2", Taints=[db])
    await w.converge(2)
    assert nodes_of("agent") == ["n1", "n2"]
    assert w.status("agent")[0] == 1 and w.status("agent")[6] == 1
    await w.change_node("n2", Taints=[Taint(Key="maint", Effect="NoExecute")])
    await w.converge(2)
    assert nodes_of("agent") == ["n1"] and nodes_of("tolerant") == ["n1", "n3"]
    # cordon is no reason to leave, nor to stay away
    await w.change_node("n2", Taints=None, Availability="pause")
    await w.converge(2)
    assert nodes_of("agent") == ["n1", "n2"]


async def stray(w: World, name: str, node_name: str) -> None:
    """A Pod made by hand, running on ``node_name`` with the DaemonSet's labels."""
    await w.kube.create(Task(ID="", Name=name, Namespace="default", Labels={"app": "agent"},
                             Spec=TaskSpec(Containers=[ContainerSpec(Name="agent", Image="agent:1")],
                                           Pod=PodSpecExtra())))
    t = clone(w.kube.get("tasks", "default", name))
    t.NodeID, t.Status.State = f"id-{node_name}", TaskState.RUNNING
    t.Status.Containers = [ContainerStatus(Name="agent", State="running", Ready=True)]
    await w.store.commit(updates=[t])


async def test_orphans_are_adopted_and_the_oldest_pod_of_a_node_stays(w: World) -> None:
    await stray(w, "stray-1", "n1")
    await w.kube.create(daemon_set(kind="OnDelete"))
    await w.converge(3)
    ref = wl.controller_of(w.kube.get("tasks", "default", "stray-1"))
    assert ref is not None and ref.Kind == "DaemonSet"
    # n1 kept its one Pod (the adopted one), the others got theirs
    assert [t.Name for t in w.pods() if t.NodeID == "id-n1"] == ["stray-1"]
    assert sorted(w.placed()) == ["n1", "n2", "n3"]
    # a second Pod on n2, newer than the DaemonSet's: adopted, and deleted as the extra one
    own = next(t.Name for t in w.pods() if t.NodeID == "id-n2")
    await stray(w, "stray-2", "n2")
    await w.settle()
    await w.converge(2)
    assert [t.Name for t in w.pods() if t.NodeID == "id-n2"] == [own]
    assert w.status() == (3, 3, 3, 2, 3, 0, 0)  # stray-1 has no revision label: not up to date


async def test_a_failed_pod_is_replaced_after_a_back_off(w: World) -> None:
    await w.kube.create(daemon_set())
    await w.converge(2)
    victim = clone(next(t for t in w.pods() if t.NodeID == "id-n1"))
    victim.Status.State = TaskState.FAILED
    w.clock.advance(0.1)  # (an event's name is its object's and the time: one per instant)
    await w.store.commit(updates=[victim])
    await w.settle()
    msgs = [e.Message for e in w.kube.list("events", "default") if e.Reason == "FailedDaemonPod"]
    assert msgs == [f"Found failed daemon pod default/{victim.Name} on node n1, will try to kill it"]
    await w.converge(2)
    assert w.placed()["n1"] == ["agent:1"]
    # it fails again at once: the next one waits for the back-off (2 s)
    again = clone(next(t for t in w.pods() if t.NodeID == "id-n1"))
    again.Status.State = TaskState.FAILED
    await w.store.commit(updates=[again])
    await w.settle()
    assert not w.kube.get("tasks", "default", again.Name).DeletionTimestamp
    assert w.dsc.queue.delayed(w.ds().ID) is not None
    w.clock.advance(2.5)
    w.dsc.queue.wake()
    await w.settle()
    await w.converge(2)
    assert again.Name not in {t.Name for t in w.pods()} and w.placed()["n1"] == ["agent:1"]


# ---------------------------------------------------------------- updates


async def test_rolling_update_one_node_at_a_time(w: World) -> None:
    await w.kube.create(daemon_set())
    await w.converge(3)
    await w.set_image("agent:2")
    d = w.ds()
    assert (d.Annotations or {})[DAEMONSET_TEMPLATE_GENERATION] == "2" and d.Generation == 2
    # one old Pod is being deleted; the others stay until it is replaced
    deleting = [t for t in w.kube.list("tasks", "default") if t.DeletionTimestamp]
    assert len(deleting) == 1 and deleting[0].Spec.Containers[0].Image == "agent:1"
    assert w.status()[3] == 0
    seen: list[dict[str, list[str]]] = []
    for _ in range(8):
        await w.run()
        placed = w.placed()
        seen.append(placed)
        # never more than one node without an available Pod
        assert sum(1 for n in ("n1", "n2", "n3") if n not in placed) <= 1
    assert w.placed() == {"n1": ["agent:2"], "n2": ["agent:2"], "n3": ["agent:2"]}
    assert w.status() == (3, 3, 3, 3, 3, 0, 0)
    assert all(dsm.pod_updated(t, dsm.revision_hash(w.ds()), "2") for t in w.pods())
    assert {(t.Labels or {})["pod-template-generation"] for t in w.pods()} == {"2"}
    # a new Pod that never becomes ready stops the rollout after one node
    w.ready_images.discard("agent:3")
    await w.set_image("agent:3")
    await w.converge(4)
    images = sorted(i for v in w.placed().values() for i in v)
    assert images == ["agent:2", "agent:2", "agent:3"]
    assert w.status()[3:6] == (1, 2, 1)


async def test_rolling_update_with_surge_and_min_ready(w: World) -> None:
    await w.kube.create(daemon_set(unavailable=0, surge=1, min_ready=10))
    await w.converge(2)
    assert w.status()[4] == 0  # ready, not yet available
    w.clock.advance(11)
    w.dsc.queue.wake()
    await w.settle()
    assert w.status()[4] == 3
    await w.set_image("agent:2")
    await w.converge(1)
    # one node has both Pods: the old one stays until the new one is available
    both = [n for n, imgs in w.placed().items() if len(imgs) == 2]
    assert len(both) == 1 and w.placed()[both[0]] == ["agent:1", "agent:2"]
    await w.converge(2)
    assert len([n for n, imgs in w.placed().items() if len(imgs) == 2]) == 1
    for _ in range(3):
        w.clock.advance(11)
        w.dsc.queue.wake()
        await w.settle()
        await w.converge(2)
    w.clock.advance(11)
    w.dsc.queue.wake()
    await w.settle()
    assert w.placed() == {"n1": ["agent:2"], "n2": ["agent:2"], "n3": ["agent:2"]}
    assert w.status() == (3, 3, 3, 3, 3, 0, 0)


async def test_on_delete_replaces_only_what_is_deleted(w: World) -> None:
    await w.kube.create(daemon_set(kind="OnDelete"))
    await w.converge(2)
    await w.set_image("agent:2")
    await w.converge(2)
    assert w.placed() == {"n1": ["agent:1"], "n2": ["agent:1"], "n3": ["agent:1"]}
    assert w.status()[3] == 0
    victim = next(t for t in w.pods() if t.NodeID == "id-n2")
    await w.kube.delete("tasks", "default", victim.Name)
    await w.converge(2)
    assert w.placed() == {"n1": ["agent:1"], "n2": ["agent:2"], "n3": ["agent:1"]}
    assert w.status()[3] == 1


async def test_a_deleted_daemon_set_makes_no_more_pods(w: World) -> None:
    await w.kube.create(daemon_set())
    await w.converge(2)
    d = w.ds()
    await w.kube.delete("daemonsets", "default", "agent", propagation="Foreground")
    await w.settle()
    assert w.kube.get("daemonsets", "default", "agent").DeletionTimestamp
    victim = w.pods()[0]
    await w.kube.delete("tasks", "default", victim.Name)
    await w.converge(2)
    assert len(w.pods()) == 2
    assert w.dsc.failures == {} or all(k[0] == d.ID for k in w.dsc.failures)


# ---------------------------------------------------------------- history


def revisions(w: World) -> list[tuple[int, str]]:
    """(revision, image) of the DaemonSet's ControllerRevisions, in order."""
    found = w.kube.list("controllerrevisions", "default")
    return sorted((r.Revision, r.Template.Spec.Containers[0].Image) for r in found)


async def test_revisions_are_kept_reused_by_an_undo_and_trimmed(w: World) -> None:
    ds = daemon_set()
    ds.Spec.RevisionHistoryLimit = 1
    await w.kube.create(ds)
    await w.converge(2)
    [first] = w.kube.list("controllerrevisions", "default")
    h = dsm.revision_hash(w.ds())
    assert first.Name == f"agent-{h}" and first.Labels == {"app": "agent", "controller-revision-hash": h}
    ref = wl.controller_of(first)
    assert ref is not None and ref.ID == w.ds().ID
    assert {(t.Labels or {})["controller-revision-hash"] for t in w.pods()} == {h}
    await w.set_image("agent:2")
    await w.converge(8)
    assert revisions(w) == [(1, "agent:1"), (2, "agent:2")]
    # an undo brings the first template back: its revision is re-used, numbered 3, and its Pods' hash
    await w.set_image("agent:1")
    await w.converge(8)
    assert revisions(w) == [(2, "agent:2"), (3, "agent:1")]
    assert {(t.Labels or {})["controller-revision-hash"] for t in w.pods()} == {h}
    assert w.placed() == {"n1": ["agent:1"], "n2": ["agent:1"], "n3": ["agent:1"]}
    # a third template: the oldest old revision goes (the limit is 1)
    await w.set_image("agent:3")
    await w.converge(8)
    assert revisions(w) == [(3, "agent:1"), (4, "agent:3")]
