"""OpenAPI v3 for the Kubernetes front door, generated from ``wire.py``'s Structs.

``/openapi/v3`` is an index of group-version documents (``{"paths": {"api/v1": {"serverRelativeURL":
"/openapi/v3/api/v1?hash=<HEX>"}}}``); each document holds the schemas of its kinds under
``components.schemas``, named as Kubernetes names them (``io.k8s.api.core.v1.Pod``,
``io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta``), and the resources' paths.

kubectl reads it for three things:

- ``explain`` finds the schema whose ``x-kubernetes-group-version-kind`` is the kind, then walks
  ``properties``, ``$ref``/``allOf``, ``items``, ``type`` and ``description``;
- ``apply``/``edit``/``diff`` merge lists by ``x-kubernetes-patch-merge-key``/``-patch-strategy`` and
  ``x-kubernetes-list-type``/``-list-map-keys``;
- every write checks that the PATCH operation of the kind (found by its
  ``x-kubernetes-group-version-kind``) has a ``fieldValidation`` query parameter: then it leaves
  validation to the server (``fieldValidation=Strict``) instead of validating on the client.

msgspec writes the schemas (``schema_components``); this module renames them, turns msgspec's
``anyOf [X, null]`` into Kubernetes' plain ``X`` (``allOf [$ref]`` beside a description), and replaces the
titled scalars (``Time``, ``IntOrString``, ``Quantity``…) by references to apimachinery's schemas.
Documents are built once; their hash (sha512, upper-case hex, as kube-openapi's ETag) is in the
index URLs, and a request with the right hash may be cached for good.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from dataclasses import dataclass
from email.utils import format_datetime
from typing import Any

import msgspec

from shoal.frontdoor.kube import wire
from shoal.frontdoor.kube.discovery import KUBE_GIT_VERSION
from shoal.frontdoor.kube.resources import Resource, group_versions, in_group_version

Schema = dict[str, Any]

REF = "#/components/schemas/"
META = "io.k8s.apimachinery.pkg.apis.meta.v1."
CORE = "io.k8s.api.core.v1."
POLICY = "io.k8s.api.policy.v1."
APPS = "io.k8s.api.apps.v1."
AUTOSCALING = "io.k8s.api.autoscaling.v1."
BATCH = "io.k8s.api.batch.v1."
DISCOVERY = "io.k8s.api.discovery.v1."
NETWORKING = "io.k8s.api.networking.v1."

# apimachinery's scalar schemas, by the title wire.py marks their fields with.
SCALARS: dict[str, tuple[str, Schema]] = {
    "Time": (META + "Time", {
        "description": "Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON.  "
                       "Wrappers are provided for many of the factory methods that the time package offers.",
        "type": "string", "format": "date-time"}),
    "MicroTime": (META + "MicroTime", {
        "description": "MicroTime is version of Time with microsecond level precision.",
        "type": "string", "format": "date-time"}),
    "IntOrString": ("io.k8s.apimachinery.pkg.util.intstr.IntOrString", {
        "description": "IntOrString is a type that can hold an int32 or a string.  When used in JSON or YAML "
                       "marshalling and unmarshalling, it produces or consumes the inner type.  This allows you "
                       "to have, for example, a JSON field that can accept a name or number.",
        "type": "string", "format": "int-or-string"}),
    "Quantity": ("io.k8s.apimachinery.pkg.api.resource.Quantity", {
        "description": "Quantity is a fixed-point representation of a number. It provides convenient "
                       "marshaling/unmarshaling in JSON and YAML, in addition to String() and AsInt64() "
                       "accessors.",
        "type": "string"}),
    "FieldsV1": (META + "FieldsV1", {
        "description": "FieldsV1 stores a set of fields in a data structure like a Trie, in JSON format.",
        "type": "object"}),
    "RawExtension": ("io.k8s.apimachinery.pkg.runtime.RawExtension", {
        "description": "RawExtension is used to hold extensions in external versions.",
        "type": "object"}),
}
# The fields Kubernetes' schemas mark required (``kubectl explain`` shows ``-required-``), by Struct name; the
# Structs keep every field optional, as Go decodes them, and the validators say what is missing.
REQUIRED: dict[str, tuple[str, ...]] = {
    "Binding": ("target",), "ConfigMapKeySelector": ("key",), "Container": ("name",),
    "ContainerPort": ("containerPort",), "ContainerStateTerminated": ("exitCode",),
    "ContainerStatus": ("name", "ready", "restartCount", "image", "imageID"), "DaemonEndpoint": ("Port",),
    "DownwardAPIVolumeFile": ("path",), "EnvVar": ("name",), "Event": ("metadata", "involvedObject"),
    "GRPCAction": ("port",), "HTTPGetAction": ("port",), "HTTPHeader": ("name", "value"), "HostAlias": ("ip",),
    "HostIP": ("ip",), "HostPathVolumeSource": ("path",), "KeyToPath": ("key", "path"),
    "LabelSelectorRequirement": ("key", "operator"), "NamespaceCondition": ("type", "status"),
    "NodeAddress": ("type", "address"), "NodeCondition": ("type", "status"),
    "NodeSystemInfo": ("machineID", "systemUUID", "bootID", "kernelVersion", "osImage", "containerRuntimeVersion",
                       "kubeletVersion", "kubeProxyVersion", "operatingSystem", "architecture"),
    "ObjectFieldSelector": ("fieldPath",), "OwnerReference": ("apiVersion", "kind", "name", "uid"),
    "PersistentVolumeClaimVolumeSource": ("claimName",), "PodCondition": ("type", "status"), "PodIP": ("ip",),
    "PodOS": ("name",), "PodReadinessGate": ("conditionType",), "PodSchedulingGate": ("name",),
    "PodSpec": ("containers",), "ResourceFieldSelector": ("resource",), "SeccompProfile": ("type",),
    "SecretKeySelector": ("key",), "ServiceAccountTokenProjection": ("path",), "Sysctl": ("name", "value"),
    "TCPSocketAction": ("port",), "Taint": ("key", "effect"), "Volume": ("name",),
    "VolumeMount": ("name", "mountPath"), "PodList": ("items",), "NodeList": ("items",),
    "NamespaceList": ("items",), "SecretList": ("items",), "ConfigMapList": ("items",), "EventList": ("items",),
    "ServiceAccountList": ("items",), "ServiceList": ("items",), "EndpointsList": ("items",),
    "EndpointSliceList": ("items",), "EndpointSlice": ("addressType", "endpoints"), "Endpoint": ("addresses",),
    "ServicePort": ("port",), "ReplicaSetList": ("items",), "DeploymentList": ("items",),
    "ReplicaSetSpec": ("selector",), "DeploymentSpec": ("selector", "template"),
    "ReplicaSetCondition": ("type", "status"), "DeploymentCondition": ("type", "status"),
    "DaemonSetList": ("items",), "DaemonSetSpec": ("selector", "template"), "DaemonSetCondition": ("type", "status"),
    "ControllerRevision": ("revision",), "ControllerRevisionList": ("items",),
}
REQUIRED.update({  # batch/v1
    "JobList": ("items",), "CronJobList": ("items",), "JobSpec": ("template",),
    "CronJobSpec": ("schedule", "jobTemplate"), "JobCondition": ("type", "status"),
})
REQUIRED.update({  # networking.k8s.io/v1
    "IngressList": ("items",), "IngressClassList": ("items",), "HTTPIngressPath": ("pathType", "backend"),
    "HTTPIngressRuleValue": ("paths",), "IngressServiceBackend": ("name",),
    "IngressClassParametersReference": ("kind", "name"), "TypedLocalObjectReference": ("kind", "name"),
})
PATCH_SCHEMA = (META + "Patch", {
    "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.",
    "type": "object"})
PATCH_TYPES = ("application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json")
RESPONSE_TYPES = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")


def kube_name(cls: type) -> str:
    """The name Kubernetes gives the schema of a wire Struct."""
    if cls in wire.META_V1:
        return META + cls.__name__
    if cls in wire.POLICY_V1:
        return POLICY + cls.__name__
    if cls in wire.APPS_V1:
        return APPS + cls.__name__
    if cls in wire.AUTOSCALING_V1:
        return AUTOSCALING + cls.__name__
    if cls in wire.BATCH_V1:
        return BATCH + cls.__name__
    if cls in wire.DISCOVERY_V1:
        return DISCOVERY + cls.__name__
    if cls in wire.NETWORKING_V1:
        return NETWORKING + cls.__name__
    return CORE + cls.__name__


def _wire_structs() -> dict[str, type]:
    return {name: value for name, value in vars(wire).items()
            if isinstance(value, type) and issubclass(value, wire.Base) and value is not wire.Base}


# ---------------------------------------------------------------------------------------------------
# Schemas

class _Normalizer:
    """Rewrites msgspec's schemas into Kubernetes' form, collecting the apimachinery schemas used."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names
        self.used: dict[str, Schema] = {}

    def ref(self, name: str) -> Schema:
        return {"$ref": REF + name}

    def __call__(self, schema: Any) -> Any:
        if isinstance(schema, list):
            return [self(item) for item in schema]
        if not isinstance(schema, dict):
            return schema
        title = schema.get("title")
        if isinstance(title, str) and title in SCALARS:
            name, body = SCALARS[title]
            self.used[name] = body
            rest = {k: v for k, v in schema.items() if k not in ("title", "anyOf", "type")}
            return self._with_ref(self.ref(name), rest)
        out: Schema = {}
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str):
                out[key] = REF + self.names.get(value.removeprefix(REF), value.removeprefix(REF))
            elif key == "default" and value is None:
                continue
            elif key == "required" and not value:
                continue
            elif key in ("properties", "$defs"):
                out[key] = {name: self(item) for name, item in value.items()}
            else:
                out[key] = self(value)
        members = out.get("anyOf")
        if isinstance(members, list):
            kept = [m for m in members if m != {"type": "null"}]
            if len(kept) == 1:
                rest = {k: v for k, v in out.items() if k != "anyOf"}
                return self._with_ref(kept[0], rest)
            out["anyOf"] = kept
        if "$ref" in out and len(out) > 1:
            return self._with_ref({"$ref": out.pop("$ref")}, out)
        if out.get("type") == "array" and not out.get("items"):
            out["items"] = {"type": "object"}  # a list kept as given: explain shows []Object
        return out

    @staticmethod
    def _with_ref(inner: Schema, rest: Schema) -> Schema:
        """``inner`` with ``rest``'s annotations; a reference beside annotations goes in ``allOf``."""
        if "$ref" in inner and rest:
            return {"allOf": [inner], **rest}
        if "$ref" in inner:
            return inner
        return {**rest, **inner, **({"description": rest["description"]} if "description" in rest else {})}


def _gvk(group: str, version: str, kind: str) -> Schema:
    return {"group": group, "kind": kind, "version": version}


def _kinds_of(group: str, version: str) -> list[tuple[type, list[Schema]]]:
    """The Structs documented in a group-version, with their ``x-kubernetes-group-version-kind``."""
    kinds: list[tuple[type, list[Schema]]] = []
    for resource in in_group_version(group, version):
        kinds.append((resource.wire_type, [_gvk(group, version, resource.kind)]))
        kinds.append((resource.list_type, [_gvk(group, version, resource.list_kind)]))
    if group == "apps":
        kinds.append((wire.Scale, [_gvk("autoscaling", "v1", "Scale")]))
    if not group:
        kinds.append((wire.Binding, [_gvk("", "v1", "Binding")]))
        kinds.append((wire.Eviction, [_gvk("policy", "v1", "Eviction")]))
    kinds.append((wire.Status, [_gvk("", "v1", "Status")]))
    kinds.append((wire.DeleteOptions, [_gvk("", "v1", "DeleteOptions"), _gvk("meta.k8s.io", "v1", "DeleteOptions")]))
    kinds.append((wire.WatchEvent, [_gvk("", "v1", "WatchEvent"), _gvk("meta.k8s.io", "v1", "WatchEvent")]))
    return kinds


def schemas(group: str, version: str) -> dict[str, Schema]:
    """``components.schemas`` of a group-version document."""
    kinds = _kinds_of(group, version)
    _, components = msgspec.json.schema_components([cls for cls, _ in kinds], ref_template=REF + "{name}")
    names = {name: kube_name(cls) for name, cls in _wire_structs().items()}
    normalize = _Normalizer(names)
    out: dict[str, Schema] = {}
    for name, schema in components.items():
        body = normalize(schema)
        body.pop("title", None)
        if name in REQUIRED:
            body["required"] = list(REQUIRED[name])
        out[names.get(name, name)] = body
    for cls, gvks in kinds:
        out[kube_name(cls)]["x-kubernetes-group-version-kind"] = gvks
    out.update(normalize.used)
    out[PATCH_SCHEMA[0]] = PATCH_SCHEMA[1]
    return dict(sorted(out.items()))


# ---------------------------------------------------------------------------------------------------
# Paths

def _param(name: str, where: str, description: str, required: bool = False, type_: str = "string") -> Schema:
    param: Schema = {"name": name, "in": where, "description": description}
    if required:
        param["required"] = True
    param["schema"] = {"type": type_, "uniqueItems": True}
    return param


PRETTY = _param("pretty", "query", "If 'true', then the output is pretty printed.")
DRY_RUN = _param("dryRun", "query", "When present, indicates that modifications should not be persisted. An "
                 "invalid or unrecognized dryRun directive will result in an error response and no further "
                 "processing of the request. Valid values are: - All: all dry run stages will be processed")
FIELD_MANAGER = _param("fieldManager", "query", "fieldManager is a name associated with the actor or entity that "
                       "is making these changes.")
FIELD_VALIDATION = _param("fieldValidation", "query", "fieldValidation instructs the server on how to handle "
                          "objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid "
                          "values are: - Ignore: This will ignore any unknown fields that are silently dropped from "
                          "the object, and will ignore all but the last duplicate field that the decoder "
                          "encounters. - Warn: This will send a warning via the standard warning response header "
                          "for each unknown field that is dropped from the object, and for each duplicate field "
                          "that is encountered. - Strict: This will fail the request with a BadRequest error if "
                          "any unknown fields would be dropped from the object, or if any duplicate fields are "
                          "present.")
FORCE = _param("force", "query", "Force is going to \"force\" Apply requests. It means user will re-acquire "
               "conflicting fields owned by other people.", type_="boolean")
LIST_PARAMS = [
    _param("allowWatchBookmarks", "query", "allowWatchBookmarks requests watch events with type \"BOOKMARK\".",
           type_="boolean"),
    _param("continue", "query", "The continue option should be set when retrieving more results from the server."),
    _param("fieldSelector", "query", "A selector to restrict the list of returned objects by their fields."),
    _param("labelSelector", "query", "A selector to restrict the list of returned objects by their labels."),
    _param("limit", "query", "limit is a maximum number of responses to return for a list call.", type_="integer"),
    _param("resourceVersion", "query", "resourceVersion sets a constraint on what resource versions a request may "
                                       "be served from."),
    _param("timeoutSeconds", "query", "Timeout for the list/watch call.", type_="integer"),
    _param("watch", "query", "Watch for changes to the described resources and return them as a stream of add, "
                             "update, and remove notifications.", type_="boolean"),
]


def _group_token(group: str, version: str) -> str:
    if not group:
        return "Core" + version.capitalize()
    parts = group.removesuffix(".k8s.io").split(".")
    return "".join(part.capitalize() for part in parts) + version.capitalize()


def _tag(group: str, version: str) -> str:
    if not group:
        return f"core_{version}"
    parts = group.removesuffix(".k8s.io").split(".")
    return parts[0] + "".join(part.capitalize() for part in parts[1:]) + f"_{version}"


def _content(name: str, media: tuple[str, ...] = RESPONSE_TYPES) -> Schema:
    return {mt: {"schema": {"$ref": REF + name}} for mt in media}


def _operation(resource: Resource, action: str, verb: str, suffix: str, description: str,
               params: list[Schema], body: str | None = None, body_media: tuple[str, ...] = RESPONSE_TYPES[:2],
               response: str | None = None, codes: tuple[str, ...] = ("200",),
               gvk: Schema | None = None) -> Schema:
    operation: Schema = {
        "tags": [_tag(resource.group, resource.version)],
        "description": description,
        "operationId": f"{verb}{_group_token(resource.group, resource.version)}{suffix}",
    }
    if params:
        operation["parameters"] = params
    if body is not None:
        operation["requestBody"] = {"content": _content(body, body_media), "required": True}
    response_name = response or kube_name(resource.wire_type)
    responses: Schema = {code: {"description": {"200": "OK", "201": "Created", "202": "Accepted"}[code],
                                "content": _content(response_name)} for code in codes}
    responses["401"] = {"description": "Unauthorized"}
    operation["responses"] = responses
    operation["x-kubernetes-action"] = action
    operation["x-kubernetes-group-version-kind"] = gvk or _gvk(resource.group, resource.version, resource.kind)
    return operation


def _paths_of(resource: Resource) -> dict[str, Schema]:
    prefix = f"/{resource.group_version}"
    kind = resource.kind
    scope = "Namespaced" if resource.namespaced else ""
    base = f"{prefix}/namespaces/{{namespace}}/{resource.resource}" if resource.namespaced \
        else f"{prefix}/{resource.resource}"
    scope_params = [_param("namespace", "path", "object name and auth scope, such as for teams and projects",
                           required=True)] if resource.namespaced else []
    name_param = _param("name", "path", f"name of the {kind}", required=True)
    item = kube_name(resource.wire_type)
    listed = kube_name(resource.list_type)
    write = [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION]
    delete_body = META + "DeleteOptions"
    status_name = META + "Status"
    paths: dict[str, Schema] = {}
    collection: Schema = {
        "get": _operation(resource, "list", "list", f"{scope}{kind}", f"list or watch objects of kind {kind}",
                          LIST_PARAMS, response=listed),
        "post": _operation(resource, "post", "create", f"{scope}{kind}", f"create a {kind}", write, body=item,
                           codes=("200", "201", "202")),
        "parameters": [*scope_params, PRETTY],
    }
    if "deletecollection" in resource.verbs:
        collection["delete"] = _operation(resource, "deletecollection", "delete", f"Collection{scope}{kind}",
                                          f"delete collection of {kind}", [DRY_RUN, *LIST_PARAMS],
                                          body=delete_body, response=status_name)
    paths[base] = collection
    paths[f"{base}/{{name}}"] = {
        "get": _operation(resource, "get", "read", f"{scope}{kind}", f"read the specified {kind}", []),
        "put": _operation(resource, "put", "replace", f"{scope}{kind}", f"replace the specified {kind}", write,
                          body=item, codes=("200", "201")),
        "patch": _operation(resource, "patch", "patch", f"{scope}{kind}", f"partially update the specified {kind}",
                            [*write, FORCE], body=PATCH_SCHEMA[0], body_media=PATCH_TYPES, codes=("200", "201")),
        "delete": _operation(resource, "delete", "delete", f"{scope}{kind}", f"delete a {kind}",
                             [DRY_RUN, _param("gracePeriodSeconds", "query", "The duration in seconds before the "
                                              "object should be deleted.", type_="integer"),
                              _param("propagationPolicy", "query", "Whether and how garbage collection will be "
                                     "performed.")],
                             body=delete_body, codes=("200", "202")),
        "parameters": [name_param, *scope_params, PRETTY],
    }
    if resource.namespaced:
        paths[f"{prefix}/{resource.resource}"] = {
            "get": _operation(resource, "list", "list", f"{kind}ForAllNamespaces",
                              f"list or watch objects of kind {kind}", LIST_PARAMS, response=listed),
            "parameters": [PRETTY],
        }
    if resource.subresource("status") is not None:
        paths[f"{base}/{{name}}/status"] = {
            "get": _operation(resource, "get", "read", f"{scope}{kind}Status",
                              f"read status of the specified {kind}", []),
            "put": _operation(resource, "put", "replace", f"{scope}{kind}Status",
                              f"replace status of the specified {kind}", write, body=item, codes=("200", "201")),
            "patch": _operation(resource, "patch", "patch", f"{scope}{kind}Status",
                                f"partially update status of the specified {kind}", [*write, FORCE],
                                body=PATCH_SCHEMA[0], body_media=PATCH_TYPES, codes=("200", "201")),
            "parameters": [name_param, *scope_params, PRETTY],
        }
    eviction = resource.subresource("eviction")
    if eviction is not None:
        paths[f"{base}/{{name}}/eviction"] = {
            "post": _operation(resource, "post", "create", f"{scope}{kind}Eviction", f"create eviction of a {kind}",
                               write, body=POLICY + "Eviction", response=POLICY + "Eviction",
                               codes=("200", "201", "202"), gvk=_gvk(eviction.group, eviction.version, eviction.kind)),
            "parameters": [_param("name", "path", "name of the Eviction", required=True), *scope_params, PRETTY],
        }
    binding = resource.subresource("binding")
    if binding is not None:
        paths[f"{base}/{{name}}/binding"] = {
            "post": _operation(resource, "post", "create", f"{scope}{kind}Binding", f"create binding of a {kind}",
                               write, body=CORE + "Binding", response=CORE + "Binding",
                               codes=("200", "201", "202"), gvk=_gvk(binding.group, binding.version, binding.kind)),
            "parameters": [_param("name", "path", "name of the Binding", required=True), *scope_params, PRETTY],
        }
    return paths


# ---------------------------------------------------------------------------------------------------
# Documents and serving

@dataclass(frozen=True)
class Document:
    """A served OpenAPI document: its JSON bytes and their hash (the ETag, and the ``hash`` of the URL)."""

    body: bytes
    hash: str

    @property
    def etag(self) -> str:
        """The ETag header value (quoted)."""
        return f'"{self.hash}"'


def _document(body: Any) -> Document:
    data = json.dumps(body, separators=(",", ":"), sort_keys=False).encode()
    return Document(data, hashlib.sha512(data).hexdigest().upper())


def group_version_path(group: str, version: str) -> str:
    """The index key of a group-version: ``api/v1``, ``apis/apps/v1``."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def build(group: str, version: str) -> dict[str, Any]:
    """The OpenAPI v3 document of one served group-version."""
    paths: dict[str, Schema] = {}
    for resource in sorted(in_group_version(group, version), key=lambda r: r.resource):
        paths.update(_paths_of(resource))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBE_GIT_VERSION},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas(group, version),
            "securitySchemes": {"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication",
                                                "name": "authorization", "in": "header"}},
        },
        "security": [{"BearerToken": []}],
    }


@functools.cache
def documents() -> dict[str, Document]:
    """Every served group-version's document, by index key (built once)."""
    return {group_version_path(g, v): _document(build(g, v)) for g, v in group_versions()}


@functools.cache
def index() -> Document:
    """The ``/openapi/v3`` index: each group-version's URL with its document's hash."""
    paths = {key: {"serverRelativeURL": f"/openapi/v3/{key}?hash={doc.hash}"} for key, doc in documents().items()}
    return _document({"paths": paths})


@dataclass(frozen=True)
class Reply:
    """What to answer an OpenAPI request with."""

    status: int
    headers: dict[str, str]
    body: bytes = b""


def serve(path: str, query_hash: str | None = None, if_none_match: str | None = None,
          now: dt.datetime | None = None) -> Reply | None:
    """The reply to ``GET /openapi/v3`` (``path`` ``""``) or ``/openapi/v3/<path>``; None if no such document.

    As kube-openapi does: a request with the document's ``hash`` may be cached for good (``public,
    immutable``, a year); with a stale hash it is redirected (301) to the current one; a matching
    ``If-None-Match`` gets 304.
    """
    path = path.strip("/")
    if path:
        doc = documents().get(path)
        if doc is None:
            return None
    else:
        doc = index()
    headers = {"Content-Type": "application/json", "ETag": doc.etag}
    if path and query_hash:
        if query_hash != doc.hash:
            return Reply(301, {"Location": f"/openapi/v3/{path}?hash={doc.hash}"})
        when = (now or dt.datetime.now(dt.UTC)) + dt.timedelta(days=365)
        headers.update({"Vary": "Accept", "Cache-Control": "public, immutable",
                        "Expires": format_datetime(when, usegmt=True)})
    elif not path:
        headers["Cache-Control"] = "no-cache, private"
    if if_none_match is not None and if_none_match.strip() in (doc.etag, doc.hash, "*"):
        return Reply(304, {k: v for k, v in headers.items() if k != "Content-Type"})
    return Reply(200, headers, doc.body)
