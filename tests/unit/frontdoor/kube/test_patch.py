"""The PATCH kinds of the Kubernetes API server: JSON merge patch (RFC 7386), JSON patch (RFC 6902)
and strategic merge patch with the merge keys of a Pod, a Deployment and a Node, including the
patches kubectl really sends (apply with ``$setElementOrder``, cordon, uncordon, label, taint)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shoal.frontdoor.kube.patch import (
    MAX_JSON_PATCH_OPERATIONS,
    PatchError,
    PatchMeta,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)

# ---------------------------------------------------------------- the schemas (a subset of Kubernetes' OpenAPI v3)


def ref(name: str) -> dict[str, Any]:
    """A property that refers to another schema, as Kubernetes' OpenAPI v3 writes it."""
    return {"allOf": [{"$ref": f"#/components/schemas/{name}"}], "default": {}}


def merged_list(item: str, key: str, strategy: str = "merge") -> dict[str, Any]:
    return {
        "type": "array",
        "items": ref(item),
        "x-kubernetes-patch-merge-key": key,
        "x-kubernetes-patch-strategy": strategy,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": [key],
    }


STRING_MAP = {"type": "object", "additionalProperties": {"type": "string", "default": ""}}
STRINGS = {"type": "array", "items": {"type": "string", "default": ""}}

SCHEMAS: dict[str, dict[str, Any]] = {
    "ObjectMeta": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "labels": STRING_MAP,
            "annotations": STRING_MAP,
            "finalizers": {**STRINGS, "x-kubernetes-patch-strategy": "merge", "x-kubernetes-list-type": "set"},
            "ownerReferences": merged_list("OwnerReference", "uid"),
        },
    },
    "OwnerReference": {"type": "object", "properties": {"uid": {"type": "string"}, "name": {"type": "string"}}},
    "Pod": {
        "type": "object",
        "properties": {"metadata": ref("ObjectMeta"), "spec": ref("PodSpec"), "status": ref("PodStatus")},
        "x-kubernetes-group-version-kind": [{"group": "", "kind": "Pod", "version": "v1"}],
    },
    "PodSpec": {
        "type": "object",
        "properties": {
            "containers": merged_list("Container", "name"),
            "initContainers": merged_list("Container", "name"),
            "volumes": merged_list("Volume", "name", "merge,retainKeys"),
            "imagePullSecrets": merged_list("LocalObjectReference", "name"),
            "tolerations": {"type": "array", "items": ref("Toleration"), "x-kubernetes-list-type": "atomic"},
            "nodeSelector": STRING_MAP,
            "nodeName": {"type": "string"},
        },
    },
    "Container": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "image": {"type": "string"},
            "args": STRINGS,
            "env": merged_list("EnvVar", "name"),
            "ports": merged_list("ContainerPort", "containerPort"),
            "volumeMounts": merged_list("VolumeMount", "mountPath"),
            "resources": ref("ResourceRequirements"),
        },
    },
    "EnvVar": {"type": "object", "properties": {"name": {"type": "string"}, "value": {"type": "string"}}},
    "ContainerPort": {"type": "object", "properties": {"containerPort": {"type": "integer"}}},
    "VolumeMount": {"type": "object", "properties": {"mountPath": {"type": "string"}, "name": {"type": "string"}}},
    "ResourceRequirements": {"type": "object", "properties": {"limits": STRING_MAP, "requests": STRING_MAP}},
    "Volume": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "emptyDir": {"type": "object"},
            "configMap": {"type": "object"},
            "secret": {"type": "object"},
        },
    },
    "LocalObjectReference": {"type": "object", "properties": {"name": {"type": "string"}}},
    "Toleration": {"type": "object", "properties": {"key": {"type": "string"}}},
    "PodStatus": {"type": "object", "properties": {"conditions": merged_list("PodCondition", "type")}},
    "PodCondition": {"type": "object", "properties": {"type": {"type": "string"}, "status": {"type": "string"}}},
    "Deployment": {"type": "object", "properties": {"metadata": ref("ObjectMeta"), "spec": ref("DeploymentSpec")}},
    "DeploymentSpec": {
        "type": "object",
        "properties": {
            "replicas": {"type": "integer"},
            "template": ref("PodTemplateSpec"),
            "strategy": {**ref("DeploymentStrategy"), "x-kubernetes-patch-strategy": "retainKeys"},
        },
    },
    "PodTemplateSpec": {"type": "object", "properties": {"metadata": ref("ObjectMeta"), "spec": ref("PodSpec")}},
    "DeploymentStrategy": {"type": "object", "properties": {"type": {"type": "string"}, "rollingUpdate": {}}},
    "Node": {"type": "object", "properties": {"metadata": ref("ObjectMeta"), "spec": ref("NodeSpec")}},
    "NodeSpec": {
        "type": "object",
        "properties": {
            "unschedulable": {"type": "boolean"},
            "taints": {"type": "array", "items": ref("Taint"), "x-kubernetes-list-type": "atomic"},
        },
    },
    "Taint": {"type": "object", "properties": {"key": {"type": "string"}, "effect": {"type": "string"}}},
    # JSONSchemaProps refers to itself: the meta must be built lazily.
    "JSONSchemaProps": {
        "type": "object",
        "properties": {
            "properties": {"type": "object", "additionalProperties": ref("JSONSchemaProps")},
            "items": ref("JSONSchemaProps"),
            "required": STRINGS,
        },
    },
}

POD = PatchMeta.from_openapi(SCHEMAS, "Pod")
DEPLOYMENT = PatchMeta.from_openapi(SCHEMAS, "Deployment")
NODE = PatchMeta.from_openapi(SCHEMAS, "Node")


def smp(doc: dict[str, Any], patch: dict[str, Any], meta: PatchMeta = POD) -> Any:
    """Apply, and check the rules every result obeys: inputs untouched, no directive left."""
    doc_before, patch_before = copy.deepcopy(doc), copy.deepcopy(patch)
    result = strategic_merge_patch(doc, patch, meta)
    assert doc == doc_before
    assert patch == patch_before
    assert_no_directives(result)
    return result


def assert_no_directives(value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            assert not key.startswith("$"), key
            assert_no_directives(item)
    elif isinstance(value, list):
        for item in value:
            assert_no_directives(item)


def names(items: list[dict[str, Any]], key: str = "name") -> list[Any]:
    return [item[key] for item in items]


def deployment(*containers: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 3,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": list(containers)}},
        },
    }


def pod(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"app": "web"}}, "spec": spec}


NGINX = {"name": "nginx", "image": "nginx:1.26", "ports": [{"containerPort": 80}]}
SIDECAR = {"name": "sidecar", "image": "busybox", "args": ["sleep", "3600"]}


# ---------------------------------------------------------------- JSON merge patch (RFC 7386)


@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [  # the examples of RFC 7386, appendix A
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_follows_rfc_7386(target: Any, patch: Any, result: Any) -> None:
    before = copy.deepcopy(target)
    assert merge_patch(target, patch) == result
    assert target == before


def test_merge_patch_as_kubectl_label_and_scale_send_it() -> None:
    obj = pod(containers=[NGINX])
    labelled = merge_patch(obj, {"metadata": {"labels": {"env": "prod"}}})
    assert labelled["metadata"]["labels"] == {"app": "web", "env": "prod"}
    unlabelled = merge_patch(labelled, {"metadata": {"labels": {"env": None}}})
    assert unlabelled["metadata"]["labels"] == {"app": "web"}
    scaled = merge_patch(deployment(NGINX), {"spec": {"replicas": 5}})
    assert scaled["spec"]["replicas"] == 5
    assert scaled["spec"]["template"]["spec"]["containers"] == [NGINX]


# ---------------------------------------------------------------- JSON patch (RFC 6902)


def test_json_patch_applies_operations() -> None:
    doc = {"metadata": {"name": "web", "annotations": {"a": "1"}}, "spec": {"replicas": 1, "list": [1, 2]}}
    before = copy.deepcopy(doc)
    result = json_patch(
        doc,
        [
            {"op": "test", "path": "/spec/replicas", "value": 1},
            {"op": "replace", "path": "/spec/replicas", "value": 3},
            {"op": "add", "path": "/spec/list/-", "value": 3},
            {"op": "remove", "path": "/metadata/annotations/a"},
            {"op": "add", "path": "/metadata/labels", "value": {"x": "y"}},
            {"op": "copy", "from": "/metadata/name", "path": "/metadata/generateName"},
            {"op": "move", "from": "/spec/list", "path": "/spec/items"},
        ],
    )
    assert result == {
        "metadata": {"name": "web", "annotations": {}, "labels": {"x": "y"}, "generateName": "web"},
        "spec": {"replicas": 3, "items": [1, 2, 3]},
    }
    assert doc == before


def test_json_patch_as_kubectl_rollout_undo_sends_it() -> None:
    current = deployment({"name": "nginx", "image": "nginx:1.27"})
    current["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "2"}
    old_template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [NGINX]}}
    result = json_patch(
        current,
        [
            {"op": "replace", "path": "/spec/template", "value": old_template},
            {"op": "replace", "path": "/metadata/annotations", "value": {"deployment.kubernetes.io/revision": "1"}},
        ],
    )
    assert result["spec"]["template"] == old_template
    assert result["metadata"]["annotations"] == {"deployment.kubernetes.io/revision": "1"}


def test_a_failed_test_operation_is_a_422_with_the_librarys_detail() -> None:
    with pytest.raises(PatchError) as err:
        json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 2}])
    assert err.value.code == 422
    assert "is not equal to tested value" in str(err.value)


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "remove", "path": "/missing"}],
        [{"op": "replace", "path": "/b/c", "value": 1}],
        [{"op": "bogus", "path": "/a"}],
        [{"path": "/a"}],
        [{"op": "add", "path": "/a"}],
        [{"op": "add", "path": "no-slash", "value": 1}],
        [None],
    ],
)
def test_operations_that_do_not_apply_are_422(ops: list[Any]) -> None:
    with pytest.raises(PatchError) as err:
        json_patch({"a": 1}, ops)
    assert err.value.code == 422


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        ({"op": "add"}, "json: cannot unmarshal object into Go value of type jsonpatch.Patch"),
        ("x", "json: cannot unmarshal string into Go value of type jsonpatch.Patch"),
        (["x"], "json: cannot unmarshal string into Go value of type jsonpatch.Operation"),
    ],
)
def test_a_body_that_is_not_a_list_of_operations_is_a_400(ops: Any, message: str) -> None:
    with pytest.raises(PatchError) as err:
        json_patch({}, ops)
    assert err.value.code == 400
    assert str(err.value) == message


def test_too_many_operations_is_a_413() -> None:
    ops = [{"op": "test", "path": "/a", "value": 1}] * (MAX_JSON_PATCH_OPERATIONS + 1)
    with pytest.raises(PatchError) as err:
        json_patch({"a": 1}, ops)
    assert err.value.code == 413
    assert str(err.value) == "The allowed maximum operations in a JSON patch is 10000, got 10001"


def test_a_null_json_patch_changes_nothing() -> None:
    assert json_patch({"a": 1}, None) == {"a": 1}


# ---------------------------------------------------------------- strategic merge patch: what kubectl sends


def test_kubectl_apply_changes_the_image_of_one_of_two_containers() -> None:
    live = deployment(NGINX, SIDECAR)
    patch = {
        "spec": {
            "replicas": 4,
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "nginx"}],
                    "containers": [{"image": "nginx:1.27", "name": "nginx"}],
                }
            },
        }
    }
    result = smp(live, patch, DEPLOYMENT)
    containers = result["spec"]["template"]["spec"]["containers"]
    # nginx is merged (its ports stay), the sidecar the patch does not name is kept, after it
    assert containers == [{"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}, SIDECAR]
    assert result["spec"]["replicas"] == 4
    assert result["spec"]["strategy"] == live["spec"]["strategy"]
    assert result["metadata"] == live["metadata"]


def test_kubectl_apply_removes_one_container_and_adds_another() -> None:
    live = deployment(NGINX, SIDECAR)
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "nginx"}, {"name": "logger"}],
                    "containers": [{"name": "logger", "image": "fluentbit"}, {"$patch": "delete", "name": "sidecar"}],
                }
            }
        }
    }
    containers = smp(live, patch, DEPLOYMENT)["spec"]["template"]["spec"]["containers"]
    assert containers == [NGINX, {"name": "logger", "image": "fluentbit"}]


def test_kubectl_cordon_and_uncordon() -> None:
    node = {"metadata": {"name": "node02"}, "spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]}}
    cordoned = smp(node, {"spec": {"unschedulable": True}}, NODE)
    assert cordoned["spec"] == {"taints": [{"key": "a", "effect": "NoSchedule"}], "unschedulable": True}
    uncordoned = smp(cordoned, {"spec": {"unschedulable": None}}, NODE)
    assert uncordoned["spec"] == {"taints": [{"key": "a", "effect": "NoSchedule"}]}
    # null on a key that is not there changes nothing
    assert smp(uncordoned, {"spec": {"unschedulable": None}}, NODE) == uncordoned


def test_kubectl_taint_replaces_the_whole_list() -> None:
    node = {"spec": {"taints": [{"key": "a", "effect": "NoSchedule"}, {"key": "b", "effect": "NoExecute"}]}}
    patch = {"spec": {"taints": [{"key": "b", "effect": "NoExecute"}, {"key": "c", "effect": "NoSchedule"}]}}
    assert smp(node, patch, NODE)["spec"]["taints"] == patch["spec"]["taints"]
    assert smp(node, {"spec": {"taints": []}}, NODE)["spec"]["taints"] == []


def test_labels_merge_key_by_key() -> None:
    obj = pod(containers=[NGINX])
    result = smp(obj, {"metadata": {"labels": {"env": "prod"}}})
    assert result["metadata"]["labels"] == {"app": "web", "env": "prod"}
    assert smp(result, {"metadata": {"labels": {"app": None}}})["metadata"]["labels"] == {"env": "prod"}


def test_rollout_restart_adds_an_annotation_to_the_template() -> None:
    live = deployment(NGINX)
    patch = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-12-04"}}}}}
    template = smp(live, patch, DEPLOYMENT)["spec"]["template"]
    assert template["metadata"] == {
        "labels": {"app": "web"},
        "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-12-04"},
    }
    assert template["spec"] == live["spec"]["template"]["spec"]


# ---------------------------------------------------------------- strategic merge patch: merge keys of a Pod


def test_env_entry_deleted_with_patch_delete() -> None:
    env = [{"name": "A", "value": "1"}, {"name": "DEBUG", "value": "1"}, {"name": "B", "value": "2"}]
    obj = pod(containers=[{"name": "web", "image": "x", "env": env}, SIDECAR])
    patch = {"spec": {"containers": [{"name": "web", "env": [{"name": "DEBUG", "$patch": "delete"}]}]}}
    containers = smp(obj, patch)["spec"]["containers"]
    assert containers[0]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert containers[1] == SIDECAR


def test_env_entries_merge_by_name() -> None:
    obj = pod(containers=[{"name": "web", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}])
    patch = {"spec": {"containers": [{"name": "web", "env": [{"name": "B", "value": "3"}]}]}}
    assert smp(obj, patch)["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}]


def test_ports_merge_by_container_port_and_mounts_by_mount_path() -> None:
    web = {
        "name": "web",
        "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 443}],
        "volumeMounts": [{"mountPath": "/data", "name": "data"}, {"mountPath": "/etc/app", "name": "cfg"}],
    }
    patch = {
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "ports": [{"containerPort": 443, "name": "https"}],
                    "volumeMounts": [{"mountPath": "/data", "readOnly": True}],
                }
            ]
        }
    }
    result = smp(pod(containers=[web]), patch)["spec"]["containers"][0]
    assert result["ports"] == [{"containerPort": 80, "name": "http"}, {"containerPort": 443, "name": "https"}]
    assert result["volumeMounts"] == [
        {"mountPath": "/data", "name": "data", "readOnly": True},
        {"mountPath": "/etc/app", "name": "cfg"},
    ]


def test_init_containers_volumes_and_pull_secrets_merge_by_name() -> None:
    obj = pod(
        initContainers=[{"name": "init", "image": "busybox"}],
        containers=[NGINX],
        volumes=[{"name": "data", "emptyDir": {}}],
        imagePullSecrets=[{"name": "regcred"}],
    )
    patch = {
        "spec": {
            "initContainers": [{"name": "init", "image": "busybox:1.36"}],
            "volumes": [{"name": "cfg", "configMap": {"name": "app"}}],
            "imagePullSecrets": [{"name": "other"}],
        }
    }
    spec = smp(obj, patch)["spec"]
    assert spec["initContainers"] == [{"name": "init", "image": "busybox:1.36"}]
    assert sorted(names(spec["volumes"])) == ["cfg", "data"]
    assert sorted(names(spec["imagePullSecrets"])) == ["other", "regcred"]


def test_container_args_have_no_strategy_and_are_replaced() -> None:
    obj = pod(containers=[SIDECAR])
    patch = {"spec": {"containers": [{"name": "sidecar", "args": ["sleep", "10"]}]}}
    assert smp(obj, patch)["spec"]["containers"][0]["args"] == ["sleep", "10"]


def test_tolerations_have_no_strategy_and_are_replaced() -> None:
    obj = pod(containers=[NGINX], tolerations=[{"key": "a"}, {"key": "b"}])
    assert smp(obj, {"spec": {"tolerations": [{"key": "c"}]}})["spec"]["tolerations"] == [{"key": "c"}]


def test_conditions_merge_by_type() -> None:
    obj = {
        "status": {
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Ready", "status": "False"},
            ]
        }
    }
    patch = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    assert smp(obj, patch)["status"]["conditions"] == [
        {"type": "PodScheduled", "status": "True"},
        {"type": "Ready", "status": "True"},
    ]


def test_finalizers_are_a_union_and_delete_from_primitive_list_removes() -> None:
    obj = {"metadata": {"finalizers": ["a", "b"]}}
    assert smp(obj, {"metadata": {"finalizers": ["b", "c"]}})["metadata"]["finalizers"] == ["a", "b", "c"]
    removed = smp(obj, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}})
    assert removed["metadata"]["finalizers"] == ["b"]
    # nothing to delete from: no list appears
    assert smp({"metadata": {}}, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}) == {"metadata": {}}


def test_owner_references_merge_by_uid() -> None:
    obj = {"metadata": {"ownerReferences": [{"uid": "1", "name": "rs-a"}]}}
    patch = {"metadata": {"ownerReferences": [{"uid": "2", "name": "rs-b"}]}}
    assert sorted(names(smp(obj, patch)["metadata"]["ownerReferences"], "uid")) == ["1", "2"]


# ---------------------------------------------------------------- strategic merge patch: order


def test_items_the_patch_names_come_in_the_patch_order() -> None:
    obj = pod(containers=[{"name": "a"}, {"name": "b", "image": "x"}, {"name": "c"}])
    patch = {"spec": {"containers": [{"name": "c", "image": "z"}, {"name": "a", "image": "y"}]}}
    # b is not named: it keeps its place before c, as it stood in the live list
    assert smp(obj, patch)["spec"]["containers"] == [
        {"name": "b", "image": "x"},
        {"name": "c", "image": "z"},
        {"name": "a", "image": "y"},
    ]


def test_a_new_item_without_set_element_order_comes_first() -> None:
    # The API server puts an item it cannot place by the live order before the live items.
    obj = pod(containers=[NGINX, SIDECAR])
    containers = smp(obj, {"spec": {"containers": [{"name": "new", "image": "x"}]}})["spec"]["containers"]
    assert names(containers) == ["new", "nginx", "sidecar"]
    finalizers = smp({"metadata": {"finalizers": ["a", "b"]}}, {"metadata": {"finalizers": ["c"]}})
    assert finalizers["metadata"]["finalizers"] == ["c", "a", "b"]


def test_set_element_order_orders_the_list() -> None:
    obj = pod(containers=[{"name": "a"}, {"name": "b"}, {"name": "c"}])
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "c"}, {"name": "b"}, {"name": "a"}, {"name": "d"}],
            "containers": [{"name": "b", "image": "x"}, {"name": "d"}],
        }
    }
    assert names(smp(obj, patch)["spec"]["containers"]) == ["c", "b", "a", "d"]


def test_set_element_order_keeps_unnamed_live_items() -> None:
    # A live item the directive does not name stays, woven in by the live order: it stood before b.
    obj = pod(containers=[{"name": "a"}, {"name": "injected"}, {"name": "b"}])
    patch = {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}
    assert names(smp(obj, patch)["spec"]["containers"]) == ["injected", "b", "a"]
    obj = pod(containers=[{"name": "a"}, {"name": "b"}, {"name": "injected"}])
    assert names(smp(obj, patch)["spec"]["containers"]) == ["b", "a", "injected"]


def test_set_element_order_with_a_deleted_item_keeps_live_items_before_new_ones() -> None:
    # The API server's in-place edit of the live list puts kept live items before the one it adds.
    obj = {"metadata": {"ownerReferences": [{"uid": "1"}, {"uid": "2", "name": "b"}, {"uid": "4", "name": "c"}]}}
    patch = {
        "metadata": {
            "$setElementOrder/ownerReferences": [{"uid": "2"}, {"uid": "3"}],
            "ownerReferences": [{"uid": "3"}, {"uid": "1", "$patch": "delete"}],
        }
    }
    assert names(smp(obj, patch)["metadata"]["ownerReferences"], "uid") == ["2", "4", "3"]


def test_set_element_order_of_primitives() -> None:
    obj = {"metadata": {"finalizers": ["a", "b", "c"]}}
    patch = {"metadata": {"$setElementOrder/finalizers": ["c", "a"], "finalizers": ["c"]}}
    assert smp(obj, patch)["metadata"]["finalizers"] == ["b", "c", "a"]
    patch = {"metadata": {"$setElementOrder/finalizers": ["c", "b", "a", "d"], "finalizers": ["d"]}}
    assert smp(obj, patch)["metadata"]["finalizers"] == ["c", "b", "a", "d"]


def test_set_element_order_must_match_the_patch_order() -> None:
    obj = pod(containers=[{"name": "a"}, {"name": "b"}])
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
            "containers": [{"name": "b"}, {"name": "a"}],
        }
    }
    with pytest.raises(PatchError) as err:
        strategic_merge_patch(obj, patch, POD)
    assert str(err.value) == (
        "The order in patch list:\n[map[name:b] map[name:a]]\n doesn't match $setElementOrder list:\n"
        "[map[name:a] map[name:b]]\n"
    )
    assert err.value.code == 500


# ---------------------------------------------------------------- strategic merge patch: directives


def test_patch_replace_on_a_list() -> None:
    obj = pod(containers=[NGINX, SIDECAR])
    patch = {"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "x"}]}}
    assert smp(obj, patch)["spec"]["containers"] == [{"name": "only", "image": "x"}]
    assert smp(obj, {"spec": {"containers": [{"$patch": "replace"}]}})["spec"]["containers"] == []


def test_patch_replace_on_a_map() -> None:
    obj = pod(containers=[NGINX], nodeSelector={"disk": "ssd", "zone": "a"})
    patch = {"spec": {"nodeSelector": {"$patch": "replace", "zone": "b"}}}
    assert smp(obj, patch)["spec"]["nodeSelector"] == {"zone": "b"}


def test_patch_delete_on_a_map_empties_it() -> None:
    obj = pod(containers=[NGINX], nodeSelector={"disk": "ssd"})
    assert smp(obj, {"spec": {"nodeSelector": {"$patch": "delete"}}})["spec"]["nodeSelector"] == {}


def test_retain_keys_on_a_volume_switches_its_source() -> None:
    obj = pod(containers=[NGINX], volumes=[{"name": "data", "emptyDir": {}}])
    patch = {"spec": {"volumes": [{"name": "data", "$retainKeys": ["configMap", "name"], "configMap": {"name": "c"}}]}}
    assert smp(obj, patch)["spec"]["volumes"] == [{"name": "data", "configMap": {"name": "c"}}]


def test_retain_keys_on_the_deployment_strategy() -> None:
    live = deployment(NGINX)
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert smp(live, patch, DEPLOYMENT)["spec"]["strategy"] == {"type": "Recreate"}


def test_retain_keys_must_list_every_key_the_patch_sets() -> None:
    live = deployment(NGINX)
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": {}}}}
    with pytest.raises(PatchError) as err:
        strategic_merge_patch(live, patch, DEPLOYMENT)
    assert (str(err.value), err.value.code) == ("invalid patch format of retainKeys", 400)


def test_directives_in_added_values_are_removed() -> None:
    obj = pod(containers=[NGINX])
    patch = {
        "spec": {
            "volumes": [{"name": "v", "emptyDir": {"medium": None}}, {"name": "gone", "$patch": "delete"}],
            "nodeSelector": {"$patch": "replace", "a": "b"},
            "containers": [{"name": "new", "env": [{"name": "X", "value": None}], "$setElementOrder/env": []}],
        }
    }
    spec = smp(obj, patch)["spec"]
    assert spec["volumes"] == [{"name": "v", "emptyDir": {}}]
    assert "nodeSelector" not in spec  # a map the patch adds with a directive is dropped, as the server drops it
    assert spec["containers"][0] == {"name": "new", "env": [{"name": "X"}]}


def test_null_in_an_added_subtree_is_dropped() -> None:
    result = smp({"spec": {}}, {"spec": {"template": {"metadata": {"labels": {"a": "b", "c": None}}}}}, DEPLOYMENT)
    assert result == {"spec": {"template": {"metadata": {"labels": {"a": "b"}}}}}


def test_a_value_of_another_kind_replaces() -> None:
    assert smp({"spec": {"nodeSelector": "odd"}}, {"spec": {"nodeSelector": {"a": "b"}}}) == {
        "spec": {"nodeSelector": {"a": "b"}}
    }
    assert smp({"spec": {"nodeName": None}}, {"spec": {"nodeName": "n1"}}) == {"spec": {"nodeName": "n1"}}


def test_unknown_fields_merge_maps_and_replace_lists() -> None:
    obj = {"spec": {"extra": {"a": 1, "list": [1, 2]}}}
    result = smp(obj, {"spec": {"extra": {"b": 2, "list": [3]}}})
    assert result == {"spec": {"extra": {"a": 1, "b": 2, "list": [3]}}}


# ---------------------------------------------------------------- strategic merge patch: errors


@pytest.mark.parametrize(
    ("doc", "patch", "message", "code"),
    [
        (
            pod(containers=[NGINX]),
            {"spec": {"containers": [{"image": "x"}]}},
            "map: map[image:x] does not contain declared merge key: name",
            500,
        ),
        (
            pod(containers=[NGINX]),
            {"spec": {"containers": [{"$patch": "merge"}]}},
            "merging lists cannot yet be specified in the patch",
            500,
        ),
        (
            pod(containers=[NGINX], nodeSelector={"a": "b"}),
            {"spec": {"nodeSelector": {"$patch": "merge", "c": "d"}}},
            "unknown patch type: merge in map: map[$patch:merge c:d]",
            500,
        ),
        (
            pod(containers=[NGINX]),
            {"spec": {"containers": [{"name": "nginx", "$patch": "frob"}]}},
            "unknown patch type: frob in map: map[$patch:frob name:nginx]",
            500,
        ),
        (
            pod(containers=[NGINX]),
            {"spec": {"containers": [{"name": "nginx"}, "oops"]}},
            "list element types are not identical: "
            "[[map[image:nginx:1.26 name:nginx ports:[map[containerPort:80]]]] [map[name:nginx] oops]]",
            500,
        ),
        (
            {"metadata": {"finalizers": [["a"]]}},
            {"metadata": {"finalizers": [["b"]]}},
            "lists of lists are not supported",
            422,
        ),
        (
            {"metadata": {"finalizers": ["a"]}},
            {"metadata": {"$deleteFromPrimitiveListfinalizers": ["a"]}},
            "invalid patch format of primitive list",
            400,
        ),
        (
            pod(containers=[NGINX]),
            {"spec": {"$setElementOrderX/containers": []}},
            "invalid patch format of setElementOrder list",
            400,
        ),
        (pod(containers=[NGINX]), {"spec": {"$retainKeys": "name"}}, "invalid patch format of retainKeys", 400),
    ],
)
def test_strategic_merge_patch_errors_speak_as_the_api_server(
    doc: dict[str, Any], patch: dict[str, Any], message: str, code: int
) -> None:
    with pytest.raises(PatchError) as err:
        strategic_merge_patch(doc, patch, POD)
    assert str(err.value) == message
    assert err.value.code == code


def test_a_patch_that_is_not_an_object_is_a_400() -> None:
    with pytest.raises(PatchError) as err:
        strategic_merge_patch({}, [], POD)  # type: ignore[arg-type]
    assert (str(err.value), err.value.code) == ("invalid JSON document", 400)


def test_merging_maps_without_a_merge_key_is_refused() -> None:
    meta = PatchMeta(fields={"items": PatchMeta(None, "merge")})
    with pytest.raises(PatchError, match="cannot merge lists without merge key for struct"):
        strategic_merge_patch({"items": [{"a": 1}]}, {"items": [{"a": 2}]}, meta)


# ---------------------------------------------------------------- patch metadata


def test_meta_from_openapi_reads_merge_keys_and_strategies() -> None:
    containers = POD.child("spec").child("containers")
    assert (containers.merge_key, containers.strategy) == ("name", "merge")
    ports = containers.items().child("ports")
    assert (ports.merge_key, ports.strategy) == ("containerPort", "merge")
    assert containers.items().child("volumeMounts").merge_key == "mountPath"
    assert POD.child("spec").child("volumes").strategy == "merge,retainKeys"
    assert POD.child("status").child("conditions").merge_key == "type"
    tolerations = POD.child("spec").child("tolerations")
    assert (tolerations.merge_key, tolerations.strategy) == (None, "")
    assert DEPLOYMENT.child("spec").child("strategy").strategy == "retainKeys"
    assert POD.child("metadata").child("labels").child("anything").strategy == ""


def test_meta_of_unknown_fields_is_empty() -> None:
    unknown = POD.child("spec").child("nope").child("deeper").items()
    assert (unknown.merge_key, unknown.strategy) == (None, "")
    assert PatchMeta.from_openapi(SCHEMAS, "Missing").child("x").strategy == ""


def test_meta_of_a_recursive_schema_is_built_lazily() -> None:
    props = PatchMeta.from_openapi(SCHEMAS, "JSONSchemaProps")
    deep = props
    for _ in range(50):
        deep = deep.child("properties").child("field").child("items")
    assert deep.child("required").strategy == ""
    schema = {"properties": {"a": {"items": {"required": ["x"]}}}}
    patch = {"properties": {"a": {"items": {"required": ["y"]}}}}
    assert strategic_merge_patch(schema, patch, props) == patch


def test_meta_built_by_hand() -> None:
    env = PatchMeta("name", "merge")
    container = PatchMeta(fields={"env": env})
    meta = PatchMeta(fields={"containers": PatchMeta("name", "merge", items=container)})
    doc = {"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}]}]}
    patch = {"containers": [{"name": "a", "env": [{"name": "Y", "value": "2"}]}]}
    result = strategic_merge_patch(doc, patch, meta)
    assert sorted(names(result["containers"][0]["env"])) == ["X", "Y"]
    assert PatchMeta(values=env).child("anything") is env


# ---------------------------------------------------------------- without list strategies, SMP is a merge patch

_scalar = st.none() | st.booleans() | st.integers(-5, 5) | st.text(alphabet="xyz", max_size=2)
_json = st.recursive(
    _scalar | st.lists(_scalar.filter(lambda v: v is not None), max_size=3),
    lambda inner: st.dictionaries(st.sampled_from("abcd"), inner, max_size=3),
    max_leaves=12,
)
_objects = st.dictionaries(st.sampled_from("abcd"), _json, max_size=4)


@given(_objects, _objects)
def test_without_strategies_strategic_merge_patch_is_a_json_merge_patch(
    doc: dict[str, Any], patch: dict[str, Any]
) -> None:
    assert strategic_merge_patch(doc, patch, PatchMeta()) == merge_patch(doc, patch)


@given(_objects)
def test_an_empty_patch_changes_nothing(doc: dict[str, Any]) -> None:
    assert strategic_merge_patch(doc, {}, POD) == doc
