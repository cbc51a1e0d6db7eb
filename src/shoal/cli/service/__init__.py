"""``shoal service``: create, ls, ps, inspect, scale, update, rollback, rm, logs — as ``docker service``.

The click commands, thin: each turns its flags into requests to the Engine API and prints the answer
as the docker CLI does. The pieces live beside them, one concern each: ``options`` (the flags and
their parsers), ``spec`` (the ServiceSpec JSON built for ``create`` and edited for ``update``),
``progress`` (following a service to convergence unless ``-d``), ``pretty`` (``inspect --pretty``
and the dry run's table) and ``logs`` (the log stream's source and line context). The task table
``ps`` prints is shared with ``shoal node ps`` (``cli/tasks.py``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click

from shoal.cli.client import (
    APIError,
    Client,
    DockerError,
    client_of,
    emit_inspect,
    filters_param,
    parse_filter_flags,
    path_ref,
)
from shoal.cli.node import reference
from shoal.cli.output import SERVICE_HEADER, _order, go_inspect, go_json, go_shape, service_rows, table
from shoal.cli.service.logs import LogFormatter, log_source, since_param
from shoal.cli.service.options import common_options
from shoal.cli.service.pretty import pretty_service, print_plan
from shoal.cli.service.progress import wait_on_service
from shoal.cli.service.spec import build_spec, edit_spec, go_spec, resolve_image
from shoal.cli.tasks import print_tasks


@click.group("service")
def service() -> None:
    """Manage Swarm services"""


def _print_warnings(warnings: Sequence[str] | None) -> None:
    for w in warnings or []:
        click.echo(w, err=True)


@service.command("create", context_settings={"allow_interspersed_args": False})
@common_options
@click.option("--name", default="", help="Service name")
@click.option("--mode", default="replicated", show_default=True,
              help='Service mode ("replicated", "global", "replicated-job", "global-job")')
@click.option("--max-concurrent", type=click.IntRange(min=0), default=None,
              help="Number of job tasks to run concurrently (default equal to --replicas)")
@click.option("--constraint", multiple=True, help="Placement constraints")
@click.option("--placement-pref", multiple=True, help="Add a placement preference")
@click.option("--generic-resource", multiple=True, help="User defined resources")
@click.option("--dry-run", is_flag=True, help="Show where the tasks would be placed (shoal's own); create nothing")
@click.option("-e", "--env", multiple=True, help="Set environment variables")
@click.option("-l", "--label", multiple=True, help="Service labels")
@click.option("--container-label", multiple=True, help="Container labels")
@click.option("--group", multiple=True, help="Set one or more supplementary user groups for the container")
@click.option("--mount", multiple=True, help="Attach a filesystem mount to the service")
@click.option("-p", "--publish", multiple=True, help="Publish a port as a node port")
@click.argument("image")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def create(ctx: click.Context, image: str, args: tuple[str, ...], **o: Any) -> None:
    """Create a new service"""
    c = client_of(ctx)
    spec = build_spec(o, image, args)
    if o["dry_run"]:
        plan = c.post("/shoal/services/dry-run", body=spec) or {}
        print_plan(plan)
        if plan.get("Err"):  # some task would stay pending (as ``shoal kube dry-run`` for a Pod)
            ctx.exit(1)
        return
    warnings: list[str] = []
    if not o["no_resolve_image"]:
        resolve_image(c, spec, warnings)
    resp = c.post("/services/create", body=spec) or {}
    _print_warnings(warnings + list(resp.get("Warnings") or []))
    click.echo(resp["ID"])
    if o["detach"]:
        return
    wait_on_service(c, resp["ID"], o["quiet"])


@service.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only display IDs")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided")
@click.pass_context
def ls(ctx: click.Context, quiet: bool, filters: tuple[str, ...]) -> None:
    """List services"""
    c = client_of(ctx)
    f = parse_filter_flags(filters)
    params: dict[str, Any] = {"status": "true"}
    if f:
        params["filters"] = filters_param(f)
    services = c.get("/services", params) or []
    rows = service_rows(services)
    if quiet:
        for r in rows:
            click.echo(r[0])
        return
    click.echo(table(SERVICE_HEADER, rows), nl=False)


@service.command("ps")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided")
@click.option("--no-resolve", is_flag=True, help="Do not map IDs to Names")
@click.option("--no-trunc", is_flag=True, help="Do not truncate output")
@click.option("-q", "--quiet", is_flag=True, help="Only display task IDs")
@click.argument("services", nargs=-1, required=True)
@click.pass_context
def ps(ctx: click.Context, filters: tuple[str, ...], no_resolve: bool, no_trunc: bool, quiet: bool,
       services: tuple[str, ...]) -> None:
    """List the tasks of one or more services"""
    c = client_of(ctx)
    f = parse_filter_flags(filters)
    by_id = c.get("/services", {"filters": filters_param({"id": list(services)})}) or []
    by_name = c.get("/services", {"filters": filters_param({"name": list(services)})}) or []
    notfound: list[str] = []
    ids: list[str] = []
    for ref in services:
        hit = next((s for s in by_id if s["ID"] == ref), None) or next(
            (s for s in by_name if s["Spec"].get("Name") == ref), None)
        if hit is not None:
            ids.append(hit["ID"])
            continue
        pref = [s for s in by_id if s["ID"].startswith(ref)]
        if len(pref) > 1:
            raise DockerError("multiple services found with provided prefix: " + ref)
        if pref:
            ids.append(pref[0]["ID"])
        else:
            notfound.append("no such service: " + ref)
    if not ids:
        raise DockerError("\n".join(notfound))
    if "node" in f:
        f["node"] = [reference(c, n) for n in f["node"]]
    f["service"] = ids
    tasks = c.get("/tasks", {"filters": filters_param(f)}) or []
    print_tasks(c, tasks, trunc=not (no_trunc or quiet), quiet=quiet, no_resolve=no_resolve)
    if notfound:
        raise DockerError("\n".join(notfound))


# ---------------------------------------------------------------- inspect


@service.command("inspect")
@click.option("--pretty", is_flag=True, help="Print the information in a human friendly format")
@click.option("-f", "--format", "fmt", default="", help="Format output: 'json' or '{{json .}}'")
@click.argument("services", nargs=-1, required=True)
@click.pass_context
def inspect(ctx: click.Context, pretty: bool, fmt: str, services: tuple[str, ...]) -> None:
    """Display detailed information on one or more services"""
    if pretty and fmt:
        raise DockerError("--format is incompatible with human friendly format")
    c = client_of(ctx)

    def get(ref: str) -> bytes:
        try:
            return c.get_raw(f"/services/{path_ref(ref)}", {"insertDefaults": "true"})
        except APIError as e:
            if e.status == 404:
                raise DockerError(f"Error: no such service: {ref}") from e
            raise

    if pretty:
        for ref in services:
            click.echo(pretty_service(json.loads(get(ref))), nl=False)
        return
    objs, errs = [], []
    for ref in services:
        try:
            objs.append(json.loads(get(ref)))
        except DockerError as e:
            errs.append(e.format_message())
    compact = [go_json(_order(go_shape(o, "Service"), "Service")) for o in objs]
    emit_inspect(compact, fmt, lambda: go_inspect(objs, "Service"), errs)


# ---------------------------------------------------------------- scale, update, rollback, rm


@service.command("scale")
@click.option("-d", "--detach", is_flag=True, help="Exit immediately instead of waiting for the service to converge")
@click.argument("pairs", nargs=-1, required=True, metavar="SERVICE=REPLICAS...")
@click.pass_context
def scale(ctx: click.Context, detach: bool, pairs: tuple[str, ...]) -> None:
    """Scale one or multiple replicated services"""
    for arg in pairs:
        k, sep, v = arg.partition("=")
        if not sep or not k or not v:
            raise DockerError(f"invalid scale specifier '{arg}'.\nSee 'shoal service scale --help'.\n\n"
                              "Usage:  shoal service scale SERVICE=REPLICAS [SERVICE=REPLICAS...]\n\n"
                              "Scale one or multiple replicated services")
    c = client_of(ctx)
    errs: list[str] = []
    done: list[str] = []
    for arg in pairs:
        ref, _, num = arg.partition("=")
        try:
            n = int(num)
            if n < 0 or not num.isdigit():
                raise ValueError
        except ValueError:
            errs.append(f'{ref}: invalid replicas value {num}: strconv.ParseUint: parsing "{num}": invalid syntax')
            continue
        try:
            _print_warnings(_scale_one(c, ref, n))
        except DockerError as e:
            errs.append(f"{ref}: {e.format_message()}")
            continue
        click.echo(f"{ref} scaled to {n}")
        done.append(ref)
    if done and not detach:
        for ref in done:
            try:
                wait_on_service(c, ref)
            except DockerError as e:
                errs.append(f"{ref}: {e.format_message()}")
    if errs:
        raise DockerError("\n".join(errs))


def _scale_one(c: Client, ref: str, n: int) -> list[str] | None:
    """Set one service's replica count (or a replicated job's completions); the daemon's warnings."""
    svc = c.get(f"/services/{path_ref(ref)}")
    mode = svc["Spec"].setdefault("Mode", {})
    if mode.get("Replicated") is not None:
        mode["Replicated"]["Replicas"] = n
    elif mode.get("ReplicatedJob") is not None:
        mode["ReplicatedJob"]["TotalCompletions"] = n
    else:
        raise DockerError("scale can only be used with replicated or replicated-job mode")
    resp = c.post(f"/services/{path_ref(svc['ID'])}/update", {"version": svc["Version"]["Index"]},
                  body=go_spec(svc["Spec"]))
    warnings: list[str] | None = (resp or {}).get("Warnings")
    return warnings


@service.command("update")
@common_options
@click.option("--image", default=None, help="Service image tag")
@click.option("--args", "args_", default=None, help="Service command args")
@click.option("--force", is_flag=True, help="Force update even if no changes require it")
@click.option("--rollback", is_flag=True, help="Rollback to previous specification")
@click.option("--env-add", multiple=True, help="Add or update an environment variable")
@click.option("--env-rm", multiple=True, help="Remove an environment variable")
@click.option("--label-add", multiple=True, help="Add or update a service label")
@click.option("--label-rm", multiple=True, help="Remove a label by its key")
@click.option("--container-label-add", multiple=True, help="Add or update a container label")
@click.option("--container-label-rm", multiple=True, help="Remove a container label by its key")
@click.option("--constraint-add", multiple=True, help="Add or update a placement constraint")
@click.option("--constraint-rm", multiple=True, help="Remove a constraint")
@click.option("--placement-pref-add", multiple=True, help="Add a placement preference")
@click.option("--placement-pref-rm", multiple=True, help="Remove a placement preference")
@click.option("--generic-resource-add", multiple=True, help="Add a Generic resource")
@click.option("--generic-resource-rm", multiple=True, help="Remove a Generic resource")
@click.option("--publish-add", multiple=True, help="Add or update a published port")
@click.option("--publish-rm", multiple=True, help="Remove a published port by its target port")
@click.option("--mount-add", multiple=True, help="Add or update a mount on a service")
@click.option("--mount-rm", multiple=True, help="Remove a mount by its target path")
@click.option("--group-add", multiple=True, help="Add an additional supplementary user group to the container")
@click.option("--group-rm", multiple=True, help="Remove a previously added supplementary user group")
@click.argument("ref", metavar="SERVICE")
@click.pass_context
def update(ctx: click.Context, ref: str, **o: Any) -> None:
    """Update a service"""
    c = client_of(ctx)
    params: dict[str, Any] = {}
    if o["rollback"]:
        others = [k for k, v in o.items() if k not in ("rollback", "detach", "quiet") and v not in (None, False, ())]
        if others:
            raise DockerError("other flags may not be combined with --rollback")
        params["rollback"] = "previous"
    svc = c.get(f"/services/{path_ref(ref)}")
    spec = svc["Spec"]
    edit_spec(spec, o)
    warnings: list[str] = []
    if o["image"] is not None and not o["no_resolve_image"]:
        resolve_image(c, spec, warnings)
    params["version"] = svc["Version"]["Index"]
    if not o["with_registry_auth"]:
        params["registryAuthFrom"] = "spec"
    resp = c.post(f"/services/{path_ref(svc['ID'])}/update", params, body=go_spec(spec))
    _print_warnings(warnings + list((resp or {}).get("Warnings") or []))
    click.echo(ref)
    if o["detach"]:
        return
    wait_on_service(c, ref, o["quiet"])


@service.command("rollback")
@click.option("-d", "--detach", is_flag=True, help="Exit immediately instead of waiting for the service to converge")
@click.option("-q", "--quiet", is_flag=True, help="Suppress progress output")
@click.argument("ref", metavar="SERVICE")
@click.pass_context
def rollback(ctx: click.Context, detach: bool, quiet: bool, ref: str) -> None:
    """Revert changes to a service's configuration"""
    c = client_of(ctx)
    svc = c.get(f"/services/{path_ref(ref)}")
    resp = c.post(f"/services/{path_ref(svc['ID'])}/update",
                  {"version": svc["Version"]["Index"], "rollback": "previous"}, body=go_spec(svc["Spec"]))
    _print_warnings((resp or {}).get("Warnings"))
    click.echo(ref)
    if detach:
        return
    wait_on_service(c, ref, quiet)


@service.command("rm")
@click.argument("services", nargs=-1, required=True)
@click.pass_context
def rm(ctx: click.Context, services: tuple[str, ...]) -> None:
    """Remove one or more services"""
    c = client_of(ctx)
    errs = []
    for ref in services:
        try:
            c.request("DELETE", f"/services/{path_ref(ref)}")
        except DockerError as e:
            errs.append(e.format_message())
            continue
        click.echo(ref)
    if errs:
        raise DockerError("\n".join(errs))


# ---------------------------------------------------------------- logs


@service.command("logs")
@click.option("--details", is_flag=True, help="Show extra details provided to logs")
@click.option("-f", "--follow", is_flag=True, help="Follow log output")
@click.option("--no-resolve", is_flag=True, help="Do not map IDs to Names in output")
@click.option("--no-task-ids", is_flag=True, help="Do not include task IDs in output")
@click.option("--no-trunc", is_flag=True, help="Do not truncate output")
@click.option("--raw", is_flag=True, help="Do not neatly format logs")
@click.option("--since", default="", help="Show logs since timestamp or relative (e.g. 42m for 42 minutes)")
@click.option("-n", "--tail", default="all", show_default=True, help="Number of lines to show from the end of the logs")
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps")
@click.argument("ref", metavar="SERVICE|TASK")
@click.pass_context
def logs(ctx: click.Context, details: bool, follow: bool, no_resolve: bool, no_task_ids: bool, no_trunc: bool,
         raw: bool, since: str, tail: str, timestamps: bool, ref: str) -> None:
    """Fetch the logs of a service or task"""
    c = client_of(ctx)
    source = log_source(c, ref)
    if source.tty and not raw:
        raise DockerError("tty service logs only supported with --raw")
    params = {"stdout": "1", "stderr": "1", "since": since_param(since) if since else None,
              "timestamps": "1" if timestamps else None, "follow": "1" if follow else None, "tail": tail,
              "details": "1" if (details or not raw) else None}
    resp = c.open("GET", source.path, params)
    fmt = None if raw else LogFormatter(c, timestamps, details, no_task_ids, no_trunc, no_resolve, source.slot_width)
    stdout, stderr = sys.stdout.buffer, sys.stderr.buffer
    try:
        for stream, payload in c.frames(resp, source.tty):
            if stream == 3:
                raise DockerError(payload.decode(errors="replace").rstrip("\n"))
            data = payload if fmt is None else fmt.format(payload)
            target = stderr if stream == 2 else stdout
            target.write(data)
            target.flush()
    except KeyboardInterrupt:
        return
    except BrokenPipeError:
        return
