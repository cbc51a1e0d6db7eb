"""Image commands: ``images``/``image ls``, ``pull``, ``import``, ``load``, ``save``, ``tag``, ``rmi``,
``image inspect``. Their JSON message streams are drawn by ``jsonmessage`` as the docker CLI draws them."""

from __future__ import annotations

import base64
import io
import json
import os
import sys
from typing import IO, Any

import click

from shoal.cli import jsonmessage
from shoal.cli.client import Client, DockerError, client_of, emit_inspect, filters_param, parse_filter_flags, path_ref
from shoal.cli.output import IMAGE_HEADER, image_rows, inspect_json, parse_reference, reference_error, table


def _display_stream(c: Client, resp: Any, quiet: bool = False) -> None:
    """docker's ``jsonmessage.DisplayJSONMessagesStream`` on stdout: lines redrawn in place on a
    terminal, plain lines elsewhere; ``quiet``: nothing but an error."""
    out = sys.stdout
    if quiet:
        for msg in c.json_stream(resp):
            if msg.get("error") or msg.get("errorDetail"):
                jsonmessage.Display(io.StringIO(), tty=False).show(msg)
        return
    jsonmessage.display(c.json_stream(resp), out)


def registry_auth(domain: str) -> str:
    """``X-Registry-Auth`` for ``domain`` from the docker CLI's config (``docker login``'s
    ``auths``), as the docker CLI sends it: base64url JSON, ``{}`` when there are no credentials."""
    key = "https://index.docker.io/v1/" if domain == "docker.io" else domain
    path = os.path.join(os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker"), "config.json")
    entry: dict[str, Any] = {}
    try:
        with open(path) as f:
            auths = (json.load(f) or {}).get("auths") or {}
        entry = auths.get(key) or auths.get(f"https://{key}") or auths.get(f"http://{key}") or {}
    except (OSError, ValueError, AttributeError):
        entry = {}
    creds: dict[str, str] = {}
    if entry.get("auth"):
        try:
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            creds = {"username": user, "password": password, "serveraddress": key}
        except (ValueError, UnicodeDecodeError):
            creds = {}
    if entry.get("identitytoken"):
        creds = {**creds, "identitytoken": entry["identitytoken"], "serveraddress": key}
    return base64.urlsafe_b64encode(json.dumps(creds).encode()).decode()


@click.command("pull")
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output")
@click.option("--platform", default="", help="Set platform if server is multi-platform capable")
@click.argument("name", metavar="NAME[:TAG|@DIGEST]")
@click.pass_context
def pull(ctx: click.Context, quiet: bool, platform: str, name: str) -> None:
    """Download an image from a registry"""
    err = reference_error(name)
    if err:
        raise DockerError(err)
    full, tg, digest = parse_reference(name)
    if not tg and not digest:
        tg = "latest"
        if not quiet:
            click.echo(f"Using default tag: {tg}")
    c = client_of(ctx)
    params: list[tuple[str, Any]] = [("fromImage", full), ("tag", digest or tg)]
    if platform:
        params.append(("platform", platform.lower()))
    resp = c.open("POST", "/images/create", params, raw_body=b"",
                  headers={"X-Registry-Auth": registry_auth(full.split("/", 1)[0])})
    _display_stream(c, resp, quiet)
    click.echo(full + (f":{tg}" if tg else "") + (f"@{digest}" if digest else ""))


def list_images(ctx: click.Context, show_all: bool, quiet: bool, no_trunc: bool, digests: bool,
                filters: tuple[str, ...], ref: str | None) -> None:
    c = client_of(ctx)
    f = parse_filter_flags(filters)
    if ref:
        f.setdefault("reference", []).append(ref)
    params: dict[str, Any] = {}
    if f:
        params["filters"] = filters_param(f)
    if show_all:
        params["all"] = "1"
    images = c.get("/images/json", params) or []
    rows = image_rows(images, trunc=not no_trunc)
    if quiet:
        for r in rows:
            click.echo(r[2])
        return
    if digests:
        header = [*IMAGE_HEADER[:2], "DIGEST", *IMAGE_HEADER[2:]]
        rows = [[*r[:2], "<none>", *r[2:]] for r in rows]
        click.echo(table(header, rows), nl=False)
        return
    click.echo(table(IMAGE_HEADER, rows), nl=False)


def _ls_options(f: Any) -> Any:
    for opt in reversed([
        click.option("-a", "--all", "show_all", is_flag=True, help="Show all images (default hides intermediate "
                     "images)"),
        click.option("-q", "--quiet", is_flag=True, help="Only show image IDs"),
        click.option("--no-trunc", is_flag=True, help="Don't truncate output"),
        click.option("--digests", is_flag=True, help="Show digests"),
        click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided"),
        click.argument("ref", required=False, metavar="[REPOSITORY[:TAG]]"),
    ]):
        f = opt(f)
    return f


@click.command("images")
@_ls_options
@click.pass_context
def images(ctx: click.Context, show_all: bool, quiet: bool, no_trunc: bool, digests: bool,
           filters: tuple[str, ...], ref: str | None) -> None:
    """List images"""
    list_images(ctx, show_all, quiet, no_trunc, digests, filters, ref)


@click.command("import")
@click.option("-c", "--change", "changes", multiple=True, help="Apply Dockerfile instruction to the created image")
@click.option("-m", "--message", default="", help="Set commit message for imported image")
@click.option("--platform", default="", help="Set platform if server is multi-platform capable")
@click.argument("source", metavar="file|URL|-")
@click.argument("ref", required=False, metavar="[REPOSITORY[:TAG]]")
@click.pass_context
def import_(ctx: click.Context, changes: tuple[str, ...], message: str, platform: str, source: str,
            ref: str | None) -> None:
    """Import the contents from a tarball to create a filesystem image"""
    c = client_of(ctx)
    if ref and reference_error(ref):
        raise DockerError(str(reference_error(ref)))
    params: list[tuple[str, Any]] = []
    body: IO[bytes] | None = None
    close = False
    if source == "-":
        params.append(("fromSrc", "-"))
        body = click.get_binary_stream("stdin")
    elif "://" in source:
        params.append(("fromSrc", source))
    else:
        try:
            body = open(source, "rb")
        except OSError as e:
            raise DockerError(f"open {source}: {e.strerror.lower() if e.strerror else e}") from e
        close = True
        params.append(("fromSrc", "-"))
    if ref:
        params.append(("repo", ref))
    if message:
        params.append(("message", message))
    if platform:
        params.append(("platform", platform.lower()))
    params += [("changes", ch) for ch in changes]
    try:
        resp = c.open("POST", "/images/create", params, raw_body=body if body is not None else b"")
        _display_stream(c, resp)
    finally:
        if close and body is not None:
            body.close()


@click.command("load")
@click.option("-i", "--input", "input_", default=None, help="Read from tar archive file, instead of STDIN")
@click.option("-q", "--quiet", is_flag=True, help="Suppress the load output")
@click.pass_context
def load(ctx: click.Context, input_: str | None, quiet: bool) -> None:
    """Load an image from a tar archive or STDIN"""
    c = client_of(ctx)
    if input_:
        try:
            body: IO[bytes] = open(input_, "rb")
        except OSError as e:
            raise DockerError(f"open {input_}: {e.strerror.lower() if e.strerror else e}") from e
    else:
        stdin = click.get_binary_stream("stdin")
        if stdin.isatty():
            raise DockerError("requested load from stdin, but stdin is empty")
        body = stdin
    try:
        # as the docker CLI: the layers' progress only when it can be drawn on a terminal
        quiet_load = quiet or not sys.stdout.isatty()
        resp = c.open("POST", "/images/load", {"quiet": "1" if quiet_load else "0"}, raw_body=body,
                      headers={"Content-Type": "application/x-tar"})
        _display_stream(c, resp)
    finally:
        if input_:
            body.close()


@click.command("save")
@click.option("-o", "--output", default=None, help="Write to a file, instead of STDOUT")
@click.argument("names", nargs=-1, required=True, metavar="IMAGE...")
@click.pass_context
def save(ctx: click.Context, output: str | None, names: tuple[str, ...]) -> None:
    """Save one or more images to a tar archive (streamed to STDOUT by default)"""
    c = client_of(ctx)
    out_stream = click.get_binary_stream("stdout")
    if output is None and out_stream.isatty():
        raise DockerError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    resp = c.open("GET", "/images/get", [("names", n) for n in names])
    try:
        if output is None:
            while chunk := resp.read(1 << 20):
                out_stream.write(chunk)
            out_stream.flush()
            return
        tmp = output + ".shoal-tmp"
        try:
            with open(tmp, "wb") as f:
                while chunk := resp.read(1 << 20):
                    f.write(chunk)
            os.replace(tmp, output)
        except OSError as e:
            raise DockerError(f"failed to save image: {e}") from e
    finally:
        resp.close()


@click.command("tag")
@click.argument("source", metavar="SOURCE_IMAGE[:TAG]")
@click.argument("target", metavar="TARGET_IMAGE[:TAG]")
@click.pass_context
def tag(ctx: click.Context, source: str, target: str) -> None:
    """Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"""
    c = client_of(ctx)
    err = reference_error(target)
    if err:
        raise DockerError(f'Error parsing reference: "{target}" is not a valid repository/tag: {err}')
    full, tg, digest = parse_reference(target)
    if digest:
        raise DockerError("refusing to create a tag with a digest reference")
    c.request("POST", f"/images/{path_ref(source)}/tag", {"repo": full, "tag": tg or "latest"})


@click.command("rmi")
@click.option("-f", "--force", is_flag=True, help="Force removal of the image")
@click.option("--no-prune", is_flag=True, help="Do not delete untagged parents")
@click.argument("names", nargs=-1, required=True, metavar="IMAGE...")
@click.pass_context
def rmi(ctx: click.Context, force: bool, no_prune: bool, names: tuple[str, ...]) -> None:
    """Remove one or more images"""
    c = client_of(ctx)
    errs = []
    for name in names:
        try:
            dels = c.delete(f"/images/{path_ref(name)}",
                            {"force": "1" if force else None, "noprune": "1" if no_prune else None}) or []
        except DockerError as e:
            errs.append(e.format_message())
            continue
        for d in dels:
            if d.get("Deleted"):
                click.echo(f"Deleted: {d['Deleted']}")
            else:
                click.echo(f"Untagged: {d.get('Untagged', '')}")
    if errs:
        raise DockerError("\n".join(errs))


@click.group("image")
def image() -> None:
    """Manage images"""


@image.command("ls")
@_ls_options
@click.pass_context
def image_ls(ctx: click.Context, show_all: bool, quiet: bool, no_trunc: bool, digests: bool,
             filters: tuple[str, ...], ref: str | None) -> None:
    """List images"""
    list_images(ctx, show_all, quiet, no_trunc, digests, filters, ref)


@image.command("inspect")
@click.option("-f", "--format", "fmt", default="", help="Format output: 'json' or '{{json .}}'")
@click.argument("names", nargs=-1, required=True, metavar="IMAGE...")
@click.pass_context
def image_inspect(ctx: click.Context, fmt: str, names: tuple[str, ...]) -> None:
    """Display detailed information on one or more images"""
    import json

    c = client_of(ctx)
    raws, errs = [], []
    for name in names:
        try:
            raws.append(c.get_raw(f"/images/{path_ref(name)}/json").decode())
        except DockerError as e:
            errs.append(e.format_message())
    compact = [json.dumps(json.loads(r), separators=(",", ":"), ensure_ascii=False) for r in raws]
    emit_inspect(compact, fmt, lambda: inspect_json(raws), errs)


image.add_command(import_, "import")
image.add_command(pull, "pull")
image.add_command(load, "load")
image.add_command(save, "save")
image.add_command(tag, "tag")
image.add_command(rmi, "rm")
