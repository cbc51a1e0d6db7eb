"""The official ``kubernetes`` Python package as a second client of Deployments: create, patch the
image, watch the rollout to its end, scale through the ``scale`` subresource, delete in the foreground
(the ReplicaSets and Pods go first). The controllers and a fake kubelet run as in
``test_kubectl_workloads.py``; the client's blocking calls run in a thread."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.unit.frontdoor.kube.fakenode import Env
from tests.unit.frontdoor.kube.test_kubectl_workloads import serving_workloads

kubernetes = pytest.importorskip("kubernetes")
from kubernetes import client, watch  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402


async def run(fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kw)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    async with serving_workloads() as e:
        yield e


def rolled_out(d: Any) -> bool:
    """``kubectl rollout status``'s test, on the client's model."""
    s = d.status
    want = d.spec.replicas
    return (d.metadata.generation <= (s.observed_generation or 0) and (s.updated_replicas or 0) == want
            and (s.replicas or 0) == want and (s.available_replicas or 0) == want)


async def test_deployment_with_the_official_client(env: Env) -> None:
    config = client.Configuration()
    config.host = env.url
    api_client = client.ApiClient(config)
    apps = client.AppsV1Api(api_client)
    core = client.CoreV1Api(api_client)
    body = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1DeploymentSpec(
            replicas=3, selector=client.V1LabelSelector(match_labels={"app": "web"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "web"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="web", image="busybox:1")]))))
    created = await run(apps.create_namespaced_deployment, "default", body)
    assert created.spec.strategy.rolling_update.max_surge == "25%"
    assert created.spec.revision_history_limit == 10 and created.spec.progress_deadline_seconds == 600

    def watch_rollout(since: str) -> Any:
        w = watch.Watch()
        for ev in w.stream(apps.list_namespaced_deployment, "default", field_selector="metadata.name=web",
                           resource_version=since, timeout_seconds=30):
            if rolled_out(ev["object"]) and ev["object"].spec.template.spec.containers[0].image == "busybox:2":
                w.stop()
                return ev["object"]
        return None

    rv = (await run(apps.list_namespaced_deployment, "default")).metadata.resource_version
    watching = asyncio.create_task(run(watch_rollout, rv))
    await run(apps.patch_namespaced_deployment, "web", "default",
              {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "busybox:2"}]}}}})
    done = await asyncio.wait_for(watching, 30)
    assert done is not None and done.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    rss = await run(apps.list_namespaced_replica_set, "default", label_selector="app=web")
    assert sorted(rs.spec.replicas for rs in rss.items) == [0, 3]

    scale = await run(apps.patch_namespaced_deployment_scale, "web", "default", {"spec": {"replicas": 4}})
    assert scale.spec.replicas == 4 and scale.status.selector == "app=web"
    read = await run(apps.read_namespaced_deployment_scale, "web", "default")
    assert read.kind == "Scale" and read.spec.replicas == 4

    await run(apps.delete_namespaced_deployment, "web", "default", propagation_policy="Foreground")
    for _ in range(500):
        try:
            await run(apps.read_namespaced_deployment, "web", "default")
        except ApiException as e:
            assert e.status == 404
            break
        await asyncio.sleep(0.02)
    assert not (await run(apps.list_namespaced_replica_set, "default")).items
    assert not [p for p in (await run(core.list_namespaced_pod, "default")).items
                if not p.metadata.deletion_timestamp]
