"""exec, attach and port-forward against the real kubectl (1.32 and 1.33 through the dispatcher) and the
Python ``kubernetes`` client: a small HTTPS aiohttp server answers discovery and one Pod, and routes the
streaming subresources to ``serve_exec``/``serve_portforward`` with a fake session running a local
process (``sh``, on a pty for ``tty=true``) and a Dial to a local TCP echo server.

The expected texts are kubectl's own (client-go's remotecommand and portforward).
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import fcntl
import json
import os
import re
import shutil
import socket
import struct
import termios
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shoal.frontdoor.kube import spdy
from shoal.frontdoor.kube.streams import (
    ExecOptions,
    ExecQueryError,
    parse_exec_query,
    serve_exec,
    serve_portforward,
)

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
TOKEN = "shoal-test-token"
TIMEOUT = 60.0


# ------------------------------------------------------------------------------------------- the fake


class ProcessSession:
    """An ExecSession over a local process: pipes, or one pty for stdin/stdout/stderr with a TTY."""

    def __init__(self, proc: asyncio.subprocess.Process, master: int | None) -> None:
        self.proc = proc
        self.master = master
        self.resizes: list[tuple[int, int]] = []
        self.stdin_closed = asyncio.Event()
        self.killed = False
        self.broken_stdin = False
        self._pty_out: asyncio.Queue[bytes] = asyncio.Queue()
        if master is not None:
            asyncio.get_running_loop().add_reader(master, self._on_pty)

    @classmethod
    async def start(cls, argv: list[str], tty: bool) -> ProcessSession:
        if not tty:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
            return cls(proc, None)
        master, slave = os.openpty()
        try:
            proc = await asyncio.create_subprocess_exec(*argv, stdin=slave, stdout=slave, stderr=slave,
                                                        start_new_session=True)
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        return cls(proc, master)

    def _on_pty(self) -> None:
        assert self.master is not None
        try:
            data = os.read(self.master, 65536)
        except BlockingIOError:
            return
        except OSError:  # EIO: every slave end is closed
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.master)
        self._pty_out.put_nowait(data)

    async def write_stdin(self, data: bytes) -> None:
        if self.broken_stdin:
            raise BrokenPipeError(32, "Broken pipe")
        if self.master is not None:
            os.write(self.master, data)
        else:
            assert self.proc.stdin is not None
            self.proc.stdin.write(data)
            await self.proc.stdin.drain()

    async def close_stdin(self) -> None:
        self.stdin_closed.set()
        if self.master is not None:
            os.write(self.master, b"\x04")
        elif self.proc.stdin is not None:
            self.proc.stdin.close()

    async def stdout(self) -> AsyncIterator[bytes]:
        if self.master is not None:
            while data := await self._pty_out.get():
                yield data
            return
        assert self.proc.stdout is not None
        while data := await self.proc.stdout.read(65536):
            yield data

    async def stderr(self) -> AsyncIterator[bytes]:
        if self.master is not None:
            return
        assert self.proc.stderr is not None
        while data := await self.proc.stderr.read(65536):
            yield data

    async def resize(self, width: int, height: int) -> None:
        self.resizes.append((width, height))
        if self.master is not None:
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    async def wait(self) -> int:
        code = await self.proc.wait()
        if self.master is not None:
            with _suppress():
                asyncio.get_running_loop().remove_reader(self.master)
            os.close(self.master)
            self.master = None
        return code

    async def kill(self) -> None:
        self.killed = True
        if self.proc.returncode is None:
            self.proc.kill()


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True


# ------------------------------------------------------------------------------------------ the server


@dataclass
class Cluster:
    """The test API server and what it saw."""

    minor: str = "33"
    refuse_websocket: bool = False  # answer WebSocket upgrades with 400, so clients fall back to SPDY
    broken_stdin: bool = False  # the session's stdin fails (the process has gone)
    attach_argv: list[str] = field(default_factory=lambda: ["sh", "-c", "echo attached; exit 5"])
    echo_port: int = 0
    closed_port: int = 0
    seen: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, protocol used)
    options: list[ExecOptions] = field(default_factory=list)
    sessions: list[ProcessSession] = field(default_factory=list)
    dials: list[int] = field(default_factory=list)

    def streaming(self, sub: str) -> list[str]:
        return [proto for _, path, proto in self.seen if path.endswith("/" + sub)]


POD = {
    "kind": "Pod", "apiVersion": "v1",
    "metadata": {"name": "p", "namespace": "default", "uid": "8b7d4a66-0000-4000-8000-000000000001",
                 "resourceVersion": "1", "creationTimestamp": "2026-01-01T00:00:00Z"},
    "spec": {"containers": [{"name": "c1", "image": "busybox"}, {"name": "c2", "image": "busybox"}]},
    "status": {"phase": "Running", "podIP": "10.213.0.5",
               "containerStatuses": [{"name": n, "ready": True, "restartCount": 0, "image": "busybox",
                                      "imageID": "", "started": True, "state": {"running": {}}}
                                     for n in ("c1", "c2")]},
}

DISCOVERY_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def _discovery(items: list[dict[str, Any]]) -> web.Response:
    body = {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {},
            "items": items}
    return web.Response(body=json.dumps(body).encode(), headers={"Content-Type": DISCOVERY_TYPE})


CORE_GROUP = {
    "metadata": {"name": ""},
    "versions": [{"version": "v1", "freshness": "Current", "resources": [{
        "resource": "pods", "responseKind": {"group": "", "version": "v1", "kind": "Pod"},
        "scope": "Namespaced", "singularResource": "pod", "shortNames": ["po"], "categories": ["all"],
        "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
        "subresources": [
            {"subresource": sub, "responseKind": {"group": "", "version": "v1", "kind": kind}, "verbs": verbs}
            for sub, kind, verbs in (("exec", "PodExecOptions", ["create", "get"]),
                                     ("attach", "PodAttachOptions", ["create", "get"]),
                                     ("portforward", "PodPortForwardOptions", ["create", "get"]),
                                     ("status", "Pod", ["get", "patch", "update"]))]}]}],
}


def make_app(cluster: Cluster) -> web.Application:
    @web.middleware
    async def auth(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                      "message": "Unauthorized", "reason": "Unauthorized", "code": 401}, status=401)
        return await handler(request)

    async def version(_: web.Request) -> web.Response:
        m = cluster.minor
        return web.json_response({"major": "1", "minor": m, "gitVersion": f"v1.{m}.1", "gitCommit": "0" * 40,
                                  "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
                                  "goVersion": "go1.24.0", "compiler": "gc", "platform": "linux/amd64"})

    def aggregated(request: web.Request) -> bool:  # kubectl <1.30 does not ask for v2: legacy discovery
        return "g=apidiscovery.k8s.io;v=v2;" in request.headers.get("Accept", "").replace(" ", "")

    async def api(request: web.Request) -> web.Response:
        if aggregated(request):
            return _discovery([CORE_GROUP])
        return web.json_response({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]})

    async def apis(request: web.Request) -> web.Response:
        if aggregated(request):
            return _discovery([])
        return web.json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})

    async def api_v1(_: web.Request) -> web.Response:
        res = CORE_GROUP["versions"][0]["resources"][0]  # type: ignore[index]
        items = [{"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod", "verbs": res["verbs"],
                  "shortNames": ["po"], "categories": ["all"]}]
        items += [{"name": f"pods/{sub['subresource']}", "singularName": "", "namespaced": True,
                   "kind": sub["responseKind"]["kind"], "verbs": sub["verbs"]} for sub in res["subresources"]]
        return web.json_response({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1",
                                  "resources": items})

    async def pod(request: web.Request) -> web.Response:
        if request.match_info["name"] != "p":
            return web.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                      "message": f'pods "{request.match_info["name"]}" not found',
                                      "reason": "NotFound", "details": {"name": request.match_info["name"],
                                                                        "kind": "pods"}, "code": 404}, status=404)
        return web.json_response(POD)

    def note(request: web.Request) -> bool:
        offered = request.headers.get("Sec-WebSocket-Protocol", "")
        proto = (f"ws:{offered}" if request.headers.get("Upgrade", "").lower() == "websocket"
                 else "spdy:" + ", ".join(request.headers.getall("X-Stream-Protocol-Version", [])))
        cluster.seen.append((request.method, request.path, proto))
        return proto.startswith("ws:") and cluster.refuse_websocket

    async def exec_(request: web.Request) -> web.StreamResponse:
        if note(request):
            return web.Response(status=400, text="websocket refused by the test\n")
        attach = request.path.endswith("/attach")
        try:
            opts = parse_exec_query(request)
        except ExecQueryError as e:
            return web.json_response({"kind": "Status", "status": "Failure", "message": str(e), "code": 400},
                                     status=400)
        cluster.options.append(opts)
        session = await ProcessSession.start(cluster.attach_argv if attach else opts.command, opts.tty)
        if cluster.broken_stdin:
            session.broken_stdin = True
        cluster.sessions.append(session)
        return await serve_exec(request, session, options=opts)

    async def dial(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        cluster.dials.append(port)
        return await asyncio.open_connection("127.0.0.1", cluster.echo_port if port == 80 else cluster.closed_port)

    async def portforward(request: web.Request) -> web.StreamResponse:
        if note(request):
            return web.Response(status=400, text="websocket refused by the test\n")
        return await serve_portforward(request, dial, pod_uid=POD["metadata"]["uid"])  # type: ignore[index]

    app = web.Application(middlewares=[auth])
    app.router.add_get("/version", version)
    app.router.add_get("/api", api)
    app.router.add_get("/apis", apis)
    app.router.add_get("/api/v1", api_v1)
    app.router.add_get("/api/v1/namespaces/{ns}/pods/{name}", pod)
    for sub in ("exec", "attach"):
        app.router.add_route("GET", f"/api/v1/namespaces/{{ns}}/pods/{{name}}/{sub}", exec_)
        app.router.add_route("POST", f"/api/v1/namespaces/{{ns}}/pods/{{name}}/{sub}", exec_)
    app.router.add_route("GET", "/api/v1/namespaces/{ns}/pods/{name}/portforward", portforward)
    app.router.add_route("POST", "/api/v1/namespaces/{ns}/pods/{name}/portforward", portforward)
    return app


@dataclass
class Pki:
    ca_pem: bytes
    cert_path: Path
    key_path: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA and a server certificate for 127.0.0.1 (kubectl sends a token only over https)."""
    d = tmp_path_factory.mktemp("pki")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shoal-test-ca")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = d / "server.crt", d / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return Pki(ca.public_bytes(serialization.Encoding.PEM), cert_path, key_path)


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Api:
    cluster: Cluster
    url: str
    kubeconfig: Path
    home: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        env.update(HOME=str(self.home), KUBECONFIG=str(self.kubeconfig), KUBECACHEDIR=str(self.home / "cache"))
        env.update(extra)
        return env


async def _serve(tmp_path: Path, pki: Pki, cluster: Cluster) -> AsyncIterator[Api]:
    import ssl
    echo = await asyncio.start_server(_echo, "127.0.0.1", 0)
    cluster.echo_port = echo.sockets[0].getsockname()[1]
    cluster.closed_port = _closed_port()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(pki.cert_path, pki.key_path)
    runner = web.AppRunner(make_app(cluster))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    assert site._server is not None
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"https://127.0.0.1:{port}"
    home = tmp_path / "home"
    home.mkdir()
    kubeconfig = home / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "t",
        "clusters": [{"name": "t", "cluster": {"server": url, "certificate-authority-data":
                                               base64.b64encode(pki.ca_pem).decode()}}],
        "users": [{"name": "u", "user": {"token": TOKEN}}],
        "contexts": [{"name": "t", "context": {"cluster": "t", "user": "u", "namespace": "default"}}],
    }))
    try:
        yield Api(cluster, url, kubeconfig, home)
    finally:
        await runner.cleanup()
        echo.close()
        await echo.wait_closed()
        await _reap(cluster)


async def _reap(cluster: Cluster) -> None:
    """Every process a fake session started is gone when the test ends."""
    for session in cluster.sessions:
        if session.proc.returncode is None:
            session.proc.kill()
        await session.proc.wait()


@pytest.fixture(params=["33", "32"])
async def api(request: pytest.FixtureRequest, tmp_path: Path, pki: Pki) -> AsyncIterator[Api]:
    async for a in _serve(tmp_path, pki, Cluster(minor=request.param)):
        yield a


@pytest.fixture
async def api33(tmp_path: Path, pki: Pki) -> AsyncIterator[Api]:
    async for a in _serve(tmp_path, pki, Cluster(minor="33")):
        yield a


@dataclass
class Result:
    code: int
    out: str
    err: str


async def kubectl(api: Api, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> Result:
    assert KUBECTL is not None
    proc = await asyncio.create_subprocess_exec(
        KUBECTL, *args, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=api.env(**(env or {})))
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), TIMEOUT)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


# ---------------------------------------------------------------------------------------- exec (kubectl)


@needs_kubectl
async def test_exec_exit_code_output_and_container(api: Api) -> None:
    r = await kubectl(api, "exec", "p", "-c", "c2", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert r.code == 3, r
    assert r.out == "out\n"
    assert "err\n" in r.err
    assert "command terminated with exit code 3" in r.err
    assert api.cluster.options[-1] == ExecOptions(command=["sh", "-c", "echo out; echo err >&2; exit 3"],
                                                  container="c2", stdin=False, stdout=True, stderr=True, tty=False)
    assert api.cluster.streaming("exec") == ["ws:v5.channel.k8s.io"]  # kubectl 1.32 and 1.33 offer only v5


@needs_kubectl
async def test_exec_stdin_is_echoed(api: Api) -> None:
    r = await kubectl(api, "exec", "-i", "p", "-c", "c1", "--", "cat", stdin=b"hello")
    assert (r.code, r.out) == (0, "hello"), r
    assert api.cluster.options[-1].stdin
    assert api.cluster.sessions[-1].stdin_closed.is_set()


@needs_kubectl
async def test_exec_defaults_container_and_succeeds(api33: Api) -> None:
    r = await kubectl(api33, "exec", "p", "--", "sh", "-c", "echo fine")
    assert (r.code, r.out) == (0, "fine\n"), r
    assert 'Defaulted container "c1" out of: c1, c2' in r.err


@needs_kubectl
async def test_exec_it_without_a_terminal_runs_without_tty(api33: Api) -> None:
    r = await kubectl(api33, "exec", "-it", "p", "-c", "c1", "--", "cat", stdin=b"typed\n")
    assert (r.code, r.out) == (0, "typed\n"), r
    assert "Unable to use a TTY - input is not a terminal or the right kind of file" in r.err
    assert not api33.cluster.options[-1].tty


@needs_kubectl
@pytest.mark.parametrize("fallback", [False, True], ids=["websocket", "spdy"])
async def test_exec_it_on_a_terminal_uses_a_pty_and_resizes(api33: Api, fallback: bool) -> None:
    """kubectl under a pty: tty=true, the fake runs sh on a pty, the resize channel carries the size."""
    api33.cluster.refuse_websocket = fallback
    assert KUBECTL is not None
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
    proc = await asyncio.create_subprocess_exec(
        KUBECTL, "exec", "-it", "p", "-c", "c1", "--", "sh", stdin=slave, stdout=slave, stderr=slave,
        env=api33.env(TERM="dumb"), start_new_session=True)
    os.close(slave)
    os.set_blocking(master, False)
    seen = bytearray()
    loop = asyncio.get_running_loop()
    got = asyncio.Event()

    def on_read() -> None:
        try:
            data = os.read(master, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(master)
        seen.extend(data)
        got.set()

    loop.add_reader(master, on_read)

    async def until(pattern: bytes) -> None:
        while pattern not in seen:
            got.clear()
            await asyncio.wait_for(got.wait(), TIMEOUT)

    try:
        await asyncio.wait_for(_wait_for(lambda: bool(api33.cluster.sessions)), TIMEOUT)
        session = api33.cluster.sessions[-1]
        await _wait_for(lambda: bool(session.resizes))
        assert session.resizes[0] == (101, 33)
        os.write(master, b"stty size; tty; exit 7\r")
        await until(b"33 101")
        await until(b"/dev/pts/")
        code = await asyncio.wait_for(proc.wait(), TIMEOUT)
        await until(b"command terminated with exit code 7")
        assert code == 7
        assert api33.cluster.options[-1].tty and api33.cluster.options[-1].stdin
        assert api33.cluster.streaming("exec")[-1] == ("spdy:v5.channel.k8s.io, v4.channel.k8s.io, "
                                                      "v3.channel.k8s.io, v2.channel.k8s.io, channel.k8s.io"
                                                      if fallback else "ws:v5.channel.k8s.io")
    finally:
        with _suppress():
            loop.remove_reader(master)
        os.close(master)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def _wait_for(cond: Any, timeout: float = TIMEOUT) -> None:
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.02)


@needs_kubectl
async def test_exec_falls_back_to_spdy(api: Api) -> None:
    api.cluster.refuse_websocket = True
    r = await kubectl(api, "exec", "-i", "p", "-c", "c2", "--", "sh", "-c", "cat; echo err >&2; exit 4",
                      stdin=b"via spdy")
    assert r.code == 4, r
    assert r.out == "via spdy"
    assert "err\n" in r.err and "command terminated with exit code 4" in r.err
    assert [p.split(":")[0] for p in api.cluster.streaming("exec")] == ["ws", "spdy"]
    assert api.cluster.seen[-1][0] == "POST"


@needs_kubectl
async def test_exec_large_output_over_spdy_and_websocket(api33: Api) -> None:
    """More than SPDY's 64 KiB initial window: spdystream grants no window, so nothing may wait for it."""
    for refuse in (False, True):
        api33.cluster.refuse_websocket = refuse
        r = await kubectl(api33, "exec", "p", "-c", "c1", "--", "sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' x")
        assert (r.code, len(r.out), set(r.out)) == (0, 3000000, {"x"}), r.err


@needs_kubectl
@needs_kubectl
async def test_cp_from_the_pod(api33: Api, tmp_path: Path) -> None:
    """kubectl cp is exec ``tar cf - <path>`` with stdout only (here the "container" is this machine)."""
    src = tmp_path / "in-the-pod.txt"
    src.write_text("copied through exec\n")
    dest = tmp_path / "copy.txt"
    r = await kubectl(api33, "cp", "-c", "c1", f"default/p:{src}", str(dest))
    assert r.code == 0, r
    assert dest.read_text() == "copied through exec\n"
    assert api33.cluster.options[-1].command[:2] == ["tar", "cf"]


@needs_kubectl
async def test_attach_reports_success_whatever_the_exit(api33: Api) -> None:
    r = await kubectl(api33, "attach", "p", "-c", "c1")
    assert (r.code, r.out) == (0, "attached\n"), r
    assert api33.cluster.streaming("attach") == ["ws:v5.channel.k8s.io"]


# --------------------------------------------------------------------------------- port-forward (kubectl)


async def _port_forward(api: Api, *args: str, env: dict[str, str] | None = None
                        ) -> tuple[asyncio.subprocess.Process, int]:
    assert KUBECTL is not None
    proc = await asyncio.create_subprocess_exec(KUBECTL, "port-forward", *args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, env=api.env(**(env or {})))
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)).decode()
    m = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> 80", line)
    assert m, line
    return proc, int(m.group(1))


async def _roundtrip(port: int, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        got = await asyncio.wait_for(reader.readexactly(len(payload)), TIMEOUT)
        writer.write_eof()
        assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""  # the pod's close reaches us
        return got
    finally:
        writer.close()


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
    await proc.wait()


@needs_kubectl
@pytest.mark.parametrize("fallback", [False, True], ids=["spdy-in-websocket", "spdy"])
async def test_port_forward_two_connections_at_once(api: Api, fallback: bool) -> None:
    api.cluster.refuse_websocket = fallback
    proc, port = await _port_forward(api, "pod/p", "0:80")
    try:
        big = os.urandom(300_000)
        a, b = await asyncio.gather(_roundtrip(port, b"first connection"), _roundtrip(port, big))
        assert (a, b) == (b"first connection", big)
        assert await _roundtrip(port, b"and a third") == b"and a third"
        assert api.cluster.dials == [80, 80, 80]
        expected = ["ws:SPDY/3.1+portforward.k8s.io"] + (["spdy:portforward.k8s.io"] if fallback else [])
        assert api.cluster.streaming("portforward") == expected
    finally:
        await _stop(proc)


@needs_kubectl
async def test_port_forward_dial_failure_is_reported(api33: Api) -> None:
    proc, port = await _port_forward(api33, "pod/p", "0:80")
    api33.cluster.echo_port = api33.cluster.closed_port  # the pod's port now refuses
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"x")
        assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
        writer.close()
        assert proc.stderr is not None
        err = (await asyncio.wait_for(proc.stderr.read(), TIMEOUT)).decode()  # kubectl gives up on the pod
        assert "an error occurred forwarding" in err and f"{port} -> 80" in err, err
        assert "error forwarding port 80 to pod p_default, uid 8b7d4a66-0000-4000-8000-000000000001:" in err
        assert "Connect call failed" in err or "refused" in err.lower()
    finally:
        await _stop(proc)


# ------------------------------------------------------------------------------------ the Python client


def _python_exec(api: Api) -> tuple[str, int, str]:
    from kubernetes import client, config
    from kubernetes.stream import stream

    api_client = config.new_client_from_config(config_file=str(api.kubeconfig))
    core = client.CoreV1Api(api_client)
    out = stream(core.connect_get_namespaced_pod_exec, "p", "default", command=["sh", "-c", "echo py; exit 2"],
                 container="c1", stderr=True, stdin=False, stdout=True, tty=False)
    ws = stream(core.connect_get_namespaced_pod_exec, "p", "default", command=["sh", "-c", "cat; exit 2"],
                stderr=True, stdin=True, stdout=True, tty=False, _preload_content=False)
    ws.write_stdin("from python")
    ws.close_channel(0) if ws.subprotocol == "v5.channel.k8s.io" else None
    ws.run_forever(timeout=TIMEOUT)
    try:
        return out, ws.returncode, ws.read_stdout() or ""
    finally:
        ws.close()
        api_client.close()


def _python_port_forward(api: Api) -> tuple[bytes, str | None]:
    from kubernetes import client, config
    from kubernetes.stream import portforward

    api_client = config.new_client_from_config(config_file=str(api.kubeconfig))
    core = client.CoreV1Api(api_client)
    pf = portforward(core.connect_get_namespaced_pod_portforward, "p", "default", ports="80")
    sock = pf.socket(80)
    sock.settimeout(TIMEOUT)
    sock.sendall(b"over channels")
    got = b""
    while len(got) < len(b"over channels"):
        chunk = sock.recv(1024)
        if not chunk:
            break
        got += chunk
    sock.close()
    pf.close()
    api_client.close()
    return got, pf.error(80)


async def test_python_client_exec(api33: Api) -> None:
    pytest.importorskip("kubernetes")
    out, code, piped = await asyncio.to_thread(_python_exec, api33)
    assert out == "py\n"
    assert (code, piped) == (2, "from python")
    assert api33.cluster.streaming("exec")[0].startswith("ws:v5.channel.k8s.io")


async def test_python_client_port_forward(api33: Api) -> None:
    pytest.importorskip("kubernetes")
    got, error = await asyncio.to_thread(_python_port_forward, api33)
    assert (got, error) == (b"over channels", None)
    assert api33.cluster.dials == [80]
    assert api33.cluster.streaming("portforward")[0].startswith("ws:")


# --------------------------------------------------------------- the channel protocols, without a client


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[tuple[TestClient[web.Request, web.Application], Cluster]]:
    cluster = Cluster()
    echo = await asyncio.start_server(_echo, "127.0.0.1", 0)
    cluster.echo_port = echo.sockets[0].getsockname()[1]
    cluster.closed_port = _closed_port()
    app = make_app(cluster)
    try:
        async with TestClient(TestServer(app), headers={"Authorization": f"Bearer {TOKEN}"}) as c:
            yield c, cluster
    finally:
        echo.close()
        await echo.wait_closed()
        await _reap(cluster)


EXEC = "/api/v1/namespaces/default/pods/p/exec"


async def _collect(ws: Any) -> dict[int, bytes]:
    got: dict[int, bytes] = {}
    async for msg in ws:
        if msg.type == WSMsgType.BINARY:
            got[msg.data[0]] = got.get(msg.data[0], b"") + msg.data[1:]
        elif msg.type == WSMsgType.TEXT:
            ch = ord(msg.data[0]) - ord("0")
            got[ch] = got.get(ch, b"") + base64.b64decode(msg.data[1:])
    return got


async def test_v4_channel_exec_status_json(http: Any) -> None:
    client, _ = http
    async with client.ws_connect(EXEC + "?command=sh&command=-c&command=echo+hi%3B+exit+3&stdout=true&stderr=true",
                                 protocols=("v4.channel.k8s.io",)) as ws:
        assert ws.protocol == "v4.channel.k8s.io"
        got = await _collect(ws)
    assert got[1] == b"hi\n"
    assert json.loads(got[3]) == {
        "metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
        "message": "command terminated with non-zero exit code: error executing command [sh -c echo hi; exit 3], "
                   "exit code 3",
        "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}


async def test_v4_channel_exec_success_and_stdin(http: Any) -> None:
    client, cluster = http
    async with client.ws_connect(EXEC + "?command=head&command=-c&command=5&stdin=true&stdout=true",
                                 protocols=("v4.channel.k8s.io",)) as ws:
        await ws.send_bytes(b"\x00abc")
        await ws.send_bytes(b"\x00defgh")
        await ws.send_bytes(b"\x04" + json.dumps({"Width": 80, "Height": 24}).encode())
        got = await _collect(ws)
    assert got[1] == b"abcde"
    assert got[3] == b'{"metadata":{},"status":"Success"}'
    assert cluster.sessions[-1].resizes == [(80, 24)]


async def test_failing_stdin_still_reports_the_exit(http: Any) -> None:
    client, cluster = http
    cluster.broken_stdin = True
    async with client.ws_connect(EXEC + "?command=sh&command=-c&command=exit+6&stdin=true&stdout=true",
                                 protocols=("v5.channel.k8s.io",)) as ws:
        await ws.send_bytes(b"\x00too late")
        got = await _collect(ws)
    assert json.loads(got[3])["details"]["causes"] == [{"reason": "ExitCode", "message": "6"}]
    assert cluster.sessions[-1].stdin_closed.is_set()


async def test_base64_and_v1_channel_protocols(http: Any) -> None:
    client, _ = http
    for proto in ("base64.channel.k8s.io", "v4.base64.channel.k8s.io", "channel.k8s.io"):
        async with client.ws_connect(EXEC + "?command=sh&command=-c&command=echo+b64%3B+exit+1&stdout=true",
                                     protocols=(proto,)) as ws:
            assert ws.protocol == proto
            got = await _collect(ws)
        assert got[1] == b"b64\n", proto
        if proto.startswith("v4."):
            assert json.loads(got[3])["reason"] == "NonZeroExitCode"
        else:  # before v4 only the message is sent
            assert got[3] == (b"command terminated with non-zero exit code: error executing command "
                              b"[sh -c echo b64; exit 1], exit code 1")


async def test_v5_close_signal_closes_stdin(http: Any) -> None:
    client, cluster = http
    async with client.ws_connect(EXEC + "?command=cat&stdin=true&stdout=true",
                                 protocols=("v5.channel.k8s.io",)) as ws:
        await ws.send_bytes(b"\x00partial")
        await ws.send_bytes(b"\xff\x00")
        got = await _collect(ws)
    assert got[1] == b"partial"
    assert cluster.sessions[-1].stdin_closed.is_set()


async def test_client_leaving_kills_an_exec(http: Any) -> None:
    """aiohttp's test server cancels the handler when the client leaves: the process is killed."""
    client, cluster = http
    async with client.ws_connect(EXEC + "?command=sleep&command=30&stdout=true", protocols=("v5.channel.k8s.io",)):
        await _wait_for(lambda: bool(cluster.sessions))
    session = cluster.sessions[-1]
    assert await asyncio.wait_for(session.proc.wait(), TIMEOUT) != 0
    assert session.killed


async def test_client_leaving_kills_an_exec_without_handler_cancellation(api33: Api, pki: Pki) -> None:
    """The same when the server lets the handler run on (aiohttp's default): the closed WebSocket is seen."""
    import ssl
    ctx = ssl.create_default_context(cadata=pki.ca_pem.decode())
    async with ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as c, c.ws_connect(
            api33.url + EXEC + "?command=sleep&command=30&stdout=true", protocols=("v5.channel.k8s.io",), ssl=ctx):
        await _wait_for(lambda: bool(api33.cluster.sessions))
    session = api33.cluster.sessions[-1]
    assert await asyncio.wait_for(session.proc.wait(), TIMEOUT) != 0
    assert session.killed


async def test_exec_query_errors_and_plain_requests(http: Any) -> None:
    client, _ = http
    r = await client.get(EXEC + "?command=ls")
    assert r.status == 400
    assert (await r.json())["message"] == "you must specify at least 1 of stdin, stdout, stderr"
    r = await client.post("/api/v1/namespaces/default/pods/p/portforward")
    assert r.status == 400
    assert (await r.json())["message"] == "Upgrade request required"


async def test_a_request_that_cannot_be_served_kills_the_exec(http: Any) -> None:
    client, cluster = http
    r = await client.get(EXEC + "?command=sleep&command=30&stdout=true")  # no upgrade asked for
    assert r.status == 400
    assert (await r.json())["message"] == "Upgrade request required"
    assert await asyncio.wait_for(cluster.sessions[-1].proc.wait(), TIMEOUT) != 0


async def test_spdy_protocol_negotiation_refused(http: Any) -> None:
    client, cluster = http
    r = await client.post(EXEC + "?command=ls&stdout=true",
                          headers={"Connection": "Upgrade", "Upgrade": "SPDY/3.1",
                                   "X-Stream-Protocol-Version": "v9.channel.k8s.io"})
    assert r.status == 403
    assert r.headers.getall("X-Accepted-Stream-Protocol-Versions") == [
        "v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"]
    assert (await r.text()).startswith("unable to upgrade: unable to negotiate protocol: client supports "
                                       "[v9.channel.k8s.io], server accepts [v4.channel.k8s.io")
    assert cluster.sessions[-1].killed


async def test_websocket_port_forward_channels(http: Any) -> None:
    """The Python client's protocol, by hand: channel 0 data, 1 errors, each opened with the port
    (little-endian); a port that refuses reports the kubelet's text on its error channel."""
    client, cluster = http
    async with client.ws_connect("/api/v1/namespaces/default/pods/p/portforward?ports=80,81",
                                 protocols=("v4.channel.k8s.io",)) as ws:
        first = [await ws.receive_bytes() for _ in range(4)]
        assert sorted(first) == sorted([b"\x00\x50\x00", b"\x01\x50\x00", b"\x02\x51\x00", b"\x03\x51\x00"])
        await ws.send_bytes(b"\x00ping")
        got: dict[int, bytes] = {}
        while b"ping" not in got.get(0, b"") or 3 not in got:
            msg = await ws.receive_bytes()
            got[msg[0]] = got.get(msg[0], b"") + msg[1:]
    assert got[0] == b"ping"
    assert got[3].startswith(b"error forwarding port 81 to pod p_default, uid 8b7d4a66")
    assert sorted(cluster.dials) == [80, 81]


# ------------------------------------------------------------------ SPDY over a socket, without kubectl


async def test_spdy_session_by_hand(http: Any) -> None:
    """A hand-driven SPDY client (this module's framing) against the port-forward upgrade: the server
    replies to each SYN_STREAM, echoes PINGs, pumps data both ways, FINs both streams at the pod's EOF."""
    client, _ = http
    server = client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(b"POST /api/v1/namespaces/default/pods/p/portforward HTTP/1.1\r\nHost: x\r\n"
                     b"Authorization: Bearer " + TOKEN.encode() + b"\r\nConnection: Upgrade\r\n"
                     b"Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n"
                     b"Content-Length: 0\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        assert head.startswith(b"HTTP/1.1 101 ")
        assert b"X-Stream-Protocol-Version: portforward.k8s.io" in head
        enc, dec = spdy.FrameEncoder(), spdy.FrameDecoder()
        frames: list[spdy.Frame] = []

        async def next_frame() -> spdy.Frame:
            while not frames:
                data = await asyncio.wait_for(reader.read(65536), TIMEOUT)
                assert data, "connection closed"
                frames.extend(dec.feed(data))
            return frames.pop(0)

        hdr = {"port": ["80"], "requestid": ["0"]}
        writer.write(enc.encode(spdy.SynStream(1, {"streamtype": ["error"], **hdr})))
        writer.write(enc.encode(spdy.DataFrame(1, b"", spdy.FLAG_FIN)))
        writer.write(enc.encode(spdy.SynStream(3, {"streamtype": ["data"], **hdr})))
        writer.write(enc.encode(spdy.Ping(1)))
        assert await next_frame() == spdy.SynReply(1, {})
        assert await next_frame() == spdy.SynReply(3, {})
        assert await next_frame() == spdy.Ping(1)
        writer.write(enc.encode(spdy.DataFrame(3, b"hand", spdy.FLAG_FIN)))
        echoed = b""
        fins = set()
        while fins != {1, 3}:
            f = await next_frame()
            assert isinstance(f, spdy.DataFrame), f
            if f.stream_id == 3:
                echoed += f.data
            if f.fin:
                fins.add(f.stream_id)
        assert echoed == b"hand"
    finally:
        writer.close()



# ----------------------------------------------------------------------------- older kubectl (1.27-1.31)


@pytest.fixture(params=["31", "30", "29", "28", "27"])
async def old_api(request: pytest.FixtureRequest, tmp_path: Path, pki: Pki) -> AsyncIterator[Api]:
    async for a in _serve(tmp_path, pki, Cluster(minor=request.param)):
        yield a


@needs_kubectl
async def test_older_kubectl_exec_and_port_forward(old_api: Api) -> None:
    r = await kubectl(old_api, "exec", "-i", "p", "-c", "c2", "--", "sh", "-c", "cat; exit 3", stdin=b"old")
    assert (r.code, r.out) == (3, "old"), r
    assert "command terminated with exit code 3" in r.err
    proc, port = await _port_forward(old_api, "pod/p", "0:80")
    try:
        assert await asyncio.gather(_roundtrip(port, b"one"), _roundtrip(port, b"two")) == [b"one", b"two"]
    finally:
        await _stop(proc)
    # What each version asked for (observed): WebSocket exec from 1.30, SPDY-in-WebSocket port-forward
    # from 1.31, SPDY before; v5 over SPDY from 1.29.
    exec_first, pf_first = {"31": ("ws:v5", "ws:SPDY/3.1+portforward"), "30": ("ws:v5", "spdy:portforward"),
                            "29": ("spdy:v5", "spdy:portforward"), "28": ("spdy:v4", "spdy:portforward"),
                            "27": ("spdy:v4", "spdy:portforward")}[old_api.cluster.minor]
    assert [p.split(".")[0] for p in old_api.cluster.streaming("exec")] == [exec_first]
    assert [p.split(".k8s")[0] for p in old_api.cluster.streaming("portforward")] == [pf_first]
