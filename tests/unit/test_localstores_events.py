"""The node's stores emit dockerd's image and volume events, and prune images by dockerd's rules."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

from shoal.api.events import EventLog
from shoal.api.nodeinfo import ImageRemoval
from shoal.localstores import NodeImages, NodeVolumes
from shoal.runtime.hollow import HollowRuntime
from shoal.runtime.images import ImageStore
from shoal.runtime.registry import RegistryClient
from shoal.runtime.volumes import VolumeStore
from tests.unit.helpers import rootfs_tar


def seen(log: EventLog) -> list[tuple[str, str, str, dict[str, str]]]:
    return [(e.Type, e.Action, e.Actor, e.Attributes) for e in log.history()]


def test_image_events_as_dockerd_words_them(tmp_path: Path) -> None:
    log = EventLog()
    images = NodeImages(ImageStore(tmp_path / "images"), RegistryClient(), lambda: None, log)
    iid = images.import_tar(rootfs_tar(), "web", "1", changes=['LABEL team=blue'])
    images.tag("web:1", "registry.local:5000/web:2")
    out = io.BytesIO()
    images.save(["web:1"], out)
    images.remove("registry.local:5000/web:2")
    images.remove("web:1")
    out.seek(0)
    assert images.load(out) == ["Loaded image: web:1"]
    labels = {"team": "blue"}
    assert seen(log) == [
        ("image", "tag", iid, {**labels, "name": "web:1"}),  # an import with a name: tagged, then imported
        ("image", "import", iid, {**labels, "name": iid}),
        ("image", "tag", iid, {**labels, "name": "registry.local:5000/web:2"}),
        ("image", "save", iid, {**labels, "name": iid}),
        ("image", "untag", iid, {**labels, "name": iid}),
        ("image", "untag", iid, {**labels, "name": iid}),
        ("image", "delete", iid, {"name": iid}),  # gone: no labels left to tell
        ("image", "load", iid, {**labels, "name": iid}),  # a load tags without a tag event
    ]
    assert all(e.Scope == "local" and e.TimeNano > 0 for e in log.history())


def test_image_prune_removes_dangling_images_unless_told_all(tmp_path: Path) -> None:
    log = EventLog()
    images = NodeImages(ImageStore(tmp_path / "images"), RegistryClient(), lambda: None, log)
    dangling = images.import_tar(rootfs_tar(b"a"))
    tagged = images.import_tar(rootfs_tar(b"b"), "web", "1")
    used = images.import_tar(rootfs_tar(b"c"))
    report, freed = images.prune(in_use={used})
    assert report == [ImageRemoval(Deleted=dangling), ImageRemoval(Deleted=_diff_id(b"a"))]  # and its layer
    assert freed > 0
    assert {i.ID for i in images.ls()} == {tagged, used}
    assert log.history()[-1].Action == "prune" and log.history()[-1].Actor == ""
    assert log.history()[-1].Attributes == {"reclaimed": str(freed)}
    # all: tagged ones too, but those that a keep rule keeps (until/label) and those in use
    report, _ = images.prune(dangling_only=False, keep=lambda i: "web:1" in i.Tags, in_use={used})
    assert report == []
    report, _ = images.prune(dangling_only=False, in_use={used})
    assert ImageRemoval(Untagged="web:1") in report and ImageRemoval(Deleted=tagged) in report
    assert [i.ID for i in images.ls()] == [used]


def _diff_id(content: bytes) -> str:
    return "sha256:" + hashlib.sha256(rootfs_tar(content).getvalue()).hexdigest()


def test_layer_sizes_count_each_layer_once(tmp_path: Path) -> None:
    images = NodeImages(ImageStore(tmp_path / "images"), RegistryClient(), lambda: None)
    iid = images.import_tar(rootfs_tar(), "web", "1")
    images.tag("web:1", "web:2")
    sizes = images.layer_sizes()
    assert list(sizes) == [_diff_id(b"hi")] and sizes[_diff_id(b"hi")] == images.must(iid).Size


def test_volume_events(tmp_path: Path) -> None:
    log = EventLog()
    volumes = NodeVolumes(VolumeStore(tmp_path / "volumes"), HollowRuntime(), log)
    volumes.create("data")
    volumes.create("data")  # there already: dockerd says create again
    volumes.create("scratch")
    (Path(volumes.inspect("scratch").Mountpoint) / "f").write_bytes(b"12345")
    assert volumes.usage() == {"data": (0, 0), "scratch": (5, 0)}
    volumes.remove("data")
    volumes.remove("data", force=True)  # not there: nothing happened, nothing said
    volumes.prune(all_named=True)
    assert seen(log) == [
        ("volume", "create", "data", {"driver": "local"}),
        ("volume", "create", "data", {"driver": "local"}),
        ("volume", "create", "scratch", {"driver": "local"}),
        ("volume", "destroy", "data", {"driver": "local"}),
        ("volume", "prune", "", {"reclaimed": "5"}),  # dockerd 20.10: no destroy for each pruned volume
    ]
    assert json.dumps(volumes.ls()) == "[]"
