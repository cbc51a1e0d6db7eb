"""``shoal kubeconfig``: an admin kubeconfig for the cluster's Kubernetes API, from a manager."""

from __future__ import annotations

import click

from shoal.cli.client import client_of


@click.command("kubeconfig")
def kubeconfig() -> None:
    """Print a kubeconfig for the cluster's Kubernetes API (the API server's address and CA, and a
    client certificate of the admin group system:masters)."""
    click.echo(client_of().request("GET", "/shoal/kubeconfig").decode(), nl=False)
