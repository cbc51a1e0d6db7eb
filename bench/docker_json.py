"""Micro-benchmark of the Docker door's JSON: decoding a large service spec the way Go does
(``gojson.decode``) against msgspec's strict typed decode, and encoding 100 replicas' tasks with
``omitempty`` (``gojson.to_json``) against msgspec's plain encode.

    PYTHONPATH=src python3 bench/docker_json.py
"""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec

from shoal.api import types as T
from shoal.frontdoor.docker import gojson, wire


def big_spec() -> bytes:
    cs = {"Image": "nginx:1.25@sha256:" + "a" * 64, "Labels": {f"l{i}": "v" * 20 for i in range(20)},
          "Command": ["nginx"], "Args": ["-g", "daemon off;"], "Env": [f"VAR{i}=value{i}" for i in range(50)],
          "Mounts": [{"Type": "volume", "Source": f"v{i}", "Target": f"/d{i}"} for i in range(10)],
          "Secrets": [{"File": {"Name": f"s{i}", "UID": "0", "GID": "0", "Mode": 292}, "SecretID": f"id{i}",
                       "SecretName": f"s{i}"} for i in range(10)],
          "Configs": [{"File": {"Name": f"c{i}", "UID": "0", "GID": "0", "Mode": 292}, "ConfigID": f"id{i}",
                       "ConfigName": f"c{i}"} for i in range(10)],
          "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1000000000}, "StopGracePeriod": 10_000_000_000}
    spec = {"Name": "web", "Labels": {f"k{i}": "v" for i in range(20)},
            "TaskTemplate": {"ContainerSpec": cs,
                             "Resources": {"Limits": {"NanoCPUs": 100000000, "MemoryBytes": 1 << 26}},
                             "RestartPolicy": {"Condition": "any", "Delay": 5000000000, "MaxAttempts": 0},
                             "Placement": {"Constraints": ["node.role==worker"] * 5},
                             "Networks": [{"Target": f"n{i}", "Aliases": ["web"]} for i in range(5)]},
            "Mode": {"Replicated": {"Replicas": 100}},
            "UpdateConfig": {"Parallelism": 2, "Order": "start-first"},
            "EndpointSpec": {"Mode": "vip", "Ports": [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080}]}}
    return msgspec.json.encode(spec)


def timeit(name: str, fn: Callable[[], object], n: int, repeat: int = 7) -> float:
    """Microseconds a call, the best of ``repeat`` runs of ``n`` calls (the machine is shared)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - t0)
    per = best / n * 1e6
    print(f"{name:48s} {per:9.1f} µs")
    return per


def main() -> None:
    raw = big_spec()
    print(f"service spec: {len(raw)} bytes")
    before = timeit("decode: msgspec typed (before)", lambda: msgspec.json.decode(raw, type=wire.ServiceSpec), 500)
    after = timeit("decode: gojson (after)", lambda: gojson.decode(raw, wire.ServiceSpec), 500)
    print(f"decode ratio after/before: {after / before:.2f}")
    # the Docker SDK's way: other case, and nulls
    sdk = (raw.replace(b'"Mode":{"Replicated"', b'"mode":{"replicated"').replace(b'"Env":', b'"env":')
           .replace(b'"Command":', b'"Dir":null,"TTY":null,"Command":'))
    assert gojson.decode(sdk, wire.ServiceSpec) == gojson.decode(raw, wire.ServiceSpec)
    timeit("decode: gojson, SDK-like body (after)", lambda: gojson.decode(sdk, wire.ServiceSpec), 500)
    spec = wire.service_spec_to_core(gojson.decode(raw, wire.ServiceSpec))
    tasks = [T.Task(ID=f"t{i}", Spec=spec.TaskTemplate, Slot=i, NodeID="n",
                    Owner=T.ObjectRef(Kind=T.SERVICE_KIND, ID="s")) for i in range(100)]
    before = timeit("encode 100 tasks: msgspec (before)",
                    lambda: msgspec.json.encode(wire.tasks_from_core(tasks)), 50)
    after = timeit("encode 100 tasks: gojson omitempty (after)",
                   lambda: msgspec.json.encode(wire.tasks_json(tasks)), 50)
    print(f"encode ratio after/before: {after / before:.2f}")


if __name__ == "__main__":
    main()
