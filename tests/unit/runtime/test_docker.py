"""The docker runtime without a dockerd: Docker's words, a rejected task, a daemon that still starts."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from shoal.api.types import ContainerSpec, Task, TaskSpec
from shoal.runtime.base import RuntimeError_
from shoal.runtime.docker import DockerRuntime, pause_archive
from shoal.runtime.images import ImageStore


@pytest.fixture
def images(tmp_path: Path) -> ImageStore:
    store = ImageStore(tmp_path / "images")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("etc")
        info.type = tarfile.DIRTYPE
        tf.addfile(info)
    store.import_tar(io.BytesIO(buf.getvalue()), repo="img", tag="1", changes=['CMD ["run"]'])
    return store


async def test_no_dockerd(tmp_path: Path, images: ImageStore) -> None:
    sock = tmp_path / "nothing-here.sock"
    rt = DockerRuntime(tmp_path / "data", tmp_path / "exec", images, f"unix://{sock}")
    await rt.cleanup()  # only logged: the daemon starts, and its tasks fail with the reason
    task = Task(ID="t1", Spec=TaskSpec(Containers=[ContainerSpec(Image="img:1")]))
    with pytest.raises(RuntimeError_) as ei:
        await rt.prepare(task)
    assert ei.value.message == f"Cannot connect to the Docker daemon at unix://{sock}. Is the docker daemon running?"
    assert not ei.value.reject
    with pytest.raises(RuntimeError_) as ei:
        await rt.prepare(Task(ID="t2", Spec=TaskSpec(Containers=[ContainerSpec(Image="other")])))
    assert ei.value.message == "No such image: other" and ei.value.reject
    await rt.remove("t1")
    await rt.close()


def test_the_pause_image_is_a_docker_archive_of_one_layer() -> None:
    """What ``docker load`` takes: a manifest naming the tag, the config (busybox sleeping) and the
    layer (``/bin/busybox``, executable), whose digest is the config's diff ID."""
    archive = pause_archive(b"\x7fELF-not-really", "shoal/pause:1")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tf:
        files = {m.name: tf.extractfile(m).read() for m in tf.getmembers() if m.isfile()}  # type: ignore[union-attr]
    (manifest,) = json.loads(files["manifest.json"])
    assert manifest["RepoTags"] == ["shoal/pause:1"]
    config = json.loads(files[manifest["Config"]])
    assert config["config"]["Cmd"][:2] == ["/bin/busybox", "sleep"]
    (layer_name,) = manifest["Layers"]
    layer = files[layer_name]
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer).hexdigest()]
    with tarfile.open(fileobj=io.BytesIO(layer)) as lt:
        busybox = lt.getmember("bin/busybox")
        assert busybox.mode & 0o111 and lt.extractfile(busybox).read() == b"\x7fELF-not-really"  # type: ignore[union-attr]
