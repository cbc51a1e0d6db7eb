"""DaemonSets in an in-process cluster (12 hollow nodes, the manager's among them: ``shoal sim``): a DaemonSet made
through the core's object API gets one Pod on every node, placed by the one scheduler on the node its
node affinity names and run by the hollow agents; a new template rolls out with ``maxUnavailable: 25%``
(3 of 12) and never more than 3 nodes without an available Pod (sampled at every store change); a
``NoExecute`` taint takes the node's Pod away and its removal brings one back; deleting the DaemonSet
takes its Pods and ControllerRevisions with it. Every wait is for a state of the store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from tests.integration import kubesim
from tests.integration.kubesim import manager

from shoal import sim
from shoal.api.nodelabels import node_name
from shoal.api.pod import PodSpecExtra
from shoal.api.types import (
    ContainerSpec,
    DaemonSet,
    DaemonSetSpec,
    DaemonSetUpdateStrategy,
    LabelSelectorSpec,
    Node,
    PodTemplate,
    Taint,
    Task,
    TaskSpec,
    clone,
)
from shoal.manager.kube import daemonsets as dsm
from shoal.manager.kube import workloads as wl
from shoal.manager.manager import Manager
from shoal.store.objects import Change

GiB = 1 << 30
NODES = 12


async def wait_for(pred: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    await kubesim.wait_for(pred, what, timeout)


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[sim.Sim]:
    async with kubesim.kube_sim(tmp_path, NODES, cpus=4, memory=4 * GiB) as s:
        yield s


def template(image: str) -> PodTemplate:
    return PodTemplate(Labels={"app": "agent"}, Spec=TaskSpec(Containers=[ContainerSpec(Name="agent", Image=image)],
                                                              Pod=PodSpecExtra(RestartPolicy="Always")))


def live(m: Manager) -> list[Task]:
    return [t for t in m.kube.list("tasks", "default") if wl.pod_active(t)]


def on_nodes(m: Manager, image: str) -> set[str]:
    """The nodes with a ready Pod of ``image``."""
    return {t.NodeID for t in live(m) if t.Spec.Containers[0].Image == image and wl.pod_ready(t)}


def rolled_out(m: Manager, image: str, nodes: int) -> bool:
    d: DaemonSet = m.kube.get("daemonsets", "default", "agent")
    st = d.Status
    return st.ObservedGeneration == d.Generation and st.DesiredNumberScheduled == nodes == \
        st.UpdatedNumberScheduled == st.NumberAvailable == st.CurrentNumberScheduled \
        and len(live(m)) == nodes and len(on_nodes(m, image)) == nodes


async def test_a_daemon_set_on_hollow_nodes(cluster: sim.Sim) -> None:
    m = manager(cluster)
    await wait_for(lambda: sum(1 for n in m.store.list(Node) if n.Status.State == "ready") == NODES,
                   "every node ready")
    nodes = NODES  # the manager's own and the hollow workers
    await m.kube.create(DaemonSet(ID="", Name="agent", Namespace="default", Spec=DaemonSetSpec(
        Selector=LabelSelectorSpec(MatchLabels={"app": "agent"}), Template=template("agent:1"),
        UpdateStrategy=DaemonSetUpdateStrategy(MaxUnavailable="25%", MaxSurge=0))))
    await wait_for(lambda: rolled_out(m, "agent:1", nodes), "one Pod on every node")
    for t in live(m):  # each on the node it was made for
        node = m.store.get(Node, t.NodeID)
        assert node is not None and node_name(node) == dsm.target_node(t)

    worst: list[int] = []

    def sample(ch: Change) -> None:
        if ch.kind == "tasks":
            worst.append(nodes - len({t.NodeID for t in live(m) if wl.pod_ready(t)}))

    unsubscribe = m.store.subscribe(sample)
    try:
        d = clone(m.kube.get("daemonsets", "default", "agent"))
        d.Spec.Template = template("agent:2")
        await m.kube.update(d)
        await wait_for(lambda: rolled_out(m, "agent:2", nodes), "the rollout")
    finally:
        unsubscribe()
    assert worst and max(worst) == 3  # 25% of 12: the budget used, never more
    revs = sorted(r.Revision for r in m.kube.list("controllerrevisions", "default"))
    assert revs == [1, 2]

    # a NoExecute taint on one node: its Pod goes, and comes back once the taint does
    victim = next(n for n in m.store.list(Node) if n.Spec.Role != "manager")
    spec = clone(victim.Spec)
    spec.Taints = [Taint(Key="maint", Effect="NoExecute")]
    await m.control.update_node(victim.ID, victim.Version.Index, spec)
    await wait_for(lambda: victim.ID not in {t.NodeID for t in live(m)}, "the tainted node's Pod gone")
    # (the Pod's delete and the status are two commits, each acknowledged once fsynced: wait for both)
    await wait_for(lambda: m.kube.get("daemonsets", "default", "agent").Status.DesiredNumberScheduled
                   == nodes - 1, "the status counting the tainted node out")
    d = m.kube.get("daemonsets", "default", "agent")
    assert d.Status.DesiredNumberScheduled == nodes - 1
    now: Node | None = m.store.get(Node, victim.ID)
    assert now is not None
    spec = clone(now.Spec)
    spec.Taints = None
    await m.control.update_node(victim.ID, now.Version.Index, spec)
    await wait_for(lambda: rolled_out(m, "agent:2", nodes), "the node's Pod back")

    await m.kube.delete("daemonsets", "default", "agent")
    await wait_for(lambda: not live(m) and not m.kube.list("controllerrevisions", "default"), "the cascade")
