"""A second, independent client against the Kubernetes door: the official ``kubernetes`` Python package
creating, listing, watching, patching and deleting Pods, Secrets and ConfigMaps (its calls are blocking:
they run in a thread while the door serves in the test's event loop)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any

import pytest

from tests.unit.frontdoor.kube.fakenode import Env, serving

kubernetes = pytest.importorskip("kubernetes")
from kubernetes import client, watch  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402


def core_api(env: Env) -> Any:
    config = client.Configuration()
    config.host = env.url
    return client.CoreV1Api(client.ApiClient(config))


async def run(fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kw)


async def test_pods_secrets_configmaps_with_the_official_client() -> None:
    async with serving() as env:
        api = core_api(env)
        body = client.V1Pod(metadata=client.V1ObjectMeta(name="web", labels={"app": "web"}),
                            spec=client.V1PodSpec(containers=[client.V1Container(name="web", image="nginx")]))
        created = await run(api.create_namespaced_pod, "default", body)
        assert created.metadata.name == "web" and created.spec.restart_policy == "Always"
        pods = await run(api.list_namespaced_pod, "default", label_selector="app=web")
        assert [p.metadata.name for p in pods.items] == ["web"]
        patched = await run(api.patch_namespaced_pod, "web", "default", {"metadata": {"labels": {"env": "prod"}}})
        assert patched.metadata.labels == {"app": "web", "env": "prod"}

        def watch_two() -> list[tuple[str, str]]:
            w = watch.Watch()
            seen = []
            for ev in w.stream(api.list_namespaced_config_map, "default", timeout_seconds=5):
                seen.append((ev["type"], ev["object"].metadata.name))
                if len(seen) == 2:
                    w.stop()
            return seen

        watching = asyncio.create_task(run(watch_two))
        await run(api.create_namespaced_config_map, "default",
                  client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cfg"), data={"mode": "fast"}))
        await run(api.patch_namespaced_config_map, "cfg", "default", {"data": {"mode": "slow"}})
        assert await asyncio.wait_for(watching, 10) == [("ADDED", "cfg"), ("MODIFIED", "cfg")]

        secret = client.V1Secret(metadata=client.V1ObjectMeta(name="db"), string_data={"password": "s3cr3t"})
        await run(api.create_namespaced_secret, "default", secret)
        got = await run(api.read_namespaced_secret, "db", "default")
        assert got.type == "Opaque" and base64.b64decode(got.data["password"]) == b"s3cr3t"

        for delete, name in ((api.delete_namespaced_pod, "web"), (api.delete_namespaced_secret, "db"),
                             (api.delete_namespaced_config_map, "cfg")):
            await run(delete, name, "default")
        with pytest.raises(ApiException) as e:
            await run(api.read_namespaced_pod, "web", "default")
        assert e.value.status == 404
