"""The ``kube-dns`` Service of ``kube-system``, as a kubeadm cluster has it (issue 16, part 4;
docs/design/kube-network.md, "Cluster DNS"): the cluster DNS address (``Cluster.ClusterDNS``, the
service range's tenth by default), ports 53/UDP ``dns`` and 53/TCP ``dns-tcp``, labels
``k8s-app: kube-dns``, ``kubernetes.io/cluster-service: "true"``, ``kubernetes.io/name: CoreDNS``.

The leader's Endpoints controller makes it, and makes it again when it is deleted, as it keeps the
``kubernetes`` Service (``endpoints.py``): ``ensure_dns_service`` is that controller's sync of the key
``kube-system/kube-dns``. No Pod serves it, so it has no selector and no endpoints: every node answers
at its address itself (``network/kubedns.py``), and the Services' rules leave the address alone.
"""

from __future__ import annotations

import logging

from shoal.api.errors import NotFound, ShoalError
from shoal.api.kubenet import settings_of
from shoal.api.types import Cluster, KubeService, KubeServicePort, KubeServiceSpec
from shoal.manager.kube.objects import KubeObjects
from shoal.store.objects import ObjectStore

log = logging.getLogger(__name__)

DNS_SERVICE = ("kube-system", "kube-dns")
DNS_LABELS = {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"}


def dns_service(address: str) -> KubeService:
    ns, name = DNS_SERVICE
    return KubeService(ID="", Name=name, Namespace=ns, Labels=dict(DNS_LABELS), Spec=KubeServiceSpec(
        Type="ClusterIP", ClusterIP=address, Ports=[
            KubeServicePort(Name="dns", Protocol="UDP", Port=53, TargetPort=53),
            KubeServicePort(Name="dns-tcp", Protocol="TCP", Port=53, TargetPort=53)],
        SessionAffinity="None", InternalTrafficPolicy="Cluster"))


async def ensure_dns_service(store: ObjectStore, kube: KubeObjects) -> None:
    """``kube-system/kube-dns`` made when it is missing (nothing before ``kube-system`` exists); an
    address another Service took is logged, and the Service left out."""
    ns, name = DNS_SERVICE
    try:
        kube.get("namespaces", "", ns)
    except NotFound:
        return  # (its creation wakes the key)
    try:
        kube.get("kubeservices", ns, name)
        return
    except NotFound:
        pass
    clusters = store.list(Cluster)
    address = settings_of(clusters[0] if clusters else None).ClusterDNS
    try:
        await kube.create(dns_service(address))
    except ShoalError as e:
        log.warning("the kube-dns Service at %s cannot be made: %s", address, e)
