"""A task's log file as the runtimes write it (``runtime/logs.py``) and the agent reads it back
(``agent/logs.py``): one entry per line, a partial last line at close, a very long line cut."""

from __future__ import annotations

import os
from pathlib import Path

from shoal.agent import logs as reader
from shoal.runtime import logs


def test_lines_written_are_read_back(tmp_path: Path) -> None:
    path = tmp_path / "t.log"
    out, err = logs.LogWriter(path, "stdout"), logs.LogWriter(path, "stderr")
    out.feed(b"one\ntw")
    err.feed(b"oops\n")
    out.feed(b"o\nthree")
    out.close()
    err.close()
    lines, end = reader.read(path)
    assert [(ll.stream, ll.message) for ll in lines] == [
        ("stdout", b"one"), ("stderr", b"oops"), ("stdout", b"two"), ("stdout", b"three")]
    assert end == path.stat().st_size
    assert [ll.message for ll in reader.read(path, stderr=False, tail=1)[0]] == [b"three"]


def test_a_long_line_is_cut(tmp_path: Path) -> None:
    path = tmp_path / "t.log"
    w = logs.LogWriter(path, "stdout")
    w.feed(b"x" * (logs.MAX_LINE + 3))
    w.close()
    assert [len(ll.message) for ll in reader.read(path)[0]] == [logs.MAX_LINE, 3]


async def test_pump_copies_a_pipe_until_it_closes(tmp_path: Path) -> None:
    path = tmp_path / "t.log"
    r, w = os.pipe()
    os.write(w, b"hello\nworld")
    os.close(w)
    await logs.pump(r, logs.LogWriter(path, "stdout"))
    assert [ll.message for ll in reader.read(path)[0]] == [b"hello", b"world"]
    logs.remove(path)
    logs.remove(path)  # already gone: nothing to do
    assert not path.exists()
