"""``shoal kube``: shoal's own commands for the Kubernetes side; ``dry-run -f FILE`` shows where the
Pods of a manifest would be placed, and why each other node refuses them, as ``shoal service create
--dry-run`` does for a service.

The CLI only reads and prints: it reads the manifest's YAML documents (a file, or ``-`` for stdin, as
kubectl does), sends them to the daemon (``POST /shoal/kube/dry-run``, the Kubernetes door reads them
as a create would, the core places the Pods, nothing is written), and prints one table: a row per
Pod and node, the node chosen marked, each other node with kube-scheduler's reasons; then how many
Pods would be placed, and the ``FailedScheduling`` message of each Pod that fits nowhere. Exit
status: 0 when every Pod fits, 1 when some Pod would stay Pending (as ``service create --dry-run``
when some task would), 1 with the line kubectl would print for a manifest the API server refuses.
"""

from __future__ import annotations

import sys
from typing import IO, Any

import click
import yaml

from shoal.cli.client import APIError, DockerError, client_of
from shoal.cli.output import table


class KubeError(DockerError):
    """A refusal shown as kubectl shows it (the daemon's message is that line), exit status 1."""


@click.group("kube")
def kube() -> None:
    """shoal's own commands for the Kubernetes side (Pods, Deployments)"""


@kube.command("dry-run")
@click.option("-f", "--filename", "files", multiple=True, required=True,
              help="Manifest(s) with the Pods, ReplicaSets or Deployments to place ('-' for stdin)")
@click.option("-n", "--namespace", default="default", show_default=True,
              help="Namespace of the objects that name none")
@click.pass_context
def dry_run(ctx: click.Context, files: tuple[str, ...], namespace: str) -> None:
    """Show where the Pods of a manifest would be placed, and why other nodes refuse them; create nothing"""
    docs: list[Any] = []
    for name in files:
        docs.extend(read_manifest(name))
    try:
        plan = client_of(ctx).post("/shoal/kube/dry-run", params={"namespace": namespace}, body=docs) or {}
    except APIError as e:
        raise KubeError(e.raw_message) from None
    print_pod_plan(plan, namespace)
    if any(p.get("Err") for p in plan.get("Pods") or []):
        ctx.exit(1)


def read_manifest(name: str) -> list[Any]:
    """The YAML (or JSON) documents of a file, or of stdin for ``-``."""
    try:
        if name == "-":
            return _load(sys.stdin, "STDIN")
        with open(name, encoding="utf-8") as f:
            return _load(f, name)
    except OSError as e:
        raise KubeError(f'error: the path "{name}" does not exist' if isinstance(e, FileNotFoundError)
                        else f"error: {e}") from None


def _load(stream: IO[str], name: str) -> list[Any]:
    try:
        return [d for d in yaml.safe_load_all(stream) if d is not None]
    except yaml.YAMLError as e:
        raise KubeError(f"error: error parsing {name}: {e}") from None


def pod_label(p: dict[str, Any]) -> str:
    """``pod/db``, or ``deployment.apps/web #2`` for one of an object's several Pods."""
    return p["Source"] if p.get("Replicas", 1) <= 1 else f"{p['Source']} #{p['Replica']}"


def print_pod_plan(plan: dict[str, Any], namespace: str = "default") -> None:
    """A row per Pod and node (the chosen node marked, the others' reasons), then the totals and
    the message of each Pod that would stay Pending."""
    pods = plan.get("Pods") or []
    several = any(p["Namespace"] != namespace for p in pods)
    rows = []
    for p in pods:
        first = True
        for v in p.get("Nodes") or [{"Node": "", "Reasons": []}]:
            row = [pod_label(p) if first else "", v["Node"], "yes" if v["Node"] and v["Node"] == p.get("Node") else "",
                   ", ".join(v.get("Reasons") or [])]
            rows.append([p["Namespace"] if first else "", *row] if several else row)
            first = False
    header = ["POD", "NODE", "PLACED", "REJECTED BY"]
    click.echo(table(["NAMESPACE", *header] if several else header, rows), nl=False)
    placed = [p for p in pods if p.get("Node")]
    used = len({p["Node"] for p in placed})
    click.echo(f"{len(placed)}/{len(pods)} {'Pod' if len(pods) == 1 else 'Pods'} would be placed on {used} "
               f"{'node' if used == 1 else 'nodes'}")
    for p in pods:
        if p.get("Err"):
            click.echo(f"{pod_label(p)} would stay Pending: {p['Err']}")
    for s in plan.get("Skipped") or []:
        click.echo(f"{s}: makes no Pods, left out")
