"""Kubernetes objects to the core and back (``frontdoor/kube/convert.py``): defaults, validation in
Kubernetes' words, a Pod's status from its task, a Node from a Swarm node, Secrets, ConfigMaps,
quantities, QoS classes and field selectors."""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from shoal.api.errors import Invalid, InvalidArgument
from shoal.api.kube import Event, EventSource, InvolvedObject, Namespace, ServiceAccount
from shoal.api.meta import ObjectRef, Version
from shoal.api.states import TaskState
from shoal.api.types import (
    Config,
    ConfigSpec,
    ContainerStatus,
    ControllerRevision,
    CronJob,
    DaemonSet,
    Deployment,
    Endpoints,
    EndpointSlice,
    EngineDescription,
    Ingress,
    IngressClass,
    Job,
    KubeService,
    LastTermination,
    Node,
    NodeDescription,
    NodeSpec,
    NodeStatus,
    NodeSystem,
    Platform,
    ReplicaSet,
    Resources,
    Secret,
    SecretSpec,
    Taint,
    Task,
    TaskStatus,
)
from shoal.frontdoor.kube import convert as C

T0 = "2026-12-04T10:00:00.123456789Z"
T1 = "2026-12-04T10:00:05.5Z"
T2 = "2026-12-04T10:01:00.000000001Z"
POD_YAML = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "mywebserver"},
            "spec": {"containers": [{"name": "mywebserver", "image": "nginx"}]}}


def pod(spec: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", **meta},
            "spec": spec if spec is not None else {"containers": [{"name": "a", "image": "nginx"}]}}


def stored(t: Task, *, version: int = 7) -> Task:
    """As the store hands it back: an ID, a version, a creation time."""
    t.ID = t.ID or "uid-1"
    t.Version = Version(Index=version)
    t.CreatedAt = T0
    return t


def causes(exc: pytest.ExceptionInfo[Invalid]) -> list[str]:
    return [f"{c.field}: {c.detail}" for c in exc.value.causes]


def invalid(resource: str, obj: dict[str, Any]) -> list[str]:
    with pytest.raises(Invalid) as e:
        C.to_core(resource, obj, namespace="default")
    return causes(e)


# ---------------------------------------------------------------- Pods: defaults and round trips


def test_course_pod_gets_the_api_servers_defaults() -> None:
    t = C.to_core("pods", POD_YAML, namespace="default")
    assert (t.Namespace, t.Name, t.Spec.Hostname) == ("default", "mywebserver", "mywebserver")
    c = t.Spec.Containers[0]
    assert (c.Name, c.Image, c.StopGracePeriod) == ("mywebserver", "nginx", 30 * C.SECOND)
    assert c.Pod is not None and c.Pod.ImagePullPolicy == "Always"
    assert c.Pod.TerminationMessagePath == "/dev/termination-log"
    assert t.Spec.RestartPolicy is not None and (t.Spec.RestartPolicy.Condition, t.Spec.RestartPolicy.Delay) == \
        ("any", 0)
    p = t.Spec.Pod
    assert p is not None
    assert (p.RestartPolicy, p.DNSPolicy, p.SchedulerName, p.ServiceAccountName, p.TerminationGracePeriodSeconds,
            p.Priority, p.Kept) == ("Always", "ClusterFirst", "default-scheduler", "default", 30, 0, None)
    assert t.Spec.Placement is not None and t.Spec.Placement.Tolerations is not None
    assert [(x.Key, x.Operator, x.Effect, x.TolerationSeconds) for x in t.Spec.Placement.Tolerations] == [
        ("node.kubernetes.io/not-ready", "Exists", "NoExecute", 300),
        ("node.kubernetes.io/unreachable", "Exists", "NoExecute", 300)]

    wire = C.to_wire("pods", stored(t))
    assert wire["metadata"] == {"name": "mywebserver", "namespace": "default", "uid": "uid-1",
                                "resourceVersion": "7", "creationTimestamp": "2026-12-04T10:00:00Z"}
    assert wire["spec"] == {
        "containers": [{"name": "mywebserver", "image": "nginx", "resources": {},
                        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                        "imagePullPolicy": "Always"}],
        "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "default", "serviceAccount": "default", "securityContext": {},
        "schedulerName": "default-scheduler",
        "tolerations": [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300}],
        "priority": 0, "enableServiceLinks": True, "preemptionPolicy": "PreemptLowerPriority"}
    assert wire["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    assert (wire["kind"], wire["apiVersion"], list(wire)) == ("Pod", "v1", ["kind", "apiVersion", "metadata", "spec",
                                                                            "status"])


def test_round_trip_is_stable_and_byte_stable() -> None:
    full = pod({
        "volumes": [{"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "app"}},
                    {"name": "tok", "secret": {"secretName": "s", "items": [{"key": "k", "path": "p"}]}},
                    {"name": "pvc", "persistentVolumeClaim": {"claimName": "c"}}],
        "initContainers": [{"name": "init", "image": "busybox:1.36", "command": ["sh", "-c", "true"]}],
        "containers": [
            {"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80, "name": "http"}],
             "env": [{"name": "A", "value": "1"}, {"name": "E"},
                     {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
             "envFrom": [{"configMapRef": {"name": "app"}, "prefix": "X_"}],
             "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "cfg", "mountPath": "/cfg",
                                                                        "readOnly": True}],
             "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}},
             "livenessProbe": {"httpGet": {"port": 80}},
             "readinessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 5},
             "securityContext": {"runAsUser": 1000, "capabilities": {"add": ["NET_ADMIN"]},
                                 "allowPrivilegeEscalation": False},
             "lifecycle": {"preStop": {"exec": {"command": ["sleep", "1"]}}}},
            {"name": "side", "image": "busybox", "args": ["sleep", "1d"], "tty": True, "stdin": True,
             "terminationMessagePolicy": "FallbackToLogsOnError"}],
        "restartPolicy": "OnFailure", "nodeSelector": {"disk": "ssd"},
        "securityContext": {"runAsUser": 0, "runAsGroup": 10, "fsGroup": 20},
        "affinity": {"nodeAffinity": {"x": 1}}, "readinessGates": [{"conditionType": "c"}],
        "dnsConfig": {"nameservers": ["1.1.1.1"], "options": [{"name": "ndots", "value": "2"}]},
        "tolerations": [{"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}],
        "hostname": "h", "subdomain": "s", "imagePullSecrets": [{"name": "reg"}], "enableServiceLinks": False},
        labels={"app": "web"}, annotations={"a": "b"}, finalizers=["example.com/f"],
        ownerReferences=[{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "rs-uid",
                          "controller": True, "blockOwnerDeletion": True}])
    t = stored(C.to_core("pods", full, namespace="default"))
    assert t.Owner == ObjectRef(Kind="ReplicaSet", ID="rs-uid", Name="rs")
    web, side = t.Spec.Containers
    assert web.Env == ["A=1", "E="] and web.User == "1000:10" and side.User == "0:10"
    assert web.Resources is not None and web.Resources.Limits == Resources(NanoCPUs=500_000_000,
                                                                           MemoryBytes=128 << 20)
    assert web.Resources.Reservations == web.Resources.Limits  # requests from limits
    assert t.Spec.Resources is not None and t.Spec.Resources.Limits == web.Resources.Limits
    assert t.Spec.RestartPolicy is not None and t.Spec.RestartPolicy.Condition == "on-failure"
    assert web.CapabilityAdd == ["NET_ADMIN"] and side.TTY and side.OpenStdin
    assert t.Spec.DNSConfig == {"Nameservers": ["1.1.1.1"], "Search": [], "Options": ["ndots:2"]}
    assert t.Spec.Hostname == "h"
    assert t.Spec.Pod is not None and t.Spec.Pod.Kept is not None
    assert set(t.Spec.Pod.Kept) == {"affinity", "readinessGates", "dnsConfig", "securityContext", "volumes",
                                    "enableServiceLinks", "containers"}
    wire1 = C.to_wire("pods", t)
    spec = wire1["spec"]
    assert spec["volumes"][-1] == {"name": "pvc", "persistentVolumeClaim": {"claimName": "c"}}
    assert spec["containers"][0]["env"] == [{"name": "A", "value": "1"}, {"name": "E"},
                                            {"name": "POD", "valueFrom": {"fieldRef": {"apiVersion": "v1",
                                                                                       "fieldPath": "metadata.name"}}}]
    assert spec["containers"][0]["resources"] == {"limits": {"cpu": "500m", "memory": "128Mi"},
                                                  "requests": {"cpu": "500m", "memory": "128Mi"}}
    assert spec["containers"][0]["livenessProbe"] == {"httpGet": {"path": "/", "port": 80, "scheme": "HTTP"},
                                                      "timeoutSeconds": 1, "periodSeconds": 10,
                                                      "successThreshold": 1, "failureThreshold": 3}
    assert spec["containers"][0]["lifecycle"] == {"preStop": {"exec": {"command": ["sleep", "1"]}}}
    assert spec["containers"][1]["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert spec["containers"][1]["imagePullPolicy"] == "Always"
    assert spec["initContainers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert spec["securityContext"] == {"runAsUser": 0, "runAsGroup": 10, "fsGroup": 20}
    assert spec["enableServiceLinks"] is False and spec["hostname"] == "h"
    assert len(spec["tolerations"]) == 3
    assert wire1["metadata"]["ownerReferences"] == full["metadata"]["ownerReferences"]
    assert wire1["metadata"]["finalizers"] == ["example.com/f"]
    # what comes back out goes in again to the same core object and the same bytes
    t2 = stored(C.to_core("pods", copy.deepcopy(wire1), namespace="default"))
    assert t2.Spec == t.Spec
    assert json.dumps(C.to_wire("pods", t2)) == json.dumps(wire1)
    assert json.dumps(C.to_wire("pods", t)) == json.dumps(wire1)


def test_two_container_pod() -> None:
    t = C.to_core("pods", pod({"containers": [{"name": "a", "image": "nginx:1.27"},
                                              {"name": "b", "image": "redis@sha256:" + "0" * 64}]}),
                  namespace="ns1")
    assert [c.Name for c in t.Spec.Containers] == ["a", "b"]
    assert [c.Pod.ImagePullPolicy for c in t.Spec.Containers if c.Pod] == ["IfNotPresent", "IfNotPresent"]
    assert t.Namespace == "ns1"


def test_protobuf_zero_values_are_unset() -> None:
    zero_container = {"name": "a", "image": "nginx:latest", "command": [], "args": [], "workingDir": "",
                      "ports": [{"name": "", "hostPort": 0, "containerPort": 80, "protocol": "", "hostIP": ""}],
                      "env": [], "resources": {}, "volumeMounts": [], "terminationMessagePath": "",
                      "terminationMessagePolicy": "", "imagePullPolicy": "", "stdin": False, "stdinOnce": False,
                      "tty": False}
    obj = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "p", "generateName": "", "namespace": "", "uid": "", "resourceVersion": "",
                        "generation": 0, "labels": {}, "annotations": {}},
           "spec": {"volumes": [], "initContainers": [], "containers": [zero_container], "restartPolicy": "",
                    "dnsPolicy": "", "nodeSelector": {}, "serviceAccountName": "", "serviceAccount": "",
                    "nodeName": "", "hostNetwork": False, "hostPID": False, "hostIPC": False, "hostname": "",
                    "subdomain": "", "schedulerName": "", "tolerations": [], "priorityClassName": "",
                    "readinessGates": [], "runtimeClassName": "", "preemptionPolicy": ""},
           "status": {"phase": "", "conditions": [], "hostIP": "", "podIP": ""}}
    t = C.to_core("pods", obj, namespace="default")
    want = C.to_core("pods", {"metadata": {"name": "p"},
                              "spec": {"containers": [{"name": "a", "image": "nginx:latest",
                                                       "ports": [{"containerPort": 80}]}]}},
                     namespace="default")
    assert t == want
    assert t.Spec.Pod is not None and t.Spec.Pod.Kept is None
    c = t.Spec.Containers[0]
    assert c.Pod is not None and c.Pod.Ports is not None and c.Pod.Ports[0].Protocol == "TCP"
    assert c.Pod.ImagePullPolicy == "Always" and c.Pod.TerminationMessagePath == "/dev/termination-log"
    assert C.to_wire("pods", stored(t))["spec"]["containers"][0]["ports"] == [{"containerPort": 80,
                                                                               "protocol": "TCP"}]


def test_pointer_zeros_are_values() -> None:
    t = C.to_core("pods", pod({"containers": [{"name": "a", "image": "x"}], "terminationGracePeriodSeconds": 0,
                               "securityContext": {"runAsUser": 0}, "automountServiceAccountToken": False}),
                  namespace="default")
    assert t.Spec.Containers[0].StopGracePeriod == 0 and t.Spec.Containers[0].User == "0"
    assert t.Spec.Pod is not None and t.Spec.Pod.TerminationGracePeriodSeconds == 0
    assert t.Spec.Pod.AutomountServiceAccountToken is False


def test_generate_name_and_user_tolerations() -> None:
    t = C.to_core("pods", {"metadata": {"generateName": "web-"},
                           "spec": {"containers": [{"name": "a", "image": "x"}],
                                    "tolerations": [{"operator": "Exists"}]}}, namespace="default")
    assert (t.Name, t.GenerateName) == ("", "web-")
    assert t.Spec.Placement is not None and t.Spec.Placement.Tolerations is not None
    assert len(t.Spec.Placement.Tolerations) == 1  # "tolerate everything" already tolerates the two


def test_namespace_must_match_the_request() -> None:
    with pytest.raises(InvalidArgument, match="does not match the namespace sent on the request"):
        C.to_core("pods", pod(namespace="other"), namespace="default")


def test_task_spec_helpers_for_templates() -> None:
    spec = C.task_spec_to_core({"containers": [{"name": "a", "image": "nginx"}]}, name="")
    assert spec.Hostname == ""
    wire = C.task_spec_to_wire(spec)
    assert wire["containers"][0]["name"] == "a" and "hostname" not in wire
    with pytest.raises(Invalid) as e:
        C.task_spec_to_core({"containers": []}, name="x")
    assert causes(e) == ["spec.containers: Required value"]


# ---------------------------------------------------------------- Pods: validation texts


SUBDOMAIN = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
             "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
             r"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
         "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
         "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")


def test_error_texts() -> None:
    assert invalid("pods", pod({"containers": [{"name": "a"}]})) == ["spec.containers[0].image: Required value"]
    assert invalid("pods", pod(name="Foo")) == [f'metadata.name: Invalid value: "Foo": {SUBDOMAIN}']
    assert invalid("pods", pod({"containers": []})) == ["spec.containers: Required value"]
    assert invalid("pods", pod({"containers": [{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]})) == [
        'spec.containers[1].name: Duplicate value: "a"']
    assert invalid("pods", pod({"containers": [{"name": "a", "image": "x"}], "restartPolicy": "X"})) == [
        'spec.restartPolicy: Unsupported value: "X": supported values: "Always", "Never", "OnFailure"']
    assert invalid("pods", pod({"containers": [{"name": "a", "image": "x"}], "dnsPolicy": "Y"})) == [
        'spec.dnsPolicy: Unsupported value: "Y": supported values: "ClusterFirst", "ClusterFirstWithHostNet", '
        '"Default", "None"']
    assert invalid("pods", {"metadata": {}, "spec": {"containers": [{"name": "a", "image": "x"}]}}) == [
        "metadata.name: Required value: name or generateName is required"]
    assert invalid("pods", pod({"containers": [{"name": "A_b", "image": "x"}]})) == [
        f'spec.containers[0].name: Invalid value: "A_b": {LABEL}']


def test_error_texts_containers() -> None:
    c = {"name": "a", "image": "x", "imagePullPolicy": "Sometimes",
         "ports": [{"containerPort": 0}, {"containerPort": 70000, "protocol": "ICMP"}],
         "env": [{"name": ""}, {"name": "A=B"}],
         "volumeMounts": [{"name": "nope", "mountPath": "/x"}],
         "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "2", "memory": "lots"}}}
    assert invalid("pods", pod({"containers": [c]})) == [
        "spec.containers[0].ports[0].containerPort: Required value",
        "spec.containers[0].ports[1].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
        'spec.containers[0].ports[1].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
        "spec.containers[0].env[0].name: Required value",
        'spec.containers[0].env[1].name: Invalid value: "A=B": a valid environment variable name must consist only '
        "of printable ASCII characters other than '='",
        'spec.containers[0].volumeMounts[0].name: Not found: "nope"',
        'spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", '
        '"IfNotPresent", "Never"',
        'spec.containers[0].resources.requests[memory]: Invalid value: "lots": quantities must match the regular '
        "expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
        'spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1']


def test_error_texts_volumes_tolerations_labels() -> None:
    spec = {"volumes": [{"name": "v"}, {"name": "v", "emptyDir": {}, "hostPath": {"path": "/"}}],
            "containers": [{"name": "a", "image": "x"}],
            "tolerations": [{"key": "k", "operator": "Exists", "value": "v"}, {"operator": "Equal"},
                            {"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5}]}
    assert invalid("pods", pod(spec, labels={"bad key": "v", "ok": "-x"})) == [
        'metadata.labels: Invalid value: "bad key": name part must consist of alphanumeric characters, \'-\', \'_\' '
        "or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
        "'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
        'metadata.labels: Invalid value: "-x": a valid label must be an empty string or consist of alphanumeric '
        "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
        "'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
        "spec.volumes[0]: Required value: must specify a volume type",
        "spec.volumes[1].hostPath: Forbidden: may not specify more than 1 volume type",
        'spec.volumes[1].name: Duplicate value: "v"',
        'spec.tolerations[0].operator: Invalid value: core.Toleration{Key:"k", Operator:"Exists", Value:"v", '
        'Effect:"", TolerationSeconds:(*int64)(nil)}: value must be empty when `operator` is \'Exists\'',
        'spec.tolerations[1].operator: Invalid value: "Equal": operator must be Exists when `key` is empty, which '
        'means "match all values and all keys"',
        "spec.tolerations[2].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when "
        "`tolerationSeconds` is set"]
    with pytest.raises(Invalid) as e:
        C.to_core("pods", pod(name="Foo"), namespace="default")
    assert str(e.value).startswith('Pod "Foo" is invalid: metadata.name: Invalid value')
    assert e.value.kind == "Pod" and e.value.causes[0].type == "FieldValueInvalid"


# ---------------------------------------------------------------- Pods: status from the task


def running_task(**status: Any) -> Task:
    t = stored(C.to_core("pods", pod({"containers": [{"name": "a", "image": "nginx"}, {"name": "b",
                                                                                      "image": "redis"}]}),
                         namespace="default"))
    t.NodeID = "node-1"
    t.Status = TaskStatus(State=TaskState.RUNNING, Timestamp=T1, StartedAt=T1, Addresses=["10.0.0.5/24"],
                          **status)
    return t


def wire_status(t: Task) -> dict[str, Any]:
    w = C.to_wire("pods", t, node_name=lambda nid: {"node-1": "node01"}[nid],
                  node_addr=lambda nid: {"node-1": "192.168.1.10"}[nid])
    assert w["spec"].get("nodeName", "") == ("node01" if t.NodeID else "")
    status: dict[str, Any] = w["status"]
    return status


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    return {c["type"]: (c["status"], *(x for x in (c.get("reason"), c.get("message")) if x))
            for c in status.get("conditions", [])}


def test_status_pending_unschedulable() -> None:
    t = stored(C.to_core("pods", pod(), namespace="default"))
    t.Status = TaskStatus(State=TaskState.PENDING, Timestamp=T1, Addresses=["10.0.0.9/24"],
                          Err="0/1 nodes are available: 1 Insufficient memory.")
    s = wire_status(t)
    assert s["phase"] == "Pending" and "podIP" not in s
    assert s["conditions"] == [{"type": "PodScheduled", "status": "False", "lastProbeTime": None,
                                "lastTransitionTime": "2026-12-04T10:00:05Z", "reason": "Unschedulable",
                                "message": "0/1 nodes are available: 1 Insufficient memory."}]
    assert "containerStatuses" not in s


def test_status_assigned_containers_creating() -> None:
    t = running_task()
    t.Status = TaskStatus(State=TaskState.PREPARING, Timestamp=T1)
    s = wire_status(t)
    assert s["phase"] == "Pending"
    assert conditions(s) == {
        "PodReadyToStartContainers": ("False",), "Initialized": ("True",),
        "Ready": ("False", "ContainersNotReady", "containers with unready status: [a b]"),
        "ContainersReady": ("False", "ContainersNotReady", "containers with unready status: [a b]"),
        "PodScheduled": ("True",)}
    assert s["hostIP"] == "192.168.1.10" and s["hostIPs"] == [{"ip": "192.168.1.10"}]
    assert s["containerStatuses"][0] == {"name": "a", "state": {"waiting": {"reason": "ContainerCreating"}},
                                         "lastState": {}, "ready": False, "restartCount": 0, "image": "nginx",
                                         "imageID": "", "started": False}


def test_status_running_ready() -> None:
    t = running_task(Containers=[
        ContainerStatus(Name="a", ContainerID="c1", State="running", Ready=True, StartedAt=T1,
                        Image="docker.io/library/nginx:latest", ImageID="sha256:abc"),
        ContainerStatus(Name="b", ContainerID="c2", State="running", Ready=True, StartedAt=T1)])
    s = wire_status(t)
    assert s["phase"] == "Running"
    assert all(v == ("True",) for v in conditions(s).values())
    assert (s["podIP"], s["podIPs"], s["startTime"]) == ("10.0.0.5", [{"ip": "10.0.0.5"}], "2026-12-04T10:00:05Z")
    assert s["containerStatuses"][0] == {
        "name": "a", "state": {"running": {"startedAt": "2026-12-04T10:00:05Z"}}, "lastState": {}, "ready": True,
        "restartCount": 0, "image": "docker.io/library/nginx:latest", "imageID": "sha256:abc",
        "containerID": "docker://c1", "started": True}
    assert list(s) == ["phase", "conditions", "hostIP", "hostIPs", "podIP", "podIPs", "startTime",
                       "containerStatuses", "qosClass"]


def test_status_crash_loop_and_last_state() -> None:
    t = running_task(Containers=[
        ContainerStatus(Name="a", ContainerID="c1", State="running", Ready=True, StartedAt=T1),
        ContainerStatus(Name="b", ContainerID="c3", State="waiting", RestartCount=2, ExitCode=1,
                        LastState=LastTermination(ExitCode=137, Reason="OOMKilled", StartedAt=T1, FinishedAt=T2,
                                                  ContainerID="c3"))])
    s = wire_status(t)
    b = s["containerStatuses"][1]
    assert b["state"] == {"waiting": {"reason": "CrashLoopBackOff",
                                      "message": "back-off restarting failed container=b pod=p_default(uid-1)"}}
    assert b["lastState"] == {"terminated": {"exitCode": 137, "reason": "OOMKilled",
                                             "startedAt": "2026-12-04T10:00:05Z",
                                             "finishedAt": "2026-12-04T10:01:00Z", "containerID": "docker://c3"}}
    assert b["restartCount"] == 2 and b["ready"] is False
    assert conditions(s)["Ready"] == ("False", "ContainersNotReady", "containers with unready status: [b]")


def test_status_image_pull_waiting() -> None:
    t = running_task(Containers=[ContainerStatus(Name="a", State="waiting", Reason="ImagePullBackOff",
                                                 Message='Back-off pulling image "nginx"'),
                                 ContainerStatus(Name="b", State="waiting", Reason="ErrImagePull")])
    t.Status.State = TaskState.PREPARING
    s = wire_status(t)
    assert s["containerStatuses"][0]["state"] == {"waiting": {"reason": "ImagePullBackOff",
                                                              "message": 'Back-off pulling image "nginx"'}}
    assert s["containerStatuses"][1]["state"] == {"waiting": {"reason": "ErrImagePull"}}


def test_status_while_the_image_is_pulled_is_container_creating() -> None:
    t = running_task(Containers=[ContainerStatus(Name="a", State="waiting", Reason="Pulling"),
                                 ContainerStatus(Name="b", State="waiting")])
    t.Status.State = TaskState.PREPARING
    s = wire_status(t)
    assert [c["state"] for c in s["containerStatuses"]] == [{"waiting": {"reason": "ContainerCreating"}}] * 2


def test_status_succeeded_and_failed() -> None:
    done = [ContainerStatus(Name=n, ContainerID=f"c{n}", State="terminated", ExitCode=code, StartedAt=T1,
                            FinishedAt=T2) for n, code in (("a", 0), ("b", 0))]
    t = running_task(Containers=done)
    t.Status.State = TaskState.COMPLETE
    s = wire_status(t)
    assert s["phase"] == "Succeeded"
    assert conditions(s)["Ready"] == ("False", "PodCompleted")
    assert s["containerStatuses"][0]["state"] == {"terminated": {
        "exitCode": 0, "reason": "Completed", "startedAt": "2026-12-04T10:00:05Z",
        "finishedAt": "2026-12-04T10:01:00Z", "containerID": "docker://ca"}}
    failed = running_task(Containers=[done[0], ContainerStatus(Name="b", State="terminated", ExitCode=2)])
    failed.Status.State = TaskState.FAILED
    s = wire_status(failed)
    assert s["phase"] == "Failed"
    assert s["containerStatuses"][1]["state"]["terminated"]["reason"] == "Error"
    rejected = running_task()
    rejected.Status = TaskStatus(State=TaskState.REJECTED, Timestamp=T1, Err="No such image: nginx")
    s = wire_status(rejected)
    assert s["phase"] == "Failed"
    assert s["containerStatuses"][0]["state"] == {"waiting": {"reason": "ErrImagePull",
                                                              "message": "No such image: nginx"}}
    shut = running_task(Containers=done)
    shut.Status.State = TaskState.SHUTDOWN
    assert wire_status(shut)["phase"] == "Succeeded"


def test_status_init_containers() -> None:
    t = stored(C.to_core("pods", pod({"initContainers": [{"name": "i1", "image": "x"}, {"name": "i2", "image": "x"}],
                                      "containers": [{"name": "a", "image": "x"}]}), namespace="default"))
    t.NodeID = "node-1"
    inits = [ContainerStatus(Name="i1", ContainerID="i1c", State="terminated", ExitCode=0, StartedAt=T1, FinishedAt=T1),
             ContainerStatus(Name="i2", ContainerID="i2c", State="running", StartedAt=T1)]
    # as the agent reports it: every container in Containers (init containers first), the init ones again apart
    t.Status = TaskStatus(State=TaskState.STARTING, Timestamp=T1, StartedAt=T1, InitContainers=inits, Containers=[
        *inits, ContainerStatus(Name="a", State="waiting", Reason="PodInitializing")])
    s = wire_status(t)
    assert s["phase"] == "Pending"
    assert conditions(s)["Initialized"] == ("False", "ContainersNotInitialized",
                                            "containers with incomplete status: [i2]")
    assert [x["state"] for x in s["initContainerStatuses"]] == [
        {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": "2026-12-04T10:00:05Z",
                        "finishedAt": "2026-12-04T10:00:05Z", "containerID": "docker://i1c"}},
        {"running": {"startedAt": "2026-12-04T10:00:05Z"}}]
    assert s["containerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}


def test_deleting_pod_metadata() -> None:
    t = running_task()
    t.DeletionTimestamp, t.DeletionGracePeriodSeconds = T2, 30
    md = C.to_wire("pods", t)["metadata"]
    assert (md["deletionTimestamp"], md["deletionGracePeriodSeconds"]) == ("2026-12-04T10:01:00Z", 30)


# ---------------------------------------------------------------- quantities and QoS


@pytest.mark.parametrize(("text", "nanos"), [("100m", 100_000_000), ("0.5", 500_000_000), ("2", 2 * C.SECOND),
                                             ("1e-3", 1_000_000), ("250u", 250_000), (1, C.SECOND)])
def test_cpu_quantities(text: str | int, nanos: int) -> None:
    t = C.to_core("pods", pod({"containers": [{"name": "a", "image": "x", "resources": {"requests": {"cpu": text}}}]}),
                  namespace="default")
    r = t.Spec.Containers[0].Resources
    assert r is not None and r.Reservations is not None and r.Reservations.NanoCPUs == nanos and r.Limits is None


@pytest.mark.parametrize(("text", "n"), [("64Mi", 64 << 20), ("1G", 10**9), ("1.5Gi", 3 << 29),
                                         ("128974848", 128974848), ("129e6", 129_000_000), ("1Ki", 1024),
                                         ("0.5", 1)])
def test_memory_quantities(text: str, n: int) -> None:
    t = C.to_core("pods", pod({"containers": [{"name": "a", "image": "x", "resources": {"limits": {"memory": text}}}]}),
                  namespace="default")
    r = t.Spec.Containers[0].Resources
    assert r is not None and r.Limits is not None and r.Limits.MemoryBytes == n


def test_quantity_formats() -> None:
    assert [C.format_cpu(n) for n in (2 * C.SECOND, 1_500_000_000, 250_000, 7)] == ["2", "1500m", "250u", "7n"]
    assert [C.format_memory(n) for n in (64 << 20, 3 << 29, 10**9, 1000, 1023)] == ["64Mi", "1536Mi", "1G", "1k",
                                                                                   "1023"]


def qos(*containers: dict[str, Any]) -> str:
    spec = {"containers": [{"name": f"c{i}", "image": "x", **c} for i, c in enumerate(containers)]}
    t = stored(C.to_core("pods", pod(spec), namespace="default"))
    return str(C.to_wire("pods", t)["status"]["qosClass"])


def test_qos_classes() -> None:
    both = {"cpu": "1", "memory": "1Gi"}
    assert qos({}) == "BestEffort"
    assert qos({"resources": {"limits": both}}) == "Guaranteed"  # requests default to the limits
    assert qos({"resources": {"limits": both, "requests": both}}, {"resources": {"limits": both}}) == "Guaranteed"
    assert qos({"resources": {"limits": both}}, {}) == "Burstable"
    assert qos({"resources": {"requests": {"cpu": "100m"}}}) == "Burstable"
    assert qos({"resources": {"limits": {"cpu": "1"}}}) == "Burstable"
    assert qos({"resources": {"limits": both, "requests": {"cpu": "500m"}}}) == "Burstable"


# ---------------------------------------------------------------- Secrets and ConfigMaps


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def test_secret_with_string_data() -> None:
    s = C.to_core("secrets", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "labels": {"a": "b"}},
                              "data": {"user": b64("admin"), "pw": b64("old")}, "stringData": {"pw": "new"},
                              "type": ""}, namespace="default")
    assert isinstance(s, Secret) and s.Namespace == "default"
    assert (s.Spec.Name, s.Spec.Type, s.Spec.Items, s.Spec.Labels) == ("db", "Opaque", {"user": b"admin",
                                                                                        "pw": b"new"}, {"a": "b"})
    s.ID, s.Version, s.CreatedAt = "sid", Version(Index=3), T0
    w = C.to_wire("secrets", s)
    assert w == {"kind": "Secret", "apiVersion": "v1",
                 "metadata": {"name": "db", "namespace": "default", "uid": "sid", "resourceVersion": "3",
                              "creationTimestamp": "2026-12-04T10:00:00Z", "labels": {"a": "b"}},
                 "data": {"pw": b64("new"), "user": b64("admin")}, "type": "Opaque"}
    again = C.to_core("secrets", w, namespace="default")
    assert again.Spec == s.Spec


def test_secret_type_rules() -> None:
    assert invalid("secrets", {"metadata": {"name": "t"}, "type": "kubernetes.io/tls",
                               "data": {"tls.crt": b64("x")}}) == ["data[tls.key]: Required value"]
    assert invalid("secrets", {"metadata": {"name": "t"}, "type": "kubernetes.io/tls"}) == [
        "data[tls.crt]: Required value", "data[tls.key]: Required value"]
    assert invalid("secrets", {"metadata": {"name": "r"}, "type": "kubernetes.io/dockerconfigjson"}) == [
        "data[.dockerconfigjson]: Required value"]
    assert invalid("secrets", {"metadata": {"name": "r"}, "type": "kubernetes.io/dockerconfigjson",
                               "stringData": {".dockerconfigjson": "{"}}) == [
        'data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": unexpected end of JSON input']
    assert invalid("secrets", {"metadata": {"name": "r"}, "type": "kubernetes.io/dockerconfigjson",
                               "stringData": {".dockerconfigjson": "[1]"}}) == [
        'data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": json: cannot unmarshal array into Go '
        "value of type map[string]interface {}"]
    ok = C.to_core("secrets", {"metadata": {"name": "r"}, "type": "kubernetes.io/dockerconfigjson",
                               "stringData": {".dockerconfigjson": '{"auths":{}}'}}, namespace="default")
    assert ok.Spec.Type == "kubernetes.io/dockerconfigjson"
    assert invalid("secrets", {"metadata": {"name": "s"}, "data": {"a b": b64("x")}}) == [
        'data[a b]: Invalid value: "a b": a valid config key must consist of alphanumeric characters, \'-\', \'_\' or '
        "'.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"]
    with pytest.raises(InvalidArgument, match="illegal base64 data at input byte 2"):
        C.to_core("secrets", {"metadata": {"name": "s"}, "data": {"k": "ab!!"}}, namespace="default")


def test_config_map() -> None:
    c = C.to_core("configmaps", {"metadata": {"name": "cfg"}, "data": {"app.properties": "k=v\n", "k": "v"},
                                 "binaryData": {"bin": b64("\x00\x01")}}, namespace="default")
    assert isinstance(c, Config)
    assert (c.Spec.Items, c.Spec.BinaryItems) == ({"app.properties": "k=v\n", "k": "v"}, {"bin": b"\x00\x01"})
    c.ID, c.CreatedAt = "cid", T0
    w = C.to_wire("configmaps", c)
    assert w["data"] == {"app.properties": "k=v\n", "k": "v"} and w["binaryData"] == {"bin": b64("\x00\x01")}
    assert "type" not in w and "spec" not in w
    assert invalid("configmaps", {"metadata": {"name": "cfg"}, "data": {"..x": "", "b": ""},
                                  "binaryData": {"b": ""}}) == [
        'data[..x]: Invalid value: "..x": must not start with \'..\'',
        'data[b]: Invalid value: "b": duplicate of key present in binaryData']


# ---------------------------------------------------------------- Namespaces, ServiceAccounts, Events


def test_namespace() -> None:
    ns = C.to_core("namespaces", {"metadata": {"name": "dev", "namespace": ""}}, namespace="")
    assert isinstance(ns, Namespace) and ns.Labels == {"kubernetes.io/metadata.name": "dev"} and not ns.Namespace
    ns.ID, ns.CreatedAt = "nid", T0
    w = C.to_wire("namespaces", ns)
    assert w["spec"] == {"finalizers": ["kubernetes"]} and w["status"] == {"phase": "Active"}
    assert "namespace" not in w["metadata"]
    assert invalid("namespaces", {"metadata": {"name": "Dev"}}) == [f'metadata.name: Invalid value: "Dev": {LABEL}']


def test_service_account() -> None:
    sa = C.to_core("serviceaccounts", {"metadata": {"name": "build"}, "imagePullSecrets": [{"name": "reg"}],
                                       "automountServiceAccountToken": False}, namespace="ci")
    assert isinstance(sa, ServiceAccount)
    assert (sa.Namespace, sa.ImagePullSecrets, sa.AutomountServiceAccountToken) == ("ci", ["reg"], False)
    sa.ID = "x"
    w = C.to_wire("serviceaccounts", sa)
    assert w["imagePullSecrets"] == [{"name": "reg"}] and w["automountServiceAccountToken"] is False


def test_event() -> None:
    ev = Event(ID="e1", Name="p.1", Namespace="default", CreatedAt=T0,
               InvolvedObject=InvolvedObject(Kind="Pod", Namespace="default", Name="p", ID="uid-1",
                                             APIVersion="v1"),
               Reason="Scheduled", Message="Successfully assigned default/p to node01",
               Source=EventSource(Component="default-scheduler"), FirstTimestamp=T1, LastTimestamp=T2)
    w = C.to_wire("events", ev)
    assert w["involvedObject"] == {"kind": "Pod", "namespace": "default", "name": "p", "uid": "uid-1",
                                   "apiVersion": "v1"}
    assert (w["firstTimestamp"], w["lastTimestamp"], w["count"], w["type"]) == (
        "2026-12-04T10:00:05Z", "2026-12-04T10:01:00Z", 1, "Normal")
    back = C.to_core("events", w, namespace="default")
    assert (back.InvolvedObject, back.Reason, back.Source) == (ev.InvolvedObject, ev.Reason, ev.Source)
    assert invalid("events", {**w, "type": "Odd"}) == [
        'type: Unsupported value: "Odd": supported values: "Normal", "Warning"']
    assert C.field_value("events", ev, "involvedObject.uid") == "uid-1"
    assert C.field_value("events", ev, "reason") == "Scheduled"


# ---------------------------------------------------------------- Nodes


def swarm_node(**spec: Any) -> Node:
    return Node(ID="n1", Version=Version(Index=12), CreatedAt=T0, UpdatedAt=T2,
                Spec=NodeSpec(**spec),
                Description=NodeDescription(Hostname="Node01", Platform=Platform(Architecture="x86_64", OS="linux"),
                                            Resources=Resources(NanoCPUs=2 * C.SECOND, MemoryBytes=4 << 30),
                                            Engine=EngineDescription(EngineVersion="28.2.2-shoal",
                                                                     Labels={"kernel.version": "6.1.0"})),
                Status=NodeStatus(State="ready", Addr="192.168.1.10"))


def test_node_from_swarm_node() -> None:
    w = C.to_wire("nodes", swarm_node(Role="manager", Labels={"disk": "ssd"},
                                      Taints=[Taint(Key="k", Value="v", Effect="NoSchedule")]))
    md = w["metadata"]
    assert (md["name"], md["uid"], md["resourceVersion"]) == ("node01", "n1", "12")
    assert md["labels"] == {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux", "disk": "ssd",
                            "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": "node01",
                            "kubernetes.io/os": "linux", "node-role.kubernetes.io/control-plane": ""}
    assert w["spec"] == {"taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]}
    st = w["status"]
    assert st["capacity"] == st["allocatable"] == {"cpu": "2", "memory": "4194304Ki", "pods": "110"}
    assert [(c["type"], c["status"], c["reason"]) for c in st["conditions"]] == [
        ("MemoryPressure", "False", "KubeletHasSufficientMemory"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID"), ("Ready", "True", "KubeletReady")]
    assert st["conditions"][3]["message"] == "kubelet is posting ready status"
    assert st["addresses"] == [{"type": "InternalIP", "address": "192.168.1.10"},
                               {"type": "Hostname", "address": "node01"}]
    info = st["nodeInfo"]
    assert (info["kubeletVersion"], info["containerRuntimeVersion"], info["kernelVersion"], info["architecture"],
            info["operatingSystem"]) == ("v1.33.1-shoal", "docker://28.2.2-shoal", "6.1.0", "amd64", "linux")


def test_node_info_from_what_the_node_runs_on() -> None:
    n = swarm_node()
    n.Description.System = NodeSystem(KernelVersion="6.1.0-28-amd64", OSImage="Debian GNU/Linux 12 (bookworm)",
                                      Runtime="runc", RuntimeVersion="1.1.5")
    info = C.to_wire("nodes", n)["status"]["nodeInfo"]
    assert (info["kernelVersion"], info["osImage"], info["containerRuntimeVersion"]) == (
        "6.1.0-28-amd64", "Debian GNU/Linux 12 (bookworm)", "runc://1.1.5")


def test_node_cordoned_and_down() -> None:
    n = swarm_node(Availability="drain")
    n.Status.State = "down"
    w = C.to_wire("nodes", n)
    assert w["spec"]["unschedulable"] is True
    assert w["spec"]["taints"] == [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule",
                                    "timeAdded": "2026-12-04T10:01:00Z"}]
    ready = w["status"]["conditions"][3]
    assert (ready["status"], ready["reason"], ready["message"]) == ("Unknown", "NodeStatusUnknown",
                                                                   "Kubelet stopped posting node status.")
    assert C.field_value("nodes", n, "spec.unschedulable") == "true"
    assert C.field_value("nodes", n, "metadata.name") == "node01"


def test_node_updates() -> None:
    n = swarm_node(Labels={"old": "x"})
    w = C.to_wire("nodes", n)
    w["metadata"]["labels"]["env"] = "prod"
    w["metadata"]["annotations"] = {"note": "hi"}
    w["spec"]["unschedulable"] = True
    w["spec"]["taints"] = [{"key": "dedicated", "value": "db", "effect": "NoExecute"}]
    spec, annotations = C.apply_node_update(n, w)
    assert spec.Labels == {"env": "prod", "old": "x"} and annotations == {"note": "hi"}
    assert spec.Availability == "pause" and spec.Role == "worker"
    assert spec.Taints is not None and [(t.Key, t.Value, t.Effect) for t in spec.Taints] == [
        ("dedicated", "db", "NoExecute")]
    assert spec.Taints[0].TimeAdded  # a NoExecute taint is stamped
    # a cordoned node's own wire shows the computed taint; writing it back keeps it out of the core
    n.Spec = spec
    w2 = C.to_wire("nodes", n)
    assert {t["key"] for t in w2["spec"]["taints"]} == {"dedicated", "node.kubernetes.io/unschedulable"}
    spec2, _ = C.apply_node_update(n, w2)
    assert spec2.Taints == spec.Taints and spec2.Availability == "pause"
    # uncordon: unschedulable null makes a paused (or drained) node active
    del w2["spec"]["unschedulable"]
    assert C.apply_node_update(n, w2)[0].Availability == "active"
    drained = swarm_node(Availability="drain")
    assert C.apply_node_update(drained, C.to_wire("nodes", drained))[0].Availability == "drain"
    bad = C.to_wire("nodes", n)
    bad["spec"]["taints"] = [{"key": "k", "effect": "Sometimes"}]
    with pytest.raises(Invalid) as e:
        C.apply_node_update(n, bad)
    assert causes(e) == ['spec.taints[0].effect: Unsupported value: "Sometimes": supported values: "NoSchedule", '
                         '"PreferNoSchedule", "NoExecute"']
    core = C.to_core("nodes", w, namespace="")
    assert isinstance(core, Node) and core.Spec.Availability == "pause" and core.ID == "n1"


# ---------------------------------------------------------------- field selectors


def test_pod_field_values() -> None:
    t = running_task()
    assert C.field_value("pods", t, "metadata.name") == "p"
    assert C.field_value("pods", t, "metadata.namespace") == "default"
    assert C.field_value("pods", t, "spec.nodeName", node_name=lambda nid: "node01") == "node01"
    assert C.field_value("pods", t, "status.phase") == "Running"
    assert C.field_value("pods", t, "status.podIP") == "10.0.0.5"
    with pytest.raises(InvalidArgument, match=r"field label not supported: spec\.image"):
        C.field_value("pods", t, "spec.image")
    s = Secret(ID="s", Spec=SecretSpec(Name="x", Type="kubernetes.io/tls"))
    assert C.field_value("secrets", s, "type") == "kubernetes.io/tls"
    cm = Config(ID="c", Spec=ConfigSpec(Name="cfg"))
    assert C.field_value("configmaps", cm, "metadata.name") == "cfg"
    assert set(C.FIELDS) == set(C.RESOURCES)


# ---------------------------------------------------------------- more of the API server's rules


def test_name_rules() -> None:
    assert C.qualified_name("example.com/app") == []
    assert C.qualified_name("Example.com/app") == [f"prefix part {SUBDOMAIN}"]
    assert C.qualified_name("a/b/c")[0].startswith("a qualified name must consist of")
    assert C.qualified_name("example.com/") == [
        "name part must be non-empty",
        "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
        "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
        "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"]
    assert C.label_value("") == [] and C.label_value("x" * 64) == ["must be no more than 63 characters"]
    assert C.dns1123_label("a" * 64) == ["must be no more than 63 characters"]
    assert C.config_key(".") == ["must not be '.'"]


def test_more_pod_rules() -> None:
    spec = {"containers": [{
        "name": "a", "image": "x",
        "ports": [{"containerPort": 80, "name": "HTTP"}, {"containerPort": 81, "name": "web"},
                  {"containerPort": 82, "name": "web"}],
        "resources": {"limits": {"gpu": "1", "example.com/dongle": "2", "hugepages-2Mi": "4Mi"}},
        "livenessProbe": {"exec": {"command": ["true"]}, "successThreshold": 2},
        "readinessProbe": {"periodSeconds": 3},
        "env": [{"name": "X", "valueFrom": {}},
                {"name": "Y", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
    }], "hostname": "Bad_Host", "activeDeadlineSeconds": 0}
    assert invalid("pods", pod(spec, annotations={"bad key": "v"})) == [
        'metadata.annotations: Invalid value: "bad key": name part must consist of alphanumeric characters, \'-\', '
        "'_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
        "'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
        'spec.containers[0].ports[0].name: Invalid value: "HTTP": must contain only alpha-numeric characters (a-z, '
        "0-9), and hyphens (-)",
        'spec.containers[0].ports[0].name: Invalid value: "HTTP": must contain at least one letter (a-z)',
        'spec.containers[0].ports[2].name: Duplicate value: "web"',
        "spec.containers[0].env[0].valueFrom: Invalid value: \"\": must specify one of: `fieldRef`, "
        "`resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
        'spec.containers[0].resources.limits[gpu]: Invalid value: "gpu": must be a standard resource for containers',
        'spec.containers[0].resources.requests[gpu]: Invalid value: "gpu": must be a standard resource for '
        "containers",
        "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
        "spec.containers[0].readinessProbe: Required value: must specify a handler type",
        'spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive',
        f'spec.hostname: Invalid value: "Bad_Host": {LABEL}']


def test_probe_ports_and_grace_periods() -> None:
    spec = {"containers": [{
        "name": "a", "image": "x",
        "livenessProbe": {"httpGet": {"port": 0}, "terminationGracePeriodSeconds": 0},
        "readinessProbe": {"tcpSocket": {"port": "Web--1"}, "terminationGracePeriodSeconds": 5},
        "startupProbe": {"grpc": {"port": 70000}},
    }, {
        "name": "b", "image": "x",
        "livenessProbe": {"exec": {"command": []}},
        "readinessProbe": {"httpGet": {"port": 80, "scheme": "FTP"}},
    }]}
    assert invalid("pods", pod(spec)) == [
        "spec.containers[0].livenessProbe.terminationGracePeriodSeconds: Invalid value: 0: must be greater than 0",
        "spec.containers[0].livenessProbe.httpGet.port: Invalid value: 0: must be between 1 and 65535, inclusive",
        "spec.containers[0].readinessProbe.terminationGracePeriodSeconds: Invalid value: 5: must not be set for "
        "readinessProbes",
        'spec.containers[0].readinessProbe.tcpSocket.port: Invalid value: "Web--1": must contain only '
        "alpha-numeric characters (a-z, 0-9), and hyphens (-)",
        'spec.containers[0].readinessProbe.tcpSocket.port: Invalid value: "Web--1": must not contain consecutive '
        "hyphens",
        "spec.containers[0].startupProbe.grpc.port: Invalid value: 70000: must be between 1 and 65535, inclusive",
        "spec.containers[1].livenessProbe.exec.command: Required value",
        'spec.containers[1].readinessProbe.httpGet.scheme: Unsupported value: "FTP": supported values: "HTTP", '
        '"HTTPS"']


def test_init_container_named_like_an_app_container() -> None:
    assert invalid("pods", pod({"containers": [{"name": "a", "image": "x"}],
                                "initContainers": [{"name": "a", "image": "y"}]})) == [
        'spec.initContainers[0].name: Duplicate value: "a"']


def test_more_secret_types() -> None:
    assert invalid("secrets", {"metadata": {"name": "b"}, "type": "kubernetes.io/basic-auth"}) == [
        "data[username]: Required value", "data[password]: Required value"]
    assert invalid("secrets", {"metadata": {"name": "t"}, "type": "kubernetes.io/service-account-token"}) == [
        "metadata.annotations[kubernetes.io/service-account.name]: Required value"]
    assert invalid("secrets", {"metadata": {"name": "k"}, "type": "kubernetes.io/ssh-auth"}) == [
        "data[ssh-privatekey]: Required value"]
    custom = C.to_core("secrets", {"metadata": {"name": "c"}, "type": "example.com/mine"}, namespace="default")
    assert custom.Spec.Type == "example.com/mine" and custom.Spec.Items == {}


def test_event_namespace_must_match() -> None:
    assert invalid("events", {"metadata": {"name": "e", "namespace": "default"}, "reason": "R",
                              "involvedObject": {"kind": "Pod", "name": "p", "namespace": "other"}}) == [
        'involvedObject.namespace: Invalid value: "other": does not match event.namespace']


@pytest.mark.parametrize("resource", C.RESOURCES)
def test_every_kind_renders_the_same_bytes_twice(resource: str) -> None:
    objs: dict[str, Any] = {
        "pods": running_task(), "secrets": Secret(ID="s", Spec=SecretSpec(Name="s", Items={"b": b"2", "a": b"1"})),
        "configmaps": Config(ID="c", Spec=ConfigSpec(Name="c", Items={"b": "2", "a": "1"})),
        "namespaces": Namespace(ID="n", Name="dev", Labels={"z": "1", "a": "2"}),
        "serviceaccounts": ServiceAccount(ID="sa", Name="default", Namespace="default"),
        "events": Event(ID="e", Name="e", Namespace="default", Reason="R"), "nodes": swarm_node(),
        "deployments": Deployment(ID="d", Name="web", Namespace="default", Annotations={"b": "1", "a": "2"}),
        "replicasets": ReplicaSet(ID="r", Name="web-1", Namespace="default", Labels={"b": "1", "a": "2"}),
        "daemonsets": DaemonSet(ID="ds", Name="agent", Namespace="default", Labels={"b": "1", "a": "2"}),
        "controllerrevisions": ControllerRevision(ID="cr", Name="agent-1", Namespace="default", Revision=1,
                                                  Labels={"b": "1", "a": "2"}),
        "jobs": Job(ID="j", Name="pi", Namespace="default", Labels={"b": "1", "a": "2"}),
        "cronjobs": CronJob(ID="cj", Name="tick", Namespace="default", Annotations={"b": "1", "a": "2"})}
    objs.update({"services": KubeService(ID="sv", Name="web", Namespace="default", Labels={"b": "1", "a": "2"}),
                 "endpoints": Endpoints(ID="ep", Name="web", Namespace="default"),
                 "endpointslices": EndpointSlice(ID="es", Name="web-x", Namespace="default")})
    objs.update({"ingresses": Ingress(ID="ing", Name="web", Namespace="default", Labels={"b": "1", "a": "2"}),
                 "ingressclasses": IngressClass(ID="ic", Name="shoal", Annotations={"b": "1", "a": "2"})})
    one = json.dumps(C.to_wire(resource, objs[resource]))
    assert one == json.dumps(C.to_wire(resource, objs[resource]))
    assert json.loads(one)["kind"] == C.KIND_OF_RESOURCE[resource]
    if resource in ("secrets", "configmaps"):
        assert list(json.loads(one)["data"]) == ["a", "b"]


# ---------------------------------------------------------------- the official client reads what we write


def _paths(v: Any, at: str = "") -> set[str]:
    """Every key path of a JSON value (list items merged), None values left out."""
    out: set[str] = set()
    if isinstance(v, dict):
        for k, x in v.items():
            if x is not None:
                out |= {f"{at}.{k}"} | _paths(x, f"{at}.{k}")
    elif isinstance(v, list):
        for x in v:
            out |= _paths(x, f"{at}[]")
    return out


@pytest.mark.parametrize(("resource", "model"), [("pods", "V1Pod"), ("nodes", "V1Node"), ("secrets", "V1Secret"),
                                                 ("configmaps", "V1ConfigMap"), ("namespaces", "V1Namespace"),
                                                 ("serviceaccounts", "V1ServiceAccount"), ("events", "CoreV1Event")])
def test_the_kubernetes_client_knows_every_field(resource: str, model: str) -> None:
    client = pytest.importorskip("kubernetes.client")
    crash = running_task(Containers=[
        ContainerStatus(Name="a", ContainerID="c1", State="running", Ready=True, StartedAt=T1),
        ContainerStatus(Name="b", ContainerID="c3", State="waiting", RestartCount=2,
                        LastState=LastTermination(ExitCode=1, StartedAt=T1, FinishedAt=T2, ContainerID="c3"))])
    crash.Spec = C.to_core("pods", pod({
        "volumes": [{"name": "d", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
                    {"name": "p", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}},
                                                            {"configMap": {"name": "c"}}]}},
                    {"name": "w", "downwardAPI": {"items": [{"path": "l",
                                                             "fieldRef": {"fieldPath": "metadata.labels"}}]}}],
        "initContainers": [{"name": "i", "image": "x"}],
        "containers": [{"name": "a", "image": "nginx", "ports": [{"containerPort": 80, "name": "http"}],
                        "env": [{"name": "A", "value": "1"},
                                {"name": "C", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}],
                        "envFrom": [{"secretRef": {"name": "s"}}],
                        "volumeMounts": [{"name": "d", "mountPath": "/d"}],
                        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                        "livenessProbe": {"grpc": {"port": 9000}}, "startupProbe": {"exec": {"command": ["x"]}},
                        "securityContext": {"privileged": True}},
                       {"name": "b", "image": "redis", "tty": True}],
        "nodeSelector": {"a": "b"}, "tolerations": [{"key": "k", "operator": "Exists"}]}),
        namespace="default").Spec
    crash.Owner = ObjectRef(Kind="ReplicaSet", ID="rs", Name="rs")
    objs: dict[str, Any] = {
        "pods": crash,
        "nodes": swarm_node(Availability="pause", Taints=[Taint(Key="k", Effect="NoExecute", TimeAdded=T1)]),
        "secrets": C.to_core("secrets", {"metadata": {"name": "s", "labels": {"a": "b"}}, "immutable": True,
                                         "stringData": {"k": "v"}}, namespace="default"),
        "configmaps": C.to_core("configmaps", {"metadata": {"name": "c"}, "data": {"k": "v"},
                                               "binaryData": {"b": b64("x")}}, namespace="default"),
        "namespaces": C.to_core("namespaces", {"metadata": {"name": "n", "annotations": {"a": "b"}}}, namespace=""),
        "serviceaccounts": C.to_core("serviceaccounts", {"metadata": {"name": "s"}, "secrets": [{"name": "t"}],
                                                         "imagePullSecrets": [{"name": "r"}]}, namespace="default"),
        "events": Event(ID="e", Name="e", Namespace="default", Reason="R", Message="m", CreatedAt=T0,
                        InvolvedObject=InvolvedObject(Kind="Pod", Namespace="default", Name="p", ID="u",
                                                      APIVersion="v1", FieldPath="spec.containers{a}"),
                        Source=EventSource(Component="kubelet", Host="node01"), FirstTimestamp=T1, LastTimestamp=T2),
    }
    obj = objs[resource]
    obj.ID, obj.CreatedAt = obj.ID or "uid", obj.CreatedAt or T0
    wire = C.to_wire(resource, obj, node_name=lambda _: "node01", node_addr=lambda _: "192.168.1.10")
    api = client.ApiClient()
    typed = api._ApiClient__deserialize(copy.deepcopy(wire), model)  # the client's own reader, strict on required
    again = api.sanitize_for_serialization(typed)
    assert _paths(again) == _paths(wire)


def test_pod_resources_count_init_containers_as_the_scheduler_does() -> None:
    def res(cpu: str, mem: str) -> dict[str, Any]:
        return {"resources": {"requests": {"cpu": cpu, "memory": mem}}}

    t = C.to_core("pods", pod({"initContainers": [{"name": "i", "image": "x", **res("2", "64Mi")}],
                               "containers": [{"name": "a", "image": "x", **res("500m", "128Mi")},
                                              {"name": "b", "image": "x", **res("500m", "128Mi")}]}),
                  namespace="default")
    assert t.Spec.Resources is not None
    assert t.Spec.Resources.Reservations == Resources(NanoCPUs=2 * C.SECOND, MemoryBytes=256 << 20)
    assert t.Spec.Resources.Limits is None


def test_node_update_keeps_swarm_labels_kubernetes_would_refuse() -> None:
    n = swarm_node(Labels={"has space": "yes"})
    w = C.to_wire("nodes", n)
    w["spec"]["unschedulable"] = True
    spec, _ = C.apply_node_update(n, w)
    assert spec.Labels == {"has space": "yes"} and spec.Availability == "pause"
    w["metadata"]["labels"]["new key"] = "x"
    with pytest.raises(Invalid) as e:
        C.apply_node_update(n, w)
    assert [c.field for c in e.value.causes] == ["metadata.labels"]


def test_pod_updates() -> None:
    cur = stored(C.to_core("pods", pod({"containers": [{"name": "a", "image": "nginx:1.26"}],
                                        "tolerations": [{"key": "a", "operator": "Exists"}],
                                        "activeDeadlineSeconds": 100}), namespace="default"))
    wire = C.to_wire("pods", cur)
    ok = copy.deepcopy(wire)
    ok["metadata"]["labels"] = {"env": "prod"}
    ok["spec"]["containers"][0]["image"] = "nginx:1.27"
    ok["spec"]["activeDeadlineSeconds"] = 50
    ok["spec"]["tolerations"].append({"key": "k", "operator": "Exists", "effect": "NoSchedule"})
    C.validate_update("pods", cur, C.to_core("pods", ok, namespace="default"))
    bad = copy.deepcopy(wire)
    bad["spec"]["containers"][0]["ports"] = [{"containerPort": 80}]
    bad["spec"]["activeDeadlineSeconds"] = 200
    bad["spec"]["tolerations"] = []
    with pytest.raises(Invalid) as e:
        C.validate_update("pods", cur, C.to_core("pods", bad, namespace="default"))
    assert causes(e) == [
        "spec.activeDeadlineSeconds: Invalid value: 200: must be less than or equal to previous value",
        "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds",
        "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
        "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
        "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"]


def test_immutable_secret_and_config_map_updates() -> None:
    cur = C.to_core("secrets", {"metadata": {"name": "s"}, "immutable": True, "stringData": {"k": "v"}},
                    namespace="default")
    same = C.to_core("secrets", C.to_wire("secrets", cur), namespace="default")
    C.validate_update("secrets", cur, same)
    changed = C.to_core("secrets", {"metadata": {"name": "s"}, "stringData": {"k": "w"}, "type": "example.com/x"},
                        namespace="default")
    with pytest.raises(Invalid) as e:
        C.validate_update("secrets", cur, changed)
    assert causes(e) == ['type: Invalid value: "example.com/x": field is immutable',
                         "immutable: Forbidden: field is immutable when `immutable` is set",
                         "data: Forbidden: field is immutable when `immutable` is set"]
    cm = C.to_core("configmaps", {"metadata": {"name": "c"}, "immutable": True, "data": {"k": "v"}},
                   namespace="default")
    with pytest.raises(Invalid) as e:
        C.validate_update("configmaps", cm, C.to_core("configmaps", {"metadata": {"name": "c"}, "immutable": True,
                                                                    "data": {"k": "w"}}, namespace="default"))
    assert causes(e) == ["data: Forbidden: field is immutable when `immutable` is set"]
    C.validate_update("configmaps", C.to_core("configmaps", {"metadata": {"name": "c"}}, namespace="default"),
                      cm)  # a mutable one may change, and become immutable


KUBECTL = Path("/usr/lib/google-cloud-sdk/bin/kubectl.1.33")


@pytest.mark.skipif(not KUBECTL.exists(), reason="no kubectl 1.33 here")
@pytest.mark.parametrize("args", [
    ["create", "secret", "docker-registry", "reg", "--docker-server=r.example", "--docker-username=u",
     "--docker-password=p"],
    ["create", "secret", "generic", "g", "--from-literal=a=b", "--type=example.com/x"],
    ["create", "configmap", "c", "--from-literal=k=v"],
    ["create", "namespace", "dev"],
    ["create", "serviceaccount", "sa"],
])
def test_what_kubectl_writes_converts(args: list[str], tmp_path: Path) -> None:
    out = subprocess.run([str(KUBECTL), *args, "--dry-run=client", "-o", "json", "--cache-dir", str(tmp_path)],
                         check=True, capture_output=True, text=True, timeout=30,
                         env={**os.environ, "KUBECONFIG": os.devnull}).stdout
    obj = json.loads(out)
    resource = {"Secret": "secrets", "ConfigMap": "configmaps", "Namespace": "namespaces",
                "ServiceAccount": "serviceaccounts"}[obj["kind"]]
    core = C.to_core(resource, obj, namespace="" if resource == "namespaces" else "default")
    core.ID = "u"
    wire = C.to_wire(resource, core)
    assert wire["metadata"]["name"] == obj["metadata"]["name"]
    for key in ("data", "type"):
        assert wire.get(key) == obj.get(key)


def test_a_template_gets_no_default_tolerations_a_pod_does() -> None:
    # The DefaultTolerationSeconds admission plugin acts on Pods only: a Deployment's template keeps
    # what was written (its Pods get the two when their controller makes them, KubeObjects).
    spec = {"containers": [{"name": "web", "image": "nginx"}]}
    d = C.to_core("deployments", {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                                  "spec": {"selector": {"matchLabels": {"app": "web"}},
                                           "template": {"metadata": {"labels": {"app": "web"}}, "spec": spec}}},
                  namespace="default")
    assert "tolerations" not in C.to_wire("deployments", d)["spec"]["template"]["spec"]
    pod = C.to_core("pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec},
                    namespace="default")
    assert [(t["key"], t["tolerationSeconds"]) for t in C.to_wire("pods", pod)["spec"]["tolerations"]] == [
        ("node.kubernetes.io/not-ready", 300), ("node.kubernetes.io/unreachable", 300)]


def test_a_pods_own_hostname_is_kept_even_when_it_is_its_name() -> None:
    """``spec.hostname`` given (as a StatefulSet's Pods have it, equal to their names) reads back, and
    the core knows it was given (a headless Service's per-Pod DNS name needs it)."""
    given = {"hostname": "web-0", "subdomain": "web", "containers": [{"name": "a", "image": "nginx"}]}
    t = stored(C.to_core("pods", pod(given, name="web-0"), namespace="default"))
    assert t.Spec.Hostname == "web-0" and t.Spec.Pod is not None and t.Spec.Pod.Hostname == "web-0"
    spec = C.to_wire("pods", t)["spec"]
    assert (spec["hostname"], spec["subdomain"]) == ("web-0", "web")
    plain = stored(C.to_core("pods", pod(name="web-1"), namespace="default"))
    assert plain.Spec.Hostname == "web-1" and plain.Spec.Pod is not None and plain.Spec.Pod.Hostname == ""
    assert "hostname" not in C.to_wire("pods", plain)["spec"]


def test_dns_config_is_validated_as_the_api_server_does() -> None:
    def spec(**kw: Any) -> dict[str, Any]:
        return {"containers": [{"name": "a", "image": "nginx"}], **kw}

    assert invalid("pods", pod(spec(dnsPolicy="None"))) == [
        "spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None"]
    assert invalid("pods", pod(spec(dnsPolicy="None", dnsConfig={"searches": ["a.test"]}))) == [
        "spec.dnsConfig.nameservers: Required value: must provide at least one DNS nameserver when `dnsPolicy` is None"]
    bad = {"nameservers": ["192.0.2.1", "192.0.2.2", "192.0.2.3", "nope"], "searches": ["Bad_Domain", "ok.test."],
           "options": [{"value": "1"}]}
    assert invalid("pods", pod(spec(dnsConfig=bad))) == [
        'spec.dnsConfig.nameservers: Invalid value: ["192.0.2.1","192.0.2.2","192.0.2.3","nope"]: '
        "must not have more than 3 nameservers",
        'spec.dnsConfig.nameservers[3]: Invalid value: "nope": ' + C._IP_MSG,
        'spec.dnsConfig.searches[0]: Invalid value: "Bad_Domain": ' + C._SUBDOMAIN_MSG,
        "spec.dnsConfig.options[0]: Required value: must not be empty"]
    t = C.to_core("pods", pod(spec(dnsPolicy="None", dnsConfig={"nameservers": ["192.0.2.1"],
                                                                "options": [{"name": "ndots", "value": "2"}]})),
                  namespace="default")
    assert t.Spec.DNSConfig == {"Nameservers": ["192.0.2.1"], "Search": [], "Options": ["ndots:2"]}
