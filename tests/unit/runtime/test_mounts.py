"""Tests of the node's mount helpers: a known mount point unmounted without the mount table, and a
removal that never crosses into another mount (real tmpfs mounts in a temporary directory, root only)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from shoal.runtime import files as task_files
from shoal.runtime import mounts
from shoal.runtime.base import TaskFile
from shoal.runtime.mounts import MS_BIND, mount, mounts_under, mounts_under_any, remove_tree, unmount_point

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")


@pytest.fixture
def tmp(tmp_path: Path) -> Iterator[Path]:
    """A directory whose mounts are all undone at the end, whatever the test did."""
    yield tmp_path
    for m in mounts_under(tmp_path):
        subprocess.run(["umount", "-l", m], check=False)


@pytest.fixture
def no_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading the mount table fails the test."""
    def refuse() -> list[str]:
        raise AssertionError("the mount table was read")

    monkeypatch.setattr(mounts, "mount_points", refuse)


def tmpfs(at: Path) -> None:
    at.mkdir(parents=True, exist_ok=True)
    mount("tmpfs", at, "tmpfs", 0, "mode=0700")


def mounted(p: Path) -> bool:
    return str(p) in mounts_under(p)


def test_unmount_point_unmounts_a_stack_without_the_table(tmp: Path, no_table: None) -> None:
    m = tmp / "m"
    tmpfs(m)
    tmpfs(m)  # stacked
    (m / "f").write_text("x")
    unmount_point(m)
    assert not (m / "f").exists()
    assert os.stat(m).st_dev == os.stat(tmp).st_dev


def test_unmount_point_of_what_is_not_mounted_or_missing_is_a_no_op(tmp: Path, no_table: None) -> None:
    (tmp / "plain").mkdir()
    unmount_point(tmp / "plain")
    unmount_point(tmp / "missing")
    assert (tmp / "plain").is_dir()


def test_unmount_point_detaches_a_busy_mount(tmp: Path) -> None:
    m = tmp / "busy"
    tmpfs(m)
    fd = os.open(m / "open", os.O_RDWR | os.O_CREAT)  # an open file: a plain umount fails with EBUSY
    try:
        unmount_point(m)
        assert not mounted(m)
    finally:
        os.close(fd)


def test_remove_tree_skips_a_mount_and_its_parents(tmp: Path, no_table: None) -> None:
    top = tmp / "bundle"
    (top / "a" / "b").mkdir(parents=True)
    (top / "a" / "file").write_text("gone")
    (top / "other").mkdir()
    (top / "other" / "deep.txt").write_text("gone")
    (top / "link").symlink_to(tmp / "outside")
    (tmp / "outside").mkdir()
    (tmp / "outside" / "kept.txt").write_text("kept")
    tmpfs(top / "a" / "b" / "mnt")
    (top / "a" / "b" / "mnt" / "kept.txt").write_text("kept")
    assert remove_tree(top) is False
    assert (top / "a" / "b" / "mnt" / "kept.txt").read_text() == "kept"
    assert sorted(p.name for p in top.iterdir()) == ["a"]
    assert sorted(p.name for p in (top / "a").iterdir()) == ["b"]
    assert (tmp / "outside" / "kept.txt").read_text() == "kept"  # the symlink went, not its target
    unmount_point(top / "a" / "b" / "mnt")
    assert remove_tree(top) is True
    assert not top.exists()


def test_remove_tree_skips_a_bind_mount_of_the_same_file_system(tmp: Path, no_table: None) -> None:
    src = tmp / "volume"
    src.mkdir()
    (src / "data").write_text("kept")
    top = tmp / "bundle"
    (top / "rootfs" / "vol").mkdir(parents=True)
    mount(str(src), top / "rootfs" / "vol", None, MS_BIND)
    assert os.stat(top / "rootfs" / "vol").st_dev == os.stat(tmp).st_dev
    assert remove_tree(top) is False
    assert (src / "data").read_text() == "kept"
    unmount_point(top / "rootfs" / "vol")
    assert remove_tree(top) is True


def test_remove_tree_keeps_a_path_that_is_itself_a_mount(tmp: Path, no_table: None) -> None:
    m = tmp / "m"
    tmpfs(m)
    (m / "kept").write_text("kept")
    assert remove_tree(m) is False
    assert (m / "kept").read_text() == "kept"
    assert remove_tree(tmp / "missing") is True


def test_mounts_under_any_deepest_first(tmp: Path) -> None:
    a, b = tmp / "a", tmp / "b"
    tmpfs(a)
    tmpfs(a / "x" / "y")
    tmpfs(b)
    tmpfs(tmp / "c")  # not asked for
    found = mounts_under_any([a, b])
    assert found[0] == str(a / "x" / "y")
    assert sorted(found) == sorted([str(a), str(a / "x" / "y"), str(b)])


def test_files_unmount_by_the_known_point(tmp: Path, no_table: None) -> None:
    root = tmp / "files" / "task1"
    binds = task_files.mount(root, [TaskFile(kind="secret", name="s", target="/run/secrets/s", data=b"v",
                                             uid=0, gid=0, mode=0o400)])
    assert binds and (root / "secrets" / "s").read_bytes() == b"v"
    task_files.unmount(root)
    assert not root.exists()
    with contextlib.suppress(FileNotFoundError):
        assert not any((tmp / "files").iterdir())
