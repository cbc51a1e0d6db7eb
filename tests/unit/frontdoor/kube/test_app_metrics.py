"""The Kubernetes door's request metrics: kube-apiserver's labels (verb, resource, subresource, code),
never a raw path; WATCH counted but not timed."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import REGISTRY

from tests.unit.frontdoor.kube.fakenode import Env, serving
from tests.unit.frontdoor.kube.test_app import PODS, pod

NAME = "shoal_kube_apiserver_requests_total"
LATENCY = "shoal_kube_apiserver_request_duration_seconds_count"


@pytest.fixture
async def env() -> Any:
    async with serving() as e:
        yield e


def count(verb: str, resource: str, code: str, subresource: str = "") -> float:
    labels = {"verb": verb, "resource": resource, "subresource": subresource, "code": code}
    return REGISTRY.get_sample_value(NAME, labels) or 0.0


def timed(verb: str, resource: str, subresource: str = "") -> float:
    labels = {"verb": verb, "resource": resource, "subresource": subresource}
    return REGISTRY.get_sample_value(LATENCY, labels) or 0.0


async def test_requests_are_counted_by_verb_resource_and_code(env: Env) -> None:
    checks = [("POST", "pods", "201"), ("GET", "pods", "200"), ("LIST", "pods", "200"), ("GET", "pods", "404"),
              ("APPLY", "configmaps", "201"), ("DELETECOLLECTION", "configmaps", "200"), ("GET", "", "200"),
              ("GET", "", "404"), ("PUT", "pods", "200", "status")]
    before = {c: count(*c[:3], *c[3:]) for c in checks}
    watches, watch_timed = count("WATCH", "pods", "200"), timed("WATCH", "pods")
    lists_timed = timed("LIST", "pods")

    status, created, _ = await env.call("POST", PODS, pod("web"))
    assert status == 201
    assert (await env.call("GET", f"{PODS}/web"))[0] == 200
    assert (await env.call("GET", PODS))[0] == 200
    assert (await env.call("GET", f"{PODS}/nope"))[0] == 404
    created["status"] = {"phase": "Pending"}
    assert (await env.call("PUT", f"{PODS}/web/status", created))[0] == 200
    apply = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "1"}}
    assert (await env.call("PATCH", "/api/v1/namespaces/default/configmaps/cfg?fieldManager=test", apply,
                           ctype="application/apply-patch+yaml"))[0] == 201
    assert (await env.call("DELETE", "/api/v1/namespaces/default/configmaps"))[0] == 200
    assert (await env.call("GET", "/version"))[0] == 200
    assert (await env.call("GET", "/no/such/thing"))[0] == 404
    assert (await env.call("GET", f"{PODS}?watch=true&timeoutSeconds=1"))[0] == 200

    for c in checks:
        assert count(*c[:3], *c[3:]) == before[c] + 1, c
    assert count("WATCH", "pods", "200") == watches + 1
    assert timed("WATCH", "pods") == watch_timed  # long-running: not timed
    assert timed("LIST", "pods") == lists_timed + 1
    # No raw path became a label value.
    for metric in REGISTRY.collect():
        if metric.name == "shoal_kube_apiserver_requests":
            assert not any("/" in v for s in metric.samples for v in s.labels.values())
