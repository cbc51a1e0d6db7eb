"""The Kubernetes door's routes over the real object API (``KubeObjects`` on an in-memory store): list,
get, create (JSON, YAML, protobuf), update, the four patch kinds, server-side apply, delete, watch,
selectors, limit/continue, Tables, dry runs, conflicts and the error bodies."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import yaml

from shoal.api.errors import Unavailable
from shoal.api.types import Node, Task
from shoal.frontdoor.kube import protobuf
from shoal.frontdoor.kube.tables import TABLE
from tests.unit.frontdoor.kube.fakenode import Env, serving

PODS = "/api/v1/namespaces/default/pods"
CMS = "/api/v1/namespaces/default/configmaps"
TABLE_ACCEPT = f"{TABLE},application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"


def pod(name: str, image: str = "nginx", labels: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"containers": [{"name": name, "image": image}], **extra}}


def cm(name: str, labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


@pytest.fixture
async def env() -> Any:
    async with serving(bookmark_interval=0.2) as e:
        yield e


# ---------------------------------------------------------------- fixed routes and errors


async def test_version_discovery_and_openapi(env: Env) -> None:
    code, body, _ = await env.call("GET", "/version")
    assert code == 200 and body["minor"] == "33"
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    code, body, headers = await env.call("GET", "/api", headers={"Accept": accept})
    assert headers["Content-Type"] == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    assert body["kind"] == "APIGroupDiscoveryList"
    code, body, _ = await env.call("GET", "/api/v1")
    assert code == 200 and {"name": "pods/eviction"}.items() <= next(
        r for r in body["resources"] if r["name"] == "pods/eviction").items()
    code, body, _ = await env.call("GET", "/openapi/v3")
    url = body["paths"]["api/v1"]["serverRelativeURL"]
    code, body, _ = await env.call("GET", url)
    assert code == 200 and "io.k8s.api.core.v1.Pod" in body["components"]["schemas"]
    code, body, _ = await env.call("GET", "/apis/nothing.example/v1/things")
    assert code == 404 and body["message"] == "the server could not find the requested resource"
    code, body, _ = await env.call("GET", "/no/such/path")
    assert code == 404 and body["kind"] == "Status"


async def test_not_found_and_already_exists(env: Env) -> None:
    code, body, _ = await env.call("GET", f"{PODS}/nope")
    assert code == 404
    assert body["message"] == 'pods "nope" not found'
    assert body["reason"] == "NotFound" and body["details"] == {"name": "nope", "kind": "pods"}
    assert (await env.call("POST", CMS, cm("a", k="v")))[0] == 201
    code, body, _ = await env.call("POST", CMS, cm("a", k="v"))
    assert code == 409 and body["reason"] == "AlreadyExists" and body["message"] == 'configmaps "a" already exists'
    code, body, _ = await env.call("POST", "/api/v1/namespaces/nowhere/configmaps", cm("b"))
    assert code == 404 and body["message"] == 'namespaces "nowhere" not found'


async def test_unsupported_body_and_unavailable(env: Env) -> None:
    code, body, _ = await env.call("POST", CMS, "data", ctype="text/plain")
    assert code == 415 and body["reason"] == "UnsupportedMediaType"
    assert body["message"].startswith("the body of the request was in an unknown format - accepted media types "
                                      "include: application/json, application/yaml")
    env.node.unavailable = Unavailable("the swarm does not have a leader")
    code, body, _ = await env.call("POST", CMS, cm("x"))
    assert code == 503 and body["message"] == "the swarm does not have a leader"


async def test_a_body_over_the_api_servers_limit_is_413(env: Env) -> None:
    big = cm("big", k="x" * (3 * 1024 * 1024))
    code, body, _ = await env.call("POST", CMS, big)
    assert code == 413 and body["reason"] == "RequestEntityTooLarge"
    assert body["message"] == "Request entity too large: limit is 3145728"
    assert (await env.call("GET", f"{CMS}/big"))[0] == 404


# ---------------------------------------------------------------- create, get, list


async def test_create_get_list_pod(env: Env) -> None:
    code, created, _ = await env.call("POST", f"{PODS}?fieldManager=kubectl-create", pod("web", labels={"a": "b"}))
    assert code == 201, created
    assert created["metadata"]["name"] == "web" and created["metadata"]["namespace"] == "default"
    assert created["metadata"]["uid"] and created["metadata"]["resourceVersion"]
    assert created["spec"]["restartPolicy"] == "Always"  # defaults written
    assert created["metadata"]["managedFields"][0]["manager"] == "kubectl-create"
    code, got, _ = await env.call("GET", f"{PODS}/web")
    assert code == 200 and got["metadata"]["uid"] == created["metadata"]["uid"]
    # a client that asks for protobuf first gets JSON
    code, got, headers = await env.call("GET", f"{PODS}/web",
                                        headers={"Accept": "application/vnd.kubernetes.protobuf,application/json"})
    assert code == 200 and headers["Content-Type"].startswith("application/json")
    code, lst, _ = await env.call("GET", PODS)
    assert lst["kind"] == "PodList" and [i["metadata"]["name"] for i in lst["items"]] == ["web"]
    assert int(lst["metadata"]["resourceVersion"]) >= int(created["metadata"]["resourceVersion"])
    code, lst, _ = await env.call("GET", "/api/v1/pods")  # every namespace
    assert [i["metadata"]["name"] for i in lst["items"]] == ["web"]


async def test_create_from_yaml_and_protobuf(env: Env) -> None:
    code, body, _ = await env.call("POST", CMS, yaml.safe_dump(cm("fromyaml", k="v")), ctype="application/yaml")
    assert code == 201 and body["data"] == {"k": "v"}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "type": "",
              "data": {"password": "czNjcjN0"}}
    code, body, _ = await env.call("POST", "/api/v1/namespaces/default/secrets?fieldManager=kubectl-create",
                                   protobuf.encode(secret), ctype=protobuf.PROTOBUF)
    assert code == 201, body
    assert body["type"] == "Opaque" and body["data"] == {"password": "czNjcjN0"}


async def test_generate_name(env: Env) -> None:
    code, body, _ = await env.call("POST", CMS, {"metadata": {"generateName": "gen-"}, "data": {}})
    assert code == 201 and body["metadata"]["name"].startswith("gen-") and len(body["metadata"]["name"]) == 9


async def test_field_validation(env: Env) -> None:
    bad = pod("v")
    bad["spec"]["foo"] = 1
    code, body, _ = await env.call("POST", f"{PODS}?fieldValidation=Strict", bad)
    assert code == 400
    assert body["message"] == ('Pod in version "v1" cannot be handled as a Pod: strict decoding error: '
                               'unknown field "spec.foo"')
    code, body, headers = await env.call("POST", f"{PODS}?fieldValidation=Warn", bad)
    assert code == 201 and 'unknown field \\"spec.foo\\"' in headers["Warning"]
    bad["metadata"]["name"] = "v2"
    code, body, headers = await env.call("POST", f"{PODS}?fieldValidation=Ignore", bad)
    assert code == 201 and "Warning" not in headers


async def test_namespace_mismatch(env: Env) -> None:
    obj = cm("x")
    obj["metadata"]["namespace"] = "kube-system"
    code, body, _ = await env.call("POST", CMS, obj)
    assert code == 400
    assert body["message"] == "the namespace of the provided object does not match the namespace sent on the request"


async def test_invalid_object(env: Env) -> None:
    code, body, _ = await env.call("POST", PODS, {"metadata": {"name": "x"}, "spec": {"containers": [{"name": "x"}]}})
    assert code == 422 and body["reason"] == "Invalid"
    assert body["message"] == 'Pod "x" is invalid: spec.containers[0].image: Required value'
    assert body["details"]["causes"][0] == {"reason": "FieldValueRequired", "message": "Required value",
                                            "field": "spec.containers[0].image"}
    assert body["details"]["causes"][0]["field"] == "spec.containers[0].image"


async def test_dry_run(env: Env) -> None:
    code, body, _ = await env.call("POST", f"{CMS}?dryRun=All", cm("dry", k="v"))
    assert code == 201 and body["metadata"]["name"] == "dry"
    assert (await env.call("GET", f"{CMS}/dry"))[0] == 404
    await env.call("POST", CMS, cm("wet", k="v"))
    code, body, _ = await env.call("PATCH", f"{CMS}/wet?dryRun=All", {"data": {"k": "w"}},
                                   ctype="application/merge-patch+json")
    assert code == 200 and body["data"] == {"k": "w"}
    assert (await env.call("GET", f"{CMS}/wet"))[1]["data"] == {"k": "v"}
    code, body, _ = await env.call("DELETE", f"{CMS}/wet?dryRun=All")
    assert code == 200 and (await env.call("GET", f"{CMS}/wet"))[0] == 200


# ---------------------------------------------------------------- update and patches


async def test_put_and_conflict(env: Env) -> None:
    _, created, _ = await env.call("POST", CMS, cm("c", k="v"))
    obj = dict(created, data={"k": "w"})
    code, updated, _ = await env.call("PUT", f"{CMS}/c", obj)
    assert code == 200 and updated["data"] == {"k": "w"}
    assert updated["metadata"]["resourceVersion"] != created["metadata"]["resourceVersion"]
    code, body, _ = await env.call("PUT", f"{CMS}/c", dict(created, data={"k": "stale"}))  # the old version
    assert code == 409 and body["reason"] == "Conflict"
    assert body["message"] == ('Operation cannot be fulfilled on configmaps "c": the object has been modified; '
                               "please apply your changes to the latest version and try again")
    code, body, _ = await env.call("PUT", f"{CMS}/other", obj)
    assert code == 400 and "does not match the name on the URL" in body["message"]


async def test_patch_kinds(env: Env) -> None:
    await env.call("POST", PODS, pod("p", labels={"app": "x"}))
    code, body, _ = await env.call("PATCH", f"{PODS}/p?fieldManager=kubectl-label",
                                   {"metadata": {"labels": {"env": "prod"}}}, ctype="application/merge-patch+json")
    assert code == 200, body
    assert body["metadata"]["labels"] == {"app": "x", "env": "prod"}
    assert any(e["manager"] == "kubectl-label" for e in body["metadata"]["managedFields"])
    code, body, _ = await env.call("PATCH", f"{PODS}/p", [{"op": "remove", "path": "/metadata/labels/app"}],
                                   ctype="application/json-patch+json")
    assert code == 200 and body["metadata"]["labels"] == {"env": "prod"}
    smp = {"metadata": {"annotations": {"note": "hi"}},
           "spec": {"$setElementOrder/containers": [{"name": "p"}],
                    "containers": [{"name": "p", "image": "nginx:1.27"}]}}
    code, body, _ = await env.call("PATCH", f"{PODS}/p", smp, ctype="application/strategic-merge-patch+json")
    assert code == 200, body
    assert body["metadata"]["annotations"] == {"note": "hi"}
    assert [(c["name"], c["image"]) for c in body["spec"]["containers"]] == [("p", "nginx:1.27")]
    code, body, _ = await env.call("PATCH", f"{PODS}/p", {"x": 1}, ctype="application/xml")
    assert code == 415
    code, body, _ = await env.call("PATCH", f"{PODS}/missing", {"metadata": {}}, ctype="application/merge-patch+json")
    assert code == 404


async def test_server_side_apply(env: Env) -> None:
    manifest = pod("s", labels={"app": "s"})
    code, body, _ = await env.call("PATCH", f"{PODS}/s?fieldManager=kubectl&force=false", manifest,
                                   ctype="application/apply-patch+yaml")
    assert code == 201, body
    entry = body["metadata"]["managedFields"][0]
    assert (entry["manager"], entry["operation"], entry["fieldsType"]) == ("kubectl", "Apply", "FieldsV1")
    assert 'k:{"name":"s"}' in entry["fieldsV1"]["f:spec"]["f:containers"]
    code, body, _ = await env.call("PATCH", f"{PODS}/s?fieldManager=kubectl", manifest,
                                   ctype="application/apply-patch+yaml")
    assert code == 200
    # a field another manager set: a conflict, unless forced
    await env.call("POST", f"{PODS}?fieldManager=kubectl-client-side-apply", pod("x"))
    code, body, _ = await env.call("PATCH", f"{PODS}/x?fieldManager=kubectl", pod("x", image="nginx:1.27"),
                                   ctype="application/apply-patch+yaml")
    assert code == 409, body
    assert body["message"] == ('Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using v1: '
                               '.spec.containers[name="x"].image')
    code, body, _ = await env.call("PATCH", f"{PODS}/x?fieldManager=kubectl&force=true", pod("x", image="nginx:1.27"),
                                   ctype="application/apply-patch+yaml")
    assert code == 200 and body["spec"]["containers"][0]["image"] == "nginx:1.27"
    managers = {e["manager"]: e for e in body["metadata"]["managedFields"]}
    assert "f:image" not in json.dumps(managers["kubectl-client-side-apply"]["fieldsV1"]["f:spec"])
    # the same values: no conflict
    code, body, _ = await env.call("PATCH", f"{CMS}/a?fieldManager=other", cm("a", k="v"),
                                   ctype="application/apply-patch+yaml")
    assert code == 201
    code, body, _ = await env.call("PATCH", f"{CMS}/a?fieldManager=mine", cm("a", k="v"),
                                   ctype="application/apply-patch+yaml")
    assert code == 200


# ---------------------------------------------------------------- delete


async def test_delete(env: Env) -> None:
    await env.call("POST", CMS, cm("d"))
    code, body, _ = await env.call("DELETE", f"{CMS}/d", {"propagationPolicy": "Background"})
    assert code == 200 and body["kind"] == "Status" and body["status"] == "Success"
    assert body["details"]["name"] == "d" and body["details"]["kind"] == "configmaps"
    assert (await env.call("GET", f"{CMS}/d"))[0] == 404
    code, body, _ = await env.call("DELETE", f"{CMS}/d")
    assert code == 404
    _, created, _ = await env.call("POST", PODS, pod("gone"))
    # a Pod never scheduled goes at once (the answer is the Pod, as Kubernetes answers for Pods); a
    # DeleteOptions body in protobuf is read too
    opts = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 5,
            "preconditions": {"uid": created["metadata"]["uid"]}}
    code, body, _ = await env.call("DELETE", f"{PODS}/gone", protobuf.encode(opts), ctype=protobuf.PROTOBUF)
    assert code == 200 and body["kind"] == "Pod" and body["metadata"]["name"] == "gone", body
    assert (await env.call("GET", f"{PODS}/gone"))[0] == 404
    await env.call("POST", CMS, cm("pre"))
    code, body, _ = await env.call("DELETE", f"{CMS}/pre", {"preconditions": {"uid": "wrong"}})
    assert code == 409


async def test_delete_scheduled_pod_is_graceful(env: Env) -> None:
    await env.call("POST", PODS, pod("run"))
    t = env.kube.get("tasks", "default", "run")
    node = env.kube.list("nodes")[0]
    t.NodeID = node.ID
    from shoal.api.states import TaskState

    t.Status.State = TaskState.RUNNING
    await env.store.commit(updates=[t])
    code, body, _ = await env.call("DELETE", f"{PODS}/run")
    assert code == 200 and body["kind"] == "Pod" and body["metadata"]["deletionTimestamp"]
    assert body["metadata"]["deletionGracePeriodSeconds"] == 30


async def test_namespace_delete_terminates(env: Env) -> None:
    code, body, _ = await env.call("POST", "/api/v1/namespaces", {"metadata": {"name": "team-a"}})
    assert code == 201
    await env.call("POST", "/api/v1/namespaces/team-a/configmaps", cm("inside"))
    code, body, _ = await env.call("DELETE", "/api/v1/namespaces/team-a")
    assert code == 200 and body["status"]["phase"] == "Terminating"
    for _ in range(200):
        if (await env.call("GET", "/api/v1/namespaces/team-a"))[0] == 404:
            break
        await asyncio.sleep(0.02)
    assert (await env.call("GET", "/api/v1/namespaces/team-a"))[0] == 404


# ---------------------------------------------------------------- selectors, pages, tables


async def test_selectors(env: Env) -> None:
    for name, labels in (("a", {"env": "prod", "tier": "web"}), ("b", {"env": "dev", "tier": "db"}),
                         ("c", {"env": "test"}), ("d", {"env": "dev"})):
        await env.call("POST", CMS, cm(name, labels))
    code, body, _ = await env.call("GET", CMS, params={"labelSelector": "env in (prod,dev),tier!=db"})
    assert code == 200 and [i["metadata"]["name"] for i in body["items"]] == ["a", "d"]
    code, body, _ = await env.call("GET", CMS, params={"labelSelector": "!tier"})
    assert [i["metadata"]["name"] for i in body["items"]] == ["c", "d"]
    code, body, _ = await env.call("GET", CMS, params={"fieldSelector": "metadata.name=b"})
    assert [i["metadata"]["name"] for i in body["items"]] == ["b"]
    code, body, _ = await env.call("GET", CMS, params={"fieldSelector": "metadata.name!=b"})
    assert [i["metadata"]["name"] for i in body["items"]] == ["a", "c", "d"]
    code, body, _ = await env.call("GET", CMS, params={"labelSelector": "env in (prod"})
    assert code == 400
    code, body, _ = await env.call("GET", CMS, params={"fieldSelector": "spec.nope=1"})
    assert code == 400 and "field label not supported: spec.nope" in body["message"]


async def test_pod_field_selectors_and_events(env: Env) -> None:
    await env.call("POST", PODS, pod("one"))
    _, created, _ = await env.call("POST", PODS, pod("two"))
    code, body, _ = await env.call("GET", "/api/v1/pods", params={"fieldSelector": "status.phase=Pending"})
    assert [i["metadata"]["name"] for i in body["items"]] == ["one", "two"]
    uid = created["metadata"]["uid"]
    ev = {"metadata": {"name": "two.1"}, "involvedObject": {"kind": "Pod", "name": "two", "namespace": "default",
                                                               "uid": uid},
          "reason": "Scheduled", "message": "Successfully assigned default/two to node01", "type": "Normal"}
    code, body, _ = await env.call("POST", "/api/v1/namespaces/default/events", ev)
    assert code == 201, body
    selector = f"involvedObject.name=two,involvedObject.namespace=default,involvedObject.uid={uid}"
    code, body, _ = await env.call("GET", "/api/v1/namespaces/default/events",
                                   params={"fieldSelector": selector, "limit": "500"})
    assert code == 200 and [i["reason"] for i in body["items"]] == ["Scheduled"]
    code, body, _ = await env.call("GET", "/api/v1/namespaces/default/events",
                                   params={"fieldSelector": "involvedObject.name=one"})
    assert body["items"] == []


async def test_limit_and_continue(env: Env) -> None:
    for i in range(5):
        await env.call("POST", CMS, cm(f"cm{i}"))
    names: list[str] = []
    token = ""
    pages = 0
    while True:
        params = {"limit": "2", **({"continue": token} if token else {})}
        code, body, _ = await env.call("GET", CMS, params=params)
        assert code == 200
        names += [i["metadata"]["name"] for i in body["items"]]
        pages += 1
        token = body["metadata"].get("continue", "")
        if not token:
            break
        assert body["metadata"]["remainingItemCount"] == 5 - len(names)
    assert names == [f"cm{i}" for i in range(5)] and pages == 3
    code, body, _ = await env.call("GET", CMS, params={"continue": "!!notatoken"})
    assert code == 400


async def test_table(env: Env) -> None:
    await env.call("POST", PODS, pod("t1"))
    code, body, headers = await env.call("GET", f"{PODS}?limit=500", headers={"Accept": TABLE_ACCEPT})
    assert code == 200 and headers["Content-Type"] == TABLE
    assert body["kind"] == "Table" and [c["name"] for c in body["columnDefinitions"]][:3] == ["Name", "Ready",
                                                                                               "Status"]
    assert body["rows"][0]["cells"][0] == "t1"
    assert body["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    code, body, _ = await env.call("GET", f"{PODS}/t1", headers={"Accept": TABLE_ACCEPT})
    assert body["kind"] == "Table" and len(body["rows"]) == 1


# ---------------------------------------------------------------- watch


async def _events(resp: Any, n: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(n):
        line = await asyncio.wait_for(resp.content.readline(), 5)
        assert line, "the watch ended"
        out.append(json.loads(line))
    return out


async def test_watch_sees_changes(env: Env) -> None:
    await env.call("POST", CMS, cm("before", k="1"))
    _, lst, _ = await env.call("GET", CMS)
    rv = lst["metadata"]["resourceVersion"]
    async with env.client.get(CMS, params={"watch": "true", "resourceVersion": rv}) as resp:
        assert resp.status == 200
        await env.call("POST", CMS, cm("w", k="1"))
        await env.call("PATCH", f"{CMS}/w", {"data": {"k": "2"}}, ctype="application/merge-patch+json")
        await env.call("DELETE", f"{CMS}/w")
        evs = await _events(resp, 3)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in evs] == [
        ("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]
    assert evs[1]["object"]["data"] == {"k": "2"}


async def test_watch_from_zero_lists_first_and_filters(env: Env) -> None:
    await env.call("POST", CMS, cm("x", {"app": "a"}))
    await env.call("POST", CMS, cm("y", {"app": "b"}))
    async with env.client.get(CMS, params={"watch": "1", "labelSelector": "app=a"}) as resp:
        first = await _events(resp, 1)
        assert (first[0]["type"], first[0]["object"]["metadata"]["name"]) == ("ADDED", "x")
        await env.call("PATCH", f"{CMS}/x", {"metadata": {"labels": {"app": "c"}}},
                       ctype="application/merge-patch+json")
        gone = await _events(resp, 1)
    assert (gone[0]["type"], gone[0]["object"]["metadata"]["name"]) == ("DELETED", "x")


async def test_watch_tables_bookmarks_and_timeout(env: Env) -> None:
    _, lst, _ = await env.call("GET", CMS)
    rv = lst["metadata"]["resourceVersion"]
    params = {"watch": "true", "resourceVersion": rv, "allowWatchBookmarks": "true", "timeoutSeconds": "1"}
    async with env.client.get(CMS, params=params, headers={"Accept": TABLE_ACCEPT}) as resp:
        await env.call("POST", CMS, cm("tb"))
        body = await asyncio.wait_for(resp.read(), 5)  # ends by itself after timeoutSeconds
    events = [json.loads(line) for line in body.splitlines()]
    added = [e for e in events if e["type"] == "ADDED"]
    assert added[0]["object"]["kind"] == "Table" and added[0]["object"]["rows"][0]["cells"][0] == "tb"
    assert added[0]["object"]["columnDefinitions"]
    marks = [e for e in events if e["type"] == "BOOKMARK"]
    assert marks and set(marks[0]["object"]["metadata"]) == {"resourceVersion"}


async def test_watch_too_old(env: Env) -> None:
    code, body, _ = await env.call("GET", CMS, params={"watch": "true", "resourceVersion": "1"})
    assert code == 410 and body["reason"] == "Expired" and body["message"].startswith("too old resource version: 1 (")


# ---------------------------------------------------------------- nodes


async def test_nodes_cordon_label_taint(env: Env) -> None:
    code, body, _ = await env.call("GET", "/api/v1/nodes")
    assert [i["metadata"]["name"] for i in body["items"]] == ["node01"]
    code, body, _ = await env.call("PATCH", "/api/v1/nodes/node01", {"spec": {"unschedulable": True}},
                                   ctype="application/strategic-merge-patch+json")
    assert code == 200, body
    assert body["spec"]["unschedulable"] is True
    n = env.store.list(Node)[0]
    assert n.Spec.Availability == "pause"
    code, body, _ = await env.call("PATCH", "/api/v1/nodes/node01", {"metadata": {"labels": {"disk": "ssd"}}},
                                   ctype="application/merge-patch+json")
    assert code == 200 and body["metadata"]["labels"]["disk"] == "ssd"
    assert body["spec"]["unschedulable"] is True  # a label leaves the cordon as it was
    code, body, _ = await env.call("PATCH", "/api/v1/nodes/node01", {"metadata": {"annotations": {"note": "x"}}},
                                   ctype="application/merge-patch+json")
    assert code == 200 and body["metadata"]["annotations"] == {"note": "x"}
    assert env.store.list(Node)[0].Annotations == {"note": "x"}
    taint = {"key": "k", "value": "v", "effect": "NoSchedule"}
    code, body, _ = await env.call("PATCH", "/api/v1/nodes/node01?fieldManager=kubectl-taint",
                                   {"spec": {"taints": [taint]}}, ctype="application/strategic-merge-patch+json")
    assert code == 200 and taint in body["spec"]["taints"]
    code, body, _ = await env.call("PATCH", "/api/v1/nodes/node01", {"spec": {"unschedulable": None}},
                                   ctype="application/strategic-merge-patch+json")
    assert code == 200 and not body["spec"].get("unschedulable")
    code, body, _ = await env.call("GET", "/api/v1/nodes/nope")
    assert code == 404 and body["message"] == 'nodes "nope" not found'
    _, cur, _ = await env.call("GET", "/api/v1/nodes/node01")
    cur["metadata"]["labels"]["zone"] = "a"
    code, body, _ = await env.call("PUT", "/api/v1/nodes/node01", cur)
    assert code == 200 and body["metadata"]["labels"]["zone"] == "a"
    assert env.store.list(Node)[0].Spec.Labels == {"disk": "ssd", "zone": "a"}
    code, body, _ = await env.call("PUT", "/api/v1/nodes/node01", cur)  # its resourceVersion is stale now
    assert code == 409 and body["reason"] == "Conflict"


# ---------------------------------------------------------------- pod subresources


async def test_logs(env: Env) -> None:
    await env.call("POST", PODS, pod("one"))
    t: Task = env.kube.get("tasks", "default", "one")
    env.node.log_lines.lines[(t.ID, "one")] = [("2026-01-01T00:00:00.000000000Z", b"hello"),
                                               ("2026-01-01T00:00:01.000000000Z", b"world")]
    resp = await env.client.get(f"{PODS}/one/log")
    assert resp.status == 200 and resp.content_type == "text/plain"
    assert await resp.text() == "hello\nworld\n"
    resp = await env.client.get(f"{PODS}/one/log", params={"tailLines": "1", "timestamps": "true"})
    assert await resp.text() == "2026-01-01T00:00:01.000000000Z world\n"
    async with env.client.get(f"{PODS}/one/log", params={"follow": "true", "tailLines": "0"}) as resp:
        await env.node.log_lines.follow.put(b"later")
        assert await asyncio.wait_for(resp.content.readline(), 5) == b"later\n"  # streamed as it comes
        await env.node.log_lines.follow.put(None)
        assert await asyncio.wait_for(resp.content.read(), 5) == b""
    two = pod("two")
    two["spec"]["containers"] = [{"name": "a", "image": "busybox"}, {"name": "b", "image": "busybox"}]
    await env.call("POST", PODS, two)
    code, body, _ = await env.call("GET", f"{PODS}/two/log")
    assert code == 400 and body["message"] == "a container name must be specified for pod two, choose one of: [a b]"
    code, body, _ = await env.call("GET", f"{PODS}/two/log", params={"container": "c"})
    assert code == 400 and body["message"] == "container c is not valid for pod two"
    resp = await env.client.get(f"{PODS}/two/log", params={"container": "b", "previous": "true"})
    assert resp.status == 200
    selector, options = env.node.log_lines.asked[-1]
    assert selector.container == "b" and options.previous


async def test_eviction_and_access_review(env: Env) -> None:
    await env.call("POST", PODS, pod("ev"))
    eviction = {"kind": "Eviction", "apiVersion": "policy/v1", "metadata": {"name": "ev", "namespace": "default"},
                "deleteOptions": {}}
    code, body, _ = await env.call("POST", f"{PODS}/ev/eviction", eviction)
    assert code == 201, body
    assert (await env.call("GET", f"{PODS}/ev"))[0] == 404
    review = {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
              "spec": {"resourceAttributes": {"verb": "create", "resource": "pods", "namespace": "default"}}}
    code, body, _ = await env.call("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                                   protobuf.encode(review), ctype=protobuf.PROTOBUF)
    assert code == 201 and body["status"]["allowed"] is True


async def test_status_subresource(env: Env) -> None:
    await env.call("POST", PODS, pod("st"))
    code, body, _ = await env.call("GET", f"{PODS}/st/status")
    assert code == 200 and body["kind"] == "Pod" and body["status"]["phase"] == "Pending"
    # the node reports a Pod's status: a client's write of it changes nothing
    code, body, _ = await env.call("PATCH", f"{PODS}/st/status", {"status": {"phase": "Running"}},
                                   ctype="application/merge-patch+json")
    assert code == 200 and body["status"]["phase"] == "Pending"
    code, body, _ = await env.call("PUT", f"{PODS}/st/status", dict(body, status={"phase": "Failed"}))
    assert code == 200 and body["status"]["phase"] == "Pending"
    assert env.kube.get("tasks", "default", "st").Status.State.name == "NEW"


async def test_exec_over_websocket(env: Env) -> None:
    await env.call("POST", PODS, pod("ex"))
    code, body, _ = await env.call("GET", f"{PODS}/ex/exec", params={"command": "ls", "stdout": "true"})
    assert code == 400 and body["message"] == "Upgrade request required"
    params = [("command", "echo"), ("command", "hi"), ("stdout", "true"), ("stderr", "true")]
    async with env.client.ws_connect(f"{PODS}/ex/exec", params=params, protocols=("v5.channel.k8s.io",)) as ws:
        frames = [msg.data async for msg in ws]
    assert b"".join(f[1:] for f in frames if f[:1] == b"\x01") == b"echo hi\n"
    assert json.loads(frames[-1][1:])["status"] == "Success"
    assert env.kube.execs == [("ex", "ex", ["echo", "hi"])]


async def test_delete_collection_and_legacy_watch_path(env: Env) -> None:
    for name, labels in (("a", {"x": "1"}), ("b", {"x": "1"}), ("c", {"x": "2"})):
        await env.call("POST", CMS, cm(name, labels))
    async with env.client.get("/api/v1/watch/namespaces/default/configmaps", params={"labelSelector": "x=1"}) as resp:
        added = await _events(resp, 2)
        code, body, _ = await env.call("DELETE", CMS, params={"labelSelector": "x=1"})
        deleted = await _events(resp, 2)
    assert [e["type"] for e in added] == ["ADDED", "ADDED"] and [e["type"] for e in deleted] == ["DELETED"] * 2
    assert code == 200 and [i["metadata"]["name"] for i in body["items"]] == ["a", "b"]
    _, lst, _ = await env.call("GET", CMS)
    assert [i["metadata"]["name"] for i in lst["items"]] == ["c"]
    code, body, _ = await env.call("DELETE", "/api/v1/namespaces")
    assert code == 405 and body["reason"] == "MethodNotAllowed"


async def test_locked_node_is_unavailable(env: Env) -> None:
    from shoal.api.errors import SWARM_LOCKED, FailedPrecondition

    env.node.unavailable = FailedPrecondition(SWARM_LOCKED)
    code, body, _ = await env.call("GET", PODS)
    assert code == 503 and body["reason"] == "ServiceUnavailable" and body["message"] == SWARM_LOCKED


async def test_update_rules(env: Env) -> None:
    await env.call("POST", PODS, pod("u"))
    code, body, _ = await env.call("PATCH", f"{PODS}/u", {"spec": {"restartPolicy": "Never"}},
                                   ctype="application/merge-patch+json")
    assert code == 422 and body["reason"] == "Invalid"
    assert body["message"].startswith('Pod "u" is invalid: spec: Forbidden: pod updates may not change fields')


async def test_server_side_apply_removes_what_is_no_longer_applied(env: Env) -> None:
    apply_type = "application/apply-patch+yaml"
    await env.call("PATCH", f"{CMS}/ssa?fieldManager=m", cm("ssa", {"keep": "1", "drop": "1"}, a="1", b="2"),
                   ctype=apply_type)
    await env.call("PATCH", f"{CMS}/ssa?fieldManager=other", {"data": {"c": "3"}},
                   ctype="application/merge-patch+json")
    code, body, _ = await env.call("PATCH", f"{CMS}/ssa?fieldManager=m", cm("ssa", {"keep": "1"}, a="1"),
                                   ctype=apply_type)
    assert code == 200, body
    assert body["data"] == {"a": "1", "c": "3"} and body["metadata"]["labels"] == {"keep": "1"}
    owners = {e["manager"]: e["fieldsV1"] for e in body["metadata"]["managedFields"]}
    assert owners["m"]["f:data"] == {"f:a": {}} and owners["other"]["f:data"] == {"f:c": {}}


async def test_access_review_follows_the_user() -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from shoal.frontdoor.kube.app import make_app
    from shoal.frontdoor.kube.server import USER, User

    review = {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
              "spec": {"resourceAttributes": {"verb": "get", "resource": "pods"}}}
    for user, allowed in ((User("admin", ("system:masters",)), True),
                          (User("system:serviceaccount:default:default", ("system:serviceaccounts",)), True),
                          (User("bob", ("devs",)), False)):
        @web.middleware
        async def as_user(request: web.Request, handler: Any, user: User = user) -> web.StreamResponse:
            request[USER] = user
            return await handler(request)

        async with serving() as env, TestClient(TestServer(make_app(env.node, middlewares=(as_user,)))) as c:
            resp = await c.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", json=review)
            assert resp.status == 201 and (await resp.json())["status"]["allowed"] is allowed
