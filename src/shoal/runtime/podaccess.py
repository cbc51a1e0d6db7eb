"""Into a Pod that runs on this node: a process started in one of its containers (``kubectl exec``)
and a TCP connection to one of its ports from inside its network namespace (``kubectl
port-forward``).

``LocalPods`` is what the daemon hands the manager's object API (``manager/kube/objects.py``:
``PodAccess``) for the Pods of its own node. An exec runs the runtime's command line for it
(``ExecTarget.exec_command``: ``runc exec`` of the container) as a child of the daemon: with pipes,
or with a TTY (a pseudo-terminal of the node's whose other end is the command's stdin, stdout and
stderr; runc makes the container's own terminal and copies between them, and a resize is the new
size set on it and ``SIGWINCH`` sent to runc, which passes it on). A dial makes the socket in a
thread that entered the Pod's network namespace (``network.netns.run_in_netns``) and connects it to
``127.0.0.1:<port>`` there; the socket stays in that namespace, and the event loop uses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import pty
import signal
import socket
import struct
import termios
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Protocol

from shoal.api.errors import FailedPrecondition, NotFound, Unavailable
from shoal.api.kube import ExecSession
from shoal.network.netns import run_in_netns
from shoal.runtime.base import RuntimeError_

CHUNK = 32 * 1024


class ExecTarget(Protocol):
    """A runtime that can run a command in a running container of a Pod's task."""

    def exec_command(self, task_id: str, name: str, argv: list[str], tty: bool) -> list[str]:
        """The node's command line that runs ``argv`` in the container (raises ``RuntimeError_`` when
        the container is not running)."""
        ...


async def _chunks(stream: asyncio.StreamReader | None) -> AsyncIterator[bytes]:
    if stream is None:
        return
    while True:
        data = await stream.read(CHUNK)
        if not data:
            return
        yield data


class ProcessSession:
    """One exec's process (``api.kube.ExecSession``): with pipes, or with a pseudo-terminal (then
    ``stdout`` is stdout and stderr together, and ``stderr`` yields nothing)."""

    def __init__(self, proc: asyncio.subprocess.Process, master: int = -1) -> None:
        self.proc = proc
        self.master = master
        self._out: asyncio.Queue[bytes | None] | None = None
        if master >= 0:
            os.set_blocking(master, False)
            self._out = asyncio.Queue()
            asyncio.get_running_loop().add_reader(master, self._readable)

    def _readable(self) -> None:
        assert self._out is not None
        try:
            data = os.read(self.master, CHUNK)
        except BlockingIOError:
            return
        except OSError as e:  # EIO: the other end is closed (the process and runc are gone)
            if e.errno != errno.EIO:
                raise
            data = b""
        if not data:
            self._close()  # every end of the terminal's other side is closed: runc is gone
            return
        self._out.put_nowait(data)

    async def write_stdin(self, data: bytes) -> None:
        if self.master >= 0:
            view = memoryview(data)
            while view:
                try:
                    n = os.write(self.master, view)
                except BlockingIOError:
                    await asyncio.sleep(0.01)
                    continue
                view = view[n:]
            return
        if self.proc.stdin is not None:
            self.proc.stdin.write(data)
            with contextlib.suppress(ConnectionError):
                await self.proc.stdin.drain()

    async def close_stdin(self) -> None:
        if self.master >= 0:
            with contextlib.suppress(OSError):
                os.write(self.master, b"\x04")  # end of input, as a terminal has it
        elif self.proc.stdin is not None:
            self.proc.stdin.close()

    async def _tty_out(self) -> AsyncIterator[bytes]:
        assert self._out is not None
        while True:
            data = await self._out.get()
            if data is None:
                return
            yield data

    def stdout(self) -> AsyncIterator[bytes]:
        return self._tty_out() if self._out is not None else _chunks(self.proc.stdout)

    def stderr(self) -> AsyncIterator[bytes]:
        return _chunks(None if self._out is not None else self.proc.stderr)

    async def resize(self, width: int, height: int) -> None:
        if self.master < 0:
            return
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGWINCH)

    async def wait(self) -> int:
        """Its exit code (128+signal when killed); with a TTY, its output is read to the end by
        ``stdout`` (the terminal closes once runc has exited)."""
        code = await self.proc.wait()
        return code if code >= 0 else 128 - code

    async def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        await self.proc.wait()
        self._close()

    def _close(self) -> None:
        if self.master >= 0:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self.master)
            os.close(self.master)
            self.master = -1
            if self._out is not None:
                self._out.put_nowait(None)


class LocalPods:
    """Exec and dial into the Pods of this node (see the module's docstring)."""

    def __init__(self, node_id: str, target: ExecTarget, netns_of: Callable[[str], Path | None]) -> None:
        self.node_id = node_id
        self.target = target
        self.netns_of = netns_of

    async def exec(self, task_id: str, container: str, command: list[str], *, tty: bool = False,
                   stdin: bool = False) -> ExecSession:
        try:
            argv = self.target.exec_command(task_id, container, command, tty)
        except RuntimeError_ as e:
            raise FailedPrecondition(e.message) from e
        if not tty:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            return ProcessSession(proc)
        master, slave = pty.openpty()
        try:
            proc = await asyncio.create_subprocess_exec(*argv, stdin=slave, stdout=slave, stderr=slave,
                                                        start_new_session=True)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        return ProcessSession(proc, master)

    async def dial(self, task_id: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        path = self.netns_of(task_id)
        if path is None:
            raise NotFound(f"the network namespace of pod {task_id} is not on this node")

        def connect() -> socket.socket:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.settimeout(5.0)
                s.connect(("127.0.0.1", port))
                s.setblocking(False)
            except BaseException:
                s.close()
                raise
            return s

        try:
            sock = await asyncio.to_thread(run_in_netns, str(path), connect)
        except OSError as e:
            raise Unavailable(f"error forwarding port {port} to pod {task_id}, uid : failed to connect to "
                              f"localhost:{port} inside namespace {path}: {e.strerror or e}") from e
        return await asyncio.open_connection(sock=sock)
