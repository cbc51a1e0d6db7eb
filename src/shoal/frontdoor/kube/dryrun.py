"""The Pods' dry run at the door (``shoal kube dry-run -f FILE``): a manifest's objects read as a
create reads them, the core asked where their Pods would go, the answer in this door's words.

The request (``POST /shoal/kube/dry-run?namespace=NS`` on the Docker socket, shoal's own prefix, as
the service dry run) carries the manifest's documents as a JSON list (the CLI reads the YAML, as
kubectl does; a ``List`` is flattened). Each is checked as ``rest.py`` checks a create: its kind
must be served (``no matches for kind``), its fields known to the wire type (strict, as kubectl asks),
a name given, and ``convert.to_core`` defaults and validates it, so a bad manifest is refused in the
API server's words (``Deployment "x" is invalid: …``). Objects without a namespace take the
request's. Nothing is written: the core (``Kube.plan_pods``) makes the Pods as the controllers would
and places them, one after another, as the scheduler would.

The answer names each Pod's object as kubectl does (``deployment.apps/web``, ``pod/db``), lists the
objects that make no Pods (``Skipped``), and on an error is a ``Status`` whose ``message`` is the line
kubectl would print: ``The Deployment "x" is invalid: spec.template.spec.containers[0].image: Required
value``, ``Error from server (NotFound): namespaces "x" not found``.
"""

from __future__ import annotations

import json
from typing import Any

from shoal.api.control import PodPlan
from shoal.api.errors import ShoalError
from shoal.frontdoor.kube import convert, status, wire
from shoal.frontdoor.kube.replies import KubeError, error_status
from shoal.frontdoor.kube.resources import Resource, by_kind
from shoal.frontdoor.kube.rest import check_kind
from shoal.nodeapi import NodeAPI

# The resources whose objects make Pods (the core makes them as their controllers would).
MAKE_PODS = frozenset({"pods", "replicasets", "deployments", "daemonsets", "jobs"})


def documents(body: Any) -> list[dict[str, Any]]:
    """The manifest's objects: the documents given, a ``List``'s items in its place, empty ones left out."""
    if not isinstance(body, list):
        body = [body]
    out: list[dict[str, Any]] = []
    for doc in body:
        if doc is None or doc == {}:
            continue
        if not isinstance(doc, dict):
            raise KubeError(status.bad_request(f"error: unable to decode a document: expected an object, got {doc!r}"))
        if str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
            out.extend(documents(doc.get("items") or []))
        else:
            out.append(doc)
    return out


def read(doc: dict[str, Any], namespace: str) -> tuple[Resource, Any]:
    """One document as its served resource and core object, checked as a create checks it."""
    kind, api_version = doc.get("kind") or "", doc.get("apiVersion") or ""
    if not kind or not api_version:
        missing = "Kind" if not kind else "apiVersion"
        text = json.dumps(doc, separators=(",", ":"))
        raise KubeError(status.bad_request(f"error: Object '{missing}' is missing in '{text}'"))
    resource = by_kind(api_version, kind)
    if resource is None:
        raise KubeError(status.bad_request(f'error: no matches for kind "{kind}" in version "{api_version}"'))
    try:
        wire.decoder(resource.wire_type, strict=True).convert(doc)
    except wire.DecodeError as e:
        raise KubeError(status.cannot_handle(resource.kind, resource.api_version, str(e))) from None
    check_kind(resource, doc)
    meta = doc.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise KubeError(status.cannot_handle(resource.kind, resource.api_version, "metadata: expected an object"))
    ns = ""
    if resource.namespaced:
        ns = meta.get("namespace") or namespace
        meta["namespace"] = ns
    if not meta.get("name") and not meta.get("generateName"):
        raise KubeError(status.invalid(resource.kind, "", [
            ("metadata.name", "FieldValueRequired", "name or generateName is required")]))
    return resource, convert.to_core(resource.resource, doc, namespace=ns)


def shown(resource: Resource, doc: dict[str, Any]) -> str:
    """An object as kubectl names it: ``deployment.apps/web``, ``pod/db``."""
    kind = resource.kind.lower() + (f".{resource.group}" if resource.group else "")
    return f"{kind}/{doc['metadata'].get('name') or doc['metadata'].get('generateName', '')}"


def kubectl_line(body: dict[str, Any]) -> str:
    """The line kubectl prints for a ``Status``: ``The Pod "x" is invalid: <cause>`` (several causes one
    a line, each after ``* ``), else ``Error from server (<reason>): <message>``."""
    details = body.get("details") or {}
    if body.get("reason") == "Invalid" and (details.get("kind") or details.get("name")):
        prefix = f'The {details.get("kind", "")} "{details.get("name", "")}" is invalid'
        causes = [f"{c['field']}: {c['message']}" if c.get("field") else c["message"]
                  for c in details.get("causes") or []]
        if not causes:
            return prefix
        if len(causes) == 1:
            return f"{prefix}: {causes[0]}"
        return prefix + ": \n" + "\n".join(f"* {c}" for c in causes)
    message = str(body.get("message", ""))
    if message.startswith("error: "):
        return message
    return f"Error from server ({body.get('reason', 'InternalError')}): {message}"


def answer(node: NodeAPI, body: Any, namespace: str) -> tuple[int, dict[str, Any]]:
    """The dry run's answer: (200, the Pods' placement) or (an error code, a ``Status`` whose message is
    kubectl's line)."""
    try:
        return 200, _plan(node, body, namespace or "default")
    except KubeError as e:
        code, st = e.code, e.body
    except ShoalError as e:
        code, st = error_status(e)
    return code, {**st, "message": kubectl_line(st)}


def _plan(node: NodeAPI, body: Any, namespace: str) -> dict[str, Any]:
    objs: list[Any] = []
    names: list[str] = []
    skipped: list[str] = []
    made: list[str] = []
    for doc in documents(body):
        resource, core = read(doc, namespace)
        if resource.resource == "namespaces":
            made.append(core.Name)
        if resource.resource in MAKE_PODS:
            objs.append(core)
            names.append(shown(resource, doc))
        else:
            skipped.append(shown(resource, doc))
    plan: PodPlan = node.kube().plan_pods(objs, made) if objs else PodPlan()
    pods = [{"Namespace": p.Namespace, "Source": names[p.Object], "Replica": p.Replica, "Replicas": p.Replicas,
             "Node": p.Node, "Nodes": [{"Node": v.Node, "Reasons": v.Reasons or []} for v in p.Nodes],
             "Err": p.Err} for p in plan.Pods]
    return {"Pods": pods, "Skipped": skipped}
