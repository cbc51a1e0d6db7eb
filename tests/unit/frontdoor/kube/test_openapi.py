"""OpenAPI v3: Kubernetes' schema names and list markers, the index and its hashes, and the real kubectl
using it for explain and apply."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp import web

from shoal.frontdoor.kube import openapi, status
from tests.unit.frontdoor.kube.apiserver import KUBECTL, KUBECTL_132, Reply, kubectl, serving

POD = "io.k8s.api.core.v1.Pod"
CORE = "io.k8s.api.core.v1."
META = "io.k8s.apimachinery.pkg.apis.meta.v1."


def _doc() -> dict[str, Any]:
    return json.loads(openapi.documents()["api/v1"].body)


def _walk(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found.extend(_walk(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_walk(value))
    return found


def test_schemas_are_named_and_marked_as_kubernetes_does() -> None:
    schemas = _doc()["components"]["schemas"]
    assert schemas[POD]["x-kubernetes-group-version-kind"] == [{"group": "", "kind": "Pod", "version": "v1"}]
    assert schemas[CORE + "PodList"]["x-kubernetes-group-version-kind"][0]["kind"] == "PodList"
    assert schemas["io.k8s.api.policy.v1.Eviction"]["x-kubernetes-group-version-kind"] == [
        {"group": "policy", "kind": "Eviction", "version": "v1"}]
    assert schemas[POD]["properties"]["metadata"] == {
        "allOf": [{"$ref": "#/components/schemas/" + META + "ObjectMeta"}],
        "description": "Standard object's metadata."}
    containers = schemas[CORE + "PodSpec"]["properties"]["containers"]
    assert containers["items"] == {"$ref": "#/components/schemas/" + CORE + "Container"}
    assert (containers["type"], containers["x-kubernetes-patch-merge-key"], containers["x-kubernetes-patch-strategy"],
            containers["x-kubernetes-list-type"], containers["x-kubernetes-list-map-keys"]) == \
        ("array", "name", "merge", "map", ["name"])
    container = schemas[CORE + "Container"]["properties"]
    assert container["volumeMounts"]["x-kubernetes-patch-merge-key"] == "mountPath"
    assert container["ports"]["x-kubernetes-patch-merge-key"] == "containerPort"
    assert container["env"]["x-kubernetes-patch-merge-key"] == "name"
    assert container["image"] == {"description": "Container image name.", "type": "string"}
    assert schemas[CORE + "PodStatus"]["properties"]["conditions"]["x-kubernetes-patch-merge-key"] == "type"
    assert schemas[META + "ObjectMeta"]["properties"]["ownerReferences"]["x-kubernetes-patch-merge-key"] == "uid"
    assert schemas[META + "ObjectMeta"]["properties"]["creationTimestamp"]["allOf"] == [
        {"$ref": "#/components/schemas/" + META + "Time"}]
    assert schemas[META + "Time"]["format"] == "date-time"
    port = schemas[CORE + "HTTPGetAction"]["properties"]["port"]
    assert port["allOf"] == [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString"}]
    requests = schemas[CORE + "ResourceRequirements"]["properties"]["requests"]
    assert requests["additionalProperties"] == {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.api.resource."
                                                        "Quantity"}
    assert "x-kubernetes-patch-strategy" not in schemas[CORE + "PodSpec"]["properties"]["tolerations"]
    assert schemas[CORE + "Container"]["required"] == ["name"]
    assert schemas[CORE + "VolumeMount"]["required"] == ["name", "mountPath"]
    assert "required" not in schemas[POD]
    # The probe handler is inlined, as in Kubernetes.
    assert {"exec", "httpGet", "tcpSocket", "grpc", "periodSeconds"} <= set(schemas[CORE + "Probe"]["properties"])


def test_schemas_are_plain_kubernetes_json_schema() -> None:
    doc = _doc()
    schemas = doc["components"]["schemas"]
    for node in _walk(schemas):
        assert {"type": "null"} not in node.get("anyOf", []), node
        assert "title" not in node or not isinstance(node["title"], str), node
        if node.get("type") == "array":
            assert node.get("items"), node
        ref = node.get("$ref")
        if isinstance(ref, str):
            assert ref.removeprefix("#/components/schemas/") in schemas, ref
            assert set(node) == {"$ref"}, node


def test_required_fields_exist() -> None:
    structs = openapi._wire_structs()
    for name, required in openapi.REQUIRED.items():
        fields = {f.encode_name for f in msgspec.structs.fields(structs[name])}
        assert set(required) <= fields, name


def test_patch_operations_declare_field_validation() -> None:
    paths = _doc()["paths"]
    patch = paths["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "", "kind": "Pod", "version": "v1"}
    assert patch["x-kubernetes-action"] == "patch"
    assert patch["operationId"] == "patchCoreV1NamespacedPod"
    assert {"name": "fieldValidation", "in": "query"}.items() <= next(
        p for p in patch["parameters"] if p["name"] == "fieldValidation").items()
    assert "application/strategic-merge-patch+json" in patch["requestBody"]["content"]
    assert paths["/api/v1/nodes/{name}"]["patch"]["operationId"] == "patchCoreV1Node"
    assert paths["/api/v1/pods"]["get"]["operationId"] == "listCoreV1PodForAllNamespaces"
    eviction = paths["/api/v1/namespaces/{namespace}/pods/{name}/eviction"]["post"]
    assert eviction["x-kubernetes-group-version-kind"]["group"] == "policy"


def test_index_and_serving() -> None:
    index = json.loads(openapi.index().body)
    doc = openapi.documents()["api/v1"]
    apps = openapi.documents()["apis/apps/v1"]
    batch = openapi.documents()["apis/batch/v1"]
    disc = openapi.documents()["apis/discovery.k8s.io/v1"]
    net = openapi.documents()["apis/networking.k8s.io/v1"]
    assert index == {"paths": {"api/v1": {"serverRelativeURL": f"/openapi/v3/api/v1?hash={doc.hash}"},
                               "apis/apps/v1": {"serverRelativeURL": f"/openapi/v3/apis/apps/v1?hash={apps.hash}"},
                               "apis/batch/v1": {"serverRelativeURL": f"/openapi/v3/apis/batch/v1?hash={batch.hash}"},
                               "apis/discovery.k8s.io/v1": {
                                   "serverRelativeURL": f"/openapi/v3/apis/discovery.k8s.io/v1?hash={disc.hash}"},
                               "apis/networking.k8s.io/v1": {
                                   "serverRelativeURL": f"/openapi/v3/apis/networking.k8s.io/v1?hash={net.hash}"}}}
    assert len(doc.hash) == 128 and doc.hash == doc.hash.upper()
    assert openapi.documents() is openapi.documents()
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    reply = openapi.serve("/api/v1", doc.hash, now=now)
    assert reply is not None and reply.status == 200 and reply.body == doc.body
    assert reply.headers["Cache-Control"] == "public, immutable"
    assert reply.headers["ETag"] == f'"{doc.hash}"'
    assert reply.headers["Expires"] == "Fri, 01 Jan 2027 00:00:00 GMT"
    stale = openapi.serve("/api/v1", "ABC")
    assert stale is not None
    assert (stale.status, stale.headers["Location"]) == (301, f"/openapi/v3/api/v1?hash={doc.hash}")
    unconditional = openapi.serve("api/v1")
    assert unconditional is not None and "Cache-Control" not in unconditional.headers
    cached = openapi.serve("/api/v1", doc.hash, if_none_match=f'"{doc.hash}"')
    assert cached is not None and (cached.status, cached.body) == (304, b"")
    root = openapi.serve("")
    assert root is not None and root.body == openapi.index().body
    assert root.headers["Cache-Control"] == "no-cache, private"
    assert openapi.serve("/apis/scheduling.k8s.io/v1") is None


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
@pytest.mark.parametrize("binary", ["dispatcher", "1.32"])
async def test_kubectl_explain(tmp_path: Path, binary: str) -> None:
    if binary == "1.32" and KUBECTL_132 is None:
        pytest.skip("no kubectl.1.32")
    chosen = KUBECTL_132 if binary == "1.32" else None
    async with serving() as server:
        code, out, err = await kubectl(server, tmp_path, "explain", "pod.spec.containers", "--recursive",
                                       binary=chosen)
        assert code == 0, err
        assert "FIELD: containers <[]Container>" in out
        assert "List of containers belonging to the pod." in out
        lines = [line.strip() for line in out.splitlines()]
        assert "name\t<string> -required-" in lines
        for field in ("image\t<string>", "livenessProbe\t<Probe>", "httpGet\t<HTTPGetAction>",
                      "volumeMounts\t<[]VolumeMount>", "mountPath\t<string> -required-", "valueFrom\t<EnvVarSource>",
                      "secretKeyRef\t<SecretKeySelector>", "limits\t<map[string]string>"):
            assert field in lines, field
        code, out, err = await kubectl(server, tmp_path, "explain", "pods.spec.containers.livenessProbe",
                                       binary=chosen)
        assert code == 0, err
        assert "Periodic probe of container liveness." in out and "tcpSocket\t<TCPSocketAction>" in out
        code, out, err = await kubectl(server, tmp_path, "explain", "no.spec", binary=chosen)
        assert code == 0, err
        assert "unschedulable\t<boolean>" in out and "taints\t<[]Taint>" in out
    asked = [line for line, _ in server.seen]
    assert "GET /openapi/v3?timeout=32s" in asked
    assert any(line.startswith(f"GET /openapi/v3/api/v1?hash={openapi.documents()['api/v1'].hash}") for line in asked)


POD_YAML = """\
apiVersion: v1
kind: Pod
metadata:
  name: mywebserver
spec:
  containers:
  - name: mywebserver
    image: nginx
"""


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
async def test_kubectl_apply_leaves_validation_to_the_server(tmp_path: Path) -> None:
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(POD_YAML)
    typo = tmp_path / "typo.yaml"
    typo.write_text(POD_YAML.replace("    image: nginx", "    image: nginx\n    imagee: nginx"))
    created: list[tuple[str, dict[str, Any]]] = []

    async def get_pod(request: web.Request) -> Reply:
        return 404, "application/json", status.not_found("pods", "", "mywebserver")[1]

    async def create_pod(request: web.Request) -> Reply:
        body = await request.json()
        created.append((request.query_string, body))
        return 201, "application/json", body

    async with serving() as server:
        server.routes[("GET", "/api/v1/namespaces/default/pods/mywebserver")] = get_pod
        server.routes[("POST", "/api/v1/namespaces/default/pods")] = create_pod
        code, out, err = await kubectl(server, tmp_path, "apply", "--dry-run=client", "-f", str(manifest),
                                       "--validate=strict")
        assert (code, out.strip()) == (0, "pod/mywebserver created (dry run)"), err
        # Client-side validation would refuse the typo (kubectl 1.33 would even fetch /openapi/v2 for it); kubectl
        # found fieldValidation on the PATCH operation of Pod, so it leaves the check to the server.
        code, out, err = await kubectl(server, tmp_path, "apply", "--dry-run=client", "-f", str(typo),
                                       "--validate=strict")
        assert (code, out.strip()) == (0, "pod/mywebserver created (dry run)"), err
        assert not created
        code, out, err = await kubectl(server, tmp_path, "apply", "-f", str(typo))
        assert (code, out.strip()) == (0, "pod/mywebserver created"), err
    [(query, body)] = created
    assert "fieldValidation=Strict" in query and "fieldManager=kubectl-client-side-apply" in query
    assert body["spec"]["containers"][0]["imagee"] == "nginx"
    assert "kubectl.kubernetes.io/last-applied-configuration" in body["metadata"]["annotations"]
    assert not any(line.startswith("GET /openapi/v2") for line, _ in server.seen)


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
async def test_kubectl_apply_merges_lists_by_the_schema_merge_keys(tmp_path: Path) -> None:
    """kubectl's three-way strategic merge patch matches containers by name: the markers come from our schema."""
    old: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod",
                           "metadata": {"name": "mywebserver", "namespace": "default", "resourceVersion": "3"},
                           "spec": {"containers": [{"name": "mywebserver", "image": "nginx"},
                                                   {"name": "side", "image": "busybox"}]}}
    last_applied = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "mywebserver", "namespace": "default"},
                    "spec": {"containers": [{"name": "mywebserver", "image": "nginx"},
                                            {"name": "side", "image": "busybox"}]}}
    old["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(last_applied)}
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(POD_YAML.replace("image: nginx", "image: nginx:1.27") + "  - name: side\n    image: busybox\n")
    patches: list[tuple[str, str, dict[str, Any]]] = []

    async def get_pod(request: web.Request) -> Reply:
        return 200, "application/json", old

    async def patch_pod(request: web.Request) -> Reply:
        patches.append((request.headers["Content-Type"], request.query_string, await request.json()))
        return 200, "application/json", old

    async with serving() as server:
        server.routes[("GET", "/api/v1/namespaces/default/pods/mywebserver")] = get_pod
        server.routes[("PATCH", "/api/v1/namespaces/default/pods/mywebserver")] = patch_pod
        code, out, err = await kubectl(server, tmp_path, "apply", "-f", str(manifest))
    assert (code, out.strip()) == (0, "pod/mywebserver configured"), err
    [(content_type, query, patch)] = patches
    assert content_type == "application/strategic-merge-patch+json"
    assert "fieldManager=kubectl-client-side-apply" in query and "fieldValidation=Strict" in query
    assert patch["spec"] == {"$setElementOrder/containers": [{"name": "mywebserver"}, {"name": "side"}],
                             "containers": [{"image": "nginx:1.27", "name": "mywebserver"}]}
