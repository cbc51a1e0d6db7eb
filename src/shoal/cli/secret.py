"""``shoal secret`` and ``shoal config``: create, ls, inspect, rm — as ``docker secret`` and
``docker config`` do them, over the same Engine API routes (``/secrets``, ``/configs``).

One factory makes both groups; they differ only in their route, their table (a secret has a DRIVER
column) and ``inspect --pretty`` (a config shows its data, a secret never has it).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import click

from shoal.cli.client import DockerError, client_of, emit_inspect, filters_param, kv_map, parse_filter_flags, path_ref
from shoal.cli.output import go_time_string, human_duration, inspect_json, pretty_print, since, table


def _read_data(source: str) -> bytes:
    if source == "-":
        return click.get_binary_stream("stdin").read()
    try:
        with open(source, "rb") as f:
            return f.read()
    except OSError as e:
        raise DockerError(f"open {source}: {e.strerror.lower() if e.strerror else e}") from e


def _ago(ts: str) -> str:
    return human_duration(since(ts)) + " ago"


def _pretty(kind: str, o: dict[str, Any]) -> str:
    """docker's ``secretInspectPrettyTemplate`` / ``configInspectPrettyTemplate`` (tabs in the latter)."""
    spec = o.get("Spec") or {}
    secret = kind == "secret"
    ident, name, when = ("ID:              ", "Name:              ", "{}:        ") if secret else \
        ("ID:\t\t\t", "Name:\t\t\t", "{}:            \t")
    out = [ident + o.get("ID", ""), name + spec.get("Name", "")]
    labels = spec.get("Labels") or {}
    if labels:
        out.append("Labels:")
        out += [f" - {k}" + (f"={v}" if v else "") for k, v in sorted(labels.items())]
    if secret:
        out.append(f"Driver:            {(spec.get('Driver') or {}).get('Name', '')}")
    out.append(when.format("Created at") + pretty_print(go_time_string(o.get("CreatedAt", ""))))
    out.append(when.format("Updated at") + pretty_print(go_time_string(o.get("UpdatedAt", ""))))
    if not secret and spec.get("Data"):
        out += ["Data:", base64.b64decode(spec["Data"]).decode(errors="replace")]
    return "\n".join(out) + "\n"


def payload_group(kind: str) -> click.Group:
    """The ``secret`` or ``config`` command group."""
    route = f"/{kind}s"
    title = kind.capitalize()

    @click.group(kind, help=f"Manage Swarm {kind}s")
    def group() -> None:
        pass

    @group.command("create", help=f"Create a {kind} from a file or STDIN as content")
    @click.option("-l", "--label", "labels", multiple=True, help=f"{title} labels")
    @click.argument("name", metavar=kind.upper())
    @click.argument("source", metavar="file|-")
    @click.pass_context
    def create(ctx: click.Context, labels: tuple[str, ...], name: str, source: str) -> None:
        body = {"Name": name, "Labels": kv_map(labels), "Data": base64.b64encode(_read_data(source)).decode()}
        click.echo(client_of(ctx).post(f"{route}/create", body=body)["ID"])

    @group.command("ls", help=f"List {kind}s")
    @click.option("-q", "--quiet", is_flag=True, help="Only display IDs")
    @click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided")
    @click.pass_context
    def ls(ctx: click.Context, quiet: bool, filters: tuple[str, ...]) -> None:
        f = parse_filter_flags(filters)
        objs = client_of(ctx).get(route, {"filters": filters_param(f)} if f else None) or []
        objs.sort(key=lambda o: (o.get("Spec") or {}).get("Name", ""))
        if quiet:
            for o in objs:
                click.echo(o["ID"])
            return
        header = ["ID", "NAME", "DRIVER", "CREATED", "UPDATED"] if kind == "secret" else \
            ["ID", "NAME", "CREATED", "UPDATED"]
        rows = []
        for o in objs:
            spec = o.get("Spec") or {}
            driver = [(spec.get("Driver") or {}).get("Name", "")] if kind == "secret" else []
            rows.append([o["ID"], spec.get("Name", ""), *driver, _ago(o.get("CreatedAt", "")),
                         _ago(o.get("UpdatedAt", ""))])
        click.echo(table(header, rows), nl=False)

    @group.command("inspect", help=f"Display detailed information on one or more {kind}s")
    @click.option("--pretty", is_flag=True, help="Print the information in a human friendly format")
    @click.option("-f", "--format", "fmt", default="", help="Format output: 'json' or '{{json .}}'")
    @click.argument("refs", nargs=-1, required=True, metavar=f"{kind.upper()} [{kind.upper()}...]")
    @click.pass_context
    def inspect(ctx: click.Context, pretty: bool, fmt: str, refs: tuple[str, ...]) -> None:
        c = client_of(ctx)
        raws, errs = [], []
        for ref in refs:
            try:
                raws.append(c.get_raw(f"{route}/{path_ref(ref)}").decode())
            except DockerError as e:
                errs.append(e.format_message())
        if pretty:
            click.echo("\n".join(_pretty(kind, json.loads(r)) for r in raws), nl=False)
            if errs:
                raise DockerError("\n".join(errs))
            return
        compact = [json.dumps(json.loads(r), separators=(",", ":")) for r in raws]
        emit_inspect(compact, fmt, lambda: inspect_json(raws), errs)

    @group.command("rm", help=f"Remove one or more {kind}s")
    @click.argument("refs", nargs=-1, required=True, metavar=f"{kind.upper()} [{kind.upper()}...]")
    @click.pass_context
    def rm(ctx: click.Context, refs: tuple[str, ...]) -> None:
        c = client_of(ctx)
        errs = []
        for ref in refs:
            try:
                c.request("DELETE", f"{route}/{path_ref(ref)}")
                click.echo(ref)
            except DockerError as e:
                errs.append(e.format_message())
        if errs:
            raise DockerError("\n".join(errs))

    return group


secret = payload_group("secret")
config = payload_group("config")
