"""Entry point of the ``shoal`` command: the daemon, and docker-shaped client commands."""

from __future__ import annotations

import click

from shoal import __version__
from shoal.cli.daemon_cmd import daemon
from shoal.cli.image import image, images, import_, load, pull, rmi, save, tag
from shoal.cli.kube import kube
from shoal.cli.kubeconfig import kubeconfig
from shoal.cli.node import node
from shoal.cli.secret import config, secret
from shoal.cli.service import service
from shoal.cli.sim_cmd import sim
from shoal.cli.swarm import swarm
from shoal.cli.ui_token import ui_token


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
cli.add_command(swarm)
cli.add_command(node)
cli.add_command(service)
cli.add_command(secret)
cli.add_command(config)
cli.add_command(image)
cli.add_command(images)
cli.add_command(import_, "import")
cli.add_command(load)
cli.add_command(pull)
cli.add_command(save)
cli.add_command(tag)
cli.add_command(rmi)
cli.add_command(sim)
cli.add_command(kubeconfig)
cli.add_command(ui_token)
cli.add_command(kube)


def main() -> None:
    cli(prog_name="shoal")


if __name__ == "__main__":
    main()
