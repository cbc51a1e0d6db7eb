"""Pods in an in-process cluster (a manager and hollow nodes, ``shoal sim``): created through the core's
Kubernetes object API (``KubeObjects.create``, as the Kubernetes door will), placed by the one
scheduler beside Swarm services, the Pending explanation in kube-scheduler's words, the events
``kubectl describe`` shows, and the retry when a node joins or is uncordoned. Every wait is for
something to happen in the store (an event, a state), never a sleep."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from tests.integration import kubesim
from tests.integration.kubesim import manager

from shoal import sim
from shoal.agent.worker import Worker, describe_node
from shoal.api.ids import new_id
from shoal.api.kube import Event
from shoal.api.pod import PodSpecExtra
from shoal.api.states import TaskState
from shoal.api.types import (
    ContainerSpec,
    Node,
    ReplicatedService,
    ResourceRequirements,
    Resources,
    ServiceMode,
    ServiceSpec,
    Task,
    TaskSpec,
)
from shoal.manager.manager import Manager
from shoal.runtime.hollow import HollowRuntime

GiB = 1 << 30


async def wait_for(pred: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    await kubesim.wait_for(pred, what, timeout)


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[sim.Sim]:
    async with kubesim.kube_sim(tmp_path, 2, cpus=2, memory=1 * GiB) as s:
        yield s


def pod(name: str, *, memory: int = 0, selector: dict[str, str] | None = None, node_name: str = "") -> Task:
    res = ResourceRequirements(Reservations=Resources(MemoryBytes=memory)) if memory else None
    return Task(ID="", Name=name, Namespace="default",
                Spec=TaskSpec(Containers=[ContainerSpec(Name="nginx", Image="nginx")], Resources=res,
                              Pod=PodSpecExtra(NodeSelector=selector, NodeName=node_name)))


def task(m: Manager, name: str) -> Task:
    return m.kube.get("tasks", "default", name)


def described(m: Manager, name: str) -> list[tuple[str, str, str]]:
    """The Pod's events as ``kubectl describe`` lists them: type, reason, message, oldest first."""
    uid = task(m, name).ID
    evs = sorted((e for e in m.store.list(Event) if e.InvolvedObject.ID == uid),
                 key=lambda e: (e.FirstTimestamp, e.Version.Index))
    return [(e.Type, e.Reason, e.Message) for e in evs]


def has_event(m: Manager, name: str, reason: str) -> bool:
    return any(r == reason for _, r, _ in described(m, name))


async def join(s: sim.Sim, hostname: str, memory: int) -> Worker:
    m = manager(s)
    assert m.dispatcher is not None
    w = Worker(new_id(), HollowRuntime(), m.dispatcher, describe_node(hostname, cpus=2, memory=memory),
               "127.0.0.1", role="worker")
    await w.start()
    s.workers.append(w)
    return w


async def test_pods_are_scheduled_explained_and_retried(cluster: sim.Sim) -> None:
    m = manager(cluster)
    # A Pod that fits runs, with the scheduler's and the kubelet's events.
    await m.kube.create(pod("small", memory=256 << 20))
    await wait_for(lambda: has_event(m, "small", "Started"), "small's Started event")
    small = task(m, "small")
    assert small.Status.State == TaskState.RUNNING
    node = m.store.get(Node, small.NodeID)
    assert node is not None
    node_name = m.kube.node_name(node)
    assert node_name in ("hollow-0", "hollow-1")
    assert described(m, "small") == [
        ("Normal", "Scheduled", f"Successfully assigned default/small to {node_name}"),
        ("Normal", "Pulled", 'Container image "nginx" already present on machine'),
        ("Normal", "Created", "Created container: nginx"),
        ("Normal", "Started", "Started container nginx"),
    ]

    # A Pod bigger than every node stays Pending, in kube-scheduler's words.
    await m.kube.create(pod("big", memory=2 * GiB))
    await wait_for(lambda: has_event(m, "big", "FailedScheduling"), "big's FailedScheduling event")
    big = task(m, "big")
    why = ("0/2 nodes are available: 2 Insufficient memory. preemption: 0/2 nodes are available: "
           "2 No preemption victims found for incoming pod.")
    assert big.Status.State == TaskState.PENDING and big.Status.Err == why
    assert described(m, "big") == [("Warning", "FailedScheduling", why)]
    fs = next(e for e in m.store.list(Event) if e.Reason == "FailedScheduling")
    assert fs.Source.Component == "default-scheduler" and fs.InvolvedObject.Kind == "Pod"

    # A node big enough joins: the Pod is placed there, without being asked again.
    await join(cluster, "hollow-big", 4 * GiB)
    await wait_for(lambda: has_event(m, "big", "Started"), "big's Started event after the node joined")
    assert described(m, "big")[1:3] == [
        ("Normal", "Scheduled", "Successfully assigned default/big to hollow-big"),
        ("Normal", "Pulled", 'Container image "nginx" already present on machine'),
    ]
    assert task(m, "big").NodeID == m.kube.get("nodes", "", "hollow-big").ID


async def test_selector_name_cordon_and_one_capacity_with_services(cluster: sim.Sim) -> None:
    m = manager(cluster)
    # nodeSelector by the well-known hostname label; nodeName straight to a node.
    await m.kube.create(pod("picky", selector={"kubernetes.io/hostname": "hollow-1"}))
    await m.kube.create(pod("named", node_name="hollow-0"))
    await wait_for(lambda: task(m, "picky").Status.State == TaskState.RUNNING
                   and task(m, "named").Status.State == TaskState.RUNNING, "picky and named running")
    assert task(m, "picky").NodeID == m.kube.get("nodes", "", "hollow-1").ID
    assert task(m, "named").NodeID == m.kube.get("nodes", "", "hollow-0").ID
    assert not has_event(m, "named", "Scheduled")  # kube-scheduler never saw it

    # A service reserves 768 MiB on each node: a Pod asking 512 MiB fits nowhere.
    svc = await m.control.create_service(ServiceSpec(
        Name="hog", Mode=ServiceMode(Replicated=ReplicatedService(Replicas=2)),
        TaskTemplate=TaskSpec(Containers=[ContainerSpec(Image="hog")],
                              Resources=ResourceRequirements(Reservations=Resources(MemoryBytes=768 << 20)))))
    await wait_for(lambda: sum(t.Status.State == TaskState.RUNNING for t in m.store.tasks_of_owner(svc.ID)) == 2,
                   "the service's two tasks running")
    await m.kube.create(pod("squeezed", memory=512 << 20))
    await wait_for(lambda: has_event(m, "squeezed", "FailedScheduling"), "squeezed's FailedScheduling")
    assert task(m, "squeezed").Status.Err.startswith("0/2 nodes are available: 2 Insufficient memory.")

    # Cordon both nodes through the Kubernetes side; the service is scaled away: room, but cordoned.
    for n in ("hollow-0", "hollow-1"):
        await m.kube.set_unschedulable(n, True)
    await m.control.remove_service("hog")
    await wait_for(lambda: any(e.Message.startswith("0/2 nodes are available: 2 node(s) were unschedulable.")
                               for e in m.store.list(Event) if e.Reason == "FailedScheduling"),
                   "a FailedScheduling event naming the cordon")
    assert {n.Description.Hostname: n.Spec.Availability for n in m.store.list(Node)} == {
        "hollow-0": "pause", "hollow-1": "pause"}  # what `docker node ls` shows
    # Uncordon one: the Pod is placed there.
    await m.kube.set_unschedulable("hollow-1", False)
    await wait_for(lambda: has_event(m, "squeezed", "Started"), "squeezed started after the uncordon")
    assert task(m, "squeezed").NodeID == m.kube.get("nodes", "", "hollow-1").ID
    running = [t for t in (task(m, "picky"), task(m, "named")) if t.Status.State == TaskState.RUNNING]
    assert len(running) == 2  # a cordon leaves what runs alone

    # Deleting a running Pod stops its container: Killing.
    await m.kube.delete("tasks", "default", "picky")
    await wait_for(lambda: any(e.Reason == "Killing" and e.InvolvedObject.Name == "picky"
                               for e in m.store.list(Event)), "picky's Killing event")
