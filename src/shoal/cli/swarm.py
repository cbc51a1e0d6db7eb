"""``shoal swarm``: init, join, join-token, leave — as ``docker swarm`` does them."""

from __future__ import annotations

from typing import Any

import click

from shoal.api.humanize import parse_go_duration
from shoal.cli.client import Client, DockerError, client_of, path_ref


def _duration(value: str | None, flag: str) -> int | None:
    if value is None:
        return None
    try:
        return parse_go_duration(value)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint=f"'{flag}'") from e


def print_join_command(c: Client, node_id: str, worker: bool, manager: bool) -> None:
    node = c.get(f"/nodes/{path_ref(node_id)}")
    sw = c.get("/swarm")
    ms = node.get("ManagerStatus")
    if ms is None:
        return
    tokens = sw.get("JoinTokens") or {}
    addr = ms.get("Addr", "")
    if worker:
        click.echo("To add a worker to this swarm, run the following command:\n\n"
                   f"    docker swarm join --token {tokens.get('Worker', '')} {addr}\n")
    if manager:
        click.echo("To add a manager to this swarm, run the following command:\n\n"
                   f"    docker swarm join --token {tokens.get('Manager', '')} {addr}\n")


def _spec(task_history_limit: int | None, dispatcher_heartbeat: str | None, cert_expiry: str | None,
          autolock: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "Labels": None, "Orchestration": {}, "Raft": {"ElectionTick": 0, "HeartbeatTick": 0}, "Dispatcher": {},
        "CAConfig": {}, "TaskDefaults": {}, "EncryptionConfig": {"AutoLockManagers": autolock},
    }
    if task_history_limit is not None:
        spec["Orchestration"]["TaskHistoryRetentionLimit"] = task_history_limit
    hb = _duration(dispatcher_heartbeat, "--dispatcher-heartbeat")
    if hb is not None:
        spec["Dispatcher"]["HeartbeatPeriod"] = hb
    ce = _duration(cert_expiry, "--cert-expiry")
    if ce is not None:
        spec["CAConfig"]["NodeCertExpiry"] = ce
    return spec


@click.group("swarm")
def swarm() -> None:
    """Manage Swarm"""


@swarm.command("init")
@click.option("--advertise-addr", default="", help="Advertised address (format: <ip|interface>[:port])")
@click.option("--listen-addr", default="0.0.0.0:2377", show_default=True,
              help="Listen address (format: <ip|interface>[:port])")
@click.option("--force-new-cluster", is_flag=True, help="Force create a new cluster from current state")
@click.option("--availability", default=None, help='Availability of the node ("active", "pause", "drain")')
@click.option("--data-path-addr", default="", help="Address or interface to use for data path traffic")
@click.option("--data-path-port", type=int, default=0, help="Port number to use for data path traffic")
@click.option("--default-addr-pool", multiple=True, help="default address pool in CIDR format")
@click.option("--default-addr-pool-mask-length", type=int, default=24, show_default=True,
              help="default address pool subnet mask length")
@click.option("--autolock", is_flag=True, help="Enable manager autolocking")
@click.option("--task-history-limit", type=int, default=None, help="Task history retention limit (default 5)")
@click.option("--dispatcher-heartbeat", default=None, help="Dispatcher heartbeat period (ns|us|ms|s|m|h)")
@click.option("--cert-expiry", default=None, help="Validity period for node certificates (ns|us|ms|s|m|h)")
@click.pass_context
def init(ctx: click.Context, advertise_addr: str, listen_addr: str, force_new_cluster: bool,
         availability: str | None, data_path_addr: str, data_path_port: int, default_addr_pool: tuple[str, ...],
         default_addr_pool_mask_length: int, autolock: bool, task_history_limit: int | None,
         dispatcher_heartbeat: str | None, cert_expiry: str | None) -> None:
    """Initialize a swarm"""
    c = client_of(ctx)
    req: dict[str, Any] = {
        "ListenAddr": listen_addr, "AdvertiseAddr": advertise_addr, "DataPathAddr": data_path_addr,
        "DataPathPort": data_path_port, "ForceNewCluster": force_new_cluster,
        "Spec": _spec(task_history_limit, dispatcher_heartbeat, cert_expiry, autolock),
        "AutoLockManagers": autolock, "Availability": "",
        "DefaultAddrPool": list(default_addr_pool) or None,
        "SubnetSize": default_addr_pool_mask_length if default_addr_pool else 0,
    }
    if availability is not None:
        a = availability.lower()
        if a not in ("active", "pause", "drain"):
            raise DockerError(f'invalid availability "{availability}", only active, pause and drain are supported')
        req["Availability"] = a
    try:
        node_id = c.post("/swarm/init", body=req)
    except DockerError as e:
        msg = e.format_message()
        if "could not choose an IP address to advertise" in msg or "could not find the system's IP address" in msg:
            raise DockerError(msg + " - specify one with --advertise-addr") from e
        raise
    click.echo(f"Swarm initialized: current node ({node_id}) is now a manager.\n")
    print_join_command(c, node_id, True, False)
    click.echo("To add a manager to this swarm, run 'docker swarm join-token manager' and follow the instructions.")
    if autolock:
        key = c.get("/swarm/unlockkey").get("UnlockKey", "")
        click.echo("\nTo unlock a swarm manager after it restarts, run the `docker swarm unlock`\n"
                   "command and provide the following key:\n\n"
                   f"    {key}\n\n"
                   "Remember to store this key in a password manager, since without it you\n"
                   "will not be able to restart the manager.")


@swarm.command("join")
@click.option("--token", required=True, help="Token for entry into the swarm")
@click.option("--advertise-addr", default="", help="Advertised address (format: <ip|interface>[:port])")
@click.option("--listen-addr", default="0.0.0.0:2377", show_default=True,
              help="Listen address (format: <ip|interface>[:port])")
@click.option("--availability", default="active", show_default=True,
              help='Availability of the node ("active", "pause", "drain")')
@click.option("--data-path-addr", default="", help="Address or interface to use for data path traffic")
@click.argument("remote")
@click.pass_context
def join(ctx: click.Context, token: str, advertise_addr: str, listen_addr: str, availability: str,
         data_path_addr: str, remote: str) -> None:
    """Join a swarm as a node and/or manager"""
    c = client_of(ctx)
    req = {"ListenAddr": listen_addr, "AdvertiseAddr": advertise_addr, "DataPathAddr": data_path_addr,
           "RemoteAddrs": [remote], "JoinToken": token, "Availability": availability.lower()}
    c.request("POST", "/swarm/join", body=req)
    info = c.info()
    if (info.get("Swarm") or {}).get("ControlAvailable"):
        click.echo("This node joined a swarm as a manager.")
    else:
        click.echo("This node joined a swarm as a worker.")


@swarm.command("join-token")
@click.option("-q", "--quiet", is_flag=True, help="Only display token")
@click.option("--rotate", is_flag=True, help="Rotate join token")
@click.argument("role")
@click.pass_context
def join_token(ctx: click.Context, quiet: bool, rotate: bool, role: str) -> None:
    """Manage join tokens"""
    worker, manager = role == "worker", role == "manager"
    if not worker and not manager:
        raise DockerError("unknown role " + role)
    c = client_of(ctx)
    if rotate:
        sw = c.get("/swarm")
        c.request("POST", "/swarm/update",
                  params={"version": sw["Version"]["Index"], "rotateWorkerToken": str(worker).lower(),
                          "rotateManagerToken": str(manager).lower(), "rotateManagerUnlockKey": "false"},
                  body=sw["Spec"])
        if not quiet:
            click.echo(f"Successfully rotated {role} join token.\n")
    sw = c.get("/swarm")
    tokens = sw.get("JoinTokens") or {}
    if quiet:
        click.echo(tokens.get("Worker" if worker else "Manager", ""))
        return
    print_join_command(c, c.self_node_id(), worker, manager)


@swarm.command("leave")
@click.option("-f", "--force", is_flag=True, help="Force this node to leave the swarm, ignoring warnings")
@click.pass_context
def leave(ctx: click.Context, force: bool) -> None:
    """Leave the swarm"""
    c = client_of(ctx)
    c.request("POST", "/swarm/leave", params={"force": "1"} if force else None)
    click.echo("Node left the swarm.")
