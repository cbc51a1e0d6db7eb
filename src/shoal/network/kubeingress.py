"""The Ingress proxy of a node (issue 16 part 5): Debian's nginx, configured from the Kubernetes view
the managers send (``api/kubenet.KubeNetView``: its Ingresses and the Services they name), serving
ports 80 and 443 of every address of the node's network namespace (the daemon's own).

``render(view, root)`` makes the configuration (pure: text and the TLS files it names):

* one ``server`` per host of the Ingresses' rules (``server_name``; a wildcard ``*.foo`` as the regex
  of one label, as Kubernetes matches it), the rules of every Ingress naming that host merged
  (the first Ingress by namespace and name wins a path given twice); a catch-all default server for
  the rules without a host and the (first) Ingress's ``defaultBackend``, 404 for the rest;
* paths: ``Exact`` as ``location = /p``; ``Prefix`` as Kubernetes defines it, element-wise (``/foo``
  matches ``/foo`` and ``/foo/bar``, not ``/foobar``): ``location = /foo`` and ``location /foo/``,
  and ``/`` as ``location /``; nginx picks the exact match, then the longest prefix, which is
  Kubernetes' "longest match wins, Exact before Prefix". ``ImplementationSpecific`` is Prefix;
* a host of an Ingress with a ``defaultBackend`` and no rule for ``/`` sends the rest there
  (as ingress-nginx does); otherwise nothing matched is 404;
* backends: straight to the backend Service's ready endpoints (``KubeServiceInfo.Endpoints`` that are
  ``Ready``; the target port from ``KubeEndpoint.Ports`` by the Service port's name, the port chosen
  by number or name), as ingress-nginx does; 503 when there is none (or no such Service or port);
  ``Host``, ``X-Forwarded-For``/``-Proto``/``-Host`` and ``X-Real-IP`` set, WebSocket upgrades passed;
* TLS: a host named by a TLS entry whose Secret had a certificate and key gets ``listen 443 ssl``
  with them (SNI picks the server); HTTP is still served. The default server refuses handshakes for
  other names (``ssl_reject_handshake``). Keys are written 0600.

``IngressProxy`` (one per node daemon, registered in ``NodeNetwork.kube_consumers``) keeps nginx
running as the view asks, in ``<exec-root>/ingress/``: config, pid file, error log, temporary files
and TLS files are all there (``-p``/``-e``/``-c``, ``daemon off``: the daemon holds the master). The
first Ingress starts it; a changed configuration is checked first (``nginx -t`` on the candidate: an
invalid one is logged and the old one kept) and loaded with SIGHUP to the master (``settled`` waits
for the old workers to go); the last Ingress gone, or the daemon stopping or leaving, stops it
(SIGQUIT, SIGKILL after a grace). A daemon killed leaves its nginx running: ``cleanup`` at the next
start finds it by the pid file (its command line names this directory) and stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from shoal.api.kubenet import KubeIngressInfo, KubeIngressPath, KubeNetView, KubeServiceInfo

log = logging.getLogger(__name__)

NGINX = "/usr/sbin/nginx"
HTTP_PORT, HTTPS_PORT = 80, 443
STOP_GRACE = 5.0  # s between SIGQUIT and SIGKILL
START_TIMEOUT = 10.0  # s for a started nginx to write its pid file
WORKER_SHUTDOWN = 30  # s an old worker may keep its connections open after a reload (then closed)
_NAME_BAD = re.compile(r"[^A-Za-z0-9_]")


# ---------------------------------------------------------------- the configuration


@dataclass
class Rendered:
    """A configuration and the files it names (path relative to the root → content)."""

    conf: str
    files: dict[str, str] = field(default_factory=dict)


@dataclass
class _Backend:
    namespace: str
    path: KubeIngressPath


@dataclass
class _Server:
    host: str  # "" for the default server
    locations: dict[str, _Backend] = field(default_factory=dict)  # "= /p" | "/p/" | "/" → backend
    cert: tuple[str, str] | None = None  # (cert, key) PEM


def quote(s: str) -> str:
    """A string as an nginx configuration token (double-quoted, escaped)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def location_keys(path: str, path_type: str) -> list[str]:
    """The nginx locations one Ingress path becomes (``= /p`` exact; a prefix ending in ``/``)."""
    if not path.startswith("/"):
        path = "/" + path
    if path_type == "Exact":
        return [f"= {path}"]
    trimmed = path.rstrip("/")
    if not trimmed:
        return ["/"]
    return [f"= {trimmed}", f"{trimmed}/"]


def host_matches(pattern: str, host: str) -> bool:
    """Kubernetes' host match: equal, or ``*.foo`` matching exactly one more label in front of ``foo``."""
    if pattern.startswith("*."):
        head, dot, rest = host.partition(".")
        return bool(head) and bool(dot) and rest == pattern[2:]
    return pattern == host


def server_name(host: str) -> str:
    """``server_name``'s argument: the host, or a one-label regex for a wildcard."""
    if host.startswith("*."):
        return quote("~^[^.]+" + re.escape(host[1:]) + "$")
    return host


def prefix_match(path: str, prefix: str) -> bool:
    """Kubernetes' ``Prefix`` match, element-wise (the reference for the locations above)."""
    p = prefix.rstrip("/")
    if not p:
        return True
    return path == p or path.startswith(p + "/")


def _port_of(svc: KubeServiceInfo, p: KubeIngressPath) -> str | None:
    """The Service port a path names (by number or by name): its name, the endpoints' key."""
    for sp in svc.Ports:
        if sp.Protocol != "TCP":
            continue
        if (p.PortName and sp.Name == p.PortName) or (not p.PortName and sp.Port == p.Port):
            return sp.Name
    return None


def upstream_servers(view: KubeNetView, namespace: str, p: KubeIngressPath) -> list[str]:
    """``ip:port`` of the ready endpoints behind a backend, sorted; [] when none."""
    svc = next((s for s in view.Services if s.Namespace == namespace and s.Name == p.Service), None)
    if svc is None:
        return []
    port_name = _port_of(svc, p)
    if port_name is None:
        return []
    out = {f"{e.IP}:{e.Ports[port_name]}" for e in svc.Endpoints if e.Ready and port_name in e.Ports and e.IP}
    return sorted(out)


def _upstream_name(namespace: str, p: KubeIngressPath) -> str:
    return _NAME_BAD.sub("_", f"k_{namespace}_{p.Service}_{p.PortName or p.Port}")


def _cert_for(ing: KubeIngressInfo, host: str) -> tuple[str, str] | None:
    for t in ing.TLS:
        if not t.Cert or not t.Key:
            continue
        if (not t.Hosts and host) or any(host_matches(h, host) or h == host for h in t.Hosts):
            return (t.Cert, t.Key)
    return None


def _servers(view: KubeNetView) -> tuple[_Server, list[_Server]]:
    default = _Server(host="")
    hosts: dict[str, _Server] = {}
    for ing in view.Ingresses:  # sorted by (namespace, name): the first one to claim a location keeps it
        for rule in ing.Rules:
            srv = default if not rule.Host else hosts.setdefault(rule.Host, _Server(host=rule.Host))
            for p in rule.Paths:
                for key in location_keys(p.Path, p.PathType):
                    have = srv.locations.get(key)
                    # an Exact path wins its ``= /p`` over a Prefix one's, whichever came first
                    if have is None or (key.startswith("=") and p.PathType == "Exact"
                                        and have.path.PathType != "Exact"):
                        srv.locations[key] = _Backend(ing.Namespace, p)
            if srv is not default and srv.cert is None:
                srv.cert = _cert_for(ing, rule.Host)
        if ing.DefaultBackend is not None:
            for srv in [default, *(hosts[r.Host] for r in ing.Rules if r.Host)]:
                if "/" not in srv.locations:
                    srv.locations["/"] = _Backend(ing.Namespace, ing.DefaultBackend)
    return default, [hosts[h] for h in sorted(hosts)]


def render(view: KubeNetView, root: Path, *, ports: tuple[int, int] = (HTTP_PORT, HTTPS_PORT),
           address: str = "") -> Rendered:
    """nginx's configuration for the view's Ingresses (see the module's docstring), its files under
    ``root``; listening on ``ports`` (HTTP, HTTPS) of every address (``address``: of that one alone)."""
    at = f"{address}:" if address else ""
    http, https = f"{at}{ports[0]}", f"{at}{ports[1]}"
    default, servers = _servers(view)
    files: dict[str, str] = {}
    upstreams: dict[str, list[str]] = {}

    def target(b: _Backend) -> str:
        name = _upstream_name(b.namespace, b.path)
        if name not in upstreams:
            upstreams[name] = upstream_servers(view, b.namespace, b.path)
        return name

    def locations(srv: _Server) -> list[str]:
        out = []
        for key in sorted(srv.locations, key=lambda k: (k == "/", k)):
            name = target(srv.locations[key])
            exact = key.startswith("= ")
            where = f"= {quote(key[2:])}" if exact else quote(key)
            body = f"proxy_pass http://{name};" if upstreams[name] else "return 503;"
            out.append(f"        location {where} {{ {body} }}")
        if "/" not in srv.locations:
            out.append("        location / { return 404; }")
        return out

    lines = [
        "# made by shoal from the Kubernetes Ingresses (network/kubeingress.py): do not edit",
        "daemon off;",
        "master_process on;",
        "worker_processes 1;",
        f"worker_shutdown_timeout {WORKER_SHUTDOWN}s;",
        f"pid {quote(str(root / 'nginx.pid'))};",
        f"error_log {quote(str(root / 'error.log'))} warn;",
        "events { worker_connections 1024; }",
        "http {",
        "    access_log off;",
        "    server_tokens off;",
        "    server_names_hash_bucket_size 128;",
        "    map_hash_bucket_size 128;",
        *(f"    {kind}_temp_path {quote(str(root / 'tmp' / kind))};"
          for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")),
        "    map $http_upgrade $connection_upgrade { default upgrade; '' close; }",
        "    proxy_http_version 1.1;",
        "    proxy_set_header Host $host;",
        "    proxy_set_header X-Real-IP $remote_addr;",
        "    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "    proxy_set_header X-Forwarded-Proto $scheme;",
        "    proxy_set_header X-Forwarded-Host $host;",
        "    proxy_set_header Upgrade $http_upgrade;",
        "    proxy_set_header Connection $connection_upgrade;",
        "    proxy_connect_timeout 5s;",
        # The workers (nobody) cannot reach temporary files under the daemon's root-only directories:
        # request and response bodies stream through memory instead.
        "    proxy_request_buffering off;",
        "    proxy_max_temp_file_size 0;",
        "    client_max_body_size 0;",
        "    proxy_next_upstream error timeout;",
    ]
    body: list[str] = []
    body += ["    server {",
             f"        listen {http} default_server;",
             f"        listen {https} ssl default_server;",
             "        ssl_reject_handshake on;",
             "        server_name _;",
             *locations(default),
             "    }"]
    for srv in servers:
        body += ["    server {", f"        listen {http};"]
        if srv.cert is not None:
            digest = hashlib.sha256((srv.cert[0] + srv.cert[1]).encode()).hexdigest()[:16]
            crt, key = f"tls/{digest}.crt", f"tls/{digest}.key"
            files[crt], files[key] = srv.cert
            body += [f"        listen {https} ssl;",
                     f"        ssl_certificate {quote(str(root / crt))};",
                     f"        ssl_certificate_key {quote(str(root / key))};"]
        body += [f"        server_name {server_name(srv.host)};", *locations(srv), "    }"]
    for name in sorted(upstreams):
        servers_ = upstreams[name]
        if servers_:
            lines += [f"    upstream {name} {{", *(f"        server {s} max_fails=0;" for s in servers_), "    }"]
    lines += body
    lines.append("}")
    return Rendered(conf="\n".join(lines) + "\n", files=files)


# ---------------------------------------------------------------- the process


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (an nginx master's workers)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return set()
    return {int(x) for x in text.split()}


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class IngressProxy:
    """One node daemon's nginx (see the module's docstring)."""

    def __init__(self, exec_root: Path, nginx: str = NGINX, *, ports: tuple[int, int] = (HTTP_PORT, HTTPS_PORT),
                 address: str = "") -> None:
        self.root = Path(exec_root) / "ingress"
        self.nginx = nginx
        self.ports, self.address = ports, address  # (tests: loopback and ports of their own)
        self.conf_path = self.root / "nginx.conf"
        self.pid_path = self.root / "nginx.pid"
        self.proc: asyncio.subprocess.Process | None = None
        self.conf = ""  # the configuration nginx runs with
        self._lock = asyncio.Lock()
        self._reloading: asyncio.Task[None] | None = None  # waits for the old workers after a reload
        self._old_workers: set[int] = set()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def apply(self, view: KubeNetView) -> None:
        """Make nginx serve the view's Ingresses (start, reload or stop it)."""
        async with self._lock:
            if not view.Ingresses:
                await self._stop()
                return
            rendered = render(view, self.root, ports=self.ports, address=self.address)
            if rendered.conf == self.conf and self.running:
                return
            await asyncio.to_thread(self._write_files, rendered)
            candidate = self.root / "nginx.conf.new"
            await asyncio.to_thread(self._write, candidate, rendered.conf, 0o600)
            ok, out = await self._run("-t", "-c", str(candidate))
            if not ok:
                log.error("ingress: the new nginx configuration is refused, keeping the old one: %s", out.strip())
                candidate.unlink(missing_ok=True)
                return
            candidate.replace(self.conf_path)
            if self.running:
                assert self.proc is not None
                await self._reload(self.proc.pid)
            else:
                await self._start()
            self.conf = rendered.conf
            await asyncio.to_thread(self._prune, rendered)

    async def stop(self) -> None:
        """Stop nginx (the daemon stops or leaves)."""
        async with self._lock:
            await self._stop()

    async def cleanup(self) -> None:
        """At the daemon's start: an nginx a previous run of the daemon left (killed) is stopped."""
        async with self._lock:
            pid = self._pid_file()
            if pid and _alive(pid) and str(self.conf_path) in _cmdline(pid):
                log.info("ingress: stopping the nginx a previous run left (pid %d)", pid)
                await self._kill(pid)
            self.pid_path.unlink(missing_ok=True)

    # ------------------------------------------------------------ helpers

    def _pid_file(self) -> int:
        try:
            text = self.pid_path.read_text().strip()
        except OSError:
            return 0
        return int(text) if text.isdigit() else 0

    @staticmethod
    def _write(path: Path, content: str, mode: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as f:
            f.write(content)
        os.chmod(tmp, mode)
        tmp.replace(path)

    def _write_files(self, rendered: Rendered) -> None:
        (self.root / "tmp").mkdir(parents=True, exist_ok=True, mode=0o700)
        for name, content in rendered.files.items():
            path = self.root / name
            if not path.exists() or path.read_text() != content:
                self._write(path, content, 0o600)

    def _prune(self, rendered: Rendered) -> None:
        """TLS files no configuration names any more."""
        tls = self.root / "tls"
        if tls.is_dir():
            for p in tls.iterdir():
                if f"tls/{p.name}" not in rendered.files:
                    p.unlink(missing_ok=True)

    def _argv(self, *args: str) -> list[str]:
        return [self.nginx, "-p", f"{self.root}/", "-e", str(self.root / "error.log"), *args]

    async def _run(self, *args: str) -> tuple[bool, str]:
        proc = await asyncio.create_subprocess_exec(*self._argv(*args), stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        return proc.returncode == 0, out.decode(errors="replace")

    async def _start(self) -> None:
        self.pid_path.unlink(missing_ok=True)
        self.proc = await asyncio.create_subprocess_exec(
            *self._argv("-c", str(self.conf_path)), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while self._pid_file() != self.proc.pid:
            if self.proc.returncode is not None or time.monotonic() > deadline:
                log.error("ingress: nginx did not start (exit %s): %s", self.proc.returncode, self._log_tail())
                if self.proc.returncode is None:
                    await self._kill(self.proc.pid, self.proc)
                self.proc = None
                self.conf = ""
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.proc.wait()), 0.02)
        log.info("ingress: nginx started (pid %d)", self.proc.pid)

    async def settled(self) -> None:
        """Once the workers of the configurations before the last reload have gone (they finish their
        requests first, ``WORKER_SHUTDOWN`` at most): from then on every connection sees the last one."""
        if self._reloading is not None:
            await asyncio.shield(self._reloading)

    async def _reload(self, pid: int) -> None:
        """SIGHUP to the master; the old workers are waited for in the background (``settled``), so a
        long-lived connection holds up no other consumer of the view."""
        pending = self._reloading is not None and not self._reloading.done()
        old = _children(pid) | (self._old_workers if pending else set())
        os.kill(pid, signal.SIGHUP)
        self._old_workers = old
        self._reloading = asyncio.create_task(self._wait_workers(pid, old))

    @staticmethod
    async def _wait_workers(pid: int, old: set[int]) -> None:
        deadline = time.monotonic() + WORKER_SHUTDOWN + 5
        while old & _children(pid) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    def _log_tail(self) -> str:
        try:
            return " | ".join((self.root / "error.log").read_text(errors="replace").splitlines()[-3:])
        except OSError:
            return ""

    async def _stop(self) -> None:
        if self._reloading is not None:
            self._reloading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reloading
            self._reloading = None
        if self.proc is not None:
            if self.proc.returncode is None:
                await self._kill(self.proc.pid, self.proc)
            self.proc = None
            log.info("ingress: nginx stopped")
        self.conf = ""
        self.pid_path.unlink(missing_ok=True)

    async def _kill(self, pid: int, proc: asyncio.subprocess.Process | None = None) -> None:
        """SIGQUIT (graceful), SIGKILL after ``STOP_GRACE``; waits for it to be gone."""
        for sig, grace in ((signal.SIGQUIT, STOP_GRACE), (signal.SIGKILL, STOP_GRACE)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            if proc is not None:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(proc.wait(), grace)
                if proc.returncode is not None:
                    return
            else:
                deadline = time.monotonic() + grace
                while _alive(pid) and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
                if not _alive(pid):
                    return
