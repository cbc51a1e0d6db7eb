"""ServiceSpec JSON from flags: built whole for ``service create`` (docker's ``serviceOptions.ToService``)
and edited in place for ``service update`` (docker's ``updateService``), as plain dicts field for
field what the docker CLI sends, so a service made by ``shoal service create`` and one made by
``docker service create`` look the same. Also the image's digest pin (``resolve_image``) and the spec
as the docker CLI re-encodes it before an update (``go_spec``).

``o`` is always the click command's parameters: ``None`` (or an empty tuple) means "flag not given".
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Sequence
from typing import Any

from shoal.cli.client import Client, DockerError, kv_map, path_ref
from shoal.cli.output import _order, go_json, go_order, go_shape, tagged_image
from shoal.cli.service.options import (
    env_key,
    env_list,
    generic_resources,
    parse_mount,
    parse_publish,
    placement_pref,
)

SECOND = 1_000_000_000
UPDATE_DEFAULTS: dict[str, Any] = {"Parallelism": 1, "Delay": 0, "FailureAction": "pause", "Monitor": 5 * SECOND,
                                   "MaxFailureRatio": 0, "Order": "stop-first"}
_UPDATE_FIELDS = {"parallelism": "Parallelism", "delay": "Delay", "monitor": "Monitor",
                  "failure_action": "FailureAction", "max_failure_ratio": "MaxFailureRatio", "order": "Order"}
_RESTART_FLAGS = ("restart_condition", "restart_delay", "restart_max_attempts", "restart_window")
_RESOURCE_FLAGS = ("limit_cpu", "limit_memory", "limit_pids", "reserve_cpu", "reserve_memory")
_REPLICAS_ONLY = "replicas can only be used with replicated or replicated-job mode"


def go_spec(spec: dict[str, Any]) -> Any:
    """A ServiceSpec as the docker CLI sends it back: decoded into its Go type and encoded again."""
    return json.loads(go_json(_order(go_shape(spec, "ServiceSpec"), "ServiceSpec")))


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


# ---------------------------------------------------------------- pieces both commands use


def restart_policy(o: dict[str, Any], base: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """``base`` with the ``--restart-*`` flags given applied (``base`` itself when none is)."""
    if all(o.get(k) is None for k in _RESTART_FLAGS):
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
    """``base`` (or docker's defaults) with the ``--update-*`` or ``--rollback-*`` flags given applied;
    ``base`` itself when none is."""
    if all(o.get(f"{prefix}_{k}") is None for k in _UPDATE_FIELDS):
        return base
    cfg = dict(base) if base is not None else dict(UPDATE_DEFAULTS)
    for k, key in _UPDATE_FIELDS.items():
        v = o.get(f"{prefix}_{k}")
        if v is not None:
            cfg[key] = v
    return cfg


def _log_driver(o: dict[str, Any]) -> dict[str, Any]:
    return {"Name": o["log_driver"], "Options": kv_map(o.get("log_opt") or ()) or None}


# ---------------------------------------------------------------- create


def build_spec(o: dict[str, Any], image: str, args: Sequence[str]) -> dict[str, Any]:
    """``serviceOptions.ToService``: the ServiceSpec JSON the docker CLI sends for ``service create``."""
    mode = _mode(o)
    task: dict[str, Any] = {"ContainerSpec": _container_spec(o, image, args), "Resources": _resources(o)}
    restart = restart_policy(o)
    if restart is not None:
        task["RestartPolicy"] = restart
    task["Placement"] = _placement(o)
    if o["log_driver"]:
        task["LogDriver"] = _log_driver(o)
    task["ForceUpdate"] = 0

    spec: dict[str, Any] = {"Name": o["name"], "Labels": kv_map(o["label"]), "TaskTemplate": task, "Mode": mode}
    if not spec["Name"]:
        del spec["Name"]
    for prefix, key in (("update", "UpdateConfig"), ("rollback", "RollbackConfig")):
        cfg = update_config(o, prefix)
        if cfg is not None:
            spec[key] = cfg
    spec["EndpointSpec"] = _endpoint_spec(o)
    out: dict[str, Any] = go_order(spec, "ServiceSpec")
    return out


def _mode(o: dict[str, Any]) -> dict[str, Any]:
    """``--mode`` with ``--replicas`` and ``--max-concurrent``."""
    mode, replicas = o["mode"], o["replicas"]
    if mode == "replicated":
        return {"Replicated": {} if replicas is None else {"Replicas": replicas}}
    if mode == "replicated-job":
        return {"ReplicatedJob": {"MaxConcurrent": o["max_concurrent"] or 1,
                                  "TotalCompletions": replicas if replicas is not None else 1}}
    if mode in ("global", "global-job"):
        if replicas is not None:
            raise DockerError(_REPLICAS_ONLY)
        return {"Global": {}} if mode == "global" else {"GlobalJob": {}}
    raise DockerError(f"Unknown mode: {mode}, only replicated and global supported")


def _container_spec(o: dict[str, Any], image: str, args: Sequence[str]) -> dict[str, Any]:
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
    return cs


def _resources(o: dict[str, Any]) -> dict[str, Any]:
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
    return {"Limits": limits, "Reservations": reservations}


def _placement(o: dict[str, Any]) -> dict[str, Any]:
    placement: dict[str, Any] = {}
    if o["constraint"]:
        placement["Constraints"] = list(o["constraint"])
    if o["placement_pref"]:
        placement["Preferences"] = [placement_pref(p) for p in o["placement_pref"]]
    if o["max_replicas"]:
        placement["MaxReplicas"] = o["max_replicas"]
    return placement


def _endpoint_spec(o: dict[str, Any]) -> dict[str, Any]:
    ep: dict[str, Any] = {"Mode": (o["endpoint_mode"] or "vip").lower()}
    ports = [p for v in o["publish"] for p in parse_publish(v)]
    if ports:
        ep["Ports"] = ports
    return ep


# ---------------------------------------------------------------- update


def edit_spec(spec: dict[str, Any], o: dict[str, Any]) -> None:
    """docker's ``updateService``: apply the changed flags to a whole ServiceSpec."""
    tt = spec.setdefault("TaskTemplate", {})
    cs = tt.setdefault("ContainerSpec", {})
    _edit_container(cs, o)
    _edit_container_lists(cs, o)
    if o.get("label_add") or o.get("label_rm"):
        spec["Labels"] = _edit_map(spec.get("Labels"), o.get("label_add"), o.get("label_rm"))
    _edit_placement(tt, o)
    _edit_resources(tt, o)
    if any(o.get(k) is not None for k in _RESTART_FLAGS):
        tt["RestartPolicy"] = restart_policy(
            o, tt.get("RestartPolicy") or {"Condition": "any", "Delay": 5 * SECOND, "MaxAttempts": 0})
    if o.get("log_driver") is not None:
        tt["LogDriver"] = _log_driver(o)
    for prefix, key in (("update", "UpdateConfig"), ("rollback", "RollbackConfig")):
        if any(o.get(f"{prefix}_{k}") is not None for k in _UPDATE_FIELDS):
            spec[key] = update_config(o, prefix, spec.get(key) or dict(UPDATE_DEFAULTS))
    if o.get("replicas") is not None:
        mode = spec.get("Mode") or {}
        if mode.get("Replicated") is None:
            raise DockerError("replicas can only be used with replicated mode")
        mode["Replicated"]["Replicas"] = o["replicas"]
    _edit_endpoint(spec, o)
    if o.get("force"):
        tt["ForceUpdate"] = (tt.get("ForceUpdate") or 0) + 1


def _edit_container(cs: dict[str, Any], o: dict[str, Any]) -> None:
    """The container's single-valued settings: each flag given replaces its field."""
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


def _edit_container_lists(cs: dict[str, Any], o: dict[str, Any]) -> None:
    """The container's lists and maps, through their ``--X-add`` and ``--X-rm`` flags."""
    if o.get("env_add") or o.get("env_rm"):
        cs["Env"] = _update_list(cs.get("Env"), env_list(o.get("env_add") or ()), o.get("env_rm") or (), env_key)
    if o.get("container_label_add") or o.get("container_label_rm"):
        cs["Labels"] = _edit_map(cs.get("Labels"), o.get("container_label_add"), o.get("container_label_rm"))
    if o.get("group_add") or o.get("group_rm"):
        cs["Groups"] = _update_list(cs.get("Groups"), o.get("group_add") or (), o.get("group_rm") or ())
    if o.get("mount_add") or o.get("mount_rm"):
        mounts = [m for m in cs.get("Mounts") or [] if m.get("Target") not in set(o.get("mount_rm") or ())]
        for m in (parse_mount(v) for v in o.get("mount_add") or ()):
            mounts = [x for x in mounts if x.get("Target") != m["Target"]] + [m]
        cs["Mounts"] = mounts


def _edit_map(current: dict[str, str] | None, add: Sequence[str] | None, rm: Sequence[str] | None) -> dict[str, str]:
    """Labels: the keys of ``rm`` dropped, then the ``k=v`` of ``add`` set."""
    labels = dict(current or {})
    for k in rm or ():
        labels.pop(k, None)
    labels.update(kv_map(add or ()))
    return labels


def _update_list(current: list[str] | None, add: Sequence[str], rm: Sequence[str],
                 key: Callable[[str], str] = lambda x: x) -> list[str]:
    rm_set = set(rm)
    out = [x for x in current or [] if key(x) not in rm_set and x not in rm_set]
    for a in add:
        out = [*(x for x in out if key(x) != key(a)), a]
    return out


def _edit_placement(tt: dict[str, Any], o: dict[str, Any]) -> None:
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
        tt["Placement"] = tt.get("Placement") or {}
        tt["Placement"]["MaxReplicas"] = o["max_replicas"]


def _edit_resources(tt: dict[str, Any], o: dict[str, Any]) -> None:
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
    if any(o.get(k) is not None for k in _RESOURCE_FLAGS):
        res = tt.get("Resources") or {}
        lim, resv = res.get("Limits") or {}, res.get("Reservations") or {}
        for flag, d, key in (("limit_cpu", lim, "NanoCPUs"), ("limit_memory", lim, "MemoryBytes"),
                             ("limit_pids", lim, "Pids"), ("reserve_cpu", resv, "NanoCPUs"),
                             ("reserve_memory", resv, "MemoryBytes")):
            if o.get(flag) is not None:
                d[key] = o[flag]
        res["Limits"], res["Reservations"] = lim, resv
        tt["Resources"] = res


def _edit_endpoint(spec: dict[str, Any], o: dict[str, Any]) -> None:
    if o.get("endpoint_mode") is None and not o.get("publish_add") and not o.get("publish_rm"):
        return
    ep = spec.get("EndpointSpec") or {}
    if o.get("endpoint_mode") is not None:
        ep["Mode"] = o["endpoint_mode"].lower()
    if o.get("publish_add") or o.get("publish_rm"):
        ep["Ports"] = update_ports(ep.get("Ports") or [], o.get("publish_add") or (), o.get("publish_rm") or ())
    spec["EndpointSpec"] = ep


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
