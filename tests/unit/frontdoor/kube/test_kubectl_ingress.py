"""Ingresses and IngressClasses with the real kubectl (its dispatcher, and 1.32) against the Kubernetes
door over an in-memory store, with the Ingress controller running (the default class ``shoal``, the
status's node addresses): create ingress with rules, TLS and a default backend, get, describe, the
DefaultIngressClass admission, and the API server's words for invalid ones."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from shoal.api.types import clone
from shoal.manager.kube.ingresses import IngressController
from tests.unit.frontdoor.kube.apiserver import KUBECTL
from tests.unit.frontdoor.kube.fakenode import Env, serving_with
from tests.unit.frontdoor.kube.test_kubectl_fake import BINARIES, Kubectl

NODE_ADDR = "10.213.0.5"
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")


async def idle(env: Env) -> None:
    await asyncio.Event().wait()


@pytest.fixture(params=BINARIES)
async def kc(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Kubectl]:
    async with serving_with(lambda store, kube: [IngressController(store, kube)], idle) as env:
        node = clone(env.kube.list("nodes")[0])
        node.Status.Addr = NODE_ADDR
        await env.store.commit(updates=[node])
        yield Kubectl(env, tmp_path, request.param)


def rows(out: str) -> dict[str, list[str]]:
    return {r.split()[0]: r.split() for r in out.splitlines()[1:] if r.strip()}


async def until(pred: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def has_class(kc: Kubectl) -> bool:
    return any(c.Name == "shoal" for c in kc.env.kube.list("ingressclasses"))


async def test_create_get_describe_ingress(kc: Kubectl) -> None:
    await until(lambda: has_class(kc), "the default IngressClass")
    _, out, _ = await kc("get", "ingressclass")
    assert out.splitlines()[0].split() == ["NAME", "CONTROLLER", "PARAMETERS", "AGE"]
    assert rows(out)["shoal"][1:3] == ["shoal.dev/ingress-nginx", "<none>"]
    _, out, _ = await kc("get", "ingressclass", "shoal", "-o", "json")
    assert json.loads(out)["metadata"]["annotations"] == {"ingressclass.kubernetes.io/is-default-class": "true"}
    _, out, _ = await kc("create", "ingress", "web", "--class=shoal", "--rule=web.example/*=web:80")
    assert "ingress.networking.k8s.io/web created" in out
    await kc("create", "ingress", "tls", "--rule=secure.example/api=api:http,tls=web-tls",
             "--default-backend=fallback:8080")
    node_addr = NODE_ADDR
    await until(lambda: all(i.Status.LoadBalancer for i in kc.env.kube.list("ingresses", "default")),
                "the Ingresses' addresses")
    _, out, _ = await kc("get", "ingress")
    assert out.splitlines()[0].split() == ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    r = rows(out)
    assert r["web"][1:5] == ["shoal", "web.example", node_addr, "80"]
    # no --class: the DefaultIngressClass admission gives it the default class's name
    assert r["tls"][1:6] == ["shoal", "secure.example", node_addr, "80,", "443"]
    _, out, _ = await kc("get", "ingress", "web", "-o", "json")
    ing = json.loads(out)
    assert ing["spec"]["rules"] == [{"host": "web.example", "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]
    assert ing["status"] == {"loadBalancer": {"ingress": [{"ip": node_addr}]}}
    _, out, _ = await kc("get", "ingress", "tls", "-o", "json")
    spec = json.loads(out)["spec"]
    assert spec["tls"] == [{"hosts": ["secure.example"], "secretName": "web-tls"}]
    assert spec["defaultBackend"] == {"service": {"name": "fallback", "port": {"number": 8080}}}
    assert spec["rules"][0]["http"]["paths"][0] == {
        "path": "/api", "pathType": "Exact", "backend": {"service": {"name": "api", "port": {"name": "http"}}}}
    _, out, _ = await kc("describe", "ingress", "tls")
    assert f"Address:          {node_addr}\n" in out and "Ingress Class:    shoal\n" in out
    assert "TLS:\n  web-tls terminates secure.example\n" in out
    assert '/api   api:http (<error: services "api" not found>)' in out
    assert "Default backend:  fallback:8080" in out
    _, out, _ = await kc("describe", "ingressclass", "shoal")
    assert "Controller:   shoal.dev/ingress-nginx\n" in out
    await kc("delete", "ingress", "web", "tls")
    assert kc.env.kube.list("ingresses", "default") == []


async def test_invalid_ingresses_in_the_api_servers_words(kc: Kubectl, tmp_path: Path) -> None:
    head = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: bad\n"
    cases = {
        "spec: {}\n": "spec: Invalid value: []networking.IngressRule(nil): either `defaultBackend` or `rules` "
                      "must be specified",
        "spec:\n  rules:\n  - host: web.example\n    http:\n      paths:\n      - path: /\n        backend:\n"
        "          service:\n            name: web\n            port:\n              number: 80\n":
            "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified",
        "spec:\n  rules:\n  - http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend: {}\n":
            'spec.rules[0].http.paths[0].backend: Invalid value: "": resource or service backend is required',
        "spec:\n  rules:\n  - http:\n      paths:\n      - path: foo\n        pathType: Exact\n        backend:\n"
        "          service:\n            name: web\n            port:\n              number: 80\n":
            'spec.rules[0].http.paths[0].path: Invalid value: "foo": must be an absolute path',
        "spec:\n  rules:\n  - host: 10.0.0.1\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n"
        "        backend:\n          service:\n            name: web\n            port:\n              name: http\n":
            'spec.rules[0].host: Invalid value: "10.0.0.1": must be a DNS name, not an IP address',
        "spec:\n  rules:\n  - host: 'foo.*.example'\n":
            "spec.rules[0].host: Invalid value: \"foo.*.example\": a wildcard DNS-1123 subdomain must start with "
            "'*.', followed by a valid DNS subdomain",
        "spec:\n  defaultBackend:\n    service:\n      name: web\n":
            "spec.defaultBackend: Required value: port name or number is required",
    }
    for i, (body, words) in enumerate(cases.items()):
        path = tmp_path / f"bad{i}.yaml"
        path.write_text(head + body)
        rc, _, err = await kc("apply", "-f", str(path), ok=False)
        assert rc != 0 and 'The Ingress "bad" is invalid: ' in err and words in err, (body, err)
    # a wildcard host is valid
    path = tmp_path / "wild.yaml"
    path.write_text(head + "spec:\n  rules:\n  - host: '*.example'\n    http:\n      paths:\n      - path: /\n"
                    "        pathType: Prefix\n        backend:\n          service:\n            name: web\n"
                    "            port:\n              number: 80\n")
    await kc("apply", "-f", str(path))
    _, out, _ = await kc("get", "ingress", "bad")
    assert rows(out)["bad"][2] == "*.example"


async def test_ingress_class_rules(kc: Kubectl, tmp_path: Path) -> None:
    await until(lambda: has_class(kc), "the default IngressClass")
    head = "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata:\n  name: other\n"
    path = tmp_path / "c.yaml"
    path.write_text(head + "spec:\n  controller: nodomain\n")
    rc, _, err = await kc("apply", "-f", str(path), ok=False)
    assert rc != 0 and ('spec.controller: Invalid value: "nodomain": must be a domain-prefixed path '
                        '(such as "acme.io/foo")') in err
    path.write_text(head + "spec:\n  controller: example.com/lb\n  parameters:\n    kind: Params\n    name: p\n")
    await kc("apply", "-f", str(path))
    _, out, _ = await kc("get", "ingressclass", "other", "-o", "json")
    assert json.loads(out)["spec"]["parameters"]["scope"] == "Cluster"
    _, out, _ = await kc("get", "ingressclass")
    assert rows(out)["other"][1:3] == ["example.com/lb", "Params/p"]
    path.write_text(head + "spec:\n  controller: example.com/other\n")
    rc, _, err = await kc("apply", "-f", str(path), ok=False)
    assert rc != 0 and 'spec.controller: Invalid value: "example.com/other": field is immutable' in err
    # an Ingress of another class is left alone by shoal's controller (no address)
    await kc("create", "ingress", "elsewhere", "--class=other", "--rule=x.example/=web:80")
    _, out, _ = await kc("get", "ingress", "elsewhere")
    assert rows(out)["elsewhere"][1:3] == ["other", "x.example"]


async def test_apply_patch_and_server_side_apply(kc: Kubectl, tmp_path: Path) -> None:
    body = ("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: app\nspec:\n  rules:\n"
            "  - host: app.example\n    http:\n      paths:\n      - path: {path}\n        pathType: Prefix\n"
            "        backend:\n          service:\n            name: app\n            port:\n"
            "              number: 80\n")
    path = tmp_path / "app.yaml"
    path.write_text(body.format(path="/"))
    await kc("apply", "-f", str(path))
    path.write_text(body.format(path="/v2"))
    _, out, _ = await kc("apply", "-f", str(path))
    assert "ingress.networking.k8s.io/app configured" in out
    got = json.loads((await kc("get", "ingress", "app", "-o", "json"))[1])
    assert got["metadata"]["generation"] == 2
    assert got["spec"]["rules"][0]["http"]["paths"][0]["path"] == "/v2"
    await kc("patch", "ingress", "app", "--type=merge", "-p", '{"spec":{"defaultBackend":{"service":'
             '{"name":"fallback","port":{"name":"http"}}}}}')
    await kc("annotate", "ingress", "app", "team=web")
    got = json.loads((await kc("get", "ingress", "app", "-o", "json"))[1])
    assert got["spec"]["defaultBackend"] == {"service": {"name": "fallback", "port": {"name": "http"}}}
    assert got["metadata"]["annotations"]["team"] == "web"
    path.write_text(body.format(path="/v3"))
    await kc("apply", "--server-side", "--force-conflicts", "-f", str(path))
    got = json.loads((await kc("get", "ingress", "app", "-o", "json"))[1])
    assert got["spec"]["rules"][0]["http"]["paths"][0]["path"] == "/v3"
    _, out, _ = await kc("get", "ing")
    assert "app" in rows(out)
    _, out, _ = await kc("explain", "ingress.spec.rules.http.paths.pathType")
    assert "pathType determines the interpretation of the path matching." in out
