"""A hollow cluster (`shoal sim`) driven by the real docker CLI: five nodes with labels, a constrained
service spread over the matching ones, and the benchmark command's JSON line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import rows, wait_for

pytestmark = [pytest.mark.e2e]


def test_docker_cli_drives_a_hollow_cluster(tmp_path: Path) -> None:
    sock = str(tmp_path / "sim.sock")
    env = dict(os.environ, DOCKER_HOST=f"unix://{sock}", DOCKER_CONFIG=str(tmp_path / "docker-config"))
    proc = subprocess.Popen([sys.executable, "-m", "shoal.cli.main", "sim", "--nodes", "5", "--labels",
                             "zone=a,b;rack=1-5", "-H", f"unix://{sock}"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: os.path.exists(sock), what="sim socket")

        def docker(*args: str) -> str:
            return subprocess.run(["docker", *args], capture_output=True, text=True, env=env, check=True).stdout

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
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
