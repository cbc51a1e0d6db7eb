"""The daemon's private files (``runtime/private.py``): created 0600 from the start, directories
narrowed to 0700/0710 even when an older daemon left them wider."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from shoal.runtime import logs, private
from shoal.runtime.images import ImageStore
from shoal.runtime.process import ProcessRuntime
from shoal.runtime.volumes import META, VolumeStore


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_write_file_is_0600_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text("old")
    path.chmod(0o644)
    old = os.umask(0)  # no umask to hide a wide creation mode
    try:
        private.write_file(path, '{"Env": ["PASSWORD=x"]}')
    finally:
        os.umask(old)
    assert path.read_text() == '{"Env": ["PASSWORD=x"]}'
    assert mode(path) == 0o600
    assert not (tmp_path / "config.json.tmp").exists()


def test_write_file_takes_bytes_and_a_stale_tmp(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    stale = tmp_path / "node.key.tmp"
    stale.write_text("left by a crash")
    stale.chmod(0o666)
    private.write_file(path, b"\x00key")
    assert path.read_bytes() == b"\x00key"
    assert mode(path) == 0o600


def test_make_dir_narrows_an_existing_directory(tmp_path: Path) -> None:
    d = tmp_path / "data"
    d.mkdir(mode=0o755)
    d.chmod(0o755)
    assert private.make_dir(d, private.ROOT_MODE) == d
    assert mode(d) == 0o710
    fresh = private.make_dir(tmp_path / "a" / "logs")
    assert mode(fresh) == 0o700


def test_a_log_file_is_created_0600(tmp_path: Path) -> None:
    path = tmp_path / "t.log"
    old = os.umask(0)
    try:
        w = logs.LogWriter(path, "stdout")
        w.feed(b"secret\n")
        w.close()
    finally:
        os.umask(old)
    assert mode(path) == 0o600
    assert path.read_bytes().endswith(b" stdout secret\n")


def test_the_process_runtime_keeps_its_logs_closed(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir(mode=0o755)
    rt = ProcessRuntime(tmp_path, ImageStore(tmp_path / "images"))
    assert mode(tmp_path / "logs") == 0o700
    assert rt.log_path("t1").parent == tmp_path / "logs"


def test_a_volumes_options_are_kept_0600(tmp_path: Path) -> None:
    VolumeStore(tmp_path / "volumes").ensure("vol", options={"o": "password=x"})
    assert mode(tmp_path / "volumes" / "vol" / META) == 0o600
