"""The swarm's events: a manager's store changes as dockerd words them (SwarmKit's watch)."""

from __future__ import annotations

from shoal.api.events import EventLog
from shoal.api.types import (
    ContainerSpec,
    ManagerStatus,
    Network,
    NetworkSpec,
    Node,
    NodeDescription,
    NodeSpec,
    NodeStatus,
    ReplicatedService,
    Secret,
    SecretSpec,
    Service,
    ServiceMode,
    ServiceSpec,
    Task,
    TaskSpec,
    UpdateStatus,
    clone,
)
from shoal.manager.swarmevents import SwarmEvents, node_changes, ts_nano
from tests.unit.helpers import memory_store


def service(name: str, image: str, replicas: int) -> Service:
    template = TaskSpec(Containers=[ContainerSpec(Image=image)])
    return Service(ID="svc1", Spec=ServiceSpec(Name=name, TaskTemplate=template,
                                               Mode=ServiceMode(Replicated=ReplicatedService(Replicas=replicas))))


async def test_a_service_created_scaled_updated_and_removed() -> None:
    store = await memory_store()
    log = EventLog()
    events = SwarmEvents(store, log)
    events.start()
    s = service("web", "busybox:1", 1)
    await store.commit(creates=[s])
    stored = store.get(Service, "svc1")
    assert stored is not None and log.history()[0].TimeNano == ts_nano(stored.CreatedAt)  # the object's time
    s = clone(stored)
    s.Spec.Mode.Replicated.Replicas = 3
    await store.commit(updates=[s])
    s = clone(store.get(Service, "svc1"))
    s.Spec.TaskTemplate.Containers[0].Image = "busybox:2"
    s.UpdateStatus = UpdateStatus(State="updating")
    await store.commit(updates=[s])
    s = clone(store.get(Service, "svc1"))
    s.UpdateStatus = UpdateStatus(State="completed")
    await store.commit(updates=[s])
    await store.commit(creates=[Task(ID="t1", Slot=1)])  # tasks make no events
    await store.commit(deletes=[store.get(Service, "svc1")])
    got = [(e.Type, e.Action, e.Actor, e.Attributes, e.Scope) for e in log.history()]
    assert got == [
        ("service", "create", "svc1", {"name": "web"}, "swarm"),
        ("service", "update", "svc1", {"name": "web", "replicas.old": "1", "replicas.new": "3"}, "swarm"),
        # a new spec and the update's start in one write: two events, as dockerd says them
        ("service", "update", "svc1", {"name": "web", "image.old": "busybox:1", "image.new": "busybox:2"}, "swarm"),
        ("service", "update", "svc1", {"name": "web", "updatestate.new": "updating"}, "swarm"),
        ("service", "update", "svc1", {"name": "web", "updatestate.old": "updating",
                                       "updatestate.new": "completed"}, "swarm"),
        ("service", "remove", "svc1", {"name": "web"}, "swarm"),
    ]
    events.stop()
    await store.commit(creates=[Secret(ID="sec1", Spec=SecretSpec(Name="pw"))])
    assert len(log.history()) == 6  # stopped: no longer listening


async def test_secrets_networks_and_namespaced_objects() -> None:
    store = await memory_store()
    log = EventLog()
    SwarmEvents(store, log).start()
    await store.commit(creates=[Secret(ID="sec1", Spec=SecretSpec(Name="pw")),
                                Secret(ID="k8s", Namespace="default", Spec=SecretSpec(Name="token")),
                                Network(ID="net1", Spec=NetworkSpec(Name="backend"))])
    assert sorted((e.Type, e.Action, e.Actor, e.Attributes["name"]) for e in log.history()) == [
        ("network", "create", "net1", "backend"), ("secret", "create", "sec1", "pw")]


def test_node_changes_as_dockerd_reports_them() -> None:
    old = Node(ID="n1", Spec=NodeSpec(Role="worker", Availability="active"), Description=NodeDescription(Hostname="h"),
               Status=NodeStatus(State="ready"), ManagerStatus=ManagerStatus(Leader=False, Reachability="reachable"))
    new = clone(old)
    new.Spec.Availability = "drain"
    new.Status.State = "down"
    assert node_changes(new, old) == {"availability.old": "active", "availability.new": "drain",
                                      "state.old": "ready", "state.new": "down"}
    new = clone(old)
    new.Spec.Role = "manager"
    assert new.ManagerStatus is not None
    new.ManagerStatus.Leader = True
    new.ManagerStatus.Reachability = "unreachable"
    assert node_changes(new, old) == {"role.old": "worker", "role.new": "manager", "leader.old": "false",
                                      "leader.new": "true", "reachability.old": "reachable",
                                      "reachability.new": "unreachable"}


def test_ts_nano() -> None:
    assert ts_nano("2024-01-02T03:04:05.123456789Z") == 1704164645_123456789
    assert ts_nano("2024-01-02T03:04:05Z") == 1704164645_000000000
    assert ts_nano("2024-01-02T03:04:05.5Z") == 1704164645_500000000
    assert ts_nano("") == 0 and ts_nano("nonsense") == 0
