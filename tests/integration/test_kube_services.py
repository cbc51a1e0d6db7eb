"""Services with the real kubectl over an in-process cluster of hollow nodes (``shoal sim``), its
Kubernetes door served on loopback (plain http, as the unit tests serve it): ``expose``, ``get``,
``describe`` and ``delete`` of Services, the Endpoints and EndpointSlices the manager's controllers keep
for them, and what a deletion frees.

Hollow nodes run no processes and have no pod network: their Pods report no IP, so, as Kubernetes
leaves out a Pod without ``status.podIP``, the Endpoints have no addresses and the slices no
endpoints (the empty placeholder slice). The test gives the Pods the address their node would report
(the task status a networked node writes) to see them listed. No traffic flows through a Service yet
(docs/design/services.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from tests.integration import kubesim
from tests.integration.kubesim import manager
from tests.unit.frontdoor.kube.apiserver import KUBECTL
from tests.unit.frontdoor.kube.test_kubectl_fake import Kubectl

from shoal import sim
from shoal.api.states import TaskState
from shoal.api.types import Task, clone
from shoal.frontdoor.kube.app import make_app

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
GiB = 1 << 30


@dataclass
class Served:
    url: str


async def wait_for(pred: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    await kubesim.wait_for(pred, what, timeout)


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[sim.Sim, Kubectl]]:
    async with kubesim.kube_sim(tmp_path / "sim", 3, cpus=4, memory=4 * GiB) as s:
        server = TestServer(make_app(s.daemon), host="127.0.0.1")
        await server.start_server()
        try:
            (tmp_path / "kc").mkdir()
            kc = Kubectl(Served(str(server.make_url("/")).rstrip("/")), tmp_path / "kc")  # type: ignore[arg-type]
            yield s, kc
        finally:
            await server.close()


def rows(out: str) -> dict[str, list[str]]:
    return {r.split()[0]: r.split() for r in out.splitlines()[1:] if r.strip()}


def running(s: sim.Sim) -> list[Task]:
    return [t for t in manager(s).kube.list("tasks", "default") if t.Status.State == TaskState.RUNNING]


async def test_expose_get_describe_delete_on_hollow_nodes(cluster: tuple[sim.Sim, Kubectl]) -> None:
    s, kc = cluster
    m = manager(s)
    await kc("create", "deployment", "web", "--image=nginx", "--replicas=3", "--port=80")
    await wait_for(lambda: len(running(s)) == 3, "three running Pods")
    _, out, _ = await kc("expose", "deployment", "web", "--port=80", "--target-port=80")
    assert "service/web exposed" in out
    await wait_for(lambda: any(sl.Name.startswith("web-") for sl in m.kube.list("endpointslices", "default")),
                   "web's slice")
    _, out, _ = await kc("get", "svc")
    r = rows(out)
    assert r["kubernetes"][1:5] == ["ClusterIP", "172.16.0.1", "<none>", "443/TCP"]
    assert r["web"][1] == "ClusterIP" and r["web"][2].startswith("172.16.") and r["web"][4] == "80/TCP"
    # hollow Pods have no IP: no addresses yet (Kubernetes leaves such a Pod out), an empty slice
    _, out, _ = await kc("get", "endpoints", "web")
    assert rows(out)["web"][1] == "<none>"
    _, out, _ = await kc("get", "endpointslices", "-l", "kubernetes.io/service-name=web")
    ((_, row),) = rows(out).items()
    assert row[1:4] == ["IPv4", "<unset>", "<unset>"]
    # the address a networked node would report
    for i, t in enumerate(sorted(running(s), key=lambda t: t.Name)):
        t = clone(t)
        t.Status.Addresses = [f"10.213.9.{i + 2}"]
        await m.store.commit(updates=[t])
    want = [f"10.213.9.{i + 2}:80" for i in range(3)]
    await wait_for(lambda: len(m.kube.get("endpoints", "default", "web").Subsets or []) == 1, "web's endpoints")
    _, out, _ = await kc("get", "endpoints", "web")
    assert sorted(rows(out)["web"][1].split(",")) == want
    _, out, _ = await kc("get", "endpointslices", "-l", "kubernetes.io/service-name=web")
    ((_, row),) = rows(out).items()
    assert row[1:3] == ["IPv4", "80"] and sorted(row[3].split(",")) == [w[:-3] for w in want]
    _, out, _ = await kc("describe", "svc", "web")
    assert "Selector:                 app=web" in out and "TargetPort:               80/TCP" in out
    # a NodePort Service and a LoadBalancer one of the same Pods
    await kc("expose", "deployment", "web", "--name=web-np", "--type=NodePort", "--port=80")
    await kc("expose", "deployment", "web", "--name=web-lb", "--type=LoadBalancer", "--port=8080",
             "--target-port=80")
    # without a LoadBalancer pool, the ready nodes' addresses (hollow nodes all report loopback)
    await wait_for(lambda: m.kube.get("kubeservices", "default", "web-lb").Status.LoadBalancer, "web-lb's address")
    _, out, _ = await kc("get", "svc", "-o", "wide")
    r = rows(out)
    assert r["web-np"][1] == "NodePort" and 30000 <= int(r["web-np"][4].split(":")[1].split("/")[0]) <= 32767
    assert r["web-lb"][3] == "127.0.0.1" and r["web-lb"][-1] == "app=web"
    # deleting the Services takes their Endpoints and slices, and frees their addresses
    await kc("delete", "svc", "web", "web-np", "web-lb")
    await wait_for(lambda: not [e for e in m.kube.list("endpoints", "default") if e.Name.startswith("web")]
                   and not [x for x in m.kube.list("endpointslices", "default") if x.Name.startswith("web")],
                   "the endpoints gone")
    _, out, _ = await kc("get", "svc")
    assert list(rows(out)) == ["kubernetes"]
