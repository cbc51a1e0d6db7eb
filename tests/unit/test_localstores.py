"""The node's stores behind the front doors' interface: an image a service runs is not removed
(unless forced), reference filters, and volumes mounted by a container are in use."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoal.api.errors import Conflict
from shoal.api.nodeinfo import ImageRemoval
from shoal.localstores import NodeImages, NodeVolumes
from shoal.runtime.hollow import HollowRuntime
from shoal.runtime.images import ImageStore
from shoal.runtime.registry import RegistryClient
from shoal.runtime.volumes import VolumeStore
from tests.unit.helpers import rootfs_tar


class Services:
    """The control API's view of the services' images."""

    def __init__(self, images: set[str]) -> None:
        self.images = images

    def images_in_use(self) -> set[str]:
        return self.images


def test_an_image_a_service_runs_is_removed_only_by_force(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images")
    control = Services({"web:1"})
    images = NodeImages(store, RegistryClient(), lambda: control)  # type: ignore[arg-type,return-value]
    iid = images.import_tar(rootfs_tar(), "web:1")  # the tag may come with the repository
    assert images.must("web:1").ID == iid and images.must("web:1").Tags == ["web:1"]
    with pytest.raises(Conflict, match="container is using its referenced image"):
        images.remove("web:1")
    report = images.remove("web:1", force=True)
    assert ImageRemoval(Untagged="web:1") in report and ImageRemoval(Deleted=iid) in report


def test_without_a_manager_nothing_is_in_use(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images")
    images = NodeImages(store, RegistryClient(), lambda: None)
    iid = images.import_tar(rootfs_tar(), "web", "1")
    report = images.remove("web:1")
    assert ImageRemoval(Untagged="web:1") in report and ImageRemoval(Deleted=iid) in report
    assert images.ls() == []


def test_reference_filters(tmp_path: Path) -> None:
    images = NodeImages(ImageStore(tmp_path / "images"), RegistryClient(), lambda: None)
    assert images.matches("web", "web:1")
    assert images.matches("web:1", "web:1") and not images.matches("web:2", "web:1")
    assert images.matches("w*", "web:1") and not images.matches("db", "web:1")


def test_volumes_of_a_runtime_without_containers_are_not_in_use(tmp_path: Path) -> None:
    volumes = NodeVolumes(VolumeStore(tmp_path / "volumes"), HollowRuntime())
    v = volumes.create("data", labels={"a": "b"})
    assert (v.Name, v.Driver, v.Labels) == ("data", "local", {"a": "b"})
    assert [x.Name for x in volumes.ls({"dangling": ["true"]})] == ["data"]
    volumes.remove("data")
    assert volumes.ls() == []
