"""Human-readable output of services: ``service inspect --pretty`` (docker's
``serviceInspectPrettyTemplate``, section by section, tabs and trailing spaces included) and the
table of ``service create --dry-run`` (shoal's own)."""

from __future__ import annotations

from typing import Any

import click

from shoal.cli.output import bytes_size, go_duration, go_float, human_duration, since, table


def pretty_service(s: dict[str, Any]) -> str:
    """docker's ``serviceInspectPrettyTemplate``."""
    spec = s.get("Spec") or {}
    tt = spec.get("TaskTemplate") or {}
    lines = ["", f"ID:\t\t{s.get('ID', '')}", f"Name:\t\t{spec.get('Name', '')}"]
    lines += _labels(spec.get("Labels"))
    lines += _mode(spec.get("Mode") or {})
    lines += _update_status(s.get("UpdateStatus"))
    lines += _placement(tt.get("Placement") or {})
    lines += _rollout_configs(spec)
    lines += _container_spec(tt.get("ContainerSpec") or {})
    lines += _log_driver(tt.get("LogDriver"))
    lines += _resources(tt.get("Resources"))
    nets = [n.get("Target", "") for n in tt.get("Networks") or []]
    if nets:
        lines.append("Networks:" + "".join(f" {n}" for n in nets) + " ")
    return "\n".join(lines) + _endpoint(spec, s) + "\n\n"


def _labels(labels: dict[str, str] | None) -> list[str]:
    if not labels:
        return []
    return ["Labels:", *(f" {k}" + (f"={v}" if v else "") for k, v in sorted(labels.items()))]


def _mode(mode: dict[str, Any]) -> list[str]:
    if mode.get("Global") is not None:
        return ["Service Mode:\tGlobal"]
    if mode.get("Replicated") is not None:
        replicas = mode["Replicated"].get("Replicas")
        return ["Service Mode:\tReplicated", *([f" Replicas:\t{replicas}"] if replicas is not None else [])]
    return ["Service Mode:"]


def _update_status(us: dict[str, Any] | None) -> list[str]:
    if not us or not us.get("State"):
        return []
    out = ["UpdateStatus:", f" State:\t\t{us['State']}"]
    if us.get("StartedAt") is not None:
        out.append(f" Started:\t{human_duration(since(us['StartedAt']))} ago")
    if us["State"] == "completed" and us.get("CompletedAt") is not None:
        out.append(f" Completed:\t{human_duration(since(us['CompletedAt']))} ago")
    out.append(f" Message:\t{us.get('Message', '')}")
    return out


def _placement(placement: dict[str, Any]) -> list[str]:
    out = ["Placement:"]
    if placement.get("Constraints"):
        out.append(f" Constraints:\t[{' '.join(placement['Constraints'])}]")
    prefs = [f"spread={p['Spread']['SpreadDescriptor']}" for p in placement.get("Preferences") or []
             if p.get("Spread")]
    if prefs:
        out.append(f" Preferences:   [{' '.join(prefs)}]")
    if placement.get("MaxReplicas"):
        out.append(f" Max Replicas Per Node:   {placement['MaxReplicas']}")
    return out


def _rollout_configs(spec: dict[str, Any]) -> list[str]:
    """The UpdateConfig and RollbackConfig sections, each when the spec has it."""
    out: list[str] = []
    for key, order in (("UpdateConfig", "Update order:     "), ("RollbackConfig", "Rollback order:   ")):
        cfg = spec.get(key)
        if cfg is None:
            continue
        out.append(f"{key}:")
        out.append(f" Parallelism:\t{cfg.get('Parallelism', 0)}")
        if (cfg.get("Delay") or 0) > 0:
            out.append(f" Delay:\t\t{go_duration(cfg['Delay'])}")
        out.append(f" On failure:\t{cfg.get('FailureAction', '')}")
        if (cfg.get("Monitor") or 0) > 0:
            out.append(f" Monitoring Period: {go_duration(cfg['Monitor'])}")
        out.append(f" Max failure ratio: {go_float(cfg.get('MaxFailureRatio') or 0)}")
        out.append(f" {order} {cfg.get('Order', '')}")
    return out


def _container_spec(cs: dict[str, Any]) -> list[str]:
    """ContainerSpec, then the Capabilities, SysCtls and Mounts sections."""
    out = ["ContainerSpec:", f" Image:\t\t{cs.get('Image', '')}"]
    if cs.get("Args"):
        out.append(" Args:\t\t" + "".join(f"{a} " for a in cs["Args"]))
    if cs.get("Env"):
        out.append(" Env:\t\t" + "".join(f"{e} " for e in cs["Env"]))
    if cs.get("Dir"):
        out.append(f" Dir:\t\t{cs['Dir']}")
    if cs.get("Init") is not None:
        out.append(f" Init:\t\t{str(cs['Init']).lower()}")
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
        out.append("Mounts:")
        for m in cs["Mounts"]:
            out += [f" Target:\t{m.get('Target', '')}", f"  Source:\t{m.get('Source', '')}",
                    f"  ReadOnly:\t{str(bool(m.get('ReadOnly'))).lower()}", f"  Type:\t\t{m.get('Type', '')}"]
    return out


def _log_driver(ld: dict[str, Any] | None) -> list[str]:
    if ld is None:
        return []
    out = ["Log Driver:"]
    if ld.get("Name"):
        out.append(f" Name:\t\t{ld['Name']}")
    if ld.get("Options"):
        out.append(" LogOpts:")
        out += [f"  {k}" + (f":       {v}" if v else "") for k, v in sorted(ld["Options"].items())]
    return [*out, ""]


def _resources(res: dict[str, Any] | None) -> list[str]:
    if res is None:
        return []
    resv, lim = res.get("Reservations") or {}, res.get("Limits") or {}
    out = ["Resources:"]
    if (resv.get("NanoCPUs") or 0) > 0 or (resv.get("MemoryBytes") or 0) > 0:
        out.append(" Reservations:")
        if (resv.get("NanoCPUs") or 0) > 0:
            out.append(f"  CPU:\t\t{go_float(resv['NanoCPUs'] / 1e9)}")
        if resv.get("MemoryBytes"):
            out.append(f"  Memory:\t{bytes_size(resv['MemoryBytes'])}")
    if (lim.get("NanoCPUs") or 0) > 0 or (lim.get("MemoryBytes") or 0) > 0 or (lim.get("Pids") or 0) > 0:
        out.append(" Limits:")
        if (lim.get("NanoCPUs") or 0) > 0:
            out.append(f"  CPU:\t\t{go_float(lim['NanoCPUs'] / 1e9)}")
        if lim.get("MemoryBytes"):
            out.append(f"  Memory:\t{bytes_size(lim['MemoryBytes'])}")
    if (lim.get("Pids") or 0) > 0:
        out.append(f"  PIDs:\t\t{lim['Pids']}")
    return out


def _endpoint(spec: dict[str, Any], s: dict[str, Any]) -> str:
    """The endpoint mode and the published ports (the section ends with a space when there are ports)."""
    text = f"\nEndpoint Mode:\t{(spec.get('EndpointSpec') or {}).get('Mode', '')}"
    ports = (s.get("Endpoint") or {}).get("Ports") or []
    if not ports:
        return text
    text += "\nPorts:"
    for p in ports:
        text += (f"\n PublishedPort = {p.get('PublishedPort', 0)}\n  Protocol = {p.get('Protocol', '')}\n"
                 f"  TargetPort = {p.get('TargetPort', 0)}\n  PublishMode = {p.get('PublishMode', '')}")
    return text + " "


def print_plan(p: dict[str, Any]) -> None:
    """The dry run: tasks per node, and the filter that turns down each node left without any."""
    rows = [[n["Hostname"], str(n["Tasks"]), n.get("Rejected") or ""] for n in p.get("Nodes") or []]
    click.echo(table(["NODE", "TASKS", "REJECTED BY"], rows), nl=False)
    placed, total = p.get("Placed", 0), p.get("Tasks", 0)
    used = sum(1 for n in p.get("Nodes") or [] if n["Tasks"])
    click.echo(f"{placed}/{total} tasks would be placed on {used} {'node' if used == 1 else 'nodes'}")
    if p.get("Err"):
        click.echo(f"{total - placed} {'task' if total - placed == 1 else 'tasks'} would stay pending: {p['Err']}")
