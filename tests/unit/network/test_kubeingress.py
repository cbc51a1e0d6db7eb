"""The Ingress proxy (network/kubeingress.py): Kubernetes' Prefix/Exact semantics by a table of cases,
the configuration rendered for representative views and checked by ``nginx -t``, and a real nginx on
loopback ports of the test's own in front of small HTTP servers: routing by host and path, 404 and 503,
TLS by SNI, reload on a change, a refused configuration keeping the old one, stop, and a left-over
nginx (a killed daemon's) stopped by the next start's cleanup."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shoal.api.kubenet import (
    KubeEndpoint,
    KubeIngressInfo,
    KubeIngressPath,
    KubeIngressRule,
    KubeIngressTLS,
    KubeNetView,
    KubeServiceInfo,
    KubeServicePort,
)
from shoal.network.kubeingress import NGINX, IngressProxy, host_matches, location_keys, prefix_match, render
from tests.support import free_port

BIG = 3_000_000  # bytes: more than nginx's buffers hold in memory
pytestmark = pytest.mark.skipif(not os.path.exists(NGINX), reason="nginx is not installed")

# ---------------------------------------------------------------- semantics


@pytest.mark.parametrize(("prefix", "path", "matches"), [
    ("/", "/", True), ("/", "/anything", True),
    ("/foo", "/foo", True), ("/foo", "/foo/", True), ("/foo", "/foo/bar", True), ("/foo", "/foobar", False),
    ("/foo/", "/foo", True), ("/foo/", "/foo/bar", True), ("/foo/", "/foobar", False),
    ("/aaa/bb", "/aaa/bbb", False), ("/aaa/bbb", "/aaa/bbb/", True), ("/aaa/bbb/", "/aaa/bbb", True),
    ("/aaa/bbb", "/aaa/bbbxyz", False), ("/foo", "/Foo", False),
])
def test_prefix_is_element_wise(prefix: str, path: str, matches: bool) -> None:
    assert prefix_match(path, prefix) is matches


def test_locations_and_hosts() -> None:
    assert location_keys("/foo", "Exact") == ["= /foo"]
    assert location_keys("/foo/", "Exact") == ["= /foo/"]
    assert location_keys("/foo", "Prefix") == ["= /foo", "/foo/"]
    assert location_keys("/foo/", "Prefix") == ["= /foo", "/foo/"]
    assert location_keys("/", "Prefix") == ["/"]
    assert host_matches("*.example", "a.example") and not host_matches("*.example", "a.b.example")
    assert not host_matches("*.example", "example") and host_matches("web.example", "web.example")


# ---------------------------------------------------------------- views


def service(name: str, ip_ports: list[tuple[str, int]], *, port: int = 80, port_name: str = "",
            not_ready: list[tuple[str, int]] | None = None) -> KubeServiceInfo:
    eps = [KubeEndpoint(IP=ip, Ports={port_name: p}) for ip, p in ip_ports]
    eps += [KubeEndpoint(IP=ip, Ready=False, Ports={port_name: p}) for ip, p in not_ready or []]
    return KubeServiceInfo(Namespace="default", Name=name, ClusterIP="172.16.0.9",
                           Ports=(KubeServicePort(Name=port_name, Port=port),), Endpoints=tuple(eps))


def path(p: str, svc: str, kind: str = "Prefix", port: int = 80, port_name: str = "") -> KubeIngressPath:
    return KubeIngressPath(Path=p, PathType=kind, Service=svc, Port=0 if port_name else port, PortName=port_name)


def make_cert(tmp: Path, host: str) -> tuple[str, str]:
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp / "k.pem"),
                    "-out", str(tmp / "c.pem"), "-days", "2", "-subj", f"/CN={host}",
                    "-addext", f"subjectAltName=DNS:{host}"], check=True, capture_output=True)
    return (tmp / "c.pem").read_text(), (tmp / "k.pem").read_text()


def nginx_ok(root: Path, conf: str, files: dict[str, str]) -> subprocess.CompletedProcess[str]:
    (root / "tmp").mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)
    (root / "nginx.conf").write_text(conf)
    return subprocess.run([NGINX, "-p", f"{root}/", "-e", str(root / "error.log"), "-t", "-c",
                           str(root / "nginx.conf")], capture_output=True, text=True)


def test_rendered_configurations_are_valid(tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path, "web.example")
    web = service("web", [("127.0.0.2", 8080)], port_name="http")
    views = {
        "one host": KubeNetView(Services=(web,), Ingresses=(KubeIngressInfo(
            Namespace="default", Name="a", Rules=(KubeIngressRule(Host="web.example", Paths=(
                path("/", "web", port_name="http"),)),)),)),
        "paths, wildcard, tls, default backend, a missing service": KubeNetView(Services=(web,), Ingresses=(
            KubeIngressInfo(Namespace="default", Name="a", Rules=(
                KubeIngressRule(Host="web.example", Paths=(path("/api", "web", "Exact", port_name="http"),
                                                           path("/api", "web", port_name="http"),
                                                           path("/s p;a{c}e\"q", "gone"))),
                KubeIngressRule(Host="*.wild.example", Paths=(path("/", "web", port_name="http"),)),
                KubeIngressRule(Paths=(path("/any", "web", port_name="http"),))),
                DefaultBackend=path("/", "web", port_name="http"),
                TLS=(KubeIngressTLS(Hosts=("web.example",), SecretName="t", Cert=cert, Key=key),
                     KubeIngressTLS(Hosts=("*.wild.example",), SecretName="missing"))),
            KubeIngressInfo(Namespace="default", Name="b", Rules=(
                KubeIngressRule(Host="web.example", Paths=(path("/api", "other"),)),)))),
        "default backend only": KubeNetView(Ingresses=(KubeIngressInfo(
            Namespace="default", Name="a", DefaultBackend=path("/", "web")),)),
    }
    for what, view in views.items():
        root = tmp_path / what.replace(" ", "_").replace(",", "")
        r = render(view, root)
        done = nginx_ok(root, r.conf, r.files)
        assert done.returncode == 0, (what, done.stderr, r.conf)
    r = render(views["paths, wildcard, tls, default backend, a missing service"], tmp_path / "x")
    assert r.conf.count('location = "/api"') == 1  # the Exact one
    assert 'location "/api/"' in r.conf
    assert "return 503;" in r.conf  # the Service that is not there
    assert r.conf.count("ssl_certificate ") == 1  # the missing Secret gives no certificate
    assert "server_name \"~^[^.]+\\\\.wild\\\\.example$\";" in r.conf
    assert "listen 80 default_server;" in r.conf and "listen 443 ssl;" in r.conf
    assert str(tmp_path / "x" / "nginx.pid") in r.conf


# ---------------------------------------------------------------- a real nginx on loopback


async def backend(name: str, host: str, port: int, arrived: asyncio.Event, release: asyncio.Event
                  ) -> asyncio.Server:
    """An HTTP server answering ``<name> <path> <Host> <X-Forwarded-Proto>`` (``/slow``: sets ``arrived``,
    answers once ``release`` is set)."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        line, *fields = head.split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (f.partition(":") for f in fields if f)}
        body = f"{name} {line.split()[1]} {headers.get('host', '')} {headers.get('x-forwarded-proto', '')}"
        if line.startswith("POST"):  # the size of what was sent
            body = str(len(await reader.readexactly(int(headers["content-length"]))))
        elif line.split()[1] == "/big":
            body = "x" * BIG
        elif line.split()[1] == "/slow":
            arrived.set()
            await release.wait()
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}".encode())
        await writer.drain()
        writer.close()
    return await asyncio.start_server(serve, host, port)


async def get(port: int, host: str, path: str, *, tls: ssl.SSLContext | None = None,
              server_hostname: str = "", post: bytes | None = None) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls,
                                                   server_hostname=(server_hostname or host) if tls else None)
    if post is None:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    else:
        writer.write(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {len(post)}"
                     "\r\n\r\n".encode() + post)
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, body = data.decode(errors="replace").partition("\r\n\r\n")
    return int(head.split()[1]), body


class Rig:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.http, self.https = free_port(), free_port()
        self.proxy = IngressProxy(tmp, ports=(self.http, self.https), address="127.0.0.1")
        self.ports = {"a": free_port(), "b": free_port(), "c": free_port()}
        self.servers: list[asyncio.Server] = []
        self.arrived, self.release = asyncio.Event(), asyncio.Event()  # ``/slow`` came; may answer


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = Rig(tmp_path)
    for name, port in r.ports.items():
        r.servers.append(await backend(name, "127.0.0.1", port, r.arrived, r.release))
    try:
        yield r
    finally:
        await r.proxy.stop()
        for s in r.servers:
            s.close()


def table_view(rig: Rig, cert: tuple[str, str] | None = None) -> KubeNetView:
    a = service("a", [("127.0.0.1", rig.ports["a"])], port_name="http", not_ready=[("127.0.0.1", 1)])
    b = service("b", [("127.0.0.1", rig.ports["b"])], port=8080)
    c = service("c", [("127.0.0.1", rig.ports["c"])])
    empty = service("empty", [], not_ready=[("127.0.0.1", rig.ports["a"])])
    tls = (KubeIngressTLS(Hosts=("web.example",), SecretName="web-tls", Cert=cert[0], Key=cert[1]),) if cert else ()
    return KubeNetView(Services=(a, b, c, empty), Ingresses=(
        KubeIngressInfo(Namespace="default", Name="web", TLS=tls, Rules=(
            KubeIngressRule(Host="web.example", Paths=(
                path("/", "a", port_name="http"), path("/foo", "b", port=8080), path("/foo/bar", "c"),
                path("/exact", "c", "Exact"), path("/down", "empty"))),
            KubeIngressRule(Host="*.wild.example", Paths=(path("/", "b", port=8080),)))),
        KubeIngressInfo(Namespace="default", Name="zdefault", DefaultBackend=path("/", "c"))))


async def test_nginx_routes_as_kubernetes_does(rig: Rig) -> None:
    cert = make_cert(rig.tmp, "web.example")
    await rig.proxy.apply(table_view(rig, cert))
    assert rig.proxy.running
    cases = [
        ("web.example", "/", 200, "a"), ("web.example", "/index.html", 200, "a"),
        ("web.example", "/foo", 200, "b"), ("web.example", "/foo/", 200, "b"), ("web.example", "/foo/x", 200, "b"),
        ("web.example", "/foobar", 200, "a"),  # not under /foo: the / rule
        ("web.example", "/foo/bar", 200, "c"), ("web.example", "/foo/bar/baz", 200, "c"),
        ("web.example", "/foo/barbaz", 200, "b"),
        ("web.example", "/exact", 200, "c"), ("web.example", "/exact/more", 200, "a"),
        ("web.example", "/down", 503, ""),  # no ready endpoint
        ("x.wild.example", "/any", 200, "b"), ("x.y.wild.example", "/any", 200, "c"),  # one label only
        ("unknown.example", "/", 200, "c"),  # the default backend
    ]
    for host, p, status, who in cases:
        got, body = await get(rig.http, host, p)
        assert got == status, (host, p, got, body)
        if who:
            name, seen_path, seen_host, proto = body.split()
            assert (name, seen_path, seen_host, proto) == (who, p, host, "http"), (host, p, body)
    # large bodies both ways stream through (no temporary files, which the workers could not write)
    got, body = await get(rig.http, "web.example", "/big")
    assert got == 200 and len(body) == BIG
    got, body = await get(rig.http, "web.example", "/", post=b"y" * BIG)
    assert (got, body) == (200, str(BIG))
    # TLS with the Secret's certificate, by SNI; HTTP still served
    ctx = ssl.create_default_context(cafile=str(rig.tmp / "c.pem"))
    got, body = await get(rig.https, "web.example", "/foo", tls=ctx)
    assert got == 200 and body.split()[0] == "b" and body.split()[3] == "https"
    with pytest.raises(ssl.SSLError):
        await get(rig.https, "other.example", "/", tls=ssl._create_unverified_context())
    assert oct((rig.tmp / "ingress" / "tls").iterdir().__next__().stat().st_mode & 0o777) == "0o600"


async def test_reload_refusal_stop_and_leftover(rig: Rig) -> None:
    await rig.proxy.apply(table_view(rig))
    pid = rig.proxy.proc.pid if rig.proxy.proc else 0
    assert (await get(rig.http, "nothing.example", "/"))[0] == 200  # the default backend
    # a change: the default backend's Ingress gone, 404 for unknown hosts; the same master reloaded
    view = table_view(rig)
    view = KubeNetView(Services=view.Services, Ingresses=view.Ingresses[:1])
    slow = asyncio.create_task(get(rig.http, "web.example", "/slow"))  # held by an old worker
    await asyncio.wait_for(rig.arrived.wait(), 10)
    await rig.proxy.apply(view)  # returns with the slow request still in the old worker
    settled = asyncio.create_task(rig.proxy.settled())
    assert not slow.done() and not settled.done()
    rig.release.set()
    assert (await slow)[1].split()[:2] == ["a", "/slow"]
    await asyncio.wait_for(settled, 10)  # the old workers gone
    for _ in range(20):
        assert (await get(rig.http, "nothing.example", "/"))[0] == 404
    assert rig.proxy.proc is not None and rig.proxy.proc.pid == pid
    # a configuration nginx refuses (a certificate that is not one) is logged and the old one kept
    bad = KubeNetView(Services=view.Services, Ingresses=(KubeIngressInfo(
        Namespace="default", Name="web", TLS=(KubeIngressTLS(Hosts=("web.example",), SecretName="x",
                                                             Cert="not a certificate", Key="nor a key"),),
        Rules=(KubeIngressRule(Host="web.example", Paths=(path("/", "c"),)),)),))
    conf = (rig.tmp / "ingress" / "nginx.conf").read_text()
    await rig.proxy.apply(bad)
    assert (rig.tmp / "ingress" / "nginx.conf").read_text() == conf
    assert (await get(rig.http, "web.example", "/"))[1].split()[0] == "a"
    # no Ingress left: nginx stops
    await rig.proxy.apply(KubeNetView(Services=view.Services))
    assert not rig.proxy.running and not (rig.tmp / "ingress" / "nginx.pid").exists()
    with pytest.raises(OSError):
        await get(rig.http, "web.example", "/")
    # a daemon killed with its nginx running: the next start's cleanup stops that nginx
    await rig.proxy.apply(view)
    left = rig.proxy.proc
    assert left is not None
    rig.proxy.proc = None  # (the daemon is gone; its nginx is not)
    again = IngressProxy(rig.tmp, ports=(rig.http, rig.https), address="127.0.0.1")
    await again.cleanup()
    assert await asyncio.wait_for(left.wait(), 10) is not None
    with pytest.raises(OSError):
        await get(rig.http, "web.example", "/")
