"""The web console's core on an in-process cluster of hollow nodes (``shoal sim``): a real Swarm service
and a Deployment show up with the right counts, a service update shows its step, and a task no node
can take says why, node by node. Every wait is for the console's own notices (``changes``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from tests.integration import kubesim
from tests.integration.kubesim import manager

from shoal import sim
from shoal.api.console import WorkloadRow
from shoal.api.pod import PodSpecExtra
from shoal.api.types import (
    ContainerSpec,
    Deployment,
    DeploymentSpec,
    KubeService,
    KubeServicePort,
    KubeServiceSpec,
    LabelSelectorSpec,
    Node,
    PodTemplate,
    ReplicatedService,
    ResourceRequirements,
    Resources,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
    UpdateConfig,
    clone,
)
from shoal.manager.console import ConsoleView

GiB = 1 << 30
CPU = 1_000_000_000


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[sim.Sim]:
    async with kubesim.kube_sim(tmp_path, 3, cpus=4, memory=4 * GiB) as s:
        yield s


async def until(view: ConsoleView, pred: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Wait for ``pred`` to hold, looking again at each of the console's notices."""
    if pred():
        return
    notices = view.changes()
    try:
        async with asyncio.timeout(timeout):
            async for _ in notices:
                if pred():
                    return
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}: {view.workloads().Items}") from None
    finally:
        await notices.aclose()


def row(view: ConsoleView, name: str, kind: str) -> WorkloadRow | None:
    return next((w for w in view.workloads(query=name).Items if w.Name == name and w.Kind == kind), None)


def swarm_spec(name: str, image: str, replicas: int, cpus: float = 0) -> ServiceSpec:
    res = ResourceRequirements(Reservations=Resources(NanoCPUs=int(cpus * CPU))) if cpus else None
    return ServiceSpec(Name=name, TaskTemplate=TaskSpec(Containers=[ContainerSpec(Image=image)], Resources=res),
                       Mode=ServiceMode(Replicated=ReplicatedService(Replicas=replicas)),
                       UpdateConfig=UpdateConfig(Parallelism=1, Delay=3600 * CPU, FailureAction="pause"))


async def test_a_service_and_a_deployment_show_up_and_an_update_shows_its_step(cluster: sim.Sim) -> None:
    m = manager(cluster)
    view = m.console
    workers = [n.ID for n in m.store.list(Node)]
    svc = await m.control.create_service(swarm_spec("web", "hollow", 4, cpus=0.5))
    tmpl = PodTemplate(Labels={"app": "api"}, Spec=TaskSpec(Containers=[ContainerSpec(Name="api", Image="api:1")],
                                                            Pod=PodSpecExtra(RestartPolicy="Always")))
    dep = await m.kube.create(Deployment(ID="", Name="api", Namespace="default", Spec=DeploymentSpec(
        Replicas=2, Selector=LabelSelectorSpec(MatchLabels={"app": "api"}), Template=tmpl)))
    await m.kube.create(KubeService(ID="", Name="api", Namespace="default", Spec=KubeServiceSpec(
        Selector={"app": "api"}, Ports=[KubeServicePort(Port=80, TargetPort=8080)])))

    def settled() -> bool:
        w, d = row(view, "web", "service"), row(view, "api", "deployment")
        return w is not None and w.Running == 4 and d is not None and d.Ready == 2 and d.Rollout == "complete" \
            and bool(d.Addresses)

    await until(view, settled, "the service's 4 tasks and the Deployment's 2 Pods running")
    s = view.summary()
    assert (s.Services, s.Deployments, s.Pending, s.Rollouts) == (1, 1, 0, 0)
    assert s.Pods >= 2 and s.TasksByState.get("running", 0) >= 6
    web = view.tasks(owner=svc.ID)
    assert [c.Name for c in web.Items] == ["web.1", "web.2", "web.3", "web.4"]
    assert all(c.State == "running" and c.NodeID in workers for c in web.Items)
    pods = view.tasks(owner=dep.ID)
    assert pods.Total == 2 and all(c.Kind == "pod" and c.Owner == "api" and c.OwnerKind == "deployment"
                                   for c in pods.Items)
    d = row(view, "api", "deployment")
    assert d is not None and d.Ports == ["80/TCP"] and d.Step == ""
    # what the nodes hold adds up: every running task and Pod is on one of them, the service's
    # reservations counted where its tasks run
    cards = view.nodes().Items
    assert sum(c.Tasks for c in cards) == s.Tasks - s.Pending
    assert sum(c.ReservedNanoCPUs for c in cards) == 4 * CPU // 2

    # an update, one task at a time with an hour between (stop-first: the first replacement waits that
    # hour to start): it stops after the first task, showing its step
    cur = m.control.service(svc.ID)
    spec = clone(cur.Spec)
    spec.TaskTemplate.Containers[0].Image = "hollow:2"
    await m.control.update_service(svc.ID, cur.Version.Index, spec)

    def one_updated() -> bool:
        w = row(view, "web", "service")
        return w is not None and w.Rollout == "updating" and w.Step == "1/4 updated" and w.Running == 3

    await until(view, one_updated, "the update's first task")
    assert view.summary().Rollouts == 1
    # the replaced task is history now: its slot's detail shows it
    news = [c for c in view.tasks(owner=svc.ID).Items if c.Image == "hollow:2"]
    assert len(news) == 1 and view.tasks(owner=svc.ID).Total == 4
    detail = view.task(news[0].ID)
    assert any(e.TaskID != news[0].ID and e.State in ("shutdown", "complete") for e in detail.History)


async def test_a_task_no_node_can_take_says_why(cluster: sim.Sim) -> None:
    m = manager(cluster)
    view = m.console
    svc = await m.control.create_service(swarm_spec("huge", "hollow", 1, cpus=64))

    def explained() -> bool:
        page = view.tasks(owner=svc.ID)
        return page.Total == 1 and page.Items[0].Err.startswith("no suitable node")

    await until(view, explained, "the scheduler's verdict")
    assert view.summary().Pending == 1
    card = view.tasks(node="-").Items[0]
    detail = view.task(card.ID)
    assert detail.PendingReason == "no suitable node (insufficient resources on 3 nodes)"
    assert detail.RejectedNodes == 3
    assert {r.Reason for r in detail.Rejections} == {"insufficient resources"}
