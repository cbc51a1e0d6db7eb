"""Deployments in an in-process cluster (a manager and hollow nodes, ``shoal sim``): a Deployment created
through the core's object API rolls out through a ReplicaSet whose Pods the one scheduler places and
the hollow agents run (ready, as their nodes report them), a new template rolls out with the fenceposts
kept (watched at every store change), a lost Pod is replaced, and deleting the Deployment takes its
ReplicaSets and Pods with it (the garbage collector). Every wait is for a state of the store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from tests.integration import kubesim
from tests.integration.kubesim import manager

from shoal import sim
from shoal.api.pod import PodSpecExtra
from shoal.api.types import (
    ContainerSpec,
    Deployment,
    DeploymentSpec,
    DeploymentStrategy,
    LabelSelectorSpec,
    PodTemplate,
    Task,
    TaskSpec,
    clone,
)
from shoal.manager.kube import workloads as wl
from shoal.manager.manager import Manager
from shoal.store.objects import Change

GiB = 1 << 30


async def wait_for(pred: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    await kubesim.wait_for(pred, what, timeout)


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[sim.Sim]:
    async with kubesim.kube_sim(tmp_path, 3, cpus=4, memory=4 * GiB) as s:
        yield s


def template(image: str) -> PodTemplate:
    return PodTemplate(Labels={"app": "web"}, Spec=TaskSpec(Containers=[ContainerSpec(Name="web", Image=image)],
                                                            Pod=PodSpecExtra(RestartPolicy="Always")))


def live(m: Manager) -> list[Task]:
    return [t for t in m.kube.list("tasks", "default") if wl.pod_active(t)]


def rolled_out(m: Manager, image: str, n: int) -> bool:
    d: Deployment = m.kube.get("deployments", "default", "web")
    pods = live(m)
    return d.Status.ObservedGeneration == d.Generation and d.Status.UpdatedReplicas == n == d.Status.Replicas \
        and d.Status.AvailableReplicas == n and len(pods) == n \
        and all(t.Spec.Containers[0].Image == image and wl.pod_ready(t) for t in pods)


async def test_deployment_rolls_out_on_hollow_nodes(cluster: sim.Sim) -> None:
    m = manager(cluster)
    await m.kube.create(Deployment(ID="", Name="web", Namespace="default", Spec=DeploymentSpec(
        Replicas=5, Selector=LabelSelectorSpec(MatchLabels={"app": "web"}), Template=template("web:1"),
        Strategy=DeploymentStrategy(MaxSurge="20%", MaxUnavailable=0))))
    await wait_for(lambda: rolled_out(m, "web:1", 5), "the first rollout")
    assert len({t.NodeID for t in live(m)}) == 3  # spread by the one scheduler

    lowest: list[int] = []

    def sample(ch: Change) -> None:
        if ch.kind == "tasks":
            lowest.append(sum(1 for t in live(m) if wl.pod_ready(t)))

    unsubscribe = m.store.subscribe(sample)
    try:
        d = clone(m.kube.get("deployments", "default", "web"))
        d.Spec.Template = template("web:2")
        await m.kube.update(d)
        await wait_for(lambda: rolled_out(m, "web:2", 5), "the second rollout")
    finally:
        unsubscribe()
    assert lowest and min(lowest) >= 5
    d = m.kube.get("deployments", "default", "web")
    assert (d.Annotations or {})[wl.REVISION] == "2"
    assert sorted(rs.Spec.Replicas for rs in m.kube.list("replicasets", "default")) == [0, 5]

    victim = live(m)[0]
    await m.kube.delete("tasks", "default", victim.Name)
    await wait_for(lambda: len(live(m)) == 5 and victim.Name not in {t.Name for t in live(m)}
                   and all(wl.pod_ready(t) for t in live(m)), "the lost Pod replaced")

    await m.kube.delete("deployments", "default", "web")
    await wait_for(lambda: not m.kube.list("replicasets", "default") and not live(m), "the cascade")
