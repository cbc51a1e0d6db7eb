"""Kubernetes discovery: ``/version``, ``/api``, ``/apis`` and the group-version resource lists.

Pure functions from the registry (``resources.py``) and the request's Accept header to a
``(content_type, body)`` pair. kubectl asks ``/api`` and ``/apis`` for the aggregated format
(``apidiscovery.k8s.io/v2`` ``APIGroupDiscoveryList``, v2beta1 if it asks only for that) and gets every
resource in two requests; a client that asks for plain JSON gets the legacy ``APIVersions`` /
``APIGroupList``. ``/api/v1`` (``APIResourceList``) is still asked for by ``drain``, which looks there
for ``pods/eviction`` with group ``policy``, version ``v1``, kind ``Eviction``.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from shoal.frontdoor.kube.resources import Resource, group_versions, in_group_version

JSON = "application/json"
DISCOVERY_GROUP = "apidiscovery.k8s.io"
AGGREGATED = {
    "v2": f"{JSON};g={DISCOVERY_GROUP};v=v2;as=APIGroupDiscoveryList",
    "v2beta1": f"{JSON};g={DISCOVERY_GROUP};v=v2beta1;as=APIGroupDiscoveryList",
}

# The Kubernetes release shoal's API answers as: kubectl's dispatcher picks its binary by the minor.
KUBE_MAJOR = "1"
KUBE_MINOR = "33"
KUBE_GIT_VERSION = "v1.33.1-shoal"


def version_body(shoal_version: str) -> dict[str, Any]:
    """The body of ``GET /version`` (``version.Info``), for shoal release ``shoal_version``."""
    return {
        "major": KUBE_MAJOR,
        "minor": KUBE_MINOR,
        "emulationMajor": KUBE_MAJOR,
        "emulationMinor": KUBE_MINOR,
        "minCompatibilityMajor": KUBE_MAJOR,
        "minCompatibilityMinor": str(int(KUBE_MINOR) - 1),
        "gitVersion": KUBE_GIT_VERSION,
        "gitCommit": f"shoal-{shoal_version}",
        "gitTreeState": "clean",
        "buildDate": "2025-05-15T00:00:00Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def media_ranges(accept: str) -> list[tuple[str, dict[str, str]]]:
    """The media ranges of an Accept header, most preferred first (by ``q``, then by order), with their
    parameters (lower-case names); ranges with ``q=0`` are dropped."""
    ranges: list[tuple[float, int, str, dict[str, str]]] = []
    for index, part in enumerate(accept.split(",")):
        pieces = [piece.strip() for piece in part.split(";")]
        if not pieces[0]:
            continue
        params: dict[str, str] = {}
        for piece in pieces[1:]:
            key, _, value = piece.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        try:
            quality = float(params.pop("q", "1"))
        except ValueError:
            quality = 1.0
        if quality > 0:
            ranges.append((-quality, index, pieces[0].lower(), params))
    ranges.sort(key=lambda item: (item[0], item[1]))
    return [(media, params) for _, _, media, params in ranges]


def _wants_plain_json(media: str, params: dict[str, str]) -> bool:
    return media in ("application/json", "application/*", "*/*") and "as" not in params


def _aggregated_version(accept: str) -> str | None:
    """``v2``/``v2beta1`` when the client prefers the aggregated format, None for the legacy one."""
    for media, params in media_ranges(accept or JSON):
        if (media == JSON and params.get("as") == "APIGroupDiscoveryList"
                and params.get("g") == DISCOVERY_GROUP and params.get("v") in AGGREGATED):
            return params["v"]
        if _wants_plain_json(media, params):
            return None
    return None


def _scope(resource: Resource) -> str:
    return "Namespaced" if resource.namespaced else "Cluster"


def _aggregated_resource(resource: Resource) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": resource.resource,
        "responseKind": {"group": resource.group, "version": resource.version, "kind": resource.kind},
        "scope": _scope(resource),
        "singularResource": resource.singular,
        "verbs": list(resource.verbs),
    }
    if resource.short_names:
        entry["shortNames"] = list(resource.short_names)
    if resource.categories:
        entry["categories"] = list(resource.categories)
    if resource.subresources:
        entry["subresources"] = [
            {"subresource": sub.name, "responseKind": {"group": sub.group, "version": sub.version, "kind": sub.kind},
             "verbs": list(sub.verbs)}
            for sub in sorted(resource.subresources, key=lambda s: s.name)]
    return entry


def _aggregated_group(group: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"creationTimestamp": None}
    if group:
        metadata = {"name": group, **metadata}
    versions = [
        {"version": version,
         "resources": [_aggregated_resource(r) for r in sorted(in_group_version(group, version),
                                                                 key=lambda r: r.resource)],
         "freshness": "Current"}
        for g, version in group_versions() if g == group]
    return {"metadata": metadata, "versions": versions}


def _aggregated_list(version: str, groups: list[str]) -> dict[str, Any]:
    return {"kind": "APIGroupDiscoveryList", "apiVersion": f"{DISCOVERY_GROUP}/{version}", "metadata": {},
            "items": [_aggregated_group(group) for group in groups]}


def _named_groups() -> list[str]:
    groups: list[str] = []
    for group, _ in group_versions():
        if group and group not in groups:
            groups.append(group)
    return groups


def api(accept: str, server_address: str = "") -> tuple[str, dict[str, Any]]:
    """``GET /api``: the aggregated core group, or the legacy ``APIVersions``."""
    version = _aggregated_version(accept)
    if version is not None:
        return AGGREGATED[version], _aggregated_list(version, [""])
    body: dict[str, Any] = {"kind": "APIVersions", "versions": [v for g, v in group_versions() if not g]}
    if server_address:
        body["serverAddressByClientCIDRs"] = [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]
    return JSON, body


def _group_entry(group: str) -> dict[str, Any]:
    versions = [{"groupVersion": f"{group}/{v}", "version": v} for g, v in group_versions() if g == group]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def apis(accept: str) -> tuple[str, dict[str, Any]]:
    """``GET /apis``: the aggregated named groups, or the legacy ``APIGroupList``."""
    version = _aggregated_version(accept)
    if version is not None:
        return AGGREGATED[version], _aggregated_list(version, _named_groups())
    return JSON, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group_entry(g) for g in _named_groups()]}


def api_group(group: str) -> dict[str, Any] | None:
    """``GET /apis/<group>`` (``APIGroup``), None if the group is not served."""
    if group not in _named_groups():
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(group)}


def storage_version_hash(resource: Resource) -> str:
    """A stable, opaque hash of the resource's storage version (what Kubernetes puts in
    ``storageVersionHash``)."""
    digest = hashlib.sha256(f"{resource.group}/{resource.version}/{resource.kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def resource_list(group: str, version: str) -> dict[str, Any] | None:
    """``GET /api/v1`` or ``/apis/<group>/<version>`` (``APIResourceList``); None if not served."""
    served = in_group_version(group, version)
    if not served:
        return None
    entries: list[dict[str, Any]] = []
    for resource in sorted(served, key=lambda r: r.resource):
        entry: dict[str, Any] = {
            "name": resource.resource, "singularName": resource.singular, "namespaced": resource.namespaced,
            "kind": resource.kind, "verbs": list(resource.verbs)}
        if resource.short_names:
            entry["shortNames"] = list(resource.short_names)
        if resource.categories:
            entry["categories"] = list(resource.categories)
        entry["storageVersionHash"] = storage_version_hash(resource)
        entries.append(entry)
        for sub in sorted(resource.subresources, key=lambda s: s.name):
            sub_entry: dict[str, Any] = {"name": f"{resource.resource}/{sub.name}", "singularName": "",
                                         "namespaced": resource.namespaced}
            if (sub.group, sub.version) != (resource.group, resource.version):
                sub_entry["group"] = sub.group
                sub_entry["version"] = sub.version
            sub_entry["kind"] = sub.kind
            sub_entry["verbs"] = list(sub.verbs)
            entries.append(sub_entry)
    group_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": entries}

