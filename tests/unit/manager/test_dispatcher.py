"""Dispatcher sessions: registration, a node marked down by missed heartbeats coming back on the next,
and the view of the networks each node gets (peers, names, the routing mesh, the encrypted overlays' keys)."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
from typing import Any

from shoal.api.states import TaskState
from shoal.api.types import (
    Cluster,
    ContainerSpec,
    ContainerStatus,
    EndpointSpec,
    Network,
    NetworkAttachmentConfig,
    Node,
    NodeDescription,
    ObjectRef,
    PortConfig,
    Service,
    ServiceSpec,
    Task,
    TaskSpec,
    TaskStatus,
    clone,
)
from shoal.manager.allocator import Allocator
from shoal.manager.control import ControlAPI
from shoal.manager.dispatcher import Dispatcher
from shoal.manager.netkeys import NetworkKeyManager
from shoal.manager.networks import NetworkCreateRequest
from shoal.manager.orchestrator.common import new_task
from shoal.network import endpoints
from shoal.protocol import Assignments
from shoal.store.backend import StoreError

from ..helpers import memory_store, paused


async def test_a_node_marked_down_is_ready_again_when_its_heartbeat_arrives() -> None:
    store = await memory_store()
    now = [100.0]
    d = Dispatcher(store, heartbeat_period=5.0, clock=lambda: now[0])
    session = await d.register("n1", NodeDescription(Hostname="h1"), "127.0.0.1")
    first = await session.assignments()
    assert first is not None and first.full
    node = store.get(Node, "n1")
    assert node is not None and node.Status.State == "ready"

    await d.mark_down("n1", "heartbeat failure")  # what the checker does after three missed heartbeats
    node = store.get(Node, "n1")
    assert node is not None and node.Status.State == "down" and node.Status.Message == "heartbeat failure"

    now[0] += 30
    assert await session.heartbeat() == 5.0
    node = store.get(Node, "n1")
    assert node is not None and node.Status.State == "ready" and session.last_heartbeat == now[0]
    await d.stop()


async def _views(options: dict[str, str] | None = None, ports: bool = True,
                 nodes: tuple[str, ...] = ("n1", "n2")) -> tuple[Any, Network, Service, dict[str, Assignments]]:
    """A service of two tasks on an overlay ``front`` (with ``options``), running on n1 and n2, with
    every node in ``nodes`` in session; the control API, the network, the service and each node's
    last view."""
    store = await memory_store()
    await store.create(Cluster(ID="c1"))
    api = ControlAPI(store)
    net = await api.networks.create(NetworkCreateRequest(Name="front", Driver="overlay", Options=options))
    d = Dispatcher(store)
    sessions = {n: await d.register(n, NodeDescription(Hostname=n), f"10.213.0.{i}")
                for i, n in enumerate(nodes, start=1)}
    svc = await api.create_service(ServiceSpec(
        Name="web", TaskTemplate=TaskSpec(Containers=[ContainerSpec(Image="busybox")],
                                          Networks=[NetworkAttachmentConfig(Target="front")]),
        EndpointSpec=EndpointSpec(Ports=[PortConfig(TargetPort=80, PublishedPort=8080)] if ports else None)))
    alloc = Allocator(store)
    await paused(alloc)
    await store.commit(creates=[new_task(svc, slot) for slot in (1, 2)])
    await alloc.settle()
    running = []
    for t, node in zip(sorted(store.list(Task), key=lambda t: t.Slot), ("n1", "n2"), strict=True):
        nt = clone(t)
        nt.NodeID, nt.Status = node, TaskStatus(State=TaskState.RUNNING)
        running.append(nt)
    await store.commit(updates=running)
    await NetworkKeyManager(store).tick()
    d.push_peers()
    views = {}
    for n, s in sessions.items():
        while not s.queue.empty():
            msg = s.queue.get_nowait()
            if msg is not None and msg.peers is not None:
                views[n] = msg
    await d.stop()
    return api, net, svc, views


async def test_each_node_gets_its_networks_peers_names_and_the_mesh() -> None:
    """Two nodes run tasks of a service on an overlay and publish a port: each hears of the other
    as its peer, the names of the network, and its part of the routing mesh."""
    api, net, svc, views = await _views()
    ingress = api.networks.ingress()
    assert ingress is not None
    assert views["n1"].peers == {net.ID: ["10.213.0.2"], ingress.ID: ["10.213.0.2"]}
    names = endpoints.names(views["n2"].endpoints or {})[net.ID]
    assert names["web"] == [svc.Endpoint.VirtualIPs[0]["Addr"].split("/")[0]]  # type: ignore[union-attr]
    assert len(names["tasks.web"]) == 2
    assert names["web.front"] == names["web"] and names["tasks.web.front"] == names["tasks.web"]
    mesh = views["n1"].ingress or {}
    subnet = ipaddress.ip_network(mesh["network"]["subnet"])
    assert ipaddress.ip_interface(mesh["addr"]).ip == subnet.broadcast_address - 1  # from the top
    assert mesh["network"]["vni"] == 4096
    (port,) = mesh["ports"]
    assert port["published"] == 8080 and port["target"] == 80 and len(port["backends"]) == 2
    assert len(port["local"]) == 1 and port["local"][0] in port["backends"]
    assert views["n1"].encryption == {}  # no encrypted network: no keys


async def test_only_nodes_with_tasks_on_an_encrypted_network_get_the_keys() -> None:
    _, net, _, views = await _views({"encrypted": ""}, ports=False, nodes=("n1", "n2", "n3"))
    enc = views["n1"].encryption or {}
    assert enc["addr"] == "10.213.0.1" and enc["networks"] == [net.ID]
    assert [k["spi"] for k in enc["keys"]] == [1, 2, 3] and all(len(base64.b64decode(k["key"])) == 16
                                                                for k in enc["keys"])
    assert (views["n2"].encryption or {})["addr"] == "10.213.0.2"
    assert views["n3"].encryption == {}  # no task there: the keys never reach it


async def test_a_stalled_manager_does_not_mark_its_nodes_down() -> None:
    store = await memory_store()
    now = [100.0]
    d = Dispatcher(store, heartbeat_period=5.0, clock=lambda: now[0])
    await d.register("n1", NodeDescription(Hostname="h1"), "127.0.0.1")
    now[0] += 60  # the manager could take no heartbeat for a minute (one long transaction, say)
    await d.check_heartbeats(stalled=60)
    node = store.get(Node, "n1")
    assert node is not None and node.Status.State == "ready"
    now[0] += 16  # but three periods missed while it listened are missed
    await d.check_heartbeats(stalled=0)
    node = store.get(Node, "n1")
    assert node is not None and node.Status.State == "down" and node.Status.Message == "heartbeat failure"
    await d.stop()


async def test_only_the_loops_lag_since_a_nodes_last_heartbeat_is_given_back() -> None:
    """A stall measured apart from the checker (while it awaited a store write, say) is given back to
    every node, the manager's own among them; a stall before a node's last heartbeat is not."""
    store = await memory_store()
    now = [100.0]
    d = Dispatcher(store, heartbeat_period=5.0, clock=lambda: now[0])
    await d.register("own", NodeDescription(Hostname="manager"), "127.0.0.1")
    other = await d.register("other", NodeDescription(Hostname="worker"), "127.0.0.1")

    def states() -> dict[str, str]:
        return {n.ID: n.Status.State for n in store.list(Node)}

    now[0] += 4
    d.count_stall(20.0)  # the loop stalled 20 s: the lag meter woke that late
    now[0] += 20
    await d.check_heartbeats()  # 24 s without a heartbeat, 20 of them stalled
    assert states() == {"own": "ready", "other": "ready"}
    await other.heartbeat()  # after the stall: none of it is given back to this one
    now[0] += 14
    await d.check_heartbeats()  # own: 38 s, 20 stalled: 18 s heard
    assert states() == {"own": "down", "other": "ready"}
    now[0] += 1.5
    await d.check_heartbeats()  # other: 15.5 s heard
    assert states() == {"own": "down", "other": "down"}
    await d.stop()


async def test_status_reports_are_written_in_bounded_transactions(monkeypatch: Any) -> None:
    from shoal.manager import dispatcher

    monkeypatch.setattr(dispatcher, "FLUSH_BATCH", 2)
    store = await memory_store()
    d = Dispatcher(store, heartbeat_period=5.0)
    await d.register("n1", NodeDescription(Hostname="h1"), "127.0.0.1")
    svc = Service(ID="s1", Spec=ServiceSpec(Name="web", TaskTemplate=TaskSpec(Containers=[ContainerSpec(
        Image="busybox")])))
    tasks = []
    for slot in range(1, 6):
        t = new_task(svc, slot)
        t.NodeID, t.Status.State = "n1", TaskState.ASSIGNED
        tasks.append(t)
    await store.commit(creates=tasks)
    before = store.revision
    await d.update_task_status("n1", [(t.ID, TaskStatus(State=TaskState.RUNNING, Message="started"))
                                      for t in tasks])
    await d._flush()
    assert store.revision - before == 3  # 2 + 2 + 1
    assert {store.get(Task, t.ID).Status.State for t in tasks} == {TaskState.RUNNING}  # type: ignore[union-attr]
    await d.stop()


async def test_a_running_pods_container_restarts_reach_the_store_and_its_state_never_goes_back() -> None:
    """A Pod's task reports ``running`` again each time a container restarts in place: the same state
    with other container statuses is written; a report of an earlier state is still dropped."""
    store = await memory_store()
    d = Dispatcher(store, heartbeat_period=5.0)
    await d.register("n1", NodeDescription(Hostname="h1"), "127.0.0.1")
    t = Task(ID="t1", Owner=ObjectRef(Kind="ReplicaSet", ID="rs1"), NodeID="n1",
             Spec=TaskSpec(Containers=[ContainerSpec(Name="web", Image="busybox"),
                                       ContainerSpec(Name="side", Image="busybox")]),
             Status=TaskStatus(State=TaskState.ASSIGNED), DesiredState=TaskState.RUNNING)
    await store.commit(creates=[t])

    def status(state: TaskState, side_restarts: int) -> TaskStatus:
        return TaskStatus(State=state, Containers=[
            ContainerStatus(Name="web", ContainerID="t1.web", PID=10, State="running", Ready=True),
            ContainerStatus(Name="side", ContainerID="t1.side", PID=11 + side_restarts, State="running",
                            Ready=True, RestartCount=side_restarts, ExitCode=3 if side_restarts else 0)])

    for report in (status(TaskState.RUNNING, 0), status(TaskState.RUNNING, 1), status(TaskState.STARTING, 2)):
        await d.update_task_status("n1", [("t1", report)])
        await d._flush()
    stored = store.get(Task, "t1")
    assert stored is not None and stored.Status.State == TaskState.RUNNING and stored.Status.Containers is not None
    side = stored.Status.Containers[1]
    assert (side.RestartCount, side.ExitCode, side.PID) == (1, 3, 12)
    await d.stop()


async def test_a_new_leader_marks_down_the_nodes_that_found_no_session_with_it() -> None:
    store = await memory_store()
    now = [100.0]
    old = Dispatcher(store, heartbeat_period=5.0, clock=lambda: now[0])
    for n in ("alive", "worker-gone", "manager-gone", "manager-alive"):
        await old.register(n, NodeDescription(Hostname=n), "127.0.0.1",
                           role="manager" if n.startswith("manager") else "worker")
    await old.stop()
    # Another manager leads: the dead one's lease is gone.
    d = Dispatcher(store, heartbeat_period=5.0, clock=lambda: now[0], lease_gone=lambda nid: nid == "manager-gone")

    def states() -> dict[str, str]:
        return {n.ID: n.Status.State for n in store.list(Node)}

    now[0] += 0.5
    await d.check_heartbeats()
    assert set(states().values()) == {"ready"}
    now[0] += 0.6  # no session and no lease for more than a second: that manager is gone
    await d.check_heartbeats()
    assert states()["manager-gone"] == "down" and states()["worker-gone"] == "ready"
    await d.register("alive", NodeDescription(Hostname="alive"), "127.0.0.1")
    await d.register("manager-alive", NodeDescription(Hostname="manager-alive"), "127.0.0.1", role="manager")
    now[0] += 3.9  # one heartbeat period since this leader started: a live agent has found it by then
    await d.check_heartbeats()
    assert states() == {"alive": "ready", "worker-gone": "down", "manager-gone": "down", "manager-alive": "ready"}
    node = store.get(Node, "worker-gone")
    assert node is not None and node.Status.Message == "heartbeat failure"
    now[0] += 10  # a session's node still gets its three heartbeats (Swarm's), counted from its last one
    await d.check_heartbeats()
    assert states()["alive"] == "ready"
    now[0] += 1.2
    await d.check_heartbeats()
    assert states()["alive"] == "down"
    await d.stop()


async def test_a_dispatcher_can_be_stopped_again() -> None:
    store = await memory_store()
    d = Dispatcher(store, heartbeat_period=5.0)
    d.start()
    await d.stop()
    await d.stop()  # a stop cancelled half-way is finished by the next one


async def test_a_failed_heartbeat_write_neither_ends_the_checker_nor_fails_the_stops(monkeypatch: Any) -> None:
    store = await memory_store()
    d = Dispatcher(store, heartbeat_period=0.04)
    rounds: list[int] = []
    again = asyncio.Event()

    async def check(stalled: float = 0.0) -> None:
        rounds.append(1)
        if len(rounds) == 1:  # a leader that lost its quorum: the write times out
            raise StoreError("etcd: Deadline Exceeded")
        again.set()

    async def peers_fail() -> None:
        raise StoreError("etcd: Deadline Exceeded")

    monkeypatch.setattr(d, "check_heartbeats", check)
    monkeypatch.setattr(d, "_peers_loop", peers_fail)
    d.start()
    await asyncio.wait_for(again.wait(), 5)  # the checker carried on
    await d.stop()  # a task that ended with an error does not fail the stop...
    await d.stop()  # ...nor the next one (a deposed leader's, then --force-new-cluster's)
