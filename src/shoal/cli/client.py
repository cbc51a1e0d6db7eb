"""A small synchronous client of the Docker Engine API (v1.47), over a unix socket or TCP.

The ``shoal`` client commands speak the same API as the docker CLI, through this: JSON in and out,
Docker's ``{"message": …}`` errors shown as ``Error response from daemon: <message>``, the
multiplexed log stream (8-byte frame headers) and the JSON-lines progress stream.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import IO, Any
from urllib.parse import quote, urlencode

import click

API_VERSION = "1.47"
DEFAULT_HOST = "unix:///run/shoal/shoal.sock"
USER_AGENT = "shoal-cli/" + API_VERSION

Params = Mapping[str, Any] | Sequence[tuple[str, Any]] | None


class DockerError(click.ClickException):
    """An error shown as the docker CLI shows it: the bare message on stderr, exit status 1."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(self.format_message(), err=True)


class APIError(DockerError):
    """The daemon answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"Error response from daemon: {message}")
        self.status = status
        self.raw_message = message


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None = None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if self.timeout is not None:
            sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


def resolve_host(host: str | None) -> str:
    """``-H``, else ``$DOCKER_HOST``, else shoal's default socket."""
    return host or os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def _encode_params(params: Params) -> str:
    if not params:
        return ""
    items = list(params.items()) if isinstance(params, Mapping) else list(params)
    pairs: list[tuple[str, str]] = []
    for k, v in items:
        if v is None:
            continue
        if isinstance(v, bool):
            v = "1" if v else "0"
        if isinstance(v, list | tuple):
            pairs.extend((k, str(x)) for x in v)
        else:
            pairs.append((k, str(v)))
    return urlencode(pairs)


def filters_param(filters: Mapping[str, Sequence[str]]) -> str:
    """Docker's ``filters`` query value: ``{"key": {"value": true}}``."""
    return json.dumps({k: {v: True for v in vs} for k, vs in filters.items() if vs}, separators=(",", ":"))


def kv_map(items: Sequence[str]) -> dict[str, str]:
    """``opts.ConvertKVStringsToMap``: "k=v" → k: v, "k" → k: "" (labels, options)."""
    out: dict[str, str] = {}
    for item in items:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def parse_filter_flags(values: Sequence[str]) -> dict[str, list[str]]:
    """``-f key=value`` flags, as ``opts.FilterOpt`` reads them."""
    out: dict[str, list[str]] = {}
    for v in values:
        if "=" not in v:
            raise DockerError(f'invalid argument "{v}" for "-f, --filter" flag: bad format of filter '
                              "(expected name=value)")
        k, _, val = v.partition("=")
        out.setdefault(k.strip().lower(), []).append(val.strip())
    return out


class Client:
    """One daemon, one connection per request (as simple as the CLI needs)."""

    def __init__(self, host: str | None = None, version: str = API_VERSION, timeout: float | None = None) -> None:
        self.host = resolve_host(host)
        self.version = version
        self.timeout = timeout
        if self.host.startswith("unix://"):
            self._unix: str | None = self.host[len("unix://"):]
            self._tcp: tuple[str, int] | None = None
        elif self.host.startswith("tcp://") or self.host.startswith("http://"):
            hostport = self.host.split("://", 1)[1].rstrip("/")
            h, _, p = hostport.rpartition(":")
            if not h:
                h, p = hostport, "2375"
            self._unix = None
            self._tcp = (h.strip("[]") or "127.0.0.1", int(p or 2375))
        else:
            raise DockerError(f"unable to parse docker host `{self.host}`")

    # ------------------------------------------------------------ plumbing

    def _connection(self, timeout: float | None) -> http.client.HTTPConnection:
        if self._unix is not None:
            return UnixHTTPConnection(self._unix, timeout=timeout)
        assert self._tcp is not None
        return http.client.HTTPConnection(self._tcp[0], self._tcp[1], timeout=timeout)

    def url(self, path: str, params: Params = None) -> str:
        q = _encode_params(params)
        return f"/v{self.version}{path}" + (f"?{q}" if q else "")

    def open(self, method: str, path: str, params: Params = None, body: Any = None,
             headers: Mapping[str, str] | None = None, raw_body: bytes | IO[bytes] | None = None,
             timeout: float | None = None) -> http.client.HTTPResponse:
        """Send a request and return the response, raising :class:`APIError` on an error status."""
        hdrs = {"User-Agent": USER_AGENT, **(headers or {})}
        data: bytes | IO[bytes] | None = raw_body
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        elif raw_body is not None:
            hdrs.setdefault("Content-Type", "application/x-tar")
            if not isinstance(raw_body, bytes | bytearray):
                hdrs["Transfer-Encoding"] = "chunked"
        conn = self._connection(self.timeout if timeout is None else timeout)
        try:
            if data is not None and not isinstance(data, bytes | bytearray):
                conn.request(method, self.url(path, params), body=_chunks(data), headers=hdrs,
                             encode_chunked=True)
            else:
                conn.request(method, self.url(path, params), body=data, headers=hdrs)
            resp = conn.getresponse()
        except (FileNotFoundError, ConnectionRefusedError, PermissionError, socket.gaierror) as e:
            conn.close()
            if isinstance(e, PermissionError):
                raise DockerError(
                    f"permission denied while trying to connect to the Docker daemon socket at {self.host}: "
                    f"{e.strerror}") from e
            raise DockerError(f"Cannot connect to the Docker daemon at {self.host}. Is the docker daemon running?"
                              ) from e
        except (ConnectionError, http.client.HTTPException, OSError) as e:
            conn.close()
            raise DockerError(f"error during connect: {method} {self.url(path, params)}: {e}") from e
        if resp.status >= 400:
            payload = resp.read()
            conn.close()
            raise APIError(resp.status, _error_message(resp.status, payload))
        return resp

    def request(self, method: str, path: str, params: Params = None, body: Any = None,
                raw_body: bytes | IO[bytes] | None = None, headers: Mapping[str, str] | None = None) -> bytes:
        resp = self.open(method, path, params, body=body, raw_body=raw_body, headers=headers)
        try:
            return resp.read()
        finally:
            resp.close()

    def get_raw(self, path: str, params: Params = None) -> bytes:
        return self.request("GET", path, params)

    def get(self, path: str, params: Params = None) -> Any:
        return _json(self.get_raw(path, params))

    def post(self, path: str, params: Params = None, body: Any = None) -> Any:
        return _json(self.request("POST", path, params, body=body))

    def delete(self, path: str, params: Params = None) -> Any:
        return _json(self.request("DELETE", path, params))

    # ------------------------------------------------------------ streams

    def json_stream(self, resp: http.client.HTTPResponse) -> Iterator[dict[str, Any]]:
        """The JSON-lines progress stream of ``/images/create`` and ``/images/load``."""
        buf = b""
        try:
            while True:
                chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
                if not chunk:
                    break
                buf += chunk
                while True:
                    line, sep, rest = buf.partition(b"\n")
                    if not sep:
                        break
                    buf = rest
                    if line.strip():
                        yield json.loads(line)
            if buf.strip():
                for part in buf.split(b"\r\n"):
                    if part.strip():
                        yield json.loads(part)
        finally:
            resp.close()

    @staticmethod
    def frames(resp: http.client.HTTPResponse, tty: bool = False) -> Iterator[tuple[int, bytes]]:
        """Demultiplex Docker's log stream: (stream, payload) with stream 1 stdout, 2 stderr, 3 error."""
        try:
            if tty:
                while True:
                    chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
                    if not chunk:
                        return
                    yield 1, chunk
            while True:
                header = _read_exact(resp, 8)
                if len(header) < 8:
                    return
                stream, size = struct.unpack(">BxxxL", header)
                payload = _read_exact(resp, size)
                yield stream, payload
                if len(payload) < size:
                    return
        finally:
            resp.close()

    # ------------------------------------------------------------ helpers for commands

    def info(self) -> dict[str, Any]:
        r: dict[str, Any] = self.get("/info")
        return r

    def self_node_id(self) -> str:
        return str((self.info().get("Swarm") or {}).get("NodeID", ""))


def _chunks(f: IO[bytes]) -> Iterator[bytes]:
    while True:
        chunk = f.read(1 << 20)
        if not chunk:
            return
        yield chunk


def _read_exact(resp: http.client.HTTPResponse, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = resp.read(n - len(out))
        if not chunk:
            break
        out += chunk
    return out


def _json(raw: bytes) -> Any:
    if not raw.strip():
        return None
    return json.loads(raw)


def _error_message(status: int, payload: bytes) -> str:
    text = payload.decode(errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text or http.client.responses.get(status, f"status {status}")
    if isinstance(data, dict) and "message" in data:
        return str(data["message"]).strip()
    return text


def path_ref(ref: str) -> str:
    """An object reference in a URL path (names of images may hold ``/`` and ``:``)."""
    return quote(ref, safe="/:@")


class Resolver:
    """docker's ``idresolver``: service and node IDs to names, each looked up once."""

    def __init__(self, client: Client, no_resolve: bool = False) -> None:
        self.client = client
        self.no_resolve = no_resolve
        self.cache: dict[tuple[str, str], str] = {}

    def node(self, node_id: str) -> str:
        if self.no_resolve or not node_id:
            return node_id
        key = ("node", node_id)
        if key not in self.cache:
            try:
                n = self.client.get(f"/nodes/{path_ref(node_id)}")
            except DockerError:
                self.cache[key] = node_id
            else:
                self.cache[key] = ((n.get("Spec") or {}).get("Name") or (n.get("Description") or {}).get("Hostname")
                                   or node_id)
        return self.cache[key]

    def service(self, service_id: str) -> str:
        if self.no_resolve or not service_id:
            return service_id
        key = ("service", service_id)
        if key not in self.cache:
            try:
                s = self.client.get(f"/services/{path_ref(service_id)}")
            except DockerError:
                self.cache[key] = service_id
            else:
                self.cache[key] = (s.get("Spec") or {}).get("Name") or service_id
        return self.cache[key]


def client_of(ctx: click.Context | None = None) -> Client:
    """The client for this invocation: ``-H`` on the ``shoal`` group, ``$DOCKER_HOST``, or the default."""
    root = (ctx or click.get_current_context()).find_root()
    host = (root.obj or {}).get("host") if isinstance(root.obj, dict) else None
    return Client(host)


def emit_inspect(compact: list[str], fmt: str, indented: Callable[[], str], errs: list[str]) -> None:
    """Print ``inspect`` results as docker does: indented JSON by default, ``--format json`` as one
    array, ``--format '{{json .}}'`` one object a line; then the errors of refs that were not found."""
    if fmt == "json":
        click.echo("[" + ",".join(compact) + "]")
    elif fmt == "{{json .}}":
        for line in compact:
            click.echo(line)
    elif fmt:
        raise DockerError("only --format json and --format '{{json .}}' are supported")
    else:
        click.echo(indented(), nl=False)
    if errs:
        raise DockerError("\n".join(errs))
