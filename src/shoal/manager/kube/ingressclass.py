"""Which IngressClass an Ingress is of, and the DefaultIngressClass admission (networking.k8s.io/v1).

* the default class: of the classes marked ``ingressclass.kubernetes.io/is-default-class: "true"``, the
  one made last (kube-apiserver's choice since 1.30, where several were refused before);
* ``admit_ingress_class``: Kubernetes' DefaultIngressClass admission plugin, run by
  ``KubeObjects._prepare`` on every Ingress created whichever door it comes from: an Ingress without
  ``spec.ingressClassName`` and without the old ``kubernetes.io/ingress.class`` annotation gets the
  default class's name (none when there is no default class);
* ``served_by_shoal``: whether shoal's ingress proxy serves an Ingress: its class is ``shoal`` (the
  class the leader makes, ``ingresses.py``) or one whose controller is shoal's.

Pure functions of the objects (the view builder and the controller both use them).
"""

from __future__ import annotations

from shoal.api.types import DEFAULT_INGRESS_CLASS_ANNOTATION, Ingress, IngressClass, parse_ts

__all__ = [
    "DEFAULT_INGRESS_CLASS_ANNOTATION",
    "LEGACY_CLASS_ANNOTATION",
    "SHOAL_CLASS",
    "SHOAL_CONTROLLER",
    "admit_ingress_class",
    "class_of",
    "default_class",
    "is_default_class",
    "served_by_shoal",
]

SHOAL_CLASS = "shoal"
SHOAL_CONTROLLER = "shoal.dev/ingress-nginx"
LEGACY_CLASS_ANNOTATION = "kubernetes.io/ingress.class"


def is_default_class(c: IngressClass) -> bool:
    return (c.Annotations or {}).get(DEFAULT_INGRESS_CLASS_ANNOTATION) == "true"


def default_class(classes: list[IngressClass]) -> IngressClass | None:
    """The default IngressClass: of those marked default, the one made last (None: none is)."""
    marked = [c for c in classes if is_default_class(c) and not c.DeletionTimestamp]
    if not marked:
        return None
    return max(marked, key=lambda c: (parse_ts(c.CreatedAt) if c.CreatedAt else 0.0, c.Name))


def admit_ingress_class(ing: Ingress, classes: list[IngressClass]) -> None:
    """The DefaultIngressClass admission: an Ingress asking for no class gets the default's name."""
    if ing.Spec.IngressClassName is not None or LEGACY_CLASS_ANNOTATION in (ing.Annotations or {}):
        return
    found = default_class(classes)
    if found is not None:
        ing.Spec.IngressClassName = found.Name


def class_of(ing: Ingress, classes: list[IngressClass]) -> str:
    """The class an Ingress is of: its ``ingressClassName``, the old annotation, else the default's."""
    if ing.Spec.IngressClassName:
        return ing.Spec.IngressClassName
    legacy = (ing.Annotations or {}).get(LEGACY_CLASS_ANNOTATION, "")
    if legacy:
        return legacy
    found = default_class(classes)
    return found.Name if found is not None else ""


def served_by_shoal(ing: Ingress, classes: list[IngressClass]) -> bool:
    """Whether shoal's nginx serves an Ingress: its class is ``shoal`` or one whose controller is shoal's."""
    name = class_of(ing, classes)
    if name == SHOAL_CLASS:
        return True
    return any(c.Name == name and c.Spec.Controller == SHOAL_CONTROLLER for c in classes)
