"""The node's named volumes: made once with their labels, listed and filtered, never outside the
volumes directory, and removed only when unused, in Docker's words."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoal.api.errors import Conflict, InvalidArgument, NotFound
from shoal.runtime.volumes import VolumeStore


def test_made_once_with_labels_and_kept(tmp_path: Path) -> None:
    vs = VolumeStore(tmp_path)
    data = vs.ensure("data-1", {"owner": "web"})
    (data / "f").write_text("kept")
    assert vs.ensure("data-1", {"owner": "other"}) == data and (data / "f").read_text() == "kept"
    v = vs.inspect("data-1")
    assert v["Labels"] == {"owner": "web"} and v["Driver"] == "local" and v["Mountpoint"] == str(data)
    assert [x["Name"] for x in vs.ls({"label": ["owner=web"]})] == ["data-1"]
    assert vs.ls({"label": ["owner=x"]}) == []
    vs.create("other")
    assert [x["Name"] for x in vs.ls({"dangling": ["true"]}, in_use={"data-1"})] == ["other"]


@pytest.mark.parametrize("name", ["../etc", "a/b", ".hidden", "x", ""])
def test_names_follow_the_local_drivers_rule(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidArgument, match="includes invalid characters for a local volume name"):
        VolumeStore(tmp_path / "v").ensure(name)
    assert not (tmp_path / "etc").exists()


def test_remove_refuses_a_mounted_volume_and_prune_keeps_named_ones_unless_all(tmp_path: Path) -> None:
    vs = VolumeStore(tmp_path)
    vs.ensure("busy")
    vs.ensure("idle")
    with pytest.raises(Conflict, match=r"remove busy: volume is in use - \[t1, t2\]"):
        vs.remove("busy", ["t1", "t2"])
    with pytest.raises(NotFound, match="get nope: no such volume"):
        vs.remove("nope", [])
    vs.remove("nope", [], force=True)
    assert vs.prune({"busy"}, all_named=False) == ([], 0)
    assert vs.prune({"busy"}, all_named=True)[0] == ["idle"]
    assert vs.names() == ["busy"]
    with pytest.raises(NotFound):
        vs.create("x1", driver="nfs")
