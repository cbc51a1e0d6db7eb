"""Owner references, finalizers and garbage collection through the Kubernetes door: a ConfigMap owned by a
Secret (``ownerReferences`` with the Secret's uid), the Secret deleted with each propagation policy over
the HTTP API and with the real kubectl (``--cascade=background|foreground|orphan``); finalizers that keep
an object, and the refusal of new ones while it is being deleted. The door's test node runs the
namespace controller and the garbage collector (``fakenode.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.unit.frontdoor.kube.apiserver import KUBECTL, KUBECTL_132
from tests.unit.frontdoor.kube.fakenode import Env, serving
from tests.unit.frontdoor.kube.test_kubectl_fake import Kubectl

SECRETS = "/api/v1/namespaces/default/secrets"
CMS = "/api/v1/namespaces/default/configmaps"
MERGE = "application/merge-patch+json"


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    async with serving() as e:
        yield e


async def gone(env: Env, path: str) -> bool:
    """Whether ``path`` answers 404 within a few seconds (the collector works in the background)."""
    for _ in range(250):
        if (await env.call("GET", path))[0] == 404:
            return True
        await asyncio.sleep(0.02)
    return False


async def owned(env: Env, *, block: bool = False) -> tuple[str, dict[str, Any]]:
    """A Secret ``s`` and a ConfigMap ``c`` it owns: the Secret's uid and the reference."""
    code, s, _ = await env.call("POST", SECRETS, {"metadata": {"name": "s"}, "stringData": {"k": "v"}})
    assert code == 201
    uid = s["metadata"]["uid"]
    reference: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "name": "s", "uid": uid}
    if block:
        reference["blockOwnerDeletion"] = True
    code, c, _ = await env.call("POST", CMS, {"metadata": {"name": "c", "ownerReferences": [reference]},
                                              "data": {"a": "b"}})
    assert code == 201, c
    assert c["metadata"]["ownerReferences"] == [reference]
    return uid, reference


async def test_background(env: Env) -> None:
    await owned(env)
    code, body, _ = await env.call("DELETE", f"{SECRETS}/s", {"propagationPolicy": "Background"})
    assert code == 200 and body["kind"] == "Status" and body["status"] == "Success"
    assert (await env.call("GET", f"{SECRETS}/s"))[0] == 404
    assert await gone(env, f"{CMS}/c")


async def test_foreground(env: Env) -> None:
    uid, _ = await owned(env, block=True)
    code, body, _ = await env.call("DELETE", f"{SECRETS}/s", {"propagationPolicy": "Foreground"})
    assert code == 200 and body["kind"] == "Secret", body
    meta = body["metadata"]
    assert meta["uid"] == uid and meta["deletionTimestamp"] and meta["deletionGracePeriodSeconds"] == 0
    assert meta["finalizers"] == ["foregroundDeletion"]
    assert await gone(env, f"{SECRETS}/s")
    assert (await env.call("GET", f"{CMS}/c"))[0] == 404  # gone before its owner
    # ``orphanDependents: false`` (the old way to cascade) is answered 202 while the object is kept
    await env.call("POST", CMS, {"metadata": {"name": "kept", "finalizers": ["example.com/keep"]}})
    code, body, _ = await env.call("DELETE", f"{CMS}/kept", {"orphanDependents": False})
    assert code == 202 and body["metadata"]["deletionTimestamp"]


async def test_orphan(env: Env) -> None:
    await owned(env)
    code, body, _ = await env.call("DELETE", f"{SECRETS}/s", {"orphanDependents": True})
    assert code == 200 and body["metadata"]["finalizers"] == ["orphan"]
    assert await gone(env, f"{SECRETS}/s")
    code, c, _ = await env.call("GET", f"{CMS}/c")
    assert code == 200 and "ownerReferences" not in c["metadata"]
    # the policy in the query
    await env.call("DELETE", f"{CMS}/c")
    await owned(env)
    code, body, _ = await env.call("DELETE", f"{SECRETS}/s?propagationPolicy=Orphan")
    assert code == 200 and body["metadata"]["finalizers"] == ["orphan"]


async def test_delete_options_both_set(env: Env) -> None:
    await owned(env)
    code, body, _ = await env.call("DELETE", f"{SECRETS}/s", {"orphanDependents": True,
                                                              "propagationPolicy": "Foreground"})
    assert code == 422
    assert body["message"] == ('DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Invalid value: '
                               '"Foreground": orphanDependents and deletionPropagation cannot be both set')


async def test_finalizers_keep_the_object_and_no_new_ones_while_deleted(env: Env) -> None:
    code, _, _ = await env.call("POST", CMS, {"metadata": {"name": "f", "finalizers": ["example.com/keep"]}})
    assert code == 201
    code, body, _ = await env.call("DELETE", f"{CMS}/f")
    assert code == 200 and body["kind"] == "ConfigMap" and body["metadata"]["deletionTimestamp"]
    assert body["metadata"]["deletionGracePeriodSeconds"] == 0
    code, body, _ = await env.call("PATCH", f"{CMS}/f", {"metadata": {"finalizers": ["example.com/keep", "x.io/y"]}},
                                   ctype=MERGE)
    assert code == 422
    assert body["message"] == ('ConfigMap "f" is invalid: metadata.finalizers: Forbidden: no new finalizers can be '
                               'added if the object is being deleted, found new finalizers []string{"x.io/y"}')
    assert body["details"]["causes"][0]["field"] == "metadata.finalizers"
    code, body, _ = await env.call("PATCH", f"{CMS}/f", {"metadata": {"labels": {"a": "b"}}}, ctype=MERGE)
    assert code == 200 and body["metadata"]["deletionTimestamp"]
    code, body, _ = await env.call("PATCH", f"{CMS}/f", {"metadata": {"finalizers": None}}, ctype=MERGE)
    assert code == 200
    assert (await env.call("GET", f"{CMS}/f"))[0] == 404


async def test_several_owners(env: Env) -> None:
    _, reference = await owned(env)
    _, other, _ = await env.call("POST", SECRETS, {"metadata": {"name": "o"}})
    second = {"apiVersion": "v1", "kind": "Secret", "name": "o", "uid": other["metadata"]["uid"], "controller": True}
    code, _, _ = await env.call("PATCH", f"{CMS}/c", {"metadata": {"ownerReferences": [reference, second]}},
                                ctype=MERGE)
    assert code == 200
    await env.call("DELETE", f"{SECRETS}/s")
    for _ in range(250):  # the reference to the gone owner is dropped; the ConfigMap stays
        _, c, _ = await env.call("GET", f"{CMS}/c")
        if c["metadata"]["ownerReferences"] == [second]:
            break
        await asyncio.sleep(0.02)
    assert c["metadata"]["ownerReferences"] == [second]
    await env.call("DELETE", f"{SECRETS}/o")
    assert await gone(env, f"{CMS}/c")


# ---------------------------------------------------------------- the real kubectl

BINARIES = [pytest.param(None, id="dispatcher"),
            pytest.param(KUBECTL_132, id="1.32",
                         marks=pytest.mark.skipif(KUBECTL_132 is None, reason="kubectl 1.32 is not installed"))]


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
@pytest.mark.parametrize("binary", BINARIES)
async def test_kubectl_delete_cascade(tmp_path: Path, binary: str | None) -> None:
    async with serving() as env:
        kc = Kubectl(env, tmp_path, binary)

        async def make() -> None:
            await kc("create", "secret", "generic", "s", "--from-literal=k=v")
            _, uid, _ = await kc("get", "secret", "s", "-o", "jsonpath={.metadata.uid}")
            (tmp_path / "cm.yaml").write_text(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  ownerReferences:\n  - apiVersion: v1\n"
                f"    kind: Secret\n    name: s\n    uid: {uid}\n    blockOwnerDeletion: true\ndata:\n  a: b\n")
            _, out, _ = await kc("apply", "-f", str(tmp_path / "cm.yaml"))
            assert out.strip() == "configmap/c created"

        for cascade, kept in (("background", False), ("foreground", False), ("orphan", True)):
            await make()
            _, out, _ = await kc("delete", "secret", "s", f"--cascade={cascade}")  # waits until it is gone
            assert out.strip() == 'secret "s" deleted'
            code, _, err = await kc("get", "secret", "s", ok=False)
            assert code == 1 and 'secrets "s" not found' in err
            if kept:
                _, out, _ = await kc("get", "configmap", "c", "-o", "jsonpath={.metadata.ownerReferences}")
                assert out == ""
                await kc("delete", "configmap", "c")
            else:
                assert await gone(env, f"{CMS}/c"), cascade
