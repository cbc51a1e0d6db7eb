"""Discovery: /version, aggregated /api and /apis, the legacy lists, and what drain and the dispatcher need."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoal.frontdoor.kube import discovery, resources
from tests.unit.frontdoor.kube.apiserver import KUBECTL, kubectl, serving

KUBECTL_ACCEPT = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                  "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")


def test_version_reports_kubernetes_1_33() -> None:
    body = discovery.version_body("0.1.0")
    assert (body["major"], body["minor"], body["gitVersion"]) == ("1", "33", "v1.33.1-shoal")
    assert body["platform"] == "linux/amd64" and body["compiler"] == "gc"
    assert "0.1.0" in body["gitCommit"]


def test_aggregated_core_group() -> None:
    content_type, body = discovery.api(KUBECTL_ACCEPT)
    assert content_type == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    assert (body["kind"], body["apiVersion"]) == ("APIGroupDiscoveryList", "apidiscovery.k8s.io/v2")
    [core] = body["items"]
    assert "name" not in core["metadata"]
    [v1] = core["versions"]
    assert (v1["version"], v1["freshness"]) == ("v1", "Current")
    by_name = {r["resource"]: r for r in v1["resources"]}
    assert sorted(by_name) == ["configmaps", "endpoints", "events", "namespaces", "nodes", "pods", "secrets",
                               "serviceaccounts", "services"]
    pods = by_name["pods"]
    assert pods["responseKind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert (pods["scope"], pods["singularResource"], pods["shortNames"], pods["categories"]) == \
        ("Namespaced", "pod", ["po"], ["all"])
    subs = {s["subresource"]: s for s in pods["subresources"]}
    assert sorted(subs) == ["attach", "binding", "eviction", "exec", "log", "portforward", "status"]
    assert subs["eviction"]["responseKind"] == {"group": "policy", "version": "v1", "kind": "Eviction"}
    assert by_name["nodes"]["scope"] == "Cluster" and by_name["namespaces"]["shortNames"] == ["ns"]
    assert {"cm", "ev", "sa", "no"} <= {s for r in v1["resources"] for s in r.get("shortNames", [])}


def test_v2beta1_when_asked_only_for_it() -> None:
    content_type, body = discovery.api("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList")
    assert content_type.endswith("v=v2beta1;as=APIGroupDiscoveryList")
    assert body["apiVersion"] == "apidiscovery.k8s.io/v2beta1"


def test_legacy_discovery() -> None:
    content_type, body = discovery.api("application/json", "10.213.0.1:6443")
    assert content_type == "application/json"
    assert body["kind"] == "APIVersions" and body["versions"] == ["v1"]
    assert body["serverAddressByClientCIDRs"][0]["serverAddress"] == "10.213.0.1:6443"
    assert [g["name"] for g in discovery.apis("")[1]["groups"]] == ["apps", "batch", "discovery.k8s.io",
                                                                    "networking.k8s.io"]
    assert [g["metadata"]["name"] for g in discovery.apis(KUBECTL_ACCEPT)[1]["items"]] == [
        "apps", "batch", "discovery.k8s.io", "networking.k8s.io"]
    assert discovery.api_group("scheduling.k8s.io") is None
    # A q=0 aggregated range is not wanted.
    assert discovery.api("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0,"
                         "application/json")[0] == "application/json"


def test_resource_list_has_policy_eviction_for_drain() -> None:
    body = discovery.resource_list("", "v1")
    assert body is not None
    assert (body["kind"], body["groupVersion"]) == ("APIResourceList", "v1")
    by_name = {r["name"]: r for r in body["resources"]}
    assert by_name["pods/eviction"] == {"name": "pods/eviction", "singularName": "", "namespaced": True,
                                        "group": "policy", "version": "v1", "kind": "Eviction",
                                        "verbs": ["create"]}
    assert "group" not in by_name["pods/status"]
    pods = by_name["pods"]
    assert (pods["kind"], pods["singularName"], pods["namespaced"]) == ("Pod", "pod", True)
    assert pods["storageVersionHash"] == discovery.storage_version_hash(resources.RESOURCES[2])
    assert discovery.resource_list("scheduling.k8s.io", "v1") is None
    ing = discovery.resource_list("networking.k8s.io", "v1")
    assert ing is not None and sorted(r["name"] for r in ing["resources"]) == [
        "ingressclasses", "ingresses", "ingresses/status"]


def test_registry_lookups() -> None:
    pods = resources.by_path("", "v1", "pods")
    assert pods is not None and pods.kind == "Pod" and pods.qualified == "pods"
    assert resources.by_kind("v1", "Secret") is resources.by_path("", "v1", "secrets")
    assert resources.by_kind("scheduling.k8s.io/v1", "PriorityClass") is None
    ingresses = resources.by_kind("networking.k8s.io/v1", "Ingress")
    assert ingresses is not None and ingresses.qualified == "ingresses.networking.k8s.io"
    assert pods.subresource("eviction") is not None and pods.subresource("scale") is None
    assert pods.group_version == "api/v1" and pods.api_version == "v1"


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
async def test_kubectl_api_resources(tmp_path: Path) -> None:
    async with serving() as server:
        code, out, err = await kubectl(server, tmp_path, "api-resources")
    assert code == 0, err
    lines = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert lines["pods"] == ["pods", "po", "v1", "true", "Pod"]
    assert lines["nodes"] == ["nodes", "no", "v1", "false", "Node"]
    assert lines["secrets"] == ["secrets", "v1", "true", "Secret"]
    # The dispatcher asked /version, then kubectl the aggregated discovery.
    assert server.seen[0][0] == "GET /version?timeout=5s"
    assert ("GET /api?timeout=32s", KUBECTL_ACCEPT) in server.seen
