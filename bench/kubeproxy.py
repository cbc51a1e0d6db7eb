"""The Services' rule update time (issue 16's figure "rule update time with 1,000 Services and 10,000
endpoints"), in a throw-away network namespace (the process unshares its own: no node, no daemon).

* **rules**: the node's table (``network/kubeproxy.py``) for S Services of E endpoints each (one port,
  NodePort): the first load (render + ``nft -f`` of the whole table), one endpoint made not ready
  (the difference, ``delta``, of what the node's ``Builder`` makes, loaded as one transaction), and
  the whole table loaded again for the same change (what a full replace costs); beside the same for
  a single Service, the baseline.
* **ready → rule**: the path from the store to the node: an in-memory store holding the Services and
  their EndpointSlices, the dispatcher's view (``manager/kube/netview.py``) pushed to one wired
  session whose views the node's ``KubeProxy`` loads; an endpoint's ``ready`` set in its slice, timed
  until the node's table holds it (the manager's debounce, 30 ms, included).

Prints one JSON line per case. Run as root:

    python bench/kubeproxy.py [--services 1000] [--endpoints 10] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import statistics
import subprocess
import time

import msgspec

from shoal.api.kubenet import KubeEndpoint, KubeNetSettings, KubeNetView, KubeServiceInfo, KubeServicePort
from shoal.api.types import (
    Cluster,
    EndpointConditions,
    EndpointPort,
    EndpointSlice,
    EndpointTarget,
    KubeService,
    KubeServiceSpec,
    NodeDescription,
    SliceEndpoint,
    clone,
)
from shoal.api.types import KubeServicePort as SpecPort
from shoal.manager.dispatcher import Dispatcher
from shoal.network import kubeproxy
from shoal.store.memory import MemoryBackend
from shoal.store.objects import ObjectStore

CLONE_NEWNET = 0x40000000


def unshare_net() -> None:
    if ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET)")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


def ep_ip(i: int, j: int, per: int) -> str:
    n = i * per + j
    return f"100.64.{n // 250}.{n % 250 + 1}"


def view(services: int, per: int) -> KubeNetView:
    svcs = tuple(KubeServiceInfo(
        Namespace="default", Name=f"s{i}", Type="NodePort", ClusterIP=f"172.16.{i // 250 + 10}.{i % 250 + 1}",
        Ports=(KubeServicePort(Name="http", Port=80, NodePort=30000 + i),),
        Endpoints=tuple(KubeEndpoint(IP=ep_ip(i, j, per), NodeID=f"n{j % 3}", Ports={"http": 8080})
                        for j in range(per))) for i in range(services))
    return KubeNetView(Settings=KubeNetSettings(ClusterDNS="172.16.0.10"), Services=svcs, NodeID="n0")


def one_not_ready(v: KubeNetView) -> KubeNetView:
    s = v.Services[len(v.Services) // 2]
    eps = (msgspec.structs.replace(s.Endpoints[0], Ready=False, Serving=False), *s.Endpoints[1:])
    services = list(v.Services)
    services[len(v.Services) // 2] = msgspec.structs.replace(s, Endpoints=eps)
    return msgspec.structs.replace(v, Services=tuple(services))


def timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def rules_case(services: int, per: int, repeat: int) -> dict[str, object]:
    v1 = view(services, per)
    v2 = one_not_ready(v1)
    first, change, whole, render_s = [], [], [], []
    for _ in range(repeat):
        kubeproxy.remove_table()
        first.append(timed(lambda: kubeproxy.load(kubeproxy.render(v1))))
        builder = kubeproxy.Builder()  # as the node keeps it: each Service's part of the last view
        had = builder.build(v1)
        change.append(timed(lambda b=builder, h=had: kubeproxy.load(kubeproxy.delta(h, b.build(v2)) or "")))
        kubeproxy.load(kubeproxy.render(v1))
        whole.append(timed(lambda: kubeproxy.load(kubeproxy.render(v2))))
        render_s.append(timed(lambda: kubeproxy.build(v2)))  # every Service made
    kubeproxy.remove_table()
    ms = lambda xs: round(statistics.median(xs) * 1000, 1)  # noqa: E731
    return {"case": "rules", "services": services, "endpoints": services * per,
            "first_load_ms": ms(first), "one_endpoint_changed_ms": ms(change),
            "one_endpoint_changed_whole_table_ms": ms(whole), "build_ms": ms(render_s), "repeat": repeat}


async def ready_case(services: int, per: int, repeat: int) -> dict[str, object]:
    store = ObjectStore(MemoryBackend())
    await store.load()
    await store.create(Cluster(ID="c1"))
    objs: list[object] = []
    for i in range(services):
        port = SpecPort(Name="http", Port=80, TargetPort=8080)
        objs.append(KubeService(ID=f"svc{i}", Name=f"s{i}", Namespace="default", Spec=KubeServiceSpec(
            ClusterIP=f"172.16.{i // 250 + 10}.{i % 250 + 1}", Ports=[port])))
        eps = [SliceEndpoint(Addresses=[ep_ip(i, j, per)], Conditions=EndpointConditions(Ready=j != 0),
                             TargetRef=EndpointTarget(Name=f"p{i}-{j}", UID=f"u{i}-{j}")) for j in range(per)]
        objs.append(EndpointSlice(ID=f"sl{i}", Name=f"s{i}-x", Namespace="default", Endpoints=eps,
                                  Labels={"kubernetes.io/service-name": f"s{i}"},
                                  Ports=[EndpointPort(Name="http", Port=8080)]))
    for k in range(0, len(objs), 1000):
        await store.commit(creates=objs[k:k + 1000])
    d = Dispatcher(store)
    d.start()
    session = await d.register("n0", NodeDescription(Hostname="n0"), "10.213.1.1", kube_network=True)
    kp = kubeproxy.KubeProxy()

    async def follow() -> None:
        while (msg := await session.assignments()) is not None:
            if msg.kube is not None:
                await kp.consume(msg.kube)

    follower = asyncio.create_task(follow())
    while kp.loads == 0:
        kp.loaded.clear()
        await kp.loaded.wait()
    def holds(target: str) -> bool:
        return kp.model is not None and any(target in rule for rules in kp.model.chains.values() for rule in rules)

    async def set_ready(i: int, ready: bool) -> float:
        """Seconds from the slice's write to the node's table holding (or no longer holding) the endpoint."""
        target = f"dnat to {ep_ip(i, 0, per)}:8080"
        sl = clone(store.get(EndpointSlice, f"sl{i}"))
        assert sl is not None and sl.Endpoints
        sl.Endpoints[0].Conditions = EndpointConditions(Ready=ready)
        kp.loaded.clear()
        start = time.perf_counter()
        await store.update(sl)
        while holds(target) != ready:
            await kp.loaded.wait()
            kp.loaded.clear()
        return time.perf_counter() - start

    times = []
    for r in range(repeat):
        i = (services // 2 + r) % services
        if r >= services:
            await set_ready(i, False)  # (a Service used before: its endpoint made not ready again first)
        times.append(await set_ready(i, True))
    follower.cancel()
    await d.stop()
    await kp.close()
    await store.close()
    return {"case": "ready_to_rule", "services": services, "endpoints": services * per,
            "median_ms": round(statistics.median(times) * 1000, 1), "max_ms": round(max(times) * 1000, 1),
            "repeat": repeat}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--services", type=int, default=1000)
    p.add_argument("--endpoints", type=int, default=10, help="per Service")
    p.add_argument("--repeat", type=int, default=5)
    a = p.parse_args()
    unshare_net()
    for services, per in ((1, a.endpoints), (a.services, a.endpoints)):
        print(json.dumps(rules_case(services, per, a.repeat)), flush=True)
    for services, per in ((1, a.endpoints), (a.services, a.endpoints)):
        print(json.dumps(asyncio.run(ready_case(services, per, a.repeat))), flush=True)


if __name__ == "__main__":
    main()
