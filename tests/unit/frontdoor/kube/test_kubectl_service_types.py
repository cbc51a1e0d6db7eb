"""A Service's type changed with the real kubectl (the registry's ``dropTypeDependentFields``: the NodePorts,
health check NodePort and traffic policy the old type had are cleared, the ports freed, the LoadBalancer
status dropped) and LoadBalancer addresses from a pool in ``kubectl get svc``'s EXTERNAL-IP, against the
Kubernetes door over an in-memory store with the LoadBalancer controller running."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shoal.api.types import Cluster
from shoal.manager.kube.loadbalancers import LoadBalancerController
from tests.unit.frontdoor.kube.apiserver import KUBECTL
from tests.unit.frontdoor.kube.fakenode import Env, serving_with
from tests.unit.frontdoor.kube.test_kubectl_fake import BINARIES, Kubectl
from tests.unit.frontdoor.kube.test_kubectl_services import rows, until

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")


async def idle_kubelet(env: Env) -> None:
    await asyncio.Event().wait()


@pytest.fixture(params=BINARIES)
async def kc(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Kubectl]:
    async with serving_with(lambda store, kube: [LoadBalancerController(store, kube)], idle_kubelet) as env:
        clusters = env.store.list(Cluster)
        if clusters:
            c = clusters[0]
            c.ServiceLBPool = "10.213.7.240-10.213.7.241"
            await env.store.commit(updates=[c])
        else:
            await env.store.commit(creates=[Cluster(ID="c1", ServiceLBPool="10.213.7.240-10.213.7.241")])
        yield Kubectl(env, tmp_path, request.param)


def external_ip(kc: Kubectl, name: str) -> str:
    svc = kc.env.kube.get("kubeservices", "default", name)
    return ",".join(i.IP for i in svc.Status.LoadBalancer or [])


async def test_type_patched_to_cluster_ip_clears_and_frees_the_node_ports(kc: Kubectl) -> None:
    await kc("create", "service", "nodeport", "np", "--tcp=80:8080", "--node-port=30080")
    _, out, _ = await kc("patch", "svc", "np", "-p", '{"spec":{"type":"ClusterIP"}}')
    assert "service/np patched" in out
    _, out, _ = await kc("get", "svc", "np", "-o", "json")
    spec = json.loads(out)["spec"]
    assert spec["type"] == "ClusterIP" and "nodePort" not in spec["ports"][0]
    assert "externalTrafficPolicy" not in spec
    await kc("create", "service", "nodeport", "np2", "--tcp=80:8080", "--node-port=30080")  # free again
    # a type change that also asks for a new NodePort is the client's: validated as sent
    rc, _, err = await kc("patch", "svc", "np2", "--type=json", "-p",
                          '[{"op":"replace","path":"/spec/type","value":"ClusterIP"},'
                          '{"op":"replace","path":"/spec/ports/0/nodePort","value":30081}]', ok=False)
    assert rc != 0
    assert "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'" in err


async def test_load_balancer_addresses_from_the_pool_and_freed_by_a_type_change(kc: Kubectl) -> None:
    await kc("create", "service", "loadbalancer", "a", "--tcp=80:8080")
    await kc("create", "service", "loadbalancer", "b", "--tcp=80:8080")
    await kc("create", "service", "loadbalancer", "c", "--tcp=80:8080")
    await until(lambda: external_ip(kc, "a") and external_ip(kc, "b"), "two addresses")
    _, out, _ = await kc("get", "svc")
    r = rows(out)
    assert sorted([r["a"][3], r["b"][3]]) == ["10.213.7.240", "10.213.7.241"] and r["c"][3] == "<pending>"
    _, out, _ = await kc("get", "events", "--field-selector", "reason=AllocationFailed")
    assert 'Failed to allocate IP for "default/c": no available IPs' in out
    freed = r["a"][3]
    await kc("patch", "svc", "a", "-p", '{"spec":{"type":"ClusterIP"}}')
    _, out, _ = await kc("get", "svc", "a")
    assert rows(out)["a"][1:4] == ["ClusterIP", rows(out)["a"][2], "<none>"]
    await until(lambda: external_ip(kc, "c") == freed, "c to get the freed address")
