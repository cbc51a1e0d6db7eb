"""The flags of ``shoal service create`` and ``update``: their value types (memory sizes, decimal CPUs,
Go durations), the parsers of structured values (``--env``, ``--publish``, ``--mount``,
``--placement-pref``, ``--generic-resource``), and the flags both commands share (docker's
``addServiceFlags``). Everything here turns a flag into a piece of ServiceSpec JSON or refuses it with
the docker CLI's words; assembling the spec is ``spec.py``'s job.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import click

from shoal.api import generic
from shoal.api.humanize import parse_go_duration
from shoal.cli.client import DockerError
from shoal.cli.output import ram_in_bytes

# ---------------------------------------------------------------- value types


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

# ---------------------------------------------------------------- structured values


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
        return [_publish_fields(value)]
    return _publish_short(value)


def _publish_fields(value: str) -> dict[str, Any]:
    """The long form: ``published=8080,target=80[,protocol=udp][,mode=host]``."""
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
    return p


def _publish_short(value: str) -> list[dict[str, Any]]:
    """The short form: ``[published:]target[/protocol]``, either side a port or a range ``a-b``."""
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


def placement_pref(value: str) -> dict[str, Any]:
    k, _, v = value.partition("=")
    if k != "spread" or not v:
        raise DockerError(f"invalid placement preference {value}: only \"spread\" preferences are supported"
                          if k != "spread" else "invalid placement preference: spread requires a value")
    return {"Spread": {"SpreadDescriptor": v}}


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


# ---------------------------------------------------------------- the shared flags


def _task_flags() -> list[Callable[[Any], Any]]:
    """Replicas, resources, restart policy and the container's own settings."""
    return [
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
    ]


def _rollout_flags() -> list[Callable[[Any], Any]]:
    """The update and rollback configurations."""
    return [
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
    ]


def _container_flags() -> list[Callable[[Any], Any]]:
    """The container, its endpoint, its image and its logs."""
    return [
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


def common_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Flags ``service create`` and ``service update`` share (docker's ``addServiceFlags``), in its order."""
    opts = [
        click.option("-d", "--detach", is_flag=True,
                     help="Exit immediately instead of waiting for the service to converge"),
        click.option("-q", "--quiet", is_flag=True, help="Suppress progress output"),
        *_task_flags(),
        *_rollout_flags(),
        *_container_flags(),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f
