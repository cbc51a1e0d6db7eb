"""The dry run: the placement a new service would get (tasks per node), the filter that turns down each
node left without a task, the error the rest would show, and nothing written to the store."""

from __future__ import annotations

from shoal.api.generic import discrete
from shoal.api.states import TaskState
from shoal.api.types import (
    ContainerSpec,
    Placement,
    ReplicatedService,
    ResourceRequirements,
    Resources,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
)
from shoal.manager.control import ControlAPI

from ...helpers import CPU, make_node, make_task, memory_store


def spec(replicas: int | None = 1, *, spread: str = "", max_replicas: int = 0, constraints: list[str] | None = None,
         cpus: float = 0, gpus: int = 0, global_mode: bool = False) -> ServiceSpec:
    placement = Placement(Constraints=constraints, MaxReplicas=max_replicas,
                          Preferences=[{"Spread": {"SpreadDescriptor": spread}}] if spread else None)
    res = ResourceRequirements(Reservations=Resources(
        NanoCPUs=int(cpus * CPU), GenericResources=[discrete("gpu", gpus)] if gpus else None))
    mode = ServiceMode(Global={}) if global_mode else ServiceMode(
        Replicated=ReplicatedService(Replicas=replicas))
    return ServiceSpec(Name="web", Mode=mode, TaskTemplate=TaskSpec(
        ContainerSpec=ContainerSpec(Image="busybox"), Placement=placement, Resources=res))


async def test_dry_run_places_and_explains_without_writing() -> None:
    store = await memory_store()
    for host, zone in (("a1", "a"), ("b1", "b"), ("b2", "b")):
        await store.create(make_node(host, labels={"zone": zone}))
    await store.create(make_node("small", labels={"zone": "b"}, cpus=1))
    await store.create(make_node("down", labels={"zone": "a"}, state="down"))
    await store.create(make_node("c1", labels={"zone": "c"}))
    revision = store.revision
    api = ControlAPI(store)
    p = api.dry_run(spec(6, spread="node.labels.zone", max_replicas=2, cpus=2,
                         constraints=["node.labels.zone!=c"]))
    assert store.revision == revision and store.count(type(make_task())) == 0
    by_host = {n.Hostname: n for n in p.Nodes}
    assert [n.Hostname for n in p.Nodes] == ["a1", "b1", "b2", "c1", "down", "small"]
    # 2 per zone; c has no node that passes, a's one usable node holds 2 (the max): b takes the rest.
    assert {h: n.Tasks for h, n in by_host.items() if n.Tasks} == {"a1": 2, "b1": 2, "b2": 2}
    assert by_host["c1"].Rejected == "scheduling constraints not satisfied"
    assert by_host["down"].Rejected == "node not available for new tasks"
    assert by_host["small"].Rejected == "insufficient resources"
    assert (p.Tasks, p.Placed, p.Err) == (6, 6, "")


async def test_dry_run_reports_what_would_stay_pending() -> None:
    store = await memory_store()
    await store.create(make_node("g1", generic=[discrete("gpu", 2)]))
    await store.create(make_node("plain"))
    p = ControlAPI(store).dry_run(spec(3, gpus=1, max_replicas=1))
    assert (p.Tasks, p.Placed) == (3, 1)
    assert {n.Hostname: (n.Tasks, n.Rejected) for n in p.Nodes} == {
        "g1": (1, ""), "plain": (0, "insufficient resources")}
    assert p.Err == "no suitable node (insufficient resources on 1 node; max replicas per node limit exceed)"


async def test_dry_run_counts_tasks_already_running() -> None:
    store = await memory_store()
    busy = await store.create(make_node("busy", cpus=2))
    await store.create(make_node("idle", cpus=2))
    await store.create(make_task("other", node_id=busy.ID, state=TaskState.RUNNING, cpus=2))
    p = ControlAPI(store).dry_run(spec(1, cpus=1))
    assert {n.Hostname: (n.Tasks, n.Rejected) for n in p.Nodes} == {
        "busy": (0, "insufficient resources"), "idle": (1, "")}


async def test_dry_run_of_a_global_service() -> None:
    store = await memory_store()
    await store.create(make_node("n1", labels={"gpu": "yes"}))
    await store.create(make_node("n2"))
    p = ControlAPI(store).dry_run(spec(global_mode=True, constraints=["node.labels.gpu==yes"]))
    assert (p.Tasks, p.Placed, p.Err) == (1, 1, "")
    assert {n.Hostname: (n.Tasks, n.Rejected) for n in p.Nodes} == {
        "n1": (1, ""), "n2": (0, "scheduling constraints not satisfied")}
