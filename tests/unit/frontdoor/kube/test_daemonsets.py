"""The door's DaemonSets and ControllerRevisions: the API server's defaults and words, the JSON shown
(status fields Kubernetes always prints), ``kubectl get ds`` columns, a revision's ``data`` as the
patch ``kubectl rollout undo`` sends, and a DaemonSet Pod's required node affinity shown."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from shoal.api import affinity as aff
from shoal.api.errors import Invalid
from shoal.api.types import ControllerRevision, DaemonSetStatus, PodTemplate
from shoal.frontdoor.kube import convert as C
from shoal.frontdoor.kube import resources, tables
from shoal.frontdoor.kube.affinity import affinity, affinity_wire

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def ds(spec: dict[str, Any] | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    base: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "agent"}},
        "template": {"metadata": {"labels": labels or {"app": "agent"}},
                     "spec": {"containers": [{"name": "main", "image": "agent:1"}],
                              "nodeSelector": {"disk": "ssd", "a": "b"}}}}
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
            "spec": {**base, **(spec or {})}}


def invalid(obj: dict[str, Any]) -> str:
    with pytest.raises(Invalid) as e:
        C.to_core("daemonsets", obj, namespace="default")
    return str(e.value)


def test_defaults_and_the_json_shown() -> None:
    core = C.to_core("daemonsets", ds(), namespace="default")
    st = core.Spec.UpdateStrategy
    assert (st.Type, st.MaxUnavailable, st.MaxSurge, core.Spec.RevisionHistoryLimit) == ("RollingUpdate", 1, 0, 10)
    shown = C.to_wire("daemonsets", core)
    assert shown["spec"]["updateStrategy"] == {"type": "RollingUpdate",
                                               "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert shown["status"] == {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0,
                               "numberReady": 0}
    core.Status = DaemonSetStatus(DesiredNumberScheduled=3, CurrentNumberScheduled=3, NumberReady=2,
                                  UpdatedNumberScheduled=3, NumberAvailable=2, NumberUnavailable=1,
                                  ObservedGeneration=2)
    assert C.to_wire("daemonsets", core)["status"] == {
        "currentNumberScheduled": 3, "numberMisscheduled": 0, "desiredNumberScheduled": 3, "numberReady": 2,
        "observedGeneration": 2, "updatedNumberScheduled": 3, "numberAvailable": 2, "numberUnavailable": 1}
    on_delete = C.to_core("daemonsets", ds({"updateStrategy": {"type": "OnDelete"}}), namespace="default")
    assert C.to_wire("daemonsets", on_delete)["spec"]["updateStrategy"] == {"type": "OnDelete"}


def test_validation_in_the_api_servers_words() -> None:
    assert invalid(ds(labels={"app": "other"})) == (
        'DaemonSet "agent" is invalid: spec.template.metadata.labels: Invalid value: '
        'map[string]string{"app":"other"}: `selector` does not match template `labels`')
    assert "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), " \
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for daemonset" in \
        invalid(ds({"selector": {}}))
    assert invalid(ds({"updateStrategy": {"rollingUpdate": {"maxSurge": 1}}})).endswith(
        "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 1: may not be set when maxUnavailable is "
        "non-zero")
    assert invalid(ds({"updateStrategy": {"rollingUpdate": {"maxUnavailable": 0}}})).endswith(
        "spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0")
    assert "must not be greater than 100%" in invalid(ds({"updateStrategy": {"rollingUpdate": {
        "maxUnavailable": 0, "maxSurge": "150%"}}}))
    assert 'spec.updateStrategy: Unsupported value: "Foo": supported values: "RollingUpdate", "OnDelete"' in \
        invalid(ds({"updateStrategy": {"type": "Foo"}}))
    never = ds()
    never["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    assert 'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"' in \
        invalid(never)
    deadline = ds()
    deadline["spec"]["template"]["spec"]["activeDeadlineSeconds"] = 5
    assert "activeDeadlineSeconds in DaemonSet is not Supported" in invalid(deadline)
    assert "spec.revisionHistoryLimit: Invalid value: -1: must be greater than or equal to 0" in \
        invalid(ds({"revisionHistoryLimit": -1}))
    surge = C.to_core("daemonsets", ds({"updateStrategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": "10%"}}}),
                      namespace="default")
    assert (surge.Spec.UpdateStrategy.MaxUnavailable, surge.Spec.UpdateStrategy.MaxSurge) == (0, "10%")
    # the selector cannot change
    cur = C.to_core("daemonsets", ds(), namespace="default")
    new = C.to_core("daemonsets", ds({"selector": {"matchLabels": {"app": "agent", "x": "y"}}},
                                     labels={"app": "agent", "x": "y"}), namespace="default")
    with pytest.raises(Invalid, match=r"spec\.selector: Invalid value: .*: field is immutable"):
        C.validate_update("daemonsets", cur, new)


def test_kubectl_get_ds_columns() -> None:
    core = C.to_core("daemonsets", ds(), namespace="default")
    core.CreatedAt = "2025-12-31T23:00:00Z"
    core.Status = DaemonSetStatus(DesiredNumberScheduled=3, CurrentNumberScheduled=3, NumberReady=2,
                                  UpdatedNumberScheduled=1, NumberAvailable=2)
    resource = resources.by_path("apps", "v1", "daemonsets")
    assert resource is not None and resource.short_names == ("ds",) and "all" in resource.categories
    t = tables.table(resource, [C.to_wire("daemonsets", core)], "1", now=NOW)
    assert [c["name"] for c in t["columnDefinitions"]] == [
        "Name", "Desired", "Current", "Ready", "Up-to-date", "Available", "Node Selector", "Age", "Containers",
        "Images", "Selector"]
    assert [c["priority"] for c in t["columnDefinitions"]][-3:] == [1, 1, 1]
    assert t["rows"][0]["cells"] == ["agent", 3, 3, 2, 1, 2, "a=b,disk=ssd", "60m", "main", "agent:1", "app=agent"]


def test_a_controller_revision_is_the_patch_an_undo_sends() -> None:
    tpl = C.to_core("daemonsets", ds(), namespace="default").Spec.Template
    cr = C.to_core("controllerrevisions", {"metadata": {"name": "agent-abc"}, "revision": 2,
                                           "data": C.to_wire("controllerrevisions", _revision(tpl))["data"]},
                   namespace="default")
    assert cr.Revision == 2 and cr.Template == tpl
    shown = C.to_wire("controllerrevisions", cr)
    assert shown["data"]["spec"]["template"]["$patch"] == "replace"
    assert shown["data"]["spec"]["template"]["spec"]["containers"][0]["image"] == "agent:1"
    resource = resources.by_path("apps", "v1", "controllerrevisions")
    assert resource is not None
    shown["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent",
                                             "uid": "u", "controller": True}]
    row = tables.table(resource, [shown], "1", now=NOW)["rows"][0]["cells"]
    assert row[:3] == ["agent-abc", "daemonset.apps/agent", 2]


def _revision(tpl: PodTemplate) -> ControllerRevision:
    return ControllerRevision(ID="", Name="agent-abc", Namespace="default", Revision=2, Template=tpl)


def test_a_required_node_affinity_set_by_a_controller_is_shown() -> None:
    mine = aff.Affinity(NodeAffinity=aff.NodeAffinity(Required=[aff.NodeSelectorTerm(
        MatchFields=[aff.Requirement(Key="metadata.name", Operator="In", Values=["n1"])])]))
    assert affinity_wire(None, mine) == {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]}}}
    written = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}]},
        "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "preference": {}}]}}
    # what a client wrote and the core holds is shown as written; a controller's replacement is shown
    assert affinity_wire(written, affinity(written)) == written
    shown = affinity_wire(written, mine)
    assert shown is not None
    assert shown["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] == \
        written["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert shown["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"] == [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]
    assert affinity_wire(None, None) is None and affinity_wire({}, None) == {}
