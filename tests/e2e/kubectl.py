"""The real kubectl against a node's Kubernetes API: a kubeconfig from ``shoal kubeconfig``, a fresh
``--cache-dir`` per cluster (the machine's kubectl is a dispatcher that caches ``/version``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from shoal.devcluster import DevNode


class Kubectl:
    """``netns``: run kubectl in that network namespace (a client of a cluster of namespaced nodes)."""

    def __init__(self, node: DevNode, base: Path, netns: str = "") -> None:
        self.node = node
        self.netns = netns
        base.mkdir(parents=True, exist_ok=True)
        self.kubeconfig = base / "kubeconfig"
        self.cache = base / "kube-cache"
        self.home = base
        deadline = time.monotonic() + 30
        while True:
            r = subprocess.run([sys.executable, "-m", "shoal.cli.main", "-H", node.host, "kubeconfig"],
                               capture_output=True, text=True)
            if r.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert r.returncode == 0, r.stderr
        self.kubeconfig.write_text(r.stdout)
        self.kubeconfig.chmod(0o600)
        self.wait_ready()

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["HOME"] = str(self.home)
        env.pop("KUBECTL_EXTERNAL_DIFF", None)
        return env

    def run(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        cmd = [*self._prefix(), "kubectl", "--cache-dir", str(self.cache), *args]
        r = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout,
                           env={**self.env(), **(env or {})})
        if check and r.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    def __call__(self, *args: str, **kw: Any) -> str:
        return self.run(*args, **kw).stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json").stdout)

    def popen(self, *args: str, **kw: Any) -> subprocess.Popen[str]:
        return subprocess.Popen([*self._prefix(), "kubectl", "--cache-dir", str(self.cache), *args], env=self.env(),
                                text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)

    def _prefix(self) -> list[str]:
        return ["nsenter", f"--net=/run/netns/{self.netns}"] if self.netns else []

    def wait_ready(self, timeout: float = 30) -> None:
        """Until the API answers (the server starts once the node is a manager)."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.run("get", "--raw", "/version", check=False, timeout=10)
            if r.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the Kubernetes API did not answer: {r.stderr}")
            time.sleep(0.3)
