"""The JSON message streams drawn as the docker CLI's ``jsonmessage`` draws them: on a (fake)
terminal, one line per layer ID redrawn in place with its bar; elsewhere plain lines without the
byte counts; errors raised in the daemon's words."""

from __future__ import annotations

import io

import pytest

from shoal.cli.client import DockerError
from shoal.cli.jsonmessage import Display, display, render_progress

PULL = [
    {"status": "Pulling from app", "id": "1.1"},
    {"status": "Pulling fs layer", "progressDetail": {}, "id": "aaa"},
    {"status": "Pulling fs layer", "progressDetail": {}, "id": "bbb"},
    {"status": "Downloading", "progressDetail": {"current": 500, "total": 1000}, "id": "aaa",
     "progress": "[=========================>                         ]     500B/1kB"},
    {"status": "Download complete", "progressDetail": {}, "id": "bbb"},
    {"status": "Pull complete", "progressDetail": {}, "id": "aaa"},
    {"status": "Digest: sha256:abc"},
    {"status": "Status: Downloaded newer image for 127.0.0.1:5000/app:1.1"},
]


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_off_a_terminal() -> None:
    out = io.StringIO()
    display(PULL, out)
    assert out.getvalue() == (
        "1.1: Pulling from app\n"
        "aaa: Pulling fs layer\n"
        "bbb: Pulling fs layer\n"
        "bbb: Download complete\n"  # the bytes done are not shown off a terminal
        "aaa: Pull complete\n"
        "Digest: sha256:abc\n"
        "Status: Downloaded newer image for 127.0.0.1:5000/app:1.1\n")


def test_lines_redrawn_in_place_on_a_terminal() -> None:
    out = FakeTerminal()
    display(PULL, out, width=200)
    bar = "[" + "=" * 25 + ">" + " " * 25 + "]     500B/1kB"
    assert out.getvalue() == (
        "1.1: Pulling from app\n"
        # aaa's line: a new line, up one, erase, write, down one
        "\n\x1b[1A\x1b[2K\raaa: Pulling fs layer \r\x1b[1B"
        "\n\x1b[1A\x1b[2K\rbbb: Pulling fs layer \r\x1b[1B"
        # aaa is two lines up now
        f"\x1b[2A\x1b[2K\raaa: Downloading {bar}\r\x1b[2B"
        "\x1b[1A\x1b[2K\rbbb: Download complete \r\x1b[1B"
        "\x1b[2A\x1b[2K\raaa: Pull complete \r\x1b[2B"
        "Digest: sha256:abc\n"
        "Status: Downloaded newer image for 127.0.0.1:5000/app:1.1\n")


def test_a_narrow_terminal_has_no_bar_and_a_plain_line_starts_a_new_block() -> None:
    out = FakeTerminal()
    d = Display(out, width=80)
    d.show({"status": "Loading layer", "progressDetail": {"current": 1_500_000, "total": 3_000_000}, "id": "x"})
    d.show({"stream": "Loaded image: app:1\n"})
    d.show({"status": "Loading layer", "progressDetail": {"current": 10, "total": 10}, "id": "x"})
    assert out.getvalue() == ("\n\x1b[1A\x1b[2K\rx: Loading layer    1.5MB/3MB\r\x1b[1B"
                              "Loaded image: app:1\n"
                              "\n\x1b[1A\x1b[2K\rx: Loading layer      10B/10B\r\x1b[1B")


def test_render_progress_as_docker() -> None:
    assert render_progress({}, 200) == ""
    assert render_progress({"current": 512}, 200) == "    512B"
    assert render_progress({"current": 1_234_567, "total": 4_560_000}, 200) == \
        "[" + "=" * 13 + ">" + " " * 37 + "]  1.235MB/4.56MB"
    assert render_progress({"current": 20, "total": 10}, 200) == "[" + "=" * 50 + ">] " + "     20B"
    assert render_progress({"current": 3, "total": 7, "units": "layers"}, 80) == "3/7 layers"


def test_an_error_message_raises_in_the_daemons_words() -> None:
    out = io.StringIO()
    with pytest.raises(DockerError) as ei:
        display([{"status": "Pulling from app", "id": "1"},
                 {"errorDetail": {"message": "manifest unknown"}, "error": "manifest unknown"}], out)
    assert ei.value.format_message() == "manifest unknown"
    assert out.getvalue() == "1: Pulling from app\n"
