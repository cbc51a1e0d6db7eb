"""A client CLI (docker, kubectl) run on a terminal of its own, as ``-t`` needs: what it printed there."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios


def on_terminal(argv: list[str], env: dict[str, str], stdin: bytes = b"", then: tuple[str, bytes] = ("", b""),
                columns: int = 0) -> str:
    """Run ``argv`` with a pty as its stdin, stdout and stderr until it closes the terminal (or 30 s
    pass without output). ``stdin`` is typed at once; ``then``: once the text has been printed, those
    keys are typed; ``columns``: the terminal's width (0: the pty's default, none)."""
    master, slave = pty.openpty()
    if columns:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    proc = subprocess.Popen(argv, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    out = b""
    later = then
    try:
        if stdin:
            os.write(master, stdin)
        while True:
            ready, _, _ = select.select([master], [], [], 30)
            if not ready:
                break
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the client has exited and closed the terminal
                break
            if not chunk:
                break
            out += chunk
            if later[1] and later[0].encode() in out:
                os.write(master, later[1])
                later = ("", b"")
    finally:
        os.close(master)
        proc.wait(timeout=30)
    return out.decode(errors="replace")
