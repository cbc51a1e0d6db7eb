"""The daemon's JSON message streams (``pull``, ``load``, ``import``) drawn as the docker CLI's
``jsonmessage.DisplayJSONMessagesStream`` draws them.

On a terminal every message with an ID and a ``progressDetail`` owns a line, redrawn in place: the
cursor goes up to that line (``ESC[nA``), the line is erased (``ESC[2K``), rewritten with its bar
(``Downloading [=====>    ]  1.2MB/4.5MB``; the bar only when the terminal is wider than 110
columns), and the cursor goes back down (``ESC[nB``). A message without an ID or without progress
is a plain line and starts a new block of lines. Elsewhere (a pipe, a file) the messages with bytes
done are dropped and every other one is a plain line: ``<id>: <status>``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import IO, Any

from shoal.cli.client import DockerError
from shoal.runtime.progress import human_size

ERASE_LINE = "\x1b[2K"
BAR_MIN_WIDTH = 110  # the bar is drawn only on a terminal wider than this


def render_progress(detail: dict[str, Any], width: int) -> str:
    """docker's ``RenderTUIProgress``: the bar (on a wide terminal) and ``current/total``."""
    current, total = int(detail.get("current") or 0), int(detail.get("total") or 0)
    units, hide = str(detail.get("units") or ""), bool(detail.get("hidecounts"))
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(current):>8}" if not units else f"{current} {units}"
    percentage = min(int(current / total * 100) // 2, 50)
    bar = f"[{'=' * percentage}>{' ' * max(50 - percentage, 0)}] " if width > BAR_MIN_WIDTH else ""
    numbers = ""
    if hide:
        pass
    elif not units:
        numbers = f"{human_size(current):>8}/{human_size(total)}" if current <= total else f"{human_size(current):>8}"
    else:
        numbers = f"{current}/{total} {units}" if current <= total else f"{current} {units}"
    return bar + numbers


def terminal_width(out: IO[str]) -> int:
    try:
        return os.get_terminal_size(out.fileno()).columns or 200
    except (OSError, ValueError, AttributeError):
        return 200


class Display:
    """One stream's display: which line each ID owns (on a terminal)."""

    def __init__(self, out: IO[str], tty: bool | None = None, width: int | None = None) -> None:
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self.width = width if width is not None else (terminal_width(out) if self.tty else 200)
        self.ids: dict[str, int] = {}

    def show(self, msg: dict[str, Any]) -> None:
        """Draw one message; an error message raises ``DockerError`` with its words."""
        if msg.get("aux") is not None:
            return
        id_ = str(msg.get("id") or "")
        has_progress = msg.get("progressDetail") is not None
        diff = 0
        if id_ and has_progress:
            line = self.ids.get(id_)
            if line is None:
                line = self.ids[id_] = len(self.ids)
                if self.tty:
                    self.out.write("\n")
            diff = len(self.ids) - line
            if self.tty and diff:
                self.out.write(f"\x1b[{diff}A")
        else:
            self.ids = {}  # what follows a plain line is a new block of lines
        try:
            self._display(msg, id_, has_progress)
        finally:
            if id_ and self.tty and diff:
                self.out.write(f"\x1b[{diff}B")
            self.out.flush()

    def _display(self, msg: dict[str, Any], id_: str, has_progress: bool) -> None:
        error = msg.get("errorDetail") or {}
        if error or msg.get("error"):
            raise DockerError(str(error.get("message") or msg.get("error") or ""))
        detail = msg.get("progressDetail") or {}
        stream = str(msg.get("stream") or "")
        status = str(msg.get("status") or "")
        endl = ""
        if self.tty and not stream and has_progress:
            self.out.write(ERASE_LINE + "\r")
            endl = "\r"
        elif has_progress and (int(detail.get("current") or 0) > 0 or int(detail.get("total") or 0) > 0):
            return  # bytes done are not shown off a terminal
        if id_:
            self.out.write(f"{id_}: ")
        if has_progress and self.tty:
            self.out.write(f"{status} {render_progress(detail, self.width)}{endl}")
        elif stream:
            self.out.write(stream + endl)
        else:
            self.out.write(f"{status}{endl}\n")


def display(messages: Iterable[dict[str, Any]], out: IO[str], tty: bool | None = None,
            width: int | None = None) -> None:
    d = Display(out, tty, width)
    for msg in messages:
        d.show(msg)
