"""What the benchmarks share: a process's resident memory, the spread of repeated measurements, and
which checkout a ``src`` directory is (so a figure is printed beside its baseline from the same run)."""

from __future__ import annotations

import os
import statistics
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from shoal.network import netns

T = TypeVar("T")


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def processes() -> dict[int, tuple[int, str]]:
    """Every process: its parent's PID and its command line (arguments joined by spaces)."""
    out: dict[int, tuple[int, str]] = {}
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmdline = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            with open(p / "stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        out[int(p.name)] = (ppid, cmdline)
    return out


@dataclass
class Spread:
    """Repeated measurements of one figure: min, median, max and the run-to-run noise."""

    values: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def noise(self) -> float:
        """(max - min) / median: how far apart the runs were, relative to the figure."""
        return (max(self.values) - min(self.values)) / self.median if self.median else 0.0

    def text(self, unit: str = "s", digits: int = 2) -> str:
        return (f"min {min(self.values):.{digits}f}  median {self.median:.{digits}f}  "
                f"max {max(self.values):.{digits}f} {unit}  noise {self.noise:.0%}")

    def summary(self, digits: int = 3) -> dict[str, object]:
        return {"runs": [round(v, digits) for v in self.values], "min": round(min(self.values), digits),
                "median": round(self.median, digits), "max": round(max(self.values), digits),
                "noise": round(self.noise, 3)}


def checkout(src: Path) -> str:
    """Which commit a ``src`` directory is checked out at (``+dirty`` when it has changes), or its path
    when it is not in a git work tree."""
    head = subprocess.run(["git", "-C", str(src), "log", "-1", "--format=%h %s"], capture_output=True, text=True)
    if head.returncode != 0:
        return str(src)
    dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "--", "."],
                           capture_output=True, text=True).stdout.strip()
    line = head.stdout.strip()
    commit, _, subject = line.partition(" ")
    return f"{commit}{'+dirty' if dirty else ''} {subject[:60]}"


def rotated(items: list[T], run: int) -> list[T]:
    """``items`` starting at ``run`` modulo their count: who goes first changes from run to run."""
    k = run % len(items) if items else 0
    return items[k:] + items[:k]


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def enter_netns(path: str) -> None:
    """Move the calling thread (only it) into the network namespace at ``path`` (shoal's own setns)."""
    netns.enter(path)
