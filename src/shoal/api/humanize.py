"""Go-units wording for durations, shared by the daemon (``docker ps`` status) and the CLI, and Go's
``time.ParseDuration`` (CLI flags, Dockerfile instructions' options) and ``Duration.String``
(the CLI's Swarm durations, the kubelet's back-off message)."""

from __future__ import annotations

import re


def human_duration(seconds: float) -> str:
    """go-units ``HumanDuration``: "Less than a second", "About a minute", "3 hours", "2 weeks", …"""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


_UNITS_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
             "m": 60_000_000_000, "h": 3_600_000_000_000}
_DUR_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(s: str) -> int:
    """Go's ``time.ParseDuration``: "5s", "1m30s", "1.5h", "300ms", "0" → nanoseconds."""
    orig = s
    neg = False
    if s and s[0] in "+-":
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f'time: invalid duration "{orig}"')
    total = 0.0
    pos = 0
    while pos < len(s):
        m = _DUR_PART.match(s, pos)
        if m is None or m.group(1) in ("", "."):
            if re.match(r"[0-9.]+$", s[pos:]):
                raise ValueError(f'time: missing unit in duration "{orig}"')
            if re.match(r"[0-9.]+", s[pos:]):
                unit = re.sub(r"^[0-9.]+", "", s[pos:])
                unit = re.match(r"[^0-9.]*", unit).group(0)  # type: ignore[union-attr]
                raise ValueError(f'time: unknown unit "{unit}" in duration "{orig}"')
            raise ValueError(f'time: invalid duration "{orig}"')
        total += float(m.group(1)) * _UNITS_NS[m.group(2)]
        pos = m.end()
    ns = round(total)
    return -ns if neg else ns


def _fmt_frac(v: int, prec: int) -> str:
    """Go's fmtFrac: the fraction of ``v`` over 10**prec, without trailing zeros, and the rest."""
    digits = f"{v % (10 ** prec):0{prec}d}".rstrip("0")
    return ("." + digits) if digits else ""


def go_duration(ns: int) -> str:
    """Go's ``time.Duration.String()``: "0s", "1.5ms", "5s", "1m0s", "1h2m3.5s"."""
    if ns == 0:
        return "0s"
    neg = ns < 0
    u = -ns if neg else ns
    if u < 1_000_000_000:
        if u < 1_000:
            out = f"{u}ns"
        elif u < 1_000_000:
            out = f"{u // 1_000}{_fmt_frac(u, 3)}µs"
        else:
            out = f"{u // 1_000_000}{_fmt_frac(u, 6)}ms"
    else:
        secs, frac = divmod(u, 1_000_000_000)
        out = f"{secs % 60}{_fmt_frac(frac, 9)}s"
        mins = secs // 60
        if mins > 0:
            out = f"{mins % 60}m" + out
            hours = mins // 60
            if hours > 0:
                out = f"{hours}h" + out
    return ("-" + out) if neg else out
