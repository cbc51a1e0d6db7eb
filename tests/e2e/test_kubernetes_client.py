"""The official ``kubernetes`` Python package as a second client, against a single-node swarm on runc:
a Deployment and a DaemonSet made from the package's typed models, their image patched (the
package's strategic merge patch), their rollouts watched through its ``Watch`` until complete, and
deleted with a cascading propagation policy (Foreground for the Deployment, Background for the
DaemonSet), their Pods watched until they are gone."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from kubernetes import client, watch

from shoal.devcluster import DevNode

from .conftest import web_swarm
from .kubectl import Kubectl

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed"),
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]

NS = "default"
HTTPD = ["sh", "-c", "exec httpd -f -p 80 -h /www"]


@pytest.fixture(scope="module")
def node(e2e_base: Path) -> Iterator[DevNode]:
    with web_swarm(e2e_base / "kube-client") as d:
        for tag in ("app:1", "app:2"):
            d.docker("tag", "web:latest", tag)
        yield d


@pytest.fixture(scope="module")
def api(node: DevNode, e2e_base: Path) -> Iterator[client.ApiClient]:
    k = Kubectl(node, e2e_base / "kube-client-kubectl")  # writes an admin kubeconfig, waits for the API
    config = client.Configuration()
    kubernetes.config.load_kube_config(config_file=str(k.kubeconfig), client_configuration=config)
    with client.ApiClient(config) as api_client:
        yield api_client


def template(app: str, image: str) -> client.V1PodTemplateSpec:
    return client.V1PodTemplateSpec(
        metadata=client.V1ObjectMeta(labels={"app": app}),
        spec=client.V1PodSpec(termination_grace_period_seconds=1, containers=[
            client.V1Container(name="main", image=image, image_pull_policy="IfNotPresent", command=HTTPD)]))


def watch_until(list_fn: Callable[..., Any], done: Callable[[Any], bool], timeout: int = 120, **kw: Any) -> Any:
    """Watch the objects ``list_fn`` lists until one is ``done``; that object."""
    w = watch.Watch()
    for event in w.stream(list_fn, NS, timeout_seconds=timeout, **kw):
        if event["type"] != "DELETED" and done(event["object"]):
            w.stop()
            return event["object"]
    raise AssertionError(f"the watch of {list_fn.__name__} ended before the condition held")


def watch_pods_gone(core: client.CoreV1Api, app: str, timeout: int = 90) -> None:
    """Until no Pod of ``app`` is left, through a watch of them."""
    left = {p.metadata.name for p in core.list_namespaced_pod(NS, label_selector=f"app={app}").items}
    if not left:
        return
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_pod, NS, label_selector=f"app={app}", timeout_seconds=timeout):
        name = event["object"].metadata.name
        if event["type"] == "DELETED":
            left.discard(name)
        else:
            left.add(name)
        if not left:
            w.stop()
            return
    raise AssertionError(f"Pods of {app} still there: {sorted(left)}")


def watch_gone(list_fn: Callable[..., Any], name: str, timeout: int = 90) -> None:
    """Until the object ``name`` that ``list_fn`` lists is deleted."""
    w = watch.Watch()
    if not list_fn(NS, field_selector=f"metadata.name={name}").items:
        return
    for event in w.stream(list_fn, NS, field_selector=f"metadata.name={name}", timeout_seconds=timeout):
        if event["type"] == "DELETED":
            w.stop()
            return
    raise AssertionError(f"{name} is still there")


def running_images(core: client.CoreV1Api, app: str) -> list[str]:
    """The images of the Pods of ``app`` that run and are ready (not being deleted)."""
    out = []
    for p in core.list_namespaced_pod(NS, label_selector=f"app={app}").items:
        statuses = p.status.container_statuses or []
        if p.metadata.deletion_timestamp is None and p.status.phase == "Running" and statuses \
                and all(s.ready and s.state.running is not None for s in statuses):
            out.append(p.spec.containers[0].image)
    return sorted(out)


def deployment_complete(d: Any) -> bool:
    st, want = d.status, d.spec.replicas
    return (st.observed_generation or 0) >= d.metadata.generation and (st.updated_replicas or 0) == want \
        and (st.replicas or 0) == want and (st.available_replicas or 0) == want


def daemon_set_complete(ds: Any) -> bool:
    st = ds.status
    return (st.observed_generation or 0) >= ds.metadata.generation and st.desired_number_scheduled > 0 \
        and (st.updated_number_scheduled or 0) == st.desired_number_scheduled \
        and (st.number_available or 0) == st.desired_number_scheduled


def test_a_deployment_with_the_kubernetes_package(api: client.ApiClient) -> None:
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    body = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web", labels={"app": "web"}),
        spec=client.V1DeploymentSpec(replicas=2, selector=client.V1LabelSelector(match_labels={"app": "web"}),
                                     template=template("web", "app:1")))
    made = apps.create_namespaced_deployment(NS, body)
    assert made.metadata.uid and made.spec.strategy.type == "RollingUpdate"
    assert made.spec.strategy.rolling_update.max_surge == "25%" and made.spec.revision_history_limit == 10
    d = watch_until(apps.list_namespaced_deployment, deployment_complete, field_selector="metadata.name=web")
    assert d.status.ready_replicas == 2 and running_images(core, "web") == ["app:1", "app:1"]

    patched = apps.patch_namespaced_deployment(
        "web", NS, {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "app:2"}]}}}})
    assert patched.spec.template.spec.containers[0].image == "app:2"
    assert patched.metadata.generation == 2
    d = watch_until(apps.list_namespaced_deployment,
                    lambda d: d.metadata.generation == 2 and deployment_complete(d),
                    field_selector="metadata.name=web")
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    assert running_images(core, "web") == ["app:2", "app:2"]
    rss = apps.list_namespaced_replica_set(NS, label_selector="app=web").items
    assert sorted(rs.spec.replicas for rs in rss) == [0, 2]

    apps.delete_namespaced_deployment("web", NS, body=client.V1DeleteOptions(propagation_policy="Foreground"))
    watch_pods_gone(core, "web")
    watch_gone(apps.list_namespaced_deployment, "web")  # gone once its dependents are
    assert apps.list_namespaced_replica_set(NS, label_selector="app=web").items == []


def test_a_daemon_set_with_the_kubernetes_package(api: client.ApiClient) -> None:
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    body = client.V1DaemonSet(
        metadata=client.V1ObjectMeta(name="agent"),
        spec=client.V1DaemonSetSpec(selector=client.V1LabelSelector(match_labels={"app": "agent"}),
                                    template=template("agent", "app:1")))
    made = apps.create_namespaced_daemon_set(NS, body)
    assert made.spec.update_strategy.type == "RollingUpdate"
    assert made.spec.update_strategy.rolling_update.max_unavailable == 1
    assert made.spec.update_strategy.rolling_update.max_surge == 0
    ds = watch_until(apps.list_namespaced_daemon_set, daemon_set_complete, field_selector="metadata.name=agent")
    assert (ds.status.desired_number_scheduled, ds.status.current_number_scheduled, ds.status.number_ready,
            ds.status.number_misscheduled) == (1, 1, 1, 0)
    assert running_images(core, "agent") == ["app:1"]
    [pod] = core.list_namespaced_pod(NS, label_selector="app=agent").items
    owner = pod.metadata.owner_references[0]
    assert (owner.kind, owner.uid, owner.controller) == ("DaemonSet", made.metadata.uid, True)

    patched = apps.patch_namespaced_daemon_set(
        "agent", NS, {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "app:2"}]}}}})
    assert patched.metadata.annotations["deprecated.daemonset.template.generation"] == "2"
    watch_until(apps.list_namespaced_daemon_set, lambda d: d.metadata.generation == 2 and daemon_set_complete(d),
                field_selector="metadata.name=agent")
    assert running_images(core, "agent") == ["app:2"]
    [pod] = core.list_namespaced_pod(NS, label_selector="app=agent").items
    assert pod.metadata.labels["pod-template-generation"] == "2"

    apps.delete_namespaced_daemon_set("agent", NS, body=client.V1DeleteOptions(propagation_policy="Background"))
    assert apps.list_namespaced_daemon_set(NS).items == []  # at once; the collector takes the Pods
    watch_pods_gone(core, "agent")
