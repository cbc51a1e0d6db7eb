"""The generic REST handlers of every served resource: list, get, create, update, patch, delete, and
the status subresource, over the core's object API (``nodeapi.Kube``).

A request names a ``Target`` (the resource from ``resources.py``, the namespace, the name, the
subresource). Bodies are read as the client sent them (JSON, YAML, protobuf), checked against the wire
types as ``fieldValidation`` asks, turned into core objects by ``convert.py`` and written through the
core, which keeps the rules (names unique per namespace, stale versions, graceful deletion). Answers
are the object as the core now holds it, in Kubernetes' JSON (or a Table when the client asks). An
update keeps what the client may not change (identity, times, a Pod's placement and status:
``carry``) and is checked by ``convert.validate_update``; a write of the status subresource changes
nothing (a Pod's status is what its node reports); a Node's write goes through the core's cordon and
the control API's node update. A deletion answers with the object while it terminates (a Pod's grace,
finalizers: ``propagationPolicy`` Foreground and Orphan add the garbage collector's), and once it is
gone with a Success ``Status`` (a Pod: with the Pod, as Kubernetes answers).

Lists are sorted by namespace and name; ``limit`` cuts them, and the ``continue`` token (opaque:
base64 JSON of the list's revision and the last key served) resumes after that key.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import web

from shoal.api import nodelabels, selectors
from shoal.api.errors import NotFound
from shoal.api.types import Node, Task, TaskSpec, clone, containers_of
from shoal.frontdoor.kube import apply, convert, openapi, patch, protobuf, status, tables, wire
from shoal.frontdoor.kube.replies import JSON, KubeError, reply, send, success
from shoal.frontdoor.kube.resources import Resource
from shoal.nodeapi import Kube, NodeAPI

YAML = "application/yaml"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH)
BODY_TYPES = (JSON, YAML, protobuf.PROTOBUF)

# The core's kind of each resource (``nodeapi.Kube``'s words).
CORE_KIND = {"pods": "tasks", "configmaps": "configs", "secrets": "secrets", "events": "events",
             "serviceaccounts": "serviceaccounts", "nodes": "nodes", "namespaces": "namespaces",
             "deployments": "deployments", "replicasets": "replicasets"}
CORE_KIND["daemonsets"] = "daemonsets"
CORE_KIND["controllerrevisions"] = "controllerrevisions"

CORE_KIND.update({"jobs": "jobs", "cronjobs": "cronjobs"})  # batch/v1
CORE_KIND.update({"services": "kubeservices", "endpoints": "endpoints", "endpointslices": "endpointslices"})
CORE_KIND.update({"ingresses": "ingresses", "ingressclasses": "ingressclasses"})  # networking.k8s.io/v1

# The fields every kind can be selected by.
DEFAULT_FIELDS = ("metadata.name", "metadata.namespace")
# Metadata the server keeps whatever a write says (the core's own fields of every object).
_SERVER_META = ("ID", "Version", "CreatedAt", "UpdatedAt", "Namespace", "Name", "GenerateName", "Generation",
                "ObservedGeneration", "DeletionTimestamp", "DeletionGracePeriodSeconds")
# Metadata a write replaces.
_USER_META = ("Labels", "Annotations", "Finalizers", "ManagedFields", "OwnerReferences", "Owner")


@dataclass(frozen=True)
class Target:
    """What a request is about: a resource, a namespace ("" for every one, or a cluster-scoped
    resource), an object's name ("" for the collection) and a subresource ("" for the object)."""

    resource: Resource
    namespace: str = ""
    name: str = ""
    sub: str = ""

    @property
    def kind(self) -> str:
        """The core's kind (``tasks`` for pods)."""
        return CORE_KIND[self.resource.resource]


# ---------------------------------------------------------------- small helpers


def qbool(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "t", "true")


def qint(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name, "")
    if raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise KubeError(status.bad_request(f'invalid value for {name}: strconv.ParseInt: parsing "{raw}": '
                                           "invalid syntax")) from None


def dry_run(request: web.Request) -> bool:
    values = request.query.getall("dryRun", [])
    for v in values:
        if v != "All":
            raise KubeError(status.bad_request(f'dryRun: Unsupported value: "{v}": supported values: "All"'))
    return bool(values)


class NodeLookup:
    """The nodes' Kubernetes names and addresses by ID (a Pod's ``spec.nodeName`` and ``status.hostIP``),
    read once when first asked for and again for a node not seen yet."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self._names: dict[str, str] | None = None
        self._addrs: dict[str, str] = {}

    def _load(self, node_id: str) -> dict[str, str]:
        if self._names is None or node_id not in self._names:
            nodes = self.kube.list("nodes")
            self._names = {n.ID: nodelabels.node_name(n) for n in nodes}
            self._addrs = {n.ID: n.Status.Addr for n in nodes}
        return self._names

    def name(self, node_id: str) -> str:
        return self._load(node_id).get(node_id, "")

    def addr(self, node_id: str) -> str:
        self._load(node_id)
        return self._addrs.get(node_id, "")


def to_wire(resource: Resource, obj: Any, nodes: NodeLookup) -> dict[str, Any]:
    """A core object as Kubernetes' JSON (a Pod's node by name)."""
    return convert.to_wire(resource.resource, obj, node_name=nodes.name, node_addr=nodes.addr)


def key_of(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def encode_continue(revision: int, last: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": last}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_continue(token: str) -> tuple[int, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(data["rv"]), str(data["start"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise KubeError(status.bad_request("continue key is not valid: illegal base64 data at input byte 0")) \
            from None


# ---------------------------------------------------------------- reading bodies


def media_type(request: web.Request) -> str:
    """The body's media type; none given is JSON (the API server takes its first serializer)."""
    return request.content_type if "Content-Type" in request.headers else JSON


async def read_body(request: web.Request, accepted: tuple[str, ...] = BODY_TYPES) -> Any:
    """The request's body as JSON values, from JSON, YAML or a protobuf envelope (415 for others)."""
    ctype = media_type(request)
    raw = await request.read()
    if ctype not in accepted and not (ctype == "application/x-yaml" and YAML in accepted):
        raise KubeError(status.unsupported_media_type(ctype, tuple(t for t in accepted if t in BODY_TYPES)
                                                      or accepted))
    try:
        if ctype == protobuf.PROTOBUF:
            return protobuf.decode(raw)
        if ctype in (YAML, "application/x-yaml", APPLY_PATCH):
            return yaml.safe_load(raw) if raw.strip() else {}
        return json.loads(raw) if raw.strip() else {}
    except protobuf.ProtobufError as e:
        raise KubeError(status.bad_request(str(e))) from None
    except (ValueError, yaml.YAMLError) as e:
        raise KubeError(status.bad_request(f"the body of the request could not be decoded: {e}")) from None


def validate_fields(request: web.Request, resource: Resource, obj: Any, warnings: list[str],
                    strict_default: bool = False) -> None:
    """Check ``obj`` against the resource's wire type: unknown fields are an error with
    ``fieldValidation=Strict``, a ``Warning`` with ``Warn``, ignored with ``Ignore``; a value of the
    wrong type is always an error."""
    mode = request.query.get("fieldValidation", "Strict" if strict_default else "Warn")
    if mode not in ("Strict", "Warn", "Ignore"):
        raise KubeError(status.bad_request(f"fieldValidation parameter unsupported: {mode}"))
    if media_type(request) == protobuf.PROTOBUF:
        mode = "Ignore"  # a protobuf body has only the message's fields (and every zero value: selfLink "")
    if not isinstance(obj, dict):
        raise KubeError(status.cannot_handle(resource.kind, resource.api_version,
                                             "json: cannot unmarshal into Go value of type " + resource.kind))
    try:
        wire.decoder(resource.wire_type, strict=mode == "Strict").convert(obj)
    except wire.DecodeError as e:
        raise KubeError(status.cannot_handle(resource.kind, resource.api_version, str(e))) from None
    if mode == "Warn":
        warnings.extend(f'unknown field "{path}"' for path in wire.unknown_fields(resource.wire_type, obj))


def warning_headers(warnings: list[str]) -> dict[str, str]:
    if not warnings:
        return {}
    return {"Warning": ", ".join('299 - ' + json.dumps(w) for w in warnings)}


def check_kind(resource: Resource, obj: dict[str, Any]) -> None:
    """Fill ``apiVersion`` and ``kind`` when missing; refuse another kind."""
    kind = obj.get("kind") or resource.kind
    api_version = obj.get("apiVersion") or resource.api_version
    if kind != resource.kind or api_version != resource.api_version:
        raise KubeError(status.bad_request(
            f'the API version in the data ({api_version}) does not match the expected API version '
            f'({resource.api_version})' if api_version != resource.api_version else
            f'{kind} in version "{resource.version}" cannot be handled as a {resource.kind}: '
            f"kind mismatch"))
    obj["kind"], obj["apiVersion"] = kind, api_version


def check_namespace(target: Target, obj: dict[str, Any]) -> None:
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise KubeError(status.cannot_handle(target.resource.kind, target.resource.api_version,
                                             "metadata: expected an object"))
    if target.resource.namespaced:
        ns = meta.get("namespace") or ""
        if ns and ns != target.namespace:
            raise KubeError(status.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"))
        meta["namespace"] = target.namespace
    else:
        meta.pop("namespace", None)


def check_name(target: Target, obj: dict[str, Any]) -> None:
    meta = obj.get("metadata")
    name = (meta.get("name") if isinstance(meta, dict) else "") or ""
    if name != target.name:
        raise KubeError(status.bad_request(
            f"the name of the object ({name}) does not match the name on the URL ({target.name})"))


# ---------------------------------------------------------------- selectors and lists


def parse_selectors(request: web.Request, resource: Resource) -> tuple[selectors.LabelSelector,
                                                                       selectors.FieldSelector]:
    """The request's ``labelSelector`` and ``fieldSelector`` (400 when they do not parse)."""
    try:
        return (selectors.parse_label_selector(request.query.get("labelSelector", "")),
                selectors.parse_field_selector(request.query.get("fieldSelector", ""),
                                               convert.FIELDS.get(resource.resource, frozenset(DEFAULT_FIELDS))))
    except selectors.SelectorError as e:
        raise KubeError(status.bad_request(str(e))) from None


Match = Callable[[Any, dict[str, Any]], bool]


def filter_for(request: web.Request, resource: Resource, nodes: NodeLookup) -> Match:
    """The predicate of the request's ``labelSelector`` (over the object's labels as the client sees
    them) and ``fieldSelector`` (over the core object's fields) of ``(core object, wire object)``."""
    labels, fields = parse_selectors(request, resource)

    def match(obj: Any, w: dict[str, Any]) -> bool:
        if not labels.matches((w.get("metadata") or {}).get("labels") or {}):
            return False
        return fields.matches(lambda f: convert.field_value(resource.resource, obj, f, node_name=nodes.name))

    return match


def core_key(kind: str, obj: Any) -> str:
    """``key_of`` of the object's wire form, from the core object (no conversion)."""
    if kind == "nodes":
        return f"/{nodelabels.node_name(obj)}"
    if kind in ("secrets", "configs"):
        return f"{obj.Namespace}/{obj.Spec.Name or obj.Name}"
    return f"{obj.Namespace}/{obj.Name}"


def core_labels(kind: str, obj: Any) -> dict[str, str]:
    """The labels a client sees on the object (a node's include the ones Kubernetes gives it)."""
    if kind == "nodes":
        return nodelabels.kube_labels(obj)
    if kind in ("secrets", "configs"):
        return obj.Spec.Labels or {}
    return obj.Labels or {}


@dataclass
class Page:
    items: list[dict[str, Any]]  # wire objects, sorted
    revision: int
    more: bool = False  # a limit cut the list: the last item's key continues it
    remaining: int | None = None  # how many more match (None: not counted, with a selector)


def select(door: Door, target: Target, request: web.Request, start: str = "", limit: int = 0) -> Page:
    """The objects of the collection the request selects, as wire objects sorted by key (after
    ``start``, at most ``limit`` of them when it is above 0), and the revision they were read at. A
    ``metadata.name=X`` field selector in a namespace is a lookup by name. Objects are sorted and
    selected as the core has them; only those on the page are converted."""
    kube = door.kube()
    rev = kube.revision
    labels, fields = parse_selectors(request, target.resource)
    name = fields.requires_exact_match("metadata.name")
    if name is not None and (target.namespace or not target.resource.namespaced):
        try:
            objs = [kube.get(target.kind, target.namespace, name)]
        except NotFound:
            objs = []
    else:
        objs = kube.list(target.kind, target.namespace)
    nodes = NodeLookup(kube)
    keyed = sorted(((core_key(target.kind, o), o) for o in objs), key=lambda ko: ko[0])
    if start:
        keyed = [ko for ko in keyed if ko[0] > start]
    selective = not labels.empty or bool(fields.requirements)
    page = Page([], rev)
    for i, (_, o) in enumerate(keyed):
        if selective:
            if not labels.matches(core_labels(target.kind, o)):
                continue
            if not fields.matches(functools.partial(convert.field_value, target.resource.resource, o,
                                                    node_name=nodes.name)):
                continue
        if limit and len(page.items) == limit:
            page.more = True
            page.remaining = None if selective else len(keyed) - i
            break
        page.items.append(to_wire(target.resource, o, nodes))
    return page


# ---------------------------------------------------------------- the door's handlers


class Door:
    """The handlers of the resources, over one node."""

    def __init__(self, node: NodeAPI) -> None:
        self.node = node

    def kube(self) -> Kube:
        return self.node.kube()

    # ------------------------------------------------------------ reads

    async def list_objects(self, request: web.Request, target: Target) -> web.StreamResponse:
        accept = request.headers.get("Accept", "")
        limit = max(qint(request, "limit") or 0, 0)
        token = request.query.get("continue", "")
        list_rev, start = decode_continue(token) if token else (0, "")
        page = select(self, target, request, start, limit)
        items, rev = page.items, list_rev or page.revision
        cont = encode_continue(rev, key_of(items[-1])) if page.more and items else ""
        remaining = page.remaining
        if tables.wants_table(accept):
            body = tables.table(target.resource, items, str(rev), request.query.get("includeObject", "Metadata"),
                                continue_token=cont)
            del items
            return await send(request, body, tables.content_type(accept))
        meta: dict[str, Any] = {"resourceVersion": str(rev)}
        if cont:
            meta["continue"] = cont
            if remaining is not None:
                meta["remainingItemCount"] = remaining
        for o in items:
            o.pop("kind", None)
            o.pop("apiVersion", None)
        r = target.resource
        return await send(request, {"kind": r.list_kind, "apiVersion": r.api_version, "metadata": meta, "items": items})

    def current(self, target: Target) -> Any:
        return self.kube().get(target.kind, target.namespace, target.name)

    async def get(self, request: web.Request, target: Target) -> web.StreamResponse:
        obj = to_wire(target.resource, self.current(target), NodeLookup(self.kube()))
        accept = request.headers.get("Accept", "")
        if tables.wants_table(accept):
            rv = obj.get("metadata", {}).get("resourceVersion", "")
            body = tables.table(target.resource, [obj], rv, request.query.get("includeObject", "Metadata"))
            return reply(body, content_type=tables.content_type(accept))
        return reply(obj)

    # ------------------------------------------------------------ writes

    async def create(self, request: web.Request, target: Target) -> web.StreamResponse:
        await self.node.check_writable()
        obj = await read_body(request)
        warnings: list[str] = []
        validate_fields(request, target.resource, obj, warnings)
        check_kind(target.resource, obj)
        check_namespace(target, obj)
        meta = obj["metadata"]
        if not meta.get("name") and not meta.get("generateName"):
            raise KubeError(status.invalid(target.resource.kind, "", [
                ("metadata.name", "FieldValueRequired", "name or generateName is required")]))
        manager = request.query.get("fieldManager", "")
        apply.record_update(obj, None, manager or apply.default_manager(request), target.resource)
        core = convert.to_core(target.resource.resource, obj, namespace=target.namespace)
        created = await self.kube().create(core, dry_run=dry_run(request))
        return reply(to_wire(target.resource, created, NodeLookup(self.kube())), 201, headers=warning_headers(warnings))

    async def write(self, request: web.Request, target: Target, cur: Any, new: dict[str, Any],
                    warnings: list[str], code: int = 200) -> web.StreamResponse:
        """Store ``new`` (a whole wire object) over ``cur`` (the core object it replaces)."""
        check_kind(target.resource, new)
        check_namespace(target, new)
        check_name(target, new)
        meta = new["metadata"]
        rv_text = str(meta.get("resourceVersion") or "")
        try:
            version = int(rv_text) if rv_text else 0
        except ValueError:
            raise KubeError(status.bad_request(f"invalid resourceVersion {rv_text!r}")) from None
        kube = self.kube()
        if isinstance(cur, Node):
            return await self.write_node(request, target, cur, new, version, warnings, code)
        if target.sub == "status":
            # A Pod's status is what its node reports (the agent's), a Namespace's its phase: the core
            # derives them, and a client's write of them changes nothing.
            if version and version != cur.Version.Index:
                raise KubeError(status.conflict(target.resource.resource, target.resource.group, target.name))
            return reply(to_wire(target.resource, cur, NodeLookup(kube)), code, headers=warning_headers(warnings))
        new = convert.prepare_update(target.resource.resource, cur, new)  # a Service's type change
        core = convert.to_core(target.resource.resource, new, namespace=target.namespace)
        convert.validate_update(target.resource.resource, cur, core)
        merged = carry(target, cur, core)
        merged.Version.Index = version
        updated = await kube.update(merged, dry_run=dry_run(request))
        return reply(to_wire(target.resource, updated, NodeLookup(kube)), code, headers=warning_headers(warnings))

    async def write_node(self, request: web.Request, target: Target, cur: Node, new: dict[str, Any], version: int,
                         warnings: list[str], code: int) -> web.StreamResponse:
        """A Node's write: what a client may change of it (``convert.apply_node_update``): a cordon
        through the core's ``set_unschedulable`` (Swarm's availability), labels and taints through the
        control API's node update, annotations on the object."""
        if version and version != cur.Version.Index:
            raise KubeError(status.conflict(target.resource.resource, target.resource.group, target.name))
        spec, annotations = convert.apply_node_update(cur, new)
        kube = self.kube()
        if dry_run(request):
            after = clone(cur)
            after.Spec, after.Annotations = spec, annotations
            return reply(to_wire(target.resource, after, NodeLookup(kube)), code, headers=warning_headers(warnings))
        if spec.Availability != cur.Spec.Availability:
            spec_w = new.get("spec")
            cordon = isinstance(spec_w, dict) and spec_w.get("unschedulable") is True
            await kube.set_unschedulable(target.name, cordon, cur.Version.Index)
        now: Node = self.current(target)
        spec.Availability = now.Spec.Availability
        if spec != now.Spec:
            await self.node.control().update_node(now.ID, now.Version.Index, spec)
            now = self.current(target)
        if annotations != now.Annotations:
            now = clone(now)
            now.Annotations = annotations
            await kube.update(now)
        return reply(to_wire(target.resource, self.current(target), NodeLookup(kube)), code,
                     headers=warning_headers(warnings))

    async def replace(self, request: web.Request, target: Target) -> web.StreamResponse:
        await self.node.check_writable()
        obj = await read_body(request)
        warnings: list[str] = []
        validate_fields(request, target.resource, obj, warnings)
        if target.sub != "status":
            check_name(target, obj)
        cur = self.current(target)
        old = to_wire(target.resource, cur, NodeLookup(self.kube()))
        if target.sub == "status":
            obj = {**old, "status": obj.get("status")}
        apply.record_update(obj, old, request.query.get("fieldManager", "") or apply.default_manager(request),
                            target.resource)
        return await self.write(request, target, cur, obj, warnings)

    async def patch(self, request: web.Request, target: Target) -> web.StreamResponse:
        await self.node.check_writable()
        ctype = request.content_type
        if ctype not in PATCH_TYPES:
            raise KubeError(status.unsupported_media_type(ctype, PATCH_TYPES))
        body = await read_body(request, PATCH_TYPES)
        kube = self.kube()
        if ctype == APPLY_PATCH:
            return await self.server_side_apply(request, target, body)
        cur = self.current(target)
        old = to_wire(target.resource, cur, NodeLookup(kube))
        try:
            if ctype == MERGE_PATCH:
                new = patch.merge_patch(old, body)
            elif ctype == JSON_PATCH:
                new = patch.json_patch(old, body)
            else:
                new = patch.strategic_merge_patch(old, body, patch_meta(target.resource))
        except patch.PatchError as e:
            reason = {400: "BadRequest", 413: "RequestEntityTooLarge", 422: "Invalid"}.get(e.code, "InternalError")
            raise KubeError(status.status(e.code, reason, str(e))) from None
        if target.sub == "status":
            new = {**old, "status": new.get("status")}
        warnings: list[str] = []
        validate_fields(request, target.resource, new, warnings)
        old_rv = old.get("metadata", {}).get("resourceVersion")
        new_meta = new.setdefault("metadata", {})
        if new_meta.get("resourceVersion") in (None, "", old_rv):
            new_meta["resourceVersion"] = old_rv  # a patch applies to whatever is stored
        apply.record_update(new, old, request.query.get("fieldManager", "") or apply.default_manager(request),
                            target.resource)
        return await self.write(request, target, cur, new, warnings)

    async def server_side_apply(self, request: web.Request, target: Target, applied: Any) -> web.StreamResponse:
        manager = request.query.get("fieldManager", "")
        if not manager:
            raise KubeError(status.bad_request(
                "PATCH, application/apply-patch+yaml requires fieldManager to be set"))
        warnings: list[str] = []
        validate_fields(request, target.resource, applied, warnings, strict_default=True)
        check_kind(target.resource, applied)
        check_namespace(target, applied)
        check_name(target, applied)
        kube = self.kube()
        try:
            cur = self.current(target)
        except NotFound:
            if target.sub:
                raise
            new = apply.apply(None, applied, manager, target.resource, force=qbool(request, "force"))
            core = convert.to_core(target.resource.resource, new, namespace=target.namespace)
            created = await kube.create(core, dry_run=dry_run(request))
            return reply(to_wire(target.resource, created, NodeLookup(kube)), 201, headers=warning_headers(warnings))
        old = to_wire(target.resource, cur, NodeLookup(kube))
        new = apply.apply(old, applied, manager, target.resource, force=qbool(request, "force"))
        new["metadata"]["resourceVersion"] = old.get("metadata", {}).get("resourceVersion")
        return await self.write(request, target, cur, new, warnings)

    async def delete(self, request: web.Request, target: Target) -> web.StreamResponse:
        await self.node.check_writable()
        opts = await delete_options(request)
        cur = self.current(target)
        pre = opts.get("preconditions") or {}
        try:
            version = int(pre.get("resourceVersion") or 0)
        except ValueError:
            raise KubeError(status.bad_request("invalid resourceVersion precondition")) from None
        grace = opts.get("gracePeriodSeconds")
        kube = self.kube()
        left = await kube.delete(target.kind, target.namespace, target.name,
                                 grace_seconds=grace if isinstance(grace, int) else None,
                                 propagation=propagation_of(opts),
                                 uid=str(pre.get("uid") or ""), version=version,
                                 dry_run=dry_run(request) or opts.get("dryRun") == ["All"])
        if left is None:
            if target.kind == "tasks":  # a Pod's deletion answers with the Pod, gone or not (as Kubernetes')
                return reply(to_wire(target.resource, cur, NodeLookup(kube)))
            r = target.resource
            return reply(success(target.name, r.resource, r.group, cur.ID))
        # Kept (finalizers, a Pod's grace): 200 with the object, but 202 when the client said
        # ``orphanDependents: false``, as the API server answers.
        return reply(to_wire(target.resource, left, NodeLookup(kube)),
                     202 if opts.get("orphanDependents") is False else 200)

    async def delete_collection(self, request: web.Request, target: Target) -> web.StreamResponse:
        await self.node.check_writable()
        opts = await delete_options(request)
        items = select(self, target, request).items
        kube = self.kube()
        grace = opts.get("gracePeriodSeconds")
        for o in items:
            meta = o.get("metadata") or {}
            try:
                await kube.delete(target.kind, meta.get("namespace", ""), meta.get("name", ""),
                                  grace_seconds=grace if isinstance(grace, int) else None,
                                  propagation=propagation_of(opts), dry_run=dry_run(request))
            except NotFound:  # gone meanwhile
                pass
        r = target.resource
        return reply({"kind": r.list_kind, "apiVersion": r.api_version, "metadata": {}, "items": items})


async def scale(request: web.Request, door: Door, target: Target) -> web.StreamResponse:
    """The ``scale`` subresource of a Deployment or ReplicaSet (``autoscaling/v1`` Scale): read it, or
    write ``spec.replicas`` through a PUT or any patch of the Scale (``kubectl scale`` sends a merge patch)."""
    kube = door.kube()
    cur = door.current(target)
    now = convert.scale_of(target.resource.resource, cur)
    if request.method == "GET":
        return reply(now)
    await door.node.check_writable()
    if request.method == "PATCH":
        ctype = request.content_type
        if ctype not in PATCH_TYPES or ctype == APPLY_PATCH:
            raise KubeError(status.unsupported_media_type(ctype, PATCH_TYPES))
        body = await read_body(request, PATCH_TYPES)
        try:
            new = patch.json_patch(now, body) if ctype == JSON_PATCH else patch.merge_patch(now, body)
        except patch.PatchError as e:
            raise KubeError(status.status(e.code, "BadRequest" if e.code == 400 else "Invalid", str(e))) from None
    else:
        new = await read_body(request)
        if not isinstance(new, dict):
            raise KubeError(status.bad_request("the body of a Scale must be an object"))
        rv = str((new.get("metadata") or {}).get("resourceVersion") or "")
        if rv and rv != str(cur.Version.Index):
            raise KubeError(status.conflict(target.resource.resource, target.resource.group, target.name))
    replicas = (new.get("spec") or {}).get("replicas") if isinstance(new.get("spec"), dict) else None
    replicas = 0 if replicas is None else replicas
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise KubeError(status.invalid("Scale", target.name, [
            ("spec.replicas", "FieldValueInvalid",
             status.with_value(replicas, "must be greater than or equal to 0"))], group="autoscaling"))
    out = clone(cur)
    out.Spec.Replicas = replicas
    updated = await kube.update(out, dry_run=dry_run(request))
    return reply(convert.scale_of(target.resource.resource, updated))


@functools.cache
def patch_meta(resource: Resource) -> patch.PatchMeta:
    """The strategic-merge-patch markers of the resource's kind, from its OpenAPI document."""
    doc = json.loads(openapi.documents()[openapi.group_version_path(resource.group, resource.version)].body)
    return patch.PatchMeta.from_openapi(doc["components"]["schemas"], openapi.kube_name(resource.wire_type))


async def delete_options(request: web.Request) -> dict[str, Any]:
    """DeleteOptions from the body (JSON or protobuf) and the query parameters."""
    opts: dict[str, Any] = {}
    if request.can_read_body:
        body = await read_body(request)
        if isinstance(body, dict):
            opts = body
    grace = qint(request, "gracePeriodSeconds")
    if grace is not None:
        opts["gracePeriodSeconds"] = grace
    if "propagationPolicy" in request.query:
        opts["propagationPolicy"] = request.query["propagationPolicy"]
    if "orphanDependents" in request.query:
        opts["orphanDependents"] = request.query["orphanDependents"] == "true"
    policy = opts.get("propagationPolicy")
    orphan = opts.get("orphanDependents")
    if orphan is not None and policy is not None:
        raise KubeError(status.invalid("DeleteOptions", "", [
            ("propagationPolicy", "FieldValueInvalid",
             status.with_value(policy, "orphanDependents and deletionPropagation cannot be both set"))],
            group="meta.k8s.io"))
    if policy not in (None, "", "Background", "Foreground", "Orphan"):
        raise KubeError(status.invalid("DeleteOptions", "", [
            ("propagationPolicy", "FieldValueNotSupported",
             f'"{policy}": supported values: "Foreground", "Background", "Orphan", "nil"')]))
    return opts


def propagation_of(opts: dict[str, Any]) -> str:
    """The core's propagation of a deletion: ``propagationPolicy``, or ``Orphan`` (or the default) from
    the deprecated ``orphanDependents``; "" when neither is given (the object's finalizers, or its kind's
    default, decide)."""
    policy = opts.get("propagationPolicy")
    if policy:
        return str(policy)
    orphan = opts.get("orphanDependents")
    if orphan is True:
        return "Orphan"
    return "Background" if orphan is False else ""


def carry(target: Target, cur: Any, new: Any) -> Any:
    """The object to store for a write of ``new`` over ``cur``: what a client may change comes from
    ``new`` (the spec, labels, annotations, finalizers, owners, managed fields; all of a plain-data kind's
    fields), the rest stays as the core has it (identity, times, a Pod's placement and status)."""
    out = clone(cur)
    plain = target.kind in ("namespaces", "events", "serviceaccounts")
    for f in type(cur).__struct_fields__:
        if f in _SERVER_META or (f == "Phase" and target.kind == "namespaces"):
            continue
        if f in _USER_META or f == "Spec" or plain:
            setattr(out, f, getattr(new, f))
    if isinstance(cur, Task):
        out.Spec = _pod_spec_update(cur.Spec, new.Spec)
    return out


def _pod_spec_update(cur: TaskSpec, new: TaskSpec) -> TaskSpec:
    """A running Pod's spec after an update (``convert.validate_update`` allowed it): what may change
    (the containers' images, tolerations, the active deadline) from ``new``, the rest as stored, so an
    update of labels leaves the task's spec as it was."""
    def tolerations(s: TaskSpec) -> object:
        return s.Placement.Tolerations if s.Placement else None

    def deadline(s: TaskSpec) -> object:
        return s.Pod.ActiveDeadlineSeconds if s.Pod else None

    images = [c.Image for c in containers_of(new)]
    if images == [c.Image for c in containers_of(cur)] and tolerations(new) == tolerations(cur) \
            and deadline(new) == deadline(cur):
        return cur
    out: TaskSpec = clone(cur)
    for c, image in zip(containers_of(out), images, strict=False):
        c.Image = image
    if new.Placement is not None:
        if out.Placement is None:
            out.Placement = new.Placement
        else:
            out.Placement.Tolerations = new.Placement.Tolerations
    if out.Pod is not None and new.Pod is not None:
        out.Pod.ActiveDeadlineSeconds = new.Pod.ActiveDeadlineSeconds
    return out


def since_of(request: web.Request) -> float:
    """``sinceSeconds`` or ``sinceTime`` as seconds since the epoch (0: from the start)."""
    seconds = qint(request, "sinceSeconds")
    if seconds is not None:
        return time.time() - seconds
    raw = request.query.get("sinceTime", "")
    if raw:
        parsed = tables.parse_time(raw)
        if parsed is None:
            raise KubeError(status.bad_request(f'parsing time "{raw}" as "2006-01-02T15:04:05Z07:00": cannot '
                                               "parse"))
        return parsed.timestamp()
    return 0.0
