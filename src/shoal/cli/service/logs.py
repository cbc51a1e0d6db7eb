"""``shoal service logs``: where a service's or a task's log stream is, the ``--since`` value the API
takes, and docker's ``name.slot.task@node    | msg`` context in front of each line (built from the
details the stream carries with ``details=1``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import unquote_plus

from shoal.api.humanize import parse_go_duration
from shoal.cli.client import APIError, Client, DockerError, Resolver, path_ref
from shoal.cli.output import parse_time, truncate_id


@dataclass(frozen=True)
class LogSource:
    path: str  # the API path of the stream
    tty: bool  # the container has a TTY (one unmultiplexed stream)
    slot_width: int  # digits of the widest slot, to line the contexts up


def log_source(c: Client, ref: str) -> LogSource:
    """The service called ``ref``, else the task: docker's order; ``no such task or service`` if neither."""
    try:
        svc = c.get(f"/services/{path_ref(ref)}")
    except APIError as e:
        if e.status != 404:
            raise
    else:
        rep = ((svc["Spec"].get("Mode") or {}).get("Replicated") or {}).get("Replicas")
        tty = bool(((svc["Spec"].get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("TTY"))
        return LogSource(f"/services/{path_ref(ref)}/logs", tty, len(str(rep)) if rep is not None else 1)
    try:
        task = c.get(f"/tasks/{path_ref(ref)}")
    except APIError as e2:
        if e2.status == 404:
            raise DockerError(f"no such task or service: {ref}") from e2
        raise
    tty = bool(((task.get("Spec") or {}).get("ContainerSpec") or {}).get("TTY"))
    return LogSource(f"/tasks/{path_ref(ref)}/logs", tty, len(str(task.get("Slot", 0))))


def parse_details(s: str) -> dict[str, str]:
    """``logs.ParseLogDetails``: "k=v,k2=v2" with URL-escaped keys and values."""
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


def since_param(value: str) -> str:
    """``--since``: a relative duration ("42m") or a timestamp, as the API's Unix seconds."""
    try:
        return f"{time.time() - parse_go_duration(value) / 1e9:.9f}"
    except ValueError:
        pass
    t = parse_time(value)
    if t is not None:
        return f"{t:.9f}"
    try:
        return str(float(value))
    except ValueError as e:
        raise DockerError(f'invalid value for "since": failed to parse value as time or duration: "{value}"') from e
