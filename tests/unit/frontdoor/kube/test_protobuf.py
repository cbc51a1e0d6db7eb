"""Decoding Kubernetes protobuf bodies: the envelope and its errors, the JSON mapping rules, bodies built
with the generated classes, bytes kubectl 1.33 really sent, and encode/decode round trips of every kind."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from shoal.frontdoor.kube.protobuf import MAGIC, PROTOBUF, ProtobufError, decode, encode, kinds, message_class

# ---------------------------------------------------------------------------------------------------
# A runtime.Unknown envelope written by hand (wire format), independent of the module's own classes.


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _ld(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def body(api_version: str, kind: str, raw: bytes, content_encoding: str = "", content_type: str = "") -> bytes:
    type_meta = _ld(1, api_version.encode()) + _ld(2, kind.encode())
    envelope = _ld(1, type_meta) + _ld(2, raw)
    if content_encoding:
        envelope += _ld(3, content_encoding.encode())
    if content_type:
        envelope += _ld(4, content_type.encode())
    return MAGIC + envelope


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ---------------------------------------------------------------------------------------------------
# Envelope


def test_media_type() -> None:
    assert PROTOBUF == "application/vnd.kubernetes.protobuf"


def test_bad_magic_is_refused_in_kube_apiserver_words() -> None:
    with pytest.raises(ProtobufError) as err:
        decode(b'{"kind":"Secret"}')
    assert str(err.value) == "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
    assert isinstance(err.value, ValueError)


def test_empty_body() -> None:
    with pytest.raises(ProtobufError, match="empty data"):
        decode(b"")


def test_undecodable_envelope() -> None:
    with pytest.raises(ProtobufError, match="envelope"):
        decode(MAGIC + b"\x0a\xff\xff\xff")


def test_undecodable_raw() -> None:
    with pytest.raises(ProtobufError, match=r"Secret \(v1\)"):
        decode(body("v1", "Secret", b"\x0a\x05ab"))


def test_unknown_kind_and_version() -> None:
    with pytest.raises(ProtobufError) as err:
        decode(body("v1", "Frobnicator", b""))
    assert str(err.value) == 'no kind "Frobnicator" is registered for version "v1"'
    with pytest.raises(ProtobufError, match='no kind "Deployment" is registered for version "apps/v2"'):
        decode(body("apps/v2", "Deployment", b""))
    with pytest.raises(ProtobufError, match='no kind "Deployment" is registered for version "v1"'):
        decode(body("v1", "Deployment", b""))


def test_missing_kind() -> None:
    with pytest.raises(ProtobufError, match="Kind"):
        decode(body("v1", "", b""))


def test_content_encoding_is_refused() -> None:
    with pytest.raises(ProtobufError, match="gzip"):
        decode(body("v1", "Secret", b"", content_encoding="gzip"))


def test_json_inside_the_envelope() -> None:
    raw = json.dumps({"metadata": {"name": "x"}}).encode()
    assert decode(body("v1", "ConfigMap", raw, content_type="application/json")) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x"},
    }
    with pytest.raises(ProtobufError, match="content type"):
        decode(body("v1", "ConfigMap", raw, content_type="application/yaml"))


def test_unknown_fields_are_skipped() -> None:
    """A newer client's field shoal does not know is dropped, as kube-apiserver's unmarshallers drop it."""
    metadata = _ld(1, b"x") + _ld(999, b"future")
    assert decode(body("v1", "ConfigMap", _ld(1, metadata))) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x"},
    }


def test_empty_object() -> None:
    assert decode(body("v1", "Namespace", b"")) == {"apiVersion": "v1", "kind": "Namespace"}


# ---------------------------------------------------------------------------------------------------
# Bodies kubectl 1.33 sent (captured by test_protobuf_kubectl's server)

KUBECTL_NAMESPACE = bytes.fromhex(
    "6b3873000a0f0a02763112094e616d657370616365121e0a160a067465616d2d6112001a0022002a0032003800420012001a020a001a00"
    "2200"
)
KUBECTL_SERVICE = bytes.fromhex(
    "6b3873000a0d0a02763112075365727669636512650a1d0a026e7012001a0022002a003200380042005a090a0361707012026e7012400a"
    "1b0a0738302d38303830120354435018502207080010903f1a00280012090a0361707012026e701a0022084e6f6465506f72743a004200"
    "52005a00600068001a020a001a002200"
)
EMPTY_META = {
    "generateName": "",
    "namespace": "",
    "selfLink": "",
    "uid": "",
    "resourceVersion": "",
    "generation": 0,
    "creationTimestamp": None,
}


def test_kubectl_namespace() -> None:
    assert decode(KUBECTL_NAMESPACE) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "team-a", **EMPTY_META},
        "spec": {},
        "status": {"phase": ""},
    }


def test_kubectl_nodeport_service() -> None:
    assert decode(KUBECTL_SERVICE) == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "np", **EMPTY_META, "labels": {"app": "np"}},
        "spec": {
            "ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080, "nodePort": 0}],
            "selector": {"app": "np"},
            "clusterIP": "",
            "type": "NodePort",
            "sessionAffinity": "",
            "loadBalancerIP": "",
            "externalName": "",
            "externalTrafficPolicy": "",
            "healthCheckNodePort": 0,
            "publishNotReadyAddresses": False,
        },
        "status": {"loadBalancer": {}},
    }


# ---------------------------------------------------------------------------------------------------
# Bodies built with the generated classes


def wrap(msg: Any, api_version: str, kind: str) -> bytes:
    return body(api_version, kind, msg.SerializeToString())


def test_secret_bytes_times_and_managed_fields() -> None:
    secret: Any = message_class("v1", "Secret")()
    secret.metadata.name = "db"
    secret.metadata.namespace = "team-a"
    secret.metadata.creationTimestamp.seconds = 1704164645  # 2024-01-02T03:04:05Z
    secret.metadata.creationTimestamp.nanos = 999  # Kubernetes' Time keeps whole seconds
    secret.metadata.deletionTimestamp.SetInParent()  # Go's zero time: an empty message
    secret.metadata.labels["app"] = "web"
    secret.metadata.finalizers.append("example.com/keep")
    entry = secret.metadata.managedFields.add()
    entry.manager = "kubectl-create"
    entry.operation = "Update"
    entry.time.seconds = 0
    entry.fieldsType = "FieldsV1"
    entry.fieldsV1.Raw = b'{"f:data":{".":{},"f:password":{}}}'
    secret.data["password"] = b"s3cr3t"
    secret.data["bin"] = b"\x00\xff"
    secret.type = "Opaque"
    secret.immutable = False
    assert decode(wrap(secret, "v1", "Secret")) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "db",
            "namespace": "team-a",
            "creationTimestamp": "2024-01-02T03:04:05Z",
            "deletionTimestamp": None,
            "labels": {"app": "web"},
            "finalizers": ["example.com/keep"],
            "managedFields": [
                {
                    "manager": "kubectl-create",
                    "operation": "Update",
                    "time": "1970-01-01T00:00:00Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:data": {".": {}, "f:password": {}}},
                }
            ],
        },
        "immutable": False,
        "data": {"password": b64(b"s3cr3t"), "bin": b64(b"\x00\xff")},
        "type": "Opaque",
    }


def test_event_micro_time() -> None:
    event: Any = message_class("v1", "Event")()
    event.metadata.name = "web.1"
    event.involvedObject.kind = "Pod"
    event.involvedObject.name = "web"
    event.reason = "Scheduled"
    event.firstTimestamp.seconds = 1704164645
    event.eventTime.seconds = 1704164645
    event.eventTime.nanos = 123456789
    event.count = 2
    event.series.count = 3
    event.series.lastObservedTime.seconds = 1704164646
    obj = decode(wrap(event, "v1", "Event"))
    assert obj["firstTimestamp"] == "2024-01-02T03:04:05Z"
    assert obj["eventTime"] == "2024-01-02T03:04:05.123456Z"
    assert obj["series"] == {"count": 3, "lastObservedTime": "2024-01-02T03:04:06.000000Z"}
    assert obj["involvedObject"] == {"kind": "Pod", "name": "web"}
    assert obj["count"] == 2


def test_pod_full_spec() -> None:
    pod: Any = message_class("v1", "Pod")()
    pod.metadata.name = "web"
    owner = pod.metadata.ownerReferences.add()
    owner.apiVersion, owner.kind, owner.name, owner.uid = "apps/v1", "ReplicaSet", "web-abc", "u-1"
    owner.controller = True
    owner.blockOwnerDeletion = True
    spec = pod.spec

    init = spec.initContainers.add()
    init.name, init.image = "init", "busybox"
    init.command.extend(["sh", "-c"])
    init.args.append("echo hi")

    c = spec.containers.add()
    c.name, c.image, c.imagePullPolicy, c.workingDir = "app", "nginx:1.25", "IfNotPresent", "/srv"
    port = c.ports.add()
    port.name, port.containerPort, port.protocol = "http", 80, "TCP"
    env = c.env.add()
    env.name, env.value = "MODE", "fast"
    env = c.env.add()
    env.name = "POD_IP"
    env.valueFrom.fieldRef.apiVersion = "v1"
    env.valueFrom.fieldRef.fieldPath = "status.podIP"
    env = c.env.add()
    env.name = "PASSWORD"
    env.valueFrom.secretKeyRef.localObjectReference.name = "db"  # a Go embedded struct
    env.valueFrom.secretKeyRef.key = "password"
    env.valueFrom.secretKeyRef.optional = False
    env = c.env.add()
    env.name = "LEVEL"
    env.valueFrom.configMapKeyRef.localObjectReference.name = "app"
    env.valueFrom.configMapKeyRef.key = "level"
    env = c.env.add()
    env.name = "MEM"
    env.valueFrom.resourceFieldRef.containerName = "app"
    env.valueFrom.resourceFieldRef.resource = "limits.memory"
    env.valueFrom.resourceFieldRef.divisor.string = "1Mi"
    env_from = c.envFrom.add()
    env_from.prefix = "CFG_"
    env_from.configMapRef.localObjectReference.name = "app"
    c.envFrom.add().secretRef.localObjectReference.name = "db"
    c.resources.limits["memory"].string = "64Mi"
    c.resources.limits["cpu"].string = "500m"
    c.resources.requests["cpu"].string = "100m"
    mount = c.volumeMounts.add()
    mount.name, mount.mountPath, mount.readOnly = "cfg", "/etc/app", True
    c.livenessProbe.handler.httpGet.path = "/healthz"
    c.livenessProbe.handler.httpGet.port.type = 1
    c.livenessProbe.handler.httpGet.port.strVal = "http"
    header = c.livenessProbe.handler.httpGet.httpHeaders.add()
    header.name, header.value = "X-Probe", "1"
    c.livenessProbe.periodSeconds = 5
    c.livenessProbe.failureThreshold = 3
    c.readinessProbe.handler.tcpSocket.port.intVal = 80
    c.startupProbe.handler.grpc.port = 9090
    c.startupProbe.handler.grpc.service = "health"
    c.lifecycle.preStop.exec.command.extend(["nginx", "-s", "quit"])
    c.lifecycle.postStart.sleep.seconds = 1
    c.securityContext.runAsUser = 1000
    c.securityContext.readOnlyRootFilesystem = True
    c.securityContext.capabilities.add.append("NET_ADMIN")
    c.securityContext.capabilities.drop.append("ALL")
    c.securityContext.privileged = False

    side = spec.containers.add()
    side.name, side.image = "probe", "busybox"
    side.livenessProbe.handler.exec.command.extend(["cat", "/tmp/ok"])

    v = spec.volumes.add()
    v.name = "scratch"
    v.volumeSource.emptyDir.medium = "Memory"
    v.volumeSource.emptyDir.sizeLimit.string = "1Gi"
    v = spec.volumes.add()
    v.name = "host"
    v.volumeSource.hostPath.path = "/var/log"
    v.volumeSource.hostPath.type = "Directory"
    v = spec.volumes.add()
    v.name = "secret"
    v.volumeSource.secret.secretName = "db"
    v.volumeSource.secret.defaultMode = 0o400
    item = v.volumeSource.secret.items.add()
    item.key, item.path, item.mode = "password", "pw", 0o600
    v = spec.volumes.add()
    v.name = "cfg"
    v.volumeSource.configMap.localObjectReference.name = "app"
    v.volumeSource.configMap.optional = True
    v = spec.volumes.add()
    v.name = "proj"
    source = v.volumeSource.projected.sources.add()
    source.serviceAccountToken.path = "token"
    source.serviceAccountToken.expirationSeconds = 3607
    source = v.volumeSource.projected.sources.add()
    source.configMap.localObjectReference.name = "kube-root-ca.crt"
    ca = source.configMap.items.add()
    ca.key, ca.path = "ca.crt", "ca.crt"
    source = v.volumeSource.projected.sources.add()
    ns_file = source.downwardAPI.items.add()
    ns_file.path = "namespace"
    ns_file.fieldRef.apiVersion, ns_file.fieldRef.fieldPath = "v1", "metadata.namespace"
    v = spec.volumes.add()
    v.name = "podinfo"
    labels_file = v.volumeSource.downwardAPI.items.add()
    labels_file.path = "labels"
    labels_file.fieldRef.fieldPath = "metadata.labels"

    spec.restartPolicy = "OnFailure"
    spec.terminationGracePeriodSeconds = 30
    spec.dnsPolicy = "ClusterFirst"
    spec.nodeSelector["disktype"] = "ssd"
    spec.serviceAccountName = "default"
    spec.nodeName = "node01"
    spec.hostNetwork = False
    spec.securityContext.runAsNonRoot = True
    spec.securityContext.fsGroup = 2000
    spec.imagePullSecrets.add().name = "regcred"
    spec.hostname = "web-0"
    spec.subdomain = "web"
    tol = spec.tolerations.add()
    tol.key, tol.operator, tol.effect = "node.kubernetes.io/not-ready", "Exists", "NoExecute"
    tol.tolerationSeconds = 300
    term = spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms.add()
    expr = term.matchExpressions.add()
    expr.key, expr.operator = "kubernetes.io/hostname", "In"
    expr.values.append("node01")
    preferred = spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution.add()
    preferred.weight = 10
    preferred.preference.matchFields.add().key = "metadata.name"

    pod.status.phase = ""

    assert decode(wrap(pod, "v1", "Pod")) == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web",
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "web-abc",
                    "uid": "u-1",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "volumes": [
                {"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
                {"name": "host", "hostPath": {"path": "/var/log", "type": "Directory"}},
                {
                    "name": "secret",
                    "secret": {"secretName": "db", "items": [{"key": "password", "path": "pw", "mode": 384}],
                               "defaultMode": 256},
                },
                {"name": "cfg", "configMap": {"name": "app", "optional": True}},
                {
                    "name": "proj",
                    "projected": {
                        "sources": [
                            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                            {
                                "downwardAPI": {
                                    "items": [
                                        {"path": "namespace",
                                         "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}
                                    ]
                                }
                            },
                        ]
                    },
                },
                {"name": "podinfo", "downwardAPI": {"items": [{"path": "labels",
                                                               "fieldRef": {"fieldPath": "metadata.labels"}}]}},
            ],
            "initContainers": [{"name": "init", "image": "busybox", "command": ["sh", "-c"], "args": ["echo hi"]}],
            "containers": [
                {
                    "name": "app",
                    "image": "nginx:1.25",
                    "workingDir": "/srv",
                    "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
                    "envFrom": [{"prefix": "CFG_", "configMapRef": {"name": "app"}}, {"secretRef": {"name": "db"}}],
                    "env": [
                        {"name": "MODE", "value": "fast"},
                        {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1",
                                                                      "fieldPath": "status.podIP"}}},
                        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password",
                                                                            "optional": False}}},
                        {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "level"}}},
                        {
                            "name": "MEM",
                            "valueFrom": {
                                "resourceFieldRef": {"containerName": "app", "resource": "limits.memory",
                                                     "divisor": "1Mi"}
                            },
                        },
                    ],
                    "resources": {"limits": {"memory": "64Mi", "cpu": "500m"}, "requests": {"cpu": "100m"}},
                    "volumeMounts": [{"name": "cfg", "readOnly": True, "mountPath": "/etc/app"}],
                    "livenessProbe": {
                        "httpGet": {"path": "/healthz", "port": "http",
                                    "httpHeaders": [{"name": "X-Probe", "value": "1"}]},
                        "periodSeconds": 5,
                        "failureThreshold": 3,
                    },
                    "readinessProbe": {"tcpSocket": {"port": 80}},
                    "startupProbe": {"grpc": {"port": 9090, "service": "health"}},
                    "lifecycle": {
                        "postStart": {"sleep": {"seconds": 1}},
                        "preStop": {"exec": {"command": ["nginx", "-s", "quit"]}},
                    },
                    "imagePullPolicy": "IfNotPresent",
                    "securityContext": {
                        "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
                        "privileged": False,
                        "runAsUser": 1000,
                        "readOnlyRootFilesystem": True,
                    },
                },
                {"name": "probe", "image": "busybox", "livenessProbe": {"exec": {"command": ["cat", "/tmp/ok"]}}},
            ],
            "restartPolicy": "OnFailure",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "nodeSelector": {"disktype": "ssd"},
            "serviceAccountName": "default",
            "nodeName": "node01",
            "hostNetwork": False,
            "securityContext": {"runAsNonRoot": True, "fsGroup": 2000},
            "imagePullSecrets": [{"name": "regcred"}],
            "hostname": "web-0",
            "subdomain": "web",
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In",
                                                   "values": ["node01"]}]}
                        ]
                    },
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": 10, "preference": {"matchFields": [{"key": "metadata.name"}]}}
                    ],
                }
            },
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                 "tolerationSeconds": 300}
            ],
        },
        "status": {"phase": ""},
    }


def test_delete_options_presence() -> None:
    """Only what the client set: a pointer it left nil is absent, one it set to false is present."""
    options: Any = message_class("v1", "DeleteOptions")()
    options.gracePeriodSeconds = 0
    options.preconditions.uid = "u-1"
    options.orphanDependents = False
    options.propagationPolicy = "Foreground"
    options.dryRun.append("All")
    for api_version in ("v1", "apps/v1", "meta.k8s.io/v1"):
        assert decode(wrap(options, api_version, "DeleteOptions")) == {
            "apiVersion": api_version,
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": "u-1"},
            "orphanDependents": False,
            "propagationPolicy": "Foreground",
            "dryRun": ["All"],
        }
    assert decode(body("v1", "DeleteOptions", b"")) == {"apiVersion": "v1", "kind": "DeleteOptions"}


def test_deployment_strategy_int_or_string() -> None:
    deployment: Any = message_class("apps/v1", "Deployment")()
    deployment.metadata.name = "web"
    deployment.spec.replicas = 3
    deployment.spec.selector.matchLabels["app"] = "web"
    requirement = deployment.spec.selector.matchExpressions.add()
    requirement.key, requirement.operator = "tier", "NotIn"
    requirement.values.append("db")
    deployment.spec.strategy.type = "RollingUpdate"
    deployment.spec.strategy.rollingUpdate.maxSurge.type = 1
    deployment.spec.strategy.rollingUpdate.maxSurge.strVal = "25%"
    deployment.spec.strategy.rollingUpdate.maxUnavailable.type = 0
    deployment.spec.strategy.rollingUpdate.maxUnavailable.intVal = 0
    deployment.spec.template.metadata.labels["app"] = "web"
    deployment.spec.template.spec.containers.add(name="nginx", image="nginx")
    deployment.spec.revisionHistoryLimit = 10
    obj = decode(wrap(deployment, "apps/v1", "Deployment"))
    assert obj["spec"] == {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"},
                     "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}},
        "revisionHistoryLimit": 10,
    }


def test_access_reviews() -> None:
    review: Any = message_class("authorization.k8s.io/v1", "SelfSubjectAccessReview")()
    attrs = review.spec.resourceAttributes
    attrs.namespace, attrs.verb, attrs.group, attrs.resource = "team-a", "create", "", "pods"
    assert decode(wrap(review, "authorization.k8s.io/v1", "SelfSubjectAccessReview")) == {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"namespace": "team-a", "verb": "create", "group": "", "resource": "pods"}},
    }
    sar: Any = message_class("authorization.k8s.io/v1", "SubjectAccessReview")()
    sar.spec.user = "alice"
    sar.spec.extra["scopes"].items.extend(["a", "b"])
    sar.spec.nonResourceAttributes.path = "/healthz"
    sar.spec.nonResourceAttributes.verb = "get"
    assert decode(wrap(sar, "authorization.k8s.io/v1", "SubjectAccessReview"))["spec"] == {
        "nonResourceAttributes": {"path": "/healthz", "verb": "get"},
        "user": "alice",
        "extra": {"scopes": ["a", "b"]},
    }


def test_raw_extension_holding_protobuf() -> None:
    """A RawExtension may carry a nested protobuf object (magic included): it is decoded too."""
    revision: Any = message_class("apps/v1", "ControllerRevision")()
    revision.metadata.name = "ds-1"
    revision.revision = 1
    revision.data.raw = body("v1", "ConfigMap", _ld(1, _ld(1, b"inner")))
    assert decode(wrap(revision, "apps/v1", "ControllerRevision"))["data"] == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "inner"},
    }
    revision.data.raw = b"not json"
    with pytest.raises(ProtobufError, match="not JSON"):
        decode(wrap(revision, "apps/v1", "ControllerRevision"))


# ---------------------------------------------------------------------------------------------------
# encode: JSON -> protobuf, round trips

ROUND_TRIPS: list[dict[str, Any]] = [
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "default", "annotations": {"a": "b"}},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": "web"},
            "clusterIP": "10.96.0.10",
            "clusterIPs": ["10.96.0.10"],
            "ipFamilies": ["IPv4"],
            "ports": [
                {"name": "http", "protocol": "TCP", "port": 80, "targetPort": "http", "nodePort": 30080},
                {"name": "dns", "protocol": "UDP", "port": 53, "targetPort": 5353},
            ],
            "externalTrafficPolicy": "Local",
            "sessionAffinity": "ClientIP",
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
        },
        "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}},
    },
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
     "spec": {"type": "ExternalName", "externalName": "db.example.com"}},
    {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "node01", "labels": {"kubernetes.io/hostname": "node01"}},
        "spec": {
            "unschedulable": True,
            "podCIDR": "10.244.1.0/24",
            "taints": [
                {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule",
                 "timeAdded": "2024-01-02T03:04:05Z"}
            ],
        },
        "status": {
            "capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"},
            "allocatable": {"cpu": "2", "memory": "3900Mi"},
            "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "2024-01-02T03:04:05Z",
                            "reason": "KubeletReady"}],
            "addresses": [{"type": "InternalIP", "address": "10.213.0.2"}],
            "nodeInfo": {"kubeletVersion": "v1.33.1", "osImage": "Debian", "architecture": "amd64"},
        },
    },
    {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "web.17", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default", "uid": "u-1"},
        "reason": "Scheduled",
        "message": "Successfully assigned default/web to node01",
        "source": {"component": "default-scheduler"},
        "firstTimestamp": "2024-01-02T03:04:05Z",
        "lastTimestamp": "2024-01-02T03:04:05Z",
        "eventTime": "2024-01-02T03:04:05.250000Z",
        "count": 1,
        "type": "Normal",
        "reportingComponent": "default-scheduler",
    },
    {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "default", "namespace": "team-a"},
        "secrets": [{"name": "default-token"}],
        "imagePullSecrets": [{"name": "regcred"}],
        "automountServiceAccountToken": False,
    },
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app"}, "data": {"mode": "fast"},
     "binaryData": {"blob": b64(b"\x00\x01")}, "immutable": True},
    {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": "web-5d4b8", "generation": 2,
                     "annotations": {"deployment.kubernetes.io/revision": "1"}},
        "spec": {
            "replicas": 3,
            "minReadySeconds": 5,
            "selector": {"matchLabels": {"app": "web", "pod-template-hash": "5d4b8"}},
            "template": {"metadata": {"labels": {"app": "web", "pod-template-hash": "5d4b8"}},
                         "spec": {"containers": [{"name": "web", "image": "nginx"}]}},
        },
        "status": {"replicas": 3, "readyReplicas": 2, "observedGeneration": 2},
    },
    {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {"metadata": {"labels": {"app": "agent"}},
                         "spec": {"containers": [{"name": "a", "image": "busybox"}], "hostNetwork": True}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
            "revisionHistoryLimit": 10,
        },
    },
    {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "pi"},
        "spec": {
            "completions": 3,
            "parallelism": 2,
            "backoffLimit": 4,
            "activeDeadlineSeconds": 100,
            "ttlSecondsAfterFinished": 60,
            "template": {"spec": {"restartPolicy": "Never",
                                  "containers": [{"name": "pi", "image": "perl", "command": ["perl", "-e", "1"]}]}},
        },
        "status": {"startTime": "2024-01-02T03:04:05Z", "succeeded": 1},
    },
    {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": "web", "namespace": "default"},
        "deleteOptions": {"gracePeriodSeconds": 5, "dryRun": ["All"]},
    },
    {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {"name": "web", "namespace": "default", "resourceVersion": "42"},
        "spec": {"replicas": 5},
        "status": {"replicas": 3, "selector": "app=web"},
    },
    {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": "web-",
            "uid": "u-2",
            "resourceVersion": "7",
            "deletionGracePeriodSeconds": 30,
            "deletionTimestamp": "2024-01-02T03:04:35Z",
            "managedFields": [{"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1",
                               "fieldsV1": {"f:spec": {}}}],
        },
        "spec": {"containers": [{"name": "c", "image": "i", "resources": {"limits": {"nvidia.com/gpu": "1"}}}]},
        "status": {
            "phase": "Running",
            "podIP": "10.244.1.5",
            "podIPs": [{"ip": "10.244.1.5"}],
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [
                {"name": "c", "ready": True, "restartCount": 2, "image": "i", "imageID": "", "started": True,
                 "state": {"running": {"startedAt": "2024-01-02T03:04:05Z"}},
                 "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}
            ],
            "qosClass": "Burstable",
        },
    },
]


ROUND_TRIPS += [
    {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "ing"},
        "spec": {
            "ingressClassName": "nginx",
            "rules": [  # IngressRule embeds IngressRuleValue: `http` sits beside `host`
                {"host": "foo.com", "http": {"paths": [{"path": "/bar", "pathType": "Prefix",
                                                        "backend": {"service": {"name": "svc1",
                                                                                "port": {"number": 8080}}}}]}}
            ],
        },
    },
    {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "node01", "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": "node01", "leaseDurationSeconds": 40,
                 "renewTime": "2024-01-02T03:04:05.000001Z"},
    },
    {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"generateName": "web-", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.244.1.5"], "conditions": {"ready": True, "serving": True,
                                                                   "terminating": False},
                       "nodeName": "node01", "targetRef": {"kind": "Pod", "name": "web-1"}}],
        "ports": [{"name": "http", "protocol": "TCP", "port": 80}],
    },
]


@pytest.mark.parametrize("obj", ROUND_TRIPS, ids=lambda o: f"{o['apiVersion']}/{o['kind']}")
def test_round_trip(obj: dict[str, Any]) -> None:
    assert decode(encode(obj)) == obj


def test_encode_refuses_what_does_not_fit() -> None:
    with pytest.raises(ProtobufError, match='unknown field "colour"'):
        encode({"apiVersion": "v1", "kind": "ConfigMap", "colour": "red"})
    with pytest.raises(ProtobufError, match=r"Pod\.spec\.containers\[0\]\.name"):
        encode({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": 5}]}})
    with pytest.raises(ProtobufError, match="Kind"):
        encode({"apiVersion": "v1"})
    with pytest.raises(ProtobufError, match="base64"):
        encode({"apiVersion": "v1", "kind": "Secret", "data": {"k": "not base64!"}})


@pytest.mark.parametrize(("api_version", "kind"), kinds())
def test_every_kind_has_a_message(api_version: str, kind: str) -> None:
    """Each listed kind resolves; an object with just a name goes through encode and decode."""
    assert message_class(api_version, kind).DESCRIPTOR.name == kind
    obj = {"apiVersion": api_version, "kind": kind}
    metadata = message_class(api_version, kind).DESCRIPTOR.fields_by_name.get("metadata")
    if metadata is not None and metadata.message_type.name == "ObjectMeta":
        obj["metadata"] = {"name": "x"}
    assert decode(encode(obj)) == obj
