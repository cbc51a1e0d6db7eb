"""The protobuf bodies the machine's real kubectl sends, decoded by `shoal.frontdoor.kube.protobuf`.

A tiny plain-http aiohttp server on 127.0.0.1 answers `/version` (minor 32: the dispatcher runs its own
v1.32.4; minor 33: it runs kubectl 1.33) and each POST with 201 and the JSON of what it decoded. Every
`kubectl create …` is compared with the object kubectl itself prints for `--dry-run=client -o json` (what
it meant to send), zero values aside (the Go client puts every non-pointer zero value on the wire), and
with the facts the command line states (the secret's bytes, types, labels, selector, ports). Needs no
root; skipped when kubectl is missing.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from shoal.frontdoor.kube.protobuf import PROTOBUF, decode

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")

NOT_FOUND = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Failure",
    "message": "the server could not find the requested resource",
    "reason": "NotFound",
    "details": {},
    "code": 404,
}


@dataclass
class Seen:
    method: str
    path: str
    content_type: str
    user_agent: str
    obj: dict[str, Any] | None


@dataclass
class FakeApiServer:
    """Records each request; decodes protobuf bodies and answers them with the decoded object."""

    minor: str
    seen: list[Seen] = field(default_factory=list)
    url: str = ""
    # Extra GET answers by path (drain's node, pod list, resource list); a DELETEd path is then gone.
    gets: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        obj: dict[str, Any] | None = None
        if body:
            obj = decode(body) if request.content_type == PROTOBUF else json.loads(body)
        self.seen.append(
            Seen(request.method, request.path, request.content_type, request.headers.get("User-Agent", ""), obj)
        )
        if request.path == "/version":
            return web.json_response({"major": "1", "minor": self.minor, "gitVersion": f"v1.{self.minor}.1"})
        if request.method == "POST" and obj is not None:
            if obj.get("kind") == "SelfSubjectAccessReview":
                obj = {**obj, "status": {"allowed": True}}
            if obj.get("kind") == "TokenRequest":
                obj = {**obj, "status": {"token": "t0ken", "expirationTimestamp": "2030-01-01T00:00:00Z"}}
            return web.json_response(obj, status=201)
        if request.method == "PATCH" and request.path in self.gets:
            return web.json_response(self.gets[request.path])
        if request.method == "DELETE" and request.path in self.gets:
            return web.json_response(self.gets.pop(request.path))
        if request.method == "GET" and request.path in self.gets:
            return web.json_response(self.gets[request.path])
        return web.json_response(NOT_FOUND, status=404)

    def bodies(self) -> list[Seen]:
        return [s for s in self.seen if s.obj is not None]


@pytest.fixture(params=["32", "33"])
async def server(request: pytest.FixtureRequest) -> AsyncIterator[FakeApiServer]:
    fake = FakeApiServer(minor=request.param)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        await runner.cleanup()


async def kubectl(server: FakeApiServer, tmp_path: Path, *args: str) -> str:
    """Run kubectl against the fake server, isolated from any kubeconfig and cache; return its stdout."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env.update(KUBECONFIG=str(kubeconfig), HOME=str(tmp_path))
    proc = await asyncio.create_subprocess_exec(
        "kubectl",
        f"--server={server.url}",
        f"--cache-dir={tmp_path / 'cache'}",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, f"kubectl {' '.join(args)}: {err.decode()}"
    return out.decode()


def meaningful(value: Any) -> Any:
    """`value` without Go's zero values ("", 0, false, null, {}, []): what JSON's omitempty leaves."""
    if isinstance(value, dict):
        kept = {k: meaningful(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, "", 0, False, {}, [])}
    if isinstance(value, list):
        return [meaningful(v) for v in value]
    return value


async def create(server: FakeApiServer, tmp_path: Path, *args: str, minor: str = "") -> dict[str, Any]:
    """Run `kubectl create ARGS`; check it sent protobuf that decodes to what its dry run prints, from the
    kubectl the dispatcher picked for the server's minor (or `minor`)."""
    meant = json.loads(await kubectl(server, tmp_path, "create", "--dry-run=client", "-o", "json", *args))
    before = len(server.bodies())
    await kubectl(server, tmp_path, "create", *args)
    sent = server.bodies()[before:]
    assert len(sent) == 1, sent
    assert sent[0].method == "POST"
    assert sent[0].content_type == PROTOBUF
    assert sent[0].user_agent.startswith(f"kubectl/v1.{minor or server.minor}."), sent[0].user_agent
    obj = sent[0].obj
    assert obj is not None
    assert meaningful(obj) == meaningful(meant)
    return obj


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def test_secret_generic(server: FakeApiServer, tmp_path: Path) -> None:
    pem = b"-----BEGIN KEY-----\n\x00\xff binary \xfe\n-----END KEY-----\n"
    (tmp_path / "key").write_bytes(pem)
    key_file = f"--from-file=key.pem={tmp_path / 'key'}"
    obj = await create(server, tmp_path, "secret", "generic", "db", "--from-literal=password=s3cr3t", key_file)
    assert obj["apiVersion"] == "v1" and obj["kind"] == "Secret"
    assert obj["metadata"]["name"] == "db"
    assert obj["metadata"]["creationTimestamp"] is None
    assert obj["data"] == {"password": b64(b"s3cr3t"), "key.pem": b64(pem)}
    assert obj["type"] == ""  # kubectl leaves it unset; Go writes the zero value, the server defaults Opaque
    assert server.bodies()[-1].path == "/api/v1/namespaces/default/secrets"


async def test_secret_docker_registry(server: FakeApiServer, tmp_path: Path) -> None:
    obj = await create(
        server,
        tmp_path,
        "secret",
        "docker-registry",
        "regcred",
        "--docker-server=127.0.0.1:5000",
        "--docker-username=u",
        "--docker-password=p",
    )
    assert obj["type"] == "kubernetes.io/dockerconfigjson"
    config = json.loads(base64.b64decode(obj["data"][".dockerconfigjson"]))
    assert config["auths"]["127.0.0.1:5000"] == {"username": "u", "password": "p", "auth": b64(b"u:p")}


def make_cert(tmp_path: Path) -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "web.example")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "tls.crt").write_bytes(cert_pem)
    (tmp_path / "tls.key").write_bytes(key_pem)
    return cert_pem, key_pem


async def test_secret_tls(server: FakeApiServer, tmp_path: Path) -> None:
    cert_pem, key_pem = make_cert(tmp_path)
    obj = await create(
        server, tmp_path, "secret", "tls", "web-tls", f"--cert={tmp_path / 'tls.crt'}", f"--key={tmp_path / 'tls.key'}"
    )
    assert obj["type"] == "kubernetes.io/tls"
    assert obj["data"] == {"tls.crt": b64(cert_pem), "tls.key": b64(key_pem)}


async def test_configmap(server: FakeApiServer, tmp_path: Path) -> None:
    (tmp_path / "app.conf").write_text("listen 80\nworkers 4\n")
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01\xfe\xff")
    obj = await create(
        server,
        tmp_path,
        "configmap",
        "app",
        f"--from-file={tmp_path / 'app.conf'}",
        f"--from-file={tmp_path / 'blob.bin'}",
        "--from-literal=mode=fast",
    )
    assert obj["kind"] == "ConfigMap"
    assert obj["data"] == {"app.conf": "listen 80\nworkers 4\n", "mode": "fast"}
    assert obj["binaryData"] == {"blob.bin": b64(b"\x00\x01\xfe\xff")}


async def test_namespace(server: FakeApiServer, tmp_path: Path) -> None:
    obj = await create(server, tmp_path, "namespace", "team-a")
    assert obj["kind"] == "Namespace" and obj["metadata"]["name"] == "team-a"
    assert obj["status"] == {"phase": ""}
    assert server.bodies()[-1].path == "/api/v1/namespaces"


async def test_deployment(server: FakeApiServer, tmp_path: Path) -> None:
    obj = await create(server, tmp_path, "deployment", "web", "--image=nginx", "--replicas=3", "--port=80")
    assert obj["apiVersion"] == "apps/v1" and obj["kind"] == "Deployment"
    assert obj["metadata"]["labels"] == {"app": "web"}
    spec = obj["spec"]
    assert spec["replicas"] == 3
    assert spec["selector"] == {"matchLabels": {"app": "web"}}
    assert spec["template"]["metadata"]["labels"] == {"app": "web"}
    (container,) = spec["template"]["spec"]["containers"]
    assert container["name"] == "nginx" and container["image"] == "nginx"
    assert container["ports"][0]["containerPort"] == 80
    assert spec["template"]["spec"]["restartPolicy"] == ""  # a zero value on the wire: the server defaults it
    assert server.bodies()[-1].path == "/apis/apps/v1/namespaces/default/deployments"


async def test_service_nodeport(server: FakeApiServer, tmp_path: Path) -> None:
    obj = await create(server, tmp_path, "service", "nodeport", "np", "--tcp=80:8080")
    assert obj["kind"] == "Service"
    spec = obj["spec"]
    assert spec["type"] == "NodePort"
    assert spec["selector"] == {"app": "np"}
    assert spec["ports"] == [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080, "nodePort": 0}]
    assert spec["clusterIP"] == ""


@pytest.mark.parametrize(
    ("args", "resource"),
    [
        (["service", "loadbalancer", "lb", "--tcp=80:8080"], "services"),
        (["service", "clusterip", "headless", "--clusterip=None"], "services"),
        (["service", "externalname", "db", "--external-name=db.example.com"], "services"),
        (["serviceaccount", "builder"], "serviceaccounts"),
        (["quota", "q", "--hard=cpu=1,pods=2"], "resourcequotas"),
        (["job", "pi", "--image=perl", "--", "perl", "-e", "1"], "jobs"),
        (["cronjob", "cj", "--image=busybox", "--schedule=*/5 * * * *"], "cronjobs"),
        (["pdb", "pdb", "--selector=app=web", "--min-available=50%"], "poddisruptionbudgets"),
        (["rolebinding", "rb", "--role=r", "--user=u"], "rolebindings"),
        (["clusterrolebinding", "crb", "--clusterrole=cr", "--group=g"], "clusterrolebindings"),
        (["priorityclass", "high", "--value=1000", "--description=top"], "priorityclasses"),
        (["ingress", "ing", "--rule=foo.com/bar*=svc1:8080"], "ingresses"),
    ],
    ids=lambda v: v[0] + "-" + v[1] if isinstance(v, list) else None,
)
async def test_other_creates(server: FakeApiServer, tmp_path: Path, args: list[str], resource: str) -> None:
    """The other typed `kubectl create` commands send protobuf too; each decodes to what kubectl meant."""
    # Observed: for `create rolebinding` the dispatcher runs its own v1.32.4 without asking /version.
    await create(server, tmp_path, *args, minor="32" if args[0] == "rolebinding" else "")
    assert server.bodies()[-1].path.endswith(f"/{resource}")


async def test_create_token(server: FakeApiServer, tmp_path: Path) -> None:
    out = await kubectl(server, tmp_path, "create", "token", "builder", "--duration=1h", "--audience=api")
    assert out == "t0ken"
    (sent,) = server.bodies()
    assert sent.path == "/api/v1/namespaces/default/serviceaccounts/builder/token"
    assert sent.content_type == PROTOBUF
    assert sent.obj is not None
    assert sent.obj["kind"] == "TokenRequest"
    assert sent.obj["spec"]["audiences"] == ["api"]
    assert sent.obj["spec"]["expirationSeconds"] == 3600


async def test_auth_can_i(server: FakeApiServer, tmp_path: Path) -> None:
    assert await kubectl(server, tmp_path, "auth", "can-i", "create", "pods", "-n", "team-a") == "yes\n"
    (sent,) = server.bodies()
    assert sent.path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
    assert sent.content_type == PROTOBUF
    assert sent.obj is not None
    assert sent.obj["kind"] == "SelfSubjectAccessReview"
    assert sent.obj["apiVersion"] == "authorization.k8s.io/v1"
    attrs = sent.obj["spec"]["resourceAttributes"]
    assert (attrs["namespace"], attrs["verb"], attrs["resource"]) == ("team-a", "create", "pods")


async def test_drain_deletes_with_protobuf_delete_options(server: FakeApiServer, tmp_path: Path) -> None:
    """Without an eviction subresource in `GET /api/v1`, drain DELETEs each pod with a protobuf body."""
    node = {"kind": "Node", "apiVersion": "v1", "metadata": {"name": "n1"}, "spec": {"unschedulable": True}}
    pod = {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": "p1", "namespace": "default", "uid": "u-1"},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx"}]},
        "status": {"phase": "Running"},
    }
    server.gets = {
        "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
        "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
        "/api/v1/nodes/n1": node,
        "/api/v1/pods": {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": [pod]},
        "/api/v1": {
            "kind": "APIResourceList",
            "groupVersion": "v1",
            "resources": [
                {"name": "nodes", "singularName": "node", "namespaced": False, "kind": "Node", "verbs": ["get"]},
                {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod", "verbs": ["get"]},
            ],
        },
        "/api/v1/namespaces/default/pods/p1": pod,
    }
    await kubectl(server, tmp_path, "drain", "n1", "--force", "--grace-period=7", "--timeout=30s")
    deletes = [s for s in server.seen if s.method == "DELETE"]
    assert [s.path for s in deletes] == ["/api/v1/namespaces/default/pods/p1"]
    assert deletes[0].content_type == PROTOBUF
    options = deletes[0].obj
    assert options is not None
    assert options["kind"] == "DeleteOptions"
    assert options["gracePeriodSeconds"] == 7
