"""A tiny in-process Registry API v2 on loopback, for the registry client's unit tests.

It serves manifests and blobs from dicts, answers 401 with a Bearer challenge (a token endpoint on
the same server that takes Basic credentials) or a Basic one, counts blob fetches, and can be told
to corrupt a blob, so the client's digest checks can be seen to refuse it.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from shoal.runtime.images import go_arch
from shoal.runtime.registry import MT_OCI_INDEX, MT_OCI_MANIFEST


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer(files: dict[str, bytes]) -> tuple[bytes, str]:
    """A gzipped layer tar of ``files`` and its diff ID (the sha256 of the uncompressed tar)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tf.addfile(info, io.BytesIO(data))
    tar = raw.getvalue()
    return gzip.compress(tar, mtime=0), sha(tar)


@dataclass
class Image:
    manifest: bytes
    config: bytes
    layers: list[bytes]

    @property
    def digest(self) -> str:
        return sha(self.manifest)


@dataclass
class FakeRegistry:
    auth: str = ""  # "" | "basic" | "bearer"
    users: dict[str, str] = field(default_factory=lambda: {"alice": "secret"})
    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[tuple[str, str], tuple[str, bytes]] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)  # blob digests, in the order served
    corrupt: set[str] = field(default_factory=set)  # blob digests served with a flipped byte
    token_requests: list[dict[str, str]] = field(default_factory=list)
    redirect_to: str = ""  # blobs answered by a redirect to <redirect_to>/storage/<digest> ("self": this server)
    storage_auth: list[str] = field(default_factory=list)  # the Authorization each storage request brought
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    # ------------------------------------------------------------ content

    def add_image(self, repo: str, tag: str, layers: list[tuple[bytes, str]], cmd: list[str] | None = None,
                  arch: str = "") -> Image:
        config = json.dumps({
            "architecture": arch or go_arch(), "os": "linux", "config": {"Cmd": cmd or ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": [d for _, d in layers]},
        }).encode()
        self.blobs[sha(config)] = config
        for blob, _ in layers:
            self.blobs[sha(blob)] = blob
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": MT_OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config),
                       "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(b),
                        "size": len(b)} for b, _ in layers],
        }).encode()
        self.manifests[(repo, sha(manifest))] = (MT_OCI_MANIFEST, manifest)
        if tag:
            self.manifests[(repo, tag)] = (MT_OCI_MANIFEST, manifest)
        return Image(manifest, config, [b for b, _ in layers])

    def add_index(self, repo: str, tag: str, entries: list[tuple[Image, str, str]]) -> str:
        """An OCI index of (image, os, architecture) entries under ``tag``; returns its digest."""
        index = json.dumps({"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": [
            {"mediaType": MT_OCI_MANIFEST, "digest": img.digest, "size": len(img.manifest),
             "platform": {"os": os_, "architecture": arch}} for img, os_, arch in entries]}).encode()
        self.manifests[(repo, tag)] = (MT_OCI_INDEX, index)
        self.manifests[(repo, sha(index))] = (MT_OCI_INDEX, index)
        return sha(index)

    # ------------------------------------------------------------ serving

    def _authorized(self, request: web.Request) -> bool:
        got = request.headers.get("Authorization", "")
        if self.auth == "basic":
            return got in {"Basic " + base64.b64encode(f"{u}:{p}".encode()).decode() for u, p in self.users.items()}
        if self.auth == "bearer":
            return got == "Bearer tok-alice"
        return True

    def _challenge(self, scope: str) -> web.Response:
        if self.auth == "basic":
            header = 'Basic realm="fake"'
        else:
            header = (f'Bearer realm="http://{self.host}/token",service="fake-registry"'
                      + (f',scope="{scope}"' if scope else ""))
        return web.json_response({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
                                 status=401, headers={"WWW-Authenticate": header})

    async def _v2(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({}) if self._authorized(request) else self._challenge("")

    async def _token(self, request: web.Request) -> web.StreamResponse:
        self.token_requests.append(dict(request.query))
        got = request.headers.get("Authorization", "")
        ok = {"Basic " + base64.b64encode(f"{u}:{p}".encode()).decode() for u, p in self.users.items()}
        if got not in ok:
            return web.json_response({"details": "incorrect username or password"}, status=401)
        return web.json_response({"token": "tok-alice"})

    async def _manifest(self, request: web.Request) -> web.StreamResponse:
        name, ref = request.match_info["name"], request.match_info["ref"]
        if not self._authorized(request):
            return self._challenge(f"repository:{name}:pull")
        found = self.manifests.get((name, ref))
        if found is None:
            return web.json_response({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]},
                                     status=404)
        mt, body = found
        if ref in self.corrupt:
            body = body.replace(b"schemaVersion", b"schemaversion")
        return web.Response(body=body, headers={"Content-Type": mt, "Docker-Content-Digest": sha(found[1])})

    async def _blob(self, request: web.Request) -> web.StreamResponse:
        name, digest = request.match_info["name"], request.match_info["digest"]
        if not self._authorized(request):
            return self._challenge(f"repository:{name}:pull")
        if self.redirect_to:
            base = f"http://{self.host}" if self.redirect_to == "self" else self.redirect_to
            raise web.HTTPTemporaryRedirect(f"{base}/storage/{digest}")
        return self._serve_blob(digest)

    async def _storage(self, request: web.Request) -> web.StreamResponse:
        self.storage_auth.append(request.headers.get("Authorization", ""))
        return self._serve_blob(request.match_info["digest"])

    def _serve_blob(self, digest: str) -> web.StreamResponse:
        body = self.blobs.get(digest)
        if body is None:
            return web.json_response({"errors": [{"code": "BLOB_UNKNOWN", "message": "blob unknown"}]},
                                     status=404)
        self.fetched.append(digest)
        if digest in self.corrupt:
            body = bytes([body[0] ^ 1]) + body[1:]
        return web.Response(body=body, content_type="application/octet-stream")

    async def start(self) -> FakeRegistry:
        app = web.Application()
        app.router.add_get("/v2/", self._v2)
        app.router.add_get("/token", self._token)
        app.router.add_get("/v2/{name:.+}/manifests/{ref}", self._manifest)
        app.router.add_get("/v2/{name:.+}/blobs/{digest}", self._blob)
        app.router.add_get("/storage/{digest}", self._storage)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server: Any = site._server
        self.port = server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
