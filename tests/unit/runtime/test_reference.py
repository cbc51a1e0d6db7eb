"""Image references parsed as Docker parses them, and the familiar forms Docker prints."""

from __future__ import annotations

import pytest

from shoal.api.errors import InvalidArgument
from shoal.runtime.images import digest_key
from shoal.runtime.reference import Reference, is_loopback, parse

D = "sha256:" + "ab" * 32


@pytest.mark.parametrize("text, want", [
    ("busybox", Reference("docker.io", "library/busybox")),
    ("busybox:1.36", Reference("docker.io", "library/busybox", "1.36")),
    ("library/busybox", Reference("docker.io", "library/busybox")),
    ("docker.io/busybox", Reference("docker.io", "library/busybox")),
    ("index.docker.io/foo/bar:x", Reference("docker.io", "foo/bar", "x")),
    ("foo/bar", Reference("docker.io", "foo/bar")),
    ("localhost/app", Reference("localhost", "app")),
    ("127.0.0.1:5000/app:1.2", Reference("127.0.0.1:5000", "app", "1.2")),
    (f"127.0.0.1:5000/team/app:1.2@{D}", Reference("127.0.0.1:5000", "team/app", "1.2", D)),
    (f"reg.example/app@{D}", Reference("reg.example", "app", "", D)),
])
def test_parse(text: str, want: Reference) -> None:
    assert parse(text) == want


def test_familiar_forms() -> None:
    assert parse("docker.io/library/busybox").familiar() == "busybox"
    assert parse("busybox").tagged().familiar() == "busybox:latest"
    assert parse("foo/bar:1").familiar() == "foo/bar:1"
    assert parse(f"127.0.0.1:5000/app:1.2@{D}").familiar() == f"127.0.0.1:5000/app:1.2@{D}"
    assert parse(f"app@{D}").tagged().familiar() == f"app@{D}"  # a digest needs no tag
    assert parse("busybox").host == "registry-1.docker.io"
    assert parse("127.0.0.1:5000/app").host == "127.0.0.1:5000"
    assert parse(f"127.0.0.1:5000/app:1.2@{D}").ref == D
    assert digest_key(f"127.0.0.1:5000/app:1.2@{D}") == f"127.0.0.1:5000/app@{D}"
    assert digest_key("127.0.0.1:5000/app:1.2") is None


@pytest.mark.parametrize("text, message", [
    ("Busybox", "invalid reference format: repository name (library/Busybox) must be lowercase"),
    ("127.0.0.1:5000/App:1", "invalid reference format: repository name (App) must be lowercase"),
    ("ab" * 32, f"invalid repository name ({'ab' * 32}), cannot specify 64-byte hexadecimal strings"),
    ("app:bad tag", "invalid reference format"),
    ("app@sha256:xyz", "invalid reference format"),
    ("", "repository name must have at least one component"),
])
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as ei:
        parse(text)
    assert ei.value.message == message


def test_loopback() -> None:
    assert is_loopback("127.0.0.1:5000") and is_loopback("localhost") and is_loopback("127.3.4.5")
    assert is_loopback("[::1]:5000")
    assert not is_loopback("10.0.0.1:5000") and not is_loopback("registry-1.docker.io")
