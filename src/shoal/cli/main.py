"""Entry point of the ``shoal`` command: the daemon, and docker-shaped client commands."""

from __future__ import annotations

import click

from shoal import __version__
from shoal.cli.daemon_cmd import daemon


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="shoal")
@click.option("-H", "--host", envvar="SHOAL_HOST", default=None,
              help="Daemon socket to connect to (default: $DOCKER_HOST or unix:///run/shoal/shoal.sock)")
@click.pass_context
def cli(ctx: click.Context, host: str | None) -> None:
    """shoal: a container orchestrator (Docker Swarm mode and the Kubernetes object model)."""
    ctx.ensure_object(dict)
    ctx.obj["host"] = host


cli.add_command(daemon)


def main() -> None:
    cli(prog_name="shoal")


if __name__ == "__main__":
    main()
