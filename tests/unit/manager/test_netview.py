"""The networks' view on the manager, kept change by change: always what a full scan would find."""

from __future__ import annotations

from shoal.api.states import TaskState
from shoal.api.types import (
    Cluster,
    ContainerSpec,
    EndpointSpec,
    NetworkAttachmentConfig,
    ServiceSpec,
    Task,
    TaskSpec,
    TaskStatus,
    clone,
)
from shoal.manager.allocator import Allocator
from shoal.manager.control import ControlAPI
from shoal.manager.netview import NetView
from shoal.manager.networks import NetworkCreateRequest
from shoal.manager.orchestrator.common import new_task
from shoal.network import endpoints

from ..helpers import memory_store, paused


def same(a: NetView, b: NetView) -> None:
    assert a.endpoints()[0] == b.endpoints()[0]
    assert a.members == b.members


async def test_the_view_follows_tasks_services_and_networks() -> None:
    store = await memory_store()
    await store.create(Cluster(ID="c1"))
    api = ControlAPI(store)
    net = await api.networks.create(NetworkCreateRequest(Name="front", Driver="overlay"))
    view = NetView.of(store)
    store.subscribe(view.apply)
    alloc = Allocator(store)
    await paused(alloc)
    web = await api.create_service(ServiceSpec(
        Name="web", TaskTemplate=TaskSpec(Containers=[ContainerSpec(Image="busybox")],
                                          Networks=[NetworkAttachmentConfig(Target="front", Aliases=["www"])])))
    db = await api.create_service(ServiceSpec(
        Name="db", EndpointSpec=EndpointSpec(Mode="dnsrr"),
        TaskTemplate=TaskSpec(Containers=[ContainerSpec(Image="busybox")],
                              Networks=[NetworkAttachmentConfig(Target="front")])))
    await store.commit(creates=[new_task(web, 1), new_task(web, 2), new_task(db, 1)])
    await alloc.settle()
    _, changed = view.endpoints()
    assert changed == {net.ID}
    ep = view.endpoints()[0][net.ID].Services
    assert ep[web.ID].Backends == () and ep[web.ID].VIP and ep[db.ID].VIP == ""  # nothing runs yet
    assert view.members == {}  # no task has a node yet

    def place(t: Task, node: str, state: TaskState) -> Task:
        nt = clone(t)
        nt.NodeID, nt.Status = node, TaskStatus(State=state)
        return nt

    tasks = sorted(store.list(Task), key=lambda t: (t.Owner.ID, t.Slot))
    await store.commit(updates=[place(t, n, TaskState.RUNNING) for t, n in zip(tasks, ("n1", "n2", "n1"),
                                                                               strict=True)])
    same(view, NetView.of(store))
    _, changed = view.endpoints()
    assert changed == set()  # read already by the comparison above
    names = endpoints.names(view.endpoints()[0])[net.ID]
    vip = web.Endpoint.VirtualIPs[0]["Addr"].split("/")[0]  # type: ignore[union-attr]
    assert names["web"] == [vip] and names["www"] == [vip] and names["web.front"] == [vip]
    assert len(names["tasks.web"]) == 2 and names["db"] == names["tasks.db"] and len(names["db"]) == 1
    assert set(view.members[net.ID]) == {"n1", "n2"}

    # A status message only: nothing changes. A task shutting down is no backend at once, and its
    # node stays a peer until it has stopped.
    first_web = next(t for t in tasks if t.Owner.ID == web.ID)
    again = clone(store.get(Task, first_web.ID))  # type: ignore[arg-type]
    again.Status = TaskStatus(State=TaskState.RUNNING, Message="still")
    await store.commit(updates=[again])
    assert view.endpoints()[1] == set()
    stopping = clone(again)
    stopping.DesiredState = TaskState.SHUTDOWN
    await store.commit(updates=[stopping])
    same(view, NetView.of(store))
    assert len(view.endpoints()[0][net.ID].Services[web.ID].Backends) == 1
    assert view.members[net.ID]["n1"]
    await store.commit(deletes=[stopping])
    same(view, NetView.of(store))

    # A service removed goes from the view; the network removed with the last one.
    await store.commit(deletes=[t for t in store.list(Task)])
    await api.remove_service(db.ID)
    same(view, NetView.of(store))
    assert set(view.endpoints()[0][net.ID].Services) == {web.ID}
    await api.remove_service(web.ID)
    same(view, NetView.of(store))
    assert view.endpoints()[0] == {} and view.members == {}
