"""``shoal ui-token``: a login token for the web console served off loopback, from a manager."""

from __future__ import annotations

import click

from shoal.cli.client import client_of


@click.command("ui-token")
@click.option("--ttl", type=float, default=86400.0, show_default=True, help="Seconds the token stays valid")
def ui_token(ttl: float) -> None:
    """Print a login token for the web console (``--ui-addr`` off loopback asks for it, and every
    address asks for it before an action): valid on every manager of the cluster until it expires
    or the cluster's root CA changes."""
    click.echo(client_of().request("GET", "/shoal/ui-token", {"ttl": f"{ttl:g}"}).decode().strip())
