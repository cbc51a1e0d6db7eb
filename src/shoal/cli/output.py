"""Text output exactly as the docker CLI 28 prints it.

Pure functions (no I/O, no daemon): the table writer (docker's fork of Go's ``text/tabwriter`` with
minwidth 10, padding 3), go-units' ``HumanDuration``/``HumanSize``/``BytesSize``/``RAMInBytes``,
Go's ``time.Duration`` printing and parsing, the ``sortorder.NaturalLess`` order, docker's
``Ellipsis`` and ``PrettyPrint``, Go's ``json.Indent``, and the rows of ``docker service ps``,
``docker service ls``, ``docker node ls`` and ``docker images``.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import math
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from shoal.api import humanize
from shoal.api.humanize import go_duration as go_duration

# ---------------------------------------------------------------- tables


def text_width(s: str) -> int:
    """Display width as go-runewidth counts it (East Asian wide and fullwidth runes take two cells)."""
    w = 0
    for ch in s:
        if unicodedata.combining(ch):
            continue
        w += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return w


def tabwrite(rows: Sequence[Sequence[str]], minwidth: int = 10, padding: int = 3) -> str:
    """Align tab-separated cells as docker's formatter does (``tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)``).

    Every cell but the last of a line is padded to its column's width: the widest cell plus
    ``padding``, and at least ``minwidth``. The last cell of each line is written as is, so a line
    whose last cells are empty keeps its trailing spaces, as docker's output does. Lines with fewer
    cells end their columns there (Go's column blocks), which equal-length rows never hit.
    """
    lines = [list(r) for r in rows]
    out: list[str] = []

    def fmt(line0: int, line1: int, widths: list[int]) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write(line0, this, widths)
            line0 = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, text_width(lines[this][column]) + padding)
                this += 1
            fmt(line0, this, [*widths, width])
            line0 = this
        write(line0, line1, widths)

    def write(line0: int, line1: int, widths: list[int]) -> None:
        for i in range(line0, line1):
            parts = []
            for j, cell in enumerate(lines[i]):
                parts.append(cell)
                if j < len(widths):
                    parts.append(" " * (widths[j] - text_width(cell)))
            out.append("".join(parts) + "\n")

    fmt(0, len(lines), [])
    return "".join(out)


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    return tabwrite([list(header), *[list(r) for r in rows]])


# ---------------------------------------------------------------- go-units

human_duration = humanize.human_duration



_DECIMAL = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
_BINARY = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"]


def _size_and_unit(size: float, base: float, units: list[str]) -> tuple[float, str]:
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return size, units[i]


def _go_g(x: float, precision: int) -> str:
    """Go's ``%.*g`` (Python's ``%g`` agrees, exponent form included: ``1e+03``)."""
    return "%.*g" % (precision, x)  # noqa: UP031


def human_size(size: float, precision: int = 3) -> str:
    """go-units ``HumanSizeWithPrecision`` (decimal units), as ``docker images`` prints SIZE: "2MB"."""
    v, unit = _size_and_unit(float(size), 1000.0, _DECIMAL)
    return _go_g(v, precision) + unit


def bytes_size(size: float) -> str:
    """go-units ``BytesSize`` (binary units, 4 significant digits): "1GiB", "7.776GiB"."""
    v, unit = _size_and_unit(float(size), 1024.0, _BINARY)
    return _go_g(v, 4) + unit


_BINARY_MAP = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def ram_in_bytes(value: str) -> int:
    """go-units ``RAMInBytes``: "64M", "1.5g", "1000G", "512kb", "100" → bytes (binary multiples)."""
    sep = max(value.rfind(c) for c in "0123456789. ")
    if sep == -1:
        raise ValueError(f"invalid size: '{value}'")
    if value[sep] != " ":
        num, sfx = value[: sep + 1], value[sep + 1:]
    else:
        num, sfx = value[:sep], value[sep + 1:]
    try:
        size = float(num)
    except ValueError as e:
        raise ValueError(f'strconv.ParseFloat: parsing "{num}": invalid syntax') from e
    if size < 0 or math.isnan(size):
        raise ValueError(f"invalid size: '{value}'")
    if not sfx:
        return int(size)
    low = sfx.lower()
    if len(low) > 3:
        raise ValueError(f"invalid suffix: '{sfx}'")
    if low[0] == "b":
        if len(low) > 1:
            raise ValueError(f"invalid suffix: '{low}'")
        return int(size)
    mul = _BINARY_MAP.get(low[0])
    if mul is None or (len(low) == 2 and low[1] != "b") or (len(low) == 3 and low[1:] != "ib"):
        raise ValueError(f"invalid suffix: '{low}'")
    return int(size * mul)


# ---------------------------------------------------------------- Go time.Duration

def go_float(x: float) -> str:
    """Go's ``%v`` of a float: "0", "0.5", "2.5", "1e+21"."""
    if x == int(x) and abs(x) < 1e21:
        return str(int(x))
    r = repr(float(x))
    m = re.match(r"^(-?[0-9.]+)e([+-])([0-9]+)$", r)
    if m:
        return f"{m.group(1)}e{m.group(2)}{int(m.group(3)):02d}"
    return r


# ---------------------------------------------------------------- timestamps


def parse_time(ts: str | None) -> float | None:
    """Seconds since the epoch of an RFC 3339 timestamp (any fraction, ``Z`` or ``±hh:mm``)."""
    if not ts:
        return None
    m = re.match(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$", ts.strip())
    if m is None:
        return None
    base = _dt.datetime.strptime(f"{m.group(1)}T{m.group(2)}", "%Y-%m-%dT%H:%M:%S")
    tz = m.group(4) or "Z"
    offset = 0
    if tz != "Z":
        sign = -1 if tz[0] == "-" else 1
        hh, mm = int(tz[1:3]), int(tz[-2:])
        offset = sign * (hh * 3600 + mm * 60)
    try:
        epoch = base.replace(tzinfo=_dt.UTC).timestamp()
    except (OverflowError, ValueError):
        return None
    return epoch - offset + (float(m.group(3)) if m.group(3) else 0.0)


def since(ts: str | None, now: float | None = None) -> float:
    """Seconds from ``ts`` to now (Go's zero time, or none, is very long ago)."""
    t = parse_time(ts)
    if t is None:
        t = -62135596800.0  # 0001-01-01T00:00:00Z
    return (time.time() if now is None else now) - t


def go_time_string(ts: str) -> str:
    """Go's ``time.Time.String()`` of a UTC timestamp: "2024-05-01 10:00:00.123456789 +0000 UTC"."""
    m = re.match(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$", ts or "")
    if m is None:
        return "0001-01-01 00:00:00 +0000 UTC"
    frac = (m.group(3) or "")[:9].rstrip("0")
    tz = m.group(4) or "Z"
    zone = "+0000 UTC" if tz in ("Z", "+00:00", "+0000") else tz.replace(":", "") + " " + tz.replace(":", "")
    return f"{m.group(1)} {m.group(2)}{'.' + frac if frac else ''} {zone}"


# ---------------------------------------------------------------- docker's little helpers


def pretty_print(s: Any) -> str:
    """docker's ``formatter.PrettyPrint``: the first letter upper-cased, the rest lower-cased."""
    if s is None:
        return "None"
    s = str(s)
    if len(s) == 0:
        return s
    if len(s) == 1:
        return s.lower()
    return s[0].upper() + s[1:].lower()


def ellipsis(s: str, max_width: int) -> str:
    """docker's ``formatter.Ellipsis``: cut to ``max_width`` display cells, the last one being "…"."""
    if max_width <= 0:
        return ""
    if not s:
        return s
    if max_width == 1:
        return s[0]
    if text_width(s) <= max_width:
        return s
    out, w = [], 0
    for ch in s:
        cw = text_width(ch)
        if w + cw > max_width - 1:
            break
        out.append(ch)
        w += cw
    return "".join(out) + "…"


def truncate_id(id_: str) -> str:
    """``stringid.TruncateID``: drop an ``algo:`` prefix, keep 12 characters."""
    if ":" in id_:
        id_ = id_.split(":", 1)[1]
    return id_[:12]


def natural_less(a: str, b: str) -> bool:
    """``github.com/fvbommel/sortorder.NaturalLess``: digits sort numerically, before other characters."""
    i = j = 0
    while i < len(a) and j < len(b):
        c1, c2 = a[i], b[j]
        d1, d2 = c1.isascii() and c1.isdigit(), c2.isascii() and c2.isdigit()
        if d1 != d2:
            return d1
        if not d1:
            if c1 != c2:
                return c1.encode() < c2.encode()
            i += 1
            j += 1
            continue
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        nz1, nz2 = i, j
        while i < len(a) and a[i].isascii() and a[i].isdigit():
            i += 1
        while j < len(b) and b[j].isascii() and b[j].isdigit():
            j += 1
        if (i - nz1) != (j - nz2):
            return (i - nz1) < (j - nz2)
        if a[nz1:i] != b[nz2:j]:
            return a[nz1:i] < b[nz2:j]
        if nz1 != nz2:
            return nz1 < nz2
    return len(a) < len(b)


def natural_key(get: Callable[[Any], str]) -> Any:
    def cmp(x: Any, y: Any) -> int:
        a, b = get(x), get(y)
        if natural_less(a, b):
            return -1
        if natural_less(b, a):
            return 1
        return 0

    return functools.cmp_to_key(cmp)


def go_json_indent(raw: str, indent: str = "    ") -> str:
    """Go's ``json.Indent(dst, src, "", indent)``: keeps the bytes of every value (no re-encoding)."""
    out: list[str] = []
    depth = 0
    need_indent = False
    in_str = esc = False
    for c in raw:
        if in_str:
            out.append(c)
            if esc:
                esc = False
            elif c == "\\":
                esc = True
            elif c == '"':
                in_str = False
            continue
        if c in " \t\r\n":
            continue
        if need_indent and c not in "]}":
            need_indent = False
            depth += 1
            out.append("\n" + indent * depth)
        if c == '"':
            in_str = True
            out.append(c)
        elif c in "{[":
            need_indent = True
            out.append(c)
        elif c == ",":
            out.append(",\n" + indent * depth)
        elif c == ":":
            out.append(": ")
        elif c in "}]":
            if need_indent:
                need_indent = False
            else:
                depth -= 1
                out.append("\n" + indent * depth)
            out.append(c)
        else:
            out.append(c)
    return "".join(out)


def inspect_json(raws: Sequence[str]) -> str:
    """``docker … inspect`` output: the raw objects in one JSON array, indented by 4 spaces."""
    if not raws:
        return "[]\n"
    return go_json_indent("[" + ",".join(r.strip() for r in raws) + "]") + "\n"


# ---------------------------------------------------------------- image references


def _split_domain(name: str) -> tuple[str, str]:
    i = name.find("/")
    if i == -1 or ("." not in name[:i] and ":" not in name[:i] and name[:i] != "localhost"
                   and name[:i].lower() == name[:i]):
        domain, rest = "docker.io", name
    else:
        domain, rest = name[:i], name[i + 1:]
    if domain == "index.docker.io":
        domain = "docker.io"
    if domain == "docker.io" and "/" not in rest:
        rest = "library/" + rest
    return domain, rest


def parse_reference(ref: str) -> tuple[str, str, str]:
    """``reference.ParseNormalizedNamed`` in brief: (full name, tag, digest)."""
    name, digest = ref, ""
    if "@" in ref:
        name, digest = ref.split("@", 1)
    tag = ""
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    domain, rest = _split_domain(name)
    return f"{domain}/{rest}", tag, digest


def familiar_name(full: str) -> str:
    """``reference.FamiliarName``: "docker.io/library/nginx" → "nginx"."""
    if full.startswith("docker.io/library/") and full.count("/") == 2:
        return full[len("docker.io/library/"):]
    if full.startswith("docker.io/"):
        return full[len("docker.io/"):]
    return full


_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?)"
_REFERENCE = re.compile(
    rf"^(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?(?:@[A-Za-z][A-Za-z0-9]*"
    r"(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$")


def valid_reference(ref: str) -> bool:
    """Whether ``reference.ParseNormalizedNamed`` accepts ``ref`` (lower-case name, tag, digest)."""
    return bool(ref) and _REFERENCE.match(ref) is not None


def reference_error(ref: str) -> str | None:
    """Why ``reference.ParseNormalizedNamed`` rejects ``ref`` (None when it does not)."""
    if valid_reference(ref):
        return None
    name = ref.split("@", 1)[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    if name != name.lower() and valid_reference(ref.lower()):
        _domain, rest = _split_domain(name)
        return f"invalid reference format: repository name ({rest}) must be lowercase"
    return "invalid reference format"


def display_image(image: str) -> str:
    """How ``service ls``/``service ps`` show an image: a tagged reference loses its ``@digest`` and
    its ``docker.io/library/``; an untagged (or unparsable) one is shown as given."""
    if not valid_reference(image):
        return image
    full, tag, _digest = parse_reference(image)
    if not tag:
        return image
    return f"{familiar_name(full)}:{tag}"


def tagged_image(image: str) -> str:
    """The client library's ``imageWithTagString``: a bare name gains ``:latest`` (and loses
    ``docker.io/library/``), as the docker CLI sends it; anything unparsable is kept."""
    if not valid_reference(image):
        return image
    full, tag, digest = parse_reference(image)
    name = familiar_name(full)
    if digest:
        return f"{name}:{tag}@{digest}" if tag else f"{name}@{digest}"
    return f"{name}:{tag or 'latest'}"


# ---------------------------------------------------------------- tasks (service ps, node ps)

TERMINAL = {"complete", "shutdown", "failed", "rejected", "remove", "orphaned"}


def task_name(task: dict[str, Any], service_name: str) -> str:
    """``generateTaskNames``: ``service.slot``, or ``service.nodeID`` for a global service's task."""
    slot = task.get("Slot") or 0
    return f"{service_name}.{slot}" if slot else f"{service_name}.{task.get('NodeID', '')}"


def task_error(err: str, trunc: bool) -> str:
    """The ERROR column: cut to 30 cells with "…" unless --no-trunc, then quoted."""
    if trunc:
        err = ellipsis(err, 30)
    return f'"{err}"' if err else ""


def task_ports(task: dict[str, Any]) -> str:
    ports = ((task.get("Status") or {}).get("PortStatus") or {}).get("Ports") or []
    return ",".join(f"*:{p.get('PublishedPort', 0)}->{p.get('TargetPort', 0)}/{p.get('Protocol', 'tcp')}"
                    for p in ports)


def sort_tasks(tasks: list[dict[str, Any]], names: dict[str, str]) -> list[dict[str, Any]]:
    """docker's ``tasksSortable``: by name (natural order), then newest first within a name."""
    created = {t["ID"]: parse_time(t.get("CreatedAt")) or 0.0 for t in tasks}
    by_time = sorted(tasks, key=lambda t: -created[t["ID"]])
    return sorted(by_time, key=natural_key(lambda t: names[t["ID"]]))


def task_rows(tasks: list[dict[str, Any]], service_names: dict[str, str], node_names: dict[str, str],
              trunc: bool = True, now: float | None = None) -> list[list[str]]:
    """Rows of ``docker service ps``/``docker node ps``, history indented with `` \\_ ``."""
    names = {t["ID"]: task_name(t, service_names.get(t.get("ServiceID", ""), t.get("ServiceID", "")))
             for t in tasks}
    rows = []
    prev = ""
    for t in sort_tasks(tasks, names):
        name = names[t["ID"]]
        shown = (" \\_ " + name) if name == prev else name
        prev = name
        status = t.get("Status") or {}
        image = ((t.get("Spec") or {}).get("ContainerSpec") or {}).get("Image", "")
        rows.append([
            truncate_id(t["ID"]) if trunc else t["ID"],
            shown,
            display_image(image) if trunc else image,
            node_names.get(t.get("NodeID", ""), t.get("NodeID", "")),
            pretty_print(t.get("DesiredState", "")),
            f"{pretty_print(status.get('State', ''))} {human_duration(since(status.get('Timestamp'), now)).lower()}"
            " ago",
            task_error(status.get("Err", ""), trunc),
            task_ports(t),
        ])
    return rows


TASK_HEADER = ["ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR", "PORTS"]


def task_ids(tasks: list[dict[str, Any]], service_names: dict[str, str], trunc: bool = True) -> list[str]:
    names = {t["ID"]: task_name(t, service_names.get(t.get("ServiceID", ""), t.get("ServiceID", "")))
             for t in tasks}
    return [truncate_id(t["ID"]) if trunc else t["ID"] for t in sort_tasks(tasks, names)]


# ---------------------------------------------------------------- services (service ls)


def service_mode(svc: dict[str, Any]) -> str:
    mode = (svc.get("Spec") or {}).get("Mode") or {}
    if mode.get("Global") is not None:
        return "global"
    if mode.get("Replicated") is not None:
        return "replicated"
    if mode.get("ReplicatedJob") is not None:
        return "replicated job"
    if mode.get("GlobalJob") is not None:
        return "global job"
    return ""


def service_replicas(svc: dict[str, Any]) -> str:
    st = svc.get("ServiceStatus") or {}
    running, desired, completed = st.get("RunningTasks", 0), st.get("DesiredTasks", 0), st.get("CompletedTasks", 0)
    spec = svc.get("Spec") or {}
    mode = spec.get("Mode") or {}
    if mode.get("ReplicatedJob") is not None:
        total = mode["ReplicatedJob"].get("TotalCompletions") or 0
        return f"{running}/{desired} ({completed}/{total} completed)"
    if mode.get("GlobalJob") is not None:
        return f"{running}/{desired} ({completed}/{desired + completed} completed)"
    placement = (spec.get("TaskTemplate") or {}).get("Placement") or {}
    max_rep = placement.get("MaxReplicas") or 0
    if service_mode(svc) == "replicated" and max_rep > 0:
        return f"{running}/{desired} (max {max_rep} per node)"
    return f"{running}/{desired}"


def service_ports(svc: dict[str, Any]) -> str:
    """``docker service ls`` PORTS: ingress ports, consecutive ones grouped ("*:80-81->80-81/tcp")."""
    ports = (svc.get("Endpoint") or {}).get("Ports")
    if not ports:
        return ""
    ports = sorted(ports, key=lambda p: (p.get("Protocol", "tcp"), p.get("PublishedPort", 0)))
    out: list[str] = []
    pr: dict[str, Any] = {"ps": 0, "pe": 0, "ts": 0, "te": 0, "proto": ""}
    u32 = 1 << 32

    def fmt(r: dict[str, Any]) -> str:
        pub = f"{r['ps']}-{r['pe']}" if r["pe"] > r["ps"] else str(r["ps"])
        tgt = f"{r['ts']}-{r['te']}" if r["te"] > r["ts"] else str(r["ts"])
        return f"*:{pub}->{tgt}/{r['proto']}"

    for p in ports:
        if p.get("PublishMode", "ingress") != "ingress":
            continue
        pub, tgt, proto = p.get("PublishedPort", 0), p.get("TargetPort", 0), p.get("Protocol", "tcp")
        is_range = pr["te"] != pr["ts"]
        overlaps = tgt <= pr["te"]
        if (proto != pr["proto"] or (pub - pr["pe"]) % u32 > 1 or (tgt - pr["te"]) % u32 > 1
                or (is_range and overlaps)):
            if pr["ps"] > 0:
                out.append(fmt(pr))
            pr = {"ps": pub, "pe": pub, "ts": tgt, "te": tgt, "proto": proto}
            continue
        pr["pe"], pr["te"] = pub, tgt
    if pr["ps"] > 0:
        out.append(fmt(pr))
    return ", ".join(out)


def service_rows(services: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for s in sorted(services, key=natural_key(lambda s: (s.get("Spec") or {}).get("Name", ""))):
        cs = ((s.get("Spec") or {}).get("TaskTemplate") or {}).get("ContainerSpec") or {}
        rows.append([truncate_id(s["ID"]), s["Spec"].get("Name", ""), service_mode(s), service_replicas(s),
                     display_image(cs.get("Image", "")), service_ports(s)])
    return rows


SERVICE_HEADER = ["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"]


# ---------------------------------------------------------------- nodes (node ls)


def node_rows(nodes: list[dict[str, Any]], self_id: str) -> list[list[str]]:
    rows = []
    for n in sorted(nodes, key=natural_key(lambda n: (n.get("Description") or {}).get("Hostname", ""))):
        ms = n.get("ManagerStatus")
        reach = ""
        if ms is not None:
            reach = "Leader" if ms.get("Leader") else ms.get("Reachability", "")
        desc = n.get("Description") or {}
        rows.append([
            f"{n['ID']} {'*' if n['ID'] == self_id else ' '}",
            desc.get("Hostname", ""),
            pretty_print((n.get("Status") or {}).get("State", "")),
            pretty_print((n.get("Spec") or {}).get("Availability", "")),
            pretty_print(reach),
            (desc.get("Engine") or {}).get("EngineVersion", ""),
        ])
    return rows


NODE_HEADER = ["ID  ", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER STATUS", "ENGINE VERSION"]


# ---------------------------------------------------------------- images (docker images)


def image_rows(images: list[dict[str, Any]], trunc: bool = True, now: float | None = None
               ) -> list[list[str]]:
    rows = []
    t = time.time() if now is None else now
    for img in images:
        iid = img.get("Id", "")
        shown_id = truncate_id(iid) if trunc else iid
        created = img.get("Created") or 0
        created_since = human_duration(t - created) + " ago" if created else "N/A"
        size = human_size(img.get("Size", 0))
        tags = [x for x in (img.get("RepoTags") or []) if x != "<none>:<none>"]
        digests = [x for x in (img.get("RepoDigests") or []) if x != "<none>@<none>"]
        if not tags and not digests:
            rows.append(["<none>", "<none>", shown_id, created_since, size])
            continue
        seen_repos: list[str] = []
        for ref in tags:
            full, tag, _ = parse_reference(ref)
            repo = familiar_name(full)
            if repo not in seen_repos:
                seen_repos.append(repo)
            rows.append([repo, tag or "<none>", shown_id, created_since, size])
        for ref in digests:
            full, _, _ = parse_reference(ref)
            repo = familiar_name(full)
            if repo not in seen_repos:
                seen_repos.append(repo)
                rows.append([repo, "<none>", shown_id, created_since, size])
    return rows


IMAGE_HEADER = ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]


# ---------------------------------------------------------------- Go's encoding of docker's swarm types
#
# ``docker service inspect`` and ``docker node inspect`` decode the daemon's JSON into the API's Go
# types and marshal them again, so fields the types do not know disappear, ``omitempty`` fields at
# their zero value disappear, and times lose trailing zeros. The tables below are those types (field
# order, type, omitempty) for the objects shoal's CLI inspects.
#
# Kinds: "s" string, "i" integer, "f" float, "b" bool, "time" a time.Time, "map" a map, "any" kept
# as is; "*k" a pointer (kept when not null, even at zero), "[k]" a slice, a capitalized name a
# struct from SCHEMAS ("*Name" a pointer to one).

Field = tuple[str, str, bool]

SCHEMAS: dict[str, list[Field]] = {
    "Version": [("Index", "i", False)],
    "Annotations": [("Name", "s", True), ("Labels", "map", False)],
    "Service": [
        ("ID", "s", False), ("Version", "Version", False), ("CreatedAt", "time", False),
        ("UpdatedAt", "time", False), ("Spec", "ServiceSpec", False), ("PreviousSpec", "*ServiceSpec", True),
        ("Endpoint", "Endpoint", False), ("UpdateStatus", "*UpdateStatus", True),
        ("ServiceStatus", "*ServiceStatus", True), ("JobStatus", "*any", True),
    ],
    "ServiceSpec": [
        ("Name", "s", True), ("Labels", "map", False), ("TaskTemplate", "TaskSpec", False),
        ("Mode", "ServiceMode", False), ("UpdateConfig", "*UpdateConfig", True),
        ("RollbackConfig", "*UpdateConfig", True), ("Networks", "[NetworkAttachmentConfig]", True),
        ("EndpointSpec", "*EndpointSpec", True),
    ],
    "ServiceMode": [("Replicated", "*ReplicatedService", True), ("Global", "*Empty", True),
                    ("ReplicatedJob", "*ReplicatedJob", True), ("GlobalJob", "*Empty", True)],
    "ReplicatedService": [("Replicas", "*i", True)],
    "ReplicatedJob": [("MaxConcurrent", "*i", True), ("TotalCompletions", "*i", True)],
    "Empty": [],
    "UpdateConfig": [("Parallelism", "i", False), ("Delay", "i", True), ("FailureAction", "s", True),
                     ("Monitor", "i", True), ("MaxFailureRatio", "f", False), ("Order", "s", False)],
    "EndpointSpec": [("Mode", "s", True), ("Ports", "[PortConfig]", True)],
    "PortConfig": [("Name", "s", True), ("Protocol", "s", True), ("TargetPort", "i", True),
                   ("PublishedPort", "i", True), ("PublishMode", "s", True)],
    "Endpoint": [("Spec", "EndpointSpec", True), ("Ports", "[PortConfig]", True),
                 ("VirtualIPs", "[VirtualIP]", True)],
    "VirtualIP": [("NetworkID", "s", True), ("Addr", "s", True)],
    "UpdateStatus": [("State", "s", True), ("StartedAt", "*time", True), ("CompletedAt", "*time", True),
                     ("Message", "s", True)],
    "ServiceStatus": [("RunningTasks", "i", False), ("DesiredTasks", "i", False), ("CompletedTasks", "i", False)],
    "TaskSpec": [
        ("PluginSpec", "*any", True), ("ContainerSpec", "*ContainerSpec", True),
        ("NetworkAttachmentSpec", "*any", True), ("Resources", "*ResourceRequirements", True),
        ("RestartPolicy", "*RestartPolicy", True), ("Placement", "*Placement", True),
        ("Networks", "[NetworkAttachmentConfig]", True), ("LogDriver", "*Driver", True),
        ("ForceUpdate", "i", False), ("Runtime", "s", True),
    ],
    "ContainerSpec": [
        ("Image", "s", True), ("Labels", "map", True), ("Command", "[s]", True), ("Args", "[s]", True),
        ("Hostname", "s", True), ("Env", "[s]", True), ("Dir", "s", True), ("User", "s", True),
        ("Groups", "[s]", True), ("Privileges", "*any", True), ("Init", "*b", True), ("StopSignal", "s", True),
        ("TTY", "b", True), ("OpenStdin", "b", True), ("ReadOnly", "b", True), ("Mounts", "[Mount]", True),
        ("StopGracePeriod", "*i", True), ("Healthcheck", "*any", True), ("Hosts", "[s]", True),
        ("DNSConfig", "*DNSConfig", True), ("Secrets", "[any]", True), ("Configs", "[any]", True),
        ("Isolation", "s", True), ("Sysctls", "map", True), ("CapabilityAdd", "[s]", True),
        ("CapabilityDrop", "[s]", True), ("Ulimits", "[any]", True), ("OomScoreAdj", "i", True),
    ],
    "DNSConfig": [("Nameservers", "[s]", True), ("Search", "[s]", True), ("Options", "[s]", True)],
    "Mount": [("Type", "s", True), ("Source", "s", True), ("Target", "s", True), ("ReadOnly", "b", True),
              ("Consistency", "s", True), ("BindOptions", "*any", True), ("VolumeOptions", "*any", True),
              ("ImageOptions", "*any", True), ("TmpfsOptions", "*any", True), ("ClusterOptions", "*any", True)],
    "ResourceRequirements": [("Limits", "*Limit", True), ("Reservations", "*Resources", True),
                             ("SwapBytes", "*i", True), ("MemorySwappiness", "*i", True)],
    "Limit": [("NanoCPUs", "i", True), ("MemoryBytes", "i", True), ("Pids", "i", True)],
    "Resources": [("NanoCPUs", "i", True), ("MemoryBytes", "i", True), ("GenericResources", "[any]", True)],
    "RestartPolicy": [("Condition", "s", True), ("Delay", "*i", True), ("MaxAttempts", "*i", True),
                      ("Window", "*i", True)],
    "Placement": [("Constraints", "[s]", True), ("Preferences", "[any]", True), ("MaxReplicas", "i", True),
                  ("Platforms", "[Platform]", True)],
    "Platform": [("Architecture", "s", True), ("OS", "s", True)],
    "Driver": [("Name", "s", True), ("Options", "map", True)],
    "NetworkAttachmentConfig": [("Target", "s", True), ("Aliases", "[s]", True), ("DriverOpts", "map", True)],
    "Node": [
        ("ID", "s", False), ("Version", "Version", False), ("CreatedAt", "time", False),
        ("UpdatedAt", "time", False), ("Spec", "NodeSpec", False), ("Description", "NodeDescription", False),
        ("Status", "NodeStatus", False), ("ManagerStatus", "*ManagerStatus", True),
    ],
    "NodeSpec": [("Name", "s", True), ("Labels", "map", False), ("Role", "s", True), ("Availability", "s", True)],
    "NodeDescription": [("Hostname", "s", True), ("Platform", "Platform", False), ("Resources", "Resources", False),
                        ("Engine", "EngineDescription", False), ("TLSInfo", "TLSInfo", False),
                        ("CSIInfo", "[any]", True)],
    "EngineDescription": [("EngineVersion", "s", True), ("Labels", "map", True), ("Plugins", "[Plugin]", True)],
    "Plugin": [("Type", "s", True), ("Name", "s", True)],
    "TLSInfo": [("TrustRoot", "s", True), ("CertIssuerSubject", "any", True), ("CertIssuerPublicKey", "any", True)],
    "NodeStatus": [("State", "s", True), ("Message", "s", True), ("Addr", "s", True)],
    "ManagerStatus": [("Leader", "b", True), ("Reachability", "s", True), ("Addr", "s", True)],
}

_ZERO: dict[str, Any] = {"s": "", "i": 0, "f": 0.0, "b": False}


class GoFloat(float):
    """A float to be written as Go writes it ("0", "0.5")."""


def go_time_json(ts: str | None) -> str:
    """time.Time's MarshalJSON (RFC 3339 with nanoseconds, trailing zeros trimmed)."""
    m = re.match(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?$", ts or "")
    if m is None:
        return "0001-01-01T00:00:00Z"
    frac = (m.group(2) or "")[:9].rstrip("0")
    zone = m.group(3) or "Z"
    if zone in ("+00:00", "-00:00"):
        zone = "Z"
    return f"{m.group(1)}{'.' + frac if frac else ''}{zone}"


def go_shape(value: Any, kind: str) -> Any:
    """``value`` as Go would decode it into ``kind`` and re-encode it (omitempty fields at zero dropped)."""
    if kind.startswith("*"):
        return None if value is None else go_shape(value, kind[1:])
    if kind.startswith("["):
        if value is None:
            return None
        return [go_shape(v, kind[1:-1]) for v in value]
    if kind == "time":
        return go_time_json(value)
    if kind in ("any", "map"):
        return value
    if kind in _ZERO:
        if value is None:
            return _ZERO[kind]
        return GoFloat(value) if kind == "f" else value
    out: dict[str, Any] = {}
    src = value if isinstance(value, dict) else {}
    for name, fkind, omitempty in SCHEMAS[kind]:
        v = src.get(name)
        if omitempty and (v is None or (fkind[0] in "[m" and not v)
                          or (fkind in _ZERO and v == _ZERO[fkind])
                          or (fkind == "any" and not v)):
            continue
        out[name] = go_shape(v, fkind)
    return out


def go_json(value: Any) -> str:
    """Compact JSON as Go's encoding/json writes it (HTML characters escaped, floats Go-style)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, GoFloat):
        return go_float(float(value))
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        s = json.dumps(value, ensure_ascii=False)
        return (s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
                .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
    if isinstance(value, list):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    if isinstance(value, dict):
        items = sorted(value.items()) if not isinstance(value, _Ordered) else value.items()
        return "{" + ",".join(f"{go_json(str(k))}:{go_json(v)}" for k, v in items) + "}"
    return json.dumps(value)


class _Ordered(dict[str, Any]):
    """A struct: fields in declaration order (Go sorts map keys, not struct fields)."""


def _order(value: Any, kind: str) -> Any:
    """Mark struct dicts so :func:`go_json` keeps their field order."""
    if value is None:
        return None
    if kind.startswith("*"):
        return _order(value, kind[1:])
    if kind.startswith("["):
        return [_order(v, kind[1:-1]) for v in value]
    if kind in SCHEMAS and isinstance(value, dict):
        fields = {n: k for n, k, _ in SCHEMAS[kind]}
        return _Ordered((n, _order(v, fields[n])) for n, v in value.items())
    return value


def go_inspect(objects: Sequence[dict[str, Any]], kind: str) -> str:
    """``docker service inspect``/``docker node inspect``: the objects re-encoded through docker's types."""
    if not objects:
        return "[]\n"
    return go_json_indent(go_json([_order(go_shape(o, kind), kind) for o in objects])) + "\n"


def go_order(value: Any, kind: str) -> Any:
    """``value`` with struct fields in the Go type's order (unknown fields kept, last): the order
    the docker CLI writes a request body in."""
    if value is None:
        return None
    if kind.startswith("*"):
        return go_order(value, kind[1:])
    if kind.startswith("["):
        return [go_order(v, kind[1:-1]) for v in value]
    if kind in SCHEMAS and isinstance(value, dict):
        kinds = {n: k for n, k, _ in SCHEMAS[kind]}
        known = [n for n, _, _ in SCHEMAS[kind] if n in value]
        rest = [n for n in value if n not in kinds]
        return {n: go_order(value[n], kinds.get(n, "any")) for n in known + rest}
    return value
