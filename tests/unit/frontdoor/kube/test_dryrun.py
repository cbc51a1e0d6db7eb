"""The Pods' dry run at the Kubernetes door (``frontdoor/kube/dryrun.py``): a manifest's documents read
as a create reads them (kinds, strict fields, names, the API server's validation), the core asked
with core objects, the answer naming objects as kubectl does, and errors as the line kubectl prints."""

from __future__ import annotations

from typing import Any

from shoal.api.control import NodeVerdict, PodPlacement, PodPlan
from shoal.api.errors import NotFound
from shoal.api.types import Deployment, Task
from shoal.frontdoor.kube.dryrun import answer, documents, kubectl_line

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}}
POD: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "db", "namespace": "data"},
                       "spec": {"containers": [{"name": "pg", "image": "postgres"}]}}
NAMESPACE: dict[str, Any] = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "data"}}


class FakeKube:
    def __init__(self, error: Exception | None = None) -> None:
        self.asked: list[tuple[list[Any], list[str] | None]] = []
        self.error = error

    def plan_pods(self, objs: list[Any], new_namespaces: list[str] | None = None) -> PodPlan:
        self.asked.append((objs, new_namespaces))
        if self.error is not None:
            raise self.error
        out = PodPlan()
        for i, obj in enumerate(objs):
            count = obj.Spec.Replicas if isinstance(obj, Deployment) else 1
            for r in range(count):
                out.Pods.append(PodPlacement(Namespace=obj.Namespace, Object=i, Replica=r + 1, Replicas=count,
                                             Node="n1" if r == 0 else "",
                                             Nodes=[NodeVerdict(Node="n1"), NodeVerdict(Node="n2", Reasons=["x"])],
                                             Err="" if r == 0 else "0/2 nodes are available: …"))
        return out


class FakeNode:
    def __init__(self, kube: FakeKube) -> None:
        self._kube = kube

    def kube(self) -> FakeKube:
        return self._kube


def test_documents_flatten_lists_and_drop_empty_ones() -> None:
    assert documents([DEPLOYMENT, None, {}, {"kind": "List", "apiVersion": "v1", "items": [POD, NAMESPACE]}]) == [
        DEPLOYMENT, POD, NAMESPACE]
    assert documents(POD) == [POD]


def test_the_core_is_asked_with_core_objects_and_the_answer_names_them_as_kubectl() -> None:
    kube = FakeKube()
    code, body = answer(FakeNode(kube), [NAMESPACE, DEPLOYMENT, POD, {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "b"}}], "")
    assert code == 200
    ((objs, made),) = kube.asked
    assert [type(o) for o in objs] == [Deployment, Task] and made == ["data"]
    assert objs[0].Namespace == "default" and objs[1].Namespace == "data"  # the request's, or its own
    assert objs[1].Spec.Placement is not None and objs[1].Spec.Placement.Tolerations  # the door's defaults
    assert [(p["Source"], p["Replica"], p["Replicas"], p["Node"]) for p in body["Pods"]] == [
        ("deployment.apps/web", 1, 2, "n1"), ("deployment.apps/web", 2, 2, ""), ("pod/db", 1, 1, "n1")]
    assert body["Pods"][0]["Nodes"] == [{"Node": "n1", "Reasons": []}, {"Node": "n2", "Reasons": ["x"]}]
    assert body["Skipped"] == ["namespace/data", "configmap/cfg"]
    # Nothing that makes Pods: the core is not asked.
    assert answer(FakeNode(kube), [NAMESPACE], "ns") == (200, {"Pods": [], "Skipped": ["namespace/data"]})
    assert len(kube.asked) == 1


def refused(body: Any, namespace: str = "default", error: Exception | None = None) -> tuple[int, str]:
    code, status = answer(FakeNode(FakeKube(error)), body, namespace)
    assert status["kind"] == "Status" and status["status"] == "Failure"
    return code, status["message"]


def test_refusals_in_the_api_servers_words_as_kubectl_prints_them() -> None:
    no_image: dict[str, Any] = {**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"], "template": {
        "metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "nginx"}]}}}}
    assert refused([no_image]) == (
        422, 'The Deployment "web" is invalid: spec.template.spec.containers[0].image: Required value')
    two = {**POD, "metadata": {"name": "Bad_Name"}, "spec": {"containers": [{"name": "pg"}]}}
    code, message = refused([two])
    assert code == 422 and message.startswith('The Pod "Bad_Name" is invalid: \n* metadata.name: Invalid value: ')
    assert message.endswith("\n* spec.containers[0].image: Required value")
    assert refused([{**POD, "metadata": {}}]) == (
        422, 'The Pod "" is invalid: metadata.name: Required value: name or generateName is required')
    assert refused([{**POD, "spec": {"containers": [{"name": "pg", "image": "x", "colour": "red"}]}}]) == (
        400, 'Error from server (BadRequest): Pod in version "v1" cannot be handled as a Pod: strict decoding '
             'error: unknown field "spec.containers[0].colour"')
    assert refused([{"apiVersion": "batch/v9", "kind": "Gadget", "metadata": {"name": "g"}}]) == (
        400, 'error: no matches for kind "Gadget" in version "batch/v9"')
    assert refused([{"metadata": {"name": "g"}}])[1].startswith("error: Object 'Kind' is missing in '{")
    assert refused([POD], error=NotFound('namespaces "data" not found')) == (
        404, 'Error from server (NotFound): namespaces "data" not found')


def test_kubectl_line() -> None:
    assert kubectl_line({"reason": "Invalid", "message": 'Pod "x" is invalid', "details": {
        "kind": "Pod", "name": "x"}}) == 'The Pod "x" is invalid'
    assert kubectl_line({"reason": "Conflict", "message": "m"}) == "Error from server (Conflict): m"
