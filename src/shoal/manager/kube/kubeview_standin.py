"""STAND-IN, TO DROP AT MERGE: a minimal sender of the Kubernetes network view, so the Ingress e2e test
(tests/e2e/test_kube_ingress.py) can run on the kubeingress branch before the real view builder and its
push (the kubeproxy helper's part of issue 16) are merged. The lead replaces it with that builder, into
which ``ingressview.ingresses_view`` and ``ingressview.view_changed`` plug; delete this file and its
one line in ``manager/manager.py`` then.

What it does, crudely: on a change of a kind the view is made of (and once a second, for sessions that
registered meanwhile), the leader makes ``KubeNetView(Services=..., Ingresses=ingresses_view(store))``
(Services reduced from their objects and EndpointSlices) and pushes it to every session that wires
Pods' networks whose last view differs.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from shoal.api.kubenet import KubeEndpoint, KubeNetView, KubeServiceInfo, KubeServicePort, settings_of
from shoal.api.types import Cluster, EndpointSlice, KubeService, Node
from shoal.manager.dispatcher import Dispatcher, Session
from shoal.manager.kube.ingressview import ingresses_view
from shoal.manager.workqueue import Batch, Clock, Controller
from shoal.protocol import Assignments
from shoal.store.objects import Change, ObjectStore

KEY = "view"
KINDS = frozenset({"ingresses", "ingressclasses", "secrets", "kubeservices", "endpointslices", "nodes"})


def services_view(store: ObjectStore) -> tuple[KubeServiceInfo, ...]:
    svcs: list[KubeService] = store.list(KubeService)
    slices: list[EndpointSlice] = store.list(EndpointSlice)
    out = []
    for svc in sorted(svcs, key=lambda s: (s.Namespace, s.Name)):
        eps = []
        for sl in slices:
            if sl.Namespace != svc.Namespace or (sl.Labels or {}).get("kubernetes.io/service-name") != svc.Name:
                continue
            ports = {p.Name: p.Port for p in sl.Ports or []}
            for e in sl.Endpoints or []:
                if e.Addresses:
                    c, ref = e.Conditions, e.TargetRef
                    eps.append(KubeEndpoint(IP=e.Addresses[0], Ready=c.Ready is not False,
                                            Serving=c.Serving is not False, Terminating=c.Terminating is True,
                                            NodeName=e.NodeName, Ports=ports, Hostname=e.Hostname,
                                            PodName=ref.Name if ref else "", PodNamespace=ref.Namespace if ref else ""))
        out.append(KubeServiceInfo(
            Namespace=svc.Namespace, Name=svc.Name, Type=svc.Spec.Type, ClusterIP=svc.Spec.ClusterIP,
            Ports=tuple(KubeServicePort(Name=p.Name, Protocol=p.Protocol, Port=p.Port, NodePort=p.NodePort)
                        for p in svc.Spec.Ports or []),
            ExternalName=svc.Spec.ExternalName, PublishNotReadyAddresses=svc.Spec.PublishNotReadyAddresses,
            Endpoints=tuple(eps)))
    return tuple(out)


class KubeViewStandIn(Controller):
    name = "kubeview-standin"

    def __init__(self, store: ObjectStore, dispatcher: Callable[[], Dispatcher | None],
                 clock: Clock = time.monotonic) -> None:
        super().__init__(clock)
        self.store = store
        self.dispatcher = dispatcher  # the manager's, while it leads
        self.sent: dict[str, tuple[Session, KubeNetView]] = {}

    def seed(self) -> None:
        self._unsubscribe = self.store.subscribe(self.on_change)
        self.queue.add(KEY)

    def on_change(self, ch: Change) -> None:
        if ch.kind in KINDS:
            self.queue.add(KEY)

    async def handle(self, batch: Batch) -> None:
        disp = self.dispatcher()
        sessions = [(n, s) for n, s in disp.sessions.items() if s.kube_network] if disp is not None else []
        if sessions:
            clusters: list[Cluster] = self.store.list(Cluster)
            nodes: list[Node] = self.store.list(Node)
            view = KubeNetView(Settings=settings_of(clusters[0] if clusters else None),
                               Services=services_view(self.store), Ingresses=ingresses_view(self.store),
                               NodeAddrs={n.ID: n.Status.Addr for n in nodes if n.Status.Addr})
            for node_id, sess in sessions:
                have = self.sent.get(node_id)
                if have is None or have[0] is not sess or have[1] != view:
                    sess.push(Assignments(kube=view))
                    self.sent[node_id] = (sess, view)
        for key in batch.keys:
            batch.succeeded(key)
        self.queue.add_after(KEY, 1.0)
