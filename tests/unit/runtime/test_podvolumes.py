"""A Pod's volumes on the node (``runtime/podvolumes.py``): the layout of files, hostPath types,
subPath, and their removal. (The tmpfs kinds need root: the e2e tests make them.)"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from shoal.runtime.base import RuntimeError_
from shoal.runtime.podvolumes import PodVolumes, VolumeSource


def test_files_are_written_with_their_modes_under_their_paths(tmp_path: Path) -> None:
    PodVolumes._write(tmp_path, {"a": (b"1", 0o400), "sub/dir/b": (b"22", 0o644)})
    assert (tmp_path / "a").read_bytes() == b"1" and stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o400
    assert (tmp_path / "sub/dir/b").read_bytes() == b"22"
    assert stat.S_IMODE((tmp_path / "sub/dir/b").stat().st_mode) == 0o644


def test_empty_dir_on_disk_host_paths_and_removal(tmp_path: Path) -> None:
    vols = PodVolumes(tmp_path / "data", tmp_path / "run")
    made = vols.make("t1", [
        VolumeSource("cache", "dir"),
        VolumeSource("hostdir", "host", path=str(tmp_path / "host" / "made"), host_type="DirectoryOrCreate"),
        VolumeSource("hostfile", "host", path=str(tmp_path / "host" / "f"), host_type="FileOrCreate"),
    ])
    assert made["cache"] == tmp_path / "data" / "pods" / "t1" / "volumes" / "cache" and made["cache"].is_dir()
    assert made["hostdir"].is_dir() and made["hostfile"].is_file()
    with pytest.raises(RuntimeError_) as e:
        vols.make("t1", [VolumeSource("x", "host", path=str(made["hostfile"]), host_type="Directory")])
    assert e.value.message == (f'MountVolume.SetUp failed for volume "x" : hostPath type check failed: '
                               f"{made['hostfile']} is not a directory")
    sub = PodVolumes.subpath("cache", made["cache"], "a/b")
    assert sub == made["cache"] / "a" / "b" and sub.is_dir()
    with pytest.raises(RuntimeError_):
        PodVolumes.subpath("cache", made["cache"], "../escape")
    vols.remove("t1")
    assert not (tmp_path / "data" / "pods" / "t1").exists()
    assert made["hostdir"].is_dir()  # the node's own path stays


def test_cleanup_removes_what_a_previous_run_left(tmp_path: Path) -> None:
    vols = PodVolumes(tmp_path / "data", tmp_path / "run")
    vols.make("t1", [VolumeSource("cache", "dir")])
    vols.make("t2", [VolumeSource("cache", "dir")])
    vols.cleanup()
    assert not (tmp_path / "data" / "pods").exists()
