"""Service templates: Go template placeholders in a task's hostname, environment and mounts, as
SwarmKit expands them on the node (``template.ExpandContainerSpec``).

The values: ``.Service.ID|Name|Labels``, ``.Node.ID|Hostname|Platform.OS|Platform.Architecture``,
``.Task.ID|Name|Slot`` (``Task.Name`` is ``<service>.<slot>.<task id>``; a global task's slot is
its node's ID). The syntax is Go's ``text/template`` for what a placeholder needs: fields (maps'
keys too: a missing one prints ``<no value>``), string and number constants, the functions
``index``, ``printf``, ``print``, ``len``, pipelines (``{{.Service.Name | printf "%s-x"}}``),
comments and ``{{-``/``-}}`` trimming; control structures (``if``, ``range``, ``with``) are
refused. Errors read as Go's (``template: expansion:1: unclosed action``, ``… can't evaluate field
Nam in type struct { … }``). The manager expands a service's templates once with placeholder values
when it is created or updated, so a bad template is refused then (as SwarmKit's control API does);
the agent expands them for each task with its own node before preparing it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shoal.api.types import (
    SERVICE_KIND,
    ContainerSpec,
    FileTarget,
    NodeDescription,
    ObjectRef,
    Platform,
    Task,
    clone,
    containers_of,
)

NAME = "expansion"
NO_VALUE = "<no value>"


class TemplateError(Exception):
    pass


@dataclass
class Struct:
    """A Go struct value: its fields, and its type as Go's error messages print it. ``funcs``: the
    functions a context adds to the template's (a payload's ``env``, ``secret`` and ``config``)."""

    type_name: str
    fields: dict[str, Any]
    funcs: dict[str, Callable[..., Any]] = field(default_factory=dict)


class CallError(Exception):
    """What a context's function answers for an argument it cannot take (Go's ``error calling``)."""


_SERVICE_T = "struct { ID string; Name string; Labels map[string]string }"
_NODE_T = "struct { ID string; Hostname string; Platform template.Platform }"
_TASK_T = "struct { ID string; Name string; Slot string }"


def context(task: Task, node_id: str, node: NodeDescription) -> Struct:
    ann = task.ServiceAnnotations or {}
    svc_name = str(ann.get("Name") or task.Owner.ID)
    slot = str(task.Slot) if task.Slot else task.NodeID
    platform = node.Platform or Platform()
    return Struct("template.Context", {
        "Service": Struct(_SERVICE_T, {"ID": task.Owner.ID, "Name": svc_name,
                                       "Labels": dict(ann.get("Labels") or {})}),
        "Node": Struct(_NODE_T, {"ID": node_id, "Hostname": node.Hostname, "Platform": Struct(
            "template.Platform", {"Architecture": platform.Architecture, "OS": platform.OS})}),
        "Task": Struct(_TASK_T, {"ID": task.ID, "Name": f"{svc_name}.{slot}.{task.ID}", "Slot": slot}),
    })


# ------------------------------------------------------------------ the template language

_TOKEN = re.compile(r'\s*(?:(?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.(?![A-Za-z_]))|(?P<str>"(?:[^"\\]|\\.)*")'
                    r"|(?P<raw>`[^`]*`)|(?P<num>-?\d+)|(?P<ident>[A-Za-z_][A-Za-z0-9_]*)|(?P<pipe>\|)"
                    r"|(?P<bad>\S))")
_CONTROL = {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"}


def _go_string(lit: str) -> str:
    return bytes(lit[1:-1], "utf-8").decode("unicode_escape")


def _show(v: Any) -> str:
    if v is None:
        return NO_VALUE
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{v[k]}" for k in sorted(v)) + "]"
    if isinstance(v, Struct):
        return "{" + " ".join(_show(x) for x in v.fields.values()) + "}"
    return str(v)


def _printf(fmt: str, *args: Any) -> str:
    out, i = [], 0
    parts = re.split(r"(%[-+# 0]*\d*(?:\.\d+)?[a-zA-Z%])", fmt)
    for p in parts:
        if not p.startswith("%") or len(p) < 2:
            out.append(p)
        elif p == "%%":
            out.append("%")
        elif i >= len(args):
            out.append(f"%!{p[-1]}(MISSING)")
        else:
            verb, arg = p[-1], args[i]
            i += 1
            out.append((p[:-1] + ("d" if verb == "d" else "s")) % (int(arg) if verb == "d" else _show(arg)))
    if i < len(args):
        out.append("%!(EXTRA " + ", ".join(f"{type(a).__name__}={_show(a)}" for a in args[i:]) + ")")
    return "".join(out)


def _print(*args: Any) -> str:
    out = ""
    for i, a in enumerate(args):  # fmt.Sprint: a space between operands when neither is a string
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out += " "
        out += _show(a)
    return out


def _index(item: Any, *keys: Any) -> Any:
    for k in keys:
        if isinstance(item, dict):
            item = item.get(k, "")
        else:
            raise TemplateError(f"error calling index: can't index item of type {type(item).__name__}")
    return item


FUNCS: dict[str, Any] = {"index": _index, "printf": _printf, "print": _print, "len": lambda x: len(x)}


def _field(ctx: Struct, path: str, line: int, col: int) -> Any:
    v: Any = ctx
    if path == ".":
        return v
    for name in path.split(".")[1:]:
        if isinstance(v, Struct):
            if name not in v.fields:
                raise TemplateError(f'template: {NAME}:{line}:{col}: executing "{NAME}" at <{path}>: '
                                    f"can't evaluate field {name} in type {v.type_name}")
            v = v.fields[name]
        elif isinstance(v, dict):
            v = v.get(name)
        else:
            go_type = "interface {}" if v is None else type(v).__name__
            raise TemplateError(f'template: {NAME}:{line}:{col}: executing "{NAME}" at <{path}>: '
                                f"can't evaluate field {name} in type {go_type}")
    return v


def _action(src: str, ctx: Struct, line: int, col: int) -> str:
    body = src.strip()
    if body.startswith("/*"):
        if not body.endswith("*/"):
            raise TemplateError(f"template: {NAME}:{line}: unclosed comment")
        return ""
    tokens = [(m.lastgroup, m.group(m.lastgroup), col + m.start(m.lastgroup))
              for m in _TOKEN.finditer(src) if m.lastgroup]
    if not tokens:
        raise TemplateError(f"template: {NAME}:{line}: missing value for command")
    commands: list[list[tuple[str, str, int]]] = [[]]
    for kind, text, pos in tokens:
        if kind == "bad":
            raise TemplateError(f"template: {NAME}:{line}: unexpected {text!r} in command")
        if kind == "pipe":
            commands.append([])
        else:
            commands[-1].append((kind, text, pos))
    result: Any = None
    for n, cmd in enumerate(commands):
        if not cmd:
            raise TemplateError(f"template: {NAME}:{line}: missing value for command")
        args: list[Any] = []
        head_kind, head, _ = cmd[0]
        if head_kind == "ident" and head in _CONTROL:
            raise TemplateError(f'template: {NAME}:{line}: "{head}" is not supported in service templates '
                                "(fields, index, printf, print and len are)")
        for kind, text, pos in cmd[1:] if head_kind == "ident" else cmd:
            if kind == "field":
                args.append(_field(ctx, text, line, pos))
            elif kind == "str":
                args.append(_go_string(text))
            elif kind == "raw":
                args.append(text[1:-1])
            elif kind == "num":
                args.append(int(text))
            elif kind == "ident":
                raise TemplateError(f"template: {NAME}:{line}: function {text!r} not defined".replace("'", '"'))
        if n:
            args.append(result)
        if head_kind == "ident":
            fn = ctx.funcs.get(head) or FUNCS.get(head)
            if fn is None:
                raise TemplateError(f'template: {NAME}:{line}: function "{head}" not defined')
            try:
                result = fn(*args)
            except TypeError as e:
                raise TemplateError(f'template: {NAME}:{line}: wrong number of args for {head}: {e}') from e
            except CallError as e:
                raise TemplateError(f'template: {NAME}:{line}:{cmd[0][2]}: executing "{NAME}" at <{head}>: '
                                    f"error calling {head}: {e}") from e
        elif len(args) > 1:
            raise TemplateError(f"template: {NAME}:{line}: can't give argument to non-function {cmd[0][1]}")
        else:
            result = args[0]
    return _show(result)


def expand(text: str, ctx: Struct) -> str:
    """``text`` with each ``{{ … }}`` action replaced by its value."""
    if "{{" not in text:
        return text
    out: list[str] = []
    i = 0
    while True:
        start = text.find("{{", i)
        if start < 0:
            out.append(text[i:])
            break
        literal = text[i:start]
        end = text.find("}}", start + 2)
        if end < 0:
            raise TemplateError(f"template: {NAME}:{text.count(chr(10), 0, start) + 1}: unclosed action")
        inner_start, inner_end = start + 2, end
        if text.startswith("- ", inner_start) or text[inner_start:inner_end] == "-":
            literal = literal.rstrip()
            inner_start += 1
        trim_after = text[inner_start:inner_end].endswith(" -")
        if trim_after:
            inner_end -= 1
        out.append(literal)
        line = text.count("\n", 0, start) + 1
        col = inner_start - (text.rfind("\n", 0, start) + 1)
        out.append(_action(text[inner_start:inner_end], ctx, line, col))
        i = end + 2
        if trim_after:
            while i < len(text) and text[i].isspace():
                i += 1
    return "".join(out)


# ------------------------------------------------------------------ container specs


def _expand_map(m: dict[str, Any] | None, ctx: Struct) -> dict[str, Any] | None:
    return {k: expand(v, ctx) if isinstance(v, str) else v for k, v in m.items()} if m else m


def expand_container_spec(spec: ContainerSpec, ctx: Struct) -> ContainerSpec:
    """A copy of the spec with its hostname, environment and mounts expanded (as SwarmKit's)."""
    out = clone(spec)
    out.Hostname = expand(out.Hostname, ctx)
    out.Env = [expand(e, ctx) for e in out.Env] if out.Env else out.Env
    for m in out.Mounts or []:
        m.Source, m.Target = expand(m.Source, ctx), expand(m.Target, ctx)
        if m.VolumeOptions:
            m.VolumeOptions["Labels"] = _expand_map(m.VolumeOptions.get("Labels"), ctx)
            driver = m.VolumeOptions.get("DriverConfig")
            if isinstance(driver, dict):
                driver["Options"] = _expand_map(driver.get("Options"), ctx)
    return out


def _templated(spec: ContainerSpec) -> bool:
    texts = [spec.Hostname, *(spec.Env or [])]
    for m in spec.Mounts or []:
        opts = m.VolumeOptions or {}
        texts += [m.Source, m.Target, *map(str, (opts.get("Labels") or {}).values()),
                  *map(str, ((opts.get("DriverConfig") or {}).get("Options") or {}).values())]
    return any("{{" in t for t in texts)


def expand_task(task: Task, node_id: str, node: NodeDescription) -> Task:
    """The task as its node runs it: its container specs' templates expanded with this node."""
    spec = task.Spec
    if not any(_templated(c) for c in containers_of(spec)):
        return task  # nothing to expand (most tasks): no copy
    out = clone(task)
    ctx = context(task, node_id, node)
    out.Spec.Containers = [expand_container_spec(c, ctx) for c in spec.Containers]
    if spec.InitContainers:
        out.Spec.InitContainers = [expand_container_spec(c, ctx) for c in spec.InitContainers]
    return out


def validate(spec: ContainerSpec, service_name: str) -> str:
    """The error a service's templates give with placeholder values (SwarmKit's check), or ""."""
    dummy = Task(ID="taskid", Owner=ObjectRef(Kind=SERVICE_KIND, ID="serviceid"), Slot=1, NodeID="nodeid",
                 ServiceAnnotations={"Name": service_name})
    try:
        expand_container_spec(spec, context(dummy, "nodeid", NodeDescription(
            Hostname="nodeHostname", Platform=Platform(OS="os", Architecture="architecture"))))
    except TemplateError as e:
        return str(e)
    return ""


# ------------------------------------------------------------------ secrets' and configs' payloads


def _mounted_data(kind: str, target: str, refs: list[tuple[FileTarget | None, str]],
                  data_of: Callable[[str], bytes | None]) -> str:
    """The data of the secret or config (``kind``) a task mounts at file name ``target``."""
    for f, ref_id in refs:
        if f is not None and f.Name == target:
            data = data_of(ref_id)
            if data is not None:
                return data.decode("utf-8", "replace")
    raise CallError(f"{kind} target {target} not found")


def payload_context(task: Task, node_id: str, node: NodeDescription, secret: Callable[[str], bytes | None],
                    config: Callable[[str], bytes | None]) -> Struct:
    """The context a templated secret's or config's data is expanded in (SwarmKit's payload context):
    the service template's values, and the functions ``env "VAR"`` (the task's container's variable,
    "" when it has none), ``secret "target"`` and ``config "target"`` (the data of the task's secret
    or config mounted at that target file name: a task reads only what it references).
    ``secret``/``config``: the data of a secret or config by ID (None when this node has none)."""
    ctx = context(task, node_id, node)
    cs = task.Spec.Containers[0] if task.Spec.Containers else ContainerSpec()

    def env(name: str) -> str:
        for e in cs.Env or []:
            k, eq, v = e.partition("=")
            if eq and k == name:
                return v
        return ""

    def get_secret(target: str) -> str:
        return _mounted_data("secret", target, [(r.File, r.SecretID) for r in cs.Secrets or []], secret)

    def get_config(target: str) -> str:
        return _mounted_data("config", target, [(r.File, r.ConfigID) for r in cs.Configs or []], config)

    ctx.funcs = {"env": env, "secret": get_secret, "config": get_config}
    return ctx


def expand_payload(data: bytes, ctx: Struct) -> bytes:
    """A templated secret's or config's data, expanded for one task."""
    return expand(data.decode("utf-8", "replace"), ctx).encode()
