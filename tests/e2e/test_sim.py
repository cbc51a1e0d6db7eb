"""A hollow cluster (`shoal sim`) driven by the real docker CLI: five nodes with labels, a constrained
service spread over the matching ones, and the benchmark command's JSON line; with ``--kube-addr``,
the real kubectl against the same hollow cluster."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import free_port, rows, wait_for

pytestmark = [pytest.mark.e2e]


@contextlib.contextmanager
def hollow_cluster(tmp_path: Path, *sim_args: str) -> Iterator[Callable[..., str]]:
    """``shoal sim`` on a socket in ``tmp_path``; yields ``run("docker"|"shoal"|"kubectl", *args)`` →
    stdout (kubectl with ``shoal kubeconfig``'s file and a fresh cache, when ``--kube-addr`` is given)."""
    sock = str(tmp_path / "sim.sock")
    env = dict(os.environ, DOCKER_HOST=f"unix://{sock}", DOCKER_CONFIG=str(tmp_path / "docker-config"))
    shoal = [sys.executable, "-m", "shoal.cli.main"]
    proc = subprocess.Popen([*shoal, "sim", *sim_args, "-H", f"unix://{sock}"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)

    def run(tool: str, *args: str, input: str | None = None) -> str:
        cmd = {"docker": ["docker"], "shoal": [*shoal, "-H", f"unix://{sock}"],
               "kubectl": ["kubectl", "--kubeconfig", str(tmp_path / "kubeconfig"), "--cache-dir",
                           str(tmp_path / "kube-cache")]}[tool]
        return subprocess.run([*cmd, *args], input=input, capture_output=True, text=True, env=env,
                              check=True).stdout

    try:
        wait_for(lambda: os.path.exists(sock), what="sim socket")
        yield run
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_docker_cli_drives_a_hollow_cluster(tmp_path: Path) -> None:
    with hollow_cluster(tmp_path, "--nodes", "5", "--labels", "zone=a,b;rack=1-5") as run:

        def docker(*args: str) -> str:
            return run("docker", *args)

        wait_for(lambda: len(rows(docker("node", "ls"))) == 5, what="5 nodes")
        zones = {json.loads(docker("node", "inspect", r[1], "--format", "{{json .Spec.Labels}}"))["zone"]
                 for r in rows(docker("node", "ls"))}
        assert zones == {"a", "b"}
        docker("service", "create", "-d", "--name", "web", "--replicas", "12", "--constraint",
               "node.labels.zone==a", "hollow")
        wait_for(lambda: "12/12" in docker("service", "ls"), what="12/12")
        placed: dict[str, int] = {}
        for r in rows(docker("service", "ps", "web")):
            placed[r[3]] = placed.get(r[3], 0) + 1
        assert sorted(placed.values()) == [4, 4, 4]  # spread evenly over the three zone=a nodes
        for host in placed:
            label = docker("node", "inspect", host, "--format", "{{index .Spec.Labels \"zone\"}}").strip()
            assert label == "a"


def test_sim_bench_prints_one_json_line() -> None:
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "shoal.cli.main", "sim", "bench", "--nodes", "50", "--services",
                          "2", "--replicas", "100", "--json"], capture_output=True, text=True, check=True,
                         timeout=120).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["nodes"] == 50 and result["tasks"] == 200 and result["running"] == 200
    assert result["seconds_to_running"] is not None and result["seconds_to_running"] < time.monotonic() - t0
    for key in ("decisions_per_s", "peak_rss_mb"):
        assert result[key] > 0


def test_placement_preferences_max_per_node_generic_resources_and_dry_run(tmp_path: Path) -> None:
    # Six hollow nodes in three uneven zones: a has three nodes, b two, c one; each node has one GPU.
    with hollow_cluster(tmp_path, "--nodes", "6", "--labels", "zone=a,a,a,b,b,c",
                        "--node-generic-resource", "gpu=1") as run:

        def docker(*args: str) -> str:
            return run("docker", *args)

        wait_for(lambda: len(rows(docker("node", "ls"))) == 6, what="6 nodes")
        zone = {r[1]: docker("node", "inspect", r[1], "--format", '{{index .Spec.Labels "zone"}}').strip()
                for r in rows(docker("node", "ls"))}
        assert sorted(zone.values()) == ["a", "a", "a", "b", "b", "c"]

        # The dry run: zone c is ruled out by the constraint; a and b share 9 tasks, at most 2 a node.
        out = run("shoal", "service", "create", "--dry-run", "--name", "web", "--replicas", "9",
                  "--placement-pref", "spread=node.labels.zone", "--replicas-max-per-node", "2",
                  "--constraint", "node.labels.zone!=c", "hollow")
        plan = {r[0]: (int(r[1]), r[2]) for r in rows(out) if r[0] in zone}
        per_zone: dict[str, int] = {}
        for host, (n, _) in plan.items():
            per_zone[zone[host]] = per_zone.get(zone[host], 0) + n
        assert per_zone == {"a": 5, "b": 4, "c": 0}
        assert [why for host, (_, why) in plan.items() if zone[host] == "c"] == [
            "scheduling constraints not satisfied"]
        assert "9/9 tasks would be placed on 5 nodes" in out
        assert rows(docker("service", "ls")) == []  # the dry run made nothing

        # For real, with the docker CLI: 4 per zone; c's one node holds 2, then b's two nodes are full
        # at 2 each, and a takes the rest: 6, 4, 2.
        docker("service", "create", "-d", "--name", "web", "--replicas", "12",
               "--placement-pref", "spread=node.labels.zone", "--replicas-max-per-node", "2", "hollow")
        wait_for(lambda: "12/12 (max 2 per node)" in docker("service", "ls"), what="12/12")
        on_node: dict[str, int] = {}
        for r in rows(docker("service", "ps", "web")):
            on_node[r[3]] = on_node.get(r[3], 0) + 1
        assert on_node == dict.fromkeys(zone, 2)
        (c_host,) = [h for h, z in zone.items() if z == "c"]
        assert len(rows(docker("node", "ps", c_host))) == 2
        docker("service", "scale", "-d", "web=13")
        err = wait_for(lambda: [e for e in docker("service", "ps", "web", "--no-trunc", "--format", "{{.Error}}")
                                .splitlines() if e], what="the 13th task's error")
        assert err == ['"no suitable node (max replicas per node limit exceed)"']
        docker("service", "rm", "web")

        # Generic resources: one GPU per node, seven tasks that want one each.
        docker("service", "create", "-d", "--name", "train", "--replicas", "7", "--generic-resource", "gpu=1",
               "hollow")
        wait_for(lambda: "6/7" in docker("service", "ls"), what="6/7")
        err = wait_for(lambda: [e for e in docker("service", "ps", "train", "--no-trunc", "--format", "{{.Error}}")
                                .splitlines() if e], what="the 7th task's error")
        assert err == ['"no suitable node (insufficient resources on 6 nodes)"']
        placed = [r[0] for r in rows(docker("service", "ps", "train", "--no-trunc")) if r[3]]
        assert len(placed) == 6
        given = json.loads(docker("inspect", "--type", "task", placed[0], "--format", "{{json .GenericResources}}"))
        assert given == [{"DiscreteResourceSpec": {"Kind": "gpu", "Value": 1}}]


def test_sim_serves_the_kubernetes_api_with_kube_addr(tmp_path: Path) -> None:
    addr = f"127.0.0.1:{free_port()}"
    with hollow_cluster(tmp_path, "--nodes", "3", "--kube-addr", addr) as run:
        (tmp_path / "kubeconfig").write_text(run("shoal", "kubeconfig"))
        assert f"server: https://{addr}" in (tmp_path / "kubeconfig").read_text()
        nodes = wait_for(lambda: rows(run("kubectl", "get", "nodes")), what="nodes")
        assert sorted(r[0] for r in nodes) == ["hollow-0", "hollow-1", "hollow-2"]
        assert {r[1] for r in nodes} == {"Ready"}
        run("kubectl", "apply", "-f", "-", input=POD)
        wait_for(lambda: [r for r in rows(run("kubectl", "get", "pods")) if r[2] == "Running"], what="Running")
        run("kubectl", "delete", "pod", "hollow-web", "--grace-period", "0")
        assert rows(run("kubectl", "get", "pods")) == []


POD = """apiVersion: v1
kind: Pod
metadata:
  name: hollow-web
spec:
  containers:
  - name: web
    image: web:latest
    imagePullPolicy: IfNotPresent
"""
