"""Pulling images from an OCI / Docker registry (Registry API v2) into the node's image store.

What flows in: a ``Reference`` (``reference.py``), the credentials that came with the request or the
service (``X-Registry-Auth``: base64url JSON ``{username, password, serveraddress}``, as the docker
CLI sends them), and the ``ImageStore``. What flows out: an image in the store, named by its tag and
its repository digest, and Docker's JSON progress messages for ``docker pull``.

A pull, as dockerd does it::

    GET /v2/                              which scheme answers (below); 401 is fine here
    GET /v2/<name>/manifests/<tag|digest> Accept: OCI index, Docker manifest list, OCI manifest, schema2
        401 + WWW-Authenticate: Bearer realm=…,service=…,scope=…  → GET realm?service=&scope= (Basic
        credentials) → {"token"} → retry with "Authorization: Bearer …";  Basic realm=… → retry with Basic
    an index / manifest list → the entry for linux/<go arch> → GET …/manifests/<its digest>
    GET /v2/<name>/blobs/<config digest>  the image config (its sha256 is the image ID)
    GET /v2/<name>/blobs/<layer digest>   each layer the store does not hold yet (by diff ID), 3 at a time

Every manifest, config and layer is checked against its digest before it is used (Docker's words when
not: ``manifest verification failed for digest …``, ``image config verification failed for digest …``,
``filesystem layer verification failed for digest …``), and every unpacked layer against the config's
diff IDs (``layers from manifest don't match image configuration``). Layers are stored by the image
store, unpacked once and shared by every image that has them.

Transport: HTTPS; registries on loopback (``localhost``, ``127.0.0.0/8``, ``::1``) and those given as
``--insecure-registry`` are tried over HTTPS without verification, then plain HTTP, as Docker does.
``--block-registry`` names registries this node never contacts (``all``: every one not on loopback) —
the tests use it so that no name outside the machine is ever resolved.

``Puller`` is the agent's side: it pulls a task's image when the node does not have it (one pull per
reference at a time, shared by the tasks waiting for it, in a task of its own so that a task shut down
while it waits does not cancel the others' pull).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import errno
import functools
import hashlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast
from urllib.parse import urlencode, urljoin, urlsplit

import aiohttp

from shoal import metrics
from shoal.api.errors import Code, InvalidArgument, ShoalError
from shoal.runtime import progress as prog
from shoal.runtime import reference
from shoal.runtime.images import ImageStore, go_arch
from shoal.runtime.progress import progress_bar as progress_bar  # where the tests and callers found it
from shoal.runtime.reference import Reference

log = logging.getLogger(__name__)

MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = (MT_OCI_INDEX, MT_DOCKER_LIST)
MANIFEST_TYPES = (MT_OCI_MANIFEST, MT_DOCKER_MANIFEST)
ACCEPT = ", ".join((MT_OCI_INDEX, MT_DOCKER_LIST, MT_OCI_MANIFEST, MT_DOCKER_MANIFEST))
LAYER_TYPES = (
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
)
MAX_MANIFEST = 4 << 20  # Docker's limits for what is read into memory
MAX_CONFIG = 8 << 20
CONCURRENT_DOWNLOADS = 3  # dockerd's default --max-concurrent-downloads
MAX_REDIRECTS = 10  # Go's http.Client
ROOTFS_MISMATCH = "layers from manifest don't match image configuration"

Progress = Callable[[dict[str, Any]], Awaitable[None]]
_TRANSPORT = (TimeoutError, aiohttp.ClientError, OSError)  # the registry could not be reached or dropped us


class RegistryError(ShoalError):
    """A pull, an inspect or a login failed; ``status`` is what dockerd would answer."""

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.status = status
        self.code = _CODE_OF_STATUS.get(status, Code.UNKNOWN)


_CODE_OF_STATUS = {400: Code.INVALID_ARGUMENT, 401: Code.UNAUTHENTICATED, 403: Code.PERMISSION_DENIED,
                   404: Code.NOT_FOUND}


# ---------------------------------------------------------------- credentials and challenges


@dataclass
class AuthConfig:
    """Docker's ``registry.AuthConfig`` (the JSON inside ``X-Registry-Auth`` and ``POST /auth``)."""

    username: str = ""
    password: str = ""
    serveraddress: str = ""
    identitytoken: str = ""
    registrytoken: str = ""

    @classmethod
    def from_json(cls, data: Any) -> AuthConfig:
        if not isinstance(data, dict):
            return cls()
        lower = {str(k).lower(): v for k, v in data.items() if isinstance(v, str)}
        out = cls(**{k: lower.get(k, "") for k in ("username", "password", "serveraddress", "identitytoken",
                                                     "registrytoken")})
        if not out.username and lower.get("auth"):  # "auth": base64("user:pass"), as config.json holds it
            with contextlib.suppress(binascii.Error, UnicodeDecodeError, ValueError):
                out.username, _, out.password = base64.b64decode(lower["auth"]).decode().partition(":")
        return out

    @classmethod
    def decode(cls, header: str) -> AuthConfig:
        """``X-Registry-Auth``: base64url (Docker's encoding; standard base64 accepted) of the JSON. An
        invalid value counts as no credentials, as dockerd only logs it."""
        header = header.strip()
        if not header:
            return cls()
        try:
            raw = base64.urlsafe_b64decode(header.replace("+", "-").replace("/", "_") + "=" * (-len(header) % 4))
            return cls.from_json(json.loads(raw))
        except (binascii.Error, ValueError):
            log.warning("invalid X-Registry-Auth header: ignored")
            return cls()

    def encode(self) -> str:
        data = {k: v for k, v in vars(self).items() if v}
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()

    def basic(self) -> str:
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_PARAM = re.compile(r"""([!#$%&'*+\-.^_`|~0-9A-Za-z]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)""")


def parse_challenges(header: str) -> list[tuple[str, dict[str, str]]]:
    """``WWW-Authenticate`` → ``[("bearer", {"realm": …, "service": …, "scope": …}), ("basic", {…})]``
    (schemes lower-cased; quoted values unescaped; several challenges in one header)."""
    out: list[tuple[str, dict[str, str]]] = []
    i, n = 0, len(header)
    while i < n:
        while i < n and header[i] in " \t,":
            i += 1
        m = _TOKEN.match(header, i)
        if m is None:
            break
        scheme, i = m.group(0).lower(), m.end()
        params: dict[str, str] = {}
        while i < n:
            while i < n and header[i] in " \t,":
                i += 1
            p = _PARAM.match(header, i)
            if p is None:
                break  # the next challenge's scheme
            value = p.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            params[p.group(1).lower()] = value
            i = p.end()
        out.append((scheme, params))
    return out


def _errors_text(body: bytes, status: int, reason: str) -> tuple[str, str]:
    """A registry's error body → (first code, Docker's text ``manifest unknown: manifest unknown``)."""
    with contextlib.suppress(ValueError, AttributeError, TypeError, IndexError, KeyError):
        errs = json.loads(body)["errors"]
        first = errs[0]
        code = str(first.get("code", ""))
        return code, f"{code.lower().replace('_', ' ')}: {first.get('message', '')}"
    return "", f"received unexpected HTTP status: {status} {reason}"


# ---------------------------------------------------------------- digests and manifests


def _hasher(digest: str) -> Any:
    alg, _, hexpart = digest.partition(":")
    if alg not in ("sha256", "sha512") or not hexpart:
        raise RegistryError(f"unsupported digest algorithm: {digest}", 400)
    return hashlib.new(alg)


def verify(digest: str, data: bytes) -> bool:
    h = _hasher(digest)
    h.update(data)
    return digest == f"{digest.partition(':')[0]}:{h.hexdigest()}"


def _norm_arch(arch: str) -> str:
    return {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm", "armel": "arm"}.get(arch, arch)


def select_platform(index: dict[str, Any], os_: str = "linux", arch: str = "") -> dict[str, Any]:
    """The index entry for this node's platform (Docker's words when there is none)."""
    arch = _norm_arch(arch or go_arch())
    matches = [m for m in index.get("manifests") or []
               if (m.get("platform") or {}).get("os") == os_
               and _norm_arch((m.get("platform") or {}).get("architecture", "")) == arch]
    if not matches:
        raise RegistryError(f"no matching manifest for {os_}/{arch} in the manifest list entries", 404)
    plain = [m for m in matches if not (m.get("platform") or {}).get("variant")]
    return (plain or matches)[0]


def platforms_of(index: dict[str, Any]) -> list[dict[str, Any]]:
    """``/distribution``'s ``Platforms`` for an index (OCI ``Platform`` JSON names)."""
    out = []
    for m in index.get("manifests") or []:
        p = m.get("platform") or {}
        out.append(_platform(p))
    return out


def _platform(p: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"architecture": p.get("architecture", ""), "os": p.get("os", "")}
    for k in ("os.version", "os.features", "variant"):
        if p.get(k):
            out[k] = p[k]
    return out


@dataclass
class Fetched:
    media_type: str
    body: bytes
    digest: str

    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body)
        except ValueError as e:
            raise RegistryError(f"invalid manifest {self.digest}: {e}") from e
        if not isinstance(data, dict):
            raise RegistryError(f"invalid manifest {self.digest}")
        return data


@dataclass
class Pulled:
    image_id: str
    digest: str  # of what the reference named (the index when it was one)
    up_to_date: bool


# ---------------------------------------------------------------- the client


class RegistryClient:
    """One per node: an HTTP session, which scheme each registry answers on, and the policy of which
    registries may be contacted at all."""

    def __init__(self, blocked: Iterable[str] = (), insecure: Iterable[str] = (),
                 clock: prog.Clock = time.monotonic) -> None:
        self.clock = clock  # paces the progress messages (dockerd's: at most one every 100 ms a layer)
        self.blocked = {b.strip().lower() for b in blocked if b.strip()}
        self.insecure = {i.strip().lower() for i in insecure if i.strip()}
        self._session: aiohttp.ClientSession | None = None
        self._bases: dict[str, tuple[str, bool]] = {}  # host → (base URL, verify TLS)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=15, sock_read=60), trust_env=False)
        return self._session

    def is_blocked(self, host: str) -> bool:
        h = host.lower()
        if h in self.blocked or (h == reference.HUB_HOST and reference.DEFAULT_DOMAIN in self.blocked):
            return True
        return "all" in self.blocked and not reference.is_loopback(h)

    def is_insecure(self, host: str) -> bool:
        """May be reached over plain HTTP or unverified TLS: loopback, or ``--insecure-registry``."""
        return reference.is_loopback(host) or host.lower() in self.insecure

    def check(self, url: str) -> None:
        """Refuse a URL on a blocked registry (before anything is resolved)."""
        host = urlsplit(url).netloc
        if self.is_blocked(host):
            raise RegistryError(f'Get "{url}": registry {host} is blocked on this node (--block-registry)')

    async def endpoint(self, host: str) -> tuple[str, bool]:
        """``(base URL, verify TLS)`` of the registry at ``host``: the first scheme whose ``/v2/``
        answers at all (HTTPS, then plain HTTP for insecure registries)."""
        cached = self._bases.get(host)
        if cached is not None:
            return cached
        insecure = self.is_insecure(host)
        candidates = [(f"https://{host}", not insecure)] + ([(f"http://{host}", False)] if insecure else [])
        last: Exception | None = None
        for base, verify_tls in candidates:
            url = base + "/v2/"
            self.check(url)
            try:
                async with self.session().get(url, ssl=verify_tls) as resp:
                    await resp.read()
                self._bases[host] = (base, verify_tls)
                return base, verify_tls
            except _TRANSPORT as e:
                last = e
        raise RegistryError(f'Get "{candidates[0][0]}/v2/": {_transport_error(host, last)}')

    async def authorize(self, challenge: str, auth: AuthConfig, scope: str) -> str:
        """The ``Authorization`` value that answers a 401's challenge, or ``""`` when there is none to give."""
        challenges = parse_challenges(challenge)
        for scheme, params in challenges:
            if scheme == "bearer":
                return "Bearer " + await self.token(params, auth, scope)
        for scheme, _params in challenges:
            if scheme == "basic" and auth.username:
                return auth.basic()
        return ""

    async def token(self, params: dict[str, str], auth: AuthConfig, scope: str) -> str:
        """The token flow: ``GET realm?service=…&scope=…`` with Basic credentials (or the refresh-token
        grant when the CLI holds an identity token)."""
        if auth.registrytoken:
            return auth.registrytoken
        realm = params.get("realm", "")
        if not realm:
            raise RegistryError("bearer auth challenge has no realm")
        query = {k: v for k, v in (("service", params.get("service", "")), ("scope", scope)) if v}
        url = realm + ("&" if "?" in realm else "?") + urlencode(query) if query else realm
        self.check(url)
        s = self.session()
        try:
            if auth.identitytoken:
                form = {"grant_type": "refresh_token", "refresh_token": auth.identitytoken, "client_id": "docker",
                        **query}
                req = s.post(realm, data=form, ssl=_ssl_for(realm, self))
            else:
                headers = {"Authorization": auth.basic()} if auth.username else {}
                req = s.get(url, headers=headers, ssl=_ssl_for(realm, self))
            async with req as resp:
                body = await resp.read()
                if resp.status != 200:
                    _code, text = _errors_text(body, resp.status, resp.reason or "")
                    raise RegistryError(f'Get "{url}": {text}', 401 if resp.status == 401 else 500)
        except _TRANSPORT as e:
            raise RegistryError(f'Get "{url}": {_transport_error(urlsplit(url).netloc, e)}') from e
        try:
            data = json.loads(body)
            tok = data.get("token") or data.get("access_token")
        except (ValueError, AttributeError):
            tok = None
        if not isinstance(tok, str) or not tok:
            raise RegistryError(f'Get "{url}": the token server answered no token')
        return tok

    # ------------------------------------------------------------ operations

    async def login(self, auth: AuthConfig) -> None:
        """``POST /auth``: do these credentials open the registry's ``/v2/``?"""
        host = _login_host(auth.serveraddress)
        base, verify_tls = await self.endpoint(host)
        url = base + "/v2/"
        s = self.session()
        try:
            async with s.get(url, ssl=verify_tls) as resp:
                status, reason, challenge = resp.status, resp.reason, resp.headers.get("WWW-Authenticate", "")
            if status == 401:
                try:
                    authz = await self.authorize(challenge, auth, "")
                except RegistryError as e:
                    if e.status != 401:
                        raise
                    authz = ""
                if authz:
                    async with s.get(url, headers={"Authorization": authz}, ssl=verify_tls) as r2:
                        status, reason = r2.status, r2.reason
        except _TRANSPORT as e:
            raise RegistryError(f'Get "{url}": {_transport_error(host, e)}') from e
        if status != 200:
            raise RegistryError(f"login attempt to {url} failed with status: {status} {reason}", 401)

    async def inspect(self, ref: Reference, auth: AuthConfig) -> dict[str, Any]:
        """``GET /distribution/{name}/json``: the descriptor the reference names and its platforms."""
        ref = ref.tagged()
        repo = _Repo(self, ref, auth)
        top = await repo.manifest(ref.ref)
        data = top.json()
        if top.media_type in INDEX_TYPES:
            platforms = platforms_of(data)
        else:
            cfg_desc = data.get("config") or {}
            cfg = json.loads(await repo.blob_bytes(cfg_desc, MAX_CONFIG, "image config"))
            platforms = [_platform(cfg)] if cfg.get("os") or cfg.get("architecture") else []
        return {"Descriptor": {"mediaType": top.media_type, "digest": top.digest, "size": len(top.body)},
                "Platforms": platforms}

    async def pull(self, ref: Reference, auth: AuthConfig, store: ImageStore,
                   progress: Progress | None = None) -> Pulled:
        """Pull into the store; tag it (when pulled by tag) and record its repository digest."""
        with metrics.pull_timer():
            return await self._pull(ref, auth, store, progress)

    async def _pull(self, ref: Reference, auth: AuthConfig, store: ImageStore, progress: Progress | None) -> Pulled:
        ref = ref.tagged()
        emit = progress or _quiet
        repo = _Repo(self, ref, auth)
        top = await repo.manifest(ref.ref)
        data = top.json()
        chosen = top
        if top.media_type in INDEX_TYPES:
            chosen = await repo.manifest(select_platform(data)["digest"])
            data = chosen.json()
        if chosen.media_type not in MANIFEST_TYPES:
            raise RegistryError(f"unsupported manifest media type {chosen.media_type or 'unknown'}")
        await emit({"status": f"Pulling from {ref.path}", "id": ref.digest or ref.tag})  # "library/busybox"
        cfg_desc = data.get("config") or {}
        layers = data.get("layers") or []
        for layer in layers:
            if layer.get("mediaType", LAYER_TYPES[0]) not in LAYER_TYPES:
                raise RegistryError(f"unsupported layer media type {layer.get('mediaType')}")
        before = store.resolve(ref.familiar())
        image_id = cfg_desc.get("digest", "")
        existing = store.get_by_id(image_id) if image_id.startswith("sha256:") else None
        if existing is None or not all(store.has_layer(d) for d in existing.diff_ids):
            raw = await repo.blob_bytes(cfg_desc, MAX_CONFIG, "image config")
            config = json.loads(raw)
            if config.get("os", "linux") != "linux":
                raise RegistryError(f'image operating system "{config.get("os")}" cannot be used on this platform')
            diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
            if len(diff_ids) != len(layers):
                raise RegistryError(ROOTFS_MISMATCH)
            # dockerd's order: each layer is announced, then downloaded (three at a time, the others
            # "Waiting") and extracted bottom first, each once the one below it is in.
            fresh = []
            for desc, diff_id in zip(layers, diff_ids, strict=True):
                short = _short(desc)
                if store.has_layer(diff_id):
                    await emit(prog.status(short, "Already exists"))
                else:
                    await emit(prog.status(short, "Pulling fs layer"))
                    fresh.append((desc, diff_id))
            sem = asyncio.Semaphore(CONCURRENT_DOWNLOADS)
            below: asyncio.Future[None] | None = None
            downloads = []
            for desc, diff_id in fresh:
                done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                downloads.append(asyncio.ensure_future(self._layer(repo, store, desc, diff_id, sem, emit, below, done)))
                below = done
            try:
                await asyncio.gather(*downloads)
            except BaseException:  # one failed (or the pull was cancelled): stop the others, then say why
                for t in downloads:
                    t.cancel()
                await asyncio.gather(*downloads, return_exceptions=True)
                raise
            image_id = await asyncio.to_thread(store.add_config, raw)
        digest_ref = f"{ref.familiar_name}@{top.digest}"
        await asyncio.to_thread(store.name_image, image_id, "" if ref.digest else ref.familiar(), digest_ref)
        await emit({"status": f"Digest: {top.digest}"})
        up_to_date = before is not None and before.id == image_id
        await emit({"status": f"Status: {'Image is up to date' if up_to_date else 'Downloaded newer image'} "
                              f"for {ref.familiar()}"})
        return Pulled(image_id, top.digest, up_to_date)

    async def _layer(self, repo: _Repo, store: ImageStore, desc: dict[str, Any], diff_id: str,
                     sem: asyncio.Semaphore, emit: Progress, below: asyncio.Future[None] | None,
                     done: asyncio.Future[None]) -> None:
        """Download one layer (``Waiting`` while three others download), then extract it once the layer
        below it is in (``done`` tells the one above)."""
        short = _short(desc)
        try:
            if sem.locked():
                await emit(prog.status(short, "Waiting"))
            async with sem:
                tmp = await repo.blob_file(desc, store.layers, emit, short, self.clock)
            try:
                if below is not None:
                    await asyncio.shield(below)
                await self._extract(store, tmp, diff_id, short, emit)
            finally:
                tmp.unlink(missing_ok=True)
            await emit(prog.status(short, "Pull complete"))
        except BaseException as e:
            if not done.done():
                done.set_exception(e if isinstance(e, Exception) else RegistryError("layer registration cancelled"))
                done.exception()  # retrieved: the pull reports its own failure, not this future's
            raise
        done.set_result(None)

    async def _extract(self, store: ImageStore, path: Path, diff_id: str, short: str, emit: Progress) -> None:
        """Store and unpack a downloaded layer in a thread, reporting ``Extracting`` as it is read."""
        loop = asyncio.get_running_loop()

        async def send(msg: dict[str, Any]) -> None:
            await emit(msg)

        def report(msg: dict[str, Any]) -> None:  # from the thread: wait for the message to be written
            asyncio.run_coroutine_threadsafe(send(msg), loop).result()

        def run() -> None:
            with open(path, "rb") as f:
                reader = prog.ProgressReader(f, os.fstat(f.fileno()).st_size, short, "Extracting", report,
                                             self.clock)
                try:
                    store.add_layer(cast(IO[bytes], reader), diff_id)
                except InvalidArgument as e:
                    raise RegistryError(ROOTFS_MISMATCH) from e

        await asyncio.to_thread(run)


def _short(desc: dict[str, Any]) -> str:
    """A layer's ID in progress messages: the first 12 hex digits of its (compressed) digest."""
    return str(desc.get("digest", "")).partition(":")[2][:12]


async def _quiet(_msg: dict[str, Any]) -> None:
    return None


def _ssl_for(url: str, client: RegistryClient) -> bool:
    """Verify TLS, unless the host is an insecure registry."""
    return not client.is_insecure(urlsplit(url).netloc)


def _login_host(server: str) -> str:
    server = server.strip() or reference.HUB_LOGIN
    host = urlsplit(server).netloc if "://" in server else server.split("/", 1)[0]
    if host in ("index.docker.io", reference.DEFAULT_DOMAIN):
        return reference.HUB_HOST
    return host


def _transport_error(host: str, e: BaseException | None) -> str:
    """Close to Go's words: ``dial tcp 127.0.0.1:5999: connect: connection refused``."""
    os_err = getattr(e, "os_error", None) or (e if isinstance(e, OSError) else None)
    if isinstance(os_err, OSError) and os_err.errno == errno.ECONNREFUSED:
        return f"dial tcp {host}: connect: connection refused"
    if isinstance(e, TimeoutError):
        return f"dial tcp {host}: i/o timeout"
    return str(e) or type(e).__name__


class _Repo:
    """One repository of one registry, with the credentials of one request: authorizes on the first
    401 and keeps the token for the rest of the pull."""

    def __init__(self, client: RegistryClient, ref: Reference, auth: AuthConfig) -> None:
        self.client, self.ref, self.auth = client, ref, auth
        self.scope = f"repository:{ref.path}:pull"
        self.authorization = ""

    async def _get(self, path: str, accept: str = "") -> aiohttp.ClientResponse:
        base, verify_tls = await self.client.endpoint(self.ref.host)
        url = base + path
        for attempt in range(2):
            headers = {"Accept": accept} if accept else {}
            if self.authorization:
                headers["Authorization"] = self.authorization
            resp = await self._follow(url, headers, verify_tls)
            if resp.status != 401 or attempt:
                return resp
            authz = await self.client.authorize(resp.headers.get("WWW-Authenticate", ""), self.auth, self.scope)
            if not authz or authz == self.authorization:
                return resp
            resp.release()
            self.authorization = authz
        raise AssertionError("unreachable")

    async def _follow(self, url: str, headers: dict[str, str], verify_tls: bool) -> aiohttp.ClientResponse:
        """GET, following redirects (blob stores) only to hosts this node may contact; the
        registry's credentials are not sent to another host."""
        for _hop in range(MAX_REDIRECTS + 1):
            try:
                resp = await self.client.session().get(url, headers=headers, ssl=verify_tls, allow_redirects=False)
            except _TRANSPORT as e:
                raise RegistryError(f'Get "{url}": {_transport_error(urlsplit(url).netloc, e)}') from e
            location = resp.headers.get("Location", "")
            if resp.status not in (301, 302, 303, 307, 308) or not location:
                return resp
            resp.release()
            target = urljoin(url, location)
            self.client.check(target)
            if urlsplit(target).netloc != urlsplit(url).netloc:
                headers = {k: v for k, v in headers.items() if k != "Authorization"}
                verify_tls = _ssl_for(target, self.client)
            url = target
        raise RegistryError(f'Get "{url}": stopped after {MAX_REDIRECTS} redirects')

    async def _fail(self, resp: aiohttp.ClientResponse) -> RegistryError:
        """Docker's ``translatePullError``: denied / unknown manifest / unknown name are "not found"."""
        body = await resp.content.read(1 << 16)
        resp.release()
        code, text = _errors_text(body, resp.status, resp.reason or "")
        ref = self.ref
        if code == "DENIED":
            return RegistryError(f"pull access denied for {ref.familiar_name}, repository does not exist or may "
                                 f"require 'docker login': {text}", 404)
        if code == "MANIFEST_UNKNOWN":
            return RegistryError(f"manifest for {ref.familiar()} not found: {text}", 404)
        if code == "NAME_UNKNOWN":
            return RegistryError(f"repository {ref.familiar_name} not found: {text}", 404)
        return RegistryError(text)

    async def _read(self, path: str, limit: int, accept: str = "") -> tuple[aiohttp.ClientResponse, bytes]:
        """GET ``path``: the response (released) and at most ``limit + 1`` bytes of its body (more
        than ``limit`` means too big); a registry's error otherwise."""
        resp = await self._get(path, accept)
        if resp.status != 200:
            raise await self._fail(resp)
        try:
            return resp, await resp.content.read(limit + 1)
        finally:
            resp.release()

    async def manifest(self, tag_or_digest: str) -> Fetched:
        resp, body = await self._read(f"/v2/{self.ref.path}/manifests/{tag_or_digest}", MAX_MANIFEST, ACCEPT)
        if len(body) > MAX_MANIFEST:
            raise RegistryError(f"manifest {tag_or_digest} is larger than {MAX_MANIFEST} bytes")
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if ":" in tag_or_digest:  # pulled by digest: the content must be that digest
            if not verify(tag_or_digest, body):
                raise RegistryError(f"manifest verification failed for digest {tag_or_digest}")
            digest = tag_or_digest
        else:
            header = resp.headers.get("Docker-Content-Digest", "")
            if header and not verify(header, body):
                raise RegistryError(f"manifest verification failed for digest {header}")
        try:
            media_type = str(json.loads(body).get("mediaType") or "")
        except (ValueError, AttributeError):
            media_type = ""
        media_type = media_type or resp.headers.get("Content-Type", "").split(";", 1)[0].strip()
        return Fetched(media_type, body, digest)

    async def blob_bytes(self, desc: dict[str, Any], limit: int, what: str) -> bytes:
        """A small blob (the config) into memory, verified."""
        digest = str(desc.get("digest", ""))
        _hasher(digest)
        _, body = await self._read(f"/v2/{self.ref.path}/blobs/{digest}", limit)
        if len(body) > limit or not verify(digest, body):
            raise RegistryError(f"{what} verification failed for digest {digest}")
        return body

    async def blob_file(self, desc: dict[str, Any], into: Path, emit: Progress, short: str,
                        clock: prog.Clock = time.monotonic) -> Path:
        """A layer blob into a temporary file under ``into``, verified against its digest and size,
        reporting ``Downloading`` as dockerd's progress reader does."""
        digest, size = str(desc.get("digest", "")), int(desc.get("size") or 0)
        h = _hasher(digest)
        resp = await self._get(f"/v2/{self.ref.path}/blobs/{digest}")
        if resp.status != 200:
            raise await self._fail(resp)
        fd, name = tempfile.mkstemp(dir=into, prefix=".dl-")
        path = Path(name)
        throttle = prog.Throttle(size, clock)
        try:
            got = 0
            with os.fdopen(fd, "wb") as f:
                async for chunk in resp.content.iter_chunked(1 << 16):
                    f.write(chunk)
                    h.update(chunk)
                    got += len(chunk)
                    if throttle.due(got):
                        await emit(prog.detail(short, "Downloading", got, size))
            if throttle.due(got, last=True):
                await emit(prog.detail(short, "Downloading", got, size))
            await emit(prog.status(short, "Verifying Checksum"))
            if f"{digest.partition(':')[0]}:{h.hexdigest()}" != digest or (size and got != size):
                raise RegistryError(f"filesystem layer verification failed for digest {digest}")
            await emit(prog.status(short, "Download complete"))
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        finally:
            resp.release()
        return path


# ---------------------------------------------------------------- the agent's side


class Puller:
    """Pulls a task's image when the node lacks it. The policy: a reference the store resolves (by
    tag, or by digest for a pinned one) is used as it is; anything else is pulled, once at a time per
    reference. A failed pull is logged; the runtime then rejects the task with Swarm's ``No such
    image: …``, as dockerd's executor does."""

    def __init__(self, client: RegistryClient, store: ImageStore) -> None:
        self.client, self.store = client, store
        self._pulls: dict[str, asyncio.Task[Pulled]] = {}
        self.on_pulled: Callable[[str], None] | None = None  # told each reference pulled (its event)

    def needs_pull(self, image: str) -> bool:
        if not image or image.startswith("sha256:") or self.store.resolve(image) is not None:
            return False
        try:
            reference.parse(image)
        except InvalidArgument:
            return False  # not a name a registry could serve; the runtime says what is wrong
        return True

    def pull(self, image: str, registry_auth: str = "") -> asyncio.Task[Pulled]:
        """The pull of ``image`` (started now, or the one already running for it)."""
        ref = reference.parse(image).tagged()
        key = ref.familiar()
        running = self._pulls.get(key)
        if running is not None:
            return running
        task = asyncio.get_running_loop().create_task(
            self.client.pull(ref, AuthConfig.decode(registry_auth), self.store), name=f"pull {key}")
        self._pulls[key] = task
        task.add_done_callback(functools.partial(self._done, key))
        return task

    def _done(self, key: str, task: asyncio.Task[Pulled]) -> None:
        if self._pulls.get(key) is task:
            del self._pulls[key]
        if task.cancelled():
            return
        e = task.exception()
        if e is not None:
            log.warning("pulling image %s failed: %s", key, getattr(e, "message", None) or e)
        else:
            log.info("pulled %s (%s)", key, task.result().digest)
            if self.on_pulled is not None:
                self.on_pulled(key)

    async def close(self) -> None:
        tasks = list(self._pulls.values())
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._pulls.clear()


def parse_pull_ref(from_image: str, tag: str) -> Reference:
    """``POST /images/create?fromImage=…&tag=…``: the CLI puts a digest in ``tag`` for ``name@sha256:…``."""
    if not from_image:
        raise InvalidArgument("invalid reference format")
    ref = from_image
    if tag and "@" not in ref:
        ref = f"{ref}@{tag}" if ":" in tag and tag.partition(":")[0] in ("sha256", "sha512") else f"{ref}:{tag}"
    return reference.parse(ref)

