"""An orchestrator harness: a store, the control API, a fake clock, and an agent stand-in."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from dataclasses import dataclass

from shoal.api.states import TaskState
from shoal.api.types import (
    ContainerSpec,
    Node,
    Placement,
    ReplicatedService,
    RestartPolicy,
    Service,
    ServiceMode,
    ServiceSpec,
    Task,
    TaskSpec,
    UpdateConfig,
    clone,
)
from shoal.manager.control import ControlAPI
from shoal.manager.orchestrator.orchestrator import Orchestrator
from shoal.store.objects import ObjectStore

from ...helpers import FakeClock, make_node


def ts(seconds: float) -> str:
    """RFC 3339 with nanosecond digits, like ``now_ts`` but for a given time."""
    t = _dt.datetime.fromtimestamp(seconds, _dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}000Z"


def spec(
    name: str = "web",
    *,
    replicas: int | None = 3,
    global_: bool = False,
    restart: RestartPolicy | None = None,
    update: UpdateConfig | None = None,
    env: list[str] | None = None,
    constraints: list[str] | None = None,
) -> ServiceSpec:
    mode = ServiceMode(Global={}) if global_ else ServiceMode(Replicated=ReplicatedService(Replicas=replicas))
    return ServiceSpec(
        Name=name,
        TaskTemplate=TaskSpec(
            Containers=[ContainerSpec(Image="busybox:latest", Env=env)],
            RestartPolicy=restart,
            Placement=Placement(Constraints=constraints) if constraints else None,
        ),
        Mode=mode,
        UpdateConfig=update,
    )


@dataclass
class Harness:
    store: ObjectStore
    api: ControlAPI
    orch: Orchestrator
    clock: FakeClock

    async def settle(self) -> None:
        await self.orch.settle()

    async def tick(self) -> None:
        """What the orchestrator's timers would do: take the services whose delay has passed by the
        fake clock, and settle."""
        self.orch.queue.wake()
        await self.orch.settle()

    def service(self, name: str = "web") -> Service:
        s = self.store.service_by_name(name)
        assert s is not None
        return s

    def tasks(self, name: str = "web") -> list[Task]:
        return sorted(self.store.tasks_of_owner(self.service(name).ID), key=lambda t: (t.Slot, t.CreatedAt))

    def wanted(self, name: str = "web") -> list[Task]:
        """Tasks wanted running or ready (the service's live slots)."""
        return [t for t in self.tasks(name) if t.DesiredState <= TaskState.RUNNING]

    def get(self, t: Task) -> Task:
        got = self.store.get(Task, t.ID)
        assert got is not None
        return got

    async def create(self, s: ServiceSpec) -> Service:
        svc = await self.api.create_service(s)
        await self.settle()
        return svc

    async def update(self, name: str = "web", **changes: object) -> Service:
        cur = self.service(name)
        new = clone(cur.Spec)
        for k, v in changes.items():
            if k == "replicas":
                new.Mode.Replicated.Replicas = v  # type: ignore[union-attr]
            elif k == "env":
                new.TaskTemplate.Containers[0].Env = v  # type: ignore[union-attr]
            else:
                raise KeyError(k)
        svc = await self.api.update_service(cur.ID, cur.Version.Index, new)
        await self.settle()
        return svc

    async def report(self, t: Task, state: TaskState, node_id: str | None = None) -> Task:
        """What the scheduler and an agent would write: the task's observed state (and node)."""

        def f(x: Task) -> bool:
            x.Status.State = state
            x.Status.Timestamp = ts(self.clock())  # agents stamp reports with the (fake) wall clock
            if node_id is not None:
                x.NodeID = node_id
            return True

        got = await self.store.update_with(Task, t.ID, f)
        assert got is not None
        await self.settle()
        return got

    async def run_all(self, tasks: Iterable[Task], node_id: str = "") -> None:
        for t in tasks:
            await self.report(t, TaskState.RUNNING, node_id or None)

    async def add_node(self, hostname: str = "", **kw: object) -> Node:
        n = await self.store.create(make_node(hostname, **kw))  # type: ignore[arg-type]
        await self.settle()
        return n

    async def set_node(self, node: Node, *, availability: str | None = None, state: str | None = None,
                       labels: dict[str, str] | None = None) -> Node:
        cur = self.store.get(Node, node.ID)
        assert cur is not None
        if availability is not None or labels is not None:
            s = clone(cur.Spec)
            if availability is not None:
                s.Availability = availability
            if labels is not None:
                s.Labels = labels
            await self.api.update_node(cur.ID, cur.Version.Index, s)
        if state is not None:
            def f(x: Node) -> bool:
                x.Status.State = state
                return True

            await self.store.update_with(Node, node.ID, f)
        await self.settle()
        got = self.store.get(Node, node.ID)
        assert got is not None
        return got
