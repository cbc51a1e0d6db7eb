"""Tables: kube-apiserver's columns and cells, and kubectl printing them."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from shoal.frontdoor.kube import resources, tables
from tests.unit.frontdoor.kube.apiserver import KUBECTL, KUBECTL_132, Reply, kubectl, serving

NOW = dt.datetime(2026, 1, 2, 0, 0, 0, tzinfo=dt.UTC)
KUBECTL_TABLE_ACCEPT = ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;"
                        "g=meta.k8s.io,application/json")


def _resource(plural: str) -> resources.Resource:
    found = resources.by_path("", "v1", plural)
    assert found is not None
    return found


def _pod(name: str, **status: Any) -> dict[str, Any]:
    return {"kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": name, "namespace": "default", "creationTimestamp": "2026-01-01T23:55:00Z"},
            "spec": {"containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "nginx"}],
                     "nodeName": "node01"},
            "status": status}


def _running(name: str, ready: bool = True, restarts: int = 0, **last: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "ready": ready, "restartCount": restarts,
                             "state": {"running": {"startedAt": "2026-01-01T23:55:00Z"}}}
    if last:
        entry["lastState"] = {"terminated": last}
    return entry


def _cells(pod: dict[str, Any]) -> list[Any]:
    return tables.table(_resource("pods"), [pod], "1", now=NOW)["rows"][0]["cells"]


def test_media_types() -> None:
    assert tables.wants_table(KUBECTL_TABLE_ACCEPT)
    assert tables.content_type(KUBECTL_TABLE_ACCEPT) == tables.TABLE
    assert not tables.wants_table("application/json")
    assert not tables.wants_table("application/vnd.kubernetes.protobuf,application/json")
    assert not tables.wants_table("")
    assert tables.content_type("application/json;as=Table;v=v1beta1;g=meta.k8s.io") == tables.TABLE_V1BETA1


def test_human_durations() -> None:
    assert [tables.human_duration(s) for s in (-5, -1, 0, 59, 119, 120, 125, 600, 3 * 3600 - 1, 3 * 3600,
                                               5 * 3600 + 60, 30 * 3600, 3 * 86400 + 7200, 10 * 86400,
                                               3 * 365 * 86400 + 86400, 9 * 365 * 86400)] == [
        "<invalid>", "0s", "0s", "59s", "119s", "2m", "2m5s", "10m", "179m", "3h", "5h1m", "30h", "3d2h", "10d",
        "3y1d", "9y"]


def test_pod_table_shape() -> None:
    pod = _pod("web", phase="Running", podIPs=[{"ip": "10.213.1.5"}], podIP="10.213.1.5",
               containerStatuses=[_running("a"), _running("b", ready=False)])
    table = tables.table(_resource("pods"), [pod], "42", now=NOW)
    assert (table["kind"], table["apiVersion"], table["metadata"]) == ("Table", "meta.k8s.io/v1",
                                                                      {"resourceVersion": "42"})
    columns = [(c["name"], c["priority"]) for c in table["columnDefinitions"]]
    assert columns == [("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0), ("IP", 1),
                       ("Node", 1), ("Nominated Node", 1), ("Readiness Gates", 1)]
    assert table["columnDefinitions"][0]["format"] == "name"
    [row] = table["rows"]
    assert row["cells"] == ["web", "1/2", "Running", "0", "5m", "10.213.1.5", "node01", "<none>", "<none>"]
    assert row["object"] == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": pod["metadata"]}
    assert tables.table(_resource("pods"), [pod], "42", "Object", now=NOW)["rows"][0]["object"] is pod
    assert "object" not in tables.table(_resource("pods"), [pod], "42", "None", now=NOW)["rows"][0]
    assert tables.table(_resource("pods"), [], "42", no_headers=True)["columnDefinitions"] is None


def test_pod_status_as_the_server_prints_it() -> None:
    assert _cells(_pod("p"))[1:4] == ["0/2", "", "0"]
    assert _cells(_pod("p", phase="Pending"))[2] == "Pending"
    crash = _pod("p", phase="Running", containerStatuses=[
        _running("a"),
        {"name": "b", "ready": False, "restartCount": 3,
         "state": {"waiting": {"reason": "CrashLoopBackOff"}},
         "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2026-01-01T23:58:00Z"}}}])
    assert _cells(crash)[1:4] == ["1/2", "CrashLoopBackOff", "3 (2m ago)"]
    done = _pod("p", phase="Succeeded", containerStatuses=[
        {"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
        {"name": "b", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}])
    row = tables.table(_resource("pods"), [done], "1", now=NOW)["rows"][0]
    assert row["cells"][2] == "Completed"
    assert row["conditions"][0]["reason"] == "Succeeded"
    killed = _pod("p", phase="Running", containerStatuses=[
        _running("a"), {"name": "b", "state": {"terminated": {"exitCode": 137, "signal": 9}}}])
    assert _cells(killed)[2] == "Signal:9"
    exited = _pod("p", phase="Failed", containerStatuses=[{"name": "b", "state": {"terminated": {"exitCode": 2}}}])
    assert _cells(exited)[2] == "ExitCode:2"
    # One container completed, the other still running: Running if the pod is Ready, else NotReady.
    mixed = _pod("p", phase="Running", conditions=[{"type": "Ready", "status": "False"}], containerStatuses=[
        _running("a"), {"name": "b", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}])
    assert _cells(mixed)[2] == "NotReady"
    deleting = _pod("p", phase="Running", containerStatuses=[_running("a"), _running("b")])
    deleting["metadata"]["deletionTimestamp"] = "2026-01-02T00:00:00Z"
    assert _cells(deleting)[1:3] == ["2/2", "Terminating"]
    assert _cells(_pod("p", phase="Running", reason="Evicted"))[2] == "Evicted"


def test_pod_init_containers() -> None:
    pod = _pod("p", phase="Pending", initContainerStatuses=[
        {"name": "init", "state": {"running": {}}}], containerStatuses=[
        {"name": "a", "state": {"waiting": {"reason": "PodInitializing"}}}])
    pod["spec"]["initContainers"] = [{"name": "init", "image": "busybox"}]
    assert _cells(pod)[2] == "Init:0/1"
    pod["status"]["initContainerStatuses"] = [
        {"name": "init", "restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]
    assert _cells(pod)[2:4] == ["Init:CrashLoopBackOff", "2"]
    pod["status"]["initContainerStatuses"] = [{"name": "init", "state": {"terminated": {"exitCode": 3}}}]
    assert _cells(pod)[2] == "Init:ExitCode:3"
    pod["status"]["initContainerStatuses"] = [{"name": "init", "state": {"terminated": {"exitCode": 0}}}]
    pod["status"]["containerStatuses"] = [_running("a"), _running("b")]
    pod["status"]["phase"] = "Running"
    assert _cells(pod)[1:3] == ["2/2", "Running"]


def test_pod_wide_cells() -> None:
    pod = _pod("p", phase="Running", nominatedNodeName="node02",
               conditions=[{"type": "example.com/gate", "status": "True"}])
    pod["spec"]["nodeName"] = ""
    pod["spec"]["readinessGates"] = [{"conditionType": "example.com/gate"}, {"conditionType": "other"}]
    assert _cells(pod)[5:] == ["<none>", "<none>", "node02", "1/2"]


def _node(name: str, ready: str | None = "True", **extra: Any) -> dict[str, Any]:
    node: dict[str, Any] = {
        "metadata": {"name": name, "creationTimestamp": "2025-12-30T00:00:00Z", "labels": extra.pop("labels", {})},
        "spec": extra.pop("spec", {}),
        "status": {"addresses": [{"type": "InternalIP", "address": "10.213.0.2"},
                                 {"type": "Hostname", "address": name}],
                   "nodeInfo": {"kubeletVersion": "v1.33.1-shoal", "osImage": "Debian GNU/Linux 12 (bookworm)",
                                "kernelVersion": "6.1.0", "containerRuntimeVersion": "runc://1.1.12"}}}
    if ready is not None:
        node["status"]["conditions"] = [{"type": "MemoryPressure", "status": "False"},
                                        {"type": "Ready", "status": ready}]
    return node


def test_node_cells() -> None:
    table = tables.table(_resource("nodes"), [
        _node("node01", labels={"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/": "x"}),
        _node("node02", ready="False", spec={"unschedulable": True}),
        _node("node03", ready=None, labels={"kubernetes.io/role": "worker", "node-role.kubernetes.io/infra": ""}),
    ], "3", now=NOW)
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name", "Status", "Roles", "Age", "Version", "Internal-IP", "External-IP", "OS-Image", "Kernel-Version",
        "Container-Runtime"]
    rows = [row["cells"] for row in table["rows"]]
    assert rows[0] == ["node01", "Ready", "control-plane", "3d", "v1.33.1-shoal", "10.213.0.2", "<none>",
                       "Debian GNU/Linux 12 (bookworm)", "6.1.0", "runc://1.1.12"]
    assert rows[1][1:3] == ["NotReady,SchedulingDisabled", "<none>"]
    assert rows[2][1:3] == ["Unknown", "infra,worker"]


def test_other_tables() -> None:
    created = {"creationTimestamp": "2026-01-01T00:00:00Z"}
    secret = {"metadata": {"name": "s", **created}, "type": "Opaque", "data": {"a": "", "b": ""}}
    assert tables.table(_resource("secrets"), [secret], "1", now=NOW)["rows"][0]["cells"] == ["s", "Opaque", 2, "24h"]
    configmap = {"metadata": {"name": "c", **created}, "data": {"a": ""}, "binaryData": {"b": ""}}
    assert tables.table(_resource("configmaps"), [configmap], "1", now=NOW)["rows"][0]["cells"] == ["c", 2, "24h"]
    namespace = {"metadata": {"name": "default", **created}, "status": {"phase": "Active"}}
    assert tables.table(_resource("namespaces"), [namespace], "1", now=NOW)["rows"][0]["cells"] == \
        ["default", "Active", "24h"]
    account = {"metadata": {"name": "default", **created}}
    assert tables.table(_resource("serviceaccounts"), [account], "1", now=NOW)["rows"][0]["cells"] == \
        ["default", 0, "24h"]
    event = {"metadata": {"name": "web.1", **created}, "type": "Normal", "reason": "Scheduled",
             "involvedObject": {"kind": "Pod", "name": "web"}, "message": " Successfully assigned default/web ",
             "source": {"component": "default-scheduler"}, "firstTimestamp": "2026-01-01T23:00:00Z",
             "lastTimestamp": "2026-01-01T23:50:00Z", "count": 2}
    table = tables.table(_resource("events"), [event], "1", now=NOW)
    assert [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0] == [
        "Last Seen", "Type", "Reason", "Object", "Message"]
    assert table["rows"][0]["cells"] == ["10m", "Normal", "Scheduled", "pod/web", "", "default-scheduler",
                                         "Successfully assigned default/web", "60m", 2, "web.1"]
    new_style = {"metadata": {"name": "e"}, "eventTime": "2026-01-01T23:59:00.000000Z",
                 "involvedObject": {"kind": "Node"}, "reportingComponent": "kubelet", "reportingInstance": "node01"}
    cells = tables.table(_resource("events"), [new_style], "1", now=NOW)["rows"][0]["cells"]
    assert cells[0] == "60s" and cells[3] == "node" and cells[5] == "kubelet, node01" and cells[8] == 1


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
@pytest.mark.parametrize("binary", ["dispatcher", "1.32"])
async def test_kubectl_prints_the_table(tmp_path: Path, binary: str) -> None:
    if binary == "1.32" and KUBECTL_132 is None:
        pytest.skip("no kubectl.1.32")
    pod = _pod("web", phase="Running", podIPs=[{"ip": "10.213.1.5"}],
               containerStatuses=[_running("a"), _running("b", restarts=1, finishedAt="2026-01-01T23:59:00Z")])
    pod["metadata"]["namespace"] = "team"
    pods = _resource("pods")

    async def list_pods(request: web.Request) -> Reply:
        assert request.query["limit"] == "500"
        if tables.wants_table(request.headers.get("Accept", "")):
            body = tables.table(pods, [pod], "9", request.query.get("includeObject", "Metadata"))
            return 200, tables.content_type(request.headers["Accept"]), body
        return 200, "application/json", {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "9"},
                                         "items": [pod]}

    async with serving() as server:
        server.routes[("GET", "/api/v1/pods")] = list_pods
        code, out, err = await kubectl(server, tmp_path, "get", "pods", "-A", "-o", "wide",
                                       binary=KUBECTL_132 if binary == "1.32" else None)
        assert code == 0, err
        header, row = out.splitlines()
        assert header.split() == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE",
                                  "NOMINATED", "NODE", "READINESS", "GATES"]
        cells = row.split()
        assert cells[:4] == ["team", "web", "2/2", "Running"]
        assert re.search(r"Running +1 \(\w+ ago\) +\w+ +10\.213", row), row  # the age depends on the clock
        assert cells[-4:] == ["10.213.1.5", "node01", "<none>", "<none>"]
        assert ("GET /api/v1/pods?limit=500", KUBECTL_TABLE_ACCEPT) in server.seen
        code, out, err = await kubectl(server, tmp_path, "get", "pods", "-A")
        assert code == 0, err
        assert out.splitlines()[0].split() == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        code, out, err = await kubectl(server, tmp_path, "get", "pods", "-A", "-o", "name")
        assert (code, out) == (0, "pod/web\n"), err


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
async def test_kubectl_prints_nodes_and_events(tmp_path: Path) -> None:
    nodes = [_node("node01", labels={"node-role.kubernetes.io/control-plane": ""}),
             _node("node02", spec={"unschedulable": True})]
    event = {"metadata": {"name": "web.1", "namespace": "default", "creationTimestamp": "2026-01-01T00:00:00Z"},
             "type": "Warning", "reason": "FailedScheduling", "involvedObject": {"kind": "Pod", "name": "web"},
             "message": "0/2 nodes are available: 2 Insufficient memory.", "count": 1,
             "lastTimestamp": "2026-01-01T00:00:00Z"}

    def lister(plural: str, items: list[dict[str, Any]]) -> Any:
        async def route(request: web.Request) -> Reply:
            accept = request.headers.get("Accept", "")
            assert tables.wants_table(accept)
            return 200, tables.content_type(accept), tables.table(_resource(plural), items, "3")
        return route

    async with serving() as server:
        server.routes[("GET", "/api/v1/nodes")] = lister("nodes", nodes)
        server.routes[("GET", "/api/v1/namespaces/default/events")] = lister("events", [event])
        code, out, err = await kubectl(server, tmp_path, "get", "nodes", "-o", "wide")
        assert code == 0, err
        lines = [line.split() for line in out.splitlines()]
        assert lines[0] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE",
                            "KERNEL-VERSION", "CONTAINER-RUNTIME"]
        assert lines[1][:3] == ["node01", "Ready", "control-plane"]
        assert lines[2][:3] == ["node02", "Ready,SchedulingDisabled", "<none>"]
        assert lines[1][5:7] == ["10.213.0.2", "<none>"]
        code, out, err = await kubectl(server, tmp_path, "get", "ev")
        assert code == 0, err
        header, row = out.splitlines()
        assert header.split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
        assert row.split()[1:4] == ["Warning", "FailedScheduling", "pod/web"]
        assert row.endswith("0/2 nodes are available: 2 Insufficient memory.")
