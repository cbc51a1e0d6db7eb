"""``shoal kube dry-run``'s printing (the service dry run's table style: a row per Pod and node, the
node chosen marked, the other nodes' reasons; the totals; each Pending Pod's message) and its reading
of manifests (YAML documents from a file or stdin, kubectl's words for a bad one)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from shoal.cli.kube import KubeError, print_pod_plan, read_manifest
from shoal.cli.main import cli

TAINT = "node(s) had untolerated taint {dedicated: db}"


def placement(source: str, replica: int, replicas: int, node: str, reasons: dict[str, list[str]],
              err: str = "", namespace: str = "default") -> dict[str, object]:
    return {"Namespace": namespace, "Source": source, "Replica": replica, "Replicas": replicas, "Node": node,
            "Nodes": [{"Node": n, "Reasons": r} for n, r in reasons.items()], "Err": err}


def test_the_table_the_totals_and_the_pending_pods(capsys: pytest.CaptureFixture[str]) -> None:
    print_pod_plan({"Pods": [
        placement("deployment.apps/web", 1, 2, "n1", {"n1": [], "n2": [TAINT], "n3": []}),
        placement("deployment.apps/web", 2, 2, "", {"n1": ["Insufficient cpu", "Insufficient memory"],
                                                     "n2": [TAINT], "n3": ["Insufficient memory"]},
                  err="0/3 nodes are available: …"),
        placement("pod/db", 1, 1, "n2", {"n1": [], "n2": [], "n3": []}),
    ], "Skipped": ["configmap/cfg"]})
    assert capsys.readouterr().out == (
        "POD                      NODE      PLACED    REJECTED BY\n"
        "deployment.apps/web #1   n1        yes       \n"
        "                         n2                  node(s) had untolerated taint {dedicated: db}\n"
        "                         n3                  \n"
        "deployment.apps/web #2   n1                  Insufficient cpu, Insufficient memory\n"
        "                         n2                  node(s) had untolerated taint {dedicated: db}\n"
        "                         n3                  Insufficient memory\n"
        "pod/db                   n1                  \n"
        "                         n2        yes       \n"
        "                         n3                  \n"
        "2/3 Pods would be placed on 2 nodes\n"
        "deployment.apps/web #2 would stay Pending: 0/3 nodes are available: …\n"
        "configmap/cfg: makes no Pods, left out\n")


def test_a_namespace_column_when_pods_are_elsewhere(capsys: pytest.CaptureFixture[str]) -> None:
    print_pod_plan({"Pods": [placement("pod/db", 1, 1, "n1", {"n1": []}, namespace="data")]})
    assert capsys.readouterr().out == (
        "NAMESPACE   POD       NODE      PLACED    REJECTED BY\n"
        "data        pod/db    n1        yes       \n"
        "1/1 Pod would be placed on 1 node\n")


def test_manifests_from_a_file_or_stdin(tmp_path: Path) -> None:
    f = tmp_path / "m.yaml"
    f.write_text("apiVersion: v1\nkind: Pod\n---\n---\napiVersion: v1\nkind: Namespace\n")
    assert read_manifest(str(f)) == [{"apiVersion": "v1", "kind": "Pod"}, {"apiVersion": "v1", "kind": "Namespace"}]
    with pytest.raises(KubeError, match=r'error: the path ".*nope.yaml" does not exist'):
        read_manifest(str(tmp_path / "nope.yaml"))
    f.write_text("kind: [\n")
    with pytest.raises(KubeError, match=r"^error: error parsing .*m.yaml: "):
        read_manifest(str(f))
    # A bad manifest is refused before the daemon is asked (none listens here).
    r = CliRunner().invoke(cli, ["-H", f"unix://{tmp_path}/none.sock", "kube", "dry-run", "-f", "-"],
                           input="kind: [\n")
    assert r.exit_code == 1 and r.stderr.startswith("error: error parsing STDIN: ")
