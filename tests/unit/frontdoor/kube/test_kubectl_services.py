"""Services, Endpoints and EndpointSlices with the real kubectl (its dispatcher, and 1.32) against the
Kubernetes door over an in-memory store, with the ReplicaSet, Deployment, Endpoints and EndpointSlice
controllers running and a fake kubelet that makes every new Pod running and ready with an address
(10.213.x.y) and lets deleted ones go. No traffic flows through a Service yet (docs/design/services.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from shoal.api.states import TaskState
from shoal.api.types import ContainerStatus, Endpoints, EndpointSlice, clone, now_ts
from shoal.manager.kube.deployments import DeploymentController
from shoal.manager.kube.endpoints import EndpointsController
from shoal.manager.kube.endpointslices import EndpointSliceController
from shoal.manager.kube.replicasets import ReplicaSetController
from tests.unit.frontdoor.kube.apiserver import KUBECTL
from tests.unit.frontdoor.kube.fakenode import Env, serving_with
from tests.unit.frontdoor.kube.test_kubectl_fake import BINARIES, Kubectl

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")


async def fake_kubelet(env: Env) -> None:
    """Pods to running and ready as they come, each with an address; deleted ones gone."""
    n = 0
    node_id = env.kube.get("nodes", "", "node01").ID
    while True:
        for t in env.kube.list("tasks"):
            if t.DeletionTimestamp:
                with contextlib.suppress(Exception):
                    await env.store.commit(deletes=[t])
            elif t.Status.State == TaskState.NEW:
                n += 1
                t = clone(t)
                t.Status.State, t.Status.Timestamp, t.NodeID = TaskState.RUNNING, now_ts(), node_id
                t.Status.Addresses = [f"10.213.{n // 250}.{n % 250 + 2}"]
                t.Status.Containers = [ContainerStatus(Name=c.Name, State="running", Ready=True)
                                       for c in t.Spec.Containers]
                with contextlib.suppress(Exception):
                    await env.store.commit(updates=[t])
        await asyncio.sleep(0.02)


def serving_services() -> contextlib.AbstractAsyncContextManager[Env]:
    return serving_with(lambda store, kube: [
        ReplicaSetController(store, kube), DeploymentController(store, kube), EndpointsController(store, kube),
        EndpointSliceController(store, kube)], fake_kubelet)


@pytest.fixture(params=BINARIES)
async def kc(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Kubectl]:
    async with serving_services() as env:
        yield Kubectl(env, tmp_path, request.param)


def rows(out: str) -> dict[str, list[str]]:
    return {r.split()[0]: r.split() for r in out.splitlines()[1:] if r.strip()}


async def until(pred: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def endpoints_of(kc: Kubectl, name: str) -> Endpoints | None:
    return next((e for e in kc.env.kube.list("endpoints", "default") if e.Name == name), None)


def ready_ips(kc: Kubectl, name: str) -> list[str]:
    ep = endpoints_of(kc, name)
    return sorted(a.IP for ss in (ep.Subsets or []) if ep is not None for a in ss.Addresses or [])


def slices_of(kc: Kubectl, name: str) -> list[EndpointSlice]:
    return [s for s in kc.env.kube.list("endpointslices", "default")
            if (s.Labels or {}).get("kubernetes.io/service-name") == name]


async def test_expose_get_describe_delete(kc: Kubectl) -> None:
    await kc("create", "deployment", "web", "--image=nginx", "--replicas=3", "--port=80")
    await until(lambda: len([t for t in kc.env.kube.list("tasks", "default")
                             if t.Status.State == TaskState.RUNNING]) == 3, "three running Pods")
    _, out, _ = await kc("expose", "deployment", "web", "--port=80")
    assert "service/web exposed" in out
    await until(lambda: len(ready_ips(kc, "web")) == 3, "three ready addresses")
    _, out, _ = await kc("get", "svc", "web")
    head, row = out.splitlines()[0].split(), rows(out)["web"]
    assert head == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert row[1:5] == ["ClusterIP", row[2], "<none>", "80/TCP"]
    cluster_ip = row[2]
    assert cluster_ip.startswith("172.16.")
    _, out, _ = await kc("get", "svc", "web", "-o", "wide")
    assert rows(out)["web"][-1] == "app=web"
    _, out, _ = await kc("get", "endpoints", "web")
    assert out.splitlines()[0].split() == ["NAME", "ENDPOINTS", "AGE"]
    assert rows(out)["web"][1].endswith(" + 0 more...") is False
    assert rows(out)["web"][1] == ",".join(f"{ip}:80" for ip in ready_ips(kc, "web"))
    _, out, _ = await kc("get", "endpointslices", "-l", "kubernetes.io/service-name=web")
    assert out.splitlines()[0].split() == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    (name, row), = rows(out).items()
    assert name.startswith("web-") and row[1:3] == ["IPv4", "80"]
    assert sorted(row[3].split(",")) == ready_ips(kc, "web")
    _, out, _ = await kc("get", "endpointslices", name, "-o", "json")
    sl = json.loads(out)
    assert sl["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == "endpointslice-controller.k8s.io"
    assert sl["metadata"]["ownerReferences"][0]["kind"] == "Service"
    assert all(e["conditions"] == {"ready": True, "serving": True, "terminating": False} and
               e["targetRef"]["kind"] == "Pod" and e["nodeName"] == "node01" for e in sl["endpoints"])
    _, out, _ = await kc("describe", "svc", "web")
    described = {line.split(":", 1)[0]: line.split(":", 1)[1].strip() for line in out.splitlines() if ":" in line}
    assert described["Type"] == "ClusterIP" and described["TargetPort"] == "80/TCP"
    assert described["IP"] == cluster_ip and described["Selector"] == "app=web"
    assert sorted(described["Endpoints"].split(",")) == sorted(f"{ip}:80" for ip in ready_ips(kc, "web"))
    # a NodePort Service of the same Pods, and a LoadBalancer one (its EXTERNAL-IP stays pending)
    await kc("expose", "deployment", "web", "--name=web-np", "--type=NodePort", "--port=80")
    await kc("expose", "deployment", "web", "--name=web-lb", "--type=LoadBalancer", "--port=8080",
             "--target-port=80")
    _, out, _ = await kc("get", "svc")
    np, lb = rows(out)["web-np"], rows(out)["web-lb"]
    port = int(np[4].split(":")[1].split("/")[0])
    assert np[1] == "NodePort" and 30000 <= port <= 32767
    assert lb[1] == "LoadBalancer" and lb[3] == "<pending>" and lb[4].startswith("8080:")
    assert "kubernetes" in rows(out)
    await until(lambda: len(ready_ips(kc, "web-lb")) == 3, "the LoadBalancer's endpoints")
    _, out, _ = await kc("get", "endpoints", "web-lb")
    assert ":80" in rows(out)["web-lb"][1]
    # deleting a Service takes its Endpoints and EndpointSlices
    await kc("delete", "svc", "web")
    await until(lambda: endpoints_of(kc, "web") is None and not slices_of(kc, "web"), "web's endpoints gone")
    rc, _, err = await kc("get", "svc", "web", ok=False)
    assert rc != 0 and 'services "web" not found' in err


async def test_create_service_kinds(kc: Kubectl) -> None:
    await kc("create", "service", "clusterip", "cip", "--tcp=80:8080")
    await kc("create", "service", "nodeport", "np", "--tcp=80:8080", "--node-port=30080")
    await kc("create", "service", "loadbalancer", "lb", "--tcp=443:8443")
    await kc("create", "service", "externalname", "search", "--external-name=web.default.svc.cluster.local")
    await kc("create", "service", "clusterip", "headless", "--clusterip=None")
    _, out, _ = await kc("get", "svc")
    r = rows(out)
    assert r["cip"][1] == "ClusterIP" and r["cip"][4] == "80/TCP"
    assert r["np"][4] == "80:30080/TCP"
    assert r["lb"][3] == "<pending>"
    assert r["search"][1:5] == ["ExternalName", "<none>", "web.default.svc.cluster.local", "<none>"]
    assert r["headless"][2] == "None"
    rc, _, err = await kc("create", "service", "nodeport", "np2", "--tcp=80:8080", "--node-port=30080", ok=False)
    assert rc != 0
    assert ('error: failed to create NodePort service: Service "np2" is invalid: spec.ports[0].nodePort: Invalid '
            "value: 30080: provided port is already allocated") in err
    rc, _, err = await kc("create", "service", "nodeport", "np3", "--tcp=80:8080", "--node-port=40000", ok=False)
    assert rc != 0
    assert ("spec.ports[0].nodePort: Invalid value: 40000: provided port is not in the valid range. The range of "
            "valid ports is 30000-32767") in err
    cip = rows(out)["cip"][2]
    rc, _, err = await kc("create", "service", "clusterip", "same", "--tcp=80", f"--clusterip={cip}",
                          ok=False)
    assert rc != 0
    assert (f'Service "same" is invalid: spec.clusterIPs: Invalid value: []string{{"{cip}"}}: failed to '
            f"allocate IP {cip}: provided IP is already allocated") in err
    rc, _, err = await kc("create", "service", "clusterip", "far", "--tcp=80", "--clusterip=10.0.0.5",
                          ok=False)
    assert rc != 0
    assert ("failed to allocate IP 10.0.0.5: the provided IP (10.0.0.5) is not in the valid range. The range of "
            "valid IPs is 172.16.0.0/16") in err
    # what a delete frees, a create may take again
    await kc("delete", "svc", "np", "cip")
    await kc("create", "service", "nodeport", "np4", "--tcp=80:8080", "--node-port=30080")
    await kc("create", "service", "clusterip", "cip2", "--tcp=80", f"--clusterip={cip}")


async def test_invalid_services_in_the_api_servers_words(kc: Kubectl, tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: bad\nspec:\n  selector:\n    app: x\n")
    rc, _, err = await kc("apply", "-f", str(tmp_path / "bad.yaml"), ok=False)
    assert rc != 0 and 'The Service "bad" is invalid: spec.ports: Required value' in err
    (tmp_path / "ext.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: ext\nspec:\n  type: ExternalName\n")
    rc, _, err = await kc("apply", "-f", str(tmp_path / "ext.yaml"), ok=False)
    assert rc != 0 and 'The Service "ext" is invalid: spec.externalName: Required value' in err
    (tmp_path / "two.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: two\nspec:\n  ports:\n  - port: 80\n  - port: 81\n"
        "    protocol: XTP\n")
    _, _, err = await kc("apply", "-f", str(tmp_path / "two.yaml"), ok=False)
    assert "spec.ports[0].name: Required value" in err
    assert 'spec.ports[1].protocol: Unsupported value: "XTP": supported values: "SCTP", "TCP", "UDP"' in err
    (tmp_path / "ok.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: ok\nspec:\n  type: NodePort\n  selector:\n    app: x\n"
        "  ports:\n  - port: 80\n")
    await kc("apply", "-f", str(tmp_path / "ok.yaml"))
    _, out, _ = await kc("get", "svc", "ok", "-o", "json")
    spec = json.loads(out)["spec"]
    assert spec["ports"][0]["targetPort"] == 80 and spec["ports"][0]["protocol"] == "TCP"
    assert spec["sessionAffinity"] == "None" and spec["externalTrafficPolicy"] == "Cluster"
    assert spec["internalTrafficPolicy"] == "Cluster" and spec["ipFamilies"] == ["IPv4"]
    assert spec["ipFamilyPolicy"] == "SingleStack" and spec["clusterIPs"] == [spec["clusterIP"]]
    node_port = spec["ports"][0]["nodePort"]
    # a re-apply (which sends no nodePort) keeps the allocated one
    (tmp_path / "ok.yaml").write_text((tmp_path / "ok.yaml").read_text() + "    name: http\n")
    await kc("apply", "-f", str(tmp_path / "ok.yaml"))
    _, out, _ = await kc("get", "svc", "ok", "-o", "json")
    assert json.loads(out)["spec"]["ports"][0]["nodePort"] == node_port
