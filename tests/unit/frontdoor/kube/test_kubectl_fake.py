"""The real kubectl (through its version dispatcher, and 1.32 directly) against the Kubernetes door served
over plain http on 127.0.0.1, on the real object API over an in-memory store (no Pods run: the
agent's part is not here). Each server gets a fresh ``--cache-dir`` and an empty kubeconfig."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.unit.frontdoor.kube.apiserver import KUBECTL, KUBECTL_132
from tests.unit.frontdoor.kube.fakenode import Env, serving

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")

POD_YAML = """apiVersion: v1
kind: Pod
metadata:
  name: mywebserver
spec:
  containers:
  - name: mywebserver
    image: nginx
"""


class Kubectl:
    """Runs kubectl against one server with its own cache and kubeconfig."""

    def __init__(self, env: Env, tmp: Path, binary: str | None = None) -> None:
        self.env = env
        self.tmp = tmp
        self.binary = binary or KUBECTL or "kubectl"
        (tmp / "kubeconfig").touch()

    def environ(self, **extra: str) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.tmp / "kubeconfig"), "HOME": str(self.tmp), **extra}

    def argv(self, *args: str) -> list[str]:
        return [self.binary, f"--server={self.env.url}", f"--cache-dir={self.tmp / 'cache'}", *args]

    async def __call__(self, *args: str, ok: bool = True, **env: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            *self.argv(*args), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=self.environ(**env))
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode is not None
        if ok:
            assert process.returncode == 0, (args, out.decode(), err.decode())
        return process.returncode, out.decode(), err.decode()


# The dispatcher (which runs kubectl 1.33 for a server of minor 33) and kubectl 1.32 itself.
BINARIES = [pytest.param(None, id="dispatcher"),
            pytest.param(KUBECTL_132, id="1.32",
                         marks=pytest.mark.skipif(KUBECTL_132 is None, reason="kubectl 1.32 is not installed"))]


@pytest.fixture(params=BINARIES)
async def kc(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Kubectl]:
    async with serving() as env:
        (tmp_path / "pod.yaml").write_text(POD_YAML)
        yield Kubectl(env, tmp_path, request.param)


async def test_apply_get_label_select_delete(kc: Kubectl) -> None:
    pod_yaml = str(kc.tmp / "pod.yaml")
    _, out, _ = await kc("apply", "-f", pod_yaml)
    assert out.strip() == "pod/mywebserver created"
    _, out, _ = await kc("apply", "-f", pod_yaml)
    assert out.strip() == "pod/mywebserver unchanged"
    _, out, _ = await kc("get", "pods", "-o", "wide")
    header, row = out.splitlines()
    assert header.split()[:7] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    assert row.split()[:3] == ["mywebserver", "0/1", "Pending"]
    _, out, _ = await kc("label", "pod", "mywebserver", "env=prod")
    assert out.strip() == "pod/mywebserver labeled"
    _, out, _ = await kc("get", "pods", "-l", "env in (prod,dev),tier!=db", "--show-labels")
    assert "mywebserver" in out and "env=prod" in out
    _, out, err = await kc("get", "pods", "-l", "env=dev")
    assert "No resources found in default namespace." in err
    _, out, _ = await kc("delete", "pod", "mywebserver")
    assert out.strip() == 'pod "mywebserver" deleted'
    code, _, err = await kc("get", "pod", "mywebserver", ok=False)
    assert code == 1 and 'Error from server (NotFound): pods "mywebserver" not found' in err


async def test_get_watch_sees_added_then_modified(kc: Kubectl) -> None:
    await kc("apply", "-f", str(kc.tmp / "pod.yaml"))
    process = await asyncio.create_subprocess_exec(
        *kc.argv("get", "pods", "-w", "--output-watch-events"), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=kc.environ())
    assert process.stdout is not None
    try:
        lines: list[str] = []

        async def line() -> str:
            assert process.stdout is not None
            got = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
            lines.append(got)
            return got

        assert "EVENT" in await line()  # the header
        assert (await line()).split()[:2] == ["ADDED", "mywebserver"]
        await kc("label", "pod", "mywebserver", "changed=yes")
        assert (await line()).split()[:2] == ["MODIFIED", "mywebserver"]
    finally:
        process.kill()
        await process.wait()


async def test_create_secrets_configmap_namespace(kc: Kubectl) -> None:
    (kc.tmp / "key.pem").write_text("not really a key\n")
    _, out, _ = await kc("create", "secret", "generic", "db", "--from-literal=password=s3cr3t",
                         f"--from-file={kc.tmp / 'key.pem'}")
    assert out.strip() == "secret/db created"
    _, out, _ = await kc("create", "secret", "docker-registry", "regcred", "--docker-server=127.0.0.1:5000",
                         "--docker-username=u", "--docker-password=p")
    assert out.strip() == "secret/regcred created"
    openssl = shutil.which("openssl")
    if openssl is not None:
        subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=web", "-days", "1",
                        "-keyout", str(kc.tmp / "tls.key"), "-out", str(kc.tmp / "tls.crt")], check=True,
                       capture_output=True)
        _, out, _ = await kc("create", "secret", "tls", "web-tls", f"--cert={kc.tmp / 'tls.crt'}",
                             f"--key={kc.tmp / 'tls.key'}")
        assert out.strip() == "secret/web-tls created"
    _, out, _ = await kc("create", "configmap", "app", "--from-literal=mode=fast")
    assert out.strip() == "configmap/app created"
    _, out, _ = await kc("create", "namespace", "team-a")
    assert out.strip() == "namespace/team-a created"
    _, out, _ = await kc("get", "secrets")
    rows = {r.split()[0]: r.split() for r in out.splitlines()[1:]}
    assert rows["db"][1:3] == ["Opaque", "2"] and rows["regcred"][1] == "kubernetes.io/dockerconfigjson"
    _, out, _ = await kc("get", "secret", "db", "-o", "jsonpath={.data.password}")
    assert out == "czNjcjN0"
    _, out, _ = await kc("get", "namespaces")
    assert "team-a" in out and "Active" in out
    _, out, _ = await kc("-n", "team-a", "create", "configmap", "inside", "--from-literal=a=b")
    _, out, _ = await kc("delete", "namespace", "team-a")  # waits until it is gone
    assert out.strip() == 'namespace "team-a" deleted'
    code, _, err = await kc("get", "namespace", "team-a", ok=False)
    assert code == 1 and 'namespaces "team-a" not found' in err


async def test_explain_server_side_apply_edit_cordon(kc: Kubectl) -> None:
    _, out, _ = await kc("explain", "pod.spec.containers")
    assert "KIND:" in out and "Pod" in out and "containers" in out
    _, out, _ = await kc("apply", "--server-side", "-f", str(kc.tmp / "pod.yaml"))
    assert out.strip() == "pod/mywebserver serverside-applied"
    editor = "sed -i -e 's/image: nginx$/image: nginx:1.27/'"
    _, out, _ = await kc("edit", "pod", "mywebserver", KUBE_EDITOR=editor)
    assert out.strip() == "pod/mywebserver edited"
    _, out, _ = await kc("get", "pod", "mywebserver", "-o", "jsonpath={.spec.containers[0].image}")
    assert out == "nginx:1.27"
    _, out, _ = await kc("cordon", "node01")
    assert out.strip() == "node/node01 cordoned"
    _, out, _ = await kc("get", "nodes")
    assert "SchedulingDisabled" in out
    _, out, _ = await kc("uncordon", "node01")
    assert out.strip() == "node/node01 uncordoned"


@pytest.mark.skipif(KUBECTL_132 is None, reason="kubectl 1.32 is not installed")
async def test_kubectl_132_protobuf_create_and_apply(tmp_path: Path) -> None:
    async with serving() as env:
        (tmp_path / "pod.yaml").write_text(POD_YAML)
        kc = Kubectl(env, tmp_path, KUBECTL_132)
        _, out, _ = await kc("create", "configmap", "cfg", "--from-literal=k=v")
        assert out.strip() == "configmap/cfg created"
        _, out, _ = await kc("apply", "-f", str(tmp_path / "pod.yaml"))
        assert out.strip() == "pod/mywebserver created"
        _, out, _ = await kc("get", "configmap", "cfg", "-o", "jsonpath={.data.k}")
        assert out == "v"




async def test_server_side_apply_conflict_with_client_side_apply(kc: Kubectl) -> None:
    first = kc.tmp / "pod.yaml"
    changed = kc.tmp / "changed.yaml"
    changed.write_text(POD_YAML.replace("image: nginx", "image: nginx:1.27"))
    await kc("apply", "-f", str(first))
    _, out, _ = await kc("apply", "-f", str(changed))
    assert out.strip() == "pod/mywebserver configured"
    code, _, err = await kc("apply", "--server-side", "-f", str(first), ok=False)
    assert code == 1
    assert err.startswith('error: Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using v1: '
                          '.spec.containers[name="mywebserver"].image\n')
    _, out, _ = await kc("apply", "--server-side", "--force-conflicts", "-f", str(first))
    assert out.strip() == "pod/mywebserver serverside-applied"
    _, out, _ = await kc("get", "pod", "mywebserver", "-o", "jsonpath={.spec.containers[0].image}")
    assert out == "nginx"
    _, out, _ = await kc("auth", "can-i", "create", "pods")
    assert out.strip() == "yes"


async def test_exec_and_logs(kc: Kubectl) -> None:
    await kc("apply", "-f", str(kc.tmp / "pod.yaml"))
    t = kc.env.kube.get("tasks", "default", "mywebserver")
    kc.env.node.log_lines.lines[(t.ID, "mywebserver")] = [("2026-01-01T00:00:00.000000000Z", b"one"),
                                                          ("2026-01-01T00:00:01.000000000Z", b"two")]
    _, out, _ = await kc("logs", "mywebserver", "--tail=1")
    assert out == "two\n"
    _, out, _ = await kc("exec", "mywebserver", "--", "echo", "hello", "world")
    assert out == "echo hello world\n"


async def test_invalid_pod_refused_in_kubernetes_words(kc: Kubectl) -> None:
    bad = kc.tmp / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n  - name: x\n")
    code, _, err = await kc("create", "-f", str(bad), ok=False)
    assert code == 1
    assert 'The Pod "x" is invalid: spec.containers[0].image: Required value' in err
