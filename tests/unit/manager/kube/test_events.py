"""The events controller over ObjectStore(MemoryBackend), driven by hand (``paused``/``settle``) with a
FakeClock: the scheduler's and the kubelet's events of Pods in Kubernetes' words, repeats counted on
one object, a new one when the words change, nothing for Swarm tasks, expiry after an hour."""

from __future__ import annotations

import re

import msgspec

from shoal.api.ids import new_id
from shoal.api.kube import Event, Namespace
from shoal.api.pod import PodSpecExtra
from shoal.api.states import TaskState
from shoal.api.types import ContainerEvent, ContainerSpec, ContainerStatus, Node, Task, TaskSpec, TaskStatus, clone
from shoal.manager.kube.events import BUMP_PERIOD, TTL, EventController, pod_events, timestamp
from shoal.manager.kube.objects import KubeObjects
from shoal.store.changelog import ChangeLog
from shoal.store.objects import ObjectStore

from ...helpers import FakeClock, make_node, make_task, memory_store, paused

NOW = 1_760_000_000.0


def pod(name: str = "web", *containers: str, namespace: str = "default", node_name: str = "") -> Task:
    names = containers or ("nginx",)
    return Task(ID=new_id(), Name=name, Namespace=namespace,
                Spec=TaskSpec(Containers=[ContainerSpec(Name=c, Image=c) for c in names],
                              Pod=PodSpecExtra(NodeName=node_name)),
                Status=TaskStatus(State=TaskState.PENDING))


async def setup() -> tuple[ObjectStore, EventController, FakeClock, Node]:
    store = await memory_store()
    await store.create(Namespace(ID=new_id(), Name="default"))
    node = await store.create(make_node("Node-1"))
    kube = KubeObjects(store, ChangeLog(store))
    clock = FakeClock(NOW)
    ctl = EventController(store, kube, clock=clock)
    await paused(ctl)
    await ctl.settle()
    return store, ctl, clock, node


def events(store: ObjectStore, reason: str = "") -> list[Event]:
    return sorted((e for e in store.list(Event) if not reason or e.Reason == reason),
                  key=lambda e: (e.FirstTimestamp, e.Name))


def said(store: ObjectStore) -> list[tuple[str, str]]:
    return [(e.Reason, e.Message) for e in events(store)]


async def move(store: ObjectStore, t: Task, state: TaskState, *, node: str = "",
               containers: list[ContainerStatus] | None = None, desired: TaskState | None = None,
               err: str = "") -> Task:
    cur = store.get(Task, t.ID)
    assert cur is not None
    new = clone(cur)
    new.Status = TaskStatus(State=state, Containers=containers, Err=err)
    if node:
        new.NodeID = node
    if desired is not None:
        new.DesiredState = desired
    return await store.update(new)


def running(name: str, cid: str = "c1", restarts: int = 0) -> ContainerStatus:
    return ContainerStatus(Name=name, ContainerID=cid, State="running", RestartCount=restarts, Ready=True)


async def test_a_pods_life_in_kubernetes_words() -> None:
    store, ctl, clock, node = await setup()
    t = await store.create(pod())
    await move(store, t, TaskState.ASSIGNED, node=node.ID)
    await move(store, t, TaskState.PREPARING)
    await move(store, t, TaskState.RUNNING, containers=[running("nginx")])
    await ctl.settle()
    assert said(store) == [
        ("Scheduled", "Successfully assigned default/web to node-1"),
        ("Pulled", 'Container image "nginx" already present on machine'),
        ("Created", "Created container: nginx"),
        ("Started", "Started container nginx"),
    ]
    scheduled, pulled = events(store)[:2]
    assert scheduled.Source.Component == "default-scheduler" and scheduled.Source.Host == ""
    assert scheduled.InvolvedObject.FieldPath == "" and scheduled.Type == "Normal"
    assert pulled.Source.Component == "kubelet" and pulled.Source.Host == "node-1"
    io = pulled.InvolvedObject
    assert (io.Kind, io.Namespace, io.Name, io.ID, io.APIVersion, io.FieldPath) == (
        "Pod", "default", "web", t.ID, "v1", "spec.containers{nginx}")
    assert pulled.Namespace == "default" and re.fullmatch(r"web\.[0-9a-f]{16}", pulled.Name)
    assert pulled.Count == 1 and pulled.FirstTimestamp == pulled.LastTimestamp == timestamp(NOW)
    assert pulled.FirstTimestamp == "2025-10-09T08:53:20Z"

    # Asked to stop: Killing for each running container.
    clock.advance(5)
    await move(store, t, TaskState.RUNNING, containers=[running("nginx")], desired=TaskState.SHUTDOWN)
    await ctl.settle()
    assert said(store)[-1] == ("Killing", "Stopping container nginx")


async def test_restarts_backoff_and_pull_failures() -> None:
    store, ctl, clock, node = await setup()
    t = await store.create(pod("two", "app", "side"))
    await move(store, t, TaskState.ASSIGNED, node=node.ID)
    await move(store, t, TaskState.PREPARING, containers=[
        ContainerStatus(Name="app", State="waiting", Reason="Pulling"),
        ContainerStatus(Name="side", State="waiting", Reason="ErrImagePull", Message="not found")])
    await ctl.settle()
    assert said(store)[1:] == [
        ("Pulling", 'Pulling image "app"'),
        ("Failed", 'Failed to pull image "side": not found'),
        ("Failed", "Error: ErrImagePull"),
    ]
    clock.advance(2.5)
    await move(store, t, TaskState.PREPARING, containers=[
        ContainerStatus(Name="app", State="waiting", Reason="Pulling"),
        ContainerStatus(Name="side", State="waiting", Reason="ImagePullBackOff")])
    await move(store, t, TaskState.RUNNING, containers=[running("app"), running("side", "c2")])
    await ctl.settle()
    assert said(store)[4:] == [
        ("BackOff", 'Back-off pulling image "side"'),
        ("Failed", "Error: ImagePullBackOff"),
        ("Pulled", 'Successfully pulled image "app" in 2.500s (2.500s including waiting)'),
        ("Created", "Created container: app"),
        ("Started", "Started container app"),
        ("Pulled", 'Container image "side" already present on machine'),
        ("Created", "Created container: side"),
        ("Started", "Started container side"),
    ]
    # side crashes, waits out its back-off, runs again: BackOff, then the same three words once more,
    # counted on the objects already there.
    clock.advance(10)
    crashed = ContainerStatus(Name="side", ContainerID="c2", State="waiting", Reason="CrashLoopBackOff",
                              RestartCount=0)
    await move(store, t, TaskState.RUNNING, containers=[running("app"), crashed])
    await move(store, t, TaskState.RUNNING, containers=[running("app"), running("side", "c3", restarts=1)])
    await ctl.settle()
    backoff = events(store, "BackOff")[-1]
    assert backoff.Type == "Warning" and backoff.Message == (
        f"Back-off restarting failed container side in pod two_default({t.ID})")
    assert backoff.InvolvedObject.FieldPath == "spec.containers{side}"
    started = [e for e in events(store, "Started") if e.InvolvedObject.FieldPath == "spec.containers{side}"]
    assert len(started) == 1 and started[0].Count == 2
    assert started[0].LastTimestamp == timestamp(NOW + 12.5) and started[0].FirstTimestamp == timestamp(NOW + 2.5)


async def test_failed_scheduling_counts_repeats_and_a_new_message_is_a_new_event() -> None:
    store, ctl, clock, _ = await setup()
    t = await store.create(pod())
    msg = "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No " \
          "preemption victims found for incoming pod."
    ctl.failed_scheduling(t, msg)
    await ctl.settle()
    [e] = events(store)
    assert (e.Reason, e.Type, e.Source.Component, e.Message, e.Count) == (
        "FailedScheduling", "Warning", "default-scheduler", msg, 1)
    # Tried again a moment later: held, then added up once a second has passed.
    clock.advance(0.2)
    ctl.failed_scheduling(t, msg)
    ctl.failed_scheduling(t, msg)
    await ctl.settle()
    assert store.get(Event, e.ID).Count == 1  # type: ignore[union-attr]
    clock.advance(BUMP_PERIOD)
    await ctl.tick()
    got = store.get(Event, e.ID)
    assert got is not None and got.Count == 3 and got.LastTimestamp == timestamp(NOW + 0.2)
    assert len(events(store)) == 1
    other = msg.replace("Insufficient memory", "node(s) were unschedulable")
    clock.advance(2)
    ctl.failed_scheduling(t, other)
    await ctl.settle()
    assert [(x.Message, x.Count) for x in events(store)] == [(msg, 3), (other, 1)]


async def test_swarm_tasks_make_no_events_and_named_pods_no_scheduled() -> None:
    store, ctl, _, node = await setup()
    s = await store.create(make_task())
    await move(store, s, TaskState.ASSIGNED, node=node.ID)
    await move(store, s, TaskState.RUNNING, containers=[running("main")])
    assert ctl.queue == []
    named = await store.create(pod("named", node_name="node-1"))
    await move(store, named, TaskState.ASSIGNED, node=node.ID)
    await ctl.settle()
    assert events(store) == []


async def test_a_pod_failing_before_any_container_ran() -> None:
    store, ctl, _, node = await setup()
    t = await store.create(pod())
    await move(store, t, TaskState.PREPARING, node=node.ID)
    await move(store, t, TaskState.REJECTED, err="No such image: nginx")
    await ctl.settle()
    e = events(store)[-1]
    assert (e.Reason, e.Type, e.Message, e.InvolvedObject.FieldPath) == (
        "Failed", "Warning", "Error: No such image: nginx", "spec.containers{nginx}")


async def test_no_events_in_a_namespace_that_is_not_active() -> None:
    store, ctl, _, _ = await setup()
    ns = await store.create(Namespace(ID=new_id(), Name="going", Phase="Terminating"))
    assert ns.Phase == "Terminating"
    ctl.failed_scheduling(pod(namespace="going"), "x")
    ctl.failed_scheduling(pod(namespace="nowhere"), "x")
    await ctl.settle()
    assert events(store) == []


async def test_events_expire_after_an_hour_of_quiet() -> None:
    store, ctl, clock, _ = await setup()
    a, b = pod("a"), pod("b")
    ctl.failed_scheduling(a, "x")
    await ctl.settle()
    clock.advance(TTL - 30)
    ctl.failed_scheduling(b, "x")
    await ctl.settle()  # less than a minute since the last look: nothing expires yet
    assert len(events(store)) == 2
    clock.advance(61)
    await ctl.tick()
    assert [e.InvolvedObject.Name for e in events(store)] == ["b"]
    # A repeat keeps an event alive: its last occurrence counts.
    clock.advance(TTL - 100)
    ctl.failed_scheduling(b, "x")
    await ctl.tick()
    clock.advance(200)
    await ctl.tick()
    [e] = events(store)
    assert e.Count == 2
    clock.advance(TTL)
    await ctl.tick()
    assert events(store) == []
    assert ctl.index == {}  # forgotten with them


async def test_a_new_leader_carries_on_counting() -> None:
    store, ctl, clock, _ = await setup()
    t = pod()
    ctl.failed_scheduling(t, "x")
    await ctl.settle()
    await ctl.stop()
    clock.advance(5)
    again = EventController(store, ctl.kube, clock=clock)
    await paused(again)
    again.failed_scheduling(t, "x")
    await again.settle()
    [e] = events(store)
    assert e.Count == 2


def test_pod_events_is_a_pure_function_of_old_and_new() -> None:
    t = pod()
    placed = msgspec.structs.replace(t, NodeID="n", Status=TaskStatus(State=TaskState.ASSIGNED))
    [occ] = pod_events(t, placed, "host-a", NOW)
    assert (occ.reason, occ.message, occ.component, occ.host) == (
        "Scheduled", "Successfully assigned default/web to host-a", "default-scheduler", "")
    assert pod_events(placed, placed, "host-a", NOW) == []


async def test_the_nodes_own_container_events_are_written_once_each_and_repeats_counted() -> None:
    store, ctl, clock, node = await setup()
    t = await store.create(pod())
    await move(store, t, TaskState.ASSIGNED, node=node.ID)
    await move(store, t, TaskState.RUNNING, containers=[running("nginx")])
    await ctl.settle()
    failed = "Liveness probe failed: HTTP probe failed with statuscode: 500"
    evs = [ContainerEvent(Seq=i, Type="Warning", Reason="Unhealthy", Message=failed) for i in (1, 2)]
    with_events = msgspec.structs.replace(running("nginx"), Events=evs)
    await move(store, t, TaskState.RUNNING, containers=[with_events])
    clock.advance(BUMP_PERIOD)
    await ctl.settle()
    kill = ContainerEvent(Seq=3, Reason="Killing", Message="Container nginx failed liveness probe, will be restarted")
    await move(store, t, TaskState.RUNNING, containers=[msgspec.structs.replace(with_events, Events=[*evs, kill])])
    clock.advance(BUMP_PERIOD)
    await ctl.settle()
    unhealthy = events(store, "Unhealthy")
    assert [(e.Type, e.Message, e.Count, e.InvolvedObject.FieldPath) for e in unhealthy] == [
        ("Warning", failed, 2, "spec.containers{nginx}")]
    assert [(e.Type, e.Message) for e in events(store, "Killing")] == [
        ("Normal", "Container nginx failed liveness probe, will be restarted")]
