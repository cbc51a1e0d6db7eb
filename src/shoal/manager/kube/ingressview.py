"""The Ingresses part of the view every node is sent (``api/kubenet.KubeNetView.Ingresses``): the
Ingresses shoal serves reduced to what a node's nginx needs, with their TLS certificates.

* ``ingresses_view(store)``: every Ingress of class ``shoal`` (or of another class whose controller is
  shoal's, or of none when the default class is shoal's: ``ingressclass.served_by_shoal``), not being
  deleted, sorted by (namespace, name), as ``KubeIngressInfo``: its rules (host, paths with their
  path type and the backend Service's name and port number or name), its default backend, and its
  TLS entries with ``tls.crt``/``tls.key`` of the named Secret of its namespace (``Cert``/``Key`` ""
  when the Secret is missing, is not ``kubernetes.io/tls`` or lacks a key: the node leaves those
  hosts out of HTTPS). Paths of type ``ImplementationSpecific`` are served as ``Prefix`` (an empty one
  as ``/``); a resource backend (not a Service) is left out, as are rules without ``http``.
* ``view_changed(change)``: whether a store change can change that part (an Ingress, an IngressClass,
  a Kubernetes Secret of type ``kubernetes.io/tls``): the view builder rebuilds on those.

The Services the paths name come with the view's ``Services`` (their ready endpoints), which the view
builder makes; the node joins the two.
"""

from __future__ import annotations

from shoal.api.kubenet import KubeIngressInfo, KubeIngressPath, KubeIngressRule, KubeIngressTLS
from shoal.api.types import Ingress, IngressBackend, IngressClass, IngressPath, Secret
from shoal.manager.kube.ingressclass import served_by_shoal
from shoal.store.objects import Change, ObjectStore

TLS_SECRET = "kubernetes.io/tls"
VIEW_KINDS = frozenset({"ingresses", "ingressclasses", "secrets"})


def _backend(b: IngressBackend, path: str = "/", path_type: str = "Prefix") -> KubeIngressPath | None:
    if not b.Service:
        return None  # a resource backend: not served
    return KubeIngressPath(Path=path, PathType=path_type, Service=b.Service, Port=b.Port, PortName=b.PortName)


def _path(p: IngressPath) -> KubeIngressPath | None:
    kind = p.PathType if p.PathType in ("Exact", "Prefix") else "Prefix"
    return _backend(p.Backend, p.Path or "/", kind)


def _text(data: bytes | None) -> str:
    return data.decode("utf-8", "replace") if data else ""


def tls_secrets(store: ObjectStore) -> dict[tuple[str, str], Secret]:
    """The Kubernetes Secrets of type ``kubernetes.io/tls`` by (namespace, name)."""
    secrets: list[Secret] = store.list(Secret)
    return {(s.Namespace, s.Spec.Name or s.Name): s for s in secrets if s.Namespace and s.Spec.Type == TLS_SECRET}


def ingress_info(ing: Ingress, secrets: dict[tuple[str, str], Secret]) -> KubeIngressInfo:
    """One Ingress as a node's proxy needs it."""
    rules = []
    for r in ing.Spec.Rules or []:
        paths = tuple(p for p in (_path(x) for x in r.Paths or []) if p is not None)
        if paths:
            rules.append(KubeIngressRule(Host=r.Host, Paths=paths))
    tls = []
    for t in ing.Spec.TLS or []:
        found = secrets.get((ing.Namespace, t.SecretName)) if t.SecretName else None
        items = found.Spec.Items or {} if found is not None else {}
        cert, key = _text(items.get("tls.crt")), _text(items.get("tls.key"))
        if not cert or not key:
            cert = key = ""
        tls.append(KubeIngressTLS(Hosts=tuple(t.Hosts or ()), SecretName=t.SecretName, Cert=cert, Key=key))
    default = _backend(ing.Spec.DefaultBackend) if ing.Spec.DefaultBackend is not None else None
    return KubeIngressInfo(Namespace=ing.Namespace, Name=ing.Name, Rules=tuple(rules), DefaultBackend=default,
                           TLS=tuple(tls))


def ingresses_view(store: ObjectStore) -> tuple[KubeIngressInfo, ...]:
    """The Ingresses shoal serves, reduced and sorted (see the module's docstring)."""
    ingresses: list[Ingress] = store.list(Ingress)
    classes: list[IngressClass] = store.list(IngressClass)
    served = sorted((i for i in ingresses if not i.DeletionTimestamp and served_by_shoal(i, classes)),
                    key=lambda i: (i.Namespace, i.Name))
    if not served:
        return ()
    secrets = tls_secrets(store) if any(i.Spec.TLS for i in served) else {}
    return tuple(ingress_info(i, secrets) for i in served)


def view_changed(ch: Change) -> bool:
    """Whether a store change may change ``ingresses_view`` (an Ingress, a class, a TLS Secret)."""
    if ch.kind in ("ingresses", "ingressclasses"):
        return True
    if ch.kind == "secrets":
        return any(s is not None and s.Namespace and s.Spec.Type == TLS_SECRET for s in (ch.old, ch.new))
    return False
