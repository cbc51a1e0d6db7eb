"""The web console's core (``manager/console.py``) over a memory store whose objects are written
directly: counts kept from the store's changes, pages of nodes and tasks with their filters, a pending
task's reason and each node's rejection, a slot's history, workloads with an update in progress,
payloads without their values, coalesced notices that end when the reader stops, and the actions
through the APIs' own rules."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from shoal.api.errors import FailedPrecondition, InvalidArgument, NotFound
from shoal.api.meta import ObjectRef, OwnerReference
from shoal.api.pod import PodSpecExtra
from shoal.api.states import TaskState
from shoal.api.types import (
    SERVICE_KIND,
    Config,
    ConfigSpec,
    ContainerSpec,
    Deployment,
    DeploymentSpec,
    DeploymentStatus,
    Endpoint,
    KubeService,
    KubeServicePort,
    KubeServiceSpec,
    LabelSelectorSpec,
    ManagerStatus,
    Node,
    NodeDescription,
    NodeSpec,
    NodeStatus,
    PodTemplate,
    PortConfig,
    ReplicaSet,
    ReplicaSetSpec,
    ReplicatedService,
    ResourceRequirements,
    Resources,
    Secret,
    SecretSpec,
    Service,
    ServiceMode,
    ServiceSpec,
    Taint,
    Task,
    TaskSpec,
    TaskStatus,
    UpdateStatus,
    Version,
    WorkloadCondition,
    clone,
    now_ts,
    parse_ts,
)
from shoal.manager.console import ConsoleView
from shoal.manager.kube import workloads as wl
from shoal.manager.manager import Manager
from shoal.store.memory import MemoryBackend
from shoal.store.objects import ObjectStore

GiB = 1 << 30
CPU = 1_000_000_000


async def new_store() -> ObjectStore:
    store = ObjectStore(MemoryBackend())
    await store.load()
    return store


def node(nid: str, host: str, *, state: str = "ready", availability: str = "active", role: str = "worker",
         cpus: int = 2, memory: int = 4 * GiB, taints: list[Taint] | None = None,
         labels: dict[str, str] | None = None) -> Node:
    return Node(ID=nid, Spec=NodeSpec(Role=role, Availability=availability, Taints=taints, Labels=labels),
                Description=NodeDescription(Hostname=host,
                                            Resources=Resources(NanoCPUs=cpus * CPU, MemoryBytes=memory)),
                Status=NodeStatus(State=state, Addr=f"10.213.0.{len(nid)}"),
                ManagerStatus=ManagerStatus(Leader=True, Reachability="reachable") if role == "manager" else None)


def task(tid: str, service: str, slot: int, *, node_id: str = "", state: TaskState = TaskState.RUNNING,
         desired: TaskState = TaskState.RUNNING, image: str = "nginx:1", cpus: float = 0, version: int = 1,
         err: str = "", service_id: str = "") -> Task:
    res = ResourceRequirements(Reservations=Resources(NanoCPUs=int(cpus * CPU))) if cpus else None
    return Task(ID=tid, Owner=ObjectRef(Kind=SERVICE_KIND, ID=service_id or f"svc-{service}", Name=service),
                Slot=slot, NodeID=node_id, DesiredState=desired, SpecVersion=Version(Index=version),
                Spec=TaskSpec(Containers=[ContainerSpec(Name="main", Image=image)], Resources=res),
                Status=TaskStatus(State=state, Timestamp=now_ts(), Err=err))


def pod(tid: str, name: str, *, node_id: str = "", state: TaskState = TaskState.RUNNING, owner: str = "",
        cpus: float = 0, err: str = "", namespace: str = "default") -> Task:
    res = ResourceRequirements(Reservations=Resources(NanoCPUs=int(cpus * CPU))) if cpus else None
    t = Task(ID=tid, Name=name, Namespace=namespace, NodeID=node_id,
             Spec=TaskSpec(Containers=[ContainerSpec(Name="web", Image="web:2")], Resources=res,
                           Pod=PodSpecExtra(RestartPolicy="Always")),
             Status=TaskStatus(State=state, Timestamp=now_ts(), Err=err))
    if owner:
        t.Owner = ObjectRef(Kind="ReplicaSet", ID=owner, Name=owner)
    return t


async def cluster() -> tuple[ObjectStore, ConsoleView]:
    """Three nodes (one down, one drained manager) and some tasks, written before the view is made."""
    store = await new_store()
    await store.commit(creates=[
        node("n1", "alpha", cpus=4), node("n2", "bravo", state="down"),
        node("n3", "charlie", availability="drain", role="manager", labels={"zone": "b"})])
    await store.commit(creates=[
        task("t1", "web", 1, node_id="n1", cpus=1), task("t2", "web", 2, node_id="n1", cpus=0.5),
        task("t0", "web", 1, node_id="n1", state=TaskState.FAILED, desired=TaskState.SHUTDOWN),  # history
        task("t3", "api", 1, node_id="n1", state=TaskState.STARTING),
        task("t4", "web", 3, state=TaskState.PENDING, err="no suitable node (insufficient resources on 1 node)"),
        pod("p1", "web-abc-1", node_id="n1", cpus=0.25)])
    return store, ConsoleView(store)


async def test_counts_are_kept_from_the_changes() -> None:
    store, view = await cluster()
    s = view.summary()
    assert (s.Nodes, s.NodesByState, s.NodesByAvailability, s.Managers) == (
        3, {"ready": 2, "down": 1}, {"active": 2, "drain": 1}, 1)
    assert (s.Tasks, s.Pods, s.Pending, s.TasksByState) == (5, 1, 1, {"running": 3, "starting": 1, "pending": 1})
    assert s.Revision == store.revision
    created = parse_ts(store.get(Task, "t4").CreatedAt)
    assert ConsoleView(store, clock=lambda: created + 30).summary().OldestPendingSeconds == 30.0

    n1 = view.nodes(query="alpha").Items[0]
    assert (n1.Tasks, n1.TasksByState) == (4, {"running": 3, "starting": 1})
    assert (n1.ReservedNanoCPUs, n1.NanoCPUs) == (int(1.75 * CPU), 4 * CPU)

    # the pending task is placed, then runs; a running one fails and is shut down (history now)
    t4 = clone(store.get(Task, "t4"))
    t4.NodeID, t4.Status.State = "n1", TaskState.ASSIGNED
    t1 = clone(store.get(Task, "t1"))
    t1.Status.State, t1.DesiredState = TaskState.FAILED, TaskState.SHUTDOWN
    await store.commit(updates=[t4, t1])
    s = view.summary()
    assert (s.Tasks, s.Pending, s.TasksByState) == (4, 0, {"running": 2, "starting": 1, "assigned": 1})
    n1 = view.nodes(query="alpha").Items[0]
    assert (n1.Tasks, n1.ReservedNanoCPUs) == (4, int(0.75 * CPU))

    await store.delete(store.get(Task, "p1"))
    await store.delete(store.get(Node, "n2"))
    s = view.summary()
    assert (s.Tasks, s.Pods, s.Nodes, s.NodesByState) == (3, 0, 2, {"ready": 2})


async def test_node_cards_and_pages() -> None:
    store, view = await cluster()
    await store.update(msgspec.structs.replace(store.get(Node, "n1"), Spec=NodeSpec(
        Availability="pause", Taints=[Taint(Key="dedicated", Value="db", Effect="NoSchedule"),
                                      Taint(Key="gpu", Effect="NoExecute")])))
    page = view.nodes()
    assert page.Total == 3 and [n.Hostname for n in page.Items] == ["alpha", "bravo", "charlie"]
    a, _, c = page.Items
    assert (a.Availability, a.Taints) == ("pause", ["dedicated=db:NoSchedule", "gpu:NoExecute"])
    assert (c.Role, c.Leader, c.Reachability, c.Labels) == ("manager", True, "reachable", {"zone": "b"})
    assert [n.Hostname for n in view.nodes(offset=1, limit=1).Items] == ["bravo"]
    assert [n.Hostname for n in view.nodes(query="ZONE=B").Items] == ["charlie"]
    assert view.nodes(query="down").Total == 1


async def test_task_pages_filters_and_names() -> None:
    store, view = await cluster()
    await store.commit(creates=[
        ReplicaSet(ID="rs1", Name="web-abc", Namespace="default", OwnerReferences=[OwnerReference(
            Kind="Deployment", ID="d1", Name="web", Controller=True)]),
        Deployment(ID="d1", Name="web", Namespace="default")])
    p1 = clone(store.get(Task, "p1"))
    p1.Owner = ObjectRef(Kind="ReplicaSet", ID="rs1", Name="web-abc")
    await store.update(p1)

    page = view.tasks(node="n1")
    assert page.Total == 4
    assert [(c.Name, c.Owner, c.OwnerKind) for c in page.Items] == [
        ("api.1", "api", "service"), ("web-abc-1", "web", "deployment"), ("web.1", "web", "service"),
        ("web.2", "web", "service")]  # by owner (name, then ID), then slot
    card = page.Items[1]
    assert (card.Kind, card.Namespace, card.OwnerID, card.Phase, card.Image) == (
        "pod", "default", "d1", "Running", "web:2")
    assert [c.ID for c in view.tasks(node="n1", offset=2, limit=2).Items] == ["t1", "t2"]
    assert [c.ID for c in view.tasks(node="-").Items] == ["t4"]
    assert [c.ID for c in view.tasks(owner="d1").Items] == ["p1"]
    assert [c.ID for c in view.tasks(owner="svc-web").Items] == ["t1", "t2", "t4"]  # not t0, history
    assert [c.ID for c in view.tasks(state="starting").Items] == ["t3"]
    assert [c.ID for c in view.tasks(query="DEFAULT").Items] == ["p1"]
    assert [c.ID for c in view.tasks(query="api").Items] == ["t3"]
    assert view.tasks().Total == 5
    # a global service's task is named by its node
    await store.create(task("g1", "agent", 0, node_id="n1", service_id="svc-agent"))
    assert [c.Name for c in view.tasks(owner="svc-agent").Items] == ["agent.n1"]


async def test_pending_task_explains_itself_node_by_node() -> None:
    store, view = await cluster()
    big = task("t9", "big", 1, state=TaskState.PENDING, cpus=3.5,
               err="no suitable node (insufficient resources on 1 node; 2 nodes not available for new tasks)")
    await store.create(big)
    detail = view.task("t9")
    assert detail.PendingReason.startswith("no suitable node (")
    assert detail.RejectedNodes == 3
    assert [(r.Hostname, r.Reason) for r in detail.Rejections] == [
        ("alpha", "insufficient resources"), ("bravo", "node not available for new tasks"),
        ("charlie", "node not available for new tasks")]
    # a Pod: in Kubernetes' words
    await store.create(pod("p9", "big-pod", state=TaskState.PENDING, cpus=3.5, err="0/3 nodes are available: ..."))
    detail = view.task("p9")
    assert detail.PendingReason == "0/3 nodes are available: ..."
    assert [(r.Hostname, r.Reason) for r in detail.Rejections] == [
        ("alpha", "Insufficient cpu"), ("bravo", "node(s) had untolerated taint {node.kubernetes.io/unreachable: }"),
        ("charlie", "node(s) were unschedulable")]
    # a running task has neither
    assert view.task("t1").Rejections == [] and view.task("t1").PendingReason == ""
    with pytest.raises(NotFound):
        view.task("nope")


async def test_history_of_a_slot_newest_first() -> None:
    _, view = await cluster()
    detail = view.task("t1")
    assert detail.Task.Name == "web.1"
    ids = [e.TaskID for e in detail.History]
    assert ids[0] == "t1" and "t0" in ids and "t2" not in ids
    old = next(e for e in detail.History if e.TaskID == "t0")
    assert old.State == "failed" and old.NodeID == "n1"
    assert [e.State for e in detail.History if e.TaskID == "t1"] == ["running", "new"]


async def test_workloads_show_an_update_in_progress() -> None:
    store = await new_store()
    view = ConsoleView(store)
    svc = Service(ID="svc-web", Spec=ServiceSpec(
        Name="web", TaskTemplate=TaskSpec(Containers=[ContainerSpec(Image="web:2")]),
        Mode=ServiceMode(Replicated=ReplicatedService(Replicas=3))),
        SpecVersion=Version(Index=2), UpdateStatus=UpdateStatus(State="updating", Message="update in progress"),
        Endpoint=Endpoint(Ports=[PortConfig(TargetPort=80, PublishedPort=8080)],
                          VirtualIPs=[{"NetworkID": "ingress", "Addr": "10.0.0.5/24"}]))
    await store.commit(creates=[node("n1", "alpha"), svc])
    await store.commit(creates=[
        task("a", "web", 1, node_id="n1", version=2), task("b", "web", 2, node_id="n1", version=2),
        task("c", "web", 3, node_id="n1", version=1)])
    tmpl = PodTemplate(Labels={"app": "web"}, Spec=TaskSpec(Containers=[ContainerSpec(Name="web", Image="web:3")]))
    await store.commit(creates=[
        Deployment(ID="d1", Name="web", Namespace="default", Generation=2, Spec=DeploymentSpec(
            Replicas=3, Selector=LabelSelectorSpec(MatchLabels={"app": "web"}), Template=tmpl),
            Status=DeploymentStatus(ObservedGeneration=2, Replicas=4, UpdatedReplicas=1, ReadyReplicas=3,
                                    Conditions=[WorkloadCondition(Type="Progressing", Status="True",
                                                                  Reason="ReplicaSetUpdated",
                                                                  Message='ReplicaSet "web-x" is progressing.')])),
        KubeService(ID="ks1", Name="web", Namespace="default", Spec=KubeServiceSpec(
            Selector={"app": "web"}, ClusterIP="172.16.0.20", Ports=[KubeServicePort(Port=80)])),
        KubeService(ID="ks2", Name="other", Namespace="default", Spec=KubeServiceSpec(
            Selector={"app": "db"}, ClusterIP="172.16.0.21"))])
    assert view.summary().Rollouts == 2
    page = view.workloads()
    assert [(w.Kind, w.Name, w.Namespace) for w in page.Items] == [
        ("service", "web", ""), ("deployment", "web", "default")]
    s, d = page.Items
    assert (s.Mode, s.Image, s.Replicas, s.Running, s.Rollout, s.Step) == (
        "replicated", "web:2", 3, 3, "updating", "2/3 updated")
    assert (s.Ports, s.Addresses) == (["8080:80/tcp"], ["10.0.0.5/24"])
    assert (d.Replicas, d.Ready, d.Rollout, d.Step, d.RolloutMessage) == (
        3, 3, "progressing", "1/3 updated", 'ReplicaSet "web-x" is progressing.')
    assert (d.Addresses, d.Ports) == (["172.16.0.20"], ["80/TCP"])
    assert [w.Kind for w in view.workloads(query="default").Items] == ["deployment"]
    done = clone(store.get(Service, "svc-web"))
    done.UpdateStatus = UpdateStatus(State="completed")
    await store.update(done)
    assert view.summary().Rollouts == 1 and view.workloads(limit=1).Items[0].Step == ""


async def test_payloads_never_show_values() -> None:
    store = await new_store()
    view = ConsoleView(store)
    await store.commit(creates=[
        Secret(ID="s1", Spec=SecretSpec(Name="db-pass", Data=b"hunter2-swarm", Labels={"team": "a"})),
        Secret(ID="s2", Name="tls", Namespace="default", Spec=SecretSpec(
            Name="tls", Type="kubernetes.io/tls", Items={"tls.crt": b"CERTBYTES", "tls.key": b"KEYBYTES"})),
        Config(ID="c1", Spec=ConfigSpec(Name="nginx.conf", Data=b"server-config-text")),
        Config(ID="c2", Name="settings", Namespace="default", Spec=ConfigSpec(
            Name="settings", Items={"mode": "fast-value"}, BinaryItems={"blob": b"binary-value"}))])
    rows = view.payloads()
    assert [(r.Kind, r.Namespace, r.Name) for r in rows] == [
        ("config", "", "nginx.conf"), ("config", "default", "settings"), ("secret", "", "db-pass"),
        ("secret", "default", "tls")]
    assert rows[1].Keys == ["blob", "mode"] and rows[3].Keys == ["tls.crt", "tls.key"]
    assert rows[3].Type == "kubernetes.io/tls" and rows[2].Labels == {"team": "a"}
    wire = msgspec.json.encode(rows)
    for value in (b"hunter2", b"CERTBYTES", b"KEYBYTES", b"server-config", b"fast-value", b"binary-value"):
        assert value not in wire
    assert [r.Name for r in view.payloads(query="TEAM=a")] == ["db-pass"]
    s = view.summary()
    assert (s.Secrets, s.Configs) == (2, 2)


async def test_changes_are_coalesced_and_end_with_the_reader() -> None:
    store, view = await cluster()
    view.interval = 0.2
    loop = asyncio.get_running_loop()
    it = view.changes()
    first = asyncio.ensure_future(anext(it))
    await asyncio.sleep(0)  # the reader is waiting
    for i in range(30):  # a burst
        await store.create(task(f"b{i}", "burst", i + 1, node_id="n1" if i % 2 else ""))
    await store.update(msgspec.structs.replace(store.get(Node, "n2"), Status=NodeStatus(State="ready")))
    notice = await first
    assert notice.Kinds == ["nodes", "tasks", "workloads"] and notice.Nodes == ["", "n1"]
    sent = loop.time()
    await store.create(Secret(ID="s1", Spec=SecretSpec(Name="x", Data=b"v")))
    await store.create(task("late", "burst", 99, node_id="n3"))
    notice = await anext(it)
    assert loop.time() - sent >= 0.15  # paced: at most one notice per interval (0.2 s), not gathered (0.05 s)
    assert notice.Kinds == ["payloads", "tasks", "workloads"] and notice.Nodes == ["n3"]
    assert notice.Revision == store.revision
    # history only (an old task reaped): nothing a page shows changed
    await store.delete(store.get(Task, "t0"))
    assert not any(w.kinds for w in view._watchers)
    await it.aclose()
    assert not view._watchers
    # closing the view ends every reader
    it2 = view.changes()
    waiting = asyncio.ensure_future(anext(it2))
    await asyncio.sleep(0)
    view.close()
    with pytest.raises(StopAsyncIteration):
        await waiting


async def manager() -> Manager:
    m = await Manager.open(None)
    await m.init("node-1", "127.0.0.1:2377")
    return m


async def test_actions_go_through_the_apis() -> None:
    m = await manager()
    view = m.console
    web = await m.control.create_service(ServiceSpec(Name="web", TaskTemplate=TaskSpec(
        Containers=[ContainerSpec(Image="web:1")])))
    await view.scale("service", web.ID, 4)
    got = m.store.get(Service, web.ID)
    assert got is not None and got.Spec.Mode.Replicated is not None and got.Spec.Mode.Replicated.Replicas == 4
    agent = await m.control.create_service(ServiceSpec(Name="agent", Mode=ServiceMode(Global={}),
                                                       TaskTemplate=TaskSpec(Containers=[ContainerSpec(Image="a")])))
    with pytest.raises(InvalidArgument, match="scale can only be used with replicated or replicated-job mode"):
        await view.scale("service", agent.ID, 2)
    # a service rolled back to its previous spec, as `docker service rollback`
    cur = m.store.get(Service, web.ID)
    assert cur is not None
    spec = clone(cur.Spec)
    spec.TaskTemplate.Containers[0].Image = "web:2"
    await m.control.update_service(web.ID, cur.Version.Index, spec)
    await view.rollback("service", web.ID)
    got = m.store.get(Service, web.ID)
    assert got is not None and got.Spec.TaskTemplate.Containers[0].Image == "web:1"
    assert got.UpdateStatus is not None and got.UpdateStatus.State == "rollback_started"
    # a node paused, then drained
    await view.set_availability("node-1", "pause")
    n = m.store.get(Node, "node-1")
    assert n is not None and n.Spec.Availability == "pause"
    with pytest.raises(Exception, match="invalid availability"):
        await view.set_availability("node-1", "sleepy")


def rs(rid: str, revision: int, image: str) -> ReplicaSet:
    return ReplicaSet(ID=rid, Name=f"web-{rid}", Namespace="default",
                      Annotations={wl.REVISION: str(revision), wl.CHANGE_CAUSE: f"to {image}"},
                      OwnerReferences=[OwnerReference(Kind="Deployment", ID="d1", Name="web", Controller=True)],
                      Spec=ReplicaSetSpec(Template=PodTemplate(
                          Labels={"app": "web", wl.POD_TEMPLATE_HASH: rid},
                          Spec=TaskSpec(Containers=[ContainerSpec(Name="web", Image=image)]))))


async def test_deployment_scale_and_rollout_undo() -> None:
    m = await manager()
    view = m.console
    tmpl = PodTemplate(Labels={"app": "web"}, Spec=TaskSpec(Containers=[ContainerSpec(Name="web", Image="web:2")]))
    d: Any = Deployment(ID="d1", Name="web", Namespace="default", Annotations={wl.REVISION: "2"}, Spec=DeploymentSpec(
        Replicas=2, Selector=LabelSelectorSpec(MatchLabels={"app": "web"}), Template=tmpl))
    await m.store.create(d)
    await m.store.create(rs("b", 2, "web:2"))
    with pytest.raises(FailedPrecondition, match='no rollout history found for deployment "web"'):
        await view.rollback("deployment", "d1")
    await view.scale("deployment", "d1", 5)
    got = m.store.get(Deployment, "d1")
    assert got is not None and got.Spec.Replicas == 5
    await m.store.create(rs("a", 1, "web:1"))
    await view.rollback("deployment", "d1")
    got = m.store.get(Deployment, "d1")
    assert got is not None
    assert got.Spec.Template.Spec.Containers[0].Image == "web:1"
    assert got.Spec.Template.Labels == {"app": "web"}
    assert (got.Annotations or {}).get(wl.CHANGE_CAUSE) == "to web:1"
    with pytest.raises(NotFound):
        await view.scale("deployment", "nope", 1)
