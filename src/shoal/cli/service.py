"""``shoal service``: create, ls, ps, inspect, scale, update, rollback, rm, logs — as ``docker service``.

Specs are built and edited as plain JSON dicts, field for field what the docker CLI sends, so a
service made by ``shoal service create`` and one made by ``docker service create`` look the same.
Unless ``-d``, the commands that change a service then follow it to convergence the way docker's
``progress.ServiceProgress`` does (polling every 200 ms), without the extra monitor-period wait.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import IO, Any

import click

from shoal.api import generic
from shoal.api.humanize import parse_go_duration
from shoal.cli.client import (
    APIError,
    Client,
    DockerError,
    Resolver,
    client_of,
    emit_inspect,
    filters_param,
    kv_map,
    parse_filter_flags,
    path_ref,
)
from shoal.cli.output import (
    SERVICE_HEADER,
    TASK_HEADER,
    _order,
    bytes_size,
    go_duration,
    go_float,
    go_inspect,
    go_json,
    go_order,
    go_shape,
    human_duration,
    ram_in_bytes,
    service_rows,
    since,
    table,
    tagged_image,
    task_ids,
    task_rows,
    truncate_id,
)

SECOND = 1_000_000_000

# ---------------------------------------------------------------- option types


class MemBytesType(click.ParamType):
    name = "bytes"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return ram_in_bytes(str(value))
        except ValueError as e:
            self.fail(str(e), param, ctx)


class NanoCPUsType(click.ParamType):
    name = "decimal"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            nano = Fraction(str(value)) * 1_000_000_000
        except (ValueError, ZeroDivisionError):
            self.fail(f"failed to parse {value} as a rational number", param, ctx)
        if nano.denominator != 1:
            self.fail("value is too precise", param, ctx)
        return int(nano)


class DurationType(click.ParamType):
    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_go_duration(str(value))
        except ValueError as e:
            self.fail(str(e), param, ctx)


MEM = MemBytesType()
CPUS = NanoCPUsType()
DURATION = DurationType()


def env_list(items: Sequence[str]) -> list[str]:
    """``--env`` values: "K=V" as given, a bare "K" from this shell's environment when set."""
    out: list[str] = []
    for item in items:
        if "=" not in item and item in os.environ:
            item = f"{item}={os.environ[item]}"
        key = item.split("=", 1)[0]
        out = [e for e in out if e == item or not e.startswith(key + "=")]
        if item not in out:
            out.append(item)
    return out


def env_key(e: str) -> str:
    return e.split("=", 1)[0]


def parse_publish(value: str) -> list[dict[str, Any]]:
    """``--publish``: ``published=8080,target=80[,protocol=udp][,mode=host]`` or ``8080:80[/udp]``."""
    if "=" in value:
        p: dict[str, Any] = {"Protocol": "tcp", "TargetPort": 0, "PublishedPort": 0, "PublishMode": "ingress"}
        for field in value.split(","):
            k, _, v = field.partition("=")
            k = k.strip().lower()
            if k in ("target", "target_port"):
                p["TargetPort"] = int(v)
            elif k in ("published", "published_port"):
                p["PublishedPort"] = int(v)
            elif k == "protocol":
                p["Protocol"] = v
            elif k == "mode":
                p["PublishMode"] = v
            else:
                raise click.BadParameter(f"invalid field key {k}", param_hint="'--publish'")
        if not p["TargetPort"]:
            raise click.BadParameter("missing mandatory field 'target'", param_hint="'--publish'")
        return [p]
    spec, _, proto = value.partition("/")
    proto = proto or "tcp"
    pub, sep, tgt = spec.rpartition(":")
    if not sep:
        pub, tgt = "", spec

    def rng(s: str) -> list[int]:
        if not s:
            return []
        a, _, b = s.partition("-")
        return list(range(int(a), int(b or a) + 1))

    try:
        pubs, tgts = rng(pub.rsplit(":", 1)[-1]), rng(tgt)
    except ValueError as e:
        raise click.BadParameter(f"invalid port: {value}", param_hint="'--publish'") from e
    if pubs and len(pubs) != len(tgts):
        raise click.BadParameter(f"invalid ranges specified for container and host Ports: {tgt} and {pub}",
                                 param_hint="'--publish'")
    return [{"Protocol": proto, "TargetPort": t, "PublishedPort": pubs[i] if pubs else 0, "PublishMode": "ingress"}
            for i, t in enumerate(tgts)]


def parse_mount(value: str) -> dict[str, Any]:
    """``--mount type=bind,source=/a,target=/b,readonly``."""
    m: dict[str, Any] = {"Type": "volume"}
    for field in value.split(","):
        k, eq, v = field.partition("=")
        k = k.strip().lower()
        if k == "type":
            m["Type"] = v
        elif k in ("source", "src"):
            m["Source"] = v
        elif k in ("target", "dst", "destination"):
            m["Target"] = v
        elif k in ("readonly", "ro"):
            m["ReadOnly"] = (not eq) or v.lower() in ("1", "true")
        elif k == "consistency":
            m["Consistency"] = v
        else:
            raise click.BadParameter(f"unexpected key '{k}' in '{field}'", param_hint="'--mount'")
    if not m.get("Target"):
        raise click.BadParameter("target is required", param_hint="'--mount'")
    return m


UPDATE_DEFAULTS: dict[str, Any] = {"Parallelism": 1, "Delay": 0, "FailureAction": "pause", "Monitor": 5 * SECOND,
                                   "MaxFailureRatio": 0, "Order": "stop-first"}


def resolve_image(c: Client, spec: dict[str, Any], warnings: list[str]) -> None:
    """Pin the image to its digest through ``/distribution``, or warn as docker does when it cannot."""
    cs = spec["TaskTemplate"].get("ContainerSpec") or {}
    image = cs.get("Image", "")
    if not image:
        return
    try:
        dist = c.get(f"/distribution/{path_ref(image)}/json")
    except DockerError:
        warnings.append(f"image {image} could not be accessed on a registry to record\nits digest. Each node will "
                        f"access {image} independently,\npossibly leading to different nodes running different\n"
                        "versions of the image.\n")
        return
    digest = ((dist or {}).get("Descriptor") or {}).get("digest", "")
    if digest and "@" not in image:
        cs["Image"] = f"{image}@{digest}"


# ---------------------------------------------------------------- convergence

NUMBERED = {"new": 1, "allocated": 2, "pending": 3, "assigned": 4, "accepted": 5, "preparing": 6, "ready": 7,
            "starting": 8, "running": 9, "complete": 10, "shutdown": 11, "failed": 12, "rejected": 13}
LONGEST_STATE = 9
MAX_BARS = 20


def _terminal(state: str) -> bool:
    return NUMBERED.get(state, 0) > NUMBERED["running"]


def trunc_error(msg: str) -> str:
    msg = msg.replace("\n", " ")
    return msg[:74] + "…" if len(msg) > 75 else msg


class ProgressOut:
    """Where progress goes: on a terminal one line per ID, redrawn in place (as docker's jsonmessage
    does); elsewhere a plain line each time an ID's text changes."""

    def __init__(self, out: IO[str] | None = None, quiet: bool = False) -> None:
        self.out = out or sys.stdout
        self.quiet = quiet
        self.tty = bool(getattr(self.out, "isatty", lambda: False)())
        self.order: list[str] = []
        self.lines: dict[str, str] = {}

    def write(self, id_: str, action: str, current: int = 0, total: int = 0) -> None:
        if self.quiet:
            return
        bar = ""
        if self.tty and total > 0:
            pct = min(int(current / total * 100) // 2, 50)
            bar = f" [{'=' * pct}>{' ' * (50 - pct)}] "
        text = f"{id_}: {action}{bar}" if id_ else f"{action}{bar}"
        if self.lines.get(id_) == text:
            return
        if not self.tty:
            self.lines[id_] = text
            self.out.write(text.rstrip() + "\n")
            self.out.flush()
            return
        if id_ not in self.lines:
            self.order.append(id_)
            self.lines[id_] = text
            self.out.write(text + "\n")
        else:
            self.lines[id_] = text
            up = len(self.order) - self.order.index(id_)
            self.out.write(f"\x1b[{up}A\r\x1b[2K{text}\x1b[{up}B\r")
        self.out.flush()


class ReplicatedProgress:
    def __init__(self, out: ProgressOut) -> None:
        self.out = out
        self.slot_map: dict[int, int] = {}
        self.initialized = False
        self.done = False

    def update(self, svc: dict[str, Any], tasks: list[dict[str, Any]], active: set[str], rollback: bool) -> bool:
        replicas = ((svc["Spec"].get("Mode") or {}).get("Replicated") or {}).get("Replicas")
        if replicas is None:
            raise DockerError("no replica count")
        if not self.initialized:
            overall(self.out, 0, replicas, rollback)
            if replicas <= MAX_BARS:
                for i in range(1, replicas + 1):
                    self.out.write(f"{i}/{replicas}", " ")
            self.initialized = True
        by_slot: dict[int, dict[str, Any]] = {}
        for t in tasks:
            ds, st = t.get("DesiredState", ""), (t.get("Status") or {}).get("State", "")
            if not NUMBERED.get(ds) or not NUMBERED.get(st):
                continue
            ex = by_slot.get(t.get("Slot", 0))
            if ex is not None:
                eds, est = NUMBERED[ex["DesiredState"]], NUMBERED[ex["Status"]["State"]]
                if eds < NUMBERED[ds] or (eds == NUMBERED[ds] and est <= NUMBERED[st]):
                    continue
            if t.get("NodeID") and t["NodeID"] not in active:
                continue
            by_slot[t.get("Slot", 0)] = t
        if self.done and any(t["Status"]["State"] != "running" for t in by_slot.values()):
            self.done = False
        running = 0
        for slot in sorted(by_slot):
            t = by_slot[slot]
            mapped = self.slot_map.get(slot) or len(self.slot_map) + 1
            self.slot_map[slot] = mapped
            if not _terminal(t["DesiredState"]) and t["Status"]["State"] == "running":
                running += 1
            if self.done or replicas > MAX_BARS or mapped > replicas:
                continue
            err = t["Status"].get("Err", "")
            if err:
                self.out.write(f"{mapped}/{replicas}", trunc_error(err))
            elif not _terminal(t["DesiredState"]) and not _terminal(t["Status"]["State"]):
                st = t["Status"]["State"]
                self.out.write(f"{mapped}/{replicas}", f"{st:<{LONGEST_STATE}}", NUMBERED[st], 9)
        if not self.done:
            overall(self.out, running, replicas, rollback)
            if running == replicas:
                self.done = True
        return running == replicas


class GlobalProgress:
    def __init__(self, out: ProgressOut) -> None:
        self.out = out
        self.initialized = False
        self.done = False

    def update(self, svc: dict[str, Any], tasks: list[dict[str, Any]], active: set[str], rollback: bool) -> bool:
        by_node: dict[str, dict[str, Any]] = {}
        for t in tasks:
            ds, st = t.get("DesiredState", ""), (t.get("Status") or {}).get("State", "")
            if not NUMBERED.get(ds) or not NUMBERED.get(st):
                continue
            ex = by_node.get(t.get("NodeID", ""))
            if ex is not None:
                eds, est = NUMBERED[ex["DesiredState"]], NUMBERED[ex["Status"]["State"]]
                if eds < NUMBERED[ds] or (eds == NUMBERED[ds] and est <= NUMBERED[st]):
                    continue
            by_node[t.get("NodeID", "")] = t
        count = len(by_node)
        if not self.initialized:
            if count == 0:
                self.out.write("overall progress", "waiting for new tasks")
                return False
            overall(self.out, 0, count, rollback)
            self.initialized = True
        if self.done and any(t["Status"]["State"] != "running" for t in by_node.values()):
            self.done = False
        running = 0
        for node_id in sorted(by_node):
            t = by_node[node_id]
            if node_id not in active:
                continue
            if not _terminal(t["DesiredState"]) and t["Status"]["State"] == "running":
                running += 1
            if self.done or count > MAX_BARS:
                continue
            err = t["Status"].get("Err", "")
            if err:
                self.out.write(truncate_id(node_id), trunc_error(err))
            elif not _terminal(t["DesiredState"]) and not _terminal(t["Status"]["State"]):
                st = t["Status"]["State"]
                self.out.write(truncate_id(node_id), f"{st:<{LONGEST_STATE}}", NUMBERED[st], 9)
        if not self.done:
            overall(self.out, running, count, rollback)
            if running == count:
                self.done = True
        return running == count


def overall(out: ProgressOut, n: int, total: int, rollback: bool) -> None:
    if rollback:
        out.write("overall progress", f"rolling back update: {n} out of {total} tasks")
    else:
        out.write("overall progress", f"{n} out of {total} tasks")


def wait_on_service(c: Client, service_ref: str, quiet: bool = False, interval: float = 0.2,
                    out: IO[str] | None = None) -> None:
    """Follow a service until its up-to-date tasks run (docker's ``ServiceProgress``, minus the
    monitor-period verification wait)."""
    po = ProgressOut(out, quiet)
    updater: ReplicatedProgress | GlobalProgress | None = None
    rollback = converged = False
    message: str | None = None
    try:
        while True:
            svc = c.get(f"/services/{path_ref(service_ref)}")
            mode = svc["Spec"].get("Mode") or {}
            if updater is None:
                if mode.get("Replicated") is not None and mode["Replicated"].get("Replicas") is not None:
                    updater = ReplicatedProgress(po)
                elif mode.get("Global") is not None:
                    updater = GlobalProgress(po)
                else:
                    raise DockerError("unrecognized service mode")
            us = svc.get("UpdateStatus") or {}
            state = us.get("State", "")
            if state == "updating":
                rollback = False
            elif state == "completed":
                if not converged:
                    return
            elif state == "paused":
                raise DockerError(f"service update paused: {us.get('Message', '')}")
            elif state == "rollback_started":
                if not rollback and us.get("Message"):
                    po.write("rollback", us["Message"])
                rollback = True
            elif state == "rollback_paused":
                raise DockerError(f"service rollback paused: {us.get('Message', '')}")
            elif state == "rollback_completed":
                message = us.get("Message", "")
                rollback = True
            tasks = c.get("/tasks", {"filters": filters_param({"service": [svc["ID"]], "_up-to-date": ["true"]})})
            nodes = c.get("/nodes") or []
            active = {n["ID"] for n in nodes if (n.get("Status") or {}).get("State") != "down"}
            converged = updater.update(svc, tasks or [], active, rollback)
            if converged:
                po.write("verify", f"Service {service_ref} converged")
                if message is not None:
                    po.write("rollback", message)
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        po.write("", "Operation continuing in background.")
        po.write("", f"Use `docker service ps {service_ref}` to check progress.")


# ---------------------------------------------------------------- tasks printing (service ps, node ps)


def print_tasks(c: Client, tasks: list[dict[str, Any]], trunc: bool = True, quiet: bool = False,
                no_resolve: bool = False) -> None:
    r = Resolver(c, no_resolve)
    service_names = {t.get("ServiceID", ""): r.service(t.get("ServiceID", "")) for t in tasks}
    if quiet:
        for tid in task_ids(tasks, service_names, trunc):
            click.echo(tid)
        return
    node_names = {t.get("NodeID", ""): r.node(t.get("NodeID", "")) for t in tasks}
    click.echo(table(TASK_HEADER, task_rows(tasks, service_names, node_names, trunc)), nl=False)


# ---------------------------------------------------------------- spec building (create)


def build_spec(o: dict[str, Any], image: str, args: Sequence[str]) -> dict[str, Any]:
    """``serviceOptions.ToService``: the ServiceSpec JSON the docker CLI sends for ``service create``."""
    mode = o["mode"]
    if mode == "replicated":
        rep: dict[str, Any] = {}
        if o["replicas"] is not None:
            rep["Replicas"] = o["replicas"]
        smode: dict[str, Any] = {"Replicated": rep}
    elif mode == "global":
        if o["replicas"] is not None:
            raise DockerError("replicas can only be used with replicated or replicated-job mode")
        smode = {"Global": {}}
    elif mode == "replicated-job":
        smode = {"ReplicatedJob": {"MaxConcurrent": o["max_concurrent"] or 1,
                                   "TotalCompletions": o["replicas"] if o["replicas"] is not None else 1}}
    elif mode == "global-job":
        if o["replicas"] is not None:
            raise DockerError("replicas can only be used with replicated or replicated-job mode")
        smode = {"GlobalJob": {}}
    else:
        raise DockerError(f"Unknown mode: {mode}, only replicated and global supported")

    cs: dict[str, Any] = {"Image": tagged_image(image)}
    if o["container_label"]:
        cs["Labels"] = kv_map(o["container_label"])
    if o["entrypoint"]:
        cs["Command"] = shlex.split(o["entrypoint"])
    if args:
        cs["Args"] = list(args)
    if o["hostname"]:
        cs["Hostname"] = o["hostname"]
    env = env_list(o["env"])
    if env:
        cs["Env"] = env
    if o["workdir"]:
        cs["Dir"] = o["workdir"]
    if o["user"]:
        cs["User"] = o["user"]
    if o["group"]:
        cs["Groups"] = list(o["group"])
    if o["stop_signal"]:
        cs["StopSignal"] = o["stop_signal"]
    if o["tty"]:
        cs["TTY"] = True
    if o["read_only"]:
        cs["ReadOnly"] = True
    if o["mount"]:
        cs["Mounts"] = [parse_mount(m) for m in o["mount"]]
    if o["stop_grace_period"] is not None:
        cs["StopGracePeriod"] = o["stop_grace_period"]
    cs["DNSConfig"] = {}
    cs["Init"] = bool(o["init"])

    limits: dict[str, Any] = {}
    if o["limit_cpu"]:
        limits["NanoCPUs"] = o["limit_cpu"]
    if o["limit_memory"]:
        limits["MemoryBytes"] = o["limit_memory"]
    if o["limit_pids"]:
        limits["Pids"] = o["limit_pids"]
    reservations: dict[str, Any] = {}
    if o["reserve_cpu"]:
        reservations["NanoCPUs"] = o["reserve_cpu"]
    if o["reserve_memory"]:
        reservations["MemoryBytes"] = o["reserve_memory"]
    if o["generic_resource"]:
        reservations["GenericResources"] = generic_resources(o["generic_resource"])

    task: dict[str, Any] = {"ContainerSpec": cs, "Resources": {"Limits": limits, "Reservations": reservations}}
    restart = restart_policy(o)
    if restart is not None:
        task["RestartPolicy"] = restart
    placement: dict[str, Any] = {}
    if o["constraint"]:
        placement["Constraints"] = list(o["constraint"])
    if o["placement_pref"]:
        placement["Preferences"] = [placement_pref(p) for p in o["placement_pref"]]
    if o["max_replicas"]:
        placement["MaxReplicas"] = o["max_replicas"]
    task["Placement"] = placement
    if o["log_driver"]:
        task["LogDriver"] = {"Name": o["log_driver"], "Options": kv_map(o["log_opt"]) or None}
    task["ForceUpdate"] = 0

    spec: dict[str, Any] = {"Name": o["name"], "Labels": kv_map(o["label"]), "TaskTemplate": task, "Mode": smode}
    if not spec["Name"]:
        del spec["Name"]
    uc = update_config(o, "update")
    if uc is not None:
        spec["UpdateConfig"] = uc
    rc = update_config(o, "rollback")
    if rc is not None:
        spec["RollbackConfig"] = rc
    ep: dict[str, Any] = {"Mode": (o["endpoint_mode"] or "vip").lower()}
    ports = [p for v in o["publish"] for p in parse_publish(v)]
    if ports:
        ep["Ports"] = ports
    spec["EndpointSpec"] = ep
    out: dict[str, Any] = go_order(spec, "ServiceSpec")
    return out


def go_spec(spec: dict[str, Any]) -> Any:
    """A ServiceSpec as the docker CLI sends it back: decoded into its Go type and encoded again."""
    return json.loads(go_json(_order(go_shape(spec, "ServiceSpec"), "ServiceSpec")))


def generic_resources(terms: Sequence[str]) -> list[dict[str, Any]]:
    """``--generic-resource gpu=2``: counts only, as the docker CLI's ``ParseGenericResources``."""
    try:
        parsed = generic.parse(terms)
    except generic.GenericResourceError as e:
        raise DockerError(f"invalid generic resource specification: {e}") from e
    for r in parsed:
        if r.NamedResourceSpec is not None:
            raise DockerError(f"invalid generic-resource request `{generic.format_resource(r)}`, Named Generic "
                              "Resources is not supported for service create or update")
    return [{"DiscreteResourceSpec": r.DiscreteResourceSpec} for r in parsed]


def placement_pref(value: str) -> dict[str, Any]:
    k, _, v = value.partition("=")
    if k != "spread" or not v:
        raise DockerError(f"invalid placement preference {value}: only \"spread\" preferences are supported"
                          if k != "spread" else "invalid placement preference: spread requires a value")
    return {"Spread": {"SpreadDescriptor": v}}


def restart_policy(o: dict[str, Any], base: dict[str, Any] | None = None) -> dict[str, Any] | None:
    keys = ("restart_condition", "restart_delay", "restart_max_attempts", "restart_window")
    if all(o.get(k) is None for k in keys):
        return base
    rp = dict(base or {})
    if o.get("restart_delay") is not None:
        rp["Delay"] = o["restart_delay"]
    if o.get("restart_condition") is not None:
        rp["Condition"] = o["restart_condition"]
    if o.get("restart_max_attempts") is not None:
        rp["MaxAttempts"] = o["restart_max_attempts"]
    if o.get("restart_window") is not None:
        rp["Window"] = o["restart_window"]
    return rp


def update_config(o: dict[str, Any], prefix: str, base: dict[str, Any] | None = None) -> dict[str, Any] | None:
    fields = {"parallelism": "Parallelism", "delay": "Delay", "monitor": "Monitor", "failure_action": "FailureAction",
              "max_failure_ratio": "MaxFailureRatio", "order": "Order"}
    if all(o.get(f"{prefix}_{k}") is None for k in fields):
        return base
    cfg = dict(base) if base is not None else dict(UPDATE_DEFAULTS)
    for k, key in fields.items():
        v = o.get(f"{prefix}_{k}")
        if v is not None:
            cfg[key] = v
    return cfg


def common_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Flags ``service create`` and ``service update`` share (docker's ``addServiceFlags``)."""
    opts = [
        click.option("-d", "--detach", is_flag=True,
                     help="Exit immediately instead of waiting for the service to converge"),
        click.option("-q", "--quiet", is_flag=True, help="Suppress progress output"),
        click.option("--replicas", type=click.IntRange(min=0), default=None, help="Number of tasks"),
        click.option("--replicas-max-per-node", "--max-replicas", "max_replicas", type=click.IntRange(min=0),
                     default=None, help="Maximum number of tasks per node (default 0 = unlimited)"),
        click.option("--reserve-memory", type=MEM, default=None, help="Reserve Memory"),
        click.option("--reserve-cpu", type=CPUS, default=None, help="Reserve CPUs"),
        click.option("--limit-memory", type=MEM, default=None, help="Limit Memory"),
        click.option("--limit-cpu", type=CPUS, default=None, help="Limit CPUs"),
        click.option("--limit-pids", type=int, default=None, help="Limit maximum number of processes"),
        click.option("--restart-condition", default=None, help='Restart when condition is met ("none", '
                     '"on-failure", "any")'),
        click.option("--restart-delay", type=DURATION, default=None, help="Delay between restart attempts "
                     "(ns|us|ms|s|m|h)"),
        click.option("--restart-max-attempts", type=click.IntRange(min=0), default=None,
                     help="Maximum number of restarts before giving up"),
        click.option("--restart-window", type=DURATION, default=None,
                     help="Window used to evaluate the restart policy (ns|us|ms|s|m|h)"),
        click.option("--stop-grace-period", type=DURATION, default=None,
                     help="Time to wait before force killing a container (ns|us|ms|s|m|h)"),
        click.option("--stop-signal", default=None, help="Signal to stop the container"),
        click.option("--update-parallelism", type=click.IntRange(min=0), default=None,
                     help="Maximum number of tasks updated simultaneously (0 to update all at once)"),
        click.option("--update-delay", type=DURATION, default=None, help="Delay between updates (ns|us|ms|s|m|h)"),
        click.option("--update-failure-action", default=None,
                     help='Action on update failure ("pause", "continue", "rollback")'),
        click.option("--update-monitor", type=DURATION, default=None,
                     help="Duration after each task update to monitor for failure (ns|us|ms|s|m|h)"),
        click.option("--update-max-failure-ratio", type=float, default=None,
                     help="Failure rate to tolerate during an update"),
        click.option("--update-order", default=None, help='Update order ("start-first", "stop-first")'),
        click.option("--rollback-parallelism", type=click.IntRange(min=0), default=None,
                     help="Maximum number of tasks rolled back simultaneously (0 to roll back all at once)"),
        click.option("--rollback-delay", type=DURATION, default=None,
                     help="Delay between task rollbacks (ns|us|ms|s|m|h)"),
        click.option("--rollback-failure-action", default=None,
                     help='Action on rollback failure ("pause", "continue")'),
        click.option("--rollback-monitor", type=DURATION, default=None,
                     help="Duration after each task rollback to monitor for failure (ns|us|ms|s|m|h)"),
        click.option("--rollback-max-failure-ratio", type=float, default=None,
                     help="Failure rate to tolerate during a rollback"),
        click.option("--rollback-order", default=None, help='Rollback order ("start-first", "stop-first")'),
        click.option("--hostname", default=None, help="Container hostname"),
        click.option("-w", "--workdir", default=None, help="Working directory inside the container"),
        click.option("-u", "--user", default=None, help="Username or UID (format: <name|uid>[:<group|gid>])"),
        click.option("--entrypoint", default=None, help="Overwrite the default ENTRYPOINT of the image"),
        click.option("-t", "--tty", is_flag=True, default=None, help="Allocate a pseudo-TTY"),
        click.option("--init", is_flag=True, default=None,
                     help="Use an init inside each service container to forward signals and reap processes"),
        click.option("--read-only", is_flag=True, default=None, help="Mount the container's root filesystem as "
                     "read only"),
        click.option("--endpoint-mode", default=None, help="Endpoint mode (vip or dnsrr)"),
        click.option("--with-registry-auth", is_flag=True, help="Send registry authentication details to swarm "
                     "agents"),
        click.option("--no-resolve-image", is_flag=True,
                     help="Do not query the registry to resolve image digest and supported platforms"),
        click.option("--log-driver", default=None, help="Logging driver for service"),
        click.option("--log-opt", multiple=True, help="Logging driver options"),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


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
        print_plan(c.post("/shoal/services/dry-run", body=spec) or {})
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


def print_plan(p: dict[str, Any]) -> None:
    """The dry run: tasks per node, and the filter that turns down each node left without any."""
    rows = [[n["Hostname"], str(n["Tasks"]), n.get("Rejected") or ""] for n in p.get("Nodes") or []]
    click.echo(table(["NODE", "TASKS", "REJECTED BY"], rows), nl=False)
    placed, total = p.get("Placed", 0), p.get("Tasks", 0)
    used = sum(1 for n in p.get("Nodes") or [] if n["Tasks"])
    click.echo(f"{placed}/{total} tasks would be placed on {used} {'node' if used == 1 else 'nodes'}")
    if p.get("Err"):
        click.echo(f"{total - placed} {'task' if total - placed == 1 else 'tasks'} would stay pending: {p['Err']}")


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
    from shoal.cli.node import reference

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


def pretty_service(s: dict[str, Any]) -> str:
    """docker's ``serviceInspectPrettyTemplate``."""
    spec = s.get("Spec") or {}
    tt = spec.get("TaskTemplate") or {}
    cs = tt.get("ContainerSpec") or {}
    mode = spec.get("Mode") or {}
    out = ["", f"ID:\t\t{s.get('ID', '')}", f"Name:\t\t{spec.get('Name', '')}"]
    if spec.get("Labels"):
        out.append("Labels:")
        out += [f" {k}" + (f"={v}" if v else "") for k, v in sorted(spec["Labels"].items())]
    if mode.get("Global") is not None:
        out.append("Service Mode:\tGlobal")
    elif mode.get("Replicated") is not None:
        out.append("Service Mode:\tReplicated")
        if mode["Replicated"].get("Replicas") is not None:
            out.append(f" Replicas:\t{mode['Replicated']['Replicas']}")
    else:
        out.append("Service Mode:")
    us = s.get("UpdateStatus")
    if us and us.get("State"):
        out.append("UpdateStatus:")
        out.append(f" State:\t\t{us['State']}")
        if us.get("StartedAt") is not None:
            out.append(f" Started:\t{human_duration(since(us['StartedAt']))} ago")
        if us["State"] == "completed" and us.get("CompletedAt") is not None:
            out.append(f" Completed:\t{human_duration(since(us['CompletedAt']))} ago")
        out.append(f" Message:\t{us.get('Message', '')}")
    placement = tt.get("Placement") or {}
    out.append("Placement:")
    if placement.get("Constraints"):
        out.append(f" Constraints:\t[{' '.join(placement['Constraints'])}]")
    prefs = [f"spread={p['Spread']['SpreadDescriptor']}" for p in placement.get("Preferences") or []
             if p.get("Spread")]
    if prefs:
        out.append(f" Preferences:   [{' '.join(prefs)}]")
    if placement.get("MaxReplicas"):
        out.append(f" Max Replicas Per Node:   {placement['MaxReplicas']}")
    for key, title, order in (("UpdateConfig", "UpdateConfig", "Update order:     "),
                              ("RollbackConfig", "RollbackConfig", "Rollback order:   ")):
        cfg = spec.get(key)
        if cfg is None:
            continue
        out.append(f"{title}:")
        out.append(f" Parallelism:\t{cfg.get('Parallelism', 0)}")
        if (cfg.get("Delay") or 0) > 0:
            out.append(f" Delay:\t\t{go_duration(cfg['Delay'])}")
        out.append(f" On failure:\t{cfg.get('FailureAction', '')}")
        if (cfg.get("Monitor") or 0) > 0:
            out.append(f" Monitoring Period: {go_duration(cfg['Monitor'])}")
        out.append(f" Max failure ratio: {go_float(cfg.get('MaxFailureRatio') or 0)}")
        out.append(f" {order} {cfg.get('Order', '')}")
    out.append("ContainerSpec:")
    line = f" Image:\t\t{cs.get('Image', '')}"
    if cs.get("Args"):
        line += "\n Args:\t\t" + "".join(f"{a} " for a in cs["Args"])
    if cs.get("Env"):
        line += "\n Env:\t\t" + "".join(f"{e} " for e in cs["Env"])
    if cs.get("Dir"):
        line += f"\n Dir:\t\t{cs['Dir']}"
    if cs.get("Init") is not None:
        line += f"\n Init:\t\t{str(cs['Init']).lower()}"
    out.append(line)
    if cs.get("User"):
        out.append(f" User: {cs['User']}")
    if cs.get("CapabilityAdd") or cs.get("CapabilityDrop"):
        out.append("Capabilities:")
        if cs.get("CapabilityAdd"):
            out.append(f" Add: {', '.join(cs['CapabilityAdd'])}")
        if cs.get("CapabilityDrop"):
            out.append(f" Drop: {', '.join(cs['CapabilityDrop'])}")
    if cs.get("Sysctls"):
        out.append("SysCtls:")
        out += [f" {k}" + (f": {v}" if v else "") for k, v in sorted(cs["Sysctls"].items())]
    if cs.get("Mounts"):
        mounts = "Mounts:"
        for m in cs["Mounts"]:
            mounts += (f"\n Target:\t{m.get('Target', '')}\n  Source:\t{m.get('Source', '')}\n"
                       f"  ReadOnly:\t{str(bool(m.get('ReadOnly'))).lower()}\n  Type:\t\t{m.get('Type', '')}")
        out.append(mounts)
    ld = tt.get("LogDriver")
    if ld is not None:
        out.append("Log Driver:")
        if ld.get("Name"):
            out.append(f" Name:\t\t{ld['Name']}")
        if ld.get("Options"):
            out.append(" LogOpts:")
            out += [f"  {k}" + (f":       {v}" if v else "") for k, v in sorted(ld["Options"].items())]
        out.append("")
    res = tt.get("Resources")
    if res is not None:
        resv, lim = res.get("Reservations") or {}, res.get("Limits") or {}
        block = ["Resources:"]
        if (resv.get("NanoCPUs") or 0) > 0 or (resv.get("MemoryBytes") or 0) > 0:
            block.append(" Reservations:")
            if (resv.get("NanoCPUs") or 0) > 0:
                block.append(f"  CPU:\t\t{go_float(resv['NanoCPUs'] / 1e9)}")
            if resv.get("MemoryBytes"):
                block.append(f"  Memory:\t{bytes_size(resv['MemoryBytes'])}")
        if (lim.get("NanoCPUs") or 0) > 0 or (lim.get("MemoryBytes") or 0) > 0 or (lim.get("Pids") or 0) > 0:
            block.append(" Limits:")
            if (lim.get("NanoCPUs") or 0) > 0:
                block.append(f"  CPU:\t\t{go_float(lim['NanoCPUs'] / 1e9)}")
            if lim.get("MemoryBytes"):
                block.append(f"  Memory:\t{bytes_size(lim['MemoryBytes'])}")
        out += block
        if (lim.get("Pids") or 0) > 0:
            out.append(f"  PIDs:\t\t{lim['Pids']}")
    nets = [n.get("Target", "") for n in tt.get("Networks") or []]
    if nets:
        out.append("Networks:" + "".join(f" {n}" for n in nets) + " ")
    ep = (spec.get("EndpointSpec") or {}).get("Mode", "")
    ports = (s.get("Endpoint") or {}).get("Ports") or []
    text = "\n".join(out) + f"\nEndpoint Mode:\t{ep}"
    if ports:
        text += "\nPorts:"
        for p in ports:
            text += (f"\n PublishedPort = {p.get('PublishedPort', 0)}\n  Protocol = {p.get('Protocol', '')}\n"
                     f"  TargetPort = {p.get('TargetPort', 0)}\n  PublishMode = {p.get('PublishMode', '')}")
        text += " "
    return text + "\n\n"


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
        except DockerError as e:
            errs.append(f"{ref}: {e.format_message()}")
            continue
        _print_warnings((resp or {}).get("Warnings"))
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


def _update_list(current: list[str] | None, add: Sequence[str], rm: Sequence[str],
                 key: Callable[[str], str] = lambda x: x) -> list[str]:
    rm_set = set(rm)
    out = [x for x in current or [] if key(x) not in rm_set and x not in rm_set]
    for a in add:
        out = [*(x for x in out if key(x) != key(a)), a]
    return out


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


def _port_key(p: dict[str, Any]) -> str:
    return f"{p.get('PublishedPort', 0)}:{p.get('TargetPort', 0)}/{p.get('Protocol', '')}/{p.get('PublishMode', '')}"


def update_ports(current: list[dict[str, Any]], add: Sequence[str], rm: Sequence[str]) -> list[dict[str, Any]]:
    """docker's ``updatePorts``: drop by target/protocol/mode, add new ones, sort by "pub:target/proto/mode"."""
    seen: dict[str, dict[str, Any]] = {}
    for p in current:
        seen.setdefault(_port_key(p), p)
    removals = [r for v in rm for r in parse_publish(v)]

    def removed(p: dict[str, Any]) -> bool:
        return any((p.get("Protocol") or "tcp") == (r["Protocol"] or "tcp") and p.get("TargetPort") == r["TargetPort"]
                   and (p.get("PublishMode") or "ingress") == (r["PublishMode"] or "ingress") for r in removals)

    out = [p for p in seen.values() if not removed(p)]
    for v in add:
        out += [p for p in parse_publish(v) if _port_key(p) not in seen]
    return sorted(out, key=_port_key)


def edit_spec(spec: dict[str, Any], o: dict[str, Any]) -> None:
    """docker's ``updateService``: apply the changed flags to a whole ServiceSpec."""
    tt = spec.setdefault("TaskTemplate", {})
    cs = tt.setdefault("ContainerSpec", {})
    if o.get("image") is not None:
        cs["Image"] = tagged_image(o["image"])
    if o.get("args_") is not None:
        cs["Args"] = shlex.split(o["args_"])
    if o.get("entrypoint") is not None:
        cs["Command"] = shlex.split(o["entrypoint"])
    for flag, key in (("hostname", "Hostname"), ("workdir", "Dir"), ("user", "User"), ("stop_signal", "StopSignal")):
        if o.get(flag) is not None:
            cs[key] = o[flag]
    for flag, key in (("tty", "TTY"), ("read_only", "ReadOnly"), ("init", "Init")):
        if o.get(flag) is not None:
            cs[key] = bool(o[flag])
    if o.get("stop_grace_period") is not None:
        cs["StopGracePeriod"] = o["stop_grace_period"]
    if o.get("env_add") or o.get("env_rm"):
        cs["Env"] = _update_list(cs.get("Env"), env_list(o.get("env_add") or ()), o.get("env_rm") or (), env_key)
    if o.get("container_label_add") or o.get("container_label_rm"):
        labels = dict(cs.get("Labels") or {})
        for k in o.get("container_label_rm") or ():
            labels.pop(k, None)
        labels.update(kv_map(o.get("container_label_add") or ()))
        cs["Labels"] = labels
    if o.get("group_add") or o.get("group_rm"):
        cs["Groups"] = _update_list(cs.get("Groups"), o.get("group_add") or (), o.get("group_rm") or ())
    if o.get("mount_add") or o.get("mount_rm"):
        mounts = [m for m in cs.get("Mounts") or [] if m.get("Target") not in set(o.get("mount_rm") or ())]
        for m in (parse_mount(v) for v in o.get("mount_add") or ()):
            mounts = [x for x in mounts if x.get("Target") != m["Target"]] + [m]
        cs["Mounts"] = mounts
    if o.get("label_add") or o.get("label_rm"):
        labels = dict(spec.get("Labels") or {})
        for k in o.get("label_rm") or ():
            labels.pop(k, None)
        labels.update(kv_map(o.get("label_add") or ()))
        spec["Labels"] = labels
    if o.get("constraint_add") or o.get("constraint_rm"):
        placement = tt.get("Placement") or {}
        cons = list(placement.get("Constraints") or []) + list(o.get("constraint_add") or ())
        rm = set(o.get("constraint_rm") or ())
        placement["Constraints"] = sorted(x for x in cons if x not in rm)
        tt["Placement"] = placement
    if o.get("placement_pref_add") or o.get("placement_pref_rm"):
        placement = tt.get("Placement") or {}
        rm_prefs = [placement_pref(p) for p in o.get("placement_pref_rm") or ()]
        prefs = [p for p in placement.get("Preferences") or [] if p not in rm_prefs]
        prefs += [placement_pref(p) for p in o.get("placement_pref_add") or ()]
        placement["Preferences"] = prefs
        tt["Placement"] = placement
    if o.get("max_replicas") is not None:
        tt.setdefault("Placement", {})
        tt["Placement"] = tt["Placement"] or {}
        tt["Placement"]["MaxReplicas"] = o["max_replicas"]
    if o.get("generic_resource_add") or o.get("generic_resource_rm"):
        res = tt.get("Resources") or {}
        resv = res.get("Reservations") or {}
        by_kind = {g["DiscreteResourceSpec"]["Kind"]: g for g in resv.get("GenericResources") or []
                   if g.get("DiscreteResourceSpec")}
        for kind in o.get("generic_resource_rm") or ():
            by_kind.pop(kind, None)
        for g in generic_resources(o.get("generic_resource_add") or ()):
            by_kind[g["DiscreteResourceSpec"]["Kind"]] = g
        resv["GenericResources"] = list(by_kind.values()) or None
        res["Reservations"] = resv
        tt["Resources"] = res
    if any(o.get(k) is not None for k in ("limit_cpu", "limit_memory", "limit_pids", "reserve_cpu",
                                          "reserve_memory")):
        res = tt.get("Resources") or {}
        lim, resv = res.get("Limits") or {}, res.get("Reservations") or {}
        for flag, d, key in (("limit_cpu", lim, "NanoCPUs"), ("limit_memory", lim, "MemoryBytes"),
                             ("limit_pids", lim, "Pids"), ("reserve_cpu", resv, "NanoCPUs"),
                             ("reserve_memory", resv, "MemoryBytes")):
            if o.get(flag) is not None:
                d[key] = o[flag]
        res["Limits"], res["Reservations"] = lim, resv
        tt["Resources"] = res
    if any(o.get(k) is not None for k in ("restart_condition", "restart_delay", "restart_max_attempts",
                                          "restart_window")):
        tt["RestartPolicy"] = restart_policy(
            o, tt.get("RestartPolicy") or {"Condition": "any", "Delay": 5 * SECOND, "MaxAttempts": 0})
    if o.get("log_driver") is not None:
        tt["LogDriver"] = {"Name": o["log_driver"], "Options": kv_map(o.get("log_opt") or ()) or None}
    uc = update_config(o, "update", spec.get("UpdateConfig") or dict(UPDATE_DEFAULTS) if any(
        o.get(f"update_{k}") is not None for k in ("parallelism", "delay", "monitor", "failure_action",
                                                   "max_failure_ratio", "order")) else spec.get("UpdateConfig"))
    if uc is not None:
        spec["UpdateConfig"] = uc
    rc = update_config(o, "rollback", spec.get("RollbackConfig") or dict(UPDATE_DEFAULTS) if any(
        o.get(f"rollback_{k}") is not None for k in ("parallelism", "delay", "monitor", "failure_action",
                                                     "max_failure_ratio", "order")) else spec.get("RollbackConfig"))
    if rc is not None:
        spec["RollbackConfig"] = rc
    if o.get("replicas") is not None:
        mode = spec.get("Mode") or {}
        if mode.get("Replicated") is None:
            raise DockerError("replicas can only be used with replicated mode")
        mode["Replicated"]["Replicas"] = o["replicas"]
    if o.get("endpoint_mode") is not None or o.get("publish_add") or o.get("publish_rm"):
        ep = spec.get("EndpointSpec") or {}
        if o.get("endpoint_mode") is not None:
            ep["Mode"] = o["endpoint_mode"].lower()
        if o.get("publish_add") or o.get("publish_rm"):
            ep["Ports"] = update_ports(ep.get("Ports") or [], o.get("publish_add") or (), o.get("publish_rm") or ())
        spec["EndpointSpec"] = ep
    if o.get("force"):
        tt["ForceUpdate"] = (tt.get("ForceUpdate") or 0) + 1


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


def parse_details(s: str) -> dict[str, str]:
    """``logs.ParseLogDetails``: "k=v,k2=v2" with URL-escaped keys and values."""
    from urllib.parse import unquote_plus

    out: dict[str, str] = {}
    for pair in s.split(","):
        k, eq, v = pair.partition("=")
        if not eq or not k:
            raise DockerError("invalid details format")
        out[unquote_plus(k)] = unquote_plus(v)
    return out


class LogFormatter:
    """Turns each line of the detailed log stream into docker's ``name.slot.task@node    | msg``."""

    def __init__(self, c: Client, timestamps: bool, details: bool, no_task_ids: bool, no_trunc: bool,
                 no_resolve: bool, padding: int) -> None:
        self.c = c
        self.timestamps = timestamps
        self.details = details
        self.no_task_ids = no_task_ids
        self.no_trunc = no_trunc
        self.resolver = Resolver(c, no_resolve)
        self.padding = padding
        self.cache: dict[tuple[str, str, str], str] = {}

    def context(self, node_id: str, service_id: str, task_id: str) -> str:
        key = (node_id, service_id, task_id)
        if key not in self.cache:
            node_name = self.resolver.node(node_id)
            service_name = self.resolver.service(service_id)
            task = self.c.get(f"/tasks/{path_ref(task_id)}")
            slot = task.get("Slot", 0)
            name = f"{service_name}.{slot}"
            if not self.no_task_ids:
                name += "." + (task["ID"] if self.no_trunc else truncate_id(task["ID"]))
            pad = self.padding - len(str(slot))
            self.cache[key] = name + "@" + node_name + (" " * pad if pad > 0 else "")
        return self.cache[key]

    def format(self, line: bytes) -> bytes:
        n = 3 if self.timestamps else 2
        parts = line.split(b" ", n - 1)
        if len(parts) != n:
            raise DockerError(f"invalid context in log message: {line.decode(errors='replace')}")
        di = 1 if self.timestamps else 0
        details = parse_details(parts[di].decode(errors="replace"))
        try:
            nid = details.pop("com.docker.swarm.node.id")
            sid = details.pop("com.docker.swarm.service.id")
            tid = details.pop("com.docker.swarm.task.id")
        except KeyError as e:
            raise DockerError(f"missing {e.args[0]} in details: {details}") from e
        out = b""
        if self.timestamps:
            out += parts[0] + b" "
        out += (self.context(nid, sid, tid) + "    | ").encode()
        if self.details:
            out += ",".join(sorted(f"{k}={v}" for k, v in details.items())).encode() + b" "
        return out + parts[di + 1]


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
    max_len = 1
    try:
        svc = c.get(f"/services/{path_ref(ref)}")
        path = f"/services/{path_ref(ref)}/logs"
        tty = bool(((svc["Spec"].get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("TTY"))
        rep = ((svc["Spec"].get("Mode") or {}).get("Replicated") or {}).get("Replicas")
        if rep is not None:
            max_len = len(str(rep))
    except APIError as e:
        if e.status != 404:
            raise
        try:
            task = c.get(f"/tasks/{path_ref(ref)}")
        except APIError as e2:
            if e2.status == 404:
                raise DockerError(f"no such task or service: {ref}") from e2
            raise
        path = f"/tasks/{path_ref(ref)}/logs"
        tty = bool(((task.get("Spec") or {}).get("ContainerSpec") or {}).get("TTY"))
        max_len = len(str(task.get("Slot", 0)))
    if tty and not raw:
        raise DockerError("tty service logs only supported with --raw")
    params = {"stdout": "1", "stderr": "1", "since": _since_param(since) if since else None,
              "timestamps": "1" if timestamps else None, "follow": "1" if follow else None, "tail": tail,
              "details": "1" if (details or not raw) else None}
    resp = c.open("GET", path, params)
    fmt = None if raw else LogFormatter(c, timestamps, details, no_task_ids, no_trunc, no_resolve, max_len)
    stdout, stderr = sys.stdout.buffer, sys.stderr.buffer
    try:
        for stream, payload in c.frames(resp, tty):
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


def _since_param(value: str) -> str:
    """``--since``: a relative duration ("42m") or a timestamp, as the API's Unix seconds."""
    try:
        return f"{time.time() - parse_go_duration(value) / 1e9:.9f}"
    except ValueError:
        pass
    from shoal.cli.output import parse_time

    t = parse_time(value)
    if t is not None:
        return f"{t:.9f}"
    try:
        return str(float(value))
    except ValueError as e:
        raise DockerError(f'invalid value for "since": failed to parse value as time or duration: "{value}"') from e
