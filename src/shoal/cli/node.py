"""``shoal node``: ls, inspect, update, promote, demote, rm, ps — as ``docker node`` does them."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import click

from shoal.cli.client import (
    Client,
    DockerError,
    client_of,
    emit_inspect,
    filters_param,
    kv_map,
    parse_filter_flags,
    path_ref,
)
from shoal.cli.output import (
    NODE_HEADER,
    _order,
    bytes_size,
    go_inspect,
    go_json,
    go_shape,
    go_time_string,
    node_rows,
    pretty_print,
    table,
)
from shoal.cli.tasks import print_tasks


class NoRoleChange(Exception):
    pass


def reference(c: Client, ref: str) -> str:
    """``self`` is the node this daemon runs (``/info`` Swarm.NodeID); anything else is kept."""
    if ref != "self":
        return ref
    node_id = c.self_node_id()
    if not node_id:
        c.get("/nodes")  # the daemon's own error ("This node is not a swarm manager…") if it has one
        raise DockerError("node ID not found in /info")
    return node_id


def update_nodes(c: Client, refs: list[str], merge: Callable[[dict[str, Any]], None],
                 success: Callable[[str], None]) -> None:
    for ref in refs:
        node = c.get(f"/nodes/{path_ref(ref)}")
        try:
            merge(node)
        except NoRoleChange:
            continue
        c.request("POST", f"/nodes/{path_ref(node['ID'])}/update", params={"version": node["Version"]["Index"]},
                  body=json.loads(go_json(_order(go_shape(node["Spec"], "NodeSpec"), "NodeSpec"))))
        success(ref)


@click.group("node")
def node() -> None:
    """Manage Swarm nodes"""


@node.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only display IDs")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided")
@click.pass_context
def ls(ctx: click.Context, quiet: bool, filters: tuple[str, ...]) -> None:
    """List nodes in the swarm"""
    c = client_of(ctx)
    f = parse_filter_flags(filters)
    nodes = c.get("/nodes", {"filters": filters_param(f)} if f else None) or []
    if quiet:
        for row in node_rows(nodes, ""):
            click.echo(row[0].rstrip(" *"))
        return
    self_id = c.self_node_id()
    click.echo(table(NODE_HEADER, node_rows(nodes, self_id)), nl=False)


def pretty_node(n: dict[str, Any]) -> str:
    """docker's ``nodeInspectPrettyTemplate``."""
    spec = n.get("Spec") or {}
    desc = n.get("Description") or {}
    status = n.get("Status") or {}
    out = [f"ID:\t\t\t{n.get('ID', '')}"]
    if spec.get("Name"):
        out.append(f"Name:\t\t\t{spec['Name']}")
    if spec.get("Labels"):
        out.append("Labels:")
        out += [f" - {k}" + (f"={v}" if v else "") for k, v in sorted(spec["Labels"].items())]
    out.append(f"Hostname:              \t{desc.get('Hostname', '')}")
    out.append(f"Joined at:             \t{pretty_print(go_time_string(n.get('CreatedAt', '')))}")
    out.append("Status:")
    out.append(f" State:\t\t\t{pretty_print(status.get('State', ''))}")
    if status.get("Message"):
        out.append(f" Message:              \t{pretty_print(status['Message'])}")
    out.append(f" Availability:         \t{pretty_print(spec.get('Availability', ''))}")
    if status.get("Addr"):
        out.append(f" Address:\t\t{status['Addr']}")
    ms = n.get("ManagerStatus")
    if ms is not None:
        out.append("Manager Status:")
        out.append(f" Address:\t\t{ms.get('Addr', '')}")
        out.append(f" Raft Status:\t\t{pretty_print(ms.get('Reachability', ''))}")
        out.append(" Leader:\t\tYes" if ms.get("Leader") else " Leader:\t\tNo")
    plat = desc.get("Platform") or {}
    out.append("Platform:")
    out.append(f" Operating System:\t{plat.get('OS', '')}")
    out.append(f" Architecture:\t\t{plat.get('Architecture', '')}")
    res = desc.get("Resources") or {}
    out.append("Resources:")
    out.append(f" CPUs:\t\t\t{int((res.get('NanoCPUs') or 0) / 1e9)}")
    mem = res.get("MemoryBytes") or 0
    out.append(f" Memory:\t\t{bytes_size(mem) if mem else ''}")
    engine = desc.get("Engine") or {}
    plugins = engine.get("Plugins") or []
    if plugins:
        out.append("Plugins:")
        by_type: dict[str, list[str]] = {}
        for p in plugins:
            by_type.setdefault(p.get("Type", ""), []).append(p.get("Name", ""))
        for k in sorted(by_type):
            v = ", ".join(by_type[k])
            out.append(f" {k}:" + (f"\t\t{v}" if v else ""))
    out.append(f"Engine Version:\t\t{engine.get('EngineVersion', '')}")
    if engine.get("Labels"):
        out.append("Engine Labels:")
        out += [f" - {k}" + (f"={v}" if v else "") for k, v in sorted(engine["Labels"].items())]
    tls = desc.get("TLSInfo") or {}
    if any(tls.get(k) for k in ("TrustRoot", "CertIssuerSubject", "CertIssuerPublicKey")):
        out.append("TLS Info:")
        out.append(" TrustRoot:")
        out.append(tls.get("TrustRoot", ""))
        out.append(f" Issuer Subject:\t{_b64(tls.get('CertIssuerSubject'))}")
        out.append(f" Issuer Public Key:\t{_b64(tls.get('CertIssuerPublicKey'))}")
    return "\n".join(out) + "\n"


def _b64(v: Any) -> str:
    """Go marshals []byte as base64 and the template re-encodes the bytes: the JSON string as is."""
    if not v:
        return ""
    if isinstance(v, str):
        return v
    return base64.b64encode(bytes(v)).decode()


@node.command("inspect")
@click.option("--pretty", is_flag=True, help="Print the information in a human friendly format")
@click.option("-f", "--format", "fmt", default="", help="Format output: 'json' or '{{json .}}'")
@click.argument("nodes", nargs=-1, required=True)
@click.pass_context
def inspect(ctx: click.Context, pretty: bool, fmt: str, nodes: tuple[str, ...]) -> None:
    """Display detailed information on one or more nodes"""
    c = client_of(ctx)
    if pretty:
        for ref in nodes:
            click.echo(pretty_node(c.get(f"/nodes/{path_ref(reference(c, ref))}")), nl=False)
        return
    objs, errs = [], []
    for ref in nodes:
        try:
            objs.append(c.get(f"/nodes/{path_ref(reference(c, ref))}"))
        except DockerError as e:
            errs.append(e.format_message())
    compact = [go_json(_order(go_shape(o, "Node"), "Node")) for o in objs]
    emit_inspect(compact, fmt, lambda: go_inspect(objs, "Node"), errs)


@node.command("update")
@click.option("--availability", default=None, help='Availability of the node ("active", "pause", "drain")')
@click.option("--label-add", multiple=True, help="Add or update a node label (key=value)")
@click.option("--label-rm", multiple=True, help="Remove a node label if exists")
@click.option("--role", default=None, help='Role of the node ("worker", "manager")')
@click.argument("ref", metavar="NODE")
@click.pass_context
def update(ctx: click.Context, availability: str | None, label_add: tuple[str, ...], label_rm: tuple[str, ...],
           role: str | None, ref: str) -> None:
    """Update a node"""
    c = client_of(ctx)

    def merge(n: dict[str, Any]) -> None:
        spec = n.setdefault("Spec", {})
        if spec.get("Labels") is None:
            spec["Labels"] = {}
        if role is not None:
            spec["Role"] = role
        if availability is not None:
            spec["Availability"] = availability
        for k, v in kv_map(label_add).items():
            spec["Labels"][k] = v
        for k in label_rm:
            if k not in spec["Labels"]:
                raise DockerError(f"key {k} doesn't exist in node's labels")
            del spec["Labels"][k]

    update_nodes(c, [ref], merge, lambda _ref: click.echo(ref))


@node.command("promote")
@click.argument("nodes", nargs=-1, required=True)
@click.pass_context
def promote(ctx: click.Context, nodes: tuple[str, ...]) -> None:
    """Promote one or more nodes to manager in the swarm"""
    c = client_of(ctx)

    def merge(n: dict[str, Any]) -> None:
        if n["Spec"].get("Role") == "manager":
            click.echo(f"Node {n['ID']} is already a manager.")
            raise NoRoleChange
        n["Spec"]["Role"] = "manager"

    update_nodes(c, list(nodes), merge, lambda r: click.echo(f"Node {r} promoted to a manager in the swarm."))


@node.command("demote")
@click.argument("nodes", nargs=-1, required=True)
@click.pass_context
def demote(ctx: click.Context, nodes: tuple[str, ...]) -> None:
    """Demote one or more nodes from manager in the swarm"""
    c = client_of(ctx)

    def merge(n: dict[str, Any]) -> None:
        if n["Spec"].get("Role") == "worker":
            click.echo(f"Node {n['ID']} is already a worker.")
            raise NoRoleChange
        n["Spec"]["Role"] = "worker"

    update_nodes(c, list(nodes), merge, lambda r: click.echo(f"Manager {r} demoted in the swarm."))


@node.command("rm")
@click.option("-f", "--force", is_flag=True, help="Force remove a node from the swarm")
@click.argument("nodes", nargs=-1, required=True)
@click.pass_context
def rm(ctx: click.Context, force: bool, nodes: tuple[str, ...]) -> None:
    """Remove one or more nodes from the swarm"""
    c = client_of(ctx)
    errs = []
    for ref in nodes:
        try:
            c.request("DELETE", f"/nodes/{path_ref(ref)}", params={"force": "1"} if force else None)
        except DockerError as e:
            errs.append(e.format_message())
            continue
        click.echo(ref)
    if errs:
        raise DockerError("\n".join(errs))


@node.command("ps")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided")
@click.option("--no-resolve", is_flag=True, help="Do not map IDs to Names")
@click.option("--no-trunc", is_flag=True, help="Do not truncate output")
@click.option("-q", "--quiet", is_flag=True, help="Only display task IDs")
@click.argument("nodes", nargs=-1)
@click.pass_context
def ps(ctx: click.Context, filters: tuple[str, ...], no_resolve: bool, no_trunc: bool, quiet: bool,
       nodes: tuple[str, ...]) -> None:
    """List tasks running on one or more nodes, defaults to current node"""
    c = client_of(ctx)
    errs: list[str] = []
    tasks: list[dict[str, Any]] = []
    for ref in nodes or ("self",):
        try:
            n = c.get(f"/nodes/{path_ref(reference(c, ref))}")
            f = parse_filter_flags(filters)
            f.setdefault("node", []).append(n["ID"])
            tasks += c.get("/tasks", {"filters": filters_param(f)}) or []
        except DockerError as e:
            errs.append(e.format_message())
    if not errs or tasks:
        print_tasks(c, tasks, trunc=not no_trunc, quiet=quiet, no_resolve=no_resolve)
    if errs:
        raise DockerError("\n".join(errs))
