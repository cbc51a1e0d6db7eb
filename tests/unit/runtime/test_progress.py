"""dockerd's progress pacing (``progress.Reader``: 512 KiB or 1 %, at most one every 100 ms, always
the last) and its message shapes, with a fake clock; ``docker load``'s ``Loading layer`` from the
image store."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

from shoal.runtime import progress as prog
from shoal.runtime.images import ImageStore


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_message_shapes_follow_gos_omitempty() -> None:
    assert prog.status("abc", "Waiting") == {"status": "Waiting", "progressDetail": {}, "id": "abc"}
    assert prog.detail("abc", "Downloading", 0, 2000) == {
        "status": "Downloading", "progressDetail": {"total": 2000}, "id": "abc",
        "progress": "[>" + " " * 50 + "]       0B/2kB"}
    msg = prog.detail("abc", "Extracting", 1000, 2000)
    assert msg["progressDetail"] == {"current": 1000, "total": 2000}
    assert msg["progress"] == "[" + "=" * 25 + ">" + " " * 25 + "]      1kB/2kB"


def test_throttle_needs_enough_bytes_and_time() -> None:
    clock = FakeClock()
    t = prog.Throttle(100 << 20, clock)  # 1 % of 100 MiB is more than 512 KiB: every 512 KiB
    assert t.every == 512 << 10
    assert not t.due(100 << 10)  # too few bytes
    assert t.due(600 << 10)  # the first report is always allowed
    assert not t.due(1200 << 10)  # enough bytes, but within 100 ms of the last report
    clock.now += 0.05
    assert not t.due(1800 << 10)
    clock.now += 0.06
    assert t.due(2400 << 10)
    assert t.due(100 << 20)  # the total is always reported
    assert t.due(100 << 20, last=True)  # and the end of the stream


def test_throttle_of_a_small_total_reports_every_percent() -> None:
    clock = FakeClock()
    t = prog.Throttle(10_000, clock)
    assert t.every == 100
    got = []
    for n in range(0, 10_001, 50):
        clock.now += 0.2
        if t.due(n):
            got.append(n)
    assert got == list(range(150, 10_001, 150))  # more than 1 % since the last report, each time
    assert t.due(10_000, last=True)  # the end of the stream reports the rest


def test_progress_reader_reports_paced_then_the_end() -> None:
    clock = FakeClock()
    sent: list[dict[str, Any]] = []
    data = bytes(4 << 20)
    r = prog.ProgressReader(io.BytesIO(data), len(data), "0123456789ab", "Loading layer", sent.append, clock)
    while r.read(64 << 10):
        pass  # 1 % is 41 kB, but the clock stands still: the first report, the total, the end
    assert [m["progressDetail"].get("current") for m in sent] == [64 << 10, 4 << 20, 4 << 20]
    assert {m["status"] for m in sent} == {"Loading layer"} and {m["id"] for m in sent} == {"0123456789ab"}
    sent.clear()
    r = prog.ProgressReader(io.BytesIO(data), len(data), "x", "Extracting", sent.append, clock)
    while r.read(1 << 20):
        clock.now += 0.1  # every megabyte is worth a report, and the time allows it
    assert [m["progressDetail"]["current"] for m in sent] == [1 << 20, 2 << 20, 3 << 20, 4 << 20, 4 << 20]


def test_progress_reader_closed_early_shows_a_full_bar() -> None:
    sent: list[dict[str, Any]] = []
    r = prog.ProgressReader(io.BytesIO(b"x" * 1000), 1000, "x", "Extracting", sent.append, FakeClock())
    r.read(10)
    r.close()
    assert sent[-1]["progressDetail"] == {"current": 1000, "total": 1000}


def _rootfs(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_load_reports_loading_layer_for_the_layers_not_stored_yet(tmp_path: Path) -> None:
    """``docker load``: ``Loading layer`` per layer with its bytes (its ID: the diff ID's first 12
    hex digits); a layer the store holds already is not loaded again, and says nothing."""
    src = ImageStore(tmp_path / "src")
    iid = src.import_tar(io.BytesIO(_rootfs({"big": bytes(2 << 20)})), "app", "1")
    archive = io.BytesIO()
    src.save(["app:1"], archive)
    img = src.get_by_id(iid)
    assert img is not None
    size = (src.layers / (img.diff_ids[0].removeprefix("sha256:") + ".tar")).stat().st_size

    dst = ImageStore(tmp_path / "dst")
    sent: list[dict[str, Any]] = []
    archive.seek(0)
    assert dst.load(archive, sent.append, FakeClock()) == ["Loaded image: app:1"]
    assert {(m["id"], m["status"]) for m in sent} == {(img.diff_ids[0][7:19], "Loading layer")}
    assert sent[-1]["progressDetail"] == {"current": size, "total": size}
    assert len(sent) <= 3  # the clock stood still: the first step, the total, the end

    sent.clear()
    archive.seek(0)
    assert dst.load(archive, sent.append) == ["Loaded image: app:1"]
    assert sent == []
